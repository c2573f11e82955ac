//! The worker process's side: [`run`] runs the one trial a parent planned (refusing it if
//! the configuration changed since), holding the store's claim, and publishes it;
//! [`SlurmTask`] wraps it for a Slurm array task, which records each attempt and
//! requeues itself when Slurm's warning signal stopped it.
//!
//! The caller (`harness worker`) parses the flags, loads the experiment and the dataset,
//! installs the signal handlers that raise `stop`, and prints what it hears: the trial's
//! events (JSON lines for the parent) and the notes.

use crate::trial_run::{self, RunError, run_trial};
use cluster::slurm::{self, Attempt, AttemptEnd};
use contract::Event;
use data::FashionMnist;
use spec::Experiment;
use spec::plan::TrialSpec;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::Store;
use store::{Claim, StopRequest, StoreError};
use tch::Device;
use trainer::Stop;

/// One trial for a worker, as its parent planned it, with what it runs on.
pub struct WorkerJob<'a> {
    /// The experiment file (for messages).
    pub config: &'a Path,
    /// Its experiment, loaded with the parent's overrides.
    pub experiment: &'a Experiment,
    /// The experiment's name when the parent planned (a rename is refused).
    pub expect_experiment: &'a str,
    /// The variant's name.
    pub variant: &'a str,
    /// The seed.
    pub seed: u64,
    /// The id the parent computed (a different id is refused).
    pub expect_id: &'a str,
    /// The run store.
    pub store: &'a Store,
    /// The verified dataset.
    pub dataset: &'a FashionMnist,
    /// Where the trial runs.
    pub device: Device,
    /// Raised by the caller's signal handlers; also by a stop request or a lost claim.
    pub stop: Arc<Stop>,
    /// Turns true when Slurm's warning signal (SIGUSR1) stopped the trial.
    pub warned: Arc<AtomicBool>,
}

/// How a worker's trial ended (errors aside).
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerEnd {
    /// Published (finished or diverged).
    Recorded,
    /// Stopped on request; `warned` when by SIGUSR1 (Slurm's warning).
    Stopped {
        /// By Slurm's warning signal.
        warned: bool,
        /// The trial's short id.
        trial: String,
    },
    /// Done or held by another process: nothing to do.
    Skipped,
}

