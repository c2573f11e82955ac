//! `harness tui`: the live dashboard over the run store (the `dashboard` crate). This
//! module only wires it to the command line: the terminal is set up and always restored by
//! `dashboard::run_in_terminal`, and the dashboard starts `replicate` and `report` by
//! running this same binary.

use crate::cli::TuiArgs;
use anyhow::Context;
use std::process::ExitCode;

/// Runs the dashboard until the user quits, then says what is left running.
pub fn run(args: TuiArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the harness binary")?;
    crate::common::store(&args.runs)?;
    crate::common::overrides(&args.sets)?;
    let mut options = dashboard::Options::new(
        args.configs,
        args.runs,
        Box::new(dashboard::ExeLauncher { exe }),
    );
    options.sets = args.sets;
    // SIGTERM and SIGHUP (the terminal closed) end the dashboard like `q` `l`: the
    // terminal is restored, and replicates started from it keep running.
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, options.shutdown.clone())
            .context("installing signal handlers")?;
    }
    let exit = dashboard::run_in_terminal(options)?;
    for line in exit.summary() {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
