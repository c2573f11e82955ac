//! Execution: the part of the harness that runs trials.
//!
//! The main path: `spec` (experiment file + `--set` overrides → the plan of variants ×
//! seeds, each with a `store::id`) → [`replicate`] (the workflow: estimate, split, run,
//! report) → [`executor`] on this machine, or `cluster::slurm` through the Slurm executor of
//! [`replicate`] (one `harness worker` per trial, its command line `cluster::worker`, its
//! process side [`worker_process`]) →
//! [`trial_run`] (the trainer, writing a trial folder) → `store` (one folder per trial,
//! published atomically) → `statistics` and `reporting`.
//!
//! What is here: the trial runner, calibration ([`cost`]), the quiet latency phase, the
//! local and Slurm executors, the worker, reproduce and ONNX export (parity with PyTorch is
//! the `parity` crate, a caller of [`replicate`]). The store (`store`), the specification
//! (`spec`: config, overrides, plan, cost model), the statistics (`statistics`) and the
//! reports (`reporting`) are crates of their own, without libtorch; callers use them
//! directly.

pub mod bench;
pub mod cost;
pub mod device;
pub mod executor;
#[cfg(feature = "torch")]
pub mod onnx_export;
pub mod provenance;
pub mod quiet_latency;
#[cfg(feature = "torch")]
pub mod replicate;
pub mod reproduce;
#[cfg(feature = "torch")]
pub mod train_one;
pub mod trial_run;
#[cfg(feature = "torch")]
pub mod worker_process;

#[cfg(feature = "torch")]
pub use trial_run::{TrialEnd, run_trial};
