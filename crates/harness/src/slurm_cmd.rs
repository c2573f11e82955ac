//! `harness replicate --slurm`, `harness status` and `harness cancel`: the command-line
//! side of the Slurm executor in `experiment::slurm`.

use crate::cli::{CancelArgs, JobsArg, ReplicateArgs, RunOpts, StatusArgs};
use crate::common;
use anyhow::Context;
use experiment::lease;
use experiment::plan::plan;
use experiment::slurm::{self, Queued, ScriptSpec, Submission, Task};
use experiment::store::TrialStatus;
use experiment::worker::WorkerInvocation;
use experiment::{Experiment, Store, TrialState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Slurm's warning signal when neither the command line nor the config names one.
pub const DEFAULT_SIGNAL: &str = "B:USR1@120";
/// Failed attempts before a trial is marked failed, when nothing else says.
pub const DEFAULT_MAX_TRIES: usize = 3;

/// `--max-tries`, else the config's `slurm.max_tries`, else [`DEFAULT_MAX_TRIES`].
fn max_tries(arg: Option<usize>, experiment: &Experiment) -> anyhow::Result<usize> {
    match arg.or(experiment.slurm.max_tries) {
        Some(0) => anyhow::bail!("--max-tries 0: must be at least 1"),
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

/// `replicate --slurm`: submits the trials that are neither done, nor queued or running in
/// a live job, nor held by a live claim, nor marked failed, as one job array.
pub fn submit(args: &ReplicateArgs, experiment: &Experiment) -> anyhow::Result<ExitCode> {
    let max_tries = max_tries(args.max_tries, experiment)?;
    let JobsArg::Count(jobs) = args.jobs else {
        anyhow::bail!(
            "--jobs auto splits this machine's cores; with --slurm give the array throttle as a number"
        );
    };
    let signal = args
        .signal
        .clone()
        .or_else(|| experiment.slurm.signal.clone())
        .unwrap_or_else(|| DEFAULT_SIGNAL.to_string());
    let store = common::store(&args.runs)?;
    if !args.dry_run {
        store.ensure_writable()?;
    }
    let digest = common::dataset(&args.run)?.digest;
    let exp_dir = store.experiment_dir(&experiment.name);
    let planned = plan(experiment, &digest, &store);
    let (subs, queued) = if args.dry_run {
        live(&exp_dir).unwrap_or_default()
    } else {
        live(&exp_dir)?
    };
    let live = slurm::live_tasks(&subs, &queued);
    let (mut done, mut in_queue, mut held, mut failed) = (0, 0, 0, 0);
    let mut tasks = Vec::new();
    for t in &planned {
        let id = &t.spec.id;
        if t.state == TrialState::Done {
            done += 1;
        } else if let Some((job, index, state)) = live.get(id) {
            in_queue += 1;
            println!(
                "  {} {} seed {}: {} in job {job}_{index}",
                t.spec.short_id(),
                t.spec.variant.name,
                t.spec.seed,
                state.to_lowercase()
            );
        } else if t.state == TrialState::Running {
            held += 1;
        } else if slurm::attempts(&exp_dir, id).failures() >= max_tries && !args.retry_failed {
            failed += 1;
            println!(
                "  {} {} seed {}: failed {} times, not submitted (--retry-failed to try again)",
                t.spec.short_id(),
                t.spec.variant.name,
                t.spec.seed,
                max_tries
            );
        } else {
            tasks.push(Task {
                index: tasks.len(),
                variant: t.spec.variant.name.clone(),
                seed: t.spec.seed,
                id: id.clone(),
            });
        }
    }
    println!(
        "{} ({}): {} trials: {done} done, {in_queue} queued or running in Slurm, {held} running elsewhere, {failed} failed, {} to submit",
        experiment.name,
        args.configs[0].display(),
        planned.len(),
        tasks.len()
    );
    if tasks.is_empty() {
        println!("nothing to submit");
        return Ok(ExitCode::SUCCESS);
    }
    let worker = WorkerInvocation {
        program: std::env::current_exe().context("locating the harness binary")?,
        config: absolute(&args.configs[0])?,
        experiment: experiment.name.clone(),
        runs: absolute(&args.runs)?,
        trial: None,
        max_tries: Some(max_tries),
        device: args.run.device.to_string(),
        threads: args.run.threads,
        sets: args.run.sets.clone(),
        data_dir: args.run.data_dir.as_deref().map(absolute).transpose()?,
        no_verify: args.run.no_verify,
    }
    .words();
    let sbatch: Vec<String> = experiment
        .slurm
        .sbatch
        .iter()
        .cloned()
        .chain(
            args.sbatch
                .iter()
                .flat_map(|a| a.split_whitespace().map(str::to_string)),
        )
        .collect();
    let slurm_dir = slurm::dir(&absolute(&exp_dir)?);
    let script = slurm::render_script(&ScriptSpec {
        experiment: &experiment.name,
        tasks: &tasks,
        throttle: (jobs > 1 || tasks.len() > 1).then_some(jobs),
        signal: &signal,
        sbatch: &sbatch,
        slurm_dir: &slurm_dir,
        worker: &worker,
    });
    if args.dry_run {
        println!("sbatch script (not submitted):\n{script}");
        return Ok(ExitCode::SUCCESS);
    }
    if args.retry_failed {
        for t in &tasks {
            slurm::clear_attempts(&exp_dir, &t.id);
        }
    }
    std::fs::create_dir_all(slurm_dir.join("logs"))
        .with_context(|| format!("{}: cannot create", slurm_dir.display()))?;
    let pending = slurm_dir.join(format!("submit.{}.sh", std::process::id()));
    experiment::store::write_atomic(&pending, script.as_bytes())?;
    let job = slurm::sbatch(&pending)?;
    let kept = slurm_dir.join(format!("{job}.sh"));
    std::fs::rename(&pending, &kept).with_context(|| format!("keeping {}", kept.display()))?;
    slurm::save(
        &exp_dir,
        &Submission {
            job: job.clone(),
            submitted: experiment::provenance::unix_seconds(),
            tasks: tasks.clone(),
        },
    )?;
    println!(
        "submitted job array {job} ({} task(s), at most {} at once); script {}",
        tasks.len(),
        jobs,
        kept.display()
    );
    println!(
        "each task logs to {}; follow with `harness status {}` or `harness tui`",
        slurm_dir
            .join("logs")
            .join(format!("{job}_<task>.log"))
            .display(),
        args.configs[0].display()
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
        let max_tries = max_tries(args.max_tries, &experiment)?;
        let digest = match &digest {
            Some(d) => d,
            None => digest.insert(common::dataset(&run)?.digest),
        };
        let planned = plan(&experiment, digest, &store);
        let subs = slurm::submissions(&exp_dir)?;
        let queued = if subs.is_empty() {
            Vec::new()
        } else {
            let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
            slurm::squeue(&jobs)?
        };
        let live = slurm::live_tasks(&subs, &queued);
        // The newest submission of each trial, and what Slurm still remembers of it.
        let mut last_task: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        for s in &subs {
            for t in &s.tasks {
                last_task.insert(&t.id, (&s.job, t.index));
            }
        }
        let ended: BTreeMap<(String, usize), (String, String)> = subs
            .iter()
            .flat_map(|s| {
                slurm::scontrol_states(&s.job)
                    .into_iter()
                    .map(|(i, state, code)| ((s.job.clone(), i), (state, code)))
            })
            .collect();
        let records: BTreeMap<String, bool> = store
            .records_for(&experiment.membership())?
            .records
            .into_iter()
            .map(|r| (r.id.clone(), r.diverged()))
            .collect();
        let mut counts: BTreeMap<TrialStatus, usize> = BTreeMap::new();
        let mut lines = Vec::new();
        for t in &planned {
            let id = t.spec.id.as_str();
            let what = format!(
                "{} {} seed {}",
                t.spec.short_id(),
                t.spec.variant.name,
                t.spec.seed
            );
            let attempts = slurm::attempts(&exp_dir, id);
            let state = if let Some(&diverged) = records.get(id) {
                if diverged {
                    TrialStatus::Diverged
                } else {
                    TrialStatus::Done
                }
            } else if let Some((job, index, state)) = live.get(id) {
                let running = state == "RUNNING" || state == "COMPLETING";
                let status = if running {
                    TrialStatus::Running
                } else {
                    TrialStatus::Queued
                };
                lines.push(format!(
                    "  {what}: {} in job {job}_{index} ({state})",
                    status.label()
                ));
                status
            } else if let lease::Status::Held(holder) = store.holder(id) {
                let by = holder.map_or_else(String::new, |h| {
                    format!(
                        " by pid {} on {}{}",
                        h.pid,
                        h.host,
                        h.job.map(|j| format!(" (job {j})")).unwrap_or_default()
                    )
                });
                lines.push(format!("  {what}: running{by}"));
                TrialStatus::Running
            } else {
                let slurm_failed = last_task.get(id).and_then(|&(job, index)| {
                    ended
                        .get(&(job.to_string(), index))
                        .filter(|(state, code)| slurm::task_failed(state, code))
                        .map(|(state, code)| (job, index, state, code))
                });
                if attempts.failures() >= max_tries || slurm_failed.is_some() {
                    let (job, index) = last_task.get(id).copied().unwrap_or(("?", 0));
                    let log = slurm::task_log(&exp_dir, job, index);
                    let why = match (slurm_failed, attempts.last_failure()) {
                        (_, Some(m)) if attempts.failures() >= max_tries => {
                            format!("failed {} times; last: {m}", attempts.failures())
                        }
                        (Some((_, _, state, code)), _) => {
                            format!("task {job}_{index} ended {state} (exit {code})")
                        }
                        _ => format!("failed {} times", attempts.failures()),
                    };
                    lines.push(format!("  {what}: FAILED: {why}; log {}", log.display()));
                    for l in slurm::tail(&log, 5).lines() {
                        lines.push(format!("      | {l}"));
                    }
                    TrialStatus::Failed
                } else {
                    TrialStatus::Pending
                }
            };
            *counts.entry(state).or_default() += 1;
        }
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
            planned.len(),
            counted.join(", ")
        );
        for line in lines {
            println!("{line}");
        }
        let jobs: Vec<&str> = subs.iter().map(|s| s.job.as_str()).collect();
        if !jobs.is_empty() {
            println!("  Slurm jobs: {}", jobs.join(", "));
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
