//! The exit codes of the `harness` process, the one place they are defined (documented in
//! docs/store.md). Which outcome gives which is decided by `experiment::replicate::Outcome::
//! exit_code` and `experiment::worker_process::WorkerEnd::exit_code`; the binary only returns
//! them, and the Slurm executor (`cluster::slurm::task_failed`) reads a worker's code back.

/// Everything asked for was done.
pub const SUCCESS: u8 = 0;
/// An error (its message is printed), or trials failed.
pub const FAILURE: u8 = 1;
/// The command line was malformed (clap's own code, and a bad `--set`).
pub const USAGE: u8 = 2;
/// `train`: the trial diverged (non-finite loss); its folder is complete and recorded.
pub const DIVERGED: u8 = 3;
/// Stopped on request (a signal, the dashboard's stop key) before everything was done;
/// what finished is kept and a rerun continues.
pub const STOPPED: u8 = 4;
/// Worker only: the trial was already done, or another process holds it.
pub const SKIPPED: u8 = 5;
/// `reproduce`: the retrained trial's numbers differ from its record.
pub const DIFFERS: u8 = 6;
