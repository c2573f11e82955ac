//! The contract between the parts of the harness that run trials and those that watch and
//! read them: what the trainer emits ([`Event`], [`EpochMetrics`]), what a finished trial
//! leaves ([`TrialRecord`], [`Provenance`]), where the store keeps it ([`layout`]) and who
//! is running a trial ([`claim`]).
//!
//! It depends on serde alone (no libtorch), so the dashboard and any other reader build
//! without the trainer's native libraries. The trainer writes these types, the store
//! validates and moves them, the dashboard and the Slurm executor read them: a change here
//! is a change of the on-disk format, and the record's [`RECORD_FORMAT`] or the trial
//! schema says so.

pub mod claim;
pub mod events;
pub mod exit;
pub mod finite;
pub mod layout;
pub mod record;

pub use claim::{Holder, TrialStart};
pub use events::{EpochMetrics, Event, Latency, Resumed, Status, Timing, TrialResult};
pub use layout::Layout;
pub use record::{InvalidRecord, Provenance, RECORD_FORMAT, Settings, TrialRecord, is_trial_id};
