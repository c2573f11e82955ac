//! The local executor: runs a plan's pending trials, each in its own worker process
//! (`harness worker`, built by the caller), `jobs` at a time, and reports what happens.
//! The Slurm executor (`cluster::slurm`) shares the plan, the store, the claims and the
//! report; only how a trial gets a process differs.
//!
//! Each trial runs in a child process so that trials in parallel never share libtorch's
//! global random generator (dropout), a crash takes down one trial only, and killing
//! anything at any moment leaves the store consistent (see [`store`]).
//!
//! Trials that another process holds (a second `replicate` on the same store, a Slurm
//! task, or a worker whose parent died and which is about to stop) are waited for, and
//! taken over if they are released unfinished.
//!
//! Stopping is asked through a [`Control`] (the binary turns signals into calls):
//! [`Control::interrupt`] first stops starting new trials and lets running ones finish
//! their epoch (SIGUSR2 to each worker), a second one stops them now;
//! [`Control::terminate`] stops them now (SIGTERM to each worker; one still alive a
//! minute later is killed). A stop request file in the store (the dashboard's stop key)
//! acts like a first interrupt.

use contract::Event;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use progress::{PlanTracker, TrialProgress};
use spec::TrialSpec;
use spec::plan::PlannedTrial;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use store::TrialState;
use store::{self, Store};

/// Exit code of a worker whose trial was stopped on request (resumes later).
pub const WORKER_STOPPED: i32 = contract::exit::STOPPED as i32;
/// Exit code of a worker whose trial was done or claimed by another process.
pub const WORKER_SKIPPED: i32 = contract::exit::SKIPPED as i32;

/// Errors of the local executor.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A worker process could not be started or waited for.
    #[error("worker process: {0}")]
    Worker(#[source] std::io::Error),
}

enum Message {
    Event(usize, Event),
    Stderr(usize, String),
    Closed(usize),
    Interrupt(&'static str),
    Terminate(&'static str),
}

/// How far a stop request has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stopping {
    /// Running normally.
    No,
    /// No new trials; running ones end after their current epoch.
    AfterEpoch,
    /// Running ones end after their current batch.
    Now,
}

/// Asks a running [`Scheduler`] to stop; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Control(mpsc::Sender<Message>);

impl Control {
    /// First call: no new trials, running ones stop after their current epoch. Second
    /// call: they stop now. `why` names the cause in the report (e.g. `SIGINT`).
    pub fn interrupt(&self, why: &'static str) {
        let _ = self.0.send(Message::Interrupt(why));
    }

    /// Running trials stop after their current batch; nothing new starts.
    pub fn terminate(&self, why: &'static str) {
        let _ = self.0.send(Message::Terminate(why));
    }
}

/// What the executor reports while it runs.
#[derive(Debug)]
pub enum Report<'a> {
    /// Something happened (a trial starts, ends, fails; a stop is under way).
    Line(String),
    /// A trainer event of a running trial, with where the trial and the plan stand
    /// ([`progress::PlanTracker`]: the one progress and ETA model).
    Event {
        /// The trial.
        trial: &'a TrialSpec,
        /// The event.
        event: &'a Event,
        /// The trial's progress, the event applied.
        progress: &'a TrialProgress,
        /// Time left of this trial.
        trial_left: Option<Duration>,
        /// Time left of the whole plan.
        plan_left: Option<Duration>,
        /// Trials still to run, running, and ended since the start.
        counts: (usize, usize, usize),
    },
    /// A line a worker printed on stderr starting with `warning: `.
    Warning(String),
}

/// How a run of the executor went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Trials to run when it started.
    pub total: usize,
    /// Trials started.
    pub started: usize,
    /// Recorded as finished.
    pub finished: usize,
    /// Recorded as diverged.
    pub diverged: usize,
    /// Failed.
    pub failed: usize,
    /// Stopped on request.
    pub stopped: usize,
    /// Whether a stop was asked for (by a [`Control`] or the store's stop request).
    pub stop_requested: bool,
    /// The cause named by the [`Control`] call, if one was made.
    pub signalled: Option<&'static str>,
}

struct Running {
    trial: PlannedTrial,
    child: Child,
    stderr: Vec<String>,
    open_streams: usize,
    /// When it was told to stop now (it is killed if it has not ended a minute later).
    signalled_at: Option<Instant>,
}

fn send(pid: u32, signal: Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }
}