/// Sends one of the trial's events to the parent: a JSON line, flushed at once (the local
/// executor reads them back line by line; a line it cannot read is skipped). A parent that
/// is gone is noticed by the signal handlers, not here.
pub fn send_event(out: &mut impl Write, event: &Event) {
    let line = serde_json::to_string(event).expect("events serialise");
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

impl WorkerEnd {
    /// The worker process's exit code, which the executor reads back: 0 recorded, 4
    /// stopped (the trial resumes later), 5 skipped.
    pub fn exit_code(&self) -> u8 {
        match self {
            WorkerEnd::Recorded => contract::exit::SUCCESS,
            WorkerEnd::Stopped { .. } => contract::exit::STOPPED,
            WorkerEnd::Skipped => contract::exit::SKIPPED,
        }
    }
}

/// Why a worker did not run its trial to the end.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The plan no longer matches the files, or the trial failed too often.
    #[error("{0}")]
    Refused(String),
    /// Another process took the claim over while this one ran.
    #[error(
        "{0}: the claim was taken over by another process (this one was thought dead); stopped"
    )]
    ClaimTaken(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The trial failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

/// Runs the job's trial: checks it against the plan, claims it, runs it (every event to
/// `on_event`), and publishes it. `note` hears what the user should know.
pub fn run(
    job: &WorkerJob,
    on_claimed: &mut dyn FnMut(),
    on_event: &mut dyn FnMut(&Event),
    note: &mut dyn FnMut(String),
) -> Result<WorkerEnd, WorkerError> {
    let spec = checked_spec(job)?;
    let store = job.store;
    let Some(claim) = store.claim(&spec.id)? else {
        note(format!(
            "{}: done or claimed by another process; nothing to do",
            spec.short_id()
        ));
        return Ok(WorkerEnd::Skipped);
    };
    on_claimed();
    for warning in claim.warnings() {
        note(format!("warning: {warning}"));
    }
    watch_stop_requests(
        store.clone(),
        job.experiment.name.clone(),
        job.stop.clone(),
        claim.lost_flag(),
    );
    let outcome = run_trial(
        &spec,
        job.dataset,
        job.device,
        claim.work_dir(),
        &job.stop,
        on_event,
    )?;
    match outcome {
        trial_run::TrialEnd::Recorded(_) => publish(job, &spec, claim, note),
        trial_run::TrialEnd::Stopped => release(job, &spec, claim, note),
    }
}

/// The job's trial, refused unless the experiment's name, the variant and the trial id
/// are still those of the plan; also refused when the store is not writable.
fn checked_spec(job: &WorkerJob) -> Result<TrialSpec, WorkerError> {
    let (config, experiment) = (job.config.display(), job.experiment);
    if experiment.name != job.expect_experiment {
        return Err(WorkerError::Refused(format!(
            "{config}: the experiment is now named `{}`, not `{}` as when the plan was made; refusing to run (rerun replicate)",
            experiment.name, job.expect_experiment
        )));
    }
    let variant = experiment.variant(job.variant).ok_or_else(|| {
        WorkerError::Refused(format!(
            "{config}: no variant `{}` any more; refusing to run (rerun replicate)",
            job.variant
        ))
    })?;
    job.store.ensure_writable()?;
    let spec = TrialSpec::new(experiment, variant, job.seed, &job.dataset.digest);
    if spec.id != job.expect_id {
        return Err(WorkerError::Refused(format!(
            "{config}: the configuration changed since the plan was made (id {} != {}); refusing to run (rerun replicate)",
            spec.short_id(),
            store::id::short(job.expect_id)
        )));
    }
    Ok(spec)
}

/// What `note` hears when another process took the trial over and recorded it.
fn taken_over(spec: &TrialSpec) -> String {
    format!(
        "{}: taken over by another process, which recorded it; nothing to do",
        spec.short_id()
    )
}

/// Publishes the recorded trial; one that the claim's taker recorded meanwhile is done,
/// not failed.
fn publish(
    job: &WorkerJob,
    spec: &TrialSpec,
    claim: Claim,
    note: &mut dyn FnMut(String),
) -> Result<WorkerEnd, WorkerError> {
    match claim.publish() {
        Ok(_) => Ok(WorkerEnd::Recorded),
        // Taken over and recorded by the taker meanwhile: the trial is done, not failed.
        Err(StoreError::ClaimLost { .. }) if job.store.is_done(&spec.id) => {
            note(taken_over(spec));
            Ok(WorkerEnd::Skipped)
        }
        Err(e) => Err(e.into()),
    }
}

/// Releases the claim of the trial stopped on request (it resumes later), unless the
/// claim was lost: then the trial is done by the taker, or this worker was thought dead.
fn release(
    job: &WorkerJob,
    spec: &TrialSpec,
    claim: Claim,
    note: &mut dyn FnMut(String),
) -> Result<WorkerEnd, WorkerError> {
    let lost = claim.lost();
    claim.release();
    if lost && job.store.is_done(&spec.id) {
        note(taken_over(spec));
        return Ok(WorkerEnd::Skipped);
    }
    if lost {
        return Err(WorkerError::ClaimTaken(spec.short_id().to_string()));
    }
    Ok(WorkerEnd::Stopped {
        warned: job.warned.load(Ordering::Relaxed),
        trial: spec.short_id().to_string(),
    })
}

/// Polls the store's stop request for `experiment` twice a second and raises `stop`; a
/// lost claim (`lost`) stops the run at once.
fn watch_stop_requests(store: Store, experiment: String, stop: Arc<Stop>, lost: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        loop {
            if lost.load(Ordering::Relaxed) {
                stop.now.store(true, Ordering::Relaxed);
            }
            match store.stop_request(&experiment) {
                Some(StopRequest::Now) => stop.now.store(true, Ordering::Relaxed),
                Some(StopRequest::AfterEpoch) => stop.after_epoch.store(true, Ordering::Relaxed),
                None => {}
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
}

/// `<array job>_<task>` (or the plain job id) of this Slurm task.
fn slurm_job() -> String {
    match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(job), Ok(task)) => format!("{job}_{task}"),
        _ => std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "?".into()),
    }
}

