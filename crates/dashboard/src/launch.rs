//! Starting the harness's own commands from the dashboard (`replicate`, `report`), behind
//! the small [`Launcher`] trait: the harness binary gives the dashboard a launcher that
//! runs the binary itself (so no library starts `harness replicate`), and tests drive the
//! dashboard with one that spawns something harmless.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Child;

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
    /// `replicate`'s `--max-trial-time` (`1800s`): the limit of the store's last run where it
    /// left variants out, so that a replicate started here leaves out the same ones.
    pub max_trial_time: Option<String>,
}

/// Starts tasks as child processes.
pub trait Launcher {
    /// Starts `task` with stdin closed and stdout and stderr going to `log`.
    fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child>;
}

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
    fn task_logs_go_to_the_experiments_work_folder() {
        assert_eq!(
            log_path(Path::new("runs"), "smoke", &Task::Report),
            Path::new("runs/smoke/.work/report.log")
        );
    }
}
