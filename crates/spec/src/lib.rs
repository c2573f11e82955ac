//! The experiment specification: experiment files and their `--set` overrides
//! ([`config`], [`overrides`]) and the trials they plan ([`plan`]: variants × seeds, each
//! with its id and its state in the store), and what they cost ([`cost`]: the model, the
//! calibration cache and the estimate; calibrating needs libtorch and is in `experiment`),
//! and [`last_run`]: an experiment at the settings the store's last run of it recorded.
//! No libtorch: the dashboard reads experiments and estimates through it too.
//!
//! Modules depend one way: [`overrides`] and `ron_layout` (where each field is written) ←
//! [`config`] ← [`plan`]; [`cost`] stands alone; [`last_run`] reads both.

pub mod config;
pub mod cost;
pub mod last_run;
pub mod overrides;
pub mod plan;
mod ron_layout;

pub use config::{ConfigError, Experiment, ReportKind, StudyValues, Variant};
pub use overrides::Override;
pub use plan::TrialSpec;
