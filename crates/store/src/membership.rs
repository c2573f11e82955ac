//! Which records belong to an experiment.

use crate::record::TrialRecord;
use std::collections::HashSet;

/// Which records belong to an experiment: the one membership rule, used by the store,
/// the reports, parity and the dashboard. A trial belongs to no experiment; an
/// experiment's records are the store's records whose configuration digest is one of its
/// variants' (any seed, whichever experiment ran them), and those it ran itself under
/// other settings (a report shows them as such).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    experiment: String,
    digests: HashSet<String>,
}

impl Membership {
    /// The membership of experiment `name` whose variants resolve to `configs`.
    pub fn new<'a>(
        name: &str,
        configs: impl IntoIterator<Item = &'a trainer::TrialConfig>,
    ) -> Membership {
        Membership {
            experiment: name.to_string(),
            digests: configs.into_iter().map(crate::id::config_digest).collect(),
        }
    }

    /// Whether `record` belongs to the experiment.
    pub fn admits(&self, record: &TrialRecord) -> bool {
        self.digests.contains(&record.config_digest) || record.experiment == self.experiment
    }

    /// Whether `record` was run under one of the experiment's variants' settings (not only
    /// by the experiment under other settings).
    pub fn has_settings_of(&self, record: &TrialRecord) -> bool {
        self.digests.contains(&record.config_digest)
    }
}
