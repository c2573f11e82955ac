//! The run store. Trials are shared by every experiment that plans them: a trial is
//! identified by its resolved configuration, seed and data (see [`crate::id`]), not by the
//! experiment that asked for it, so the study's baseline trains once per seed however many
//! tables show it.
//!
//! - `runs/trials/<trial-id>/` holds finished trials,
//! - `runs/trials/.work/<trial-id>/` the ones being run,
//! - `runs/trials/.quarantine/` whatever was found broken,
//! - `runs/<experiment>/` what belongs to one experiment: its stop request, seeding
//!   decision, cost estimate, latency phase and Slurm submissions.
//!
//! An experiment's records are the store's records whose configuration digest is one of its
//! variants' (any seed), plus those it ran itself under other settings (see
//! [`Store::records_for`]).
//!
//! # Older stores
//!
//! Stores written before trials were shared kept them in `runs/<experiment>/<trial-id>/`
//! (and `runs/<experiment>/.work/<trial-id>/`). [`Store::migrate`] moves those into the
//! shared trials folder (finished ones, and a dead run's resumable work folders), each under its trial's
//! lease in the store; `replicate`, `train`, `report` and the dashboard call it first. An
//! old copy of a trial the store holds already (two experiments had run the same trial) is
//! set aside in the store's quarantine.
//!
//! # Done
//!
//! A trial is done exactly when `<trial-id>/summary.json` parses as a [`TrialRecord`] and
//! [`TrialRecord::validate`] accepts it for that folder (format version, id = folder name,
//! a configuration that validates, a final accuracy for a finished trial, ...).
//! [`Store::is_done`] and [`Store::state`] check exactly that and change nothing, so a
//! truncated, corrupt or hand-edited record makes its trial pending again: the next
//! `replicate` runs it.
//!
//! # Claims
//!
//! A run works in `.work/<id>/` while holding the trial's **lease**, a file beside it in
//! `.work/` created exclusively and kept alive by a heartbeat ([`crate::lease`]: it works on
//! NFS and Lustre too, where `flock` may be missing). The protocol:
//!
//! 1. Create the lease file exclusively. It exists already: if its holder is alive (a
//!    fresh heartbeat, or a live process on this host), the trial is not ours; if the
//!    holder is dead or silent, take the lease over (one taker at a time, through a
//!    `.break` file; see [`crate::lease`]).
//! 2. Only a holder removes its lease, and only while it still holds its nonce (on
//!    publish, release and discard), so two processes never both believe they hold the
//!    same trial. A holder whose heartbeat finds the lease taken stops and publishes
//!    nothing.
//! 3. The lease is named by the trial id alone, so `replicate`, `train` and Slurm tasks
//!    of any experiment that plans the trial meet on it.
//! 4. Under the lease, the trial folder is checked again: a valid record means someone
//!    finished it meanwhile (not ours). A trial folder without a valid record (a user
//!    deleted `summary.json` to force a rerun, a corrupt record) is moved to quarantine
//!    before any training, and the claim says so ([`Claim::warnings`]), so the final
//!    rename can never fail on a folder in the way.
//! 5. The work folder is **not** wiped: a dead run's leftovers are handed over as they
//!    are ([`Claim::has_leftovers`]); the trial runner decides to resume from them or to
//!    clear them.
//! 6. The claim ends in one of three ways: [`Claim::publish`] renames the work folder to
//!    the trial folder in one step and fsyncs both parents (a trial appears complete or
//!    not at all); [`Claim::release`] keeps the work folder for a later resume (a stopped
//!    trial); [`Claim::discard`] removes it. A claim that is merely dropped (a crash)
//!    leaves the work folder and a lease whose holder is dead: the next claim takes both
//!    over.
//!
//! Two `replicate` processes on one store therefore never run the same trial at once and
//! never see a half-written trial as done (per-trial claims, not a store-wide lock).
//!
//! # Quarantine
//!
//! Nothing is ever deleted because it looked wrong. A broken trial folder is renamed to
//! `.quarantine/<name>.<unix-seconds>[.<n>]/` (with a `QUARANTINE.txt` saying why), only
//! while holding that trial's lease, so it can never race with a run publishing a fresh
//! folder under the same name. [`Store::records`] quarantines the records it cannot use
//! and returns them as warnings beside the good records: a report never fails because of
//! one bad record. The library prints nothing; callers show the warnings.
//!
//! # Files
//!
//! Temporary files are created exclusively (`O_CREAT|O_EXCL`, which never follows a
//! symlink) under an unpredictable name (process id, a counter and 64 random bits), then
//! fsynced and renamed into place, and the folder is fsynced ([`write_atomic`]).
//! [`Store::ensure_writable`] proves that the store accepts writes before any
//! data is loaded or any trial starts.
//!
//! # The crate
//!
//! Besides the store itself: trial ids and configuration digests ([`id`]), provenance
//! ([`provenance`]), the lease protocol of claims ([`lease`]), the records ([`record`]) and
//! the copies kept beside them ([`trial_files`]), side files of an experiment's folder read
//! strictly ([`side_file`]), and the crash points of the chaos tests ([`crash`]). It needs
//! no libtorch: the dashboard, the reports and the executors share it.

