//! `harness report` and `harness models`.

use crate::cli::{ModelsArgs, ReportArgs};
use crate::common;
use anyhow::Context;
use spec::Experiment;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::Store;
use store::record::TrialRecord;

/// The usable records of `experiment` (the store's records of its variants, and
/// those it ran itself); each unusable one (moved to quarantine by the store) is named in
/// a warning on stderr.
pub fn records(store: &Store, experiment: &Experiment) -> anyhow::Result<Vec<TrialRecord>> {
    let found = store.records_for(&experiment.membership())?;
    for warning in found.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(found.records)
}

/// Writes the report of `experiment` and its README section ([`reporting::publish`]),
/// printing the warnings on stderr; returns what was written.
pub fn write_all(
    experiment: &Experiment,
    store: &Store,
    reports: &Path,
    readme: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let published = reporting::publish::write_all(experiment, store, reports, readme)?;
    for line in published.lines() {
        eprintln!("{line}");
    }
    Ok(published.files)
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let configs = common::configs_or_all(&args.configs)?;
    let (experiments, store) =
        common::reading(&configs, (&args.sets, args.seeds), &args.runs, None)?;
    // Every file first, then what was written: a reader that closes standard output
    // early (`harness report | head -1`) cannot cut the work short.
    let mut written = Vec::new();
    let mut wrote_any = false;
    for experiment in &experiments {
        if args.configs.is_empty() && records(&store, experiment)?.is_empty() {
            continue;
        }
        written.extend(write_all(experiment, &store, &args.reports, &args.readme)?);
        wrote_any = true;
    }
    for file in &written {
        println!("wrote {}", file.display());
    }
    if !wrote_any {
        println!("no experiment in {} has trials yet", args.runs.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness export records`.
pub fn export_records(
    configs: &[PathBuf],
    runs: &Path,
    out: &Path,
    sets: &[String],
    seeds: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let (experiments, from) = common::reading(configs, (sets, seeds), runs, Some(out))?;
    let to = store::Store::new(out);
    let done = reporting::archive::export(&from, &experiments, &to)?;
    for warning in &done.warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", done.summary(out));
    Ok(ExitCode::SUCCESS)
}

/// `harness export csv`: the records of the experiments, named as those files name them
/// (every trial of the store, as recorded, when no config is given), as one tidy CSV.
pub fn export_csv(
    configs: &[PathBuf],
    runs: &Path,
    out: Option<&Path>,
    sets: &[String],
    seeds: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let all = common::exported_records(configs, runs, sets, seeds, out)?;
    let text = reporting::csv_export::csv(&all);
    match out {
        Some(path) => {
            store::write_output(path, text.as_bytes())?;
            eprintln!(
                "wrote {} ({})",
                path.display(),
                reporting::csv_export::rows_words(&all)
            );
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .context("writing to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness models`: the parameter table of `models::parameter_table`.
pub fn models(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    print!("{}", models::parameter_table(args.layers));
    Ok(ExitCode::SUCCESS)
}
