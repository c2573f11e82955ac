//! `harness parity`: parses the flags, loads the experiment reduced to `--archs`, checks
//! what can fail in seconds (the reports folder, the store, the dataset), then calls the
//! `parity` crate, which trains what each side lacks and writes `reports/parity.md`.

use crate::cli::{DeviceChoice, ParityArgs, RunOpts};
use crate::common;
use anyhow::{Context, bail};
use parity::{Note, ParityRequest};
use std::process::ExitCode;
use std::time::Instant;
use terminal::reporter::TerminalReporter;

pub fn run(args: ParityArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    let threads = match args.threads {
        Some(t) if t >= 1 => t,
        Some(t) => bail!("--threads {t}: must be at least 1"),
        None => cores,
    };
    // The experiment, reduced to --archs; its trials keep the full file's ids.
    let mut sets: Vec<String> = Vec::new();
    if let Some(e) = args.epochs {
        sets.push(format!("epochs={e}"));
    }
    if let Some(n) = args.train_limit {
        sets.push(format!("data.train_limit={n}"));
    }
    if let Some(n) = args.test_limit {
        sets.push(format!("data.test_limit={n}"));
    }
    let full = common::experiment(&args.config, &sets, args.seeds)?;
    let experiment = parity::select_variants(&args.config, &full, &args.archs)?;
    let store = common::store(&args.runs)?;
    store::ensure_writable_dir(&args.reports)?;
    store.ensure_writable()?;
    let dataset = common::dataset(&RunOpts {
        sets: Vec::new(),
        device: DeviceChoice::Cpu,
        threads: Some(threads),
        data_dir: args.data_dir.clone(),
        no_verify: false,
    })?;
    let request = ParityRequest {
        config: args.config.clone(),
        experiment,
        overrides: common::overrides(&sets)?,
        sets,
        store,
        threads,
        data_dir: dataset.dir.clone(),
        dataset_digest: dataset.digest.clone(),
        python: args.python.clone().unwrap_or_else(parity::default_python),
        reports: args.reports.clone(),
        program: std::env::current_exe().context("cannot find this program to run workers")?,
    };
    drop(dataset);
    let outcome = parity::run(&request, &mut TerminalReporter::new(), &|note| match note {
        Note::Info(line) => println!("{line}"),
        Note::Warning(line) => eprintln!("warning: {line}"),
        Note::Passed(line) => eprintln!("{line}"),
    })?;
    for a in &outcome.archs {
        match a.final_difference() {
            Some(d) => println!("{}: {}", a.arch, parity::difference_line(&d)),
            None => println!("{}: no comparison (a side has no finished run)", a.arch),
        }
    }
    println!(
        "wrote {} ({:.0} s)",
        outcome.report.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
