//! `replicate --slurm` as a library call: [`prepare`] plans the union of one or several
//! experiment files and says where each trial stands (done, live in Slurm, held by another
//! process, failed too often, or to submit; a trial shared by several files is one task),
//! and renders the batch script; [`submit`] hands it to `sbatch` and keeps the submission
//! in every experiment's `.slurm/` folder, so `status` and `cancel` of any one of them see
//! it.

use super::{
    SlurmError, Submission, Task, attempts, clear_attempts, dir, live_tasks, render_script, save,
    sbatch, squeue, submissions,
};
use crate::worker::WorkerInvocation;
use spec::Experiment;
use spec::plan::{PlannedTrial, plan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::Store;
use store::TrialState;
use store::{StoreError, write_atomic};

/// What `replicate --slurm` submits.
pub struct SubmitRequest<'a> {
    /// The experiment files (absolute), each with its experiment loaded with the overrides.
    pub experiments: &'a [(PathBuf, Experiment)],
    /// The run store.
    pub store: &'a Store,
    /// The dataset's digest (part of every trial id).
    pub dataset_digest: &'a str,
    /// Failed attempts after which a trial is not submitted again.
    pub max_tries: usize,
    /// Submit trials that failed `max_tries` times too (their attempts are cleared).
    pub retry_failed: bool,
    /// Tasks of the array at once.
    pub throttle: usize,
    /// Slurm's warning signal, e.g. `B:USR1@120`.
    pub signal: &'a str,
    /// `#SBATCH` options.
    pub sbatch: &'a [String],
    /// The worker's shared command line (no trial; the script appends each task's).
    pub worker: &'a WorkerInvocation,
    /// Plan only: Slurm's queue is read if it can be, nothing is submitted.
    pub dry_run: bool,
}

/// Where a planned trial stands before a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Recorded in the store.
    Done,
    /// Queued or running in a live task of an earlier submission.
    InSlurm {
        /// The job.
        job: String,
        /// The array index.
        index: usize,
        /// Slurm's state, e.g. `PENDING`.
        state: String,
    },
    /// Held by a live claim of another process.
    HeldElsewhere,
    /// Its attempts failed `max_tries` times (`--retry-failed` submits it again).
    Failed,
    /// In this submission.
    ToSubmit,
}

/// One experiment file's trials and where each stands.
pub struct ExperimentStanding {
    /// The experiment's name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// Its trials, seed-major.
    pub trials: Vec<(PlannedTrial, Standing)>,
}

impl ExperimentStanding {
    /// How many of its trials stand as `pick` says.
    pub fn count(&self, pick: fn(&Standing) -> bool) -> usize {
        self.trials.iter().filter(|(_, s)| pick(s)).count()
    }

    /// What `replicate --slurm` says of it: a line per trial already in Slurm or failed,
    /// then the counts (`shown`: its file as the user gave it).
    pub fn lines(&self, shown: &Path, max_tries: usize) -> Vec<String> {
        let mut lines: Vec<String> = self
            .trials
            .iter()
            .filter_map(|(t, standing)| {
                let what = format!(
                    "  {} {} seed {}",
                    t.spec.short_id(),
                    t.spec.variant.name,
                    t.spec.seed
                );
                match standing {
                    Standing::InSlurm { job, index, state } => Some(format!(
                        "{what}: {} in job {job}_{index}",
                        state.to_lowercase()
                    )),
                    Standing::Failed => Some(format!(
                        "{what}: failed {max_tries} times, not submitted (--retry-failed to try again)"
                    )),
                    _ => None,
                }
            })
            .collect();
        lines.push(format!(
            "{} ({}): {} trials: {} done, {} queued or running in Slurm, {} running elsewhere, {} failed, {} to submit",
            self.name,
            shown.display(),
            self.trials.len(),
            self.count(|s| *s == Standing::Done),
            self.count(|s| matches!(s, Standing::InSlurm { .. })),
            self.count(|s| *s == Standing::HeldElsewhere),
            self.count(|s| *s == Standing::Failed),
            self.count(|s| *s == Standing::ToSubmit),
        ));
        lines
    }
}

/// A submission prepared: each experiment's standing, the union's tasks and the script.
pub struct PreparedArray {
    /// Per experiment file, in the order given.
    pub experiments: Vec<ExperimentStanding>,
    /// The union's tasks to submit, each trial once.
    pub tasks: Vec<Task>,
    /// The batch script.
    pub script: String,
    /// Where the tasks log: the first experiment's `.slurm/` folder.
    pub slurm_dir: PathBuf,
}

