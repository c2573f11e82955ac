//! `harness replicate --slurm`, `harness status` and `harness cancel`: the command-line
//! side of the Slurm executor in `cluster::slurm`.

use crate::cli::{CancelArgs, JobsArg, ReplicateArgs, RunOpts, StatusArgs};
use crate::common;
use anyhow::{Context, bail};
use cluster::slurm::{self, Queued, Standing, Submission, SubmitRequest};
use cluster::worker::WorkerInvocation;
use experiment::replicate::Planned;
use spec::Experiment;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use store::Store;
use store::TrialStatus;

/// Slurm's warning signal when neither the command line nor the config names one.
pub const DEFAULT_SIGNAL: &str = "B:USR1@120";
/// Failed attempts before a trial is marked failed, when nothing else says.
pub const DEFAULT_MAX_TRIES: usize = 3;

/// `--max-tries`, else the config's `slurm.max_tries`, else [`DEFAULT_MAX_TRIES`].
fn max_tries(arg: Option<usize>, config: Option<usize>) -> anyhow::Result<usize> {
    match arg.or(config) {
        Some(0) => bail!("--max-tries 0: must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(DEFAULT_MAX_TRIES),
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))
}

/// Live tasks of the experiment's submissions (empty if it has none).
fn live(exp_dir: &Path) -> anyhow::Result<(Vec<Submission>, Vec<Queued>)> {
    let subs = slurm::submissions(exp_dir)?;
    let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
    let queued = slurm::squeue(&jobs)?;
    Ok((subs, queued))
}

/// The experiments' shared Slurm setting (`pick`), or an error naming the two files that
/// disagree on it (`flag` overrides it on the command line).
fn agreed<T: PartialEq + Clone>(
    experiments: &[Planned],
    setting: &str,
    flag: &str,
    pick: impl Fn(&Experiment) -> T,
) -> anyhow::Result<T> {
    let first = &experiments[0];
    let value = pick(&first.experiment);
    if let Some(other) = experiments[1..]
        .iter()
        .find(|p| pick(&p.experiment) != value)
    {
        bail!(
            "{} and {} give different slurm.{setting}; one submission takes one (give {flag} on the command line, or submit them apart)",
            first.path.display(),
            other.path.display()
        );
    }
    Ok(value)
}

/// `replicate --slurm`: submits the trials of the experiments' union that are neither
/// done, nor queued or running in a live job, nor held by a live claim, nor marked failed,
/// as one job array (a trial shared by several files is one task).
pub fn submit(args: &ReplicateArgs, experiments: &[Planned]) -> anyhow::Result<ExitCode> {
    let config_tries = match args.max_tries {
        Some(_) => None,
        None => agreed(experiments, "max_tries", "--max-tries", |e| {
            e.slurm.max_tries
        })?,
    };
    let max_tries = max_tries(args.max_tries, config_tries)?;
    let JobsArg::Count(jobs) = args.jobs else {
        bail!(
            "--jobs auto splits this machine's cores; with --slurm give the array throttle as a number"
        );
    };
    let signal = match &args.signal {
        Some(s) => s.clone(),
        None => agreed(experiments, "signal", "--signal", |e| {
            e.slurm.signal.clone()
        })?
        .unwrap_or_else(|| DEFAULT_SIGNAL.to_string()),
    };
    let mut sbatch = agreed(experiments, "sbatch", "--sbatch", |e| {
        e.slurm.sbatch.clone()
    })?;
    sbatch.extend(
        args.sbatch
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_string)),
    );
    let store = common::store(&args.runs)?;
    if !args.dry_run {
        store.ensure_writable()?;
    }
    let digest = common::dataset(&args.run)?.digest;
    let files: Vec<(PathBuf, Experiment)> = experiments
        .iter()
        .map(|p| Ok((absolute(&p.path)?, p.experiment.clone())))
        .collect::<anyhow::Result<_>>()?;
    let worker = WorkerInvocation {
        program: std::env::current_exe().context("locating the harness binary")?,
        runs: absolute(&args.runs)?,
        trial: None,
        max_tries: Some(max_tries),
        device: args.run.device.to_string(),
        threads: args.run.threads,
        sets: args.run.sets.clone(),
        data_dir: args.run.data_dir.as_deref().map(absolute).transpose()?,
        no_verify: args.run.no_verify,
    };
    let request = SubmitRequest {
        experiments: &files,
        store: &store,
        dataset_digest: &digest,
        max_tries,
        retry_failed: args.retry_failed,
        throttle: jobs,
        signal: &signal,
        sbatch: &sbatch,
        worker: &worker,
        dry_run: args.dry_run,
    };
    let planned = slurm::prepare(&request)?;
    for (e, planned_path) in planned.experiments.iter().zip(&args.configs) {
        for (t, standing) in &e.trials {
            let what = format!(
                "  {} {} seed {}",
                t.spec.short_id(),
                t.spec.variant.name,
                t.spec.seed
            );
            match standing {
                Standing::InSlurm { job, index, state } => {
                    println!("{what}: {} in job {job}_{index}", state.to_lowercase())
                }
                Standing::Failed => println!(
                    "{what}: failed {max_tries} times, not submitted (--retry-failed to try again)"
                ),
                _ => {}
            }
        }
        println!(
            "{} ({}): {} trials: {} done, {} queued or running in Slurm, {} running elsewhere, {} failed, {} to submit",
            e.name,
            planned_path.display(),
            e.trials.len(),
            e.count(|s| *s == Standing::Done),
            e.count(|s| matches!(s, Standing::InSlurm { .. })),
            e.count(|s| *s == Standing::HeldElsewhere),
            e.count(|s| *s == Standing::Failed),
            e.count(|s| *s == Standing::ToSubmit),
        );
    }
    if planned.experiments.len() > 1 {
        println!(
            "{} experiment files: {} unique trial(s) to submit as one array",
            planned.experiments.len(),
            planned.tasks.len()
        );
    }
    if planned.tasks.is_empty() {
        println!("nothing to submit");
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        println!("sbatch script (not submitted):\n{}", planned.script);
        return Ok(ExitCode::SUCCESS);
    }
    let done = slurm::submit(&request, &planned)?;
    println!(
        "submitted job array {} ({} task(s), at most {jobs} at once); script {}",
        done.job,
        planned.tasks.len(),
        done.script.display()
    );
    println!(
        "each task logs to {}; follow with `harness status {}` or `harness tui`",
        done.logs.display(),
        args.configs
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}

