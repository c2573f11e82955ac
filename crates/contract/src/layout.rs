//! Every name of the run store: its folders, the files of a trial folder and the side files
//! of an experiment's folder, each with its writer, its readers and what a bad copy gets.
//! The one place the trainer's writer, the store, reporting, the cost model, the dashboard
//! and the Slurm executor take them from (docs/store.md's side-file table says the same).
//!
//! ```text
//! runs/
//!   trials/                  TRIALS: the store, one folder per trial id, shared by experiments
//!     <id>/                  a done trial (published atomically when complete)
//!     .work/<id>/            WORK: a trial being run, or left by a killed run (resumable)
//!     .work/<id>.lock        its claim (see `claim::Holder`)
//!     .quarantine/           QUARANTINE: folders set aside, each with QUARANTINE_NOTE
//!   <experiment>/            SEEDING, ESTIMATE, LATENCY, SLURM/, STOP (side files)
//! ```

use std::path::{Path, PathBuf};

/// The store's trials folder under the runs folder; a name no experiment may take.
pub const TRIALS: &str = "trials";
/// Work folders of trials not yet done, under [`TRIALS`].
pub const WORK: &str = ".work";
/// Folders the store set aside, under [`TRIALS`].
pub const QUARANTINE: &str = ".quarantine";
/// The note beside a quarantined folder's contents saying why it was moved.
pub const QUARANTINE_NOTE: &str = "QUARANTINE.txt";
/// The lease file of a work folder is `<id>` + this suffix, beside the folder.
pub const LEASE_SUFFIX: &str = ".lock";

/// The trial's record, written last: its presence marks the trial as done.
pub const SUMMARY: &str = "summary.json";
/// Who runs the trial: [`crate::claim::TrialStart`], written first.
pub const TRIAL_START: &str = "trial.json";
/// The resolved configuration (RON).
pub const CONFIG: &str = "config.ron";
/// Every trainer [`crate::Event`], one JSON object a line, flushed as it happens.
pub const EVENTS: &str = "events.jsonl";
/// What the terminal showed, in plain lines.
pub const LOG: &str = "train.log";
/// One [`crate::EpochMetrics`] a line, written once the epoch's checkpoint is durable.
pub const METRICS: &str = "metrics.jsonl";
/// The checkpoints folder.
pub const CHECKPOINTS: &str = "ckpt";
/// Loss curves of a trial.
pub const LOSS_PLOT: &str = "losses.png";
/// Accuracy curve of a trial.
pub const ACCURACY_PLOT: &str = "accuracies.png";

/// An experiment's request to stop, in its folder: written by the dashboard's stop key
/// (`Store::request_stop`), read by the running `replicate`, removed when it has stopped.
pub const STOP: &str = "STOP";
/// An experiment's Stein decision (`replicate --halfwidth`), in its folder: written once by
/// `reporting::seeding` when the pilot decides; read by every `replicate` and `report` of
/// the experiment. A bad copy is refused by every reader, dry runs included (delete it and
/// decide anew from the pilot).
pub const SEEDING: &str = "seeding.json";
/// The last run's cost estimate and wall time, in the experiment's folder: written by
/// `spec::cost::keep` before trials run and again with the actual time; read by the report,
/// the dashboard and `export records`. A bad copy is set aside with a warning; the next
/// `replicate` writes it again.
pub const ESTIMATE: &str = "estimate.json";
/// The quiet latency phase's measurements, in the experiment's folder: written by
/// `reporting::latency_file` after the trials; read by every report (one figure per
/// network from every experiment's file). A bad copy is set aside with a warning; the
/// next `replicate` measures again.
pub const LATENCY: &str = "latency.json";
/// The experiment's Slurm submissions, a folder in its folder (`<job>.json`, `<job>.sh`,
/// the tasks' logs): written by `cluster::slurm` at submission and by each task's attempt;
/// read by `status`, `cancel`, the dashboard and the next submission.
pub const SLURM: &str = ".slurm";

/// The folders of one store, from its runs folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the store at `root` (e.g. `runs/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The runs folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `runs/trials`.
    pub fn trials_dir(&self) -> PathBuf {
        self.root.join(TRIALS)
    }

    /// `runs/trials/.work`.
    pub fn work_root(&self) -> PathBuf {
        self.trials_dir().join(WORK)
    }

    /// `runs/trials/.quarantine`.
    pub fn quarantine_dir(&self) -> PathBuf {
        self.trials_dir().join(QUARANTINE)
    }

    /// `runs/trials/<id>`: a done trial.
    pub fn trial_dir(&self, id: &str) -> PathBuf {
        self.trials_dir().join(id)
    }

    /// `runs/trials/.work/<id>`: a trial being run or left over.
    pub fn work_dir(&self, id: &str) -> PathBuf {
        self.work_root().join(id)
    }

    /// `runs/trials/.work/<id>.lock`.
    pub fn lease_path(&self, id: &str) -> PathBuf {
        self.work_root().join(format!("{id}{LEASE_SUFFIX}"))
    }

    /// `runs/<experiment>`.
    pub fn experiment_dir(&self, experiment: &str) -> PathBuf {
        self.root.join(experiment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_documented_tree() {
        let l = Layout::new("runs");
        assert_eq!(l.trial_dir("ab"), Path::new("runs/trials/ab"));
        assert_eq!(l.work_dir("ab"), Path::new("runs/trials/.work/ab"));
        assert_eq!(l.lease_path("ab"), Path::new("runs/trials/.work/ab.lock"));
        assert_eq!(l.quarantine_dir(), Path::new("runs/trials/.quarantine"));
        assert_eq!(l.experiment_dir("e"), Path::new("runs/e"));
    }
}
