//! The dashboard's state ([`App`]) and everything that changes it: [`App::update`] (the
//! store moved on, a child ended) and [`App::on_key`] (the user asked for something).
//! Drawing is elsewhere ([`crate::ui`]); nothing here touches the terminal.
//!
//! Keys are handled in `keys`, and what they start or stop (child processes, stop
//! requests, the report) in `actions`.

mod actions;
mod keys;
#[cfg(test)]
mod tests;

use crate::curves::{Metric, Window};
use crate::launch::{Launcher, Task, log_path};
use crate::scan::{Cell, ExperimentState};
use crate::tail::Tail;
use crate::watch::{LOG_LINES, LiveTrial, Watcher, read_last_lines};
use contract::layout::LOG;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::StopRequest;
use store::Store;
use store::TrialStatus;

/// How the dashboard is set up.
pub struct Options {
    /// Experiment files named on the command line.
    pub configs: Vec<PathBuf>,
    /// The folder whose `*.ron` files are listed too (`configs/`), if any.
    pub config_dir: Option<PathBuf>,
    /// The run store.
    pub runs: PathBuf,
    /// `--set` overrides (`PATH=VALUE`) every experiment is loaded and run with.
    pub sets: Vec<String>,
    /// Where reports are (`reports/`).
    pub reports: PathBuf,
    /// Starts `replicate` and `report`.
    pub launcher: Box<dyn Launcher>,
    /// The longest wait for a key before looking at the store again.
    pub tick: Duration,
    /// Raised (e.g. by a SIGTERM or SIGHUP handler) to end the dashboard as `q` then `l`
    /// would: the terminal is restored, replicates it started are left running.
    pub shutdown: Arc<AtomicBool>,
}

impl Options {
    /// The defaults: the experiment files named, or every file of `configs/` when none is
    /// named; reports in `reports/`, a 150 ms tick.
    pub fn new(configs: Vec<PathBuf>, runs: PathBuf, launcher: Box<dyn Launcher>) -> Self {
        let config_dir = configs.is_empty().then(|| PathBuf::from("configs"));
        Options {
            configs,
            config_dir,
            runs,
            sets: Vec::new(),
            reports: PathBuf::from("reports"),
            launcher,
            tick: Duration::from_millis(150),
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Which panel the arrow keys move in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    /// The experiment list.
    #[default]
    Experiments,
    /// The variants × seeds grid.
    Grid,
}

/// A question on screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Trials of the experiment are already running (another replicate?).
    StartAnyway {
        /// The experiment's entry.
        entry: usize,
    },
    /// How to stop the experiment's run.
    Stop {
        /// The experiment's name.
        experiment: String,
    },
    /// Training writes into the store: said with what and where before it starts.
    Train {
        /// The experiment's entry.
        entry: usize,
    },
    /// A replicate started here is still running.
    Quit,
}

/// The report panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportView {
    /// The experiment.
    pub experiment: String,
    /// The file shown.
    pub path: PathBuf,
    /// Its lines.
    pub lines: Vec<String>,
    /// First line shown.
    pub scroll: usize,
    /// First column shown.
    pub pan: usize,
}

/// What the screen is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The dashboard.
    #[default]
    Normal,
    /// The report of an experiment, scrollable.
    Report(ReportView),
    /// A question.
    Confirm(Prompt),
}

/// A child process the dashboard started.
#[derive(Debug)]
pub struct Job {
    /// What it runs.
    pub task: Task,
    /// For which experiment.
    pub experiment: String,
    /// Where its output goes.
    pub log: PathBuf,
    /// The process.
    pub child: Child,
}

/// A replicate left behind when the dashboard quits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobInfo {
    /// The experiment.
    pub experiment: String,
    /// Its process id.
    pub pid: u32,
    /// Its log.
    pub log: PathBuf,
}

/// How the dashboard ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    /// Replicates started here that are still running.
    pub left_running: Vec<JobInfo>,
    /// The stop asked of them, if any.
    pub stop: Option<StopRequest>,
}

impl Exit {
    /// What to tell the user once the terminal is restored.
    pub fn summary(&self) -> Vec<String> {
        self.left_running
            .iter()
            .map(|j| {
                let what = match self.stop {
                    None => "is still running",
                    Some(StopRequest::AfterEpoch) => "stops after its current epoch",
                    Some(StopRequest::Now) => "is stopping now",
                };
                format!(
                    "replicate of {} (pid {}) {what}; its output: {}",
                    j.experiment,
                    j.pid,
                    j.log.display()
                )
            })
            .collect()
    }
}

