//! The experiment specification: experiment files and their `--set` overrides
//! ([`config`], [`overrides`]) and the trials they plan ([`plan`]: variants × seeds, each
//! with its id and its state in the store). No libtorch: the dashboard reads experiments
//! through it too.
//!
//! Modules depend one way: [`overrides`] ← [`config`] ← [`plan`].

pub mod config;
pub mod overrides;
pub mod plan;

pub use config::{ConfigError, Experiment, ReportKind, StudyValues, Variant};
pub use overrides::Override;
pub use plan::TrialSpec;
