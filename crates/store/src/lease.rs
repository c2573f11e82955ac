//! Claims that work on any POSIX filesystem, shared between hosts: a lease file created
//! exclusively (`O_CREAT|O_EXCL`, atomic on local filesystems and on NFSv3+) and kept
//! alive by a heartbeat, instead of `flock`, which NFS mounted with `nolock` and Lustre
//! without `flock` do not provide.
//!
//! # The lease file
//!
//! One line of JSON ([`Holder`]): host, boot id, process id and start time, a random
//! nonce, the Slurm job if any. Its **mtime is the heartbeat**: the holder sets it to now
//! every [`stale_after`]` / 4` seconds from a background thread.
//!
//! # When a lease is stale
//!
//! - its mtime is older than [`stale_after`] (default 120 s, `HARNESS_CLAIM_STALE_SECS`
//!   overrides): the holder's host died, hangs, or lost the filesystem; or
//! - it was taken on this host (same host name and boot id) by a process that is no
//!   longer alive (its pid is gone or now belongs to a process started at another time),
//!   which makes a killed local worker's trial free at once, as `flock` did; or
//! - it was taken on this host name before a reboot (another boot id).
//!
//! Assumptions (said in the README): host names are unique among the machines that share
//! the store, and their clocks agree to well within [`stale_after`].
//!
//! # Taking a stale lease over
//!
//! The taker first creates `<lease>.break` exclusively (one taker at a time; a `.break`
//! older than [`stale_after`] was left by a crashed taker and is removed), checks that the
//! lease still holds the stale holder's nonce, removes it and creates its own exclusively,
//! then removes `.break`. A fresh claimer that creates the lease meanwhile wins and the
//! taker gets nothing, so two processes never both hold one lease.
//!
//! # Losing a lease
//!
//! A holder whose heartbeat finds the file gone or holding another nonce (it was thought
//! dead: suspended, partitioned) raises [`Lease::lost`]; the run stops and publishes
//! nothing. The holder removes the file on release only if it still holds its nonce.

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// Default age after which a lease without heartbeat is stale.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(120);
/// The environment variable that overrides [`DEFAULT_STALE_AFTER`] (whole seconds).
pub const STALE_ENV: &str = "HARNESS_CLAIM_STALE_SECS";

