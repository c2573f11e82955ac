//! Experiments: the part of the harness that turns configuration files into planned
//! trials, runs them into the store, and turns the store back into statistics and reports.
//!
//! The main path: [`config`] (RON file + `--set` [`overrides`]) → [`plan`] (variants ×
//! seeds, each with an [`id`]) → [`trial_run`] (the trainer, writing a trial folder) →
//! [`store`] (one folder per trial, published atomically) → [`stats`] → [`report`].
//!
//! What is here runs trials: the trial runner, calibration, the quiet latency phase, the
//! local and Slurm executors, reproduce and ONNX export (parity with PyTorch is the
//! `parity` crate, a caller of [`replicate`]). The store (`store`), the
//! specification (`spec`: config, overrides, plan, cost model), the statistics
//! (`statistics`) and the reports (`reporting`) are crates of their own, without libtorch;
//! they are re-exported here under their old module names so that callers keep one path.

pub use reporting::{
    archive, csv_export, frontier, plot, publish, report, sample_size, seeding, tensorboard_export,
};
pub use spec::{config, overrides, plan};
pub use statistics::{self as stats, power};
pub use store::{self, crash, id, lease, record, side_file, trial_files};

pub mod cost;
pub mod executor;
#[cfg(feature = "torch")]
pub mod onnx_export;
pub mod provenance;
pub mod quiet_latency;
#[cfg(feature = "torch")]
pub mod replicate;
pub mod reproduce;
pub mod slurm;
#[cfg(feature = "torch")]
pub mod trial_run;
pub mod worker;

pub use config::{ConfigError, Experiment, ReportKind, StudyValues, Variant};
pub use overrides::Override;
pub use plan::TrialSpec;
pub use record::TrialRecord;
pub use store::{Store, TrialState};
#[cfg(feature = "torch")]
pub use trial_run::{Outcome, run_trial};
