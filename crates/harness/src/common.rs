//! Set-up shared by the commands: threads, experiment, store and dataset.

use crate::cli::RunOpts;
use anyhow::Context;
use data::FashionMnist;
use spec::Experiment;
use spec::Override;
use std::path::Path;

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
    let mut experiment = spec::config::load(path, &overrides).map_err(|e| match e {
        // A bad `--set` is a bad command line (exit 2), named by its flag.
        spec::config::ConfigError::BadSet { .. } => anyhow::Error::new(UsageError(e.to_string())),
        other => anyhow::Error::new(other),
    })?;
    if let Some(n) = seeds {
        experiment
            .set_seed_count(n)
            .map_err(|e| anyhow::Error::new(UsageError(e)))?;
    }
    Ok(experiment)
}

/// The run store at `runs`, with trials of the older per-experiment layout moved into the
/// store first (what moved, and what could not, is said on stderr).
pub fn store(runs: &Path) -> anyhow::Result<store::Store> {
    let store = store::Store::new(runs);
    let what = || format!("moving older trials of {} into its trials/", runs.display());
    let migration = store.migrate().with_context(what)?;
    for line in migration.lines(runs, &store.trials_dir()) {
        eprintln!("{line}");
    }
    Ok(store)
}

/// Where the dataset comes from, as the run options say.
pub fn data_source(opts: &RunOpts) -> experiment::replicate::DataOptions {
    experiment::replicate::DataOptions {
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

/// [`store`] for commands that only read one: a mistyped `--runs` is refused, and so is an
/// `--out` inside the store, before anything is written.
pub fn existing_store(runs: &Path, out: Option<&Path>) -> anyhow::Result<store::Store> {
    let store = store(runs)?;
    store.check_exists()?;
    out.map(|out| store.refuse_output_inside(out)).transpose()?;
    Ok(store)
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

/// The records an export takes from store `runs` (`reporting::selection`: every record, or
/// those of the experiment files `configs`), its warnings printed.
pub fn exported_records(
    configs: &[std::path::PathBuf],
    runs: &Path,
    sets: &[String],
    seeds: Option<u32>,
    out: Option<&Path>,
) -> anyhow::Result<Vec<store::record::TrialRecord>> {
    let experiments = configs
        .iter()
        .map(|c| experiment(c, sets, seeds))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = existing_store(runs, out)?;
    let (records, warnings) = reporting::selection::records(&store, &experiments)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(records)
}
