//! `harness bench-epoch`: epoch times through the full data path or compute only
//! ([`experiment::bench`]), and latency, as JSON lines for `bench/compare.py`.

use crate::cli::{BenchArgs, BenchMode};
use crate::common;
use experiment::bench::{self, Mode};
use serde_json::json;

pub fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let experiment = common::experiment(&args.config, &args.run.sets, None)?;
    let variant = experiment
        .variant_or_baseline(args.variant.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
    let device = args.run.device.resolve()?;
    common::set_threads(args.run.threads, 1)?;
    let dataset = common::dataset(&args.run)?;
    let images = variant
        .trial
        .data
        .train_limit
        .unwrap_or(dataset.train.len())
        .min(dataset.train.len());
    // For the roofline: the work of one image's forward pass (a training step is counted
    // as three: forward, and the backward's two products).
    println!(
        "{}",
        json!({"kind": "start", "forward_flops": models::forward_flops(&variant.trial.model), "threads": tch::get_num_threads()})
    );
    let (mode, name) = match args.mode {
        BenchMode::Full => (Mode::Full, "full"),
        BenchMode::ComputeOnly => (Mode::ComputeOnly, "compute-only"),
    };
    let mut emit = |k: usize, secs: f64| {
        let mut line = json!({"kind": "epoch", "mode": name, "epoch": k, "epoch_time_s": secs, "images": images});
        if k == 0 {
            line["warmup"] = json!(true);
        }
        println!("{line}");
    };
    let latency = bench::epochs(
        &experiment,
        variant,
        &dataset,
        device,
        mode,
        args.repeats,
        &mut emit,
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
    Ok(std::process::ExitCode::SUCCESS)
}
