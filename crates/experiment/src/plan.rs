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

/// All trials of an experiment, seed-major: every variant's first seed, then every
/// variant's second seed, and so on, so that a plan cut short (interrupted, or a cluster
/// array partly run) already has complete tables at a smaller n.
pub fn plan(experiment: &Experiment, dataset_digest: &str, store: &Store) -> Vec<PlannedTrial> {
    experiment
        .seeds
        .iter()
        .flat_map(|&seed| {
            experiment.variants.iter().map(move |variant| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_runs_every_variants_first_seed_before_any_second_seed() {
        let text = r#"Experiment(
            name: "order", title: "t", seeds: 3, baseline: "a",
            base: (
                model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
                optimizer: (name: adam, lr: 0.01),
                schedule: Step(every: 10, gamma: 0.1),
                epochs: 1,
            ),
            variants: [(name: "a"), (name: "b", set: {"model.dropout": "0.5"})],
        )"#;
        let e = crate::config::parse(std::path::Path::new("order.ron"), text, &[]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let planned = plan(&e, "digest", &Store::new(tmp.path()));
        let order: Vec<(String, u64)> = planned
            .iter()
            .map(|t| (t.spec.variant.name.clone(), t.spec.seed))
            .collect();
        let expected: Vec<(String, u64)> =
            [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
                .iter()
                .map(|&(v, s)| (v.to_string(), s))
                .collect();
        assert_eq!(order, expected);
    }
}
