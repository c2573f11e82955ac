//! The run store: `runs/<experiment>/<trial-id>/` holds finished trials, and
//! `runs/<experiment>/.work/<trial-id>/` the ones being run.
//!
//! A trial is done exactly when `<trial-id>/summary.json` exists. A run works in
//! `.work/<id>/` while holding an exclusive lock on `.work/<id>.lock` (an OS file lock,
//! released by the kernel even on `kill -9` or power loss), and publishes the folder with
//! one atomic rename when the trial has finished or diverged. Anything left in `.work/` by
//! a dead run is incomplete: the next run to claim that trial wipes and redoes it. Two
//! `replicate` processes on one store therefore never run the same trial twice at once
//! and never see a half-written trial as done (per-trial claims, not a store-wide lock).

use crate::record::TrialRecord;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file that marks a trial folder as complete.
pub const SUMMARY: &str = "summary.json";
const WORK: &str = ".work";

/// Errors of the run store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause (a full disk shows here).
        source: std::io::Error,
    },
    /// A record cannot be parsed.
    #[error("{path}: unreadable trial record: {message}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A run store rooted at a folder (by default `runs/`).
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// The state of one trial in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrialState {
    /// `summary.json` exists.
    Done,
    /// Some process holds the claim right now.
    Running,
    /// Neither: not started, or left incomplete by a dead run.
    Pending,
}

impl Store {
    /// A store at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// The store's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `runs/<experiment>`.
    pub fn experiment_dir(&self, experiment: &str) -> PathBuf {
        self.root.join(experiment)
    }

    /// Where a finished trial lives.
    pub fn trial_dir(&self, experiment: &str, id: &str) -> PathBuf {
        self.experiment_dir(experiment).join(id)
    }

    /// Where a trial is built while it runs.
    pub fn work_dir(&self, experiment: &str, id: &str) -> PathBuf {
        self.experiment_dir(experiment).join(WORK).join(id)
    }

    fn lock_path(&self, experiment: &str, id: &str) -> PathBuf {
        self.experiment_dir(experiment)
            .join(WORK)
            .join(format!("{id}.lock"))
    }

    /// Whether the trial is done.
    pub fn is_done(&self, experiment: &str, id: &str) -> bool {
        self.trial_dir(experiment, id).join(SUMMARY).is_file()
    }

    /// Done, running (claimed by a live process) or pending.
    pub fn state(&self, experiment: &str, id: &str) -> TrialState {
        if self.is_done(experiment, id) {
            return TrialState::Done;
        }
        let Ok(file) = File::open(self.lock_path(experiment, id)) else {
            return TrialState::Pending;
        };
        match file.try_lock() {
            Ok(()) => TrialState::Pending,
            Err(TryLockError::WouldBlock) => TrialState::Running,
            Err(TryLockError::Error(_)) => TrialState::Pending,
        }
    }

    /// Claims a trial for this process: `Ok(None)` if it is done or another process holds
    /// it. The claim's work folder starts empty (leftovers of a dead run are removed).
    pub fn claim(&self, experiment: &str, id: &str) -> Result<Option<Claim>, StoreError> {
        if self.is_done(experiment, id) {
            return Ok(None);
        }
        let work_root = self.experiment_dir(experiment).join(WORK);
        std::fs::create_dir_all(&work_root).map_err(io(&work_root))?;
        let lock_path = self.lock_path(experiment, id);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // A watcher (the dashboard) may be probing this lock for a moment: retry once.
        let mut attempt = lock.try_lock();
        if matches!(attempt, Err(TryLockError::WouldBlock)) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            attempt = lock.try_lock();
        }
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                });
            }
        }
        // Re-check under the lock: another process may have finished it meanwhile.
        if self.is_done(experiment, id) {
            return Ok(None);
        }
        let work = self.work_dir(experiment, id);
        if work.exists() {
            std::fs::remove_dir_all(&work).map_err(io(&work))?;
        }
        std::fs::create_dir_all(&work).map_err(io(&work))?;
        Ok(Some(Claim {
            lock,
            lock_path,
            work,
            target: self.trial_dir(experiment, id),
        }))
    }

    /// Every complete record of an experiment, sorted by variant, seed and id.
    pub fn records(&self, experiment: &str) -> Result<Vec<TrialRecord>, StoreError> {
        let dir = self.experiment_dir(experiment);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let summary = entry.path().join(SUMMARY);
            if entry.file_name().to_string_lossy().starts_with('.') || !summary.is_file() {
                continue;
            }
            records.push(read_record(&summary)?);
        }
        records.sort_by(|a, b| {
            (a.variant.as_str(), a.seed, a.id.as_str()).cmp(&(
                b.variant.as_str(),
                b.seed,
                b.id.as_str(),
            ))
        });
        Ok(records)
    }
}

