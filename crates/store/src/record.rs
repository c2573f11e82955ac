//! The record of a finished (or diverged) trial, `summary.json` in its folder: the
//! contract's [`contract::TrialRecord`] with the trainer's resolved configuration.

/// Everything about one trial (see [`contract::TrialRecord`]).
pub type TrialRecord = contract::TrialRecord<trainer::TrialConfig>;