/// The age after which a lease without heartbeat is stale.
pub fn stale_after() -> Duration {
    std::env::var(STALE_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map_or(DEFAULT_STALE_AFTER, Duration::from_secs)
}

use contract::claim::Holder;

/// What a lease path holds right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// No lease.
    Free,
    /// A live holder (`None` if the file is being written or unreadable but fresh).
    Held(Option<Holder>),
    /// A holder that is dead or silent, and why.
    Stale(Option<Holder>, String),
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn host() -> String {
    crate::provenance::host_name()
}

/// Where this process's pids mean something: host, boot and pid namespace, hashed to 8
/// hex digits (names of short-lived files carry it; see [`writer_tag`]).
fn pid_context() -> String {
    use std::hash::{Hash, Hasher};
    // A fixed hasher (not RandomState): every process must compute the same tag.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (host(), boot_id(), pid_namespace()).hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

/// This process as the writer of a short-lived file (a probe, a temporary file):
/// `<pid context>.<pid>.<start time>`. [`writer_dead`] judges it later, from any process.
pub fn writer_tag() -> String {
    use std::sync::OnceLock;
    static TAG: OnceLock<String> = OnceLock::new();
    // Computed once per process (fork-free: a worker is a new process, not a fork).
    TAG.get_or_init(|| {
        let pid = std::process::id();
        format!("{}.{pid}.{}", pid_context(), start_time(pid).unwrap_or(0))
    })
    .clone()
}

/// Whether the writer named by `tag` (the start of `rest`, as [`writer_tag`] writes it) is
/// known to be dead: it ran in this host's boot and pid namespace and its process is gone
/// (or the pid now belongs to a later process). A writer elsewhere is never judged dead.
pub fn writer_dead(rest: &str) -> bool {
    let mut parts = rest.split('.');
    let (Some(context), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    context == pid_context() && start_time(pid) != Some(start)
}

fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id")
}

fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Start time of `pid` in clock ticks since boot, `None` if there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // A zombie (killed, not yet reaped) is as dead as a gone process.
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

pub(crate) fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{:016x}", h.finish())
}

/// This process as a lease holder.
fn me() -> Holder {
    let pid = std::process::id();
    let job = std::env::var("SLURM_JOB_ID").ok().map(|job| {
        match (
            std::env::var("SLURM_ARRAY_JOB_ID"),
            std::env::var("SLURM_ARRAY_TASK_ID"),
        ) {
            (Ok(array), Ok(task)) => format!("{array}_{task}"),
            _ => job,
        }
    });
    Holder {
        host: host(),
        boot: boot_id(),
        pid,
        start: start_time(pid).unwrap_or(0),
        nonce: nonce(),
        since: crate::provenance::unix_seconds(),
        job,
        pidns: pid_namespace(),
        stale_s: stale_after().as_secs(),
    }
}

/// Why `holder` (of a lease this host can judge) is dead, if it is.
fn dead_here(holder: &Holder) -> Option<String> {
    if holder.host != host() {
        return None;
    }
    if holder.boot != boot_id() {
        return Some(format!("taken on {} before a reboot", holder.host));
    }
    if holder.pidns.is_empty() || holder.pidns != pid_namespace() {
        // Another container on this host: its pids are not ours to judge.
        return None;
    }
    match start_time(holder.pid) {
        None => Some(format!("process {} on {} is gone", holder.pid, holder.host)),
        Some(start) if start != holder.start => Some(format!(
            "process {} on {} is gone (the pid was reused)",
            holder.pid, holder.host
        )),
        Some(_) => None,
    }
}

fn open_nofollow(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The state of the lease at `path`. Errors only when the path cannot be read (a symlink
/// stands there, permissions).
pub fn status(path: &Path, stale_after: Duration) -> std::io::Result<LeaseState> {
    let mut file = match open_nofollow(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LeaseState::Free),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let mut text = String::new();
    let holder = file
        .read_to_string(&mut text)
        .ok()
        .and_then(|_| serde_json::from_str::<Holder>(text.trim()).ok());
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    if let Some(why) = holder.as_ref().and_then(dead_here) {
        return Ok(LeaseState::Stale(holder, why));
    }
    let stale_after = holder.as_ref().map_or(stale_after, |h| {
        stale_after.max(Duration::from_secs(h.stale_s))
    });
    if age > stale_after {
        let why = format!(
            "no heartbeat for {}s (stale after {}s)",
            age.as_secs(),
            stale_after.as_secs()
        );
        return Ok(LeaseState::Stale(holder, why));
    }
    Ok(LeaseState::Held(holder))
}

/// A lease this process holds; its heartbeat runs until it is released or dropped.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
    nonce: String,
    lost: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

/// What [`acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    /// The lease is ours; `Some(why)` when it was taken over from a stale holder.
    Ours(Lease, Option<String>),
    /// Someone else holds it (or is taking it over right now).
    Taken,
}

fn create(path: &Path, me: &Holder) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mut line = serde_json::to_string(me).map_err(std::io::Error::other)?;
    line.push('\n');
    if let Err(e) = file
        .write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // A full disk must not leave an empty lease that blocks the trial.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let is_break = path.extension().is_some_and(|e| e == "break");
    crate::crash::point(if is_break { "break" } else { "lease" });
    Ok(file)
}

/// Takes the lease at `path` if it is free or stale (see the module docs).
pub fn acquire(path: &Path, stale_after: Duration) -> std::io::Result<Acquired> {
    let me = me();
    match create(path, &me) {
        Ok(_) => return Ok(Acquired::Ours(Lease::start(path, &me, stale_after), None)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let (stale, why) = match status(path, stale_after)? {
        // Released between our create and our look: try once more.
        LeaseState::Free => {
            return match create(path, &me) {
                Ok(_) => Ok(Acquired::Ours(Lease::start(path, &me, stale_after), None)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Acquired::Taken),
                Err(e) => Err(e),
            };
        }
        LeaseState::Held(_) => return Ok(Acquired::Taken),
        LeaseState::Stale(holder, why) => (holder, why),
    };
    let breaker = break_path(path);
    match create(&breaker, &me) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // A taker that crashed mid-takeover leaves `.break`: clear it once it is
            // stale, and only that one (never a newer taker's).
            if let Ok(LeaseState::Stale(Some(dead), _)) = status(&breaker, stale_after) {
                remove_if_holder(&breaker, &dead.nonce);
            }
            return Ok(Acquired::Taken);
        }
        Err(e) => return Err(e),
    }
    let result = (|| {
        // Still the same stale holder? (It may have been released and re-taken.)
        match (status(path, stale_after)?, &stale) {
            (LeaseState::Stale(Some(now), _), Some(then)) if now.nonce == then.nonce => {
                if !remove_if_holder(path, &then.nonce) {
                    return Ok(Acquired::Taken);
                }
            }
            // Unreadable and stale: only its age speaks; remove it as it is.
            (LeaseState::Stale(None, _), None) => {
                let _ = std::fs::remove_file(path);
            }
            (LeaseState::Free, _) => {}
            _ => return Ok(Acquired::Taken),
        }
        match create(path, &me) {
            Ok(_) => Ok(Acquired::Ours(
                Lease::start(path, &me, stale_after),
                Some(why.clone()),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Acquired::Taken),
            Err(e) => Err(e),
        }
    })();
    remove_if_holder(&breaker, &me.nonce);
    result
}

/// Removes the lease (or `.break`) file at `path` if its holder is dead or silent, and only
/// that holder's file (see the module docs). Returns whether it removed it.
pub fn remove_stale(path: &Path, stale_after: Duration) -> bool {
    match status(path, stale_after) {
        Ok(LeaseState::Stale(Some(dead), _)) => remove_if_holder(path, &dead.nonce),
        Ok(LeaseState::Stale(None, _)) => std::fs::remove_file(path).is_ok(),
        _ => false,
    }
}

fn break_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".break");
    path.with_file_name(name)
}

