//! Publishing an experiment's results: its report (`reports/<name>.md` and plot) and its
//! README section, from the store's records and the experiment's side files (the last
//! run's estimate, the quiet latency, the seeding decision). `harness report` and the end
//! of `harness replicate` call [`write_all`].

use crate::report::{Extras, readme_section, splice_readme, write_report};
use spec::Experiment;
use std::path::{Path, PathBuf};
use store::{Store, StoreError};

/// What [`write_all`] wrote, and the warnings to show (unusable records set aside, bad side
/// files left out).
#[derive(Debug, Default)]
pub struct Published {
    /// The report, its plot and the README when it has the experiment's markers.
    pub files: Vec<PathBuf>,
    /// One line each.
    pub warnings: Vec<String>,
    /// What was left alone, and why (a README section that shows another store): one
    /// line each.
    pub notes: Vec<String>,
}

impl Published {
    /// The warnings and notes as the commands print them, one line each (`warning: ...`,
    /// `note: ...`).
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let warnings = self.warnings.iter().map(|w| format!("warning: {w}"));
        warnings.chain(self.notes.iter().map(|n| format!("note: {n}")))
    }
}

/// Errors of [`write_all`].
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Listing the records or writing a file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The seeding decision is unreadable.
    #[error(transparent)]
    Seeding(#[from] crate::seeding::SeedingError),
    /// Rendering or writing the report failed.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
}

/// Writes the report of `experiment` and updates its README section (if the README has
/// the markers, and they name no other store than `store`; see
/// [`crate::report::readme_marker`]). Returns what was written.
pub fn write_all(
    experiment: &Experiment,
    store: &Store,
    reports: &Path,
    readme: &Path,
) -> Result<Published, PublishError> {
    // A README that cannot be one (a folder, a block device) is refused before any work.
    store::atomic::output_target(readme)?;
    let found = store.records_for(&experiment.membership())?;
    let mut warnings = found.warnings();
    let records = found.records;
    for t in crate::report::select(experiment, &records) {
        if t.settings_differ {
            warnings.push(format!(
                "{}: `{}` has no trials with the file's exact settings in this store; the report shows other settings (⚠), not compared with the baseline (pass the --set/--seeds its trials were run with)",
                experiment.name, t.variant.name
            ));
        }
    }
    let mut said = Vec::new();
    if experiment.report == spec::ReportKind::Frontier {
        let mut files = crate::frontier::write(experiment, &records, reports)?;
        // The links are made once the folder exists (it resolves, links and all).
        let dir = report_dir(reports, readme);
        let section = crate::frontier::readme_section(experiment, &records, Some(&dir));
        let target = (readme, store.root(), experiment.name.as_str());
        files.extend(splice_into_readme(target, &section, &mut said)?);
        return Ok(Published {
            files,
            warnings,
            notes: said,
        });
    }
    let seeding = crate::seeding::read(&store.experiment_dir(&experiment.name))?;
    let dir = store.experiment_dir(&experiment.name);
    let kept = spec::cost::kept_file(&dir).or_warn(
        "the report leaves out the last run's wall time and its not-run notes; the next replicate writes it again",
        &mut warnings,
    );
    // The experiment's own file is checked (a bad copy is said); the figures come from
    // every experiment's file, one per deployed network for the whole store.
    let _ = crate::latency_file::file(&dir).or_warn(
        "the report shows the trials' own latency (†) where no other experiment measured the network; the next replicate measures again",
        &mut warnings,
    );
    let all_configs: Vec<trainer::TrialConfig> = store
        .records()
        .map(|r| r.records.into_iter().map(|r| r.config).collect())
        .unwrap_or_default();
    let quiet_latency = crate::latency_file::store_wide(
        store.root(),
        all_configs
            .iter()
            .chain(experiment.variants.iter().map(|v| v.trial.config())),
    );
    let notes: Vec<String> = kept
        .clone()
        .and_then(|k| {
            let actual = k.actual_s?;
            let whole = if k.plan.is_empty() {
                String::new()
            } else {
                format!(
                    " of the plan {} (each shared trial once)",
                    k.plan.join(" + ")
                )
            };
            Some(format!(
                "Wall time of the last run{whole}: estimated {} before it started ({} trial(s), {} job(s) x {} on {}), took {} ({})",
                progress::format::human(std::time::Duration::from_secs_f64(k.estimated_s)),
                k.trials,
                k.jobs,
                crate::threads(k.threads),
                k.device,
                progress::format::human(std::time::Duration::from_secs_f64(actual)),
                spec::cost::estimate_error(k.estimated_s, actual)
            ))
        })
        .into_iter()
        .collect();
    let not_run = kept
        .map(|k| k.skipped)
        .unwrap_or_default()
        .iter()
        .map(|s| (s.variant.clone(), not_run_words(s)))
        .collect();
    let mut extras = Extras {
        seeding,
        notes,
        quiet_latency,
        not_run,
        report_dir: None,
    };
    let mut files = vec![write_report(experiment, &records, &extras, reports)?];
    extras.report_dir = Some(report_dir(reports, readme));
    let section = readme_section(experiment, &records, &extras);
    let target = (readme, store.root(), experiment.name.as_str());
    files.extend(splice_into_readme(target, &section, &mut said)?);
    Ok(Published {
        files,
        warnings,
        notes: said,
    })
}

