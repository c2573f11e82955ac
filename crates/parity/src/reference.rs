//! The reference's side: a trial's settings as its flags, its output, its cached runs.

use super::*;
use serde::{Deserialize, Serialize};
use trainer::{OptimizerKind, Schedule, TrialConfig};

// ------------------------------------------------------------------------ settings

/// One trial configuration in the terms of `bench/reference/train_reference.py`: every
/// field is one of its flags. Seed, threads, data folder and mode are per run, not
/// settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSettings {
    /// `--arch`: conv2, conv2_res, conv4 or conv4_res.
    pub arch: String,
    /// `--channels`.
    pub channels: i64,
    /// `--kernel`.
    pub kernel: i64,
    /// Batch norm (`--no-bn` when false).
    pub batch_norm: bool,
    /// `--dropout`.
    pub dropout: f64,
    /// `--optimizer`: adam or sgd.
    pub optimizer: String,
    /// `--lr`.
    pub lr: f64,
    /// `--momentum` (SGD only; passed either way).
    pub momentum: f64,
    /// `--step-size`: StepLR's epochs between steps.
    pub step_size: u32,
    /// `--gamma`: StepLR's factor.
    pub gamma: f64,
    /// `--epochs`.
    pub epochs: u32,
    /// `--train-limit` (none: all 60,000).
    pub train_limit: Option<usize>,
    /// `--test-limit` (none: all 10,000).
    pub test_limit: Option<usize>,
    /// `--batch-size`.
    pub batch_size: usize,
    /// `--eval-batch-size`.
    pub eval_batch_size: usize,
    /// `--precision`: `fp32`, or `bf16` (PyTorch's CPU autocast). Left out of the cache
    /// key at fp32.
    #[serde(default, skip_serializing_if = "models::Precision::is_fp32")]
    pub precision: models::Precision,
}

impl ReferenceSettings {
    /// The reference's settings for `config` (of the variant `variant`, named in errors).
    ///
    /// Refused, because the reference has no such flag or would do something else:
    /// augmentations, weight decay, an exponential schedule, `fix` (the reference seeds
    /// everything from its one seed), and a test limit of 0 (parity compares test
    /// accuracy). A constant schedule becomes StepLR with factor 1.
    pub fn from_trial(variant: &str, config: &TrialConfig) -> Result<Self, ParityError> {
        let unsupported = |field: &str, value: String, why: &str| ParityError::Unsupported {
            variant: variant.to_owned(),
            field: field.to_owned(),
            value,
            why: why.to_owned(),
        };
        if !config.augmentations.is_empty() {
            return Err(unsupported(
                "augmentations",
                format!("{:?}", config.augmentations),
                "parity compares training without augmentation; use augmentations: []",
            ));
        }
        if config.optimizer.weight_decay != 0.0 {
            return Err(unsupported(
                "optimizer.weight_decay",
                config.optimizer.weight_decay.to_string(),
                "it has no weight decay flag",
            ));
        }
        if !config.fix.is_empty() {
            return Err(unsupported(
                "fix",
                format!("{:?}", config.fix),
                "it seeds every source of randomness from its one --seed",
            ));
        }
        if config.data.test_limit == Some(0) {
            return Err(unsupported(
                "data.test_limit",
                "0".into(),
                "parity compares test accuracy, so it needs test images",
            ));
        }
        let (step_size, gamma) = match config.schedule {
            Schedule::Step { every, gamma } => (every, gamma),
            Schedule::Constant => (1, 1.0),
            Schedule::Exponential { gamma } => {
                return Err(unsupported(
                    "schedule",
                    format!("Exponential(gamma: {gamma})"),
                    "its only schedule is StepLR",
                ));
            }
        };
        Ok(ReferenceSettings {
            arch: config.model.architecture.name().to_owned(),
            channels: config.model.channels,
            kernel: config.model.kernel_size,
            batch_norm: config.model.batch_norm,
            dropout: config.model.dropout,
            optimizer: match config.optimizer.name {
                OptimizerKind::Adam => "adam",
                OptimizerKind::Sgd => "sgd",
            }
            .to_owned(),
            lr: config.optimizer.lr,
            momentum: config.optimizer.momentum,
            step_size,
            gamma,
            epochs: config.epochs,
            train_limit: config.data.train_limit,
            test_limit: config.data.test_limit,
            batch_size: config.batch_size,
            eval_batch_size: config.eval_batch_size,
            precision: config.precision,
        })
    }

