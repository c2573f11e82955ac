//! `harness train`: one trial, in this process, with a progress bar.

use crate::cli::TrainArgs;
use crate::common;
use crate::progress::Printer;
use crate::signals::{self, exit};
use anyhow::{Context, bail};
use experiment::trial_run::{Outcome, TrialSpec, run_trial};
use std::path::Path;
use std::process::ExitCode;
use store::Store;
use store::record::TrialRecord;
use trainer::Status;

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    let experiment = common::experiment(&args.config, &args.run.sets, None)?;
    let variant = match &args.variant {
        Some(name) => experiment.variant(name).with_context(|| {
            format!(
                "{}: no variant `{name}` (variants: {})",
                args.config.display(),
                experiment
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?,
        None => experiment.baseline_variant(),
    };
    let device = common::device(&args.run.device)?;
    let threads = common::set_threads(args.run.threads, 1)?;
    let stop = std::sync::Arc::new(trainer::Stop::new());
    signals::watch_foreground(stop.clone()).context("installing signal handlers")?;
    match &args.out {
        Some(out) => store::ensure_writable_dir(out.parent().unwrap_or(Path::new(".")))?,
        None => common::store(&args.runs)?.ensure_writable()?,
    }
    let dataset = common::dataset(&args.run)?;
    let spec = TrialSpec::new(&experiment, variant, args.seed, &dataset.digest);
    let mut printer = Printer::new();
    printer.line(&format!(
        "trial {}: {} / variant {} / seed {} on {} ({threads} threads)",
        spec.short_id(),
        experiment.name,
        variant.name,
        spec.seed,
        experiment::provenance::device_label(device)
    ));
    let mut show = |event: &trainer::Event| printer.own(event);

    let (outcome, folder) = match &args.out {
        Some(out) => {
            if out.exists() {
                bail!(
                    "--out {}: already exists; choose a new folder",
                    out.display()
                );
            }
            let work = out.with_file_name(format!(
                ".{}.partial",
                out.file_name()
                    .map_or("trial".into(), |n| n.to_string_lossy())
            ));
            // A previous attempt's folder is kept: run_trial resumes it from its last
            // good checkpoint, or clears it and says why.
            std::fs::create_dir_all(&work)
                .with_context(|| format!("creating {}", work.display()))?;
            let outcome = run_trial(&spec, &dataset, device, &work, &stop, &mut show)?;
            if matches!(outcome, Outcome::Recorded(_)) {
                std::fs::rename(&work, out).with_context(|| {
                    format!("publishing {} as {}", work.display(), out.display())
                })?;
            }
            (outcome, out.clone())
        }
        None => {
            let store = Store::new(&args.runs);
            let Some(claim) = store.claim(&spec.id)? else {
                let dir = store.trial_dir(&spec.id);
                if store.is_done(&spec.id) {
                    printer.line(&format!(
                        "already done: {} (delete it to run again)",
                        dir.display()
                    ));
                    let record = store::read_record(&dir.join(store::SUMMARY))?;
                    print_summary(&mut printer, &record, &dir);
                    return Ok(ExitCode::SUCCESS);
                }
                bail!(
                    "trial {} is being run by another process right now",
                    spec.short_id()
                );
            };
            for warning in claim.warnings() {
                eprintln!("warning: {warning}");
            }
            let outcome = run_trial(&spec, &dataset, device, claim.work_dir(), &stop, &mut show)?;
            let folder = match outcome {
                Outcome::Recorded(_) => claim.publish()?,
                Outcome::Stopped => {
                    claim.release();
                    store.trial_dir(&spec.id)
                }
            };
            (outcome, folder)
        }
    };
    match outcome {
        Outcome::Recorded(record) => {
            print_summary(&mut printer, &record, &folder);
            if matches!(record.status, Status::Diverged { .. }) {
                return Ok(ExitCode::from(exit::DIVERGED));
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Stopped => {
            printer.line(
                "stopped before the end: nothing recorded; the same command resumes from the last finished epoch",
            );
            Ok(ExitCode::from(exit::STOPPED))
        }
    }
}

fn print_summary(printer: &mut Printer, record: &TrialRecord, folder: &Path) {
    let pct = |x: Option<f64>| x.map_or("—".into(), |x| format!("{x:.2}%"));
    printer.line(&format!(
        "result: {}  final test accuracy {}  best {} (epoch {})  training loss (sum) {}",
        match &record.status {
            Status::Finished => "finished".to_string(),
            Status::Diverged { epoch, batch } =>
                format!("DIVERGED at epoch {epoch}, batch {batch}"),
            Status::Stopped => "stopped".to_string(),
        },
        pct(record.final_accuracy),
        pct(record.best_accuracy),
        record.best_epoch.map_or("—".into(), |e| e.to_string()),
        record
            .train_loss_sum
            .map_or("—".into(), |x| format!("{x:.3}")),
    ));
    printer.line(&format!(
        "parameters: {} (study: {})",
        reporting::report::format_count(record.parameters),
        record
            .study_parameters
            .as_deref()
            .unwrap_or("not published")
    ));
    if let Some(l) = &record.latency {
        printer.line(&format!(
            "latency: batch 1 {:.3} ms (p95 {:.3}), batch {} {:.3} ms (p95 {:.3})",
            l.batch1.median_ms, l.batch1.p95_ms, l.eval.batch, l.eval.median_ms, l.eval.p95_ms
        ));
    }
    printer.line(&format!("trial folder: {}", folder.display()));
}
