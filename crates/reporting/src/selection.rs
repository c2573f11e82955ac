//! Which records an export (`export csv`, `export tensorboard`) takes: every record of the
//! store, or the records of some experiments, each trial once.

use spec::Experiment;
use store::record::TrialRecord;
use store::{Store, StoreError};

/// How a trial that several variants or experiments share is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Naming {
    /// Once, under the experiment and variant that ran it (a row per trial: CSV).
    AsRecorded,
    /// Once per experiment and variant whose settings it has, under their names (a run
    /// per variant: TensorBoard groups the seeds of a variant).
    PerVariant,
}

/// The records of `experiments` in `store` (every record when `experiments` is empty),
/// and a warning for each unusable one.
pub fn records(
    store: &Store,
    experiments: &[Experiment],
    naming: Naming,
) -> Result<(Vec<TrialRecord>, Vec<String>), StoreError> {
    if experiments.is_empty() {
        let found = store.records()?;
        let warnings = found.warnings();
        return Ok((found.records, warnings));
    }
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    let mut seen_ids = std::collections::HashSet::new();
    for experiment in experiments {
        let found = store.records_for(&experiment.membership())?;
        warnings.extend(found.warnings());
        let mut seen = std::collections::HashSet::new();
        for record in found.records {
            match naming {
                Naming::AsRecorded => {
                    if seen_ids.insert(record.id.clone()) {
                        all.push(record);
                    }
                }
                Naming::PerVariant => {
                    let digest = &record.config_digest;
                    let mut named: Vec<TrialRecord> = experiment
                        .variants
                        .iter()
                        .filter(|v| store::id::config_digest(v.trial.config()) == *digest)
                        .map(|v| TrialRecord {
                            experiment: experiment.name.clone(),
                            variant: v.name.clone(),
                            ..record.clone()
                        })
                        .collect();
                    if named.is_empty() {
                        named.push(record);
                    }
                    all.extend(
                        named
                            .into_iter()
                            .filter(|r| seen.insert((r.variant.clone(), r.id.clone()))),
                    );
                }
            }
        }
    }
    Ok((all, warnings))
}
