//! An experiment as the store's last run of it had it: when a command that reads a store
//! (`status`, `report`, the exports, the dashboard) is given no `--set` and no `--seeds`, it
//! loads the experiment file with the overrides and seed count that run recorded in
//! `estimate.json` ([`crate::cost::Kept`]), so that the committed study shows as done at
//! the protocol it ran, not as "not run" or "other settings" at the file's own defaults.

use crate::config::{self, Experiment};
use crate::overrides::Override;
use std::path::{Path, PathBuf};

/// The experiment at the settings of the store's last run of it.
#[derive(Clone, Debug)]
pub struct LastRun {
    /// The experiment file loaded with those settings.
    pub experiment: Experiment,
    /// The `--set` overrides that run was given, as written.
    pub sets: Vec<String>,
    /// The seed count it ran with, where it differs from the file's.
    pub seeds: Option<u32>,
}

impl LastRun {
    /// The settings as a command line would give them: `--seeds 3 --set epochs=9 --set
    /// 'schedule=Step(every: 3, gamma: 0.1)'` (quoted for a POSIX shell where needed).
    pub fn arguments(&self) -> String {
        let seeds = self.seeds.map(|n| format!("--seeds {n}"));
        let sets = self.sets.iter().map(|s| format!("--set {}", shell_word(s)));
        seeds.into_iter().chain(sets).collect::<Vec<_>>().join(" ")
    }
}

/// `file` (loaded without overrides) at the settings recorded in `experiment_dir`'s
/// `estimate.json`, when they differ from the file's own (some `--set`, or another seed
/// count) and still load; `None` when there is no such record, it names nothing, or the
/// file no longer accepts them.
pub fn last_run(file: &Experiment, experiment_dir: &Path) -> Option<LastRun> {
    let kept = crate::cost::kept(experiment_dir)?;
    let seeds = kept.seeds.filter(|&n| n as usize != file.seeds.len());
    if kept.sets.is_empty() && seeds.is_none() {
        return None;
    }
    let recorded = kept
        .sets
        .iter()
        .map(|s| Override::parse(s).ok())
        .collect::<Option<Vec<_>>>()?;
    let mut experiment = config::load(&file.path, &recorded).ok()?;
    if let Some(n) = seeds {
        experiment.set_seed_count(n).ok()?;
    }
    Some(LastRun {
        experiment,
        sets: kept.sets,
        seeds,
    })
}

/// `file` at the settings of its last run in its store folder (`experiment_dir` of its
/// name; [`last_run`]) and those settings as arguments ([`LastRun::arguments`]), or `file`
/// itself when there is no such run or the command line gave settings of its own
/// (`settings_given`: some `--set` or `--seeds`).
pub fn or_file(
    file: Experiment,
    settings_given: bool,
    experiment_dir: impl FnOnce(&str) -> PathBuf,
) -> (Experiment, Option<String>) {
    if settings_given {
        return (file, None);
    }
    match last_run(&file, &experiment_dir(&file.name)) {
        Some(last) => {
            let arguments = last.arguments();
            (last.experiment, Some(arguments))
        }
        None => (file, None),
    }
}

/// What a command says on stderr for the experiments it read at their last run's settings
/// (`(name, arguments)` as [`or_file`] gave them): one line per set of arguments, naming
/// the experiments that share it, each ending in a newline (nothing when there are none).
pub fn notes(adopted: &[(String, String)]) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, arguments) in adopted {
        match groups.iter_mut().find(|(a, _)| a == arguments) {
            Some((_, names)) => names.push(name),
            None => groups.push((arguments, vec![name])),
        }
    }
    groups
        .into_iter()
        .map(|(arguments, names)| {
            let each = if names.len() == 1 { "it" } else { "each" };
            format!(
                "note: {}: read at the settings of this store's last run of {each} (no --set or \
                 --seeds given): {arguments}\n",
                names.join(", ")
            )
        })
        .collect()
}

/// `word` as one POSIX shell word: as it is when it holds only safe characters, else in
/// single quotes.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._-=/:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_are_quoted_only_where_needed() {
        assert_eq!(shell_word("epochs=9"), "epochs=9");
        assert_eq!(
            shell_word("schedule=Step(every: 3, gamma: 0.1)"),
            "'schedule=Step(every: 3, gamma: 0.1)'"
        );
        assert_eq!(shell_word("a'b"), r"'a'\''b'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn notes_name_the_experiments_that_share_settings() {
        let adopted = [
            ("a", "--seeds 3"),
            ("b", "--set epochs=9"),
            ("c", "--seeds 3"),
        ]
        .map(|(n, a)| (n.to_string(), a.to_string()));
        assert_eq!(
            notes(&adopted),
            "note: a, c: read at the settings of this store's last run of each (no --set or \
             --seeds given): --seeds 3\n\
             note: b: read at the settings of this store's last run of it (no --set or \
             --seeds given): --set epochs=9\n"
        );
        assert_eq!(notes(&[]), "");
    }
}