/// Whether the lease at `path` holds `nonce`: `Some(true)`, `Some(false)` (gone, or
/// another holder's), or `None` when it cannot be read right now (a transient I/O error:
/// not proof of a loss).
fn holds(path: &Path, nonce: &str) -> Option<bool> {
    let mut text = String::new();
    match open_nofollow(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
        Err(_) => return None,
    }
    match serde_json::from_str::<Holder>(text.trim()) {
        Ok(h) => Some(h.nonce == nonce),
        // Being written by a new holder (created, content not yet there): not ours.
        Err(_) if text.trim().is_empty() => Some(false),
        Err(_) => None,
    }
}

/// Removes `path` only if it holds `nonce`: renamed aside first, checked, then deleted, or
/// put back (without replacing anything that appeared meanwhile) when it was someone
/// else's. Returns whether it removed it.
fn remove_if_holder(path: &Path, nonce: &str) -> bool {
    let aside = path.with_file_name(format!(
        ".{}.{}.aside",
        path.file_name().unwrap_or_default().to_string_lossy(),
        crate::lease::nonce()
    ));
    if std::fs::rename(path, &aside).is_err() {
        return false;
    }
    crate::crash::point("aside");
    if holds(&aside, nonce) == Some(true) {
        let _ = std::fs::remove_file(&aside);
        true
    } else {
        // Not the one we meant: put it back unless a new file took its place.
        let _ = std::fs::hard_link(&aside, path);
        let _ = std::fs::remove_file(&aside);
        false
    }
}

