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
/// the markers). Returns what was written.
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
    if experiment.report == spec::ReportKind::Frontier {
        let mut files = crate::frontier::write(experiment, &records, reports)?;
        let section = crate::frontier::readme_section(experiment, &records);
        files.extend(splice_into_readme(readme, &experiment.name, &section)?);
        return Ok(Published { files, warnings });
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
    let extras = Extras {
        seeding,
        notes,
        quiet_latency,
        not_run,
    };
    let mut files = vec![write_report(experiment, &records, &extras, reports)?];
    let section = readme_section(experiment, &records, &extras);
    files.extend(splice_into_readme(readme, &experiment.name, &section)?);
    Ok(Published { files, warnings })
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

/// Replaces the README's `<!-- report:NAME -->` section (if it has the markers); returns
/// the README's path when it has them.
fn splice_into_readme(
    readme: &Path,
    name: &str,
    section: &str,
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
    let Some(updated) = splice_readme(&text, name, section) else {
        return Ok(None);
    };
    if updated != text {
        store::write_output(readme, updated.as_bytes())?;
    }
    Ok(Some(readme.to_path_buf()))
}
