//! `harness report` and `harness models`.

use crate::cli::{ModelsArgs, ReportArgs};
use crate::common;
use experiment::report::{format_count, readme_section, splice_readme, write_report_full};
use experiment::{Experiment, Store, TrialRecord};
use models::{Architecture, ModelConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The usable records of `experiment`; each unusable one (moved to quarantine by the
/// store) is named in a warning on stderr.
pub fn records(store: &Store, experiment: &str) -> anyhow::Result<Vec<TrialRecord>> {
    let found = store.records(experiment)?;
    for q in &found.quarantined {
        eprintln!("warning: {q}");
    }
    Ok(found.records)
}

/// Writes the report of `experiment` and updates its README section (if the README has
/// the markers). Returns what was written.
pub fn write_all(
    experiment: &Experiment,
    store: &Store,
    reports: &Path,
    readme: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let records = records(store, &experiment.name)?;
    let seeding = experiment::seeding::read(&store.experiment_dir(&experiment.name))?;
    let notes: Vec<String> = experiment::cost::kept(&store.experiment_dir(&experiment.name))
        .and_then(|k| {
            let actual = k.actual_s?;
            Some(format!(
                "Wall time of the last run: estimated {} before it started ({} trial(s), {} job(s) x {} threads on {}), took {} ({:+.0}%)",
                experiment::cost::human(std::time::Duration::from_secs_f64(k.estimated_s)),
                k.trials,
                k.jobs,
                k.threads,
                k.device,
                experiment::cost::human(std::time::Duration::from_secs_f64(actual)),
                100.0 * (k.estimated_s - actual) / actual.max(1e-9)
            ))
        })
        .into_iter()
        .collect();
    let mut written = vec![write_report_full(
        experiment,
        &records,
        seeding.as_ref(),
        &notes,
        reports,
    )?];
    if let Ok(text) = std::fs::read_to_string(readme)
        && let Some(updated) = splice_readme(
            &text,
            &experiment.name,
            &readme_section(experiment, &records),
        )
    {
        if updated != text {
            experiment::store::write_atomic(readme, updated.as_bytes())?;
        }
        written.push(readme.to_path_buf());
    }
    Ok(written)
}

pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&args.runs);
    let configs = common::configs_or_all(&args.configs)?;
    let mut wrote_any = false;
    for path in &configs {
        let experiment = common::experiment(path, &args.sets, args.seeds)?;
        if args.configs.is_empty() && records(&store, &experiment.name)?.is_empty() {
            continue;
        }
        for file in write_all(&experiment, &store, &args.reports, &args.readme)? {
            println!("wrote {}", file.display());
        }
        wrote_any = true;
    }
    if !wrote_any {
        println!("no experiment in {} has trials yet", args.runs.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The configurations whose parameter counts the study published.
fn published() -> Vec<ModelConfig> {
    let base = ModelConfig::default();
    let with = |architecture, channels, kernel_size| ModelConfig {
        architecture,
        channels,
        kernel_size,
        ..base.clone()
    };
    vec![
        with(Architecture::Conv2, 32, 3),
        with(Architecture::Conv2Res, 32, 3),
        with(Architecture::Conv4, 32, 3),
        with(Architecture::Conv4Res, 32, 3),
        with(Architecture::Conv4Res, 64, 3),
        with(Architecture::Conv4Res, 128, 3),
        with(Architecture::Conv4Res, 512, 3),
        with(Architecture::Conv4, 32, 1),
        with(Architecture::Conv4, 32, 5),
    ]
}

pub fn models(args: ModelsArgs) -> anyhow::Result<ExitCode> {
    println!("| architecture | channels | kernel | batch norm | parameters (ours) | study |");
    println!("|---|---|---|---|---|---|");
    for config in published() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let _net = models::Net::new(&vs.root(), &config);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            config.architecture,
            config.channels,
            config.kernel_size,
            if config.batch_norm { "yes" } else { "no" },
            format_count(models::parameter_count(&vs)),
            models::study_parameter_count(&config).unwrap_or("—")
        );
    }
    if args.layers {
        for architecture in [
            Architecture::Conv2,
            Architecture::Conv2Res,
            Architecture::Conv4,
            Architecture::Conv4Res,
        ] {
            let config = ModelConfig {
                architecture,
                ..ModelConfig::default()
            };
            println!("\n### {architecture}\n\n{}", models::layer_table(&config));
        }
    }
    Ok(ExitCode::SUCCESS)
}
