//! The Slurm executor: one job array per submission, each array task running
//! `harness worker` for one trial on the shared store.
//!
//! - A **submission** is kept as `runs/<experiment>/.slurm/<job>.json` ([`Submission`]):
//!   the array's job id and, per array index, the trial (variant, seed, id). With the
//!   store's claims it tells what is queued, running or done without any Slurm accounting.
//! - Each task writes its output to `runs/<experiment>/.slurm/logs/<job>_<index>.log`
//!   ([`Submission::task_log`]; a submission of several experiment files logs into the
//!   first one's), beside the trial, so `status`, the dashboard and reports need nothing
//!   but the store.
//! - **Attempts** of a trial under Slurm are appended to
//!   `runs/<experiment>/.slurm/attempts/<id>.jsonl` ([`Attempt`]); a trial whose attempts
//!   failed [`Attempts::failures`] times reaches the bound and is not run again until the
//!   user asks (`--retry-failed`).
//! - Live state comes from `squeue` (one line per array task with `-r`).

mod settings;
mod status;
mod submit;

pub use settings::*;
pub use status::*;
pub use submit::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use store::{StoreError, write_atomic};

/// Errors of the Slurm executor.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm command could not be started (Slurm not installed here).
    #[error("`{command}` could not be run ({source}); is Slurm installed and on PATH?")]
    Missing {
        /// The command.
        command: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A Slurm command failed.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Experiment files of one submission disagree on a Slurm setting.
    #[error(
        "{} and {} give different slurm.{setting}; one submission takes one (give {flag} on the command line, or submit them apart)",
        first.display(),
        other.display()
    )]
    Disagree {
        /// The first file.
        first: PathBuf,
        /// A file that disagrees with it.
        other: PathBuf,
        /// The setting, e.g. `max_tries`.
        setting: &'static str,
        /// The flag that decides it.
        flag: &'static str,
    },
    /// `--max-tries 0` (or `max_tries: 0`).
    #[error("--max-tries 0: must be at least 1")]
    ZeroTries,
    /// Cancelled tasks still in the queue after the wait.
    #[error("{tasks} task(s) still in the queue after {} s", waited.as_secs())]
    StillQueued {
        /// How many.
        tasks: usize,
        /// How long it waited.
        waited: std::time::Duration,
    },
    /// A submission file does not parse.
    #[error("{path}: {message}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// One array task of a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Array index.
    pub index: usize,
    /// The experiment whose worker runs it: of a submission of several experiment files,
    /// the first that has the trial (empty in files written before unions existed).
    #[serde(default)]
    pub experiment: String,
    /// That experiment's file, absolute.
    #[serde(default)]
    pub config: PathBuf,
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// Trial id.
    pub id: String,
}

/// A submitted job array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The array's job id.
    pub job: String,
    /// Unix seconds of submission.
    pub submitted: u64,
    /// The tasks, by array index: of a submission of several experiment files, this
    /// experiment's trials only (a shared trial has one task, listed in each experiment).
    pub tasks: Vec<Task>,
    /// The folder of the tasks' logs when it is another experiment's (a submission of
    /// several experiment files logs into the first one's `.slurm/logs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<PathBuf>,
}

impl Submission {
    /// The output file of array task `index`, for the experiment folder `experiment_dir`
    /// that holds this submission.
    pub fn task_log(&self, experiment_dir: &Path, index: usize) -> PathBuf {
        self.logs
            .clone()
            .unwrap_or_else(|| dir(experiment_dir).join("logs"))
            .join(format!("{}_{index}.log", self.job))
    }
}