/// Frame timing, for the `d` line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FrameStats {
    /// Frames drawn.
    pub frames: u64,
    /// The last frame's time.
    pub last: Duration,
    /// The longest.
    pub max: Duration,
    /// All frames together.
    pub total: Duration,
}

impl FrameStats {
    /// Counts one frame.
    pub fn record(&mut self, took: Duration) {
        self.frames += 1;
        self.last = took;
        self.max = self.max.max(took);
        self.total += took;
    }

    /// Mean frame time.
    pub fn mean(&self) -> Duration {
        if self.frames == 0 {
            Duration::ZERO
        } else {
            self.total / self.frames as u32
        }
    }
}

/// The log shown for a trial that is not running (read once), or the replicate's output
/// (followed).
#[derive(Debug)]
struct OtherLog {
    key: (String, TrialStatus),
    title: String,
    lines: VecDeque<String>,
    tail: Option<Tail>,
}

/// The whole state of the dashboard.
pub struct App {
    /// The store and the experiments.
    pub watcher: Watcher,
    /// Index of the selected experiment.
    pub selected: usize,
    /// The panel the arrows move in.
    pub focus: Focus,
    /// The grid cursor: (variant, seed column).
    pub cursor: (usize, usize),
    /// Keep the cursor on a running trial.
    pub follow: bool,
    /// The metric of the curves.
    pub metric: Metric,
    /// The curves' window.
    pub window: Window,
    /// Normal, report or question.
    pub mode: Mode,
    /// The last thing worth saying.
    pub message: Option<String>,
    /// Children started here.
    pub jobs: Vec<Job>,
    /// Show frame timing.
    pub debug: bool,
    /// Frame timing.
    pub frames: FrameStats,
    /// The longest wait for a key.
    pub tick: Duration,
    /// See [`Options::shutdown`].
    pub shutdown: Arc<AtomicBool>,
    runs: PathBuf,
    sets: Vec<String>,
    reports: PathBuf,
    launcher: Box<dyn Launcher>,
    other_log: Option<OtherLog>,
    exit: Option<Exit>,
}

impl App {
    /// A dashboard over `options`; the store is first read by [`App::update`].
    pub fn new(options: Options) -> Self {
        let overrides = options
            .sets
            .iter()
            .filter_map(|s| spec::Override::parse(s).ok())
            .collect();
        let watcher = Watcher::new(
            Store::new(&options.runs),
            &options.configs,
            options.config_dir.clone(),
        )
        .with_overrides(overrides);
        App {
            watcher,
            selected: 0,
            focus: Focus::default(),
            cursor: (0, 0),
            follow: true,
            metric: Metric::default(),
            window: Window::default(),
            mode: Mode::Normal,
            message: None,
            jobs: Vec::new(),
            debug: false,
            frames: FrameStats::default(),
            tick: options.tick,
            shutdown: options.shutdown,
            runs: options.runs,
            sets: options.sets,
            reports: options.reports,
            launcher: options.launcher,
            other_log: None,
            exit: None,
        }
    }

    /// The run store's folder.
    pub fn runs(&self) -> &std::path::Path {
        &self.runs
    }

    /// The selected experiment, when its file loads.
    pub fn experiment(&self) -> Option<&ExperimentState> {
        self.watcher.experiment(self.selected)
    }

    /// The cell under the cursor.
    pub fn focused(&self) -> Option<&Cell> {
        self.experiment()?.cell(self.cursor.0, self.cursor.1)
    }

    /// The focused trial's live state, when it is running.
    pub fn focused_live(&self) -> Option<&LiveTrial> {
        let cell = self.focused()?;
        (cell.state == TrialStatus::Running)
            .then(|| self.watcher.live(&cell.id))
            .flatten()
    }

    /// The log panel's title and lines, for the focused trial.
    pub fn log(&self) -> (String, Vec<&str>) {
        if let Some(live) = self.focused_live() {
            return (
                format!("{LOG} (live)"),
                live.log_lines.iter().map(String::as_str).collect(),
            );
        }
        match &self.other_log {
            Some(log) => (
                log.title.clone(),
                log.lines.iter().map(String::as_str).collect(),
            ),
            None => ("log".into(), Vec::new()),
        }
    }

    /// The replicate started here for `experiment`, if it still runs.
    pub fn job(&self, experiment: &str) -> Option<&Job> {
        self.jobs
            .iter()
            .find(|j| j.task == Task::Replicate && j.experiment == experiment)
    }