/// The local executor of a plan (one experiment's, or several experiments' union).
pub struct Scheduler {
    tx: mpsc::Sender<Message>,
    rx: mpsc::Receiver<Message>,
    estimates: HashMap<String, f64>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl Scheduler {
    /// A scheduler; take its [`Control`] before [`Scheduler::run`].
    pub fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Scheduler {
            tx,
            rx,
            estimates: HashMap::new(),
        }
    }

    /// The estimated seconds of trials by id (the cost model's), for the plan's ETA
    /// before its first epoch ends; trials without one are estimated from the pace seen.
    pub fn with_estimates(mut self, estimates: HashMap<String, f64>) -> Self {
        self.estimates = estimates;
        self
    }

    /// A handle to stop the run.
    pub fn control(&self) -> Control {
        Control(self.tx.clone())
    }

    fn spawn(
        &self,
        worker: &dyn Fn(&TrialSpec) -> std::io::Result<Command>,
        trial: PlannedTrial,
        slot: usize,
    ) -> Result<Running, ScheduleError> {
        let mut cmd = worker(&trial.spec).map_err(ScheduleError::Worker)?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(ScheduleError::Worker)?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let out_tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str::<Event>(&line) {
                    let _ = out_tx.send(Message::Event(slot, event));
                }
            }
            let _ = out_tx.send(Message::Closed(slot));
        });
        let err_tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(Message::Stderr(slot, line));
            }
            let _ = err_tx.send(Message::Closed(slot));
        });
        Ok(Running {
            trial,
            child,
            stderr: Vec::new(),
            open_streams: 2,
            signalled_at: None,
        })
    }

    /// Runs the pending trials of `planned` (of the experiments `experiments` of `store`),
    /// `jobs` at a time, each in the process `worker` builds; waits for those held
    /// elsewhere. Returns when every trial is recorded or a stop has ended every running
    /// one. A stop request on any of the experiments stops the whole plan: it is passed on
    /// to the others, so that every worker sees it.
    pub fn run(
        self,
        store: &Store,
        experiments: &[String],
        planned: &[PlannedTrial],
        jobs: usize,
        worker: &dyn Fn(&TrialSpec) -> std::io::Result<Command>,
        report: &mut dyn FnMut(Report),
    ) -> Result<Tally, ScheduleError> {
        let mut execution = Execution::new(store, experiments, planned, jobs, &self.estimates);
        execution.clear_stop_requests();
        loop {
            execution.follow_stop_request(report);
            execution.take_over_released(report);
            execution.start_trials(&self, worker, report)?;
            execution.kill_overdue();
            if execution.is_over() {
                break;
            }
            let Ok(message) = self.rx.recv_timeout(Duration::from_millis(500)) else {
                continue;
            };
            execution.handle(message, report)?;
        }
        execution.clear_stop_requests();
        Ok(execution.tally)
    }
}

/// Where one [`Scheduler::run`] stands: the trials still to start, those another process
/// holds, the running ones by slot, the progress, the stop and the tally.
struct Execution<'a> {
    store: &'a Store,
    experiments: &'a [String],
    estimates: &'a HashMap<String, f64>,
    /// Pending trials, in the order they start.
    queue: VecDeque<PlannedTrial>,
    /// Trials held by another process, waited for.
    elsewhere: Vec<PlannedTrial>,
    tracker: PlanTracker,
    tally: Tally,
    stopping: Stopping,
    slots: Vec<Option<Running>>,
    /// When the trials held elsewhere were last looked at.
    last_poll: Instant,
}

impl<'a> Execution<'a> {
    /// The pending trials of `planned` queued, the running ones waited for, `jobs` slots.
    fn new(
        store: &'a Store,
        experiments: &'a [String],
        planned: &[PlannedTrial],
        jobs: usize,
        estimates: &'a HashMap<String, f64>,
    ) -> Self {
        let jobs = jobs.max(1);
        let in_state =
            |state: TrialState| planned.iter().filter(move |t| t.state == state).cloned();
        let queue: VecDeque<PlannedTrial> = in_state(TrialState::Pending).collect();
        let elsewhere: Vec<PlannedTrial> = in_state(TrialState::Running).collect();
        let mut tracker = PlanTracker::new(jobs);
        for t in &queue {
            track(&mut tracker, estimates, t);
        }
        let tally = Tally {
            total: queue.len(),
            ..Tally::default()
        };
        Execution {
            store,
            experiments,
            estimates,
            queue,
            elsewhere,
            tracker,
            tally,
            stopping: Stopping::No,
            slots: (0..jobs).map(|_| None).collect(),
            last_poll: Instant::now(),
        }
    }

    /// Removes the stop request of every experiment (at the start and at the end).
    fn clear_stop_requests(&self) {
        for name in self.experiments {
            self.store.clear_stop(name);
        }
    }

