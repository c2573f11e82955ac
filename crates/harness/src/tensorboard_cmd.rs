//! `harness export tensorboard`: the store as TensorBoard runs (see
//! [`reporting::tensorboard_export`]), with what was left out of the means said.

use crate::common;
use reporting::tensorboard_export;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `harness export tensorboard`.
pub fn run(
    configs: &[PathBuf],
    runs: &Path,
    out: &Path,
    sets: &[String],
    seeds: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let records = common::exported_records(configs, runs, sets, seeds, Some(out))?;
    if records.is_empty() {
        println!("no trials to export in {}", runs.display());
        return Ok(ExitCode::SUCCESS);
    }
    let exported = tensorboard_export::export(&records, out, &store::provenance::host_name())?;
    for line in exported.lines(out) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