/// What a submission needs to render its batch script.
#[derive(Clone, Debug)]
pub struct ScriptSpec<'a> {
    /// The job's name, after `harness-` (the experiment's name, or several joined).
    pub name: &'a str,
    /// The tasks.
    pub tasks: &'a [Task],
    /// Array throttle (`%N`), if any.
    pub throttle: Option<usize>,
    /// `--signal` value (e.g. `B:USR1@120`).
    pub signal: &'a str,
    /// Extra `#SBATCH` options, passed through.
    pub sbatch: &'a [String],
    /// Where task output goes (`logs/` in it): the (first) experiment's `.slurm/`.
    pub slurm_dir: &'a Path,
    /// The worker command before the per-task arguments: binary, `worker` and the shared
    /// options (`--runs`, `--device`, `--set`, ...).
    pub worker: &'a [String],
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The batch script of a submission: `#SBATCH` lines, then a table from array index to
/// trial, then `exec harness worker ...` so that the worker itself is the batch shell and
/// receives `--signal=B:USR1@N` (Slurm signals only the batch shell).
pub fn render_script(spec: &ScriptSpec) -> String {
    let mut s = String::from("#!/bin/bash\n");
    let last = spec.tasks.len().saturating_sub(1);
    let throttle = spec.throttle.map(|n| format!("%{n}")).unwrap_or_default();
    let _ = writeln!(
        s,
        "#SBATCH --job-name={}",
        shell_quote(&format!("harness-{}", spec.name))
    );
    let _ = writeln!(s, "#SBATCH --array=0-{last}{throttle}");
    let _ = writeln!(s, "#SBATCH --signal={}", spec.signal);
    let _ = writeln!(s, "#SBATCH --requeue");
    let _ = writeln!(s, "#SBATCH --open-mode=append");
    let _ = writeln!(
        s,
        "#SBATCH --output={}",
        spec.slurm_dir.join("logs").join("%A_%a.log").display()
    );
    for option in spec.sbatch {
        let _ = writeln!(s, "#SBATCH {option}");
    }
    let _ = writeln!(
        s,
        "# Generated by `harness replicate --slurm`: one array task per trial of `{}`.",
        spec.name
    );
    let _ = writeln!(s, "set -euo pipefail");
    let _ = writeln!(s, "case \"$SLURM_ARRAY_TASK_ID\" in");
    for t in spec.tasks {
        let trial = crate::worker::WorkerTrial {
            config: t.config.clone(),
            experiment: t.experiment.clone(),
            variant: t.variant.clone(),
            seed: t.seed,
            id: t.id.clone(),
        };
        let args: Vec<String> = trial.args().iter().map(|a| shell_quote(a)).collect();
        let _ = writeln!(s, "  {}) args=({}) ;;", t.index, args.join(" "));
    }
    let _ = writeln!(
        s,
        "  *) echo \"no trial for array index $SLURM_ARRAY_TASK_ID\" >&2; exit 1 ;;\nesac"
    );
    let worker: Vec<String> = spec.worker.iter().map(|a| shell_quote(a)).collect();
    let _ = writeln!(
        s,
        "echo \"$(date -u +%FT%TZ) task $SLURM_ARRAY_TASK_ID on $(hostname) (try $((${{SLURM_RESTART_COUNT:-0}} + 1))): ${{args[*]}}\""
    );
    let _ = writeln!(s, "exec {} \"${{args[@]}}\" --slurm", worker.join(" "));
    s
}

/// `runs/<experiment>/.slurm` for the experiment folder `experiment_dir`.
pub fn dir(experiment_dir: &Path) -> PathBuf {
    experiment_dir.join(contract::layout::SLURM)
}

