//! `harness export onnx`: one recorded trial's trained network as an ONNX file (see
//! [`experiment::onnx_export`]), checked against the record before it is written.

use crate::cli::{CheckpointArg, DeviceArg, OnnxArgs, RunOpts};
use crate::common;
use anyhow::{Context, anyhow, bail};
use experiment::onnx_export::{self, Weights};
use experiment::reproduce;
use std::process::ExitCode;

/// The largest difference, in percentage points, between the recomputed and the recorded
/// accuracy that still counts as the same network: a different thread count may sum in
/// another order and flip an image on the decision boundary, but not many.
const ACCURACY_TOLERANCE: f64 = 0.1;

pub fn run(args: OnnxArgs) -> anyhow::Result<ExitCode> {
    let store = store::Store::new(&args.runs);
    let record = reproduce::find(&store, &args.trial).map_err(|e| anyhow!(e))?;
    let short = store::id::short(&record.id).to_string();
    if args.out.is_dir() {
        bail!(
            "--out {}: is a folder; name the file to write",
            args.out.display()
        );
    }
    let weights = match args.checkpoint {
        CheckpointArg::Last => Weights::Last,
        CheckpointArg::Best => Weights::Best,
    };
    let checkpoints = args
        .checkpoints
        .clone()
        .unwrap_or_else(|| store.trial_dir(&record.id).join("ckpt"));
    // The record's thread count, so the check sums as the trial did.
    common::set_threads(Some(record.provenance.threads.max(1)), 1)?;
    let dataset = common::dataset(&RunOpts {
        sets: Vec::new(),
        device: DeviceArg::Cpu,
        threads: None,
        data_dir: args.data_dir.clone(),
        no_verify: false,
    })?;
    reproduce::check(&record, &dataset.digest)?;
    let exported = onnx_export::export(&record, &checkpoints, weights, &dataset)?;
    let gap = (exported.recomputed_accuracy - exported.recorded_accuracy).abs();
    let check = format!(
        "test accuracy of these weights on the trial's {} test images: {:.2} % (recorded: {:.2} %)",
        exported.test_images, exported.recomputed_accuracy, exported.recorded_accuracy
    );
    if gap.is_nan() || gap > ACCURACY_TOLERANCE {
        bail!(
            "trial {short}: {check}; these weights do not give the recorded result, so \
             nothing was written"
        );
    }
    store::write_atomic(&args.out, &exported.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes): trial {short} ({} / {} / seed {}), {} weights of epoch {} from {}",
        args.out.display(),
        exported.bytes.len(),
        record.experiment,
        record.variant,
        record.seed,
        weights.name(),
        exported.epoch,
        exported.source.display()
    );
    println!(
        "{check}{}",
        if gap == 0.0 {
            ", identical".to_string()
        } else {
            format!(", {gap:.2} points apart (summation order; within {ACCURACY_TOLERANCE})")
        }
    );
    println!(
        "input `{}` float32 [batch, 1, 28, 28] normalised as (pixel/255 - {}) / {}; output `{}` float32 [batch, 10]; opset {}",
        onnx::INPUT,
        data::PIXEL_MEAN,
        data::PIXEL_STD,
        onnx::OUTPUT,
        onnx::OPSET
    );
    Ok(ExitCode::SUCCESS)
}
