//! `harness replicate --slurm`, `harness status` and `harness cancel`: the command-line
//! side of the Slurm executor in `cluster::slurm`.

use crate::cli::{CancelArgs, ReplicateArgs, StatusArgs};
use crate::common;
use anyhow::{Context, bail};
use cluster::slurm::{self, SubmitRequest};
use cluster::worker::WorkerInvocation;
use experiment::replicate::{DataSource, Jobs, Planned};
use spec::Experiment;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use store::Store;

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("{}: cannot resolve", path.display()))
}

/// `replicate --slurm`: submits the trials of the experiments' union that are neither
/// done, nor queued or running in a live job, nor held by a live claim, nor marked failed,
/// as one job array (a trial shared by several files is one task).
pub fn submit(args: &ReplicateArgs, experiments: &[Planned]) -> anyhow::Result<ExitCode> {
    let Jobs::Count(jobs) = args.jobs else {
        bail!(
            "--jobs auto splits this machine's cores; with --slurm give the array throttle as a number"
        );
    };
    let given: Vec<(PathBuf, Experiment)> = experiments
        .iter()
        .map(|p| (p.path.clone(), p.experiment.clone()))
        .collect();
    let flags = slurm::Flags {
        max_tries: args.max_tries,
        signal: args.signal.clone(),
        sbatch: args.sbatch.clone(),
    };
    let settings = slurm::resolve(&given, &flags)?;
    let max_tries = settings.max_tries;
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
        signal: &settings.signal,
        sbatch: &settings.sbatch,
        worker: &worker,
        dry_run: args.dry_run,
    };
    let planned = slurm::prepare(&request)?;
    for line in planned.lines(&args.configs, max_tries) {
        println!("{line}");
    }
    if planned.tasks.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.dry_run {
        println!("sbatch script (not submitted):\n{}", planned.script);
        return Ok(ExitCode::SUCCESS);
    }
    let done = slurm::submit(&request, &planned)?;
    for line in done.lines(&planned, jobs, &args.configs) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness status`.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let store = common::store(&args.runs)?;
    let all = args.configs.is_empty();
    if !store.trials_dir().is_dir() {
        anyhow::bail!(
            "{}: not a run store (it has no {}/ folder; a store is what `harness replicate` writes, e.g. runs/ or results/)",
            args.runs.display(),
            contract::layout::TRIALS
        );
    }
    let mut digest = None;
    let mut shown = 0;
    for path in common::configs_or_all(&args.configs)? {
        let experiment = common::experiment(&path, &args.sets, args.seeds)?;
        let exp_dir = store.experiment_dir(&experiment.name);
        if all && !exp_dir.exists() {
            continue;
        }
        shown += 1;
        let max_tries = slurm::max_tries(args.max_tries, experiment.slurm.max_tries)?;
        let digest = match &digest {
            Some(d) => d,
            None => digest.insert(DataSource::verified(args.data_dir.clone()).load()?.digest),
        };
        for line in slurm::status(&store, &experiment, digest, max_tries)?.report(&experiment.name)
        {
            println!("{line}");
        }
    }
    if shown == 0 {
        println!(
            "no experiment of configs/ has run in {} yet",
            args.runs.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness cancel`: [`slurm::cancel`] for each experiment.
pub fn cancel(args: CancelArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&args.runs);
    for path in &args.configs {
        let experiment = common::experiment(path, &args.sets, None)?;
        slurm::cancel(
            &store.experiment_dir(&experiment.name),
            &experiment.name,
            Duration::from_secs(120),
            &mut |line| println!("{line}"),
            &mut |warning| eprintln!("warning: {warning}"),
        )
        .map_err(|e| match e {
            // Cancelled, but not gone in time.
            slurm::SlurmError::StillQueued { .. } => {
                anyhow::Error::new(e).context(format!("{}: cancelled", experiment.name))
            }
            e => e.into(),
        })?;
    }
    Ok(ExitCode::SUCCESS)
}
