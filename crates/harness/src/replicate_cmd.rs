//! `harness replicate`: the flags made into one `experiment::replicate::Request`, run by
//! `replicate::run` on the local executor (each trial in its own `harness worker` process,
//! `--jobs` at a time, then the reports) or the Slurm executor (one job array, `--slurm`);
//! and `harness worker`, the process that runs one trial.
//!
//! `replicate` exits 0 only when every planned trial is recorded. Signals are handled as
//! `terminal::signals` describes.

use crate::cli::{ReplicateArgs, WorkerArgs};
use crate::common;
use anyhow::Context;
use experiment::replicate::{self, Executor, LoadedExperiment, Request, SlurmOptions};
use experiment::worker_process as worker;
use std::process::ExitCode;
use store::Store;
use terminal::reporter::TerminalReporter;
use terminal::signals;

pub fn run(args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    let mut experiments: Vec<LoadedExperiment> = Vec::new();
    for path in &args.configs {
        experiments.push(LoadedExperiment {
            path: path.clone(),
            experiment: common::experiment(path, &args.run.sets, args.seeds)?,
        });
    }
    let jobs = args.jobs;
    // The flags are checked against each other before the device, the store or the
    // dataset is touched, and before anything is submitted: a bad combination is a bad
    // command line (exit 2), for a local run and for --slurm alike.
    replicate::check_flags(
        args.slurm,
        experiments.len(),
        jobs,
        args.run.threads,
        args.halfwidth,
    )
    .map_err(|e| anyhow::Error::new(common::UsageError(e.to_string())))?;
    // A submission trains nothing here: its workers resolve --device on their nodes.
    let executor = if args.slurm {
        Executor::Slurm(SlurmOptions {
            max_tries: args.max_tries,
            signal: args.signal.clone(),
            sbatch: args.sbatch.clone(),
            retry_failed: args.retry_failed,
        })
    } else {
        Executor::Local {
            device: args.run.device.resolve()?,
        }
    };
    let store = common::store(&args.runs)?;
    let request = Request {
        executor,
        experiments,
        overrides: common::overrides(&args.run.sets)?,
        sets: args.run.sets.clone(),
        store,
        device_arg: args.run.device.to_string(),
        jobs,
        threads: args.run.threads,
        max_trial_time: args.max_trial_time,
        halfwidth: args.halfwidth,
        alpha: args.alpha,
        dry_run: args.dry_run,
        data: common::data_source(&args.run),
        reports: args.reports.clone(),
        readme: args.readme.clone(),
        program: std::env::current_exe().context("locating the harness binary")?,
    };
    let outcome = replicate::run(&request, &mut TerminalReporter::new())?;
    Ok(ExitCode::from(outcome.exit_code()))
}

/// The child side: runs one trial (`experiment::worker_process::run`) and prints its events as
/// JSON lines. With `--slurm` (an array task), each attempt is recorded in the store, a
/// trial whose attempts failed `--max-tries` times is refused, and a task stopped by
/// Slurm's warning signal requeues itself (`experiment::worker_process::SlurmTask`).
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&args.runs);
    let task = args
        .slurm
        .then(|| worker::SlurmTask::new(&store, &args.expect_experiment, &args.expect_id));
    if let Some(task) = &task {
        task.check_tries(args.max_tries)?;
    }
    let stop = std::sync::Arc::new(trainer::Stop::new());
    let loaded = (|| {
        let warned = signals::watch_worker(stop.clone()).context("installing signal handlers")?;
        let experiment = common::experiment(&args.config, &args.run.sets, None)?;
        let device = args.run.device.resolve()?;
        common::set_threads(args.run.threads, 1)?;
        let dataset = common::dataset(&args.run)?;
        anyhow::Ok((warned, experiment, device, dataset))
    })();
    let (warned, experiment, device, dataset) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(warning) = task
                .as_ref()
                .and_then(|t| t.record(Some(cluster::slurm::AttemptEnd::Failed(format!("{e:#}")))))
            {
                eprintln!("{warning}");
            }
            return Err(e);
        }
    };
    let job = worker::WorkerJob {
        config: &args.config,
        experiment: &experiment,
        expect_experiment: &args.expect_experiment,
        variant: &args.variant,
        seed: args.seed,
        expect_id: &args.expect_id,
        store: &store,
        dataset: &dataset,
        device,
        stop,
        warned,
    };
    let mut stdout = std::io::stdout().lock();
    let on_event = &mut |event: &contract::Event| worker::send_event(&mut stdout, event);
    let note = &mut |line: String| eprintln!("{line}");
    let end = match &task {
        Some(task) => task.run(&job, on_event, note)?,
        None => worker::run(&job, &mut || {}, on_event, note)?,
    };
    Ok(ExitCode::from(end.exit_code()))
}