/// `harness status`.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = common::store(&args.runs)?;
    let run = RunOpts {
        sets: args.sets.clone(),
        device: crate::cli::DeviceArg::Cpu,
        threads: None,
        data_dir: args.data_dir.clone(),
        no_verify: false,
    };
    let all = args.configs.is_empty();
    let mut digest = None;
    for path in common::configs_or_all(&args.configs)? {
        let experiment = common::experiment(&path, &args.sets, args.seeds)?;
        let exp_dir = store.experiment_dir(&experiment.name);
        if all && !exp_dir.exists() {
            continue;
        }
        let max_tries = max_tries(args.max_tries, experiment.slurm.max_tries)?;
        let digest = match &digest {
            Some(d) => d,
            None => digest.insert(common::dataset(&run)?.digest),
        };
        let found = slurm::status(&store, &experiment, digest, max_tries)?;
        let (planned, counts) = (found.planned, &found.counts);
        let counted: Vec<String> = [
            TrialStatus::Done,
            TrialStatus::Diverged,
            TrialStatus::Running,
            TrialStatus::Queued,
            TrialStatus::Failed,
            TrialStatus::Pending,
        ]
        .iter()
        .map(|s| format!("{} {}", counts.get(s).copied().unwrap_or(0), s.label()))
        .collect();
        println!(
            "{}: {} trials: {}",
            experiment.name,
            planned,
            counted.join(", ")
        );
        for line in &found.lines {
            println!("{line}");
        }
        if !found.jobs.is_empty() {
            println!("  Slurm jobs: {}", found.jobs.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness cancel`: `scancel` every live job of the experiments, then waits (up to two
/// minutes) until their tasks have left the queue. Workers stop after their current batch
/// and release their claims, so each trial resumes from its last checkpoint.
pub fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&args.runs);
    for path in &args.configs {
        let experiment = common::experiment(path, &args.sets, None)?;
        let exp_dir = store.experiment_dir(&experiment.name);
        let (subs, queued) = live(&exp_dir)?;
        let mut jobs: Vec<String> = queued.iter().map(|q| q.job.clone()).collect();
        jobs.sort();
        jobs.dedup();
        if jobs.is_empty() {
            println!("{}: no queued or running Slurm task", experiment.name);
            continue;
        }
        // One scancel for all: a job that ends meanwhile is not an error worth stopping for.
        if let Err(e) = slurm::scancel(&jobs) {
            eprintln!("warning: {e}");
        }
        println!(
            "{}: cancelled job(s) {} ({} task(s)); waiting for them to stop",
            experiment.name,
            jobs.join(", "),
            queued.len()
        );
        let start = Instant::now();
        loop {
            let left = slurm::squeue(&jobs)?;
            if left.is_empty() {
                break;
            }
            if start.elapsed() > Duration::from_secs(120) {
                anyhow::bail!(
                    "{}: {} task(s) still in the queue after 2 minutes",
                    experiment.name,
                    left.len()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = subs;
        println!(
            "{}: stopped; unfinished trials resume from their last checkpoint on the next replicate",
            experiment.name
        );
    }
    Ok(ExitCode::SUCCESS)
}