impl Lease {
    fn start(path: &Path, me: &Holder, stale_after: Duration) -> Lease {
        let lease = Lease {
            path: path.to_path_buf(),
            nonce: me.nonce.clone(),
            lost: Arc::new(AtomicBool::new(false)),
            done: Arc::new(AtomicBool::new(false)),
        };
        let (path, nonce) = (lease.path.clone(), lease.nonce.clone());
        let (lost, done) = (lease.lost.clone(), lease.done.clone());
        let every = (stale_after / 4).max(Duration::from_millis(250));
        std::thread::spawn(move || {
            let tick = Duration::from_millis(100).min(every);
            let mut renewed_at = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                // Wall-clock time, so that a holder resumed after a long suspension
                // checks at once whether it lost the lease.
                if renewed_at.elapsed() < every || done.load(Ordering::Relaxed) {
                    continue;
                }
                match holds(&path, &nonce) {
                    Some(false) => {
                        lost.store(true, Ordering::Relaxed);
                        break;
                    }
                    // A read error is not a loss: try again next tick.
                    None => continue,
                    Some(true) => {}
                }
                let touched = OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
                    .and_then(|f| f.set_times(FileTimes::new().set_modified(SystemTime::now())));
                if touched.is_ok() {
                    renewed_at = std::time::Instant::now();
                }
            }
        });
        lease
    }

    /// The lease file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether another process took this lease over (this one was thought dead).
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed) || holds(&self.path, &self.nonce) == Some(false)
    }

    /// A flag that turns true when the heartbeat finds the lease lost.
    pub fn lost_flag(&self) -> Arc<AtomicBool> {
        self.lost.clone()
    }

    /// Ends the lease: stops the heartbeat and removes the file if it is still ours.
    pub fn release(self) {
        // Drop does it.
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        remove_if_holder(&self.path, &self.nonce);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_release_and_dead_local_holders_are_stale_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.lock");
        let Acquired::Ours(lease, None) = acquire(&path, DEFAULT_STALE_AFTER).unwrap() else {
            panic!("free lease")
        };
        assert!(matches!(
            acquire(&path, DEFAULT_STALE_AFTER).unwrap(),
            Acquired::Taken
        ));
        assert!(matches!(
            status(&path, DEFAULT_STALE_AFTER).unwrap(),
            LeaseState::Held(Some(_))
        ));
        assert!(!lease.lost());
        drop(lease);
        assert!(!path.exists());

        // A holder on this host whose process is gone.
        let mut dead = me();
        dead.pid = u32::MAX - 1;
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        let LeaseState::Stale(_, why) = status(&path, DEFAULT_STALE_AFTER).unwrap() else {
            panic!("dead holder")
        };
        assert!(why.contains("is gone"), "{why}");
        let Acquired::Ours(lease, Some(why)) = acquire(&path, DEFAULT_STALE_AFTER).unwrap() else {
            panic!("taken over")
        };
        assert!(why.contains("is gone"), "{why}");
        assert!(!path.with_file_name("t.lock.break").exists());
        drop(lease);
    }

    #[test]
    fn another_pid_namespace_is_judged_by_heartbeat_and_a_holders_longer_stale_age_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.lock");
        // Same host name, another container: its (here: dead-looking) pid is not judged.
        let mut other = me();
        other.pid = u32::MAX - 1;
        other.pidns = "pid:[1]".into();
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        assert!(matches!(
            status(&path, DEFAULT_STALE_AFTER).unwrap(),
            LeaseState::Held(_)
        ));
        // Silent for 5 s: stale for an observer with 1 s only if the holder said 1 s.
        let old = SystemTime::now() - Duration::from_secs(5);
        let age = |p: &Path| {
            File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_times(FileTimes::new().set_modified(old))
                .unwrap()
        };
        other.stale_s = 120;
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        age(&path);
        let short = Duration::from_secs(1);
        assert!(matches!(status(&path, short).unwrap(), LeaseState::Held(_)));
        other.stale_s = 1;
        std::fs::write(&path, serde_json::to_string(&other).unwrap()).unwrap();
        age(&path);
        assert!(matches!(
            status(&path, short).unwrap(),
            LeaseState::Stale(..)
        ));
        assert!(remove_stale(&path, short));
        assert!(!path.exists());
    }

    #[test]
    fn a_silent_remote_holder_is_stale_after_its_heartbeat_stops_and_the_loser_knows() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("t.lock");
        let mut remote = me();
        remote.host = "another-node".into();
        remote.stale_s = 1;
        std::fs::write(&path, serde_json::to_string(&remote).unwrap()).unwrap();
        let short = Duration::from_secs(1);
        assert!(matches!(acquire(&path, short).unwrap(), Acquired::Taken));
        let old = SystemTime::now() - Duration::from_secs(5);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_times(FileTimes::new().set_modified(old))
            .unwrap();
        let Acquired::Ours(lease, Some(why)) = acquire(&path, short).unwrap() else {
            panic!("stale")
        };
        assert!(why.contains("no heartbeat"), "{why}");
        // Our heartbeat keeps the lease fresh well past its stale age.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(matches!(
            status(&path, short).unwrap(),
            LeaseState::Held(Some(_))
        ));
        // Someone replaces it (we were thought dead): the holder learns it lost.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, serde_json::to_string(&remote).unwrap()).unwrap();
        assert!(lease.lost());
        drop(lease);
        assert!(path.exists(), "a lost lease's file is not ours to remove");
    }
}
