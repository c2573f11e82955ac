//! The command line of `harness worker`, built in one place for every executor: the local
//! scheduler starts it per trial ([`WorkerInvocation::command`]), a Slurm array's script
//! `exec`s it with each task's [`WorkerTrial::args`] appended ([`WorkerInvocation::words`]).
//! The harness's CLI parser reads exactly what this writes (a test parses it back).
//!
//! The worker process's side, one trial claimed, run and published, needs libtorch: it is
//! `experiment::worker_process`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// The trial a worker runs, as the parent planned it (the worker recomputes the id and
/// refuses a mismatch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerTrial {
    /// The experiment file.
    pub config: PathBuf,
    /// The experiment's name as the parent planned it (checked by the worker).
    pub experiment: String,
    /// The variant's name.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// The trial id the parent computed.
    pub id: String,
}

impl WorkerTrial {
    /// `CONFIG --expect-experiment E --variant V --seed N --expect-id ID` (paths that are
    /// not UTF-8 are written lossily).
    pub fn args(&self) -> Vec<String> {
        vec![
            self.config.to_string_lossy().into_owned(),
            "--expect-experiment".into(),
            self.experiment.clone(),
            "--variant".into(),
            self.variant.clone(),
            "--seed".into(),
            self.seed.to_string(),
            "--expect-id".into(),
            self.id.clone(),
        ]
    }
}

/// Everything a `harness worker` process is started with.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerInvocation {
    /// The harness binary.
    pub program: PathBuf,
    /// The run store.
    pub runs: PathBuf,
    /// The trial; `None` for a Slurm array, whose script appends each task's.
    pub trial: Option<WorkerTrial>,
    /// `--max-tries` of a Slurm array task (the script adds `--slurm`).
    pub max_tries: Option<usize>,
    /// `--device`: `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// `--threads`, when set.
    pub threads: Option<i32>,
    /// `--set` overrides, in order.
    pub sets: Vec<String>,
    /// `--data-dir`, when set.
    pub data_dir: Option<PathBuf>,
    /// `--no-verify`.
    pub no_verify: bool,
}

impl WorkerInvocation {
    /// The arguments after the program: `worker [trial] --runs R [--max-tries N] --device
    /// D [--threads T] [--set S]... [--data-dir D] [--no-verify]`.
    pub fn args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec!["worker".into()];
        if let Some(trial) = &self.trial {
            out.push(trial.config.clone().into());
            out.extend(trial.args().into_iter().skip(1).map(OsString::from));
        }
        out.extend(["--runs".into(), self.runs.clone().into()]);
        if let Some(n) = self.max_tries {
            out.extend(["--max-tries".into(), n.to_string().into()]);
        }
        out.extend(["--device".into(), self.device.clone().into()]);
        if let Some(t) = self.threads {
            out.extend(["--threads".into(), t.to_string().into()]);
        }
        for set in &self.sets {
            out.extend(["--set".into(), set.clone().into()]);
        }
        if let Some(dir) = &self.data_dir {
            out.extend(["--data-dir".into(), dir.clone().into()]);
        }
        if self.no_verify {
            out.push("--no-verify".into());
        }
        out
    }

    /// The process to start.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.args());
        cmd
    }

    /// The program and its arguments as text, for a script (paths that are not UTF-8 are
    /// written lossily).
    pub fn words(&self) -> Vec<String> {
        std::iter::once(self.program.clone().into_os_string())
            .chain(self.args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slurm_invocation_leaves_the_trial_to_the_task() {
        let w = WorkerInvocation {
            program: "/bin/harness".into(),
            runs: "/s/runs".into(),
            trial: None,
            max_tries: Some(3),
            device: "cpu".into(),
            threads: None,
            sets: vec!["epochs=2".into()],
            data_dir: None,
            no_verify: false,
        };
        assert_eq!(
            w.words().join(" "),
            "/bin/harness worker --runs /s/runs --max-tries 3 --device cpu --set epochs=2"
        );
    }
}
