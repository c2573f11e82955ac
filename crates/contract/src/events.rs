//! What a running trial reports, and what it leaves as its result.

use serde::{Deserialize, Serialize};

/// Metrics of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: u32,
    /// Learning rate used during the epoch.
    #[serde(with = "crate::finite")]
    pub lr: f64,
    /// Mean over batches of the mean batch loss.
    #[serde(with = "crate::finite")]
    pub train_loss_mean: f64,
    /// Sum over batches of the mean batch loss: the study's "training loss" column.
    #[serde(with = "crate::finite")]
    pub train_loss_sum: f64,
    /// Mean cross-entropy on the test set.
    #[serde(with = "crate::finite")]
    pub test_loss: f64,
    /// Test accuracy in percent.
    #[serde(with = "crate::finite")]
    pub test_accuracy: f64,
    /// Wall time of the training pass (data, augmentation, forward, backward, step).
    #[serde(with = "crate::finite")]
    pub train_time_s: f64,
    /// Wall time of the evaluation pass.
    #[serde(with = "crate::finite")]
    pub eval_time_s: f64,
    /// Training images per second.
    #[serde(with = "crate::finite")]
    pub images_per_s: f64,
}

/// Median and 95th percentile of repeated timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Batch size of the timed forward pass.
    pub batch: usize,
    /// Number of timed passes.
    pub runs: usize,
    /// Median, milliseconds.
    #[serde(with = "crate::finite")]
    pub median_ms: f64,
    /// 95th percentile, milliseconds.
    #[serde(with = "crate::finite")]
    pub p95_ms: f64,
}

/// Test-time latency as the study defines it: one forward pass of a batch, no
/// augmentation, eval mode, no gradients.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// One image.
    pub batch1: Timing,
    /// One evaluation batch.
    pub eval: Timing,
}

/// How a trial ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// All epochs ran.
    Finished,
    /// A non-finite training loss stopped it.
    Diverged {
        /// Epoch (1-based) where the loss became non-finite.
        epoch: u32,
        /// Batch (1-based) of that epoch, or 0 when seen at the end of the epoch.
        batch: usize,
    },
    /// Stopped on request before the end; not a result.
    Stopped,
}

/// The outcome of a trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// How it ended.
    pub status: Status,
    /// Trainable parameters.
    pub parameters: i64,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochMetrics>,
    /// Test-time latency (absent when the trial did not finish).
    pub latency: Option<Latency>,
    /// Wall time of the whole trial, seconds.
    #[serde(with = "crate::finite")]
    pub wall_time_s: f64,
}

impl TrialResult {
    /// The last epoch's metrics.
    pub fn last(&self) -> Option<&EpochMetrics> {
        self.epochs.last()
    }

    /// The epoch with the highest test accuracy (the first one on ties).
    pub fn best(&self) -> Option<&EpochMetrics> {
        self.epochs
            .iter()
            .fold(None, |best: Option<&EpochMetrics>, e| match best {
                Some(b) if b.test_accuracy >= e.test_accuracy => Some(b),
                _ => Some(e),
            })
    }
}

/// Progress of a running trial, in order: `Started`, then per epoch `EpochStarted`, some
/// `Batch`es and `Epoch`, then `Latency` and `Finished`. A trial that continues an
/// interrupted attempt is preceded by `Resumed`, and its `Started` is followed by the
/// epochs after the checkpoint it resumed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The model is built and the data ready.
    Started {
        /// Trainable parameters.
        parameters: i64,
        /// Training images per epoch.
        train_images: usize,
        /// Test images.
        test_images: usize,
        /// Training batches per epoch.
        batches: usize,
        /// Epochs planned.
        epochs: u32,
        /// The device, e.g. `cpu` or `cuda:0`.
        device: String,
        /// libtorch intra-op threads.
        threads: i32,
    },
    /// An epoch begins.
    EpochStarted {
        /// 1-based epoch.
        epoch: u32,
        /// Learning rate for this epoch.
        #[serde(with = "crate::finite")]
        lr: f64,
    },
    /// Progress within the training pass (sent every few batches).
    Batch {
        /// 1-based epoch.
        epoch: u32,
        /// Batches done in this epoch.
        batch: usize,
        /// Batches in this epoch.
        batches: usize,
        /// Mean loss of the batches done so far in this epoch.
        #[serde(with = "crate::finite")]
        loss: f64,
        /// Training images per second so far in this epoch.
        #[serde(with = "crate::finite")]
        images_per_s: f64,
    },
    /// The evaluation pass begins.
    Evaluating {
        /// 1-based epoch.
        epoch: u32,
    },
    /// An epoch is done and evaluated.
    Epoch(EpochMetrics),
    /// Latency is measured.
    Latency(Latency),
    /// The trial is over.
    Finished {
        /// How it ended.
        status: Status,
        /// Wall time, seconds.
        #[serde(with = "crate::finite")]
        wall_time_s: f64,
    },
    /// This attempt continues a previous, interrupted attempt of the same trial (or found
    /// its leftovers unusable and starts over); sent before `Started`.
    Resumed(Resumed),
}

/// Where a trial continues from when its folder held a previous attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    /// Epochs restored from the checkpoint (0: starting from scratch).
    pub epochs_done: u32,
    /// The checkpoint resumed from, relative to the trial folder (e.g. `ckpt/epoch-2`);
    /// `None` when starting from scratch.
    pub checkpoint: Option<String>,
    /// Checkpoints found unusable, newest first, each with its reason, e.g.
    /// `checkpoint ckpt/epoch-3 unreadable (sha256 mismatch in model.ot): falling back to
    /// ckpt/epoch-2`.
    pub rejected: Vec<String>,
    /// One line saying what happens, e.g. `resumed at epoch 3 from checkpoint ckpt/epoch-2
    /// (...)` or `no usable checkpoint: starting from scratch (...)`.
    pub message: String,
}
