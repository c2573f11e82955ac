//! `harness export onnx`: one recorded trial's trained network as an ONNX file (see
//! [`experiment::onnx_export`]), checked against the record before it is written.

use crate::cli::{CheckpointArg, DeviceChoice, OnnxArgs, RunOpts};
use crate::common;
use anyhow::{Context, anyhow};
use experiment::onnx_export::{self, Weights};
use experiment::reproduce;
use std::process::ExitCode;

pub fn run(args: OnnxArgs) -> anyhow::Result<ExitCode> {
    let store = store::Store::new(&args.runs);
    let record = reproduce::find(&store, &args.trial).map_err(|e| anyhow!(e))?;
    // Before the work: a folder, a block device or a socket is refused with the reason.
    store::atomic::output_target(&args.out)
        .map_err(|e| anyhow!("--out {}: {e}; name the file to write", args.out.display()))?;
    let weights = match args.checkpoint {
        CheckpointArg::Last => Weights::Last,
        CheckpointArg::Best => Weights::Best,
    };
    let checkpoints = args.checkpoints.clone().unwrap_or_else(|| {
        store
            .trial_dir(&record.id)
            .join(contract::layout::CHECKPOINTS)
    });
    // The record's thread count, so the check sums as the trial did.
    common::set_threads(Some(record.provenance.threads.max(1)), 1)?;
    let dataset = common::dataset(&RunOpts {
        sets: Vec::new(),
        device: DeviceChoice::Cpu,
        threads: None,
        data_dir: args.data_dir.clone(),
        no_verify: false,
    })?;
    reproduce::check(&record, &dataset.digest)?;
    let exported = onnx_export::export(&record, &checkpoints, weights, &dataset)?;
    store::write_output(&args.out, &exported.bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    for line in exported.lines(&record, weights, &args.out) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
