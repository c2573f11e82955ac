//! Progress of a whole plan (an experiment's grid): trials recorded, time spent, and the
//! time left, from the paces of finished trials of the same variant ([`progress::eta`]), else
//! the command line's cost model (the calibration cached on this machine, the same
//! estimate `replicate` prints), and the progress of the running ones. Pure: it reads the
//! scanned state and the followed trials only.

use crate::scan::ExperimentState;
use progress::eta::{Pace, pace_of, pace_of_running, plan_left_s, trial_left_s};
use progress::trial::TrialProgress;
use store::TrialStatus;

/// The numbers of the progress panel's plan line.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanProgress {
    /// Trials with a result (finished or diverged).
    pub recorded: usize,
    /// Trials in the plan: the grid's, less those left out as too slow for the machine.
    pub total: usize,
    /// Unstarted trials of variants left out as too slow (see
    /// [`ExperimentState::left_out`]).
    pub left_out: usize,
    /// Trials running now.
    pub running: usize,
    /// Trials still to run (pending or left over).
    pub to_run: usize,
    /// Seconds of trial time so far: recorded trials' wall times plus the running
    /// trials' training and evaluation.
    pub spent_s: f64,
    /// Seconds until the plan is done, with the running trials as the parallel slots
    /// (or one slot when none runs); `None` when some trial's length cannot be estimated
    /// yet.
    pub left_s: Option<f64>,
}

/// The pace of variant `variant`: its pooled finished trials, else any of the
/// experiment's recorded trials.
pub fn variant_pace(e: &ExperimentState, variant: usize) -> Option<Pace> {
    pace_of(&e.pooled_records(variant)).or_else(|| {
        let all: Vec<_> = e.records.iter().collect();
        pace_of(&all)
    })
}

/// Seconds left of the running trial of `variant` with `progress`.
pub fn running_left_s(
    e: &ExperimentState,
    variant: usize,
    progress: &TrialProgress,
) -> Option<f64> {
    let pace = pace_of_running(progress, variant_pace(e, variant))?;
    match trial_left_s(progress, &pace) {
        Some(left) => Some(left),
        // Not started yet: the whole trial.
        None => Some(pace.trial_s(e.experiment.variants[variant].trial.epochs)),
    }
}

/// The plan's progress; `live` gives the progress of a running trial by id.
pub fn plan_progress<'p>(
    e: &ExperimentState,
    live: &dyn Fn(&str) -> Option<&'p TrialProgress>,
) -> PlanProgress {
    let mut spent_s = 0.0;
    let mut running_left = Vec::new();
    let mut pending = Vec::new();
    let mut unknown = false;
    let mut running_paces: Vec<(usize, Pace)> = Vec::new();
    for cell in e.cells.iter().filter(|c| c.state == TrialStatus::Running) {
        let Some(progress) = live(&cell.id) else {
            unknown = true;
            continue;
        };
        spent_s += progress.elapsed_s();
        if let Some(pace) = pace_of_running(progress, variant_pace(e, cell.variant)) {
            running_paces.push((cell.variant, pace));
        }
        match running_left_s(e, cell.variant, progress) {
            Some(left) => running_left.push(left),
            None => unknown = true,
        }
    }
    for cell in &e.cells {
        match cell.state {
            TrialStatus::Done | TrialStatus::Diverged => {
                spent_s += e.record(&cell.id).map_or(0.0, |r| r.wall_time_s);
            }
            // Left out as too slow for the machine: not part of what is left to run.
            TrialStatus::Pending if e.is_left_out(cell) => {}
            TrialStatus::Pending | TrialStatus::Queued | TrialStatus::Failed => {
                let epochs = e.experiment.variants[cell.variant].trial.epochs;
                let own = pace_of(&e.pooled_records(cell.variant)).map(|p| p.trial_s(epochs));
                let modelled = e.calibrated_s.get(cell.variant).copied().flatten();
                let guessed = || {
                    variant_pace(e, cell.variant)
                        .or_else(|| {
                            let same = running_paces.iter().find(|(v, _)| *v == cell.variant);
                            same.or(running_paces.first()).map(|(_, p)| *p)
                        })
                        .map(|p| p.trial_s(epochs))
                };
                match own.or(modelled).or_else(guessed) {
                    Some(s) => pending.push(s),
                    None => unknown = true,
                }
            }
            TrialStatus::Running => {}
        }
    }
    let counts = e.counts;
    PlanProgress {
        recorded: counts.recorded(),
        total: counts.total() - counts.left_out,
        left_out: counts.left_out,
        running: counts.running,
        to_run: counts.pending + counts.failed,
        spent_s,
        left_s: (!unknown).then(|| plan_left_s(&running_left, &pending, counts.running.max(1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::Event;
    use fixtures as fixture;
    use store::Store;

    /// Before a variant has a finished trial, its trials are estimated by the command
    /// line's cost model (the calibration cached for the last run's split); its own
    /// finished trials take over once they exist.
    #[test]
    fn the_plan_eta_falls_back_to_the_cost_model_not_to_other_variants() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let mut state = ExperimentState::new(e.clone(), &data::canonical_digest());
        state.rescan(&store);
        assert_eq!(state.calibrated_s, vec![None, None], "no run, no estimate");
        state.calibrated_s = vec![Some(40.0), Some(20.0)];
        let none = |_: &str| None;
        let p = plan_progress(&state, &none);
        assert_eq!(p.left_s, Some(120.0), "2 x 40 s + 2 x 20 s, one at a time");

        // base has a finished trial of 30 s: its own pace wins; flip keeps the model's.
        fixture::write_record(&store, &fixture::record(&e, "base", 0, &[70.0, 80.0])).unwrap();
        state.rescan(&store);
        let p = plan_progress(&state, &none);
        assert_eq!(p.left_s, Some(70.0), "30 s + 2 x 20 s");
    }

    #[test]
    fn the_plan_eta_uses_finished_paces_and_running_progress() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let mut state = ExperimentState::new(e.clone(), &data::canonical_digest());
        state.rescan(&store);
        let none = |_: &str| None;
        let p = plan_progress(&state, &none);
        assert_eq!((p.recorded, p.total, p.to_run), (0, 4, 4));
        assert_eq!(p.left_s, None, "nothing to estimate from");

        // One finished trial: 2 epochs of 12 s + 6 s = 30 s each.
        fixture::write_record(&store, &fixture::record(&e, "base", 0, &[70.0, 80.0])).unwrap();
        state.rescan(&store);
        let p = plan_progress(&state, &none);
        assert_eq!(p.recorded, 1);
        assert_eq!(p.spent_s, 30.0);
        assert_eq!(
            p.left_s,
            Some(90.0),
            "three more trials of 30 s, one at a time"
        );

        // A running trial halfway through its first epoch's training.
        let running = fixture::start(&store, &e, "flip", 0);
        state.rescan(&store);
        let mut progress = TrialProgress::default();
        progress.apply(&fixture::started(2));
        progress.apply(&Event::EpochStarted { epoch: 1, lr: 0.01 });
        progress.apply(&Event::Batch {
            epoch: 1,
            batch: 4,
            batches: 8,
            loss: 1.0,
            images_per_s: 51.2,
        });
        let live = |id: &str| (id == running.id).then_some(&progress);
        let p = plan_progress(&state, &live);
        assert_eq!(p.running, 1);
        assert_eq!(p.spent_s, 35.0, "30 s recorded + 5 s of training");
        // Running: 5 s of training + 2 s eval + 12 s epoch = 19 s; two pending of 30 s.
        assert_eq!(p.left_s, Some(79.0));
    }
}
