//! A plan being run: which trials are still to run and how long each is estimated to
//! take, which are running and how far they are, and from both the time left.
//!
//! The estimate of a trial still to run is, in order: what the caller knows (the cost
//! model's estimate from the calibration cached on this machine, or the pace of the
//! variant's finished trials), else the mean pace of the epochs finished so far in this
//! plan times the trial's epochs. A running trial's time left comes from its own pace once
//! it has an epoch, else from the speed of its current epoch, else from its estimate
//! ([`crate::eta::pace_of_running`], [`crate::eta::trial_left_s`]). The plan's time left
//! shares the work over the slots but cannot end before its longest running trial
//! ([`crate::eta::plan_left_s`]). The command line's progress bars and the scheduler use
//! this; the dashboard computes the same from the store with the same functions.

use crate::eta::{Pace, pace_of_running, plan_left_s, trial_left_s};
use crate::trial::TrialProgress;
use contract::{EpochMetrics, Event};
use std::collections::BTreeMap;

/// One trial of the plan.
#[derive(Clone, Debug)]
struct Planned {
    epochs: u32,
    estimate_s: Option<f64>,
}

/// The plan's trials still to run and running, with their progress.
#[derive(Clone, Debug, Default)]
pub struct PlanTracker {
    slots: usize,
    waiting: BTreeMap<String, Planned>,
    running: BTreeMap<String, (Planned, TrialProgress)>,
    finished_epochs: Vec<EpochMetrics>,
    ended: usize,
}

impl PlanTracker {
    /// An empty plan run on `slots` parallel slots (at least one).
    pub fn new(slots: usize) -> Self {
        PlanTracker {
            slots: slots.max(1),
            ..PlanTracker::default()
        }
    }

    /// Adds trial `id` of `epochs` epochs to run, with its estimated length if known.
    pub fn add(&mut self, id: &str, epochs: u32, estimate_s: Option<f64>) {
        let estimate_s = estimate_s.filter(|s| s.is_finite() && *s >= 0.0);
        self.waiting
            .insert(id.to_string(), Planned { epochs, estimate_s });
    }

    /// Trial `id` starts running.
    pub fn start(&mut self, id: &str) {
        if let Some(planned) = self.waiting.remove(id) {
            self.running
                .insert(id.to_string(), (planned, TrialProgress::default()));
        }
    }

    /// A trainer event of running trial `id`.
    pub fn event(&mut self, id: &str, event: &Event) {
        if let Some((_, progress)) = self.running.get_mut(id) {
            progress.apply(event);
            if let Event::Epoch(m) = event {
                self.finished_epochs.push(m.clone());
            }
        }
    }

    /// Trial `id` ended (however: recorded, failed, stopped) or will not run.
    pub fn end(&mut self, id: &str) {
        if self.running.remove(id).is_some() || self.waiting.remove(id).is_some() {
            self.ended += 1;
        }
    }

    /// Trial `id` goes back to the waiting list (stopped, to resume later in this plan).
    pub fn requeue(&mut self, id: &str) {
        if let Some((planned, _)) = self.running.remove(id) {
            self.waiting.insert(id.to_string(), planned);
        }
    }

    /// The progress of running trial `id`.
    pub fn progress(&self, id: &str) -> Option<&TrialProgress> {
        self.running.get(id).map(|(_, p)| p)
    }

