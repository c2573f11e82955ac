//! Experiments: the part of the harness that turns configuration files into planned
//! trials, runs them into the store, and turns the store back into statistics and reports.
//!
//! The main path: [`config`] (RON file + `--set` [`overrides`]) → [`plan`] (variants ×
//! seeds, each with an [`id`]) → [`trial_run`] (the trainer, writing a trial folder) →
//! [`store`] (one folder per trial, published atomically) → [`stats`] → [`report`]. The
//! modules do not yet depend on each other one way only (`config` and `overrides`,
//! `config` and `store`, `report` and `power`, `power` and `stats` import each other);
//! splitting the crate by concern is issue #22's work.

pub mod archive;
pub mod config;
pub mod cost;
pub mod crash;
pub mod export;
pub mod frontier;
pub mod id;
pub mod lease;
#[cfg(feature = "torch")]
pub mod onnx_export;
pub mod overrides;
pub mod parity;
pub mod plan;
pub mod plot;
pub mod power;
pub mod provenance;
pub mod quiet_latency;
pub mod record;
pub mod report;
pub mod reproduce;
pub mod schedule;
pub mod seeding;
pub mod side_file;
pub mod slurm;
pub mod stats;
pub mod store;
pub mod tensorboard_export;
pub mod trial_files;
#[cfg(feature = "torch")]
pub mod trial_run;

pub use config::{ConfigError, Experiment, ReportKind, StudyValues, Variant};
pub use overrides::Override;
pub use plan::TrialSpec;
pub use record::TrialRecord;
pub use store::{Store, TrialState};
#[cfg(feature = "torch")]
pub use trial_run::{Outcome, run_trial};
