//! Who holds a trial and what it is: the two files beside and inside a work folder that
//! the store writes and the dashboard, `harness status` and the Slurm executor read.
//!
//! - The lease file `runs/trials/.work/<id>.lock` holds one line of JSON, a [`Holder`]:
//!   which process on which host claimed the trial (its mtime is the heartbeat; the rules
//!   live with the store's lease code).
//! - [`TrialStart`], `trial.json` in the work folder (and kept in the done trial's folder):
//!   which experiment, variant and seed the claimer runs, written before training starts.

use serde::{Deserialize, Serialize};

/// Who holds a lease (the lease file's content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id` of the host.
    pub boot: String,
    /// Process id.
    pub pid: u32,
    /// The process's start time (clock ticks since boot, `/proc/<pid>/stat`), so that a
    /// reused pid is not taken for the holder.
    pub start: u64,
    /// Random, unique per lease.
    pub nonce: String,
    /// Unix seconds when the lease was taken.
    pub since: u64,
    /// `SLURM_JOB_ID` (with `_<task>` for an array task) of the holder, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The holder's pid namespace (`/proc/self/ns/pid`): its pid is judged only from the
    /// same namespace (containers may share a host name but not their pids).
    #[serde(default)]
    pub pidns: String,
    /// The holder's stale age in seconds: an observer waits at least this long.
    #[serde(default)]
    pub stale_s: u64,
}

/// What a work folder is being used for, written by the process that claimed it before
/// anything else in the folder (`trial.json`, [`crate::layout::TRIAL_START`]).
///
/// A shared trial belongs to every experiment that plans its settings; `experiment` and
/// `variant` name the one whose run started it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialStart {
    /// The trial id (64 hex digits).
    pub id: String,
    /// The experiment whose plan started it.
    pub experiment: String,
    /// Its variant's name in that experiment.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// SHA-256 identity of the dataset files.
    pub dataset_digest: String,
    /// Unix seconds when this attempt started.
    pub started: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_lease_without_the_newer_fields_still_reads() {
        let line = r#"{"host":"h","boot":"b","pid":7,"start":1,"nonce":"n","since":2}"#;
        let h: Holder = serde_json::from_str(line).unwrap();
        assert_eq!((h.pid, h.job.as_deref(), h.stale_s), (7, None, 0));
        assert!(!serde_json::to_string(&h).unwrap().contains("job"));
    }
}
