//! The dashboard's state ([`App`]) and everything that changes it: [`App::update`] (the
//! store moved on, a child ended) and [`App::on_key`] (the user asked for something).
//! Drawing is elsewhere ([`crate::ui`]); nothing here touches the terminal.

use crate::curves::{Metric, Window};
use crate::launch::{Launcher, Task, TaskArgs, log_path};
use crate::scan::{Cell, CellState, ExperimentState};
use crate::tail::Tail;
use crate::watch::{LOG_LINES, LiveTrial, Watcher, read_last_lines};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use experiment::Store;
use experiment::store::StopRequest;
use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

/// How the dashboard is set up.
pub struct Options {
    /// Experiment files named on the command line.
    pub configs: Vec<PathBuf>,
    /// The folder whose `*.ron` files are listed too (`configs/`), if any.
    pub config_dir: Option<PathBuf>,
    /// The run store.
    pub runs: PathBuf,
    /// Where reports are (`reports/`).
    pub reports: PathBuf,
    /// Starts `replicate` and `report`.
    pub launcher: Box<dyn Launcher>,
    /// The longest wait for a key before looking at the store again.
    pub tick: Duration,
}

impl Options {
    /// The defaults: `configs/` listed, reports in `reports/`, a 150 ms tick.
    pub fn new(configs: Vec<PathBuf>, runs: PathBuf, launcher: Box<dyn Launcher>) -> Self {
        Options {
            configs,
            config_dir: Some(PathBuf::from("configs")),
            runs,
            reports: PathBuf::from("reports"),
            launcher,
            tick: Duration::from_millis(150),
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
    key: (String, CellState),
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
    runs: PathBuf,
    reports: PathBuf,
    launcher: Box<dyn Launcher>,
    other_log: Option<OtherLog>,
    exit: Option<Exit>,
}

impl App {
    /// A dashboard over `options`; the store is first read by [`App::update`].
    pub fn new(options: Options) -> Self {
        let watcher = Watcher::new(
            Store::new(&options.runs),
            &options.configs,
            options.config_dir.clone(),
        );
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
            runs: options.runs,
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
        (cell.state == CellState::Running)
            .then(|| self.watcher.live(&cell.id))
            .flatten()
    }

    /// The log panel's title and lines, for the focused trial.
    pub fn log(&self) -> (String, Vec<&str>) {
        if let Some(live) = self.focused_live() {
            return (
                "train.log (live)".into(),
                live.log_lines.iter().map(String::as_str).collect(),
            );
        }
        match &self.other_log {
            Some(log) => (log.title.clone(), log.lines.iter().map(String::as_str).collect()),
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

    /// Catches up with the store and the children; returns whether the screen changed.
    pub fn update(&mut self, now: Instant) -> bool {
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
        if self.focused().is_some_and(|c| c.state == CellState::Running) {
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
        if state == CellState::Running {
            return false;
        }
        let key = match state {
            CellState::Pending => (format!("{name}/replicate"), CellState::Pending),
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
            CellState::Done | CellState::Diverged => (
                "train.log".to_string(),
                read_last_lines(&store.trial_dir(&name, &id).join("train.log")),
                None,
            ),
            CellState::Failed => (
                "train.log (left over)".to_string(),
                read_last_lines(&store.work_dir(&name, &id).join("train.log")),
                None,
            ),
            CellState::Pending | CellState::Running => {
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

    fn reap_jobs(&mut self) -> bool {
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

    fn reload_report(&mut self, experiment: &str) {
        if let Mode::Report(view) = &mut self.mode
            && view.experiment == experiment
            && let Ok(text) = std::fs::read_to_string(&view.path)
        {
            view.lines = text.lines().map(str::to_string).collect();
            view.scroll = view.scroll.min(view.lines.len().saturating_sub(1));
        }
    }

    /// Handles one terminal event; returns whether the screen changed.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(*key);
                true
            }
            Event::Resize(..) => true,
            _ => false,
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        match self.mode.clone() {
            Mode::Confirm(prompt) => self.on_prompt_key(prompt, key.code, ctrl_c),
            Mode::Report(view) => self.on_report_key(view, key.code, ctrl_c),
            Mode::Normal => self.on_normal_key(key.code, ctrl_c),
        }
    }

    fn on_normal_key(&mut self, code: KeyCode, ctrl_c: bool) {
        if ctrl_c {
            return self.quit();
        }
        match code {
            KeyCode::Char('q') => self.quit(),
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Experiments => Focus::Grid,
                    Focus::Grid => Focus::Experiments,
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_vertical(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_vertical(1),
            KeyCode::Left | KeyCode::Char('h') => self.move_column(-1),
            KeyCode::Right | KeyCode::Char('l') => self.move_column(1),
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                self.message = Some(format!(
                    "follow {}",
                    if self.follow { "on: the cursor stays on a running trial" } else { "off" }
                ));
            }
            KeyCode::Char('m') => self.metric = self.metric.next(),
            KeyCode::Char('w') => self.window = self.window.toggle(),
            KeyCode::Char('d') => self.debug = !self.debug,
            KeyCode::Char('r') => self.start_replicate(self.selected, false),
            KeyCode::Char('s') => self.ask_stop(),
            KeyCode::Char('o') => self.open_report(),
            KeyCode::Char('g') => self.regenerate_report(),
            KeyCode::Esc => self.message = None,
            _ => {}
        }
    }

    fn move_vertical(&mut self, delta: isize) {
        match self.focus {
            Focus::Experiments => {
                let n = self.watcher.entries.len();
                let next = step(self.selected, delta, n);
                if next != self.selected {
                    self.selected = next;
                    self.cursor = (0, 0);
                    self.follow = true;
                }
            }
            Focus::Grid => {
                let rows = self.experiment().map_or(0, |e| e.experiment.variants.len());
                self.cursor.0 = step(self.cursor.0, delta, rows);
                self.follow = false;
            }
        }
    }

    fn move_column(&mut self, delta: isize) {
        let cols = self.experiment().map_or(0, |e| e.seeds.len());
        self.cursor.1 = step(self.cursor.1, delta, cols);
        self.follow = false;
    }

    fn quit(&mut self) {
        if self.jobs.iter().any(|j| j.task == Task::Replicate) {
            self.mode = Mode::Confirm(Prompt::Quit);
        } else {
            self.exit = Some(Exit::default());
        }
    }

    fn on_prompt_key(&mut self, prompt: Prompt, code: KeyCode, ctrl_c: bool) {
        if ctrl_c || matches!(code, KeyCode::Esc) {
            self.mode = Mode::Normal;
            return;
        }
        match (prompt, code) {
            (Prompt::StartAnyway { entry }, KeyCode::Char('y')) => {
                self.mode = Mode::Normal;
                self.start_replicate(entry, true);
            }
            (Prompt::StartAnyway { .. }, KeyCode::Char('n')) => self.mode = Mode::Normal,
            (Prompt::Stop { experiment }, KeyCode::Char(c @ ('e' | 'x'))) => {
                self.mode = Mode::Normal;
                let request = if c == 'e' {
                    StopRequest::AfterEpoch
                } else {
                    StopRequest::Now
                };
                self.stop(&experiment, request);
            }
            (Prompt::Stop { .. }, KeyCode::Char('n')) => self.mode = Mode::Normal,
            (Prompt::Quit, KeyCode::Char(c @ ('l' | 'e' | 'x'))) => {
                let stop = match c {
                    'e' => Some(StopRequest::AfterEpoch),
                    'x' => Some(StopRequest::Now),
                    _ => None,
                };
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
            _ => {}
        }
    }

    fn on_report_key(&mut self, mut view: ReportView, code: KeyCode, ctrl_c: bool) {
        let last = view.lines.len().saturating_sub(1);
        match code {
            _ if ctrl_c => return self.quit(),
            KeyCode::Esc | KeyCode::Char('q' | 'o') => {
                self.mode = Mode::Normal;
                return;
            }
            KeyCode::Char('g') => return self.regenerate_report(),
            KeyCode::Up | KeyCode::Char('k') => view.scroll = view.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => view.scroll = (view.scroll + 1).min(last),
            KeyCode::PageUp => view.scroll = view.scroll.saturating_sub(20),
            KeyCode::PageDown | KeyCode::Char(' ') => view.scroll = (view.scroll + 20).min(last),
            KeyCode::Home => view.scroll = 0,
            KeyCode::End => view.scroll = last,
            KeyCode::Left | KeyCode::Char('h') => view.pan = view.pan.saturating_sub(8),
            KeyCode::Right | KeyCode::Char('l') => view.pan += 8,
            _ => {}
        }
        self.mode = Mode::Report(view);
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
        self.launch(Task::Replicate, &name, config);
    }

    fn launch(&mut self, task: Task, name: &str, config: PathBuf) {
        let log = log_path(&self.runs, name, &task);
        let opened = log
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&log));
        let args = TaskArgs {
            config,
            runs: self.runs.clone(),
            reports: self.reports.clone(),
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

    fn ask_stop(&mut self) {
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

    fn stop(&mut self, experiment: &str, request: StopRequest) {
        self.message = Some(match self.watcher.store().request_stop(experiment, request) {
            Ok(()) => match request {
                StopRequest::AfterEpoch => {
                    format!("asked {experiment} to stop after the current epoch")
                }
                StopRequest::Now => format!("asked {experiment} to stop now"),
            },
            Err(e) => format!("cannot ask {experiment} to stop: {e}"),
        });
    }

    fn report_path(&self, name: &str) -> PathBuf {
        self.reports.join(format!("{name}.md"))
    }

    fn open_report(&mut self) {
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
                self.message = Some(format!(
                    "no report at {} yet; g writes it",
                    path.display()
                ));
            }
        }
    }

    fn regenerate_report(&mut self) {
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

/// `index + delta` within `0..len`, stopping at the ends.
fn step(index: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    index.saturating_add_signed(delta).min(len - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use std::fs::File;

    /// Records what would be launched, running `true` instead.
    #[derive(Default)]
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<(Task, TaskArgs)>>>);

    impl Launcher for Recorder {
        fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child> {
            self.0.lock().unwrap().push((task.clone(), args.clone()));
            std::process::Command::new("sleep")
                .arg(if *task == Task::Replicate { "30" } else { "0" })
                .stdout(log)
                .spawn()
        }
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::from(KeyCode::Char(c))
    }

    fn app(dir: &std::path::Path) -> (App, std::sync::Arc<std::sync::Mutex<Vec<(Task, TaskArgs)>>>) {
        let (path, _) = fixture::experiment(dir);
        let recorder = Recorder::default();
        let launched = recorder.0.clone();
        let mut options = Options::new(vec![path], dir.join("runs"), Box::new(recorder));
        options.config_dir = None;
        options.reports = dir.join("reports");
        let mut app = App::new(options);
        app.update(Instant::now());
        (app, launched)
    }

    #[test]
    fn step_stops_at_the_ends() {
        assert_eq!(step(0, -1, 3), 0);
        assert_eq!(step(2, 1, 3), 2);
        assert_eq!(step(1, 1, 3), 2);
        assert_eq!(step(0, 1, 0), 0);
    }

    #[test]
    fn quitting_without_children_needs_no_question() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, _) = app(dir.path());
        app.on_key(key('q'));
        assert_eq!(app.take_exit(), Some(Exit::default()));
    }

    #[test]
    fn r_starts_a_replicate_and_quitting_asks_about_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, launched) = app(dir.path());
        app.on_key(key('r'));
        let launched = launched.lock().unwrap().clone();
        assert_eq!(launched.len(), 1);
        assert_eq!(launched[0].0, Task::Replicate);
        assert_eq!(launched[0].1.runs, dir.path().join("runs"));
        assert!(app.job("demo").is_some());
        assert!(dir.path().join("runs/demo/.work/replicate.log").is_file());
        app.on_key(key('r'));
        assert!(app.message.as_ref().unwrap().contains("running already"));

        app.on_key(key('q'));
        assert_eq!(app.mode, Mode::Confirm(Prompt::Quit));
        app.on_key(KeyEvent::from(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.take_exit().is_none());
        app.on_key(key('q'));
        app.on_key(key('e'));
        let exit = app.take_exit().unwrap();
        assert_eq!(exit.stop, Some(StopRequest::AfterEpoch));
        assert_eq!(exit.left_running.len(), 1);
        assert!(exit.summary()[0].contains("stops after its current epoch"));
        assert_eq!(
            app.watcher.store().stop_request("demo"),
            Some(StopRequest::AfterEpoch)
        );
        for job in &mut app.jobs {
            let _ = job.child.kill();
            let _ = job.child.wait();
        }
    }

    #[test]
    fn stopping_asks_how_and_writes_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, _) = app(dir.path());
        app.on_key(key('s'));
        assert!(app.message.as_ref().unwrap().contains("nothing of demo is running"));
        let e = app.experiment().unwrap().experiment.clone();
        let _running = fixture::start(app.watcher.store(), &e, "flip", 1);
        app.watcher.rescan_soon();
        app.update(Instant::now());
        assert_eq!(app.cursor, (1, 1), "follow moves the cursor to the running trial");
        app.on_key(key('s'));
        assert_eq!(
            app.mode,
            Mode::Confirm(Prompt::Stop {
                experiment: "demo".into()
            })
        );
        app.on_key(key('x'));
        assert_eq!(app.watcher.store().stop_request("demo"), Some(StopRequest::Now));
        // Another process runs trials: starting here asks first.
        app.on_key(key('r'));
        assert_eq!(app.mode, Mode::Confirm(Prompt::StartAnyway { entry: 0 }));
        app.on_key(key('n'));
        assert_eq!(app.mode, Mode::Normal);
        assert!(app.jobs.is_empty());
    }

    #[test]
    fn the_report_opens_scrolls_and_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, _) = app(dir.path());
        app.on_key(key('o'));
        assert!(app.message.as_ref().unwrap().contains("no report"));
        std::fs::create_dir_all(dir.path().join("reports")).unwrap();
        let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("reports/demo.md"), text).unwrap();
        app.on_key(key('o'));
        let Mode::Report(view) = &app.mode else { panic!("{:?}", app.mode) };
        assert_eq!(view.lines.len(), 50);
        app.on_key(KeyEvent::from(KeyCode::PageDown));
        app.on_key(key('j'));
        let Mode::Report(view) = &app.mode else { panic!() };
        assert_eq!(view.scroll, 21);
        app.on_key(KeyEvent::from(KeyCode::End));
        let Mode::Report(view) = &app.mode else { panic!() };
        assert_eq!(view.scroll, 49);
        app.on_key(KeyEvent::from(KeyCode::Esc));
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn keys_move_the_selection() {
        let dir = tempfile::tempdir().unwrap();
        let (mut app, _) = app(dir.path());
        app.on_key(KeyEvent::from(KeyCode::Tab));
        assert_eq!(app.focus, Focus::Grid);
        app.on_key(KeyEvent::from(KeyCode::Down));
        app.on_key(KeyEvent::from(KeyCode::Right));
        app.on_key(KeyEvent::from(KeyCode::Right));
        assert_eq!(app.cursor, (1, 1));
        assert!(!app.follow, "moving by hand stops following");
        app.on_key(key('m'));
        assert_eq!(app.metric, Metric::TrainLoss);
        app.on_key(key('w'));
        assert_eq!(app.window, Window::Recent);
    }
}
