//! A recorded trial's trained network as an ONNX file (`harness export onnx`).
//!
//! The weights come from the trial's own checkpoints, checked against its record: the
//! final epoch's (`model.ot` of the newest verified `epoch-N` folder, which must be the
//! record's last epoch), or the best epoch's (`best.model.ot`). Before the file is
//! written, the loaded network is evaluated on the trial's test images exactly as the trial
//! evaluated it, and the accuracy is compared with the record's figure for that epoch, so
//! an export that does not describe the recorded numbers is noticed. Batch norm is folded
//! into the convolutions as the latency measurement folds it (see the `onnx` crate for the
//! graph); the file carries the trial's identity and the input normalisation as metadata.
//! Weights whose accuracy is more than [`ACCURACY_TOLERANCE`] away from the record's are
//! refused ([`ExportError::NotTheRecorded`]).

use contract::Status;
use data::FashionMnist;
use std::path::{Path, PathBuf};
use store::record::TrialRecord;
use tch::Device;
use trainer::checkpoint;

/// Which epoch's weights to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// The final epoch's: those the record's final accuracy describes.
    Last,
    /// The epoch with the best test accuracy.
    Best,
}

impl Weights {
    /// `last` or `best`.
    pub fn name(self) -> &'static str {
        match self {
            Weights::Last => "last",
            Weights::Best => "best",
        }
    }
}

/// Why a trial cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The trial did not finish normally.
    #[error("trial {id} {status}: it has no trained network to export")]
    NotFinished {
        /// Short trial id.
        id: String,
        /// What happened to it.
        status: String,
    },
    /// No usable checkpoint of the wanted epoch.
    #[error("trial {id}: {message}")]
    Checkpoint {
        /// Short trial id.
        id: String,
        /// What is missing or wrong, and what to do.
        message: String,
    },
    /// The record's configuration no longer validates.
    #[error("trial {id}: its recorded configuration: {source}")]
    Config {
        /// Short trial id.
        id: String,
        /// The validation error.
        source: trainer::ValidationError,
    },
    /// Loading the weights failed.
    #[error(transparent)]
    Load(#[from] trainer::TrainError),
    /// The network's shapes do not chain (a bug, not an input error).
    #[error("building the ONNX graph: {0}")]
    Graph(#[from] onnx::OnnxError),
    /// The loaded weights do not give the recorded accuracy (by more than
    /// [`ACCURACY_TOLERANCE`]): nothing is to be written.
    #[error(
        "trial {id}: {check}; these weights do not give the recorded result, so nothing was written"
    )]
    NotTheRecorded {
        /// Short trial id.
        id: String,
        /// Both accuracies ([`Exported::check`]).
        check: String,
    },
}

/// The largest difference, in percentage points, between the recomputed and the recorded
/// accuracy that still counts as the same network: a different thread count may sum in
/// another order and flip an image on the decision boundary, but not many.
pub const ACCURACY_TOLERANCE: f64 = 0.1;

/// An exported network.
#[derive(Debug)]
pub struct Exported {
    /// The ONNX file's bytes.
    pub bytes: Vec<u8>,
    /// The epoch (1-based) whose weights these are.
    pub epoch: u32,
    /// The model file they were loaded from.
    pub source: PathBuf,
    /// The record's test accuracy of that epoch, percent.
    pub recorded_accuracy: f64,
    /// The accuracy of the loaded weights on the trial's test images, computed now.
    pub recomputed_accuracy: f64,
    /// The number of test images both accuracies are over.
    pub test_images: usize,
}

impl Exported {
    /// Both accuracies, in words.
    pub fn check(&self) -> String {
        format!(
            "test accuracy of these weights on the trial's {} test images: {:.2} % (recorded: {:.2} %)",
            self.test_images, self.recomputed_accuracy, self.recorded_accuracy
        )
    }

