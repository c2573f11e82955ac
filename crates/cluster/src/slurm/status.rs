//! Where each planned trial of an experiment stands, for `harness status`: recorded (done
//! or diverged), queued or running in a live Slurm task, running under another process's
//! claim, failed (its attempts reached the bound, or Slurm says its task failed; with the
//! task's log tail), or pending.

use super::{
    SlurmError, Submission, Task, attempts, dir, live_tasks, scontrol_states, squeue, submissions,
    tail, task_failed,
};
use spec::Experiment;
use spec::plan::plan;
use std::collections::BTreeMap;
use store::{Store, TrialStatus, lease};

/// An experiment's trials by status, with a line for each one not simply done or pending.
pub struct ExperimentStatus {
    /// Planned trials.
    pub planned: usize,
    /// How many trials have each status.
    pub counts: BTreeMap<TrialStatus, usize>,
    /// One line per queued, running or failed trial (a failed one with its log's tail).
    pub lines: Vec<String>,
    /// The experiment's Slurm jobs, oldest first.
    pub jobs: Vec<String>,
}

impl ExperimentStatus {
    /// What `harness status` prints for experiment `name`: the counts, the line of each
    /// trial not simply done or pending, and its Slurm jobs.
    pub fn report(&self, name: &str) -> Vec<String> {
        let counted: Vec<String> = [
            TrialStatus::Done,
            TrialStatus::Diverged,
            TrialStatus::Running,
            TrialStatus::Queued,
            TrialStatus::Failed,
            TrialStatus::Pending,
        ]
        .iter()
        .map(|s| format!("{} {}", self.counts.get(s).copied().unwrap_or(0), s.label()))
        .collect();
        let mut lines = vec![format!(
            "{name}: {} trials: {}",
            self.planned,
            counted.join(", ")
        )];
        lines.extend(self.lines.iter().cloned());
        if !self.jobs.is_empty() {
            lines.push(format!("  Slurm jobs: {}", self.jobs.join(", ")));
        }
        lines
    }
}

/// The status of every planned trial of `experiment` in `store` (trial ids from
/// `dataset_digest`), a trial counting as failed after `max_tries` failed attempts.
pub fn status(
    store: &Store,
    experiment: &Experiment,
    dataset_digest: &str,
    max_tries: usize,
) -> Result<ExperimentStatus, SlurmError> {
    let exp_dir = store.experiment_dir(&experiment.name);
    let digest = dataset_digest;
    let planned = plan(experiment, digest, store);
    let subs = submissions(&exp_dir)?;
    let queued = if subs.is_empty() {
        Vec::new()
    } else {
        let jobs: Vec<String> = subs.iter().map(|s| s.job.clone()).collect();
        squeue(&jobs)?
    };
    let live = live_tasks(&subs, &queued);
    // The newest submission of each trial, and what Slurm still remembers of it.
    let mut last_task: BTreeMap<&str, (&Submission, &Task)> = BTreeMap::new();
    for s in &subs {
        for t in &s.tasks {
            last_task.insert(&t.id, (s, t));
        }
    }
    let ended: BTreeMap<(String, usize), (String, String)> = subs
        .iter()
        .flat_map(|s| {
            scontrol_states(&s.job)
                .into_iter()
                .map(|(i, state, code)| ((s.job.clone(), i), (state, code)))
        })
        .collect();
    let records: BTreeMap<String, bool> = store
        .records_for(&experiment.membership())?
        .records
        .into_iter()
        .map(|r| (r.id.clone(), r.diverged()))
        .collect();
    let mut counts: BTreeMap<TrialStatus, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for t in &planned {
        let id = t.spec.id.as_str();
        let what = format!(
            "{} {} seed {}",
            t.spec.short_id(),
            t.spec.variant.name,
            t.spec.seed
        );
        // A task of a submission of several files records its attempts under the
        // experiment whose worker ran it.
        let attempts = match last_task.get(id) {
            Some((_, t)) if !t.experiment.is_empty() && t.experiment != experiment.name => {
                attempts(&store.experiment_dir(&t.experiment), id)
            }
            _ => attempts(&exp_dir, id),
        };
        let state = if let Some(&diverged) = records.get(id) {
            if diverged {
                TrialStatus::Diverged
            } else {
                TrialStatus::Done
            }
        } else if let Some((job, index, state)) = live.get(id) {
            let running = state == "RUNNING" || state == "COMPLETING";
            let status = if running {
                TrialStatus::Running
            } else {
                TrialStatus::Queued
            };
            lines.push(format!(
                "  {what}: {} in job {job}_{index} ({state})",
                status.label()
            ));
            status
        } else if let lease::LeaseState::Held(holder) = store.holder(id) {
            let by = holder.map_or_else(String::new, |h| {
                format!(
                    " by pid {} on {}{}",
                    h.pid,
                    h.host,
                    h.job.map(|j| format!(" (job {j})")).unwrap_or_default()
                )
            });
            lines.push(format!("  {what}: running{by}"));
            TrialStatus::Running
        } else {
            let slurm_failed = last_task.get(id).and_then(|&(sub, task)| {
                ended
                    .get(&(sub.job.clone(), task.index))
                    .filter(|(state, code)| task_failed(state, code))
                    .map(|(state, code)| (state, code))
            });
            if attempts.failures() >= max_tries || slurm_failed.is_some() {
                let (job, index, log) = match last_task.get(id) {
                    Some(&(sub, task)) => (
                        sub.job.as_str(),
                        task.index,
                        sub.task_log(&exp_dir, task.index),
                    ),
                    None => ("?", 0, dir(&exp_dir).join("logs").join("?_0.log")),
                };
                let why = match (slurm_failed, attempts.last_failure()) {
                    (_, Some(m)) if attempts.failures() >= max_tries => {
                        format!("failed {} times; last: {m}", attempts.failures())
                    }
                    (Some((state, code)), _) => {
                        format!("task {job}_{index} ended {state} (exit {code})")
                    }
                    _ => format!("failed {} times", attempts.failures()),
                };
                lines.push(format!("  {what}: FAILED: {why}; log {}", log.display()));
                for l in tail(&log, 5).lines() {
                    lines.push(format!("      | {l}"));
                }
                TrialStatus::Failed
            } else {
                TrialStatus::Pending
            }
        };
        *counts.entry(state).or_default() += 1;
    }
    Ok(ExperimentStatus {
        planned: planned.len(),
        counts,
        lines,
        jobs: subs.iter().map(|s| s.job.clone()).collect(),
    })
}
