//! The replicate workflow as a library call: [`run`] plans the union of one or several
//! experiments (variants × seeds, each shared trial once), estimates its cost
//! (`--jobs auto` picks the split), leaves out what `--max-trial-time` says is too slow,
//! runs the pending trials on the local executor ([`crate::executor`], one `harness worker`
//! per trial, built by `cluster::worker::WorkerInvocation`), times each network once when
//! nothing else runs ([`quiet_latency_phase`]), and writes every experiment's report. With
//! a half-width, the seeds are Stein's pilot and only the extra seeds the decision asks
//! for run ([`Request::halfwidth`]).
//!
//! The caller (the CLI, parity) builds a [`Request`], whose flags [`check_flags`] validates
//! before anything is loaded, and hears what happens through a [`Reporter`]. The
//! [`Outcome`] says whether every planned trial is recorded, which decides the exit code.
//!
//! Two executors run a request ([`Executor`]): this machine (`execute`, one plan from start
//! to end, with `split` for jobs × threads and the estimate, `stein` for the pilot and the
//! decision, `latency` for the quiet latency phase), or a Slurm job array (`slurm`, which
//! submits and returns). Both take the same [`Request`], checked by the same
//! [`check_flags`], and build their workers' command line by the same [`Request::worker`].

mod execute;
mod latency;
mod slurm;
mod split;
mod stein;

pub use latency::quiet_latency_phase;
pub use slurm::SlurmOptions;

use crate::executor::{Control, Report};
use cluster::worker::{WorkerInvocation, WorkerTrial};
use data::FashionMnist;
use execute::execute;
use reporting::seeding;
use spec::Experiment;
use spec::Override;
use spec::cost::Calibrating;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stein::sequential;
use store::Store;
use tch::Device;

/// An experiment loaded from its file (with the command line's overrides and seeds), and that file.
#[derive(Clone, Debug)]
pub struct LoadedExperiment {
    /// The experiment file.
    pub path: PathBuf,
    /// The experiment, with the command line's overrides and seeds.
    pub experiment: Experiment,
}

/// `--jobs`: a number, or the fastest split of the cores by the calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jobs {
    /// This many jobs.
    Count(usize),
    /// The split of the cores into jobs × threads estimated fastest.
    Auto,
}

impl std::str::FromStr for Jobs {
    type Err = String;

    /// `auto`, or a number of jobs of at least 1.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Jobs::Auto),
            _ => match s.parse::<usize>() {
                Ok(0) => Err("must be at least 1".into()),
                Ok(n) => Ok(Jobs::Count(n)),
                Err(_) => Err(format!("`{s}`: expected a number of jobs or `auto`")),
            },
        }
    }
}

/// The warning of a run whose data files are not checked (`--no-verify`).
pub const NO_VERIFY: &str =
    "--no-verify: the SHA-256 of the data files is NOT checked; results may come from altered data";

/// Where the dataset comes from and whether it is checked: `--data-dir` and `--no-verify`
/// (the folder they lead to is `data::DataSource`).
#[derive(Clone, Debug, Default)]
pub struct DataOptions {
    /// `--data-dir`, else the usual places ([`data::locate`]).
    pub dir: Option<PathBuf>,
    /// Whether the files' SHA-256 digests are checked (not with `--no-verify`).
    pub verify: bool,
}

impl DataOptions {
    /// The dataset in `dir` (else the usual places), its digests checked.
    pub fn verified(dir: Option<PathBuf>) -> DataOptions {
        DataOptions { dir, verify: true }
    }

    /// Finds and loads the dataset.
    pub fn load(&self) -> Result<FashionMnist, ReplicateError> {
        let source = data::locate(self.dir.as_deref(), None).map_err(ReplicateError::Locate)?;
        FashionMnist::load(&source.dir, self.verify).map_err(|e| ReplicateError::Data {
            dir: source.dir.clone(),
            source: e,
        })
    }
}

/// Where the trials of a request run.
#[derive(Clone, Debug)]
pub enum Executor {
    /// On this machine, on `device` (resolved by the caller): `--jobs` `harness worker`
    /// processes at a time, each its trial.
    Local {
        /// The device the trials run on.
        device: Device,
    },
    /// As one Slurm job array (`--slurm`), `--jobs` tasks at a time; [`run`] returns once
    /// it is submitted.
    Slurm(SlurmOptions),
}

