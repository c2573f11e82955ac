//! `harness status` and `harness cancel`: the command-line side of `cluster::slurm`'s
//! status and cancel (`replicate --slurm` is `experiment::replicate`'s Slurm executor).

use crate::cli::{CancelArgs, StatusArgs};
use crate::common;
use cluster::slurm;
use experiment::replicate::DataOptions;
use std::process::ExitCode;
use std::time::Duration;
use store::Store;

/// `harness status`.
pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let configs = common::configs_or_all(&args.configs)?;
    let (experiments, store) =
        common::reading(&configs, (&args.sets, args.seeds), &args.runs, None)?;
    let all = args.configs.is_empty();
    let mut digest = None;
    let mut shown = 0;
    for experiment in experiments {
        let exp_dir = store.experiment_dir(&experiment.name);
        if all && !exp_dir.exists() {
            continue;
        }
        shown += 1;
        let max_tries = slurm::max_tries(args.max_tries, experiment.slurm.max_tries)?;
        let digest = match &digest {
            Some(d) => d,
            None => digest.insert(DataOptions::verified(args.data_dir.clone()).load()?.digest),
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