fn run(command: &mut Command) -> Result<String, SlurmError> {
    let line = format!("{command:?}").replace('"', "");
    let out = command.output().map_err(|source| SlurmError::Missing {
        command: line.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(SlurmError::Failed {
            command: line,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submits `script` with `sbatch --parsable`, returns the job id.
pub fn sbatch(script: &Path) -> Result<String, SlurmError> {
    let out = run(Command::new("sbatch").arg("--parsable").arg(script))?;
    // `--parsable` prints `<job>` or `<job>;<cluster>`.
    Ok(out.trim().split(';').next().unwrap_or_default().to_string())
}

/// Cancels `jobs` (all their array tasks) in one `scancel`.
pub fn scancel(jobs: &[String]) -> Result<(), SlurmError> {
    run(Command::new("scancel").args(jobs)).map(|_| ())
}

/// `harness cancel` of one experiment: `scancel` every live job of its submissions, then
/// waits (up to `wait`) until their tasks have left the queue. Workers stop after their
/// current batch and release their claims, so each trial resumes from its last
/// checkpoint. `say` gets what is done, `warn` a failed `scancel` (a job that ended
/// meanwhile is not worth stopping for).
pub fn cancel(
    experiment_dir: &Path,
    name: &str,
    wait: std::time::Duration,
    say: &mut dyn FnMut(String),
    warn: &mut dyn FnMut(String),
) -> Result<(), SlurmError> {
    let subs = submissions(experiment_dir)?;
    let queued = squeue(&subs.iter().map(|s| s.job.clone()).collect::<Vec<_>>())?;
    let mut jobs: Vec<String> = queued.iter().map(|q| q.job.clone()).collect();
    jobs.sort();
    jobs.dedup();
    if jobs.is_empty() {
        say(format!("{name}: no queued or running Slurm task"));
        return Ok(());
    }
    if let Err(e) = scancel(&jobs) {
        warn(e.to_string());
    }
    say(format!(
        "{name}: cancelled job(s) {} ({} task(s)); waiting for them to stop",
        jobs.join(", "),
        queued.len()
    ));
    wait_gone(&jobs, wait)?;
    say(format!(
        "{name}: stopped; unfinished trials resume from their last checkpoint on the next replicate"
    ));
    Ok(())
}

/// Waits until no task of `jobs` is in Slurm's queue (polling `squeue` every half second),
/// for at most `wait`.
pub fn wait_gone(jobs: &[String], wait: std::time::Duration) -> Result<(), SlurmError> {
    let start = std::time::Instant::now();
    loop {
        let left = squeue(jobs)?;
        if left.is_empty() {
            return Ok(());
        }
        if start.elapsed() > wait {
            return Err(SlurmError::StillQueued {
                tasks: left.len(),
                waited: wait,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Requeues this process's own job (`SLURM_JOB_ID`), e.g. when preempted.
pub fn requeue_self() -> Result<Option<String>, SlurmError> {
    let Ok(job) = std::env::var("SLURM_JOB_ID") else {
        return Ok(None);
    };
    run(Command::new("scontrol").args(["requeue", &job]))?;
    Ok(Some(job))
}

/// One array task as `squeue` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    /// The array's job id.
    pub job: String,
    /// Array index.
    pub index: usize,
    /// `PENDING`, `RUNNING`, `COMPLETING`, ...
    pub state: String,
    /// The reason column (why pending, or the node list when running).
    pub reason: String,
}

/// Parses `squeue -h -r -o '%F|%K|%T|%R'` output (one line per array task). Pending
/// tasks that squeue still folds into a range (`2-3%2`) are expanded.
pub fn parse_squeue(text: &str) -> Vec<Queued> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.trim().splitn(4, '|').collect();
        let [job, index, state, reason] = parts[..] else {
            continue;
        };
        let index = index.trim_start_matches('[').trim_end_matches(']');
        let index = index.split('%').next().unwrap_or_default();
        for range in index.split(',') {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) else {
                continue;
            };
            for i in a..=b {
                out.push(Queued {
                    job: job.to_string(),
                    index: i,
                    state: state.to_string(),
                    reason: reason.to_string(),
                });
            }
        }
    }
    out
}

/// The live array tasks of `jobs` (an empty list when none is queued or running).
pub fn squeue(jobs: &[String]) -> Result<Vec<Queued>, SlurmError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let text =
        run(Command::new("squeue").args(["-h", "-r", "-o", "%F|%K|%T|%R", "-j", &jobs.join(",")]));
    match text {
        Ok(text) => Ok(parse_squeue(&text)),
        // squeue fails for a list of only ended jobs ("Invalid job id specified").
        Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Whether a task that Slurm reports ended in `state` with `exit_code` (`code:signal`)
/// failed: not when it completed, was cancelled (`harness cancel`), or its worker exited
/// [`contract::exit::STOPPED`] (stopped on request) or [`contract::exit::SKIPPED`] (the
/// trial was done or held elsewhere).
pub fn task_failed(state: &str, exit_code: &str) -> bool {
    let failing = matches!(
        state,
        "FAILED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE"
    );
    let code = exit_code
        .split(':')
        .next()
        .and_then(|c| c.parse::<u8>().ok());
    failing
        && !matches!(
            code,
            Some(contract::exit::STOPPED | contract::exit::SKIPPED)
        )
}

/// Per array task of `job` that Slurm still remembers (`scontrol show job`, kept for
/// `MinJobAge`): `(index, JobState, ExitCode)`.
pub fn scontrol_states(job: &str) -> Vec<(usize, String, String)> {
    let Ok(text) = run(Command::new("scontrol").args(["show", "job", "-o", job])) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name))
                    .map(str::to_string)
            };
            Some((
                field("ArrayTaskId=")?.parse().ok()?,
                field("JobState=")?,
                field("ExitCode=").unwrap_or_default(),
            ))
        })
        .collect()
}

/// Writes a submission record.
pub fn save(experiment_dir: &Path, submission: &Submission) -> Result<PathBuf, SlurmError> {
    let path = dir(experiment_dir).join(format!("{}.json", submission.job));
    let mut json = serde_json::to_string_pretty(submission).expect("serialises");
    json.push('\n');
    write_atomic(&path, json.as_bytes())?;
    Ok(path)
}

/// Every submission of an experiment, oldest first.
pub fn submissions(experiment_dir: &Path) -> Result<Vec<Submission>, SlurmError> {
    let dir = dir(experiment_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StoreError::Io { path: dir, source }.into()),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| StoreError::Io {
            path: path.clone(),
            source,
        })?;
        let s: Submission = serde_json::from_str(&text).map_err(|e| SlurmError::BadFile {
            path: path.clone(),
            message: e.to_string(),
        })?;
        out.push(s);
    }
    out.sort_by_key(|s| (s.submitted, s.job.parse::<u64>().unwrap_or(u64::MAX)));
    Ok(out)
}

