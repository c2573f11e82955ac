//! Terminal output of running trials, drawn by `indicatif` from the one progress model
//! (the `progress` crate, which the scheduler and the dashboard use too).
//!
//! On a terminal: one bar per running trial (a `MultiProgress`, so `--jobs N` shows N
//! bars) with its epoch, loss, speed and time left, and under them the plan's bar with its
//! time left; the lines that matter (starts, epochs, latency, ends) are printed above the
//! bars. Not on a terminal (a pipe, a log file, CI): the same lines, plain, and no bars.

use experiment::trial_run::describe;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use progress::eta::{pace_of_running, trial_left_s};
use progress::format::{duration, rate};
use progress::{Phase, TrialProgress};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;
use trainer::Event;

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
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("a valid progress template")
        .progress_chars("#>.")
}

/// The text after a trial's bar: epoch, loss, speed and time left, or what it is doing.
pub fn trial_message(p: &TrialProgress, left: Option<Duration>) -> String {
    let epochs = p.planned_epochs().unwrap_or(0);
    let left = left.map_or_else(String::new, |d| {
        format!(" ETA {}", duration(d.as_secs_f64()))
    });
    match &p.phase {
        Phase::Starting => "loading data, building the model".into(),
        Phase::Ready => format!("ready{left}"),
        Phase::Training { batch: 0, .. } => format!("epoch {}/{epochs} starting{left}", p.epoch),
        Phase::Training {
            loss, images_per_s, ..
        } => format!(
            "epoch {}/{epochs} loss {loss:.4} {}{left}",
            p.epoch,
            rate(*images_per_s)
        ),
        Phase::Evaluating => format!("epoch {}/{epochs} evaluating{left}", p.epoch),
        Phase::EpochDone => format!("epoch {}/{epochs} done{left}", p.epoch),
        Phase::Latency => format!("measuring latency{left}"),
        Phase::Finished(_) => "finished".into(),
    }
}

/// Batches done over the whole trial, and the trial's batches: the bar's position and length.
fn trial_position(p: &TrialProgress) -> (u64, u64) {
    let Some(start) = &p.start else {
        return (0, 1);
    };
    let batches = start.batches.max(1) as u64;
    let total = batches * u64::from(start.epochs.max(1));
    let done = p.epochs.len() as u64 * batches;
    let current = match &p.phase {
        Phase::Training { batch, .. } => *batch as u64,
        Phase::Evaluating => batches,
        _ => 0,
    };
    ((done + current).min(total), total)
}

impl Printer {
    /// Bars when stdout is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let multi = std::io::stdout()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        Printer {
            multi,
            bars: HashMap::new(),
            plan: None,
            own: TrialProgress::default(),
        }
    }

    /// Prints a whole line (above the bars on a terminal).
    pub fn line(&mut self, text: &str) {
        match &self.multi {
            Some(multi) if multi.println(text).is_ok() => {}
            _ => println!("{text}"),
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
        let (position, length) = trial_position(progress);
        bar.set_length(length);
        bar.set_position(position);
        bar.set_message(trial_message(progress, left));
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

impl Drop for Printer {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainer::{EpochMetrics, Status};

    fn started() -> Event {
        Event::Started {
            parameters: 1,
            train_images: 512,
            test_images: 256,
            batches: 8,
            epochs: 2,
            device: "cpu".into(),
            threads: 1,
        }
    }

    #[test]
    fn a_trials_bar_counts_batches_over_all_its_epochs() {
        let mut p = TrialProgress::default();
        assert_eq!(trial_position(&p), (0, 1));
        assert_eq!(trial_message(&p, None), "loading data, building the model");
        p.apply(&started());
        p.apply(&Event::EpochStarted { epoch: 1, lr: 0.01 });
        assert_eq!(trial_message(&p, None), "epoch 1/2 starting");
        p.apply(&Event::Batch {
            epoch: 1,
            batch: 4,
            batches: 8,
            loss: 0.5,
            images_per_s: 2048.0,
        });
        assert_eq!(trial_position(&p), (4, 16));
        assert_eq!(
            trial_message(&p, Some(Duration::from_secs(75))),
            "epoch 1/2 loss 0.5000 2,048 img/s ETA 1:15"
        );
        p.apply(&Event::Evaluating { epoch: 1 });
        assert_eq!(trial_position(&p), (8, 16));
        p.apply(&Event::Epoch(EpochMetrics {
            epoch: 1,
            lr: 0.01,
            train_loss_mean: 0.5,
            train_loss_sum: 4.0,
            test_loss: 0.4,
            test_accuracy: 80.0,
            train_time_s: 1.0,
            eval_time_s: 0.1,
            images_per_s: 512.0,
        }));
        assert_eq!(trial_position(&p), (8, 16));
        assert_eq!(trial_message(&p, None), "epoch 1/2 done");
        p.apply(&Event::Finished {
            status: Status::Finished,
            wall_time_s: 2.0,
        });
        assert_eq!(trial_message(&p, None), "finished");
    }
}
