//! `harness`: trains, replicates with seeds, reports and watches Fashion-MNIST
//! experiments. A thin layer over the library crates: argument parsing, terminal output
//! and process management live here; everything else is in `data`, `models`,
//! `augmentation`, `trainer`, `experiment` and `dashboard`.

mod bench_cmd;
mod cli;
mod common;
mod data_cmd;
mod progress;
mod replicate_cmd;
mod report_cmd;
mod train_cmd;
mod tui_cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Data { command } => match command {
            cli::DataCommand::Verify { data_dir } => data_cmd::verify(data_dir.as_deref()),
            cli::DataCommand::Info { data_dir } => data_cmd::info(data_dir.as_deref()),
        },
        cli::Command::Train(args) => train_cmd::run(args),
        cli::Command::Replicate(args) => replicate_cmd::run(args),
        cli::Command::Worker(args) => replicate_cmd::worker(args),
        cli::Command::Report(args) => report_cmd::run(args),
        cli::Command::Models(args) => report_cmd::models(args),
        cli::Command::BenchEpoch(args) => bench_cmd::run(args),
        cli::Command::Tui(args) => tui_cmd::run(args),
    }
}
