//! `harness data ...` subcommands.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use data::{CLASS_NAMES, DataSource, FashionMnist, FileKind};

/// `harness data verify`: runs the strict reader on each file and compares
/// its SHA-256 with the published one. Exit 0 only if all four match.
pub fn verify(data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let source = locate(data_dir)?;
    println!("data folder: {} ({})", source.dir.display(), source.origin);

    let mut failures = Vec::new();
    for (kind, result) in FileKind::ALL.into_iter().zip(data::verify_dir(&source.dir)) {
        match result {
            Ok(report) => {
                let verdict = if report.matched { "MATCH" } else { "MISMATCH" };
                println!("{}", report.path.display());
                println!(
                    "  count {}  shape {:?}  sha256 {}  {verdict}",
                    report.count, report.shape, report.sha256
                );
                if !report.matched {
                    failures.push(format!(
                        "{}: SHA-256 mismatch: expected {}, found {}",
                        report.path.display(),
                        kind.expected_sha256(),
                        report.sha256
                    ));
                }
            }
            Err(err) => {
                let reason = err.chain_message();
                println!("{kind}\n  INVALID  {reason}");
                failures.push(reason);
            }
        }
    }

    match failures.as_slice() {
        [] => {
            println!(
                "all {} files match the published SHA-256",
                FileKind::ALL.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        [only] => {
            eprintln!("error: {only}");
            Ok(ExitCode::FAILURE)
        }
        [first, ..] => {
            eprintln!(
                "error: {} of {} files failed verification; first: {first}",
                failures.len(),
                FileKind::ALL.len()
            );
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
    println!("dataset digest: {}", data.digest);
    println!();

    let (train, test) = (data.train.class_counts(), data.test.class_counts());
    println!(
        "{:>5}  {:<12} {:>7} {:>7}",
        "label", "class", "train", "test"
    );
    for (label, name) in CLASS_NAMES.iter().enumerate() {
        println!(
            "{label:>5}  {name:<12} {:>7} {:>7}",
            train[label], test[label]
        );
    }
    println!(
        "{:>5}  {:<12} {:>7} {:>7}",
        "",
        "total",
        data.train.len(),
        data.test.len()
    );
    println!();

    let (mean, std) = data.train.pixel_mean_std();
    println!(
        "training pixels in [0, 1]: mean {mean:.4}, std {std:.4} (normalisation uses {:.4} / {:.4})",
        data::PIXEL_MEAN,
        data::PIXEL_STD
    );
    Ok(ExitCode::SUCCESS)
}

/// Finds the data folder, downloading it if nothing else has it.
fn locate(data_dir: Option<&Path>) -> anyhow::Result<DataSource> {
    data::locate(data_dir, None).context("cannot find the Fashion-MNIST files")
}
