//! Set-up shared by the commands: threads, experiment, store and dataset.

use crate::cli::RunOpts;
use anyhow::Context;
use data::FashionMnist;
use spec::Experiment;
use spec::Override;
use std::path::{Path, PathBuf};

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

/// The experiments of `paths` and the existing store `runs` they are read from, for
/// commands that only read one: config errors first, then a mistyped `--runs` (no
/// `trials/`), then an `--out` inside the store, before anything is written. With no
/// `--set` and no `--seeds` on the command line, each is taken at the settings of the
/// store's last run of it, as the dashboard shows it ([`spec::last_run`]; said on stderr).
pub fn reading(
    paths: &[PathBuf],
    (sets, seeds): (&[String], Option<u32>),
    runs: &Path,
    out: Option<&Path>,
) -> anyhow::Result<(Vec<Experiment>, store::Store)> {
    let experiments = paths
        .iter()
        .map(|path| experiment(path, sets, seeds))
        .collect::<anyhow::Result<Vec<_>>>()?;
    spec::config::check_distinct_names(&experiments).map_err(anyhow::Error::msg)?;
    let store = store(runs)?;
    store.check_exists()?;
    out.map(|out| store.refuse_output_inside(out)).transpose()?;
    let given = !sets.is_empty() || seeds.is_some();
    let mut adopted = Vec::new();
    let experiments = experiments.into_iter().map(|e| {
        let (e, arguments) = spec::last_run::or_file(e, given, |name| store.experiment_dir(name));
        adopted.extend(arguments.map(|a| (e.name.clone(), a)));
        e
    });
    let experiments = experiments.collect();
    eprint!("{}", spec::last_run::notes(&adopted));
    Ok((experiments, store))
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

/// `configs` if any were given, else every `configs/*.ron`, sorted.
pub fn configs_or_all(configs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    if !configs.is_empty() {
        return Ok(configs.to_vec());
    }
    spec::config::experiment_files(Path::new("configs")).context("reading configs/")
}

/// The records an export takes from store `runs` (`reporting::selection`: every record, or
/// those of the experiment files `configs`), its warnings printed.
pub fn exported_records(
    configs: &[PathBuf],
    runs: &Path,
    sets: &[String],
    seeds: Option<u32>,
    out: Option<&Path>,
) -> anyhow::Result<Vec<store::record::TrialRecord>> {
    let (experiments, store) = reading(configs, (sets, seeds), runs, out)?;
    let (records, warnings) = reporting::selection::records(&store, &experiments)?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(records)
}
