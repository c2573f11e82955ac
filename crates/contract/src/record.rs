//! The record of a finished (or diverged) trial: `summary.json` in its folder. A trial is
//! done when that file parses and [`TrialRecord::validate`] accepts it for its folder;
//! anything else is moved aside by the store.
//!
//! Every `f64` is written with [`crate::finite`], so NaN and infinities (a diverged
//! trial's losses) read back instead of turning into an unreadable `null`.

use crate::events::{EpochMetrics, Latency, Status};
use serde::{Deserialize, Serialize};

/// A trial's resolved configuration, as far as the record needs it: whether it is valid.
pub trait Settings {
    /// `Err((field, message))` when the configuration is not valid, the field by its
    /// dotted path (e.g. `optimizer.lr`).
    fn check(&self) -> Result<(), (String, String)>;
    /// The epochs the trial trains (a finished trial's record has exactly these).
    fn epochs(&self) -> u32;
}

/// Version of the record format.
pub const RECORD_FORMAT: u32 = 1;

/// Everything about one trial, with its resolved configuration of type `C` (the trainer's
/// `TrialConfig`; the contract does not depend on the trainer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord<C> {
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
    pub config: C,
    /// `finished` or `diverged`.
    pub status: Status,
    /// Trainable parameters.
    pub parameters: i64,
    /// The study's published parameter count for this model, when there is one.
    pub study_parameters: Option<String>,
    /// Test accuracy after the last epoch, percent.
    #[serde(with = "crate::finite::option")]
    pub final_accuracy: Option<f64>,
    /// Best test accuracy over epochs, percent.
    #[serde(with = "crate::finite::option")]
    pub best_accuracy: Option<f64>,
    /// Epoch of the best accuracy.
    pub best_epoch: Option<u32>,
    /// The last epoch's training loss, summed over batches (the study's column).
    #[serde(with = "crate::finite::option")]
    pub train_loss_sum: Option<f64>,
    /// Latency after training.
    pub latency: Option<Latency>,
    /// Per-epoch metrics (also in `metrics.jsonl`).
    pub epochs: Vec<EpochMetrics>,
    /// Wall time of the trial, seconds.
    #[serde(with = "crate::finite")]
    pub wall_time_s: f64,
    /// Versions, device, host and times.
    pub provenance: Provenance,
}

