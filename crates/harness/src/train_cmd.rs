//! `harness train`: one trial, in this process, with a progress bar.

use crate::cli::TrainArgs;
use crate::common;
use anyhow::Context;
use contract::Status;
use contract::exit;
use experiment::train_one::{Target, Trained, train_one};
use spec::plan::TrialSpec;
use std::path::Path;
use std::process::ExitCode;
use store::record::TrialRecord;
use terminal::bars::Printer;
use terminal::signals;

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let experiment = common::experiment(&args.config, &args.run.sets, None)?;
    let variant = experiment
        .variant_or_baseline(args.variant.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    let device = args.run.device.resolve()?;
    let threads = common::set_threads(args.run.threads, 1)?;
    let stop = std::sync::Arc::new(trainer::Stop::new());
    signals::watch_foreground(stop.clone()).context("installing signal handlers")?;
    // With --out the run store is not touched.
    let store = match &args.out {
        Some(out) => {
            store::ensure_writable_dir(out.parent().unwrap_or(Path::new(".")))?;
            None
        }
        None => {
            let store = common::store(&args.runs)?;
            store.ensure_writable()?;
            Some(store)
        }
    };
    let dataset = common::dataset(&args.run)?;
    let spec = TrialSpec::new(&experiment, variant, args.seed, &dataset.digest);
    let mut printer = Printer::new();
    printer.line(&format!(
        "trial {}: {} / variant {} / seed {} on {} ({threads} threads, {})",
        spec.short_id(),
        experiment.name,
        variant.name,
        spec.seed,
        trainer::device_label(device),
        variant.trial.precision
    ));
    if variant.trial.precision == models::Precision::Bf16
        && let Some(warning) = experiment::device::bf16_warning_here(device)
    {
        eprintln!("warning: {warning}");
    }
    let mut show = |event: &contract::Event| printer.own(event);

    let target = match (&args.out, &store) {
        (Some(out), _) => Target::Folder(out),
        (None, Some(store)) => Target::Store(store),
        (None, None) => unreachable!("the store is opened when there is no --out"),
    };
    let mut warn = |w: &str| eprintln!("warning: {w}");
    match train_one(&spec, &dataset, device, target, &stop, &mut show, &mut warn)? {
        Trained::AlreadyDone(record, dir) => {
            printer.line(&format!(
                "already done: {} (delete it to run again)",
                dir.display()
            ));
            print_summary(&mut printer, &record, &dir);
            Ok(ExitCode::SUCCESS)
        }
        Trained::Recorded(record, folder) => {
            print_summary(&mut printer, &record, &folder);
            if matches!(record.status, Status::Diverged { .. }) {
                return Ok(ExitCode::from(exit::DIVERGED));
            }
            Ok(ExitCode::SUCCESS)
        }
        Trained::Stopped => {
            printer.line(
                "stopped before the end: nothing recorded; the same command resumes from the last finished epoch",
            );
            Ok(ExitCode::from(exit::STOPPED))
        }
    }
}

fn print_summary(printer: &mut Printer, record: &TrialRecord, folder: &Path) {
    for line in experiment::train_one::summary_lines(record, folder) {
        printer.line(&line);
    }
}