/// What a run of the plan is asked to do.
pub struct Request {
    /// Where the trials run.
    pub executor: Executor,
    /// The experiments, planned together.
    pub experiments: Vec<LoadedExperiment>,
    /// The `--set` overrides they were loaded with (Stein's second stage reloads them).
    pub overrides: Vec<Override>,
    /// The `--set` texts, handed to every worker as given.
    pub sets: Vec<String>,
    /// The run store (opened and migrated by the caller).
    pub store: Store,
    /// `--device` as given, handed to every worker (a Slurm task resolves it on its node).
    pub device_arg: String,
    /// `--jobs`.
    pub jobs: Jobs,
    /// `--threads` per job (`None`: the cores shared among the jobs).
    pub threads: Option<i32>,
    /// `--max-trial-time`.
    pub max_trial_time: Option<Duration>,
    /// `--halfwidth W`: the experiment's seeds are a pilot, Stein's rule decides the rest.
    pub halfwidth: Option<f64>,
    /// `--alpha` of Stein's rule.
    pub alpha: f64,
    /// `--dry-run`: plan, estimate and say; write nothing to the store.
    pub dry_run: bool,
    /// The dataset.
    pub data: DataOptions,
    /// Where reports go.
    pub reports: PathBuf,
    /// The README whose sections are updated.
    pub readme: PathBuf,
    /// The harness binary the workers run.
    pub program: PathBuf,
}

impl Request {
    /// The command line of a worker of this request (both executors): `trial` (`None` for
    /// a Slurm array, whose script appends each task's), `threads` per worker, and Slurm's
    /// `max_tries`. The store and data paths are made absolute, so a worker does not depend
    /// on the folder it starts in.
    pub fn worker(
        &self,
        trial: Option<WorkerTrial>,
        threads: Option<i32>,
        max_tries: Option<usize>,
    ) -> Result<WorkerInvocation, ReplicateError> {
        Ok(WorkerInvocation {
            program: self.program.clone(),
            runs: absolute(self.store.root())?,
            trial,
            max_tries,
            device: self.device_arg.clone(),
            threads,
            sets: self.sets.clone(),
            data_dir: self.data.dir.as_deref().map(absolute).transpose()?,
            no_verify: !self.data.verify,
        })
    }
}

/// `path` made absolute against the current folder (nothing on disk is read).
fn absolute(path: &Path) -> Result<PathBuf, ReplicateError> {
    std::path::absolute(path).map_err(|source| ReplicateError::Path {
        path: path.to_path_buf(),
        source,
    })
}

/// A request on this machine's executor, with the device its trials run on (the steps of
/// `execute`, `split` and `stein` read the request's fields through it).
struct Local<'a> {
    request: &'a Request,
    device: Device,
}

impl std::ops::Deref for Local<'_> {
    type Target = Request;

    fn deref(&self) -> &Request {
        self.request
    }
}

/// How a run of the plan ended (errors aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A dry run: nothing was run or written.
    DryRun,
    /// Every planned trial is recorded.
    Complete,
    /// Some planned trials are not recorded: `failed` trials failed, or a stop request
    /// (`stop_requested`) ended the run early.
    Incomplete {
        /// Trials that failed.
        failed: usize,
        /// Planned trials not recorded.
        missing: usize,
        /// Whether a stop was asked for (the dashboard's stop key, a first Ctrl-C).
        stop_requested: bool,
    },
    /// Handed to Slurm as job array `job` (`None`: nothing was left to submit); `harness
    /// status` follows it.
    Submitted {
        /// The job id.
        job: Option<String>,
    },
    /// Stopped by a signal; rerun to resume.
    Signalled {
        /// The signal's name.
        signal: String,
        /// Planned trials not recorded.
        missing: usize,
    },
}

impl Outcome {
    /// Whether the run did what was asked: every planned trial recorded, nothing to run (a
    /// dry run), or the array handed to Slurm.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::DryRun | Outcome::Complete | Outcome::Submitted { .. }
        )
    }

    /// The process's exit code: 0 when every planned trial is recorded (or a dry run, or an array handed to Slurm), 4 when a signal or
    /// a stop request ended the run early (rerun to resume), 1 when trials failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::DryRun | Outcome::Complete | Outcome::Submitted { .. } => {
                contract::exit::SUCCESS
            }
            Outcome::Signalled { .. }
            | Outcome::Incomplete {
                stop_requested: true,
                ..
            } => contract::exit::STOPPED,
            Outcome::Incomplete { .. } => contract::exit::FAILURE,
        }
    }
}

/// Errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    /// The request's flags contradict each other or are out of range (said before anything
    /// is loaded).
    #[error("{0}")]
    Request(String),
    /// The run cannot go on as asked (a seeding decision for other values, a pilot that
    /// did not finish); the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The seeding decision is unreadable or Stein's rule refused the pilot.
    #[error(transparent)]
    Seeding(#[from] seeding::SeedingError),
    /// An experiment file failed to load again (Stein's second stage).
    #[error(transparent)]
    Config(#[from] spec::ConfigError),
    /// The local executor failed.
    #[error(transparent)]
    Schedule(#[from] crate::executor::ScheduleError),
    /// Writing a report failed.
    #[error(transparent)]
    Publish(#[from] reporting::publish::PublishError),
    /// The Fashion-MNIST files are nowhere to be found.
    #[error("cannot find the Fashion-MNIST files")]
    Locate(#[source] data::DataError),
    /// The Fashion-MNIST files failed to load or verify.
    #[error("loading Fashion-MNIST from {}", dir.display())]
    Data {
        /// Where they were.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: data::DataError,
    },
    /// The Slurm submission failed (settings the configs disagree on, sbatch, the queue).
    #[error(transparent)]
    Slurm(#[from] cluster::slurm::SlurmError),
    /// A path could not be made absolute (the current folder is gone).
    #[error("{}: cannot resolve", path.display())]
    Path {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The reporter could not take over the stop control (signal handlers).
    #[error("installing signal handlers")]
    Signals(#[source] std::io::Error),
}

/// What the caller hears while a plan runs.
pub trait Reporter {
    /// A line of the run's account (the plan, estimates, each trial's start and end, the
    /// summary, what was written).
    fn line(&mut self, text: &str);
    /// A warning about input that was set aside or left out (standard error in the CLI).
    fn warning(&mut self, text: &str);
    /// A workload is about to be calibrated.
    fn calibrating(&mut self, c: &Calibrating<'_>);
    /// What the executor reports while trials run.
    fn schedule(&mut self, report: Report<'_>);
    /// Trials are about to run; `control` stops them (the CLI forwards signals to it).
    fn running(&mut self, control: Control) -> std::io::Result<()>;
    /// The trials have stopped running.
    fn ran(&mut self);
}

/// Checks the request's flags against each other before anything is loaded or submitted,
/// for both executors (`slurm`: the Slurm executor's own flags too).
pub fn check_flags(
    slurm: bool,
    experiments: usize,
    jobs: Jobs,
    threads: Option<i32>,
    halfwidth: Option<f64>,
) -> Result<(), ReplicateError> {
    if let Some(t) = threads
        && t < 1
    {
        return Err(ReplicateError::Request(format!(
            "--threads {t}: must be at least 1"
        )));
    }
    if jobs == Jobs::Auto && threads.is_some() {
        return Err(ReplicateError::Request(
            "--jobs auto chooses the threads per job too; drop --threads".into(),
        ));
    }
    if jobs == Jobs::Count(0) {
        return Err(ReplicateError::Request(
            "--jobs 0: must be at least 1".into(),
        ));
    }
    if experiments > 1 && halfwidth.is_some() {
        return Err(ReplicateError::Request(
            "--halfwidth takes one experiment file at a time".into(),
        ));
    }
    if slurm {
        slurm::check_flags(jobs, halfwidth)?;
    }
    Ok(())
}

/// Runs the plan `request` describes.
pub fn run(request: &Request, reporter: &mut dyn Reporter) -> Result<Outcome, ReplicateError> {
    check_flags(
        matches!(request.executor, Executor::Slurm(_)),
        request.experiments.len(),
        request.jobs,
        request.threads,
        request.halfwidth,
    )?;
    spec::config::check_distinct_names(request.experiments.iter().map(|p| &p.experiment))
        .map_err(ReplicateError::Request)?;
    match (&request.executor, request.halfwidth) {
        (Executor::Slurm(options), _) => slurm::submit(request, options, reporter),
        (Executor::Local { device }, halfwidth) => {
            let local = Local {
                request,
                device: *device,
            };
            match halfwidth {
                Some(w) => sequential(&local, &request.experiments[0], w, reporter),
                None => execute(&local, &request.experiments, &|_| true, reporter),
            }
        }
    }
}

/// Sets libtorch's intra-op threads (default: all cores / `jobs`); returns the count.
pub fn set_threads(threads: Option<i32>, jobs: usize) -> Result<i32, ReplicateError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match threads {
        Some(t) if t >= 1 => t,
        Some(t) => {
            return Err(ReplicateError::Request(format!(
                "--threads {t}: must be at least 1"
            )));
        }
        None => (cores / jobs.max(1)).max(1) as i32,
    };
    tch::set_num_threads(threads);
    Ok(threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_parse_a_count_or_auto() {
        assert_eq!("auto".parse::<Jobs>(), Ok(Jobs::Auto));
        assert_eq!("3".parse::<Jobs>(), Ok(Jobs::Count(3)));
        assert_eq!("0".parse::<Jobs>(), Err("must be at least 1".into()));
        assert!("two".parse::<Jobs>().unwrap_err().contains("`two`"));
    }

    #[test]
    fn exit_codes_say_done_stopped_or_failed() {
        assert_eq!(Outcome::Complete.exit_code(), contract::exit::SUCCESS);
        assert_eq!(Outcome::DryRun.exit_code(), contract::exit::SUCCESS);
        let signalled = Outcome::Signalled {
            signal: "SIGTERM".into(),
            missing: 2,
        };
        assert_eq!(signalled.exit_code(), contract::exit::STOPPED);
        let incomplete = |stop_requested| Outcome::Incomplete {
            failed: 0,
            missing: 1,
            stop_requested,
        };
        assert_eq!(incomplete(true).exit_code(), contract::exit::STOPPED);
        assert_eq!(incomplete(false).exit_code(), contract::exit::FAILURE);
    }
}