    /// The reference's flags for these settings (without `--seed`, `--threads`,
    /// `--data-dir` and `--mode`). Numbers are written in Rust's shortest round-trip form,
    /// which Python's `float()` reads back to the same double.
    pub fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "--arch".into(),
            self.arch.clone(),
            "--channels".into(),
            self.channels.to_string(),
            "--kernel".into(),
            self.kernel.to_string(),
            "--dropout".into(),
            self.dropout.to_string(),
            "--optimizer".into(),
            self.optimizer.clone(),
            "--lr".into(),
            self.lr.to_string(),
            "--momentum".into(),
            self.momentum.to_string(),
            "--step-size".into(),
            self.step_size.to_string(),
            "--gamma".into(),
            self.gamma.to_string(),
            "--epochs".into(),
            self.epochs.to_string(),
            "--batch-size".into(),
            self.batch_size.to_string(),
            "--eval-batch-size".into(),
            self.eval_batch_size.to_string(),
            "--augment".into(),
            "none".into(),
        ];
        if !self.batch_norm {
            args.push("--no-bn".into());
        }
        if !self.precision.is_fp32() {
            args.extend(["--precision".into(), self.precision.name().into()]);
        }
        if let Some(n) = self.train_limit {
            args.extend(["--train-limit".into(), n.to_string()]);
        }
        if let Some(n) = self.test_limit {
            args.extend(["--test-limit".into(), n.to_string()]);
        }
        args
    }

    /// The short hash (12 hex digits) that names the cache files of these settings: the
    /// SHA-256 of [`KEY_SCHEMA`], the settings, the torch version, the reference script's
    /// SHA-256 and the dataset digest. Threads are left out, as from our trial ids: they
    /// change the last digits, not the experiment.
    pub fn key(&self, torch: &str, script_sha256: &str, dataset_digest: &str) -> String {
        let identity = serde_json::json!({
            "schema": KEY_SCHEMA,
            "settings": self,
            "torch": torch,
            "script": script_sha256,
            "dataset": dataset_digest,
        });
        let mut key = data::sha256_hex(identity.to_string().as_bytes());
        key.truncate(12);
        key
    }

    /// The settings in words, without the architecture: `32 channels, kernel 3, batch
    /// norm, dropout 0.2; Adam lr 0.01; StepLR every 10 epochs x0.1; batch 256, eval batch
    /// 256; 12 epochs; all 60,000 training images and all 10,000 test images`.
    pub fn describe(&self) -> String {
        let optimizer = match self.optimizer.as_str() {
            "sgd" => format!("SGD lr {} momentum {}", self.lr, self.momentum),
            "adam" => format!("Adam lr {}", self.lr),
            other => format!("{other} lr {}", self.lr),
        };
        let schedule = if self.gamma == 1.0 {
            "constant learning rate".to_owned()
        } else {
            format!("StepLR every {} epochs x{}", self.step_size, self.gamma)
        };
        let images = |limit: Option<usize>, all: i64, what: &str| match limit {
            Some(n) => format!("the first {} {what}", progress::format::thousands(n as i64)),
            None => format!("all {} {what}", progress::format::thousands(all)),
        };
        format!(
            "{} channels, kernel {}, {}, dropout {}; {optimizer}; {schedule}; batch {}, eval batch {}; {} epochs; {} and {}",
            self.channels,
            self.kernel,
            if self.batch_norm {
                "batch norm"
            } else {
                "no batch norm"
            },
            self.dropout,
            self.batch_size,
            self.eval_batch_size,
            self.epochs,
            images(self.train_limit, 60_000, "training images"),
            images(self.test_limit, 10_000, "test images"),
        ) + match self.precision {
            models::Precision::Fp32 => "",
            models::Precision::Bf16 => {
                "; bf16 mixed precision (ours: bf16 convolutions and classifier; PyTorch: torch.autocast(\"cpu\", dtype=torch.bfloat16))"
            }
        }
    }

    /// The same settings at fp32: what a bf16 run is compared with.
    pub fn at_fp32(&self) -> ReferenceSettings {
        ReferenceSettings {
            precision: models::Precision::Fp32,
            ..self.clone()
        }
    }
}

// -------------------------------------------------------------- reference's output

/// The reference's first line: what ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceStart {
    /// `torch.__version__`.
    pub torch: String,
    /// `torchvision.__version__`.
    pub torchvision: String,
    /// `torch.get_num_threads()`.
    pub threads: i32,
    /// Where it trained (`cpu`).
    pub device: String,
    /// Trainable parameters.
    pub params: i64,
    /// The seed it was given.
    pub seed: u64,
    /// `--precision` as it ran (`fp32`, `bf16`); absent from scripts older than the flag.
    #[serde(default)]
    pub precision: Option<String>,
}

/// One epoch line of the reference. Values a diverged run made non-finite are `None`
/// (the reference writes them as `null`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReferenceEpoch {
    /// 1-based epoch.
    pub epoch: u32,
    /// Learning rate during the epoch.
    pub lr: f64,
    /// Sum over batches of the mean batch loss.
    pub train_loss_sum: Option<f64>,
    /// `train_loss_sum / batches`: the mean per batch, as our `train_loss_mean`.
    pub train_loss_mean: Option<f64>,
    /// Batches trained.
    pub batches: usize,
    /// Images trained.
    pub images: usize,
    /// Test accuracy, percent.
    pub test_accuracy: Option<f64>,
    /// Wall time of the training pass, seconds.
    pub epoch_time_s: f64,
}

