//! What the keys start and stop: `replicate` and `report` children, stop requests, the
//! report panel; and noticing when a child ends.

use super::{App, Job, Mode, Prompt, ReportView};
use crate::launch::{Task, TaskArgs, log_path};
use crate::watch::read_last_lines;
use std::fs::OpenOptions;
use std::path::PathBuf;
use store::StopRequest;

impl App {
    pub(super) fn reap_jobs(&mut self) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < self.jobs.len() {
            let status = self.jobs[i].child.try_wait();
            let Ok(Some(status)) = status else {
                i += 1;
                continue;
            };
            let job = self.jobs.remove(i);
            changed = true;
            self.watcher.rescan_soon();
            let last = read_last_lines(&job.log).pop().unwrap_or_default();
            self.message = Some(match (&job.task, status.success()) {
                (Task::Replicate, true) => format!("replicate of {} ended", job.experiment),
                (Task::Report, true) => {
                    self.reload_report(&job.experiment);
                    format!("report of {} written ({last})", job.experiment)
                }
                (task, false) => format!(
                    "{} of {} failed ({status}): {last} (see {})",
                    task.name(),
                    job.experiment,
                    job.log.display()
                ),
            });
        }
        changed
    }

    pub(super) fn reload_report(&mut self, experiment: &str) {
        if let Mode::Report(view) = &mut self.mode
            && view.experiment == experiment
            && let Ok(text) = std::fs::read_to_string(&view.path)
        {
            view.lines = text.lines().map(str::to_string).collect();
            view.scroll = view.scroll.min(view.lines.len().saturating_sub(1));
        }
    }

    /// Starts (or resumes) a replicate of experiment `entry`; asks first when trials of
    /// it are running already, unless `confirmed`.
    pub fn start_replicate(&mut self, entry: usize, confirmed: bool) {
        let Some(e) = self.watcher.experiment(entry) else {
            self.message = Some("this experiment file does not load; fix it first".into());
            return;
        };
        let name = e.experiment.name.clone();
        let config = e.experiment.path.clone();
        let counts = e.counts;
        if let Some(job) = self.job(&name) {
            self.message = Some(format!(
                "a replicate of {name} started here is running already (pid {})",
                job.child.id()
            ));
            return;
        }
        if counts.pending + counts.failed == 0 && counts.running == 0 {
            self.message = Some(format!(
                "all {} trials of {name} are done; g regenerates its report",
                counts.total()
            ));
            return;
        }
        if counts.running > 0 && !confirmed {
            self.mode = Mode::Confirm(Prompt::StartAnyway { entry });
            return;
        }
        // Training writes into the store (it may be a committed one): asked first, with
        // how many trials, the estimate and the store's path.
        if !confirmed {
            self.mode = Mode::Confirm(Prompt::Train { entry });
            return;
        }
        self.launch(Task::Replicate, &name, config);
    }

    pub(super) fn launch(&mut self, task: Task, name: &str, config: PathBuf) {
        let log = log_path(&self.runs, name, &task);
        let opened = log
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&log));
        // The overrides the experiment is shown with (the command line's, or the store's
        // recorded protocol), so that the run trains what is on screen.
        let sets = self
            .watcher
            .entries
            .iter()
            .find(|e| e.name() == name)
            .map_or_else(|| self.sets.clone(), |e| e.sets.clone());
        let max_trial_time = self
            .watcher
            .entries
            .iter()
            .find(|e| e.name() == name)
            .and_then(|e| e.state.as_ref().ok()?.max_trial_time());
        let args = TaskArgs {
            config,
            runs: self.runs.clone(),
            reports: self.reports.clone(),
            sets,
            max_trial_time,
        };
        let child = opened.and_then(|file| self.launcher.launch(&task, &args, file));
        match child {
            Ok(child) => {
                self.message = Some(format!(
                    "started {} of {name} (pid {}); output in {}",
                    task.name(),
                    child.id(),
                    log.display()
                ));
                self.jobs.push(Job {
                    task,
                    experiment: name.to_string(),
                    log,
                    child,
                });
                self.watcher.rescan_soon();
            }
            Err(e) => self.message = Some(format!("cannot start {}: {e}", task.name())),
        }
    }

    pub(super) fn ask_stop(&mut self) {
        let Some(e) = self.experiment() else {
            return;
        };
        let name = e.experiment.name.clone();
        if e.counts.running == 0 && self.job(&name).is_none() {
            self.message = Some(format!("nothing of {name} is running"));
            return;
        }
        self.mode = Mode::Confirm(Prompt::Stop { experiment: name });
    }

    pub(super) fn stop(&mut self, experiment: &str, request: StopRequest) {
        self.message = Some(
            match self.watcher.store().request_stop(experiment, request) {
                Ok(()) => match request {
                    StopRequest::AfterEpoch => {
                        format!("asked {experiment} to stop after the current epoch")
                    }
                    StopRequest::Now => format!("asked {experiment} to stop now"),
                },
                Err(e) => format!("cannot ask {experiment} to stop: {e}"),
            },
        );
    }

    pub(super) fn report_path(&self, name: &str) -> PathBuf {
        self.reports.join(format!("{name}.md"))
    }

    pub(super) fn open_report(&mut self) {
        let name = self.watcher.entries.get(self.selected).map(|e| e.name());
        let Some(name) = name else { return };
        let path = self.report_path(&name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                self.mode = Mode::Report(ReportView {
                    experiment: name,
                    path,
                    lines: text.lines().map(str::to_string).collect(),
                    scroll: 0,
                    pan: 0,
                });
            }
            Err(_) => {
                self.message = Some(format!("no report at {} yet; g writes it", path.display()));
            }
        }
    }

    pub(super) fn regenerate_report(&mut self) {
        let Some(e) = self.experiment() else {
            self.message = Some("this experiment file does not load; fix it first".into());
            return;
        };
        let name = e.experiment.name.clone();
        let config = e.experiment.path.clone();
        if self
            .jobs
            .iter()
            .any(|j| j.task == Task::Report && j.experiment == name)
        {
            self.message = Some(format!("the report of {name} is being written"));
            return;
        }
        self.launch(Task::Report, &name, config);
    }
}

impl App {
    /// What starting a replicate of `entry` would train, for the question asked first:
    /// trials to run, the estimate from the cached calibration (where there is one) and
    /// the store's folder.
    pub fn training_summary(&self, entry: usize) -> Option<(String, usize, Option<f64>, PathBuf)> {
        let e = self.watcher.experiment(entry)?;
        let to_run: Vec<&crate::scan::Cell> = e
            .cells
            .iter()
            .filter(|c| {
                matches!(
                    c.state,
                    store::TrialStatus::Pending | store::TrialStatus::Failed
                ) && !e.is_left_out(c)
            })
            .collect();
        let estimate = to_run
            .iter()
            .map(|c| e.calibrated_s.get(c.variant).copied().flatten())
            .sum::<Option<f64>>();
        Some((
            e.experiment.name.clone(),
            to_run.len(),
            estimate,
            self.runs.clone(),
        ))
    }
}
