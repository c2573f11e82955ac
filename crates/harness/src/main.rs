//! `harness`: trains, replicates with seeds, reports and watches Fashion-MNIST
//! experiments. A thin layer over the library crates: clap's definitions (`cli`) and one
//! `*_cmd` module per command that parses, calls one library workflow
//! (`experiment::replicate::run` for local and Slurm runs, `reporting`, `parity`,
//! `dashboard`, ...) and prints. The terminal's own side (bars, signals, the one-line
//! error) is the `terminal` crate.

mod bench_cmd;
mod cli;
mod common;
mod data_cmd;
mod onnx_cmd;
mod parity_cmd;
mod replicate_cmd;
mod report_cmd;
mod reproduce_cmd;
mod seeds_cmd;
mod slurm_cmd;
mod tensorboard_cmd;
mod train_cmd;
mod tui_cmd;

use clap::Parser;
use std::process::ExitCode;

/// jemalloc, built with unprefixed symbols, is the allocator of the whole process:
/// Rust code through this declaration, and libtorch's C++ (its CPU tensors come from
/// `posix_memalign`) because the executable's exported `malloc` family takes precedence
/// over libc's. `scripts/setup.sh` compiles in `dirty_decay_ms:-1,muzzy_decay_ms:-1`, so
/// the activation buffers freed after each batch are reused rather than handed back to
/// the kernel and faulted in again. `MALLOC_CONF` still overrides it at run time.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    terminal::errors::install_stdout_hook();
    match run() {
        Ok(code) => code,
        // A closed standard output (`harness export csv | head`) ends quietly.
        Err(err) if terminal::errors::closed_pipe(err.as_ref()) => {
            ExitCode::from(terminal::errors::CLOSED_PIPE_EXIT as u8)
        }
        Err(err) => {
            eprintln!("error: {}", terminal::errors::one_line(err.as_ref()));
            if err.downcast_ref::<common::UsageError>().is_some() {
                ExitCode::from(contract::exit::USAGE)
            } else {
                ExitCode::from(contract::exit::FAILURE)
            }
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    // Before anything touches libtorch: it settles at the first CUDA question whether it
    // has a CUDA backend. Without an NVIDIA driver nothing is opened (no CUDA libraries
    // mapped, about 120 MiB less resident memory).
    if let Err(err) = cuda_loader::load_if_driver_present() {
        eprintln!("warning: {err}; CUDA is not available to this run");
    }
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Data { command } => match command {
            cli::DataCommand::Verify { data_dir } => data_cmd::verify(data_dir.as_deref()),
            cli::DataCommand::Info { data_dir } => data_cmd::info(data_dir.as_deref()),
        },
        cli::Command::Train(args) => train_cmd::run(args),
        cli::Command::Replicate(args) => replicate_cmd::run(args),
        cli::Command::Worker(args) => replicate_cmd::worker(args),
        cli::Command::Reproduce(args) => reproduce_cmd::run(args),
        cli::Command::Status(args) => slurm_cmd::status(args),
        cli::Command::Cancel(args) => slurm_cmd::cancel(args),
        cli::Command::Report(args) => report_cmd::run(args),
        cli::Command::Seeds(args) => seeds_cmd::run(args),
        cli::Command::Export { command } => match command {
            cli::ExportCommand::Csv {
                configs,
                runs,
                out,
                sets,
                seeds,
            } => report_cmd::export_csv(&configs, &runs, out.as_deref(), &sets, seeds),
            cli::ExportCommand::Records {
                configs,
                runs,
                out,
                sets,
                seeds,
            } => report_cmd::export_records(&configs, &runs, &out, &sets, seeds),
            cli::ExportCommand::Tensorboard {
                configs,
                runs,
                out,
                sets,
                seeds,
            } => tensorboard_cmd::run(&configs, &runs, &out, &sets, seeds),
            cli::ExportCommand::Onnx(args) => onnx_cmd::run(args),
        },
        cli::Command::Models(args) => report_cmd::models(args),
        cli::Command::Parity(args) => parity_cmd::run(args),
        cli::Command::BenchEpoch(args) => bench_cmd::run(args),
        cli::Command::Tui(args) => tui_cmd::run(args),
    }
}