/// What one run of the reference printed, checked by [`parse_reference_output`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceOutput {
    /// The start line.
    pub start: ReferenceStart,
    /// The epochs, 1..=E in order.
    pub epochs: Vec<ReferenceEpoch>,
}

/// Parses the reference's standard output for a run of `epochs` epochs with `seed`:
/// exactly one `start` line (with that seed), then epoch lines numbered 1 to `epochs`;
/// the `latency` line and lines that are not JSON objects are ignored.
pub fn parse_reference_output(
    stdout: &str,
    seed: u64,
    epochs: u32,
) -> Result<ReferenceOutput, ParityError> {
    let mut start: Option<ReferenceStart> = None;
    let mut found: Vec<ReferenceEpoch> = Vec::new();
    for (index, line) in stdout.lines().enumerate() {
        let number = index + 1;
        let bad = |message: String| ParityError::Output {
            line: number,
            message,
        };
        let line = line.trim();
        if !line.starts_with('{') {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}: {line}")))?;
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("start") => {
                if start.is_some() {
                    return Err(bad("a second start line".into()));
                }
                let s: ReferenceStart = serde_json::from_value(value)
                    .map_err(|e| bad(format!("start line: {e}: {line}")))?;
                if s.seed != seed {
                    return Err(bad(format!("the run reports seed {}, not {seed}", s.seed)));
                }
                start = Some(s);
            }
            Some("epoch") => {
                if value.get("warmup").and_then(|w| w.as_bool()) == Some(true) {
                    return Err(bad(
                        "a warm-up epoch (run the reference with --mode train)".into()
                    ));
                }
                let e: ReferenceEpoch = serde_json::from_value(value)
                    .map_err(|e| bad(format!("epoch line: {e}: {line}")))?;
                let expected = found.len() as u32 + 1;
                if e.epoch != expected {
                    return Err(bad(format!(
                        "epoch {} where epoch {expected} was due",
                        e.epoch
                    )));
                }
                found.push(e);
            }
            _ => {}
        }
    }
    let start = start.ok_or_else(|| ParityError::Output {
        line: 0,
        message: "no start line".into(),
    })?;
    if found.len() != epochs as usize {
        return Err(ParityError::Output {
            line: 0,
            message: format!("{} epoch line(s), expected {epochs}", found.len()),
        });
    }
    Ok(ReferenceOutput {
        start,
        epochs: found,
    })
}

/// A finished run of the reference, as cached in `runs/parity/pytorch/` (see
/// [`ReferenceRun::file_name`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRun {
    /// [`REFERENCE_FORMAT`].
    pub format: u32,
    /// [`ReferenceSettings::key`] of the run.
    pub key: String,
    /// The seed.
    pub seed: u64,
    /// What it trained.
    pub settings: ReferenceSettings,
    /// torch version.
    pub torch: String,
    /// torchvision version.
    pub torchvision: String,
    /// SHA-256 of the reference script that ran.
    pub script_sha256: String,
    /// Digest of the dataset it read (the harness verified it).
    pub dataset_digest: String,
    /// torch's intra-op threads.
    pub threads: i32,
    /// `cpu`.
    pub device: String,
    /// The CPU model.
    pub device_name: String,
    /// Host name.
    pub host: String,
    /// Trainable parameters.
    pub parameters: i64,
    /// The command line that ran.
    pub command: Vec<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC.
    pub finished_at: String,
    /// Wall time of the process, seconds.
    pub wall_time_s: f64,
    /// The epochs.
    pub epochs: Vec<ReferenceEpoch>,
}

impl ReferenceRun {
    /// `<arch>-<key>-seed<seed>.json`.
    pub fn file_name(arch: &str, key: &str, seed: u64) -> String {
        format!("{arch}-{key}-seed{seed}.json")
    }

    /// Whether this cached run is the run of `settings` under `key` with `seed`: format,
    /// key, seed and settings match and it has every epoch. The error says what differs.
    pub fn check(&self, settings: &ReferenceSettings, key: &str, seed: u64) -> Result<(), String> {
        if self.format != REFERENCE_FORMAT {
            return Err(format!(
                "format {} is not the supported format {REFERENCE_FORMAT}",
                self.format
            ));
        }
        if self.key != key || self.seed != seed {
            return Err(format!(
                "it holds key {} seed {}, not key {key} seed {seed}",
                self.key, self.seed
            ));
        }
        if &self.settings != settings {
            return Err("its settings are not the ones its key names".into());
        }
        let numbers: Vec<u32> = self.epochs.iter().map(|e| e.epoch).collect();
        if numbers != (1..=settings.epochs).collect::<Vec<_>>() {
            return Err(format!(
                "it has epochs {numbers:?}, expected 1 to {}",
                settings.epochs
            ));
        }
        Ok(())
    }
}