/// The folder of the README (`.` for a bare file name).
fn folder_of(readme: &Path) -> &Path {
    readme
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `reports` as the README's links name it: relative to the README's folder
/// (`reports/cpu-bf16`, `../reports` for a README in `docs/`), or as given where either does
/// not resolve.
fn report_dir(reports: &Path, readme: &Path) -> String {
    let relative = match (reports.canonicalize(), folder_of(readme).canonicalize()) {
        (Ok(reports), Ok(base)) => {
            let common = reports
                .components()
                .zip(base.components())
                .take_while(|(a, b)| a == b)
                .count();
            let up = base.components().count() - common;
            let mut path: PathBuf = std::iter::repeat_n("..", up).collect();
            path.extend(reports.components().skip(common));
            path
        }
        _ => reports.to_path_buf(),
    };
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Whether two paths name one folder (both exist and resolve alike).
fn same_folder(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// What a report shows instead of a verdict for a variant the last run left out as too slow
/// for its machine (`--max-trial-time`); the dashboard shows the same words.
pub fn not_run_words(s: &spec::cost::Skipped) -> String {
    let each = std::time::Duration::from_secs_f64(s.seconds_each);
    let limit = std::time::Duration::from_secs_f64(s.limit_s);
    format!(
        "not run on this machine (estimated {} per trial, over the {} limit)",
        progress::format::human(each),
        progress::format::human(limit)
    )
}

/// Replaces the README's `<!-- report:NAME -->` section (if it has the markers and they
/// name no store other than `store`); returns the README's path when it was spliced. A
/// section that shows another store's records is left as it is, and `notes` says so.
fn splice_into_readme(
    (readme, store, name): (&Path, &Path, &str),
    section: &str,
    notes: &mut Vec<String>,
) -> Result<Option<PathBuf>, StoreError> {
    // Only a regular file can hold the markers: a device (`/dev/null`, `/dev/zero`) or a
    // FIFO is never read (it could be endless or block); a missing README is left alone.
    let store::atomic::OutputTarget::Replace(_) = store::atomic::output_target(readme)? else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(readme) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: readme.to_path_buf(),
                source,
            });
        }
    };
    if let Some(runs) = crate::report::readme_marker(&text, name).and_then(|m| m.runs)
        && !same_folder(&folder_of(readme).join(&runs), store)
    {
        notes.push(format!(
            "{}: its `{name}` section shows the records of `{runs}` (its marker says `runs={runs}`), not those of {}; left as it is",
            readme.display(),
            store.display()
        ));
        return Ok(None);
    }
    let Some(updated) = splice_readme(&text, name, section) else {
        return Ok(None);
    };
    if updated != text {
        store::write_output(readme, updated.as_bytes())?;
    }
    Ok(Some(readme.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_links_its_reports_relative_to_its_own_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["docs", "reports/cpu-bf16"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let readme = root.join("README.md");
        assert_eq!(report_dir(&root.join("reports"), &readme), "reports");
        assert_eq!(
            report_dir(&root.join("reports/cpu-bf16"), &readme),
            "reports/cpu-bf16"
        );
        assert_eq!(
            report_dir(&root.join("reports"), &root.join("docs/README.md")),
            "../reports"
        );
        assert_eq!(report_dir(root, &readme), "");
        // A folder that does not resolve is named as given.
        assert_eq!(
            report_dir(Path::new("no/such/folder"), &readme),
            "no/such/folder"
        );
    }
}