pub mod atomic;
mod checks;
pub mod crash;
pub mod error;
pub mod id;
pub mod lease;
pub mod membership;
mod migrate;
pub mod provenance;
pub mod record;
pub mod side_file;
pub mod status;
pub mod trial_files;

use atomic::{PROBE_PREFIX, sync_dir};
pub use atomic::{create_exclusive, ensure_writable_dir, write_atomic, write_output};
pub use error::StoreError;
use error::io;
pub use membership::Membership;
pub use migrate::Migration;
pub use status::TrialStatus;

use crate::record::TrialRecord;
use contract::record::InvalidRecord;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use contract::layout::{LEASE_SUFFIX, Layout, STOP};
use contract::layout::{QUARANTINE_NOTE, SUMMARY, TRIALS, WORK};

/// Something in the store that was found unusable and set aside (or could not be yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    /// Where it was: a trial folder (or whatever stood in its place).
    pub path: PathBuf,
    /// What is wrong with it, naming the file.
    pub reason: String,
    /// Where it is now, under `.quarantine/`; `None` when it could not be moved (another
    /// process holds its trial, or the move failed): it is left in place and skipped.
    pub moved_to: Option<PathBuf>,
}

impl fmt::Display for Quarantined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; ", self.path.display(), self.reason)?;
        match &self.moved_to {
            Some(to) => write!(f, "moved to {}", to.display()),
            None => write!(f, "left in place and skipped"),
        }
    }
}

/// What [`Store::records`] found: the usable records and the warnings about the rest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Records {
    /// Every valid record, sorted by variant, seed and id.
    pub records: Vec<TrialRecord>,
    /// Records that were unusable, each moved to quarantine (or skipped).
    pub quarantined: Vec<Quarantined>,
    /// Usable records whose `config.ron` or `trial.json` was bad, each rewritten from the
    /// record ([`crate::trial_files`]).
    pub repaired: Vec<crate::trial_files::Repaired>,
}

impl Records {
    /// One line per warning: each quarantined record, then each rewritten copy.
    pub fn warnings(&self) -> Vec<String> {
        self.quarantined
            .iter()
            .map(ToString::to_string)
            .chain(self.repaired.iter().map(ToString::to_string))
            .collect()
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
    /// `summary.json` exists and is a valid record of the trial.
    Done,
    /// Some process holds the claim right now.
    Running,
    /// Neither: not started, left incomplete by a dead run, or its record is unusable.
    Pending,
}

/// What a trial folder holds.
enum Found {
    /// Nothing at that path.
    Absent,
    /// A valid record.
    Valid(Box<TrialRecord>),
    /// Something that is not a valid trial folder, and why.
    Invalid(String),
}

fn inspect(dir: &Path) -> Found {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Absent,
        Err(e) => return Found::Invalid(format!("cannot be read: {e}")),
        Ok(meta) if !meta.is_dir() => {
            return Found::Invalid("is not a folder (a file or a symlink stands there)".into());
        }
        Ok(_) => {}
    }
    let summary = dir.join(SUMMARY);
    if !summary.exists() {
        return Found::Invalid(format!("{} is missing", summary.display()));
    }
    match read_record(&summary) {
        Ok(record) => Found::Valid(Box::new(record)),
        Err(StoreError::BadRecord { message, .. }) => {
            Found::Invalid(format!("{}: {message}", summary.display()))
        }
        Err(e) => Found::Invalid(e.to_string()),
    }
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

    /// The store's folder names ([`contract::layout`]).
    pub fn layout(&self) -> Layout {
        Layout::new(&self.root)
    }

    /// `runs/<experiment>`.
    pub fn experiment_dir(&self, experiment: &str) -> PathBuf {
        self.layout().experiment_dir(experiment)
    }

