//! `harness tui`: the live dashboard over the run store (the `dashboard` crate). This
//! module only wires it to the command line: the terminal is set up and always restored by
//! `dashboard::run_in_terminal`, and the dashboard starts `replicate` and `report` by
//! running this same binary ([`ExeLauncher`]).

use crate::cli::TuiArgs;
use anyhow::Context;
use dashboard::launch::{Launcher, Task, TaskArgs};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};

/// Runs this harness binary for the dashboard's tasks.
struct ExeLauncher {
    exe: PathBuf,
}

impl ExeLauncher {
    /// `harness <task> CONFIG --runs RUNS --reports REPORTS [--set S]... [--max-trial-time T]`.
    fn command(&self, task: &Task, args: &TaskArgs) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.arg(task.name())
            .arg(&args.config)
            .arg("--runs")
            .arg(&args.runs)
            .arg("--reports")
            .arg(&args.reports);
        for set in &args.sets {
            cmd.arg("--set").arg(set);
        }
        if let (Task::Replicate, Some(limit)) = (task, &args.max_trial_time) {
            cmd.arg("--max-trial-time").arg(limit);
        }
        cmd
    }
}

impl Launcher for ExeLauncher {
    /// The child gets its own process group, so that keys and signals meant for the
    /// dashboard's terminal never reach it and it can outlive the dashboard.
    fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child> {
        self.command(task, args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
    }
}

/// Runs the dashboard until the user quits, then says what is left running.
pub fn run(args: TuiArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the harness binary")?;
    crate::common::store(&args.runs)?;
    crate::common::overrides(&args.sets)?;
    let mut options =
        dashboard::Options::new(args.configs, args.runs, Box::new(ExeLauncher { exe }));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_config_store_reports_and_overrides() {
        let launcher = ExeLauncher {
            exe: "/bin/harness".into(),
        };
        let args = TaskArgs {
            config: "configs/smoke.ron".into(),
            runs: "/tmp/runs".into(),
            reports: "reports".into(),
            sets: vec!["epochs=1".into()],
            max_trial_time: Some("1800s".into()),
        };
        let cmd = launcher.command(&Task::Replicate, &args);
        assert_eq!(cmd.get_program(), "/bin/harness");
        let argv: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        let expected = "replicate configs/smoke.ron --runs /tmp/runs --reports reports --set epochs=1 --max-trial-time 1800s";
        assert_eq!(argv.join(" "), expected);
        // The harness's own parser reads it back.
        use clap::Parser;
        let parsed = crate::cli::Cli::try_parse_from(std::iter::once("harness".into()).chain(argv));
        match parsed
            .expect("the parser reads the dashboard's line")
            .command
        {
            crate::cli::Command::Replicate(r) => {
                assert_eq!(r.configs, [PathBuf::from("configs/smoke.ron")]);
                assert_eq!(r.runs, PathBuf::from("/tmp/runs"));
                assert_eq!(r.reports, PathBuf::from("reports"));
                assert_eq!(r.run.sets, ["epochs=1"]);
                assert_eq!(r.max_trial_time, Some(std::time::Duration::from_secs(1800)));
            }
            other => panic!("not a replicate: {other:?}"),
        }
    }
}
