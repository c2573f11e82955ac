//! The second executor of [`super::run`]: the union of the request's experiments submitted
//! to Slurm as one job array (`cluster::slurm`), each task a `harness worker --slurm` that
//! runs one trial into the same store. A trial that is done, queued or running in a live
//! task, held by a live claim, or failed `--max-tries` times is not submitted; a trial
//! shared by several files is one task. Returns at once: `harness status`, `harness tui`
//! and a later `replicate` (which writes the reports) follow the array.

use super::{Jobs, NO_VERIFY, Outcome, ReplicateError, Reporter, Request};
use cluster::slurm::{self, SubmitRequest};
use spec::Experiment;
use std::path::PathBuf;

/// The Slurm flags of a submission (`None` or empty: the configs' `slurm` block decides,
/// else the defaults of `cluster::slurm`).
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// `--max-tries`: failed attempts after which a trial is not submitted again.
    pub max_tries: Option<usize>,
    /// `--signal`: Slurm's warning signal before the time limit.
    pub signal: Option<String>,
    /// `--sbatch` options, after the configs'.
    pub sbatch: Vec<String>,
    /// `--retry-failed`: submit trials that failed `max_tries` times too.
    pub retry_failed: bool,
}

/// Checks the flags that only a Slurm submission has, before anything is loaded: the array
/// throttle is a number, and Stein's rule needs the pilot's results before it decides.
pub(super) fn check_flags(jobs: Jobs, halfwidth: Option<f64>) -> Result<(), ReplicateError> {
    if jobs == Jobs::Auto {
        return Err(ReplicateError::Request(
            "--jobs auto splits this machine's cores; with --slurm give the array throttle as a number".into(),
        ));
    }
    if halfwidth.is_some() {
        return Err(ReplicateError::Request(
            "--halfwidth with --slurm: run the pilot first, then decide (not supported in one submission)".into(),
        ));
    }
    Ok(())
}

/// Submits the request's pending trials as one job array (or, with `--dry-run`, says what
/// it would submit and prints the batch script).
pub(super) fn submit(
    request: &Request,
    options: &SlurmOptions,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let Jobs::Count(throttle) = request.jobs else {
        unreachable!("check_flags refuses --jobs auto with --slurm");
    };
    // The files as the user gave them name a disagreement; the workers get absolute paths.
    let given: Vec<(PathBuf, Experiment)> = request
        .experiments
        .iter()
        .map(|p| (p.path.clone(), p.experiment.clone()))
        .collect();
    let flags = slurm::Flags {
        max_tries: options.max_tries,
        signal: options.signal.clone(),
        sbatch: options.sbatch.clone(),
    };
    let settings = slurm::resolve(&given, &flags)?;
    let files: Vec<(PathBuf, Experiment)> = given
        .into_iter()
        .map(|(path, e)| Ok((super::absolute(&path)?, e)))
        .collect::<Result<_, ReplicateError>>()?;
    let store = &request.store;
    if !request.dry_run {
        store.ensure_writable()?;
    }
    if !request.data.verify {
        reporter.warning(NO_VERIFY);
    }
    let digest = request.data.load()?.digest;
    let worker = request.worker(None, request.threads, Some(settings.max_tries))?;
    let submission = SubmitRequest {
        experiments: &files,
        store,
        dataset_digest: &digest,
        max_tries: settings.max_tries,
        retry_failed: options.retry_failed,
        throttle,
        signal: &settings.signal,
        sbatch: &settings.sbatch,
        worker: &worker,
        dry_run: request.dry_run,
    };
    let prepared = slurm::prepare(&submission)?;
    let shown: Vec<PathBuf> = request.experiments.iter().map(|p| p.path.clone()).collect();
    for line in prepared.lines(&shown, settings.max_tries) {
        reporter.line(&line);
    }
    if request.dry_run {
        if !prepared.tasks.is_empty() {
            reporter.line(&format!(
                "sbatch script (not submitted):\n{}",
                prepared.script
            ));
        }
        return Ok(Outcome::DryRun);
    }
    if prepared.tasks.is_empty() {
        return Ok(Outcome::Submitted { job: None });
    }
    let done = slurm::submit(&submission, &prepared)?;
    for line in done.lines(&prepared, throttle, &shown) {
        reporter.line(&line);
    }
    Ok(Outcome::Submitted {
        job: Some(done.job),
    })
}