    /// Whether a key asked to end the dashboard.
    pub fn exit_pending(&self) -> bool {
        self.exit.is_some()
    }

    /// Set by a key that ends the dashboard.
    pub fn take_exit(&mut self) -> Option<Exit> {
        self.exit.take()
    }

    /// Ends the dashboard, asking `stop` of the replicates it started (if any), which are
    /// otherwise left running.
    pub fn quit_leaving(&mut self, stop: Option<StopRequest>) {
        let mut left = Vec::new();
        for job in self.jobs.iter().filter(|j| j.task == Task::Replicate) {
            if let Some(request) = stop {
                let _ = self.watcher.store().request_stop(&job.experiment, request);
            }
            left.push(JobInfo {
                experiment: job.experiment.clone(),
                pid: job.child.id(),
                log: job.log.clone(),
            });
        }
        self.exit = Some(Exit {
            left_running: left,
            stop,
        });
    }

    /// Catches up with the store and the children; returns whether the screen changed.
    /// A raised [`App::shutdown`] ends the dashboard here.
    pub fn update(&mut self, now: Instant) -> bool {
        if self.exit.is_none() && self.shutdown.load(Ordering::Relaxed) {
            self.quit_leaving(None);
        }
        let mut changed = self.watcher.poll(now);
        changed |= self.reap_jobs();
        self.clamp_selection();
        if self.follow {
            changed |= self.follow_running();
        }
        changed |= self.refresh_other_log();
        changed
    }

    fn clamp_selection(&mut self) {
        let n = self.watcher.entries.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let (rows, cols) = self
            .experiment()
            .map_or((1, 1), |e| (e.experiment.variants.len(), e.seeds.len()));
        self.cursor.0 = self.cursor.0.min(rows.saturating_sub(1));
        self.cursor.1 = self.cursor.1.min(cols.saturating_sub(1));
    }

    fn follow_running(&mut self) -> bool {
        let Some(e) = self.experiment() else {
            return false;
        };
        if self
            .focused()
            .is_some_and(|c| c.state == TrialStatus::Running)
        {
            return false;
        }
        let Some(cell) = e.running().next() else {
            return false;
        };
        let col = e.seeds.iter().position(|&s| s == cell.seed).unwrap_or(0);
        let target = (cell.variant, col);
        let moved = target != self.cursor;
        self.cursor = target;
        moved
    }

    /// Keeps the log of a focused trial that is not running: its `train.log` read once,
    /// or, for a pending trial, the output of this experiment's replicate (followed).
    fn refresh_other_log(&mut self) -> bool {
        let focused = self
            .experiment()
            .zip(self.focused())
            .map(|(e, c)| (e.experiment.name.clone(), c.id.clone(), c.state));
        let Some((name, id, state)) = focused else {
            let changed = self.other_log.is_some();
            self.other_log = None;
            return changed;
        };
        if state == TrialStatus::Running {
            return false;
        }
        let key = match state {
            TrialStatus::Pending => (format!("{name}/replicate"), TrialStatus::Pending),
            state => (id.clone(), state),
        };
        if let Some(log) = &mut self.other_log
            && log.key == key
        {
            let Some(tail) = &mut log.tail else {
                return false;
            };
            let lines = tail.poll().unwrap_or_default();
            let changed = !lines.is_empty();
            for line in lines {
                if log.lines.len() == LOG_LINES {
                    log.lines.pop_front();
                }
                log.lines.push_back(line);
            }
            return changed;
        }
        let store = self.watcher.store();
        let (title, lines, tail) = match state {
            TrialStatus::Done | TrialStatus::Diverged => (
                LOG.to_string(),
                read_last_lines(&store.trial_dir(&id).join(LOG)),
                None,
            ),
            TrialStatus::Failed => (
                format!("{LOG} (left over)"),
                read_last_lines(&store.work_dir(&id).join(LOG)),
                None,
            ),
            TrialStatus::Pending | TrialStatus::Queued | TrialStatus::Running => {
                let mut tail = Tail::new(log_path(&self.runs, &name, &Task::Replicate));
                let all = tail.poll().unwrap_or_default();
                let lines = all[all.len().saturating_sub(LOG_LINES)..].to_vec();
                ("replicate.log".to_string(), lines, Some(tail))
            }
        };
        self.other_log = Some(OtherLog {
            key,
            title,
            lines: lines.into(),
            tail,
        });
        true
    }
}
