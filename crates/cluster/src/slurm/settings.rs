//! The Slurm settings of one submission: each comes from the command line's flag, else
//! from the experiment files' `slurm:` sections (which must then agree: one array takes
//! one setting), else its default.

use super::SlurmError;
use spec::Experiment;
use std::path::PathBuf;

/// Slurm's warning signal when neither the command line nor the config names one.
pub const DEFAULT_SIGNAL: &str = "B:USR1@120";
/// Failed attempts before a trial is marked failed, when nothing else says.
pub const DEFAULT_MAX_TRIES: usize = 3;

/// The command line's Slurm flags (`None` or empty: not given).
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `--max-tries`.
    pub max_tries: Option<usize>,
    /// `--signal`.
    pub signal: Option<String>,
    /// `--sbatch` values, each split at spaces; they come after the configs' options.
    pub sbatch: Vec<String>,
}

/// What one submission uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Failed attempts after which a trial is marked failed.
    pub max_tries: usize,
    /// Slurm's warning signal, e.g. `B:USR1@120`.
    pub signal: String,
    /// sbatch options: the configs' (which must agree), then the command line's.
    pub sbatch: Vec<String>,
}

/// The settings of a submission of `experiments` (each with its file as the user gave it,
/// for the error that names two files that disagree).
pub fn resolve(
    experiments: &[(PathBuf, Experiment)],
    flags: &Flags,
) -> Result<Settings, SlurmError> {
    let config_tries = match flags.max_tries {
        Some(_) => None,
        None => agreed(experiments, "max_tries", "--max-tries", |e| {
            e.slurm.max_tries
        })?,
    };
    let signal = match &flags.signal {
        Some(s) => s.clone(),
        None => agreed(experiments, "signal", "--signal", |e| {
            e.slurm.signal.clone()
        })?
        .unwrap_or_else(|| DEFAULT_SIGNAL.to_string()),
    };
    let mut sbatch = agreed(experiments, "sbatch", "--sbatch", |e| {
        e.slurm.sbatch.clone()
    })?;
    sbatch.extend(
        flags
            .sbatch
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_string)),
    );
    Ok(Settings {
        max_tries: max_tries(flags.max_tries, config_tries)?,
        signal,
        sbatch,
    })
}

/// `--max-tries`, else the config's `slurm.max_tries`, else [`DEFAULT_MAX_TRIES`].
pub fn max_tries(flag: Option<usize>, config: Option<usize>) -> Result<usize, SlurmError> {
    match flag.or(config) {
        Some(0) => Err(SlurmError::ZeroTries),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_MAX_TRIES),
    }
}

/// The experiments' shared setting (`pick`), or an error naming the two files that
/// disagree on it.
fn agreed<T: PartialEq>(
    experiments: &[(PathBuf, Experiment)],
    setting: &'static str,
    flag: &'static str,
    pick: impl Fn(&Experiment) -> T,
) -> Result<T, SlurmError> {
    let (first_path, first) = &experiments[0];
    let value = pick(first);
    match experiments[1..].iter().find(|(_, e)| pick(e) != value) {
        Some((other, _)) => Err(SlurmError::Disagree {
            first: first_path.clone(),
            other: other.clone(),
            setting,
            flag,
        }),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experiment(slurm: &str) -> Experiment {
        let text = format!(
            r#"Experiment(name: "e", title: "E", description: "", seeds: 1, baseline: "b", base: (epochs: 1), variants: [(name: "b")], slurm: {slurm})"#
        );
        spec::config::parse("e.ron".as_ref(), &text, &[]).unwrap()
    }

    #[test]
    fn flags_win_configs_must_agree_and_defaults_fill_the_rest() {
        let a = experiment(r#"(sbatch: ["--partition=gpu"], max_tries: 5)"#);
        let b = experiment(r#"(sbatch: ["--partition=gpu"], max_tries: 2)"#);
        let files = vec![("a.ron".into(), a.clone()), ("b.ron".into(), b)];
        let err = resolve(&files, &Flags::default()).unwrap_err().to_string();
        assert!(
            err.contains("a.ron and b.ron give different slurm.max_tries"),
            "{err}"
        );
        assert!(err.contains("--max-tries"), "{err}");
        let flags = Flags {
            max_tries: Some(4),
            sbatch: vec!["--time=1:00:00 --gres=gpu:1".into()],
            ..Flags::default()
        };
        let s = resolve(&files, &flags).unwrap();
        assert_eq!(s.max_tries, 4);
        assert_eq!(s.signal, DEFAULT_SIGNAL);
        assert_eq!(
            s.sbatch,
            ["--partition=gpu", "--time=1:00:00", "--gres=gpu:1"]
        );
        let one = resolve(&files[..1], &Flags::default()).unwrap();
        assert_eq!(one.max_tries, 5);
        assert!(matches!(
            max_tries(Some(0), None),
            Err(SlurmError::ZeroTries)
        ));
        assert_eq!(max_tries(None, None).unwrap(), DEFAULT_MAX_TRIES);
    }
}
