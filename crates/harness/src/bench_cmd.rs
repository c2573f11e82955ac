//! `harness bench-epoch`: epoch times through the full data path or compute only, and
//! latency, as JSON lines for `bench/compare.py`.

use crate::cli::{BenchArgs, BenchMode};
use crate::common;
use anyhow::Context;
use serde_json::json;
use trainer::{Event, RunOptions};

pub fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let experiment = common::experiment(&args.config, &args.run.sets, None)?;
    let variant = match &args.variant {
        Some(name) => experiment
            .variant(name)
            .with_context(|| format!("no variant `{name}`"))?,
        None => experiment.baseline_variant(),
    };
    let device = common::device(&args.run.device)?;
    common::set_threads(args.run.threads, 1)?;
    let dataset = common::dataset(&args.run)?;
    let images = variant
        .trial
        .data
        .train_limit
        .unwrap_or(dataset.train.len())
        .min(dataset.train.len());
    let epochs = args.repeats + 1;
    let emit = |mode: &str, k: usize, secs: f64| {
        let mut line = json!({"kind": "epoch", "mode": mode, "epoch": k, "epoch_time_s": secs, "images": images});
        if k == 0 {
            line["warmup"] = json!(true);
        }
        println!("{line}");
    };
    match args.mode {
        BenchMode::ComputeOnly => {
            let times = trainer::compute_only_epoch(&variant.trial, &dataset, 0, device, epochs);
            for (k, t) in times.into_iter().enumerate() {
                emit("compute-only", k, t);
            }
        }
        BenchMode::Full => {
            let mut config = variant.trial.config().clone();
            config.epochs = epochs as u32;
            config.data.test_limit = Some(config.eval_batch_size.min(10_000));
            let trial = config.validate()?;
            let mut options = RunOptions::new(0, device);
            options.progress_every = usize::MAX;
            let mut latency = None;
            trainer::train(
                &trial,
                &dataset,
                &options,
                &mut |event| match event {
                    Event::Epoch(m) => emit("full", (m.epoch - 1) as usize, m.train_time_s),
                    Event::Latency(l) => latency = Some(l.clone()),
                    _ => {}
                },
                &trainer::Stop::new(),
            )?;
            if let Some(l) = latency {
                println!(
                    "{}",
                    json!({
                        "kind": "latency",
                        "batch1": {"median_ms": l.batch1.median_ms, "p95_ms": l.batch1.p95_ms},
                        "eval": {"batch": l.eval.batch, "median_ms": l.eval.median_ms, "p95_ms": l.eval.p95_ms},
                    })
                );
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
