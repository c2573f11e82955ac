//! The record of a finished (or diverged) trial: `summary.json` in its folder. Its
//! presence is what marks a trial as done.

use crate::provenance::Provenance;
use serde::{Deserialize, Serialize};
use trainer::{EpochMetrics, Latency, Status, TrialConfig};

/// Version of the record format.
pub const RECORD_FORMAT: u32 = 1;

/// Everything about one trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// Record format version.
    pub format: u32,
    /// The trial id (64 hex digits).
    pub id: String,
    /// Digest of the configuration alone; equal digests may be pooled.
    pub config_digest: String,
    /// Experiment name.
    pub experiment: String,
    /// Variant name.
    pub variant: String,
    /// Seed.
    pub seed: u64,
    /// SHA-256 identity of the dataset files.
    pub dataset_digest: String,
    /// The resolved configuration.
    pub config: TrialConfig,
    /// `finished` or `diverged`.
    pub status: Status,
    /// Trainable parameters.
    pub parameters: i64,
    /// The study's published parameter count for this model, when there is one.
    pub study_parameters: Option<String>,
    /// Test accuracy after the last epoch, percent.
    pub final_accuracy: Option<f64>,
    /// Best test accuracy over epochs, percent.
    pub best_accuracy: Option<f64>,
    /// Epoch of the best accuracy.
    pub best_epoch: Option<u32>,
    /// The last epoch's training loss, summed over batches (the study's column).
    pub train_loss_sum: Option<f64>,
    /// Latency after training.
    pub latency: Option<Latency>,
    /// Per-epoch metrics (also in `metrics.jsonl`).
    pub epochs: Vec<EpochMetrics>,
    /// Wall time of the trial, seconds.
    pub wall_time_s: f64,
    /// Versions, device, host and times.
    pub provenance: Provenance,
}

impl TrialRecord {
    /// Whether the trial diverged.
    pub fn diverged(&self) -> bool {
        matches!(self.status, Status::Diverged { .. })
    }
}
