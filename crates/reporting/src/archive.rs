//! Copying an experiment's records into another run store, without checkpoints or plots:
//! the committed `results/` store, which a fresh clone can report from, browse in the
//! dashboard, export and `reproduce`, without training.
//!
//! Per trial the record files are copied (`summary.json`, `metrics.jsonl`, `config.ron`,
//! `trial.json`, `events.jsonl`, `train.log`); per experiment its side files that reports
//! read (`estimate.json`, `latency.json`, `seeding.json`), so that a report regenerated
//! from the copy is byte-identical to one from the source. Each trial lands with one
//! rename (a half-copied trial never shows), and a trial the target holds with the same
//! record already is left alone.
//!
//! One folder per experiment holds one copy of each side file, so records of another
//! protocol (other `--set`s, e.g. the bf16 study beside the fp32 one in `results/`) must not
//! replace the target's: a side file is written where the target has none; an
//! `estimate.json` replaces the target's only when both record the same settings and seeds
//! (the same protocol run again); any other differing side file is kept and said in a
//! warning, so the target's reports stay what they were.

use contract::layout::{CONFIG, EVENTS, LOG, METRICS, SUMMARY, TRIAL_START};
use spec::config::Experiment;
use std::path::{Path, PathBuf};
use store::{Store, StoreError, write_atomic};

/// The files of a trial folder that a record needs (no checkpoints, no plots).
pub const RECORD_FILES: [&str; 6] = [SUMMARY, METRICS, CONFIG, TRIAL_START, EVENTS, LOG];

/// What [`export`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Trials copied (new in the target).
    pub copied: Vec<String>,
    /// Trials the target held with another record, replaced by the source's.
    pub replaced: Vec<String>,
    /// Trials the target held with the same record already.
    pub unchanged: usize,
    /// Side files written.
    pub side_files: Vec<PathBuf>,
    /// Warnings about the source store: records quarantined there (not copied) and trial
    /// files rewritten from their records ([`Store::records`]).
    pub warnings: Vec<String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The side files of an experiment folder that reports read.
fn side_files(experiment_dir: &Path) -> [PathBuf; 3] {
    [
        spec::cost::kept_path(experiment_dir),
        crate::latency_file::path(experiment_dir),
        crate::seeding::path(experiment_dir),
    ]
}

/// Whether the target's differing side file `dst` may be replaced: only an `estimate.json`
/// whose settings and seeds equal the source's (the same protocol run again).
fn same_protocol(src_dir: &Path, dst_dir: &Path, dst: &Path) -> bool {
    if dst != spec::cost::kept_path(dst_dir) {
        return false;
    }
    match (spec::cost::kept(src_dir), spec::cost::kept(dst_dir)) {
        (Some(a), Some(b)) => a.sets == b.sets && a.seeds == b.seeds,
        _ => false,
    }
}

/// Copies the records of `experiments` (as [`Store::records_for`] finds them in `from`)
/// and their side files into `to`. Unusable records in `from` are quarantined there as
/// usual and not copied; [`Exported::warnings`] says so.
pub fn export(
    from: &Store,
    experiments: &[Experiment],
    to: &Store,
) -> Result<Exported, StoreError> {
    let mut done = Exported::default();
    let mut seen = std::collections::HashSet::new();
    let trials = to.trials_dir();
    std::fs::create_dir_all(&trials).map_err(io(&trials))?;
    for experiment in experiments {
        let found = from.records_for(&experiment.membership())?;
        for warning in found.warnings() {
            if !done.warnings.contains(&warning) {
                done.warnings.push(warning);
            }
        }
        for record in found.records {
            if !seen.insert(record.id.clone()) {
                continue;
            }
            let source = from.trial_dir(&record.id);
            let target = to.trial_dir(&record.id);
            let summary = std::fs::read(source.join(SUMMARY)).map_err(io(&source))?;
            let existing = std::fs::read(target.join(SUMMARY)).ok();
            if existing.as_deref() == Some(summary.as_slice()) {
                done.unchanged += 1;
                continue;
            }
            let staging = trials.join(format!(".{}.export.tmp", record.id));
            if staging.exists() {
                std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
            }
            for name in RECORD_FILES {
                match std::fs::read(source.join(name)) {
                    Ok(bytes) => write_atomic(&staging.join(name), &bytes)?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&source.join(name))(e)),
                }
            }
            if existing.is_some() {
                std::fs::remove_dir_all(&target).map_err(io(&target))?;
                done.replaced.push(record.id.clone());
            } else {
                done.copied.push(record.id.clone());
            }
            std::fs::rename(&staging, &target).map_err(io(&target))?;
        }
        let (src_dir, dst_dir) = (
            from.experiment_dir(&experiment.name),
            to.experiment_dir(&experiment.name),
        );
        for (src, dst) in side_files(&src_dir).iter().zip(side_files(&dst_dir)) {
            let Ok(bytes) = std::fs::read(src) else {
                continue;
            };
            match std::fs::read(&dst).ok() {
                Some(held) if held == bytes => {}
                Some(_) if !same_protocol(&src_dir, &dst_dir, &dst) => {
                    done.warnings.push(format!(
                        "{}: kept (it records another run of `{}` than {} does: other settings or seeds; one copy per experiment folder)",
                        dst.display(),
                        experiment.name,
                        src.display()
                    ));
                }
                _ => {
                    write_atomic(&dst, &bytes)?;
                    done.side_files.push(dst);
                }
            }
        }
    }
    Ok(done)
}