/// How a stop request asks running trials to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// After the current epoch; no new trials start.
    AfterEpoch,
    /// Before the next batch; no new trials start.
    Now,
}

impl Store {
    fn stop_path(&self, experiment: &str) -> PathBuf {
        self.experiment_dir(experiment).join(WORK).join("STOP")
    }

    /// Asks every process running trials of `experiment` on this store to stop (a file
    /// they poll, so it also reaches processes started elsewhere).
    pub fn request_stop(&self, experiment: &str, request: StopRequest) -> Result<(), StoreError> {
        let text = match request {
            StopRequest::AfterEpoch => "after-epoch\n",
            StopRequest::Now => "now\n",
        };
        write_atomic(&self.stop_path(experiment), text.as_bytes())
    }

    /// The pending stop request of `experiment`, if any.
    pub fn stop_request(&self, experiment: &str) -> Option<StopRequest> {
        let text = std::fs::read_to_string(self.stop_path(experiment)).ok()?;
        Some(if text.trim() == "now" {
            StopRequest::Now
        } else {
            StopRequest::AfterEpoch
        })
    }

    /// Withdraws a stop request.
    pub fn clear_stop(&self, experiment: &str) {
        let _ = std::fs::remove_file(self.stop_path(experiment));
    }
}

/// Reads one `summary.json`.
pub fn read_record(path: &Path) -> Result<TrialRecord, StoreError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    serde_json::from_str(&text).map_err(|e| StoreError::BadRecord {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// This process's exclusive right to run one trial.
#[derive(Debug)]
pub struct Claim {
    lock: File,
    lock_path: PathBuf,
    work: PathBuf,
    target: PathBuf,
}

impl Claim {
    /// The folder to build the trial in.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Where the trial will be published.
    pub fn target_dir(&self) -> &Path {
        &self.target
    }

    /// Publishes the work folder (which must hold `summary.json`) with one rename, then
    /// releases the claim.
    pub fn publish(self) -> Result<PathBuf, StoreError> {
        sync_dir(&self.work)?;
        std::fs::rename(&self.work, &self.target).map_err(io(&self.target))?;
        if let Some(parent) = self.target.parent() {
            sync_dir(parent)?;
        }
        let _ = std::fs::remove_file(&self.lock_path);
        drop(self.lock);
        Ok(self.target)
    }

    /// Gives the trial up (stopped or failed): removes the work folder and the claim.
    pub fn abandon(self) {
        let _ = std::fs::remove_dir_all(&self.work);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_exclusive_and_publish_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.state("e", "abc"), TrialState::Pending);
        let claim = store.claim("e", "abc").unwrap().unwrap();
        assert_eq!(store.state("e", "abc"), TrialState::Running);
        assert!(
            store.claim("e", "abc").unwrap().is_none(),
            "second claim refused"
        );
        std::fs::write(claim.work_dir().join("partial"), b"x").unwrap();
        assert!(!store.is_done("e", "abc"));
        write_atomic(&claim.work_dir().join(SUMMARY), b"{}").unwrap();
        let published = claim.publish().unwrap();
        assert!(published.join("partial").is_file());
        assert_eq!(store.state("e", "abc"), TrialState::Done);
        assert!(
            store.claim("e", "abc").unwrap().is_none(),
            "done trials are not claimed"
        );
    }

    #[test]
    fn stop_requests_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert_eq!(store.stop_request("e"), None);
        store.request_stop("e", StopRequest::Now).unwrap();
        assert_eq!(store.stop_request("e"), Some(StopRequest::Now));
        store.request_stop("e", StopRequest::AfterEpoch).unwrap();
        assert_eq!(store.stop_request("e"), Some(StopRequest::AfterEpoch));
        store.clear_stop("e");
        assert_eq!(store.stop_request("e"), None);
    }

    #[test]
    fn a_dead_runs_leftovers_are_wiped_on_the_next_claim() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let claim = store.claim("e", "t").unwrap().unwrap();
        std::fs::write(claim.work_dir().join("stale"), b"x").unwrap();
        // A dead process: its lock is released, its folder stays.
        drop(claim);
        assert_eq!(store.state("e", "t"), TrialState::Pending);
        let again = store.claim("e", "t").unwrap().unwrap();
        assert!(!again.work_dir().join("stale").exists());
    }
}
