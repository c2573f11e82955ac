//! The training loop of one trial: one validated [`TrialConfig`] plus one seed, on one
//! device.
//!
//! [`train`] seeds everything from the trial's seed (initialisation and dropout through
//! libtorch's generator, shuffling and augmentation through their own ChaCha streams),
//! trains with the configured optimiser and learning-rate schedule, evaluates on the test
//! set after every epoch, stops on a non-finite loss (the trial is then
//! [`Status::Diverged`]), and measures test-time latency the way the study defines it.
//!
//! The library prints nothing: progress leaves through [`Event`]s handed to a sink, so the
//! CLI, the dashboard and the run store each consume the same stream.

mod config;
mod error;
mod events;
pub mod finite;
mod latency;
mod loop_;
mod optim;

pub use config::{
    DataLimits, OptimizerConfig, OptimizerKind, Schedule, TrialConfig, ValidTrial, ValidationError,
};
pub use error::TrainError;
pub use events::{EpochMetrics, Event, Latency, Status, Timing, TrialResult};
pub use latency::{LatencyOptions, measure_latency};
pub use loop_::{RunOptions, Stop, compute_only_epoch, train};
pub use optim::Optimizer;
