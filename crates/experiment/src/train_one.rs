//! One trial on its own (`harness train`): into the run store (claimed, then published
//! when recorded or released when stopped, so the same command resumes it), or into a
//! folder the user names (trained in a hidden `.<name>.partial` sibling and renamed to
//! it only once recorded, so the folder is never half a trial).

use crate::trial_run::{RunError, TrialEnd, run_trial};
use contract::Event;
use data::FashionMnist;
use spec::plan::TrialSpec;
use std::path::{Path, PathBuf};
use store::record::TrialRecord;
use store::{Store, StoreError};
use tch::Device;
use trainer::Stop;

/// Where the trial goes.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// The run store.
    Store(&'a Store),
    /// This folder, which must not exist.
    Folder(&'a Path),
}

/// How it ended.
#[derive(Debug)]
pub enum Trained {
    /// Finished or diverged, recorded in this folder.
    Recorded(Box<TrialRecord>, PathBuf),
    /// Stopped on request: nothing recorded (in the store its work folder stays, to resume).
    Stopped,
    /// The store holds it already: nothing ran.
    AlreadyDone(Box<TrialRecord>, PathBuf),
}

/// Errors of [`train_one`].
#[derive(Debug, thiserror::Error)]
pub enum TrainOneError {
    /// The target folder exists.
    #[error("--out {}: already exists; choose a new folder", .0.display())]
    Exists(PathBuf),
    /// Another process holds the trial's claim.
    #[error("trial {0} is being run by another process right now")]
    Busy(String),
    /// Creating or renaming a folder failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trial failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Runs trial `spec` into `target`; `on_event` sees its events, `warn` the store's
/// warnings (a folder set aside while claiming).
pub fn train_one(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    device: Device,
    target: Target<'_>,
    stop: &Stop,
    on_event: &mut dyn FnMut(&Event),
    warn: &mut dyn FnMut(&str),
) -> Result<Trained, TrainOneError> {
    match target {
        Target::Folder(out) => {
            if out.exists() {
                return Err(TrainOneError::Exists(out.to_path_buf()));
            }
            let name = out
                .file_name()
                .map_or("trial".into(), |n| n.to_string_lossy());
            let work = out.with_file_name(format!(".{name}.partial"));
            std::fs::create_dir_all(&work).map_err(|source| TrainOneError::Io {
                what: "creating",
                path: work.clone(),
                source,
            })?;
            match run_trial(spec, dataset, device, &work, stop, on_event)? {
                TrialEnd::Recorded(record) => {
                    std::fs::rename(&work, out).map_err(|source| TrainOneError::Io {
                        what: "publishing the trial as",
                        path: out.to_path_buf(),
                        source,
                    })?;
                    Ok(Trained::Recorded(record, out.to_path_buf()))
                }
                TrialEnd::Stopped => Ok(Trained::Stopped),
            }
        }
        Target::Store(store) => {
            let Some(claim) = store.claim(&spec.id)? else {
                let dir = store.trial_dir(&spec.id);
                if store.is_done(&spec.id) {
                    let record = store::read_record(&dir.join(contract::layout::SUMMARY))?;
                    return Ok(Trained::AlreadyDone(Box::new(record), dir));
                }
                return Err(TrainOneError::Busy(spec.short_id().to_string()));
            };
            for warning in claim.warnings() {
                warn(&warning.to_string());
            }
            match run_trial(spec, dataset, device, claim.work_dir(), stop, on_event)? {
                TrialEnd::Recorded(record) => Ok(Trained::Recorded(record, claim.publish()?)),
                TrialEnd::Stopped => {
                    claim.release();
                    Ok(Trained::Stopped)
                }
            }
        }
    }
}

/// What `harness train` says of a recorded trial: how it ended with its accuracies and
/// loss, its parameter count beside the study's, its latency, and its folder.
pub fn summary_lines(record: &TrialRecord, folder: &Path) -> Vec<String> {
    use contract::Status;
    use progress::format::{MISSING, thousands};
    let pct = |x: Option<f64>| x.map_or(MISSING.into(), |x| format!("{x:.2}%"));
    let mut lines = vec![
        format!(
            "result: {}  final test accuracy {}  best {} (epoch {})  training loss (sum) {}",
            match &record.status {
                Status::Finished => "finished".to_string(),
                Status::Diverged { epoch, batch } =>
                    format!("DIVERGED at epoch {epoch}, batch {batch}"),
                Status::Stopped => "stopped".to_string(),
            },
            pct(record.final_accuracy),
            pct(record.best_accuracy),
            record.best_epoch.map_or(MISSING.into(), |e| e.to_string()),
            record
                .train_loss_sum
                .map_or(MISSING.into(), |x| format!("{x:.3}")),
        ),
        format!(
            "parameters: {} (study: {})",
            thousands(record.parameters),
            record
                .study_parameters
                .as_deref()
                .unwrap_or("not published")
        ),
    ];
    if let Some(l) = &record.latency {
        lines.push(format!(
            "latency: batch 1 {:.3} ms (p95 {:.3}), batch {} {:.3} ms (p95 {:.3})",
            l.batch1.median_ms, l.batch1.p95_ms, l.eval.batch, l.eval.median_ms, l.eval.p95_ms
        ));
    }
    lines.push(format!("trial folder: {}", folder.display()));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished trial is summarised with its figures; a diverged one says where, and
    /// what it does not have shows as the missing mark.
    #[test]
    fn the_summary_says_how_the_trial_ended() {
        let dir = tempfile::tempdir().unwrap();
        let (_, experiment) = fixtures::experiment(dir.path());
        let record = fixtures::record(&experiment, "base", 3, &[80.0, 85.5]);
        let lines = summary_lines(&record, Path::new("runs/trials/x"));
        assert_eq!(
            lines,
            [
                "result: finished  final test accuracy 85.50%  best 85.50% (epoch —)  training loss (sum) 4.000",
                "parameters: 1,234 (study: not published)",
                "latency: batch 1 0.500 ms (p95 0.600), batch 128 5.000 ms (p95 6.000)",
                "trial folder: runs/trials/x",
            ]
        );
        let diverged = fixtures::diverge(record, 2);
        let lines = summary_lines(&diverged, Path::new("f"));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0]
                .starts_with("result: DIVERGED at epoch 2, batch 3  final test accuracy 80.00%"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("training loss (sum) —"), "{}", lines[0]);
    }
}
