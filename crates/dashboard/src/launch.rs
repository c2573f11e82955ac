//! Starting the harness's own commands from the dashboard (`replicate`, `report`), behind
//! the small [`Launcher`] trait so the dashboard can be driven in tests without spawning
//! anything real.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A command the dashboard starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Task {
    /// `harness replicate CONFIG --runs RUNS --reports REPORTS`.
    Replicate,
    /// `harness report CONFIG --runs RUNS --reports REPORTS`.
    Report,
}

impl Task {
    /// The subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            Task::Replicate => "replicate",
            Task::Report => "report",
        }
    }
}

/// What a task works on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskArgs {
    /// The experiment file.
    pub config: PathBuf,
    /// The run store.
    pub runs: PathBuf,
    /// The reports folder.
    pub reports: PathBuf,
    /// `--set` overrides, passed on as they were given.
    pub sets: Vec<String>,
}

/// Starts tasks as child processes.
pub trait Launcher {
    /// Starts `task` with stdin closed and stdout and stderr going to `log`.
    fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child>;
}

/// Runs the harness binary itself (`std::env::current_exe()` in the harness).
#[derive(Clone, Debug)]
pub struct ExeLauncher {
    /// The harness executable.
    pub exe: PathBuf,
}

impl ExeLauncher {
    /// The command line of `task`.
    pub fn command(&self, task: &Task, args: &TaskArgs) -> Command {
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
        cmd
    }
}

impl Launcher for ExeLauncher {
    fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child> {
        let mut cmd = self.command(task, args);
        detach(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
    }
}

/// Puts the child in its own process group, so that keys and signals meant for the
/// dashboard's terminal never reach it and it can outlive the dashboard.
#[cfg(unix)]
fn detach(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
}

#[cfg(not(unix))]
fn detach(_cmd: &mut Command) {}

/// Where the dashboard sends a task's output: `runs/<experiment>/.work/<task>.log`.
pub fn log_path(runs: &Path, experiment: &str, task: &Task) -> PathBuf {
    runs.join(experiment)
        .join(contract::layout::WORK)
        .join(format!("{}.log", task.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_config_store_and_reports() {
        let launcher = ExeLauncher {
            exe: "/bin/harness".into(),
        };
        let args = TaskArgs {
            config: "configs/smoke.ron".into(),
            runs: "/tmp/runs".into(),
            reports: "reports".into(),
            sets: vec!["epochs=1".into()],
        };
        let cmd = launcher.command(&Task::Replicate, &args);
        assert_eq!(cmd.get_program(), "/bin/harness");
        let argv: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().to_string())
            .collect();
        assert_eq!(
            argv,
            [
                "replicate",
                "configs/smoke.ron",
                "--runs",
                "/tmp/runs",
                "--reports",
                "reports",
                "--set",
                "epochs=1"
            ]
        );
        assert_eq!(
            log_path(Path::new("runs"), "smoke", &Task::Report),
            Path::new("runs/smoke/.work/report.log")
        );
    }
}