/// Why a record that parsed is still not a valid record of its folder.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("field `{field}`: {message}")]
pub struct InvalidRecord {
    /// The offending field, e.g. `id` or `config.optimizer.lr`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl InvalidRecord {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidRecord {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Whether `id` looks like a trial id: 64 lowercase hex digits.
pub fn is_trial_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl<C: Settings> TrialRecord<C> {
    /// Whether the trial diverged.
    pub fn diverged(&self) -> bool {
        matches!(self.status, Status::Diverged { .. })
    }

    /// Checks that this is a usable record of the trial folder named `folder`: the format
    /// version is [`RECORD_FORMAT`], `id` is 64 lowercase hex digits and equals the folder
    /// name, the configuration validates, the status is `finished` or `diverged`, a
    /// finished trial has its configuration's epochs, numbered from 1, each with a test
    /// accuracy in \[0, 100\], its final accuracy is its last epoch's and its best the
    /// highest of them, and the wall time is finite and not negative. (A record whose
    /// numbers contradict each other was edited: it is never averaged.)
    pub fn validate(&self, folder: &str) -> Result<(), InvalidRecord> {
        if self.format != RECORD_FORMAT {
            return Err(InvalidRecord::new(
                "format",
                format!(
                    "record format {} is not the supported format {RECORD_FORMAT}",
                    self.format
                ),
            ));
        }
        if !is_trial_id(&self.id) {
            return Err(InvalidRecord::new(
                "id",
                format!("`{}` is not a trial id (64 lowercase hex digits)", self.id),
            ));
        }
        if self.id != folder {
            return Err(InvalidRecord::new(
                "id",
                format!("`{}` does not match the folder name `{folder}`", self.id),
            ));
        }
        if let Err((field, message)) = self.config.check() {
            return Err(InvalidRecord::new(format!("config.{field}"), message));
        }
        if !(self.wall_time_s.is_finite() && self.wall_time_s >= 0.0) {
            return Err(InvalidRecord::new(
                "wall_time_s",
                format!(
                    "must be a finite number of seconds >= 0, got {}",
                    self.wall_time_s
                ),
            ));
        }
        match self.status {
            Status::Diverged { .. } => Ok(()),
            Status::Stopped => Err(InvalidRecord::new(
                "status",
                "a stopped trial is not a result and has no record",
            )),
            Status::Finished => {
                if self.epochs.is_empty() {
                    return Err(InvalidRecord::new(
                        "epochs",
                        "a finished trial has at least one epoch",
                    ));
                }
                match self.final_accuracy {
                    None => Err(InvalidRecord::new(
                        "final_accuracy",
                        "a finished trial has a final accuracy",
                    )),
                    Some(a) if !(a.is_finite() && (0.0..=100.0).contains(&a)) => {
                        Err(InvalidRecord::new(
                            "final_accuracy",
                            format!("must be a percentage in [0, 100], got {a}"),
                        ))
                    }
                    Some(a) => self.check_epochs(a),
                }
            }
        }
    }
}

impl<C: Settings> TrialRecord<C> {
    /// The epochs of a finished trial against its configuration, final and best accuracy.
    fn check_epochs(&self, final_accuracy: f64) -> Result<(), InvalidRecord> {
        let planned = self.config.epochs();
        if self.epochs.len() != planned as usize {
            return Err(InvalidRecord::new(
                "epochs",
                format!(
                    "a finished trial of {planned} epoch(s) has {} recorded",
                    self.epochs.len()
                ),
            ));
        }
        for (i, e) in self.epochs.iter().enumerate() {
            if e.epoch as usize != i + 1 {
                return Err(InvalidRecord::new(
                    "epochs",
                    format!("entry {} is numbered epoch {}", i + 1, e.epoch),
                ));
            }
            let a = e.test_accuracy;
            if !(a.is_finite() && (0.0..=100.0).contains(&a)) {
                return Err(InvalidRecord::new(
                    format!("epochs[{i}].test_accuracy"),
                    format!("must be a percentage in [0, 100], got {a}"),
                ));
            }
        }
        let last = self.epochs.last().map_or(f64::NAN, |e| e.test_accuracy);
        if final_accuracy != last {
            return Err(InvalidRecord::new(
                "final_accuracy",
                format!("{final_accuracy} is not the last epoch's test accuracy {last}"),
            ));
        }
        let best = self
            .epochs
            .iter()
            .map(|e| e.test_accuracy)
            .fold(f64::NEG_INFINITY, f64::max);
        match self.best_accuracy {
            Some(b) if b != best => Err(InvalidRecord::new(
                "best_accuracy",
                format!("{b} is not the highest epoch's test accuracy {best}"),
            )),
            _ => Ok(()),
        }
    }
}

/// What could explain a difference between two trials without being part of their id:
/// code version, library versions, device, threads, host and time. Recorded beside
/// every trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The harness crate version.
    pub harness_version: String,
    /// `git rev-parse HEAD` of the harness checkout, or `unknown`.
    pub git_commit: String,
    /// Whether the checkout had uncommitted changes.
    pub git_dirty: bool,
    /// tch crate version.
    pub tch_version: String,
    /// libtorch version, e.g. `2.11.0+cu130`.
    pub libtorch_version: String,
    /// CUDA available to libtorch (and cuDNN version), or `none`.
    pub cuda: String,
    /// The device, e.g. `cpu` or `cuda:0`.
    pub device: String,
    /// What the device is (CPU model or GPU name).
    pub device_name: String,
    /// libtorch intra-op threads.
    pub threads: i32,
    /// Host name.
    pub host: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
}
