//! `harness reproduce`: retrain one recorded trial and compare it with its record.

use crate::cli::{DeviceChoice, ReproduceArgs};
use crate::common;
use anyhow::{Context, anyhow, bail};
use contract::exit;
use experiment::replicate::DataOptions;
use experiment::reproduce;
use std::process::ExitCode;
use terminal::bars::Printer;
use terminal::signals;

pub fn run(args: ReproduceArgs) -> anyhow::Result<ExitCode> {
    let store = store::Store::new(&args.runs);
    let record = reproduce::find(&store, &args.trial).map_err(|e| anyhow!(e))?;
    let short = store::id::short(&record.id).to_string();
    // The folder's copies of the record (config.ron, trial.json, metrics.jsonl) are checked
    // and repaired as every reader of the store does; its missing account is named.
    for repaired in store::trial_files::check_and_repair(&store.trial_dir(&record.id), &record) {
        eprintln!("warning: {repaired}");
    }
    if let Some(keep) = &args.keep
        && keep.exists()
    {
        bail!(
            "--keep {}: already exists; choose a new folder",
            keep.display()
        );
    }
    let device_arg = args
        .device
        .clone()
        .unwrap_or(if record.provenance.device == "cpu" {
            DeviceChoice::Cpu
        } else {
            DeviceChoice::Auto
        });
    let device = device_arg.resolve()?;
    let threads = common::set_threads(Some(args.threads.unwrap_or(record.provenance.threads)), 1)?;
    let stop = std::sync::Arc::new(trainer::Stop::new());
    signals::watch_foreground(stop.clone()).context("installing signal handlers")?;
    let dataset = DataOptions::verified(args.data_dir.clone()).load()?;
    let spec = reproduce::prepare(&record, &dataset)?;
    let work = reproduce::work_dir(&record, args.keep.as_deref());
    let mut printer = Printer::new();
    printer.line(&format!(
        "reproducing trial {short}: {} / {} / seed {} ({} epochs) on {} ({threads} threads), in {}",
        record.experiment,
        record.variant,
        record.seed,
        record.epochs.len(),
        trainer::device_label(device),
        work.display()
    ));
    let mut show = |event: &contract::Event| printer.own(event);
    let keep = args.keep.is_some();
    match reproduce::retrain(
        &record, &spec, &dataset, device, &work, keep, &stop, &mut show,
    )? {
        None => {
            printer.line("stopped before the end: nothing compared");
            Ok(ExitCode::from(exit::STOPPED))
        }
        Some(comparison) => {
            printer.line(reproduce::describe(&comparison).trim_end());
            Ok(ExitCode::from(if comparison.identical() {
                exit::SUCCESS
            } else {
                exit::DIFFERS
            }))
        }
    }
}
