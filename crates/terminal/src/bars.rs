//! Progress bars and lines of running trials, drawn by `indicatif` from the one progress
//! model (the `progress` crate, which the scheduler and the dashboard use too).
//!
//! On a terminal: one bar per running trial (a `MultiProgress`, so `--jobs N` shows N
//! bars) with its epoch, loss, speed and time left, and under them the plan's bar with its
//! time left; the lines that matter (starts, epochs, latency, ends) are printed above the
//! bars. Not on a terminal (a pipe, a log file, CI): the same lines, plain, and no bars.

use contract::Event;
use experiment::trial_run::describe;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use progress::TrialProgress;
use progress::eta::{pace_of_running, trial_left_s};
use progress::format::duration;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Where a plan stands, for its bar: trials waiting, running and ended, and the time left.
pub struct PlanState {
    /// Trials still to run, running, ended.
    pub counts: (usize, usize, usize),
    /// Time left of the plan, when it can be estimated.
    pub left: Option<Duration>,
}

/// Prints events of one or more trials.
pub struct Printer {
    /// `None` when stdout is not a terminal: plain lines only.
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    plan: Option<ProgressBar>,
    /// The progress of the trial `harness train` runs in this process.
    own: TrialProgress,
    /// Where plain lines go (standard output, unless [`Printer::plain`] says otherwise).
    out: Box<dyn Write + Send>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid progress template")
        .progress_chars("#>.")
}

impl Printer {
    /// Bars when stdout is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let mut printer = Printer::plain(Box::new(std::io::stdout()));
        printer.multi = std::io::stdout()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        printer
    }

    /// Plain lines only, written to `out` (a log file, a test's buffer): no bars.
    pub fn plain(out: Box<dyn Write + Send>) -> Self {
        Printer {
            multi: None,
            bars: HashMap::new(),
            plan: None,
            own: TrialProgress::default(),
            out,
        }
    }

    /// Prints a whole line (above the bars on a terminal).
    pub fn line(&mut self, text: &str) {
        match &self.multi {
            Some(multi) if multi.println(text).is_ok() => {}
            _ => {
                let _ = writeln!(self.out, "{text}");
                let _ = self.out.flush();
            }
        }
    }

    /// Shows one event of trial `key` (`label` names it before its lines and its bar),
    /// with its progress as the model folded it and its time left.
    pub fn trial(
        &mut self,
        key: &str,
        label: &str,
        event: &Event,
        progress: &TrialProgress,
        left: Option<Duration>,
    ) {
        let finished = matches!(event, Event::Finished { .. });
        if !matches!(
            event,
            Event::Batch { .. } | Event::EpochStarted { .. } | Event::Evaluating { .. }
        ) && let Some(text) = describe(event)
        {
            for line in text.lines() {
                self.line(&format!("{label}{line}"));
            }
        }
        let Some(multi) = &self.multi else {
            return;
        };
        if finished {
            if let Some(bar) = self.bars.remove(key) {
                bar.finish_and_clear();
                multi.remove(&bar);
            }
            return;
        }
        let bar = self.bars.entry(key.to_string()).or_insert_with(|| {
            // Hidden until the MultiProgress takes it: a bar drawing on its own before
            // (stderr, by default) leaves a stale frame behind.
            let bar = ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::hidden())
                .with_style(style("{prefix}[{bar:24}] {msg}"))
                .with_prefix(label.to_string());
            match &self.plan {
                Some(plan) => multi.insert_before(plan, bar),
                None => multi.add(bar),
            }
        });
        let (position, length) = progress.bar_position();
        bar.set_length(length);
        bar.set_position(position);
        bar.set_message(progress.status_line(left));
    }

    /// Shows where the plan stands, in the bar under the trials' (terminals only).
    pub fn plan(&mut self, state: &PlanState) {
        let Some(multi) = &self.multi else {
            return;
        };
        let (waiting, running, ended) = state.counts;
        let total = (waiting + running + ended) as u64;
        let plan = self.plan.get_or_insert_with(|| {
            multi.add(
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
                    .with_style(style("plan [{bar:24}] {msg}")),
            )
        });
        plan.set_length(total.max(1));
        plan.set_position(ended as u64);
        let left = state
            .left
            .map_or_else(|| "estimating".to_string(), |d| duration(d.as_secs_f64()));
        plan.set_message(format!(
            "{ended}/{total} trials ended, {running} running; ETA {left}"
        ));
    }

    /// Shows one event of the trial this process runs (`harness train`): the model is
    /// folded here, its time left from the trial's own pace.
    pub fn own(&mut self, event: &Event) {
        self.own.apply(event);
        let progress = self.own.clone();
        let left = pace_of_running(&progress, None)
            .and_then(|pace| trial_left_s(&progress, &pace))
            .map(Duration::from_secs_f64);
        self.trial("", "", event, &progress, left);
    }

    /// Removes every bar (before the closing lines).
    pub fn clear(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(plan) = self.plan.take() {
            plan.finish_and_clear();
        }
    }
}

impl Default for Printer {
    fn default() -> Self {
        Printer::new()
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.clear();
    }
}
