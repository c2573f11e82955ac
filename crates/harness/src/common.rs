//! Set-up shared by the commands: device, threads, experiment and dataset.

use crate::cli::{DeviceArg, RunOpts};
use anyhow::{Context, bail};
use data::FashionMnist;
use spec::Experiment;
use spec::Override;
use std::path::Path;
use tch::Device;

/// The device to train on; `cuda` when CUDA is missing is an error, not a silent CPU run.
///
/// `main` opens libtorch's CUDA backend where an NVIDIA driver is present (see the
/// `cuda_loader` crate); `cuda` also tries where none is, to say exactly what is missing.
pub fn device(arg: &DeviceArg) -> anyhow::Result<Device> {
    match arg {
        DeviceArg::Auto => {
            // `main` opened the CUDA backend already where a driver is present.
            Ok(Device::cuda_if_available())
        }
        DeviceArg::Cpu => Ok(Device::Cpu),
        DeviceArg::Cuda(n) => {
            cuda_loader::load()
                .with_context(|| format!("--device {arg}: loading libtorch's CUDA backend"))?;
            if !tch::Cuda::is_available() {
                bail!(
                    "--device {arg}: libtorch sees no CUDA device on this machine (use --device cpu or auto)"
                );
            }
            let count = tch::Cuda::device_count() as usize;
            if *n >= count {
                bail!("--device {arg}: only {count} CUDA device(s) here");
            }
            Ok(Device::Cuda(*n))
        }
    }
}

/// Sets libtorch's intra-op threads (default: all cores / `jobs`).
pub fn set_threads(threads: Option<i32>, jobs: usize) -> anyhow::Result<i32> {
    Ok(experiment::replicate::set_threads(threads, jobs)?)
}

/// A malformed command line found after clap parsed it (a bad `--set`): exit code 2, as
/// clap's own usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses `--set` arguments; a malformed one is a [`UsageError`].
pub fn overrides(sets: &[String]) -> anyhow::Result<Vec<Override>> {
    sets.iter()
        .map(|s| {
            Override::parse(s)
                .map_err(|e| anyhow::Error::new(UsageError(format!("--set {s}: {e}"))))
        })
        .collect()
}

/// Loads an experiment with overrides and an optional seed count.
pub fn experiment(path: &Path, sets: &[String], seeds: Option<u32>) -> anyhow::Result<Experiment> {
    let overrides = overrides(sets)?;
    let mut experiment = spec::config::load(path, &overrides)?;
    if let Some(n) = seeds {
        experiment.set_seed_count(n).map_err(anyhow::Error::msg)?;
    }
    Ok(experiment)
}

/// The run store at `runs`, with trials of the older per-experiment layout moved into the
/// shared pool first (what moved, and what could not, is said on stderr).
pub fn store(runs: &Path) -> anyhow::Result<store::Store> {
    let store = store::Store::new(runs);
    let migration = store.migrate().with_context(|| {
        format!(
            "moving older trials of {} into the shared pool",
            runs.display()
        )
    })?;
    if !migration.moved.is_empty() || !migration.moved_work.is_empty() {
        eprintln!(
            "{}: moved {} finished trial(s) and {} unfinished one(s) from runs/<experiment>/ into the shared pool {}",
            runs.display(),
            migration.moved.len(),
            migration.moved_work.len(),
            store.trials_dir().display()
        );
    }
    for (from, to) in &migration.duplicates {
        eprintln!(
            "{}: a copy of a trial the pool holds already; set aside in {}",
            from.display(),
            to.display()
        );
    }
    for (path, why) in &migration.left {
        eprintln!("warning: {} stays where it is: {why}", path.display());
    }
    Ok(store)
}

/// Where the dataset comes from, as the run options say.
pub fn data_source(opts: &RunOpts) -> experiment::replicate::DataSource {
    experiment::replicate::DataSource {
        dir: opts.data_dir.clone(),
        verify: !opts.no_verify,
    }
}

/// Finds and loads the dataset (verified unless `--no-verify`, which is warned about).
pub fn dataset(opts: &RunOpts) -> anyhow::Result<FashionMnist> {
    if opts.no_verify {
        eprintln!("warning: {}", experiment::replicate::NO_VERIFY);
    }
    Ok(data_source(opts).load()?)
}

/// Checks that `dir` (created if missing) accepts new files, before any data is loaded:
/// a probe file is created exclusively and removed.
pub fn ensure_writable_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let probe = dir.join(format!(".harness-write-probe.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("{}: not writable", dir.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
}

/// `configs` if any were given, else every `configs/*.ron`, sorted.
pub fn configs_or_all(configs: &[std::path::PathBuf]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    if !configs.is_empty() {
        return Ok(configs.to_vec());
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir("configs").context("reading configs/")? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ron") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}
