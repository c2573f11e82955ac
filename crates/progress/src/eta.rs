//! Time estimates: how long an epoch and a trial take ([`Pace`]), what is left of a running
//! trial, and of the whole plan. Evaluation is part of every estimate: a pace holds the
//! evaluation pass's time beside the training pass's, and the fixed cost of a trial (data
//! loading, latency measurement, plots) as an overhead.

use crate::trial::{Phase, TrialProgress};
use contract::{Status, TrialRecord};

/// Until one epoch of a trial has been evaluated, its evaluation pass is guessed to run
/// this many times faster per image than training (forward only, no backward pass).
pub const EVAL_SPEEDUP: f64 = 3.0;

/// How long trials of one kind take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// Training pass of one epoch, seconds.
    pub train_s: f64,
    /// Evaluation pass of one epoch, seconds.
    pub eval_s: f64,
    /// The rest of a trial (start-up, latency measurement, plots), seconds.
    pub overhead_s: f64,
}

impl Pace {
    /// One epoch, training and evaluation.
    pub fn epoch_s(&self) -> f64 {
        self.train_s + self.eval_s
    }

    /// A whole trial of `epochs` epochs.
    pub fn trial_s(&self, epochs: u32) -> f64 {
        f64::from(epochs) * self.epoch_s() + self.overhead_s
    }
}

