//! The training loop of one trial: one validated [`TrialConfig`] plus one seed, on one
//! device.
//!
//! [`train`] seeds every source of randomness from the trial's seed, each on its own
//! stream re-derived per epoch ([`streams`]: initialisation and dropout through libtorch's
//! generator, shuffling and augmentation through their own ChaCha streams), trains with the
//! configured optimiser and learning-rate schedule, evaluates on the test set after every
//! epoch, writes a durable [`checkpoint`] per epoch, stops on a non-finite loss (the trial
//! is then [`Status::Diverged`]), and measures test-time latency the way the study defines
//! it. Given a verified checkpoint ([`RunOptions::resume`]) it continues an interrupted
//! trial exactly where it stopped: on the CPU the resumed trial's numbers are bit-identical
//! to an uninterrupted run's.
//!
//! The library prints nothing: progress leaves through [`Event`]s handed to a sink, so the
//! CLI, the dashboard and the run store each consume the same stream.

#[cfg(feature = "torch")]
pub mod checkpoint;
mod config;
#[cfg(feature = "torch")]
mod error;
#[cfg(feature = "torch")]
mod latency;
#[cfg(feature = "torch")]
mod optim;
pub mod streams;
#[cfg(feature = "torch")]
mod training;

#[cfg(feature = "torch")]
pub use checkpoint::Checkpoint;
pub use config::{
    DataLimits, OptimizerConfig, OptimizerKind, Schedule, TrialConfig, ValidTrial, ValidationError,
};
#[cfg(feature = "torch")]
pub use error::TrainError;
#[cfg(feature = "torch")]
pub use latency::{LatencyOptions, measure_deployed_latency};
#[cfg(feature = "torch")]
pub use optim::Optimizer;
pub use streams::{RandomSource, Streams};
#[cfg(feature = "torch")]
pub use training::{
    RunOptions, Stop, build_model, compute_only_epoch, device_label, evaluate_test, load_model,
    train, try_train,
};
