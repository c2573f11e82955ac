//! Which records an export (`export csv`, `export tensorboard`) takes: every record of the
//! store, or the records of some experiments, named as those experiments name them.

use spec::Experiment;
use store::record::TrialRecord;
use store::{Store, StoreError};

/// The records of `experiments` in `store` (every record, as recorded, when `experiments`
/// is empty), and a warning for each unusable one.
///
/// A trial is listed under the experiment and variant of the files given, not under the
/// one that happened to run it: the dropout table's `0.2` rows are the baseline trials that
/// the architectures table recorded as `4 conv`, so that grouping an export of
/// `configs/dropout.ron` by variant finds all three dropouts. A trial that several of the
/// given experiments share (the baseline) is listed once under each of them, with the same
/// `trial_id`; one that matches no variant's settings (a ⚠ row) keeps its recorded names.
pub fn records(
    store: &Store,
    experiments: &[Experiment],
) -> Result<(Vec<TrialRecord>, Vec<String>), StoreError> {
    if experiments.is_empty() {
        let found = store.records()?;
        let warnings = found.warnings();
        return Ok((found.records, warnings));
    }
    let mut all = Vec::new();
    let mut warnings = Vec::new();
    for experiment in experiments {
        let found = store.records_for(&experiment.membership())?;
        warnings.extend(found.warnings());
        let mut seen = std::collections::HashSet::new();
        for record in found.records {
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
    Ok((all, warnings))
}