    /// A stop request on any experiment (the dashboard's stop key) is passed on to the
    /// others and acts as a first interrupt: nothing new starts.
    fn follow_stop_request(&mut self, report: &mut dyn FnMut(Report)) {
        let (store, experiments) = (self.store, self.experiments);
        let requested = experiments.iter().find_map(|name| store.stop_request(name));
        if self.stopping != Stopping::No {
            return;
        }
        let Some(request) = requested else {
            return;
        };
        for name in experiments {
            if store.stop_request(name) != Some(request) {
                let _ = store.request_stop(name, request);
            }
        }
        self.stopping = Stopping::AfterEpoch;
        self.tally.stop_requested = true;
        report(Report::Line(format!(
            "stop requested: no new trials; {} not started",
            self.queue.len()
        )));
        // Workers read the request themselves (after their epoch, or now).
        self.queue.clear();
    }

    /// Twice a second: the trials held elsewhere that are done are dropped, those
    /// released unfinished join this run's queue.
    fn take_over_released(&mut self, report: &mut dyn FnMut(Report)) {
        if self.stopping != Stopping::No || self.last_poll.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last_poll = Instant::now();
        let Execution {
            store,
            estimates,
            elsewhere,
            tracker,
            tally,
            queue,
            ..
        } = self;
        elsewhere.retain(|t| match store.state(&t.spec.id) {
            TrialState::Done => false,
            TrialState::Running => true,
            TrialState::Pending => {
                report(Report::Line(format!(
                    "{} {} seed {}: released unfinished by another process; taking it over",
                    t.spec.short_id(),
                    t.spec.variant.name,
                    t.spec.seed
                )));
                track(tracker, estimates, t);
                // It joins this run's trials: counted, so "[n/total]" and
                // "started n of total" never overrun.
                tally.total += 1;
                queue.push_back(t.clone());
                false
            }
        });
    }

    /// Fills each free slot with the next queued trial, unless a stop is under way.
    fn start_trials(
        &mut self,
        scheduler: &Scheduler,
        worker: &dyn Fn(&TrialSpec) -> std::io::Result<Command>,
        report: &mut dyn FnMut(Report),
    ) -> Result<(), ScheduleError> {
        if self.stopping != Stopping::No {
            return Ok(());
        }
        for (slot, place) in self.slots.iter_mut().enumerate() {
            if place.is_none()
                && let Some(trial) = self.queue.pop_front()
            {
                self.tally.started += 1;
                report(Report::Line(format!(
                    "[{}/{}] {} {} seed {}: starting",
                    self.tally.started,
                    self.tally.total,
                    trial.spec.short_id(),
                    trial.spec.variant.name,
                    trial.spec.seed
                )));
                self.tracker.start(&trial.spec.id);
                *place = Some(scheduler.spawn(worker, trial, slot)?);
            }
        }
        Ok(())
    }

    /// Kills the workers still alive a minute after they were told to stop now.
    fn kill_overdue(&mut self) {
        for run in self.slots.iter_mut().flatten() {
            if run
                .signalled_at
                .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
            {
                let _ = run.child.kill();
            }
        }
    }

    /// Whether the run is over: nothing runs, and a stop is under way or nothing is left
    /// to start or wait for.
    fn is_over(&self) -> bool {
        let idle = self.slots.iter().all(Option::is_none);
        idle && (self.stopping != Stopping::No
            || (self.queue.is_empty() && self.elsewhere.is_empty()))
    }

    /// Acts on one message of a [`Control`] or a worker.
    fn handle(
        &mut self,
        message: Message,
        report: &mut dyn FnMut(Report),
    ) -> Result<(), ScheduleError> {
        match message {
            Message::Interrupt(why) => self.stop(why, false, report),
            Message::Terminate(why) => self.stop(why, true, report),
            Message::Event(slot, event) => self.on_event(slot, &event, report),
            Message::Stderr(slot, line) => {
                if line.starts_with("warning: ") {
                    report(Report::Warning(line.clone()));
                }
                if let Some(run) = self.slots[slot].as_mut() {
                    run.stderr.push(line);
                }
            }
            Message::Closed(slot) => self.on_closed(slot, report)?,
        }
        Ok(())
    }

