//! `harness bench-epoch`: epoch times through the full data path or compute only, and
//! latency, as JSON lines for `bench/compare.py`.

use crate::cli::{BenchArgs, BenchMode};
use crate::common;
use serde_json::json;
use trainer::Event;

pub fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    let experiment = common::experiment(&args.config, &args.run.sets, None)?;
    let variant = experiment
        .variant_or_baseline(args.variant.as_deref())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?;
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
    // For the roofline: the work of one image's forward pass (a training step is counted
    // as three: forward, and the backward's two products).
    println!(
        "{}",
        json!({"kind": "start", "forward_flops": models::forward_flops(&variant.trial.model), "threads": tch::get_num_threads()})
    );
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
            // The code a user's trial runs, end to end: `run_trial` in a scratch trial
            // folder (event files, per-batch progress, a durable checkpoint per epoch, the
            // latency measurement), so the bench cannot drift from it. Only the settings
            // differ: the epochs asked for, and one eval batch of test images (evaluation
            // is not in the timed training time; it only makes the bench longer).
            let mut config = variant.trial.config().clone();
            config.epochs = epochs as u32;
            config.data.test_limit = Some(config.eval_batch_size.min(10_000));
            let mut variant = variant.clone();
            variant.trial = config.validate()?;
            let spec = spec::TrialSpec::new(&experiment, &variant, 0, &dataset.digest);
            let dir = std::env::temp_dir().join(format!("harness-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let mut latency = None;
            let outcome = experiment::run_trial(
                &spec,
                &dataset,
                device,
                &dir,
                &trainer::Stop::new(),
                &mut |event| match event {
                    Event::Epoch(m) => emit("full", (m.epoch - 1) as usize, m.train_time_s),
                    Event::Latency(l) => latency = Some(l.clone()),
                    _ => {}
                },
            );
            let _ = std::fs::remove_dir_all(&dir);
            outcome?;
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