/// How one attempt of a trial under Slurm ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptEnd {
    /// Recorded (finished or diverged).
    Recorded,
    /// Stopped (preempted, cancelled, time limit): resumes; not a failure.
    Stopped,
    /// Failed with this message.
    Failed(String),
}

/// One line of `.slurm/attempts/<id>.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The job (`<array>_<index>`).
    pub job: String,
    /// Unix seconds.
    pub at: u64,
    /// `None` on the line written when the attempt starts.
    pub end: Option<AttemptEnd>,
}

/// A trial's attempts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attempts(pub Vec<Attempt>);

impl Attempts {
    /// Attempts that failed: ended `Failed`, or started and never ended while a later
    /// attempt started (a crash, an OOM kill).
    pub fn failures(&self) -> usize {
        let mut failures = 0;
        let mut open = false;
        for a in &self.0 {
            match &a.end {
                None => {
                    if open {
                        failures += 1;
                    }
                    open = true;
                }
                Some(AttemptEnd::Failed(_)) => {
                    failures += 1;
                    open = false;
                }
                Some(_) => open = false,
            }
        }
        failures
    }

    /// The last failure's message, if any.
    pub fn last_failure(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|a| match &a.end {
            Some(AttemptEnd::Failed(m)) => Some(m.as_str()),
            _ => None,
        })
    }
}

fn attempts_path(experiment_dir: &Path, id: &str) -> PathBuf {
    dir(experiment_dir)
        .join("attempts")
        .join(format!("{id}.jsonl"))
}

/// Appends one attempt line (the caller holds the trial's claim).
pub fn record_attempt(
    experiment_dir: &Path,
    id: &str,
    attempt: &Attempt,
) -> Result<(), SlurmError> {
    let path = attempts_path(experiment_dir, id);
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io)?;
    let mut line = serde_json::to_string(attempt).expect("serialises");
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

/// The attempts of trial `id` (lines that do not parse, e.g. cut by a crash, are skipped).
pub fn attempts(experiment_dir: &Path, id: &str) -> Attempts {
    let text = std::fs::read_to_string(attempts_path(experiment_dir, id)).unwrap_or_default();
    Attempts(
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    )
}