    /// A [`Control`] call: the first interrupt stops after the epoch; a second one, or a
    /// terminate, stops now.
    fn stop(&mut self, why: &'static str, terminate: bool, report: &mut dyn FnMut(Report)) {
        let now = terminate || self.stopping != Stopping::No;
        self.tally.signalled = Some(why);
        self.tally.stop_requested = true;
        let running = self.slots.iter().flatten().count();
        self.queue.clear();
        self.elsewhere.clear();
        if now {
            self.stopping = Stopping::Now;
            report(Report::Line(format!(
                "{why}: stopping {running} running trial(s) after their current batch; each resumes from its last finished epoch on the next run"
            )));
            for run in self.slots.iter_mut().flatten() {
                send(run.child.id(), Signal::SIGTERM);
                run.signalled_at.get_or_insert_with(Instant::now);
            }
        } else {
            self.stopping = Stopping::AfterEpoch;
            report(Report::Line(format!(
                "interrupted: no new trials; {running} running trial(s) stop after their current epoch (Ctrl-C again to stop now)"
            )));
            for run in self.slots.iter().flatten() {
                send(run.child.id(), Signal::SIGUSR2);
            }
        }
    }

    /// A trainer event of the trial in `slot`: applied to the progress and reported.
    fn on_event(&mut self, slot: usize, event: &Event, report: &mut dyn FnMut(Report)) {
        let Some(run) = self.slots[slot].as_ref() else {
            return;
        };
        let tracker = &mut self.tracker;
        let id = &run.trial.spec.id;
        tracker.event(id, event);
        let seconds = |s: Option<f64>| s.map(Duration::from_secs_f64);
        if let Some(progress) = tracker.progress(id) {
            report(Report::Event {
                trial: &run.trial.spec,
                event,
                progress,
                trial_left: seconds(tracker.trial_left_s(id)),
                plan_left: seconds(tracker.left_s()),
                counts: tracker.counts(),
            });
        }
    }

    /// One output stream of the worker in `slot` closed; once both are, the worker is
    /// waited for and its trial's end counted.
    fn on_closed(
        &mut self,
        slot: usize,
        report: &mut dyn FnMut(Report),
    ) -> Result<(), ScheduleError> {
        let Some(run) = self.slots[slot].as_mut() else {
            return Ok(());
        };
        run.open_streams -= 1;
        if run.open_streams > 0 {
            return Ok(());
        }
        let mut run = self.slots[slot].take().expect("present");
        let status = run.child.wait().map_err(ScheduleError::Worker)?;
        self.tracker.end(&run.trial.spec.id);
        self.count_end(&run, status, report);
        Ok(())
    }

    /// Counts how the worker of `run` ended (by its exit `status`) and says so when it
    /// did not simply record its trial.
    fn count_end(&mut self, run: &Running, status: ExitStatus, report: &mut dyn FnMut(Report)) {
        let spec = &run.trial.spec;
        let tally = &mut self.tally;
        match status.code() {
            Some(0) => match store::read_record(
                &self
                    .store
                    .trial_dir(&spec.id)
                    .join(contract::layout::SUMMARY),
            ) {
                Ok(record) if record.diverged() => tally.diverged += 1,
                Ok(_) => tally.finished += 1,
                Err(e) => {
                    tally.failed += 1;
                    report(Report::Line(format!("{}: FAILED: {e}", spec.short_id())));
                }
            },
            Some(WORKER_STOPPED) => {
                tally.stopped += 1;
                report(Report::Line(format!(
                    "{}: stopped on request (incomplete; resumes on the next run)",
                    spec.short_id()
                )));
            }
            Some(WORKER_SKIPPED) => {
                report(Report::Line(format!(
                    "{}: done or claimed by another process meanwhile; waiting for it",
                    spec.short_id()
                )));
                self.elsewhere.push(run.trial.clone());
            }
            _ if run.signalled_at.is_some() => {
                tally.stopped += 1;
                report(Report::Line(format!(
                    "{}: ended by {status} after a stop request (resumes on the next run)",
                    spec.short_id()
                )));
            }
            _ => {
                tally.failed += 1;
                report(Report::Line(format!(
                    "{} {} seed {}: FAILED ({status}): {}",
                    spec.short_id(),
                    spec.variant.name,
                    spec.seed,
                    run.stderr.last().map_or("no message", String::as_str)
                )));
                for line in run.stderr.iter().rev().take(10).rev() {
                    report(Report::Line(format!("    {line}")));
                }
            }
        }
    }
}

/// Adds trial `t` to `tracker`, with the cost model's estimate of it if there is one.
fn track(tracker: &mut PlanTracker, estimates: &HashMap<String, f64>, t: &PlannedTrial) {
    tracker.add(
        &t.spec.id,
        t.spec.variant.trial.epochs,
        estimates.get(&t.spec.id).copied(),
    );
}