    /// `runs/trials`: the folder of the trials every experiment shares.
    pub fn trials_dir(&self) -> PathBuf {
        self.layout().trials_dir()
    }

    /// Where a finished trial lives.
    pub fn trial_dir(&self, id: &str) -> PathBuf {
        self.layout().trial_dir(id)
    }

    /// Where a trial is built while it runs.
    pub fn work_dir(&self, id: &str) -> PathBuf {
        self.layout().work_dir(id)
    }

    /// Where the work folders are.
    pub fn work_root(&self) -> PathBuf {
        self.layout().work_root()
    }

    /// Where unusable trial folders are moved.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.layout().quarantine_dir()
    }

    fn lock_path(&self, id: &str) -> PathBuf {
        self.layout().lease_path(id)
    }

    /// Checks that the store accepts writes: creates the store's work folder and creates
    /// (exclusively), writes, fsyncs and removes a probe file there. Run it before loading
    /// data or starting trials; the error names the path.
    pub fn ensure_writable(&self) -> Result<(), StoreError> {
        let dir = self.trials_dir().join(WORK);
        self.check_layout()?;
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Unwritable {
            path: dir.clone(),
            source,
        })?;
        self.check_layout()?;
        ensure_writable_dir(&dir)
    }

    /// Refuses a store whose own folders (`trials/`, `trials/.work/`, `trials/.quarantine/`)
    /// are symbolic links, or whose work folder is on another filesystem than its trials:
    /// a trial would train there to the end and then fail to publish ("Invalid
    /// cross-device link"). The store's root itself may be a link (runs -> /scratch/runs).
    pub fn check_layout(&self) -> Result<(), StoreError> {
        use std::os::unix::fs::MetadataExt;
        let trials = self.trials_dir();
        let work = trials.join(WORK);
        let mut devices = Vec::new();
        for dir in [trials.clone(), work.clone(), self.quarantine_dir()] {
            match std::fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(StoreError::Layout {
                        message: format!(
                            "is a symbolic link (to {}); the store's own folders must be real folders inside it, or the work lands outside the store. Link the store's root instead (e.g. runs -> /scratch/runs) and move this folder back",
                            std::fs::read_link(&dir)
                                .map_or_else(|_| "?".into(), |t| t.display().to_string())
                        ),
                        path: dir,
                    });
                }
                Ok(meta) if !meta.is_dir() => {
                    return Err(StoreError::Layout {
                        path: dir,
                        message: "is not a folder; move it away".into(),
                    });
                }
                Ok(meta) => devices.push((dir, meta.dev())),
                Err(_) => {}
            }
        }
        if let [(_, first), rest @ ..] = devices.as_slice()
            && let Some((dir, _)) = rest.iter().find(|(_, d)| d != first)
        {
            return Err(StoreError::Layout {
                path: dir.clone(),
                message: format!(
                    "is on another filesystem than {}: finished trials are published by renaming, which cannot cross filesystems; keep the whole store on one filesystem",
                    trials.display()
                ),
            });
        }
        Ok(())
    }

    /// Whether the trial is done: its `summary.json` is a valid record of it. Changes
    /// nothing.
    pub fn is_done(&self, id: &str) -> bool {
        read_record(&self.trial_dir(id).join(SUMMARY)).is_ok()
    }

    /// Done, running (claimed by a live process) or pending. Changes nothing.
    pub fn state(&self, id: &str) -> TrialState {
        if self.is_done(id) {
            return TrialState::Done;
        }
        match lease::status(&self.lock_path(id), lease::stale_after()) {
            Ok(lease::LeaseState::Held(_)) => TrialState::Running,
            _ => TrialState::Pending,
        }
    }

    /// How many trials in the store a live process holds right now.
    pub fn held_anywhere(&self) -> usize {
        let Ok(entries) = std::fs::read_dir(self.trials_dir().join(WORK)) else {
            return 0;
        };
        let stale = lease::stale_after();
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(LEASE_SUFFIX))
            .filter(|e| {
                matches!(
                    lease::status(&e.path(), stale),
                    Ok(lease::LeaseState::Held(_))
                )
            })
            .count()
    }

    /// Removes what dead runs left in `.work/` beside trials that are done: the claim file
    /// of a trial published by a run killed before it could remove its claim, a crashed
    /// takeover's `.break` file, a claim file a killed process had set aside to check, and
    /// a killed process's write probe ([`Store::ensure_writable`]). Never touches a live
    /// holder's files. Returns what it removed.
    pub fn sweep_leftovers(&self) -> Vec<PathBuf> {
        let dir = self.trials_dir().join(WORK);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let stale = lease::stale_after();
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let sweep = if let Some(rest) = name.strip_prefix(PROBE_PREFIX) {
                // A write probe of a process killed between creating and removing it.
                lease::writer_dead(rest) && std::fs::remove_file(&path).is_ok()
            } else if name.starts_with('.') && name.ends_with(".aside") {
                // A claim file set aside to be checked by a process killed right then.
                matches!(
                    lease::status(&path, stale),
                    Ok(lease::LeaseState::Stale(..) | lease::LeaseState::Free)
                ) && std::fs::remove_file(&path).is_ok()
            } else if let Some(id) = name.strip_suffix(".lock.break") {
                !id.is_empty() && lease::remove_stale(&path, stale)
            } else if let Some(id) = name.strip_suffix(LEASE_SUFFIX) {
                self.is_done(id) && lease::remove_stale(&path, stale)
            } else {
                false
            };
            if sweep {
                removed.push(path);
            }
        }
        removed
    }

    /// Who holds the claim of a trial that is not done, if anyone (live or stale).
    pub fn holder(&self, id: &str) -> lease::LeaseState {
        lease::status(&self.lock_path(id), lease::stale_after()).unwrap_or(lease::LeaseState::Free)
    }

    /// Takes the lease of trial (or folder) `name` if nobody holds it, or its holder is
    /// dead or silent (see [`crate::lease`]). The second value says why a stale lease was
    /// taken over.
    fn try_lock_trial(
        &self,
        name: &str,
    ) -> Result<Option<(TrialLease, Option<String>)>, StoreError> {
        let work_root = self.trials_dir().join(WORK);
        std::fs::create_dir_all(&work_root).map_err(io(&work_root))?;
        let path = self.lock_path(name);
        match lease::acquire(&path, lease::stale_after()).map_err(io(&path))? {
            lease::Acquired::Ours(lease, why) => Ok(Some((TrialLease { lease }, why))),
            lease::Acquired::Taken => Ok(None),
        }
    }

    /// Claims a trial for this process: `Ok(None)` if it is done or another process holds
    /// it. A trial folder in the way without a valid record is moved to quarantine first
    /// (see [`Claim::warnings`]); the work folder is handed over as a dead run left it
    /// (see [`Claim::has_leftovers`]), never wiped.
    pub fn claim(&self, id: &str) -> Result<Option<Claim>, StoreError> {
        if self.is_done(id) {
            return Ok(None);
        }
        let Some((lock, taken_over)) = self.try_lock_trial(id)? else {
            return Ok(None);
        };
        let target = self.trial_dir(id);
        let mut warnings = Vec::new();
        if let Some(why) = taken_over {
            warnings.push(Quarantined {
                path: lock.lease.path().to_path_buf(),
                reason: format!(
                    "took over a stale claim ({why}); its work folder is kept for resume"
                ),
                moved_to: None,
            });
        }
        // Re-check under the lock: another process may have finished it meanwhile.
        match inspect(&target) {
            Found::Absent => {}
            Found::Valid(_) => {
                lock.release();
                return Ok(None);
            }
            Found::Invalid(reason) => {
                let moved = self.quarantine(&target, &reason)?;
                warnings.push(Quarantined {
                    path: target.clone(),
                    reason,
                    moved_to: Some(moved),
                });
            }
        }
        let work = self.work_dir(id);
        // A dead writer's temporary files (`.<name>.tmp`, never valid data) must not be
        // published with the trial.
        sweep_temporaries(&work).map_err(io(&work))?;
        let leftovers = match std::fs::read_dir(&work) {
            Ok(mut entries) => entries.next().is_some(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io(&work)(e)),
        };
        std::fs::create_dir_all(&work).map_err(io(&work))?;
        Ok(Some(Claim {
            store: self.clone(),
            lock,
            work,
            target,
            warnings,
            leftovers,
        }))
    }

    /// Moves `path` (a trial folder of the store, or whatever stands in its place) to
    /// `.quarantine/<name>.<unix-seconds>[.<n>]` with a note saying why. The caller holds
    /// the trial's lock.
    fn quarantine(&self, path: &Path, reason: &str) -> Result<PathBuf, StoreError> {
        let qdir = self.quarantine_dir();
        std::fs::create_dir_all(&qdir).map_err(io(&qdir))?;
        let name = path
            .file_name()
            .map_or_else(|| "trial".into(), |n| n.to_string_lossy().into_owned());
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut dest = qdir.join(format!("{name}.{secs}"));
        let mut n = 1;
        while std::fs::symlink_metadata(&dest).is_ok() {
            dest = qdir.join(format!("{name}.{secs}.{n}"));
            n += 1;
        }
        std::fs::rename(path, &dest).map_err(io(path))?;
        if let Some(parent) = path.parent() {
            sync_dir(parent)?;
        }
        sync_dir(&qdir)?;
        if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            let note = format!(
                "moved here from {} at {}: {reason}\n",
                path.display(),
                crate::provenance::rfc3339(secs)
            );
            write_atomic(&dest.join(QUARANTINE_NOTE), note.as_bytes())?;
        }
        Ok(dest)
    }

    /// The records that belong to an experiment ([`Membership::admits`]). Unusable
    /// records are handled as by [`Store::records`].
    pub fn records_for(&self, members: &Membership) -> Result<Records, StoreError> {
        let mut found = self.records()?;
        found.records.retain(|r| members.admits(r));
        let kept: HashSet<&str> = found.records.iter().map(|r| r.id.as_str()).collect();
        found.repaired.retain(|r| {
            r.path
                .parent()
                .and_then(Path::file_name)
                .is_some_and(|id| kept.contains(id.to_string_lossy().as_ref()))
        });
        Ok(found)
    }

    /// Every usable record of the store, sorted by variant, seed and id, and a warning for
    /// each unusable one: a `summary.json` that does not parse or validate is moved to
    /// quarantine (under its trial's lock; if a running process holds it, it is skipped and
    /// left in place), so its trial runs again. Fails only when the store's folder cannot be
    /// listed.
    pub fn records(&self) -> Result<Records, StoreError> {
        let dir = self.trials_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Records::default()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut found = Records::default();
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if !path.join(SUMMARY).exists() {
                // Not a record (yet): a folder without one is set aside when its trial is
                // next claimed.
                continue;
            }
            let record = match inspect(&path) {
                Found::Absent => None,
                Found::Valid(record) => Some(*record),
                Found::Invalid(reason) => match self.set_aside(&name, &path, reason) {
                    Some(Ok(record)) => Some(record),
                    Some(Err(q)) => {
                        found.quarantined.push(q);
                        None
                    }
                    None => None,
                },
            };
            if let Some(record) = record {
                found
                    .repaired
                    .extend(crate::trial_files::check_and_repair(&path, &record));
                found.records.push(record);
            }
        }
        found.records.sort_by(|a, b| {
            (a.variant.as_str(), a.seed, a.id.as_str()).cmp(&(
                b.variant.as_str(),
                b.seed,
                b.id.as_str(),
            ))
        });
        Ok(found)
    }

    /// Quarantines the folder `name` found invalid, under its lock after looking again.
    /// `None` when it is gone; `Some(Ok)` when it turned out valid after all.
    fn set_aside(
        &self,
        name: &str,
        path: &Path,
        reason: String,
    ) -> Option<Result<TrialRecord, Quarantined>> {
        let skipped = |reason: String| {
            Some(Err(Quarantined {
                path: path.to_path_buf(),
                reason,
                moved_to: None,
            }))
        };
        let lock = match self.try_lock_trial(name) {
            Ok(Some((lock, _))) => lock,
            Ok(None) => {
                return skipped(format!(
                    "{reason} (its trial is claimed by a running process)"
                ));
            }
            Err(e) => return skipped(format!("{reason} (cannot lock it to move it: {e})")),
        };
        let outcome = match inspect(path) {
            Found::Absent => None,
            Found::Valid(record) => Some(Ok(*record)),
            Found::Invalid(reason) => match self.quarantine(path, &reason) {
                Ok(moved) => Some(Err(Quarantined {
                    path: path.to_path_buf(),
                    reason,
                    moved_to: Some(moved),
                })),
                Err(e) => skipped(format!("{reason} (moving it to quarantine failed: {e})")),
            },
        };
        lock.release();
        outcome
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
        self.experiment_dir(experiment).join(STOP)
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

/// Reads one `summary.json` and checks it is a valid record of the folder it is in
/// ([`TrialRecord::validate`] with that folder's name).
pub fn read_record(path: &Path) -> Result<TrialRecord, StoreError> {
    let bad = |message: String| StoreError::BadRecord {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let record: TrialRecord = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let folder = path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    record
        .validate(&folder)
        .map_err(|e: InvalidRecord| bad(e.to_string()))?;
    Ok(record)
}

/// A trial's lease, held by this process.
#[derive(Debug)]
struct TrialLease {
    lease: lease::Lease,
}

impl TrialLease {
    /// Ends the lease (its file is removed if it is still ours).
    fn release(self) {
        self.lease.release();
    }
}

/// This process's exclusive right to run one trial.
#[derive(Debug)]
pub struct Claim {
    store: Store,
    lock: TrialLease,
    work: PathBuf,
    target: PathBuf,
    warnings: Vec<Quarantined>,
    leftovers: bool,
}

impl Claim {
    /// The folder to build the trial in.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Whether another process took this claim over (this one was thought dead: its
    /// heartbeat stopped for longer than the stale age). The run must stop; publishing
    /// fails.
    pub fn lost(&self) -> bool {
        self.lock.lease.lost()
    }

    /// A flag that turns true when the claim's heartbeat finds it lost (see [`Claim::lost`]).
    pub fn lost_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.lock.lease.lost_flag()
    }

    /// Where the trial will be published.
    pub fn target_dir(&self) -> &Path {
        &self.target
    }

    /// What claiming set aside: a trial folder that stood in the way without a valid
    /// record, moved to quarantine. For the caller to show.
    pub fn warnings(&self) -> &[Quarantined] {
        &self.warnings
    }

    /// Whether the work folder already held files (an earlier run's leftovers, handed
    /// over as they are: resume from them or clear them).
    pub fn has_leftovers(&self) -> bool {
        self.leftovers
    }

    /// Publishes the work folder (which must hold `summary.json`) with one rename, fsyncs
    /// both parent folders, then releases the claim. Whatever appeared at the target
    /// while the trial ran is moved to quarantine first (it cannot be a valid record: no
    /// one publishes without the claim).
    pub fn publish(self) -> Result<PathBuf, StoreError> {
        if self.lock.lease.lost() {
            return Err(StoreError::ClaimLost {
                path: self.lock.lease.path().to_path_buf(),
            });
        }
        sync_dir(&self.work)?;
        if std::fs::symlink_metadata(&self.target).is_ok() {
            self.store.quarantine(
                &self.target,
                "appeared while the trial was being run (no claim held)",
            )?;
        }
        crate::crash::point("publish");
        std::fs::rename(&self.work, &self.target).map_err(io(&self.target))?;
        // Done from here on: end the claim at once, so that a kill during the fsyncs
        // leaves no claim file behind (`sweep_leftovers` removes one that is left anyway).
        self.lock.release();
        sync_dir(&self.store.trials_dir())?;
        if let Some(work_root) = self.work.parent() {
            sync_dir(work_root)?;
        }
        Ok(self.target)
    }

    /// Ends the claim and keeps the work folder as it is, for a later run to resume
    /// (a stopped trial).
    pub fn release(self) {
        self.lock.release();
    }

    /// Ends the claim and removes the work folder (a trial given up for good).
    pub fn discard(self) -> Result<(), StoreError> {
        let removed = match std::fs::remove_dir_all(&self.work) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&self.work)(e)),
            _ => Ok(()),
        };
        self.lock.release();
        removed
    }
}

/// Removes, under `dir` (recursively), the temporary files and folders a writer killed
/// mid-write leaves: names that start with `.` and end with `.tmp`
/// ([`write_atomic`]'s and the checkpoints' temporary names). A missing `dir` is fine.
fn sweep_temporaries(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type()?;
        if name.starts_with('.') && name.ends_with(".tmp") {
            if kind.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        } else if kind.is_dir() {
            sweep_temporaries(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::unique_suffix;

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
    fn temporary_names_differ_every_time() {
        let a = unique_suffix();
        let b = unique_suffix();
        assert_ne!(a, b);
        // The writer's tag first (pid context, pid, start time): a later process can tell
        // whether the writer is dead; this one is alive.
        assert!(a.starts_with(&crate::lease::writer_tag()), "{a}");
        assert!(a.contains(&format!(".{}.", std::process::id())), "{a}");
        assert!(!crate::lease::writer_dead(&a));
        // The random part differs too, not only the counter.
        assert_ne!(a.rsplit('.').next(), b.rsplit('.').next());
    }
}
