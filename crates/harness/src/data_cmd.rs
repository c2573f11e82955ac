//! `harness data ...` subcommands: the data crate's findings, printed.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use data::{DataSource, FashionMnist, Verification};

/// `harness data verify`: runs the strict reader on each file and compares
/// its SHA-256 with the published one. Exit 0 only if all four match.
pub fn verify(data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let source = locate(data_dir)?;
    println!("data folder: {} ({})", source.dir.display(), source.origin);
    let verification = Verification::of(&source.dir);
    for line in &verification.lines {
        println!("{line}");
    }
    match verification.error() {
        None => Ok(ExitCode::SUCCESS),
        Some(error) => {
            eprintln!("error: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `harness data info`: per-class counts of both splits and the training
/// set's pixel statistics.
pub fn info(data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let source = locate(data_dir)?;
    let data = FashionMnist::load(&source.dir, true)
        .with_context(|| format!("cannot load Fashion-MNIST from {}", source.dir.display()))?;
    println!("data folder: {} ({})", source.dir.display(), source.origin);
    for line in data.info_lines() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Finds the data folder, downloading it if nothing else has it.
fn locate(data_dir: Option<&Path>) -> anyhow::Result<DataSource> {
    data::locate(data_dir, None).context("cannot find the Fashion-MNIST files")
}
