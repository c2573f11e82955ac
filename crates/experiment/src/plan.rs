//! The plan of an experiment: every variant × every seed, with ids and their state in the
//! store.

use crate::config::Experiment;
use crate::store::{Store, TrialState};
use crate::trial_run::TrialSpec;

/// One planned trial and where it stands.
#[derive(Clone, Debug)]
pub struct PlannedTrial {
    /// What to run.
    pub spec: TrialSpec,
    /// Its state in the store when the plan was made.
    pub state: TrialState,
}

/// All trials of an experiment, variant-major (all seeds of the first variant first).
pub fn plan(experiment: &Experiment, dataset_digest: &str, store: &Store) -> Vec<PlannedTrial> {
    experiment
        .variants
        .iter()
        .flat_map(|variant| {
            experiment.seeds.iter().map(move |&seed| {
                let spec = TrialSpec::new(experiment, variant, seed, dataset_digest);
                let state = store.state(&experiment.name, &spec.id);
                PlannedTrial { spec, state }
            })
        })
        .collect()
}

/// Counts of a plan by state: (done, running elsewhere, pending).
pub fn counts(plan: &[PlannedTrial]) -> (usize, usize, usize) {
    plan.iter().fold((0, 0, 0), |(d, r, p), t| match t.state {
        TrialState::Done => (d + 1, r, p),
        TrialState::Running => (d, r + 1, p),
        TrialState::Pending => (d, r, p + 1),
    })
}