/// Forgets the attempts of trial `id` (`--retry-failed`).
pub fn clear_attempts(experiment_dir: &Path, id: &str) {
    let _ = std::fs::remove_file(attempts_path(experiment_dir, id));
}

/// The last `n` lines of a file ("" if it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    progress::format::last_lines(&std::fs::read_to_string(path).unwrap_or_default(), n)
}

/// Trial id -> (job, index, state) for every task of `submissions` that squeue lists.
pub fn live_tasks(
    submissions: &[Submission],
    queued: &[Queued],
) -> BTreeMap<String, (String, usize, String)> {
    let mut live = BTreeMap::new();
    for q in queued {
        if let Some(task) = submissions
            .iter()
            .filter(|s| s.job == q.job)
            .flat_map(|s| s.tasks.iter())
            .find(|t| t.index == q.index)
        {
            live.insert(task.id.clone(), (q.job.clone(), q.index, q.state.clone()));
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_expand_pending_ranges() {
        let text = "6|[2-3%2]|PENDING|(JobArrayTaskLimit)\n6|0|RUNNING|localhost\n7|[0,4-5]|PENDING|(Priority)\n";
        let q = parse_squeue(text);
        let got: Vec<(String, usize, &str)> = q
            .iter()
            .map(|q| (q.job.clone(), q.index, q.state.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("6".into(), 2, "PENDING"),
                ("6".into(), 3, "PENDING"),
                ("6".into(), 0, "RUNNING"),
                ("7".into(), 0, "PENDING"),
                ("7".into(), 4, "PENDING"),
                ("7".into(), 5, "PENDING"),
            ]
        );
    }

    #[test]
    fn cancelled_and_stopped_tasks_are_not_failures() {
        assert!(task_failed("FAILED", "1:0"));
        assert!(task_failed("TIMEOUT", "0:15"));
        assert!(!task_failed("FAILED", "4:0"), "stopped on request");
        assert!(!task_failed("FAILED", "5:0"), "done or held elsewhere");
        assert!(!task_failed("CANCELLED", "0:15"));
        assert!(!task_failed("COMPLETED", "0:0"));
    }

    #[test]
    fn failures_count_failed_and_crashed_attempts_not_stops() {
        let at = |end| Attempt {
            job: "1_0".into(),
            at: 0,
            end,
        };
        let a = Attempts(vec![
            at(None),
            at(Some(AttemptEnd::Stopped)),
            at(None),
            // crashed: no end line before the next start
            at(None),
            at(Some(AttemptEnd::Failed("boom".into()))),
        ]);
        assert_eq!(a.failures(), 2);
        assert_eq!(a.last_failure(), Some("boom"));
    }

    #[test]
    fn scripts_quote_names_and_exec_the_worker() {
        let tasks = [Task {
            index: 0,
            experiment: "smoke".into(),
            config: "/c/it's.ron".into(),
            variant: "all vary".into(),
            seed: 3,
            id: "ab".repeat(32),
        }];
        let worker = vec![
            "/bin/harness".to_string(),
            "worker".into(),
            "--runs".into(),
            "/s/runs".into(),
        ];
        let s = render_script(&ScriptSpec {
            name: "smoke",
            tasks: &tasks,
            throttle: Some(2),
            signal: "B:USR1@120",
            sbatch: &["--partition=gpu".into()],
            slurm_dir: Path::new("/s/runs/smoke/.slurm"),
            worker: &worker,
        });
        assert!(s.contains("#SBATCH --array=0-0%2\n"), "{s}");
        assert!(s.contains("#SBATCH --signal=B:USR1@120\n"), "{s}");
        assert!(s.contains("#SBATCH --partition=gpu\n"), "{s}");
        assert!(
            s.contains(
                "0) args=('/c/it'\\''s.ron' --expect-experiment smoke --variant 'all vary' --seed 3"
            ),
            "{s}"
        );
        assert!(
            s.contains("exec /bin/harness worker --runs /s/runs \"${args[@]}\" --slurm"),
            "{s}"
        );
    }
}