    /// Trials still to run, running, and ended since the start.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.waiting.len(), self.running.len(), self.ended)
    }

    /// The mean pace of the epochs finished in this plan, per epoch (no overhead).
    fn seen_pace(&self) -> Option<Pace> {
        let n = self.finished_epochs.len();
        (n > 0).then(|| Pace {
            train_s: self
                .finished_epochs
                .iter()
                .map(|e| e.train_time_s)
                .sum::<f64>()
                / n as f64,
            eval_s: self
                .finished_epochs
                .iter()
                .map(|e| e.eval_time_s)
                .sum::<f64>()
                / n as f64,
            overhead_s: 0.0,
        })
    }

    /// The pace a trial is expected to keep before its own epochs say: its estimate
    /// spread over its epochs, else the pace seen in this plan.
    fn expected_pace(&self, planned: &Planned) -> Option<Pace> {
        match planned.estimate_s {
            Some(total) if planned.epochs > 0 => {
                let seen = self.seen_pace();
                // Keep the evaluation share the plan has seen; all training otherwise.
                let eval_share = seen.map_or(0.0, |p| p.eval_s / p.epoch_s().max(1e-9));
                let epoch_s = total / f64::from(planned.epochs);
                Some(Pace {
                    train_s: epoch_s * (1.0 - eval_share),
                    eval_s: epoch_s * eval_share,
                    overhead_s: 0.0,
                })
            }
            _ => self.seen_pace(),
        }
    }

    /// Seconds left of running trial `id`.
    pub fn trial_left_s(&self, id: &str) -> Option<f64> {
        let (planned, progress) = self.running.get(id)?;
        let pace = pace_of_running(progress, self.expected_pace(planned))?;
        trial_left_s(progress, &pace).or(Some(pace.trial_s(planned.epochs)))
    }

    /// Seconds until every trial of the plan has run; `None` while some trial's length
    /// cannot be estimated yet (no estimate given and no epoch finished).
    pub fn left_s(&self) -> Option<f64> {
        let running: Vec<f64> = self
            .running
            .keys()
            .map(|id| self.trial_left_s(id))
            .collect::<Option<_>>()?;
        let waiting: Vec<f64> = self
            .waiting
            .values()
            .map(|p| {
                p.estimate_s
                    .or_else(|| self.seen_pace().map(|pace| pace.trial_s(p.epochs)))
            })
            .collect::<Option<_>>()?;
        Some(plan_left_s(&running, &waiting, self.slots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::tests::{metrics, started};

    #[test]
    fn without_estimates_the_plan_waits_for_an_epoch_then_uses_its_pace() {
        let mut plan = PlanTracker::new(1);
        plan.add("a", 2, None);
        plan.add("b", 2, None);
        assert_eq!(plan.left_s(), None);
        plan.start("a");
        plan.event("a", &started(2));
        assert_eq!(plan.left_s(), None, "no epoch and no speed yet");
        plan.event("a", &Event::EpochStarted { epoch: 1, lr: 0.01 });
        plan.event("a", &Event::Epoch(metrics(1, 70.0)));
        // a: one epoch of 12 s left; b: two epochs of 12 s.
        assert_eq!(plan.trial_left_s("a"), Some(12.0));
        assert_eq!(plan.left_s(), Some(36.0));
        plan.end("a");
        assert_eq!(plan.left_s(), Some(24.0));
        assert_eq!(plan.counts(), (1, 0, 1));
    }

    #[test]
    fn estimates_count_before_any_epoch_and_slots_share_the_work() {
        let mut plan = PlanTracker::new(2);
        plan.add("a", 4, Some(40.0));
        plan.add("b", 4, Some(40.0));
        plan.add("c", 4, Some(40.0));
        assert_eq!(plan.left_s(), Some(60.0));
        plan.start("a");
        plan.event("a", &started(4));
        // Not begun: the whole estimate.
        assert_eq!(plan.trial_left_s("a"), Some(40.0));
        plan.event("a", &Event::EpochStarted { epoch: 1, lr: 0.01 });
        plan.event("a", &Event::Epoch(metrics(1, 70.0)));
        // Its own pace now (12 s an epoch), 3 epochs left.
        assert_eq!(plan.trial_left_s("a"), Some(36.0));
        assert_eq!(plan.left_s(), Some((36.0 + 80.0) / 2.0));
        plan.requeue("a");
        assert_eq!(plan.counts(), (3, 0, 0));
    }

    #[test]
    fn the_plan_cannot_end_before_its_longest_trial() {
        let mut plan = PlanTracker::new(4);
        plan.add("a", 10, Some(100.0));
        plan.start("a");
        plan.event("a", &started(10));
        assert_eq!(plan.left_s(), Some(100.0));
    }
}