    /// What `harness export onnx` says once the file is written to `out`: what it holds,
    /// the accuracy check, and the input and output it expects and gives.
    pub fn lines(&self, record: &TrialRecord, weights: Weights, out: &Path) -> Vec<String> {
        let gap = (self.recomputed_accuracy - self.recorded_accuracy).abs();
        vec![
            format!(
                "wrote {} ({} bytes): trial {} ({} / {} / seed {}), {} weights of epoch {} from {}",
                out.display(),
                self.bytes.len(),
                store::id::short(&record.id),
                record.experiment,
                record.variant,
                record.seed,
                weights.name(),
                self.epoch,
                self.source.display()
            ),
            format!(
                "{}{}",
                self.check(),
                if gap == 0.0 {
                    ", identical".to_string()
                } else {
                    format!(
                        ", {gap:.2} points apart (summation order; within {ACCURACY_TOLERANCE})"
                    )
                }
            ),
            format!(
                "input `{}` float32 [batch, 1, 28, 28] normalised as (pixel/255 - {}) / {}; output `{}` float32 [batch, 10]; opset {}",
                onnx::INPUT,
                data::PIXEL_MEAN,
                data::PIXEL_STD,
                onnx::OUTPUT,
                onnx::OPSET
            ),
        ]
    }
}

/// The model file of `record`'s `weights` in `checkpoints` (the trial's `ckpt` folder),
/// and the epoch it holds.
fn model_file(
    record: &TrialRecord,
    checkpoints: &Path,
    weights: Weights,
) -> Result<(PathBuf, u32), ExportError> {
    let short = store::id::short(&record.id).to_string();
    let missing = |message: String| ExportError::Checkpoint {
        id: short.clone(),
        message,
    };
    if !checkpoints.is_dir() {
        return Err(missing(format!(
            "no checkpoints at {} (a store of records, such as the committed results/, keeps \
             none): retrain it with `harness reproduce {short} --runs STORE --keep DIR`, then \
             export with `--checkpoints DIR/ckpt`",
            checkpoints.display()
        )));
    }
    let search = checkpoint::find_latest(checkpoints, &record.id);
    let Some(latest) = search.found else {
        let why = search
            .rejected
            .iter()
            .map(|r| format!("{}: {}", r.dir.display(), r.reason))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(missing(format!(
            "no verified checkpoint of this trial in {}{}",
            checkpoints.display(),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        )));
    };
    let last_epoch = record.epochs.len() as u32;
    if latest.manifest.epoch != last_epoch {
        return Err(missing(format!(
            "the newest verified checkpoint in {} is of epoch {}, but the record has {} epochs",
            checkpoints.display(),
            latest.manifest.epoch,
            last_epoch
        )));
    }
    match weights {
        Weights::Last => Ok((latest.dir.join(checkpoint::MODEL), last_epoch)),
        Weights::Best => {
            let epoch = record
                .best_epoch
                .or(latest.manifest.best_epoch)
                .ok_or_else(|| missing("the record names no best epoch".into()))?;
            let file = checkpoints.join(format!("best.{}", checkpoint::MODEL));
            if !file.is_file() {
                return Err(missing(format!("{} is missing", file.display())));
            }
            // When the best epoch's own folder is still kept, its digest checks the alias.
            let folder = checkpoints.join(checkpoint::epoch_dir_name(epoch));
            if let Ok(manifest) = std::fs::read(folder.join(checkpoint::MANIFEST))
                && let Ok(manifest) = serde_json::from_slice::<checkpoint::Manifest>(&manifest)
                && let Some(digest) = manifest.files.get(checkpoint::MODEL)
                && checkpoint::sha256_file(&file).ok().as_ref() != Some(digest)
            {
                return Err(missing(format!(
                    "{} differs from epoch {epoch}'s model.ot",
                    file.display()
                )));
            }
            Ok((file, epoch))
        }
    }
}