/// An error with its causes, joined by `: `.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The trial of a Slurm array task and its attempts in the store
/// (`<experiment>/.slurm/attempts/<id>.jsonl`): a trial whose attempts failed `max_tries`
/// times is refused ([`SlurmTask::check_tries`]); each attempt is recorded, its start once
/// the claim is ours (a task that only finds the trial done or held is no attempt), its
/// end before any requeue, which kills the process; a task stopped by Slurm's warning
/// signal requeues itself ([`SlurmTask::run`]).
pub struct SlurmTask {
    experiment_dir: std::path::PathBuf,
    id: String,
    job: String,
}

impl SlurmTask {
    /// The task of trial `id` of `experiment` in `store`, in this process's Slurm job.
    pub fn new(store: &Store, experiment: &str, id: &str) -> SlurmTask {
        SlurmTask {
            experiment_dir: store.experiment_dir(experiment),
            id: id.to_owned(),
            job: slurm_job(),
        }
    }

    /// Refuses a trial whose attempts already failed `max_tries` times.
    pub fn check_tries(&self, max_tries: usize) -> Result<(), WorkerError> {
        let attempts = slurm::attempts(&self.experiment_dir, &self.id);
        if attempts.failures() >= max_tries {
            return Err(WorkerError::Refused(format!(
                "trial {} failed {} times (last: {}); not trying again (harness replicate --slurm --retry-failed to try again)",
                store::id::short(&self.id),
                attempts.failures(),
                attempts.last_failure().unwrap_or("crashed")
            )));
        }
        Ok(())
    }

    /// Records an attempt's start (`None`) or end; a failure to record is returned as a
    /// warning's text.
    pub fn record(&self, end: Option<AttemptEnd>) -> Option<String> {
        let attempt = Attempt {
            job: self.job.clone(),
            at: store::provenance::unix_seconds(),
            end,
        };
        slurm::record_attempt(&self.experiment_dir, &self.id, &attempt)
            .err()
            .map(|e| format!("warning: {e}"))
    }

    /// [`run`], with the attempt recorded and the requeue after Slurm's warning.
    pub fn run(
        &self,
        job: &WorkerJob,
        on_event: &mut dyn FnMut(&Event),
        note: &mut dyn FnMut(String),
    ) -> Result<WorkerEnd, WorkerError> {
        let mut start_failed = None;
        let result = run(
            job,
            &mut || start_failed = self.record(None),
            on_event,
            note,
        );
        if let Some(warning) = start_failed {
            note(warning);
        }
        let end = match &result {
            Ok(WorkerEnd::Recorded) => Some(AttemptEnd::Recorded),
            Ok(WorkerEnd::Skipped) => None,
            Ok(WorkerEnd::Stopped { .. }) => Some(AttemptEnd::Stopped),
            Err(e) => Some(AttemptEnd::Failed(error_chain(e))),
        };
        if let Some(warning) = end.and_then(|end| self.record(Some(end))) {
            note(warning);
        }
        if let Ok(WorkerEnd::Stopped {
            warned: true,
            trial,
        }) = &result
        {
            match slurm::requeue_self() {
                Ok(Some(job)) => note(format!(
                    "{trial}: stopped by Slurm's warning signal; requeued job {job}, which resumes from the last checkpoint"
                )),
                Ok(None) => {}
                Err(e) => note(format!(
                    "warning: {trial}: could not requeue ({e}); `harness replicate --slurm` submits it again"
                )),
            }
        }
        result
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn an_event_is_one_json_line_the_executor_reads_back() {
        let event = Event::EpochStarted {
            epoch: 3,
            lr: 0.005,
        };
        let mut out = Vec::new();
        send_event(&mut out, &event);
        send_event(&mut out, &event);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(serde_json::from_str::<Event>(lines[0]).unwrap(), event);
    }
}