impl PreparedArray {
    /// What `replicate --slurm` says before submitting: each experiment's [`lines`]
    /// (`shown`: the files as the user gave them, in order), the union's count when there
    /// are several, and "nothing to submit" when no task is left.
    ///
    /// [`lines`]: ExperimentStanding::lines
    pub fn lines(&self, shown: &[PathBuf], max_tries: usize) -> Vec<String> {
        let mut lines: Vec<String> = self
            .experiments
            .iter()
            .zip(shown)
            .flat_map(|(e, shown)| e.lines(shown, max_tries))
            .collect();
        if self.experiments.len() > 1 {
            lines.push(format!(
                "{} experiment files: {} unique trial(s) to submit as one array",
                self.experiments.len(),
                self.tasks.len()
            ));
        }
        if self.tasks.is_empty() {
            lines.push("nothing to submit".into());
        }
        lines
    }
}

/// A submitted array.
pub struct Submitted {
    /// The job id.
    pub job: String,
    /// The script as submitted, kept as `<slurm_dir>/<job>.sh`.
    pub script: PathBuf,
    /// Each task's log, with `<task>` for the index.
    pub logs: PathBuf,
}

impl Submitted {
    /// What `replicate --slurm` says once submitted: the job, its tasks and throttle, the
    /// script, and where the tasks log and how to follow them (`shown`: the files as given).
    pub fn lines(&self, array: &PreparedArray, throttle: usize, shown: &[PathBuf]) -> Vec<String> {
        vec![
            format!(
                "submitted job array {} ({} task(s), at most {throttle} at once); script {}",
                self.job,
                array.tasks.len(),
                self.script.display()
            ),
            format!(
                "each task logs to {}; follow with `harness status {}` or `harness tui`",
                self.logs.display(),
                shown
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ]
    }
}

fn absolute(path: &Path) -> Result<PathBuf, SlurmError> {
    std::path::absolute(path).map_err(|source| {
        SlurmError::Store(StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// The job's name: the experiments' names joined by `+`, or the first and a count when
/// that grows long.
fn job_name(experiments: &[(PathBuf, Experiment)]) -> String {
    let names: Vec<&str> = experiments.iter().map(|(_, e)| e.name.as_str()).collect();
    let joined = names.join("+");
    if joined.len() <= 48 || names.len() == 1 {
        joined
    } else {
        format!("{}+{}-more", names[0], names.len() - 1)
    }
}

/// Plans the union of the request's experiments against the store and Slurm's queue (in
/// a dry run an unreachable Slurm counts as an empty queue).
pub fn prepare(request: &SubmitRequest) -> Result<PreparedArray, SlurmError> {
    let store = request.store;
    if request.experiments.is_empty() {
        return Err(SlurmError::BadFile {
            path: PathBuf::new(),
            message: "no experiment file to submit".into(),
        });
    }
    let dirs: Vec<PathBuf> = request
        .experiments
        .iter()
        .map(|(_, e)| store.experiment_dir(&e.name))
        .collect();
    // Live tasks of every experiment's earlier submissions: a shared trial queued through
    // one file is not submitted again through another.
    let mut live = BTreeMap::new();
    for exp_dir in &dirs {
        let found = submissions(exp_dir).and_then(|subs| {
            let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
            Ok((squeue(&jobs)?, subs))
        });
        let (queued, subs) = match found {
            Ok(found) => found,
            Err(_) if request.dry_run => Default::default(),
            Err(e) => return Err(e),
        };
        live.extend(live_tasks(&subs, &queued));
    }
    let failures = |id: &str| {
        dirs.iter()
            .map(|d| attempts(d, id).failures())
            .max()
            .unwrap_or(0)
    };
    let mut tasks: Vec<Task> = Vec::new();
    let mut experiments = Vec::new();
    for (path, experiment) in request.experiments {
        let mut trials = Vec::new();
        for t in plan(experiment, request.dataset_digest, store) {
            let id = t.spec.id.as_str();
            let standing = if t.state == TrialState::Done {
                Standing::Done
            } else if let Some((job, index, state)) = live.get(id) {
                Standing::InSlurm {
                    job: job.clone(),
                    index: *index,
                    state: state.clone(),
                }
            } else if t.state == TrialState::Running {
                Standing::HeldElsewhere
            } else if failures(id) >= request.max_tries && !request.retry_failed {
                Standing::Failed
            } else {
                if !tasks.iter().any(|task| task.id == id) {
                    tasks.push(Task {
                        index: tasks.len(),
                        experiment: experiment.name.clone(),
                        config: path.clone(),
                        variant: t.spec.variant.name.clone(),
                        seed: t.spec.seed,
                        id: id.to_owned(),
                    });
                }
                Standing::ToSubmit
            };
            trials.push((t, standing));
        }
        experiments.push(ExperimentStanding {
            name: experiment.name.clone(),
            path: path.clone(),
            trials,
        });
    }
    let slurm_dir = dir(&absolute(&dirs[0])?);
    let script = render_script(&super::ScriptSpec {
        name: &job_name(request.experiments),
        tasks: &tasks,
        throttle: (request.throttle > 1 || tasks.len() > 1).then_some(request.throttle),
        signal: request.signal,
        sbatch: request.sbatch,
        slurm_dir: &slurm_dir,
        worker: &request.worker.words(),
    });
    Ok(PreparedArray {
        experiments,
        tasks,
        script,
        slurm_dir,
    })
}

/// Submits a prepared array's tasks (it must have some) as one array and keeps the submission, with
/// each experiment's share of the tasks, in every experiment's `.slurm/` folder.
pub fn submit(request: &SubmitRequest, prepared: &PreparedArray) -> Result<Submitted, SlurmError> {
    let store = request.store;
    let io = |path: &Path, source| {
        SlurmError::Store(StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    if request.retry_failed {
        for t in &prepared.tasks {
            for e in &prepared.experiments {
                clear_attempts(&store.experiment_dir(&e.name), &t.id);
            }
        }
    }
    let logs = prepared.slurm_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| io(&logs, e))?;
    let pending = prepared
        .slurm_dir
        .join(format!("submit.{}.sh", std::process::id()));
    write_atomic(&pending, prepared.script.as_bytes())?;
    let job = sbatch(&pending)?;
    let kept = prepared.slurm_dir.join(format!("{job}.sh"));
    std::fs::rename(&pending, &kept).map_err(|e| io(&kept, e))?;
    let submitted = store::provenance::unix_seconds();
    for (i, e) in prepared.experiments.iter().enumerate() {
        let mine: Vec<Task> = prepared
            .tasks
            .iter()
            .filter(|t| e.trials.iter().any(|(p, _)| p.spec.id == t.id))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        save(
            &store.experiment_dir(&e.name),
            &Submission {
                job: job.clone(),
                submitted,
                tasks: mine,
                logs: (i > 0).then(|| logs.clone()),
            },
        )?;
    }
    Ok(Submitted {
        logs: logs.join(format!("{job}_<task>.log")),
        job,
        script: kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standing(name: &str) -> ExperimentStanding {
        ExperimentStanding {
            name: name.into(),
            path: format!("/abs/{name}.ron").into(),
            trials: Vec::new(),
        }
    }

    /// Before submitting: each file's counts under the name the user gave it, the union's
    /// count only for several files, and "nothing to submit" only when no task is left;
    /// after: the job, its throttle, its logs and how to follow them.
    #[test]
    fn the_submission_is_worded_per_file_then_for_the_union() {
        let shown: Vec<PathBuf> = vec!["configs/a.ron".into(), "configs/b.ron".into()];
        let task = Task {
            index: 0,
            experiment: "a".into(),
            config: "/abs/a.ron".into(),
            variant: "base".into(),
            seed: 0,
            id: "ab".repeat(32),
        };
        let mut array = PreparedArray {
            experiments: vec![standing("a"), standing("b")],
            tasks: vec![task],
            script: String::new(),
            slurm_dir: "/runs/a/.slurm".into(),
        };
        let lines = array.lines(&shown, 3);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("a (configs/a.ron): 0 trials:"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("b (configs/b.ron): 0 trials:"),
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[2],
            "2 experiment files: 1 unique trial(s) to submit as one array"
        );

        let done = Submitted {
            job: "42".into(),
            script: "/runs/a/.slurm/42.sh".into(),
            logs: "/runs/a/.slurm/42_<task>.log".into(),
        };
        assert_eq!(
            done.lines(&array, 2, &shown),
            [
                "submitted job array 42 (1 task(s), at most 2 at once); script /runs/a/.slurm/42.sh",
                "each task logs to /runs/a/.slurm/42_<task>.log; follow with `harness status configs/a.ron configs/b.ron` or `harness tui`",
            ]
        );

        array.experiments.truncate(1);
        array.tasks.clear();
        let lines = array.lines(&shown[..1], 3);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[1], "nothing to submit");
    }
}