/// Exports `record`'s network from the checkpoints in `checkpoints`, checking it on
/// `dataset` (the trial's data: `reproduce::check` first) on the CPU.
pub fn export(
    record: &TrialRecord,
    checkpoints: &Path,
    weights: Weights,
    dataset: &FashionMnist,
) -> Result<Exported, ExportError> {
    let short = store::id::short(&record.id).to_string();
    check_finished(record, &short)?;
    let trial = record
        .config
        .clone()
        .validate()
        .map_err(|source| ExportError::Config {
            id: short.clone(),
            source,
        })?;
    let (source, epoch) = model_file(record, checkpoints, weights)?;
    let (_vs, net) = trainer::load_model(&trial, &source, Device::Cpu)?;
    let (_, recomputed_accuracy) = trainer::evaluate_test(&trial, &net, dataset, Device::Cpu);
    let recorded_accuracy = record
        .epochs
        .get(epoch as usize - 1)
        .map_or(f64::NAN, |e| e.test_accuracy);
    let test_images = trial
        .data
        .test_limit
        .unwrap_or(dataset.test.len())
        .min(dataset.test.len());
    let about = about(record, weights, epoch, recorded_accuracy, test_images);
    let bytes = onnx::encode(&net.to_onnx(), &about)?;
    let exported = Exported {
        bytes,
        epoch,
        source,
        recorded_accuracy,
        recomputed_accuracy,
        test_images,
    };
    let gap = (recomputed_accuracy - recorded_accuracy).abs();
    if gap.is_nan() || gap > ACCURACY_TOLERANCE {
        return Err(ExportError::NotTheRecorded {
            id: short,
            check: exported.check(),
        });
    }
    Ok(exported)
}

/// Refuses a trial (`short` its id) that diverged or was stopped: it has no trained network.
fn check_finished(record: &TrialRecord, short: &str) -> Result<(), ExportError> {
    let status = match &record.status {
        Status::Finished => None,
        Status::Diverged { epoch, batch } => Some(format!(
            "diverged (a non-finite loss in epoch {epoch}, batch {batch})"
        )),
        Status::Stopped => Some("was stopped before its end".to_string()),
    };
    match status {
        Some(status) => Err(ExportError::NotFinished {
            id: short.to_string(),
            status,
        }),
        None => Ok(()),
    }
}

/// The ONNX file's description and metadata: the trial, the weights' epoch and recorded
/// accuracy over `test_images`, the input normalisation and the classes.
fn about(
    record: &TrialRecord,
    weights: Weights,
    epoch: u32,
    recorded_accuracy: f64,
    test_images: usize,
) -> onnx::About {
    onnx::About {
        name: format!("{} / {}", record.experiment, record.variant),
        description: format!(
            "Fashion-MNIST classifier trained by fmnist-harness: trial {} ({} / {}, seed {}), \
             {} weights (epoch {epoch}), batch norm folded into the convolutions. Input \
             `{}`: float32 [batch, 1, 28, 28], pixels scaled to [0, 1] then normalised as \
             (x - {}) / {}. Output `{}`: float32 [batch, 10] logits, classes in the order of \
             the `classes` metadata.",
            record.id,
            record.experiment,
            record.variant,
            record.seed,
            weights.name(),
            onnx::INPUT,
            data::PIXEL_MEAN,
            data::PIXEL_STD,
            onnx::OUTPUT,
        ),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        metadata: vec![
            ("trial_id".into(), record.id.clone()),
            ("experiment".into(), record.experiment.clone()),
            ("variant".into(), record.variant.clone()),
            ("seed".into(), record.seed.to_string()),
            ("weights".into(), weights.name().into()),
            ("epoch".into(), epoch.to_string()),
            ("test_accuracy".into(), format!("{recorded_accuracy}")),
            ("test_images".into(), test_images.to_string()),
            ("dataset_digest".into(), record.dataset_digest.clone()),
            ("config_digest".into(), record.config_digest.clone()),
            ("pixel_mean".into(), data::PIXEL_MEAN.to_string()),
            ("pixel_std".into(), data::PIXEL_STD.to_string()),
            ("classes".into(), data::CLASS_NAMES.join(",")),
        ],
    }
}
