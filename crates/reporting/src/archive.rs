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
//! One folder per experiment holds one copy of each side file, so those of a run of another
//! protocol (other `--set`s or seeds) must not replace the target's: the folder's
//! `estimate.json`, which records the run's settings and seeds, decides for all of them.
//! The source's side files are written where the target has no estimate, an unreadable one
//! (said), or one of the same settings and seeds; otherwise the target's differing side files
//! are kept and said in a warning, so its reports stay what they were.

use contract::layout::{CONFIG, EVENTS, LOG, METRICS, SUMMARY, TRIAL_START};
use spec::config::Experiment;
use std::path::{Path, PathBuf};
use store::side_file::SideFile;
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

impl Exported {
    /// `results: 1 trial(s) copied, 0 replaced, 6 unchanged; 9 side file(s) written`.
    pub fn summary(&self, out: &Path) -> String {
        format!(
            "{}: {} trial(s) copied, {} replaced, {} unchanged; {} side file(s) written",
            out.display(),
            self.copied.len(),
            self.replaced.len(),
            self.unchanged,
            self.side_files.len()
        )
    }
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

/// Whether the target folder's side files may be replaced by the source's, decided once per
/// experiment folder from `estimate.json`, which records the run's settings and seeds: yes
/// when the target has none, or an unreadable one (said in `warnings`), or one of the same
/// settings and seeds as the source's (the same protocol run again); no otherwise.
fn may_replace(src_dir: &Path, dst_dir: &Path, warnings: &mut Vec<String>) -> bool {
    match spec::cost::kept_file(dst_dir) {
        SideFile::Absent => true,
        SideFile::Bad { path, problem } => {
            warnings.push(format!(
                "{}: {problem}; replaced with the source's side files",
                path.display()
            ));
            true
        }
        SideFile::Good(held) => spec::cost::kept(src_dir)
            .is_some_and(|ours| ours.sets == held.sets && ours.seeds == held.seeds),
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
        let replace = may_replace(&src_dir, &dst_dir, &mut done.warnings);
        let mut kept = Vec::new();
        for (src, dst) in side_files(&src_dir).iter().zip(side_files(&dst_dir)) {
            let Ok(bytes) = std::fs::read(src) else {
                continue;
            };
            match std::fs::read(&dst).ok() {
                Some(held) if held == bytes => {}
                Some(_) if !replace => kept.push(dst.display().to_string()),
                _ => {
                    write_atomic(&dst, &bytes)?;
                    done.side_files.push(dst);
                }
            }
        }
        if !kept.is_empty() {
            done.warnings.push(format!(
                "{}: kept (they record another run of `{}` than {} does: other settings or seeds; one copy per experiment folder)",
                kept.join(", "),
                experiment.name,
                src_dir.display()
            ));
        }
    }
    Ok(done)
}