fn mean(xs: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs
        .into_iter()
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The mean pace of finished trials: epoch times over every recorded epoch, overhead over
/// the trials that ran to the end. `None` without a recorded epoch.
pub fn pace_of<C>(records: &[&TrialRecord<C>]) -> Option<Pace> {
    let epochs = || records.iter().flat_map(|r| r.epochs.iter());
    let train_s = mean(epochs().map(|e| e.train_time_s))?;
    let eval_s = mean(epochs().map(|e| e.eval_time_s))?;
    let overhead_s = mean(
        records
            .iter()
            .filter(|r| r.status == Status::Finished)
            .map(|r| {
                let epochs: f64 = r
                    .epochs
                    .iter()
                    .map(|e| e.train_time_s + e.eval_time_s)
                    .sum();
                (r.wall_time_s - epochs).max(0.0)
            }),
    )
    .unwrap_or(0.0);
    Some(Pace {
        train_s,
        eval_s,
        overhead_s,
    })
}

/// The pace of a running trial: its own finished epochs when it has some, else the speed
/// of its current epoch (with the evaluation from `fallback`, or guessed with
/// [`EVAL_SPEEDUP`]), else `fallback`.
pub fn pace_of_running(progress: &TrialProgress, fallback: Option<Pace>) -> Option<Pace> {
    let overhead_s = fallback.map_or(0.0, |p| p.overhead_s);
    if !progress.epochs.is_empty() {
        return Some(Pace {
            train_s: mean(progress.epochs.iter().map(|e| e.train_time_s))?,
            eval_s: mean(progress.epochs.iter().map(|e| e.eval_time_s))?,
            overhead_s,
        });
    }
    if let (Phase::Training { images_per_s, .. }, Some(start)) = (&progress.phase, &progress.start)
        && *images_per_s > 0.0
        && images_per_s.is_finite()
    {
        let eval_s = fallback.map_or_else(
            || start.test_images as f64 / (images_per_s * EVAL_SPEEDUP),
            |p| p.eval_s,
        );
        return Some(Pace {
            train_s: start.train_images as f64 / images_per_s,
            eval_s,
            overhead_s,
        });
    }
    fallback
}

/// Seconds left in the current epoch (training rest plus evaluation), or `None` when no
/// epoch is under way.
pub fn epoch_left_s(progress: &TrialProgress, pace: &Pace) -> Option<f64> {
    match &progress.phase {
        Phase::Training {
            batch,
            batches,
            images_per_s,
            ..
        } => {
            let fraction_left = if *batches > 0 {
                1.0 - (*batch as f64 / *batches as f64).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let train_left = match &progress.start {
                Some(start) if *images_per_s > 0.0 && images_per_s.is_finite() => {
                    start.train_images as f64 * fraction_left / images_per_s
                }
                _ => pace.train_s * fraction_left,
            };
            Some(train_left + pace.eval_s)
        }
        Phase::Evaluating => Some(pace.eval_s),
        _ => None,
    }
}

/// Seconds left of a running trial: the current epoch, then the epochs not begun. `None`
/// until the trial has said how many epochs it runs.
pub fn trial_left_s(progress: &TrialProgress, pace: &Pace) -> Option<f64> {
    let planned = progress.planned_epochs()?;
    let current = epoch_left_s(progress, pace);
    let begun = progress.epochs.len() as u32 + u32::from(current.is_some());
    let rest = f64::from(planned.saturating_sub(begun)) * pace.epoch_s();
    Some(match progress.phase {
        Phase::Finished(_) => 0.0,
        Phase::Latency => pace.overhead_s / 2.0,
        _ => current.unwrap_or(0.0) + rest,
    })
}

/// Seconds left of a plan: `running` holds what is left of each running trial,
/// `pending` the estimated length of each trial still to run, and `slots` how many trials
/// run at once. Work is shared over the slots, but the plan cannot end before its longest
/// running trial.
pub fn plan_left_s(running: &[f64], pending: &[f64], slots: usize) -> f64 {
    let slots = slots.max(1) as f64;
    let total: f64 = running.iter().chain(pending).sum();
    let longest = running.iter().copied().fold(0.0, f64::max);
    (total / slots).max(longest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::tests::{metrics, record, started};
    use contract::Event;

    const PACE: Pace = Pace {
        train_s: 10.0,
        eval_s: 2.0,
        overhead_s: 4.0,
    };

    #[test]
    fn a_pace_counts_evaluation_and_overhead() {
        assert_eq!(PACE.epoch_s(), 12.0);
        assert_eq!(PACE.trial_s(3), 40.0);
    }

    #[test]
    fn the_pace_of_finished_trials_is_their_mean() {
        let mut a = record(&[70.0, 80.0]);
        a.wall_time_s = 30.0; // 2 epochs of 12 s + 6 s overhead
        let mut b = record(&[71.0, 81.0]);
        b.epochs[0].train_time_s = 20.0;
        b.epochs[1].train_time_s = 20.0;
        b.wall_time_s = 46.0; // 2 epochs of 22 s + 2 s overhead
        let pace = pace_of(&[&a, &b]).unwrap();
        assert_eq!(pace.train_s, 15.0);
        assert_eq!(pace.eval_s, 2.0);
        assert_eq!(pace.overhead_s, 4.0);
        assert_eq!(pace_of::<()>(&[]), None);
    }

    #[test]
    fn a_running_trial_counts_its_evaluations() {
        let mut p = TrialProgress::default();
        p.apply(&started(3));
        assert_eq!(trial_left_s(&p, &PACE), Some(36.0), "three epochs of 12 s");
        p.apply(&Event::EpochStarted { epoch: 1, lr: 0.1 });
        p.apply(&Event::Batch {
            epoch: 1,
            batch: 6,
            batches: 8,
            loss: 1.0,
            images_per_s: 64.0,
        });
        // 512 images * 2/8 left at 64 img/s = 2 s, + 2 s eval, + 2 epochs * 12 s.
        assert_eq!(epoch_left_s(&p, &PACE), Some(4.0));
        assert_eq!(trial_left_s(&p, &PACE), Some(28.0));
        p.apply(&Event::Evaluating { epoch: 1 });
        assert_eq!(trial_left_s(&p, &PACE), Some(26.0));
        p.apply(&Event::Epoch(metrics(1, 70.0)));
        assert_eq!(epoch_left_s(&p, &PACE), None);
        assert_eq!(trial_left_s(&p, &PACE), Some(24.0));
    }

    #[test]
    fn a_running_trials_own_pace_wins_once_it_has_an_epoch() {
        let mut p = TrialProgress::default();
        assert_eq!(pace_of_running(&p, None), None);
        assert_eq!(pace_of_running(&p, Some(PACE)), Some(PACE));
        p.apply(&started(3));
        p.apply(&Event::EpochStarted { epoch: 1, lr: 0.1 });
        p.apply(&Event::Batch {
            epoch: 1,
            batch: 1,
            batches: 8,
            loss: 1.0,
            images_per_s: 64.0,
        });
        let guess = pace_of_running(&p, None).unwrap();
        assert_eq!(guess.train_s, 8.0, "512 images at 64 img/s");
        assert_eq!(guess.eval_s, 256.0 / (64.0 * EVAL_SPEEDUP));
        assert_eq!(pace_of_running(&p, Some(PACE)).unwrap().eval_s, 2.0);
        p.apply(&Event::Epoch(metrics(1, 70.0)));
        let own = pace_of_running(&p, Some(PACE)).unwrap();
        assert_eq!((own.train_s, own.eval_s, own.overhead_s), (10.0, 2.0, 4.0));
    }

    #[test]
    fn the_plan_shares_work_over_slots_but_waits_for_the_longest_trial() {
        assert_eq!(plan_left_s(&[], &[], 1), 0.0);
        assert_eq!(plan_left_s(&[10.0], &[40.0, 40.0], 1), 90.0);
        assert_eq!(plan_left_s(&[10.0, 20.0], &[40.0, 40.0], 2), 55.0);
        assert_eq!(plan_left_s(&[100.0], &[10.0], 2), 100.0);
        assert_eq!(plan_left_s(&[], &[40.0], 0), 40.0, "no slot counts as one");
    }
}
