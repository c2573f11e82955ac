//! The plan of an experiment: every variant × every seed, with ids and their state in the
//! store.

use crate::config::{Experiment, Variant};
use store::id;
use store::{Store, TrialState};

/// One planned trial: a variant of an experiment and a seed.
#[derive(Clone, Debug)]
pub struct TrialSpec {
    /// Experiment name.
    pub experiment: String,
    /// The variant (with its validated configuration).
    pub variant: Variant,
    /// Seed.
    pub seed: u64,
    /// Trial id.
    pub id: String,
}

impl TrialSpec {
    /// The spec of `variant` at `seed` on the dataset with `dataset_digest`.
    pub fn new(
        experiment: &Experiment,
        variant: &Variant,
        seed: u64,
        dataset_digest: &str,
    ) -> Self {
        TrialSpec {
            experiment: experiment.name.clone(),
            id: id::trial_id(variant.trial.config(), seed, dataset_digest),
            variant: variant.clone(),
            seed,
        }
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        id::short(&self.id)
    }
}

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
                let state = store.state(&spec.id);
                PlannedTrial { spec, state }
            })
        })
        .collect()
}

/// The union of several experiments' plans.
#[derive(Clone, Debug)]
pub struct Union {
    /// Each distinct trial once (by id), as the first experiment that plans it names it,
    /// seed-major across all experiments: every experiment's first seed of every variant
    /// comes before anyone's second seed, so an interrupted study has every table at a
    /// smaller n.
    pub trials: Vec<PlannedTrial>,
    /// Trials the experiments plan, counting a shared one once per experiment.
    pub planned: usize,
}

impl Union {
    /// Planned trials that another experiment of the union (or the same trial twice in
    /// one experiment) already plans.
    pub fn shared(&self) -> usize {
        self.planned - self.trials.len()
    }
}

/// The union of `plans` (each one experiment's plan, as [`plan`] makes it). A trial is
/// identified by its id (resolved configuration, seed and data), so the study's baseline,
/// which seven tables show, is one trial per seed.
pub fn union(plans: &[(&Experiment, Vec<PlannedTrial>)]) -> Union {
    let mut ranked: Vec<(usize, usize, usize, &PlannedTrial)> = Vec::new();
    for (e, (experiment, trials)) in plans.iter().enumerate() {
        for (at, t) in trials.iter().enumerate() {
            let rank = experiment
                .seeds
                .iter()
                .position(|&s| s == t.spec.seed)
                .unwrap_or(usize::MAX);
            ranked.push((rank, e, at, t));
        }
    }
    let planned = ranked.len();
    ranked.sort_by_key(|&(rank, e, at, _)| (rank, e, at));
    let mut seen = std::collections::HashSet::new();
    let trials = ranked
        .into_iter()
        .filter(|(_, _, _, t)| seen.insert(t.spec.id.clone()))
        .map(|(_, _, _, t)| t.clone())
        .collect();
    Union { trials, planned }
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

    fn parse(name: &str, seeds: u32, variants: &str) -> Experiment {
        let text = format!(
            r#"Experiment(
            name: "{name}", title: "t", seeds: {seeds}, baseline: "base",
            base: (
                model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
                optimizer: (name: adam, lr: 0.01),
                schedule: Step(every: 10, gamma: 0.1),
                epochs: 1,
            ),
            variants: [{variants}],
        )"#
        );
        crate::config::parse(std::path::Path::new("x.ron"), &text, &[]).unwrap()
    }

    #[test]
    fn a_trial_two_experiments_share_is_planned_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        // The shared variant has other names in the two files: identity is the settings.
        let dropout = parse(
            "dropout",
            2,
            r#"(name: "0"), (name: "base", set: {"model.dropout": "0.5"})"#,
        );
        let dropout = Experiment {
            variants: dropout.variants.into_iter().rev().collect(),
            ..dropout
        };
        let batchnorm = parse(
            "batchnorm",
            2,
            r#"(name: "base", set: {"model.dropout": "0.5"}), (name: "no", set: {"model.dropout": "0.5", "model.batch_norm": "false"})"#,
        );
        let plans = [
            (&dropout, plan(&dropout, "d", &store)),
            (&batchnorm, plan(&batchnorm, "d", &store)),
        ];
        let u = union(&plans);
        assert_eq!(u.planned, 8);
        assert_eq!(u.trials.len(), 6);
        assert_eq!(u.shared(), 2);
        let ids: std::collections::HashSet<&str> =
            u.trials.iter().map(|t| t.spec.id.as_str()).collect();
        assert_eq!(ids.len(), 6, "each trial once");
        // Seed-major across the experiments: all seed-0 trials first.
        let seeds: Vec<u64> = u.trials.iter().map(|t| t.spec.seed).collect();
        assert_eq!(seeds, vec![0, 0, 0, 1, 1, 1]);
        // The first experiment that plans a shared trial names it.
        let shared = &u.trials[0];
        assert_eq!(shared.spec.experiment, "dropout");
        assert_eq!(
            plans[1].1[0].spec.id, shared.spec.id,
            "batchnorm's base is dropout's base"
        );
    }

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
