//! Parity with plain PyTorch: does our trainer (crate `trainer`: its own Adam and SGD,
//! initialisation, batch norm and data path) learn as well as stock PyTorch on the same
//! settings?
//!
//! `harness parity` trains both sides with several seeds each: ours through the run store
//! (the experiment file `configs/parity-ours.ron`, one variant per architecture), PyTorch
//! through `bench/reference/train_reference.py` (`torch.optim`, `StepLR`, the layers'
//! default initialisation, `nn.CrossEntropyLoss`, a `DataLoader`), one process per
//! (architecture, seed), each run cached as a [`ReferenceRun`] JSON file. This module is
//! the part without processes:
//!
//! - [`select_variants`]: the experiment reduced to the requested variants, so that the
//!   replicate run for `--archs conv2` trains conv2 only (same trial ids as the full file);
//! - [`ReferenceSettings`]: a resolved trial configuration as the reference's flags, and
//!   the short hash that names its cache files ([`ReferenceSettings::key`]); settings the
//!   reference cannot express are refused, never approximated;
//! - [`parse_reference_output`]: the reference's JSON lines, checked;
//! - [`select_ours`]: our records of one variant, by configuration digest, dataset and seed;
//! - [`Curve`], [`ArchParity`]: per-epoch statistics of both sides ([`EpochRow`]) and the
//!   final-epoch difference ([`Difference`]: Welch's test and interval from [`crate::stats`]);
//! - [`Conditions`] and [`render`]: `reports/parity.md`.
//!
//! The two sides share no random stream (our seeds drive ChaCha streams and libtorch's
//! generator per source and epoch, PyTorch's drive `torch.manual_seed`), so seed 0 of one
//! side has nothing to do with seed 0 of the other: the sides are compared as two
//! independent samples, never as pairs.

use crate::Experiment;
use crate::record::TrialRecord;
use crate::report::format_count;
use crate::stats::{self, Comparison, Summary, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use trainer::{OptimizerKind, Schedule, TrialConfig};

/// The name of our side's experiment (`configs/parity-ours.ron`), not `parity`, so that its
/// generic report never takes the name of `reports/parity.md`.
pub const EXPERIMENT: &str = "parity-ours";

/// Version of the [`ReferenceRun`] file format.
pub const REFERENCE_FORMAT: u32 = 1;

/// Part of every [`ReferenceSettings::key`]: bumped if the meaning of a cached run changes.
pub const KEY_SCHEMA: &str = "fmnist-harness/parity-reference/v1";

/// Two learning rates closer than this (relative) are the same rate.
const LR_TOLERANCE: f64 = 1e-9;

/// What can go wrong in the pure part of a parity run.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// `--archs` names a variant the experiment file lacks.
    #[error("--archs: `{name}` is not a variant of {path} (it has: {known})")]
    UnknownArch {
        /// The requested name.
        name: String,
        /// The experiment file.
        path: PathBuf,
        /// Its variants, comma-separated.
        known: String,
    },
    /// `--archs` is empty or names a variant twice.
    #[error("--archs: {0}")]
    Archs(String),
    /// A setting the PyTorch reference has no flag for.
    #[error(
        "variant `{variant}`: {field} = {value}: the PyTorch reference cannot express this ({why})"
    )]
    Unsupported {
        /// The variant.
        variant: String,
        /// Dotted path of the setting.
        field: String,
        /// Its value.
        value: String,
        /// What the reference supports instead.
        why: String,
    },
    /// The reference's standard output is not what it should print.
    #[error("PyTorch reference output, line {line}: {message}")]
    Output {
        /// 1-based line of stdout (0: the output as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

// ------------------------------------------------------------------- experiment file

/// `experiment` (loaded from `path`) with only the variants named in `archs`, in that
/// order.
///
/// Everything else is kept, so each variant has the same settings and its trials keep
/// their ids: a trial run for parity is the same trial as through the full file (the
/// workers load the full file and find their variant by name). The baseline stays when it
/// is kept, else the first requested variant takes its place (the baseline only matters to
/// the replicate's own report).
pub fn select_variants(
    path: &Path,
    experiment: &Experiment,
    archs: &[String],
) -> Result<Experiment, ParityError> {
    if archs.is_empty() {
        return Err(ParityError::Archs("name at least one architecture".into()));
    }
    let mut kept = Vec::with_capacity(archs.len());
    for (i, name) in archs.iter().enumerate() {
        if archs[..i].contains(name) {
            return Err(ParityError::Archs(format!("`{name}` is named twice")));
        }
        let variant = experiment
            .variant(name)
            .ok_or_else(|| ParityError::UnknownArch {
                name: name.clone(),
                path: path.to_path_buf(),
                known: experiment
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        kept.push(variant.clone());
    }
    let mut reduced = experiment.clone();
    reduced.variants = kept;
    if !archs.contains(&reduced.baseline) {
        reduced.baseline = archs[0].clone();
    }
    Ok(reduced)
}

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
            Some(n) => format!("the first {} {what}", format_count(n as i64)),
            None => format!("all {} {what}", format_count(all)),
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
        )
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

// ------------------------------------------------------------------------ our side

/// Our records of one variant: configuration digest equal to `config`'s, dataset digest
/// `dataset_digest`, seed among `seeds`; one per seed, sorted by seed. (Like
/// [`crate::report::select`], a trial counts whichever experiment ran it.)
pub fn select_ours<'a>(
    records: &'a [TrialRecord],
    config: &TrialConfig,
    seeds: &[u64],
    dataset_digest: &str,
) -> Vec<&'a TrialRecord> {
    let wanted = crate::id::config_digest(config);
    let mut chosen: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.config_digest == wanted
                && r.dataset_digest == dataset_digest
                && seeds.contains(&r.seed)
        })
        .collect();
    chosen.sort_by(|a, b| a.seed.cmp(&b.seed).then(a.id.cmp(&b.id)));
    chosen.dedup_by_key(|r| r.seed);
    chosen
}

// ----------------------------------------------------------------------- statistics

/// One epoch of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// 1-based epoch.
    pub epoch: u32,
    /// Learning rate during the epoch.
    pub lr: f64,
    /// Test accuracy after the epoch, percent.
    pub test_accuracy: f64,
    /// Mean over the epoch's batches of the mean batch loss.
    pub train_loss_mean: f64,
}

/// One run (one seed) of either side, epoch by epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The seed.
    pub seed: u64,
    /// Whether the run diverged (a non-finite loss or accuracy): its numbers are shown as
    /// such and never averaged.
    pub diverged: bool,
    /// Its epochs with finite values, in order.
    pub points: Vec<Point>,
}

impl Curve {
    /// Our trial's curve.
    pub fn from_record(r: &TrialRecord) -> Curve {
        let finite = |m: &trainer::EpochMetrics| {
            m.test_accuracy.is_finite() && m.train_loss_mean.is_finite()
        };
        Curve {
            seed: r.seed,
            diverged: r.diverged() || !r.epochs.iter().all(finite),
            points: r
                .epochs
                .iter()
                .take_while(|m| finite(m))
                .map(|m| Point {
                    epoch: m.epoch,
                    lr: m.lr,
                    test_accuracy: m.test_accuracy,
                    train_loss_mean: m.train_loss_mean,
                })
                .collect(),
        }
    }

    /// The reference run's curve.
    pub fn from_reference(run: &ReferenceRun) -> Curve {
        let point = |e: &ReferenceEpoch| match (e.test_accuracy, e.train_loss_mean) {
            (Some(a), Some(l)) if a.is_finite() && l.is_finite() => Some(Point {
                epoch: e.epoch,
                lr: e.lr,
                test_accuracy: a,
                train_loss_mean: l,
            }),
            _ => None,
        };
        let points: Vec<Point> = run.epochs.iter().map_while(point).collect();
        Curve {
            seed: run.seed,
            diverged: points.len() != run.epochs.len(),
            points,
        }
    }

    fn at(&self, epoch: u32) -> Option<&Point> {
        self.points.iter().find(|p| p.epoch == epoch)
    }
}

/// Both sides of one architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchParity {
    /// The variant (architecture) name.
    pub arch: String,
    /// The settings both sides trained with.
    pub settings: ReferenceSettings,
    /// Our runs.
    pub ours: Vec<Curve>,
    /// PyTorch's runs.
    pub pytorch: Vec<Curve>,
}

/// Statistics of one epoch, both sides; runs that diverged are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: u32,
    /// The learning rates the runs (both sides) used in this epoch, distinct; one value
    /// when the two sides agree, as they must.
    pub lrs: Vec<f64>,
    /// Our test accuracy, percent.
    pub ours_accuracy: Option<Summary>,
    /// PyTorch's test accuracy, percent.
    pub pytorch_accuracy: Option<Summary>,
    /// Our training loss (mean per batch).
    pub ours_loss: Option<Summary>,
    /// PyTorch's training loss (mean per batch).
    pub pytorch_loss: Option<Summary>,
}

/// What the final-epoch comparison says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParityVerdict {
    /// The 95 % interval of the difference contains 0.
    WithinNoise,
    /// The interval lies above 0.
    OursHigher,
    /// The interval lies below 0.
    OursLower,
    /// A side has fewer than two finished runs: no interval.
    TooFewSeeds,
    /// Neither side varies across seeds, or the values are out of range: no interval.
    CannotTell,
}

impl fmt::Display for ParityVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParityVerdict::WithinNoise => "difference within noise",
            ParityVerdict::OursHigher => "ours higher, beyond noise",
            ParityVerdict::OursLower => "ours lower, beyond noise",
            ParityVerdict::TooFewSeeds => "too few seeds to tell",
            ParityVerdict::CannotTell => "cannot tell",
        })
    }
}

/// The final-epoch test accuracy of ours against PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    /// The epoch compared.
    pub epoch: u32,
    /// Ours.
    pub ours: Summary,
    /// PyTorch.
    pub pytorch: Summary,
    /// Welch's test of ours against PyTorch: `diff` = mean(ours) - mean(PyTorch).
    pub welch: Comparison,
    /// 95 % interval of the difference, `diff ± t(0.975, df) · se` with Welch's degrees
    /// of freedom and standard error; `None` without a test.
    pub ci95: Option<(f64, f64)>,
    /// What it says.
    pub verdict: ParityVerdict,
}

/// Compares `ours` with `pytorch` (accuracies of one epoch) by [`stats::welch`]; `None`
/// when a side is empty or holds a non-finite value.
pub fn difference(epoch: u32, ours: &[f64], pytorch: &[f64]) -> Option<Difference> {
    let welch = stats::welch(pytorch, ours)?;
    let o = stats::summarize(ours)?;
    let p = stats::summarize(pytorch)?;
    let ci95 = welch.interval(0.95);
    let verdict = match (ci95, welch.verdict) {
        (Some((lo, _)), _) if lo > 0.0 => ParityVerdict::OursHigher,
        (Some((_, hi)), _) if hi < 0.0 => ParityVerdict::OursLower,
        (Some(_), _) => ParityVerdict::WithinNoise,
        (None, Verdict::TooFewTrials) => ParityVerdict::TooFewSeeds,
        (None, _) => ParityVerdict::CannotTell,
    };
    Some(Difference {
        epoch,
        ours: o,
        pytorch: p,
        welch,
        ci95,
        verdict,
    })
}

fn values(curves: &[Curve], epoch: u32, f: impl Fn(&Point) -> f64) -> Vec<f64> {
    curves
        .iter()
        .filter(|c| !c.diverged)
        .filter_map(|c| c.at(epoch).map(&f))
        .collect()
}

impl ArchParity {
    /// One row per epoch, 1 to the settings' epochs.
    pub fn rows(&self) -> Vec<EpochRow> {
        (1..=self.settings.epochs)
            .map(|epoch| {
                let mut lrs: Vec<f64> = Vec::new();
                for p in self
                    .ours
                    .iter()
                    .chain(&self.pytorch)
                    .filter_map(|c| c.at(epoch))
                {
                    if !lrs
                        .iter()
                        .any(|&l| (l - p.lr).abs() <= LR_TOLERANCE * l.abs().max(p.lr.abs()))
                    {
                        lrs.push(p.lr);
                    }
                }
                let summary = |curves: &[Curve], f: fn(&Point) -> f64| {
                    stats::summarize(&values(curves, epoch, f))
                };
                EpochRow {
                    epoch,
                    lrs,
                    ours_accuracy: summary(&self.ours, |p| p.test_accuracy),
                    pytorch_accuracy: summary(&self.pytorch, |p| p.test_accuracy),
                    ours_loss: summary(&self.ours, |p| p.train_loss_mean),
                    pytorch_loss: summary(&self.pytorch, |p| p.train_loss_mean),
                }
            })
            .collect()
    }

    /// The test accuracy after the last epoch, ours against PyTorch's (runs that diverged
    /// left out); `None` when a side has no finished run.
    pub fn final_difference(&self) -> Option<Difference> {
        let epoch = self.settings.epochs;
        difference(
            epoch,
            &values(&self.ours, epoch, |p| p.test_accuracy),
            &values(&self.pytorch, epoch, |p| p.test_accuracy),
        )
    }
}

// ------------------------------------------------------------------------- report

/// What both sides ran with, as their records say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Our seeds.
    pub ours_seeds: BTreeSet<u64>,
    /// PyTorch's seeds.
    pub pytorch_seeds: BTreeSet<u64>,
    /// Our libtorch threads.
    pub ours_threads: BTreeSet<i32>,
    /// PyTorch's threads.
    pub pytorch_threads: BTreeSet<i32>,
    /// Our devices, e.g. `cpu (AMD EPYC 7B13)`.
    pub ours_devices: BTreeSet<String>,
    /// PyTorch's devices.
    pub pytorch_devices: BTreeSet<String>,
    /// Our commits (12 digits, `(dirty)` when the checkout had changes).
    pub commits: BTreeSet<String>,
    /// tch versions.
    pub tch: BTreeSet<String>,
    /// libtorch versions.
    pub libtorch: BTreeSet<String>,
    /// torch versions of the reference.
    pub torch: BTreeSet<String>,
    /// torchvision versions of the reference.
    pub torchvision: BTreeSet<String>,
    /// SHA-256 (12 digits) of the reference scripts that ran.
    pub scripts: BTreeSet<String>,
    /// Dataset digests (12 digits), both sides.
    pub datasets: BTreeSet<String>,
    /// Hosts, both sides.
    pub hosts: BTreeSet<String>,
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

impl Conditions {
    /// Gathers the conditions from our records and the reference's runs.
    pub fn gather(ours: &[&TrialRecord], pytorch: &[&ReferenceRun]) -> Conditions {
        let mut c = Conditions::default();
        for r in ours {
            let p = &r.provenance;
            c.ours_seeds.insert(r.seed);
            c.ours_threads.insert(p.threads);
            c.ours_devices
                .insert(format!("{} ({})", p.device, p.device_name));
            c.commits.insert(format!(
                "{}{}",
                short(&p.git_commit),
                if p.git_dirty { " (dirty)" } else { "" }
            ));
            c.tch.insert(p.tch_version.clone());
            c.libtorch.insert(p.libtorch_version.clone());
            c.datasets.insert(short(&r.dataset_digest));
            c.hosts.insert(p.host.clone());
        }
        for run in pytorch {
            c.pytorch_seeds.insert(run.seed);
            c.pytorch_threads.insert(run.threads);
            c.pytorch_devices
                .insert(format!("{} ({})", run.device, run.device_name));
            c.torch.insert(run.torch.clone());
            c.torchvision.insert(run.torchvision.clone());
            c.scripts.insert(short(&run.script_sha256));
            c.datasets.insert(short(&run.dataset_digest));
            c.hosts.insert(run.host.clone());
        }
        c
    }
}

fn join<T: ToString>(items: &BTreeSet<T>) -> String {
    if items.is_empty() {
        return "—".into();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn mean_sd(s: &Option<Summary>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n < 2 => format!("{:.*}", digits, s.mean),
        Some(s) => format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std),
    }
}

fn count(s: &Option<Summary>) -> usize {
    s.as_ref().map_or(0, |s| s.n)
}

/// The sentence on the final-epoch difference, e.g. `Final epoch (12): ours - PyTorch =
/// +0.05 points, 95% CI [-0.20, +0.30] (Welch, df 3.9, p=0.621): **difference within
/// noise** ...`.
pub fn difference_line(d: &Difference) -> String {
    let head = format!(
        "Final epoch ({}): ours - PyTorch = {:+.2} points",
        d.epoch, d.welch.diff
    );
    match d.ci95 {
        Some((lo, hi)) => {
            let why = match d.verdict {
                ParityVerdict::WithinNoise => format!(
                    "the interval contains 0; the data allow a true difference from {lo:+.2} to {hi:+.2} points, \
                     so this is no evidence of a gap, and no proof of none smaller than that"
                ),
                ParityVerdict::OursHigher => {
                    "the interval lies above 0: our trainer ends higher than PyTorch's".into()
                }
                ParityVerdict::OursLower => {
                    "the interval lies below 0: our trainer ends lower than PyTorch's; look for the difference in the trainer".into()
                }
                _ => String::new(),
            };
            format!(
                "{head}, 95% CI [{lo:+.2}, {hi:+.2}] (Welch, df {:.1}, {}): **{}** ({why}).",
                d.welch.df,
                stats::format_p(d.welch.p_value),
                d.verdict
            )
        }
        None => format!(
            "{head}, no 95% CI: **{}** (n={} ours vs {} PyTorch; {}).",
            d.verdict,
            d.ours.n,
            d.pytorch.n,
            stats::verdict_text(&d.welch, d.pytorch.n, d.ours.n)
        ),
    }
}

fn lr_cell(lrs: &[f64]) -> String {
    match lrs {
        [] => "—".into(),
        [one] => one.to_string(),
        many => format!(
            "{} (differ!)",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    }
}

/// `reports/parity.md`: the verdict per architecture, the conditions, then per
/// architecture a table per epoch (both sides' test accuracy and training loss, mean ± sd
/// over seeds) and the final-epoch difference with its 95 % interval.
pub fn render(conditions: &Conditions, archs: &[ArchParity]) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Parity with PyTorch\n");
    let _ = writeln!(
        w,
        "Does our trainer (crate `trainer`: its own Adam and SGD, initialisation, batch norm and data path) \
         learn as well as plain PyTorch? Both sides train the same networks with the same settings, \
         several seeds each. PyTorch is `bench/reference/train_reference.py`: `torch.optim.Adam`, \
         `StepLR`, the layers' default initialisation, `nn.CrossEntropyLoss`, a `DataLoader` over PIL \
         images with `ToTensor` and `Normalize((0.2860,), (0.3530,))`.\n"
    );
    let _ = writeln!(
        w,
        "Generated by `harness parity` from the run store (our trials) and `runs/{EXPERIMENT}/pytorch/` \
         (the PyTorch runs); do not edit.\n"
    );

    let _ = writeln!(w, "## Verdict\n");
    let _ = writeln!(
        w,
        "| architecture | epoch | ours test acc % | PyTorch test acc % | ours - PyTorch [95% CI] | verdict |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for a in archs {
        match a.final_difference() {
            Some(d) => {
                let ci = d.ci95.map_or_else(
                    || "—".to_owned(),
                    |(lo, hi)| format!("[{lo:+.2}, {hi:+.2}]"),
                );
                let _ = writeln!(
                    w,
                    "| {} | {} | {} (n={}) | {} (n={}) | {:+.2} {ci} | {} |",
                    a.arch,
                    d.epoch,
                    mean_sd(&Some(d.ours), 2),
                    d.ours.n,
                    mean_sd(&Some(d.pytorch), 2),
                    d.pytorch.n,
                    d.welch.diff,
                    d.verdict
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "| {} | {} | — | — | — | no finished run on one side |",
                    a.arch, a.settings.epochs
                );
            }
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## Conditions\n");
    let names: Vec<&str> = archs.iter().map(|a| a.arch.as_str()).collect();
    let _ = writeln!(w, "- Architectures: {}", names.join(", "));
    let described: BTreeSet<String> = archs.iter().map(|a| a.settings.describe()).collect();
    if described.len() == 1 {
        let _ = writeln!(
            w,
            "- Settings (both sides, every architecture): {}",
            described.first().expect("one")
        );
    } else {
        for a in archs {
            let _ = writeln!(
                w,
                "- Settings of {} (both sides): {}",
                a.arch,
                a.settings.describe()
            );
        }
    }
    let _ = writeln!(
        w,
        "- Seeds: ours {} ({}); PyTorch {} ({}); the sides share no random stream, so seeds are not paired",
        conditions.ours_seeds.len(),
        join(&conditions.ours_seeds),
        conditions.pytorch_seeds.len(),
        join(&conditions.pytorch_seeds)
    );
    let _ = writeln!(
        w,
        "- Threads: ours {}; PyTorch {}",
        join(&conditions.ours_threads),
        join(&conditions.pytorch_threads)
    );
    let _ = writeln!(
        w,
        "- Device: ours {}; PyTorch {}",
        join(&conditions.ours_devices),
        join(&conditions.pytorch_devices)
    );
    let _ = writeln!(
        w,
        "- Ours: harness commit {}; tch {}; libtorch {}",
        join(&conditions.commits),
        join(&conditions.tch),
        join(&conditions.libtorch)
    );
    let _ = writeln!(
        w,
        "- PyTorch: torch {}; torchvision {}; reference script SHA-256 {}",
        join(&conditions.torch),
        join(&conditions.torchvision),
        join(&conditions.scripts)
    );
    let _ = writeln!(w, "- Dataset digest: {}", join(&conditions.datasets));
    let _ = writeln!(w, "- Host: {}", join(&conditions.hosts));
    let _ = writeln!(w);

    for a in archs {
        let _ = writeln!(w, "## {}\n", a.arch);
        let _ = writeln!(
            w,
            "| epoch | lr | n (ours / PyTorch) | ours test acc % | PyTorch test acc % | Δ acc | ours train loss | PyTorch train loss |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
        let rows = a.rows();
        for r in &rows {
            let delta = match (&r.ours_accuracy, &r.pytorch_accuracy) {
                (Some(o), Some(p)) => format!("{:+.2}", o.mean - p.mean),
                _ => "—".into(),
            };
            let _ = writeln!(
                w,
                "| {} | {} | {} / {} | {} | {} | {delta} | {} | {} |",
                r.epoch,
                lr_cell(&r.lrs),
                count(&r.ours_accuracy),
                count(&r.pytorch_accuracy),
                mean_sd(&r.ours_accuracy, 2),
                mean_sd(&r.pytorch_accuracy, 2),
                mean_sd(&r.ours_loss, 4),
                mean_sd(&r.pytorch_loss, 4),
            );
        }
        let _ = writeln!(w);
        match a.final_difference() {
            Some(d) => {
                let _ = writeln!(w, "{}\n", difference_line(&d));
            }
            None => {
                let _ = writeln!(
                    w,
                    "Final epoch ({}): no comparison, one side has no finished run.\n",
                    a.settings.epochs
                );
            }
        }
        let differ: Vec<String> = rows
            .iter()
            .filter(|r| r.lrs.len() > 1)
            .map(|r| r.epoch.to_string())
            .collect();
        if !differ.is_empty() {
            let _ = writeln!(
                w,
                "**Warning:** the two sides trained with different learning rates in epoch(s) {}: the settings were not mapped faithfully, so these numbers do not compare like with like.\n",
                differ.join(", ")
            );
        }
        for (side, curves) in [("ours", &a.ours), ("PyTorch", &a.pytorch)] {
            let diverged: Vec<String> = curves
                .iter()
                .filter(|c| c.diverged)
                .map(|c| c.seed.to_string())
                .collect();
            if !diverged.is_empty() {
                let _ = writeln!(
                    w,
                    "Diverged ({side}, left out of every mean): seed(s) {}.\n",
                    diverged.join(", ")
                );
            }
        }
    }

    let _ = writeln!(w, "## How to read this\n");
    let _ = writeln!(
        w,
        "Test accuracy is measured after each epoch on the test images; training loss is the mean over \
         the epoch's batches of each batch's mean cross-entropy, taken while training (dropout on, \
         weights moving), the same definition on both sides. Cells are mean ± sample sd over seeds; n \
         counts the runs with a finite value (diverged runs are listed, never averaged). Δ acc is the \
         difference of the means, ours - PyTorch. The final-epoch comparison is Welch's two-sided t-test \
         (unequal variances); its 95% CI is the difference ± t(0.975, Welch df) × the Welch standard \
         error. A CI that contains 0 means no difference is detectable with these seeds; its width says \
         how large a difference the data still allow."
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::Provenance;
    use crate::record::RECORD_FORMAT;
    use trainer::{EpochMetrics, Status};

    const PARITY: &str = include_str!("../../../configs/parity-ours.ron");

    fn epochs_config(epochs: u32) -> TrialConfig {
        TrialConfig {
            epochs,
            ..TrialConfig::default()
        }
    }

    fn settings(epochs: u32) -> ReferenceSettings {
        let config = epochs_config(epochs);
        ReferenceSettings::from_trial("conv4", &config).unwrap()
    }

    fn curve(seed: u64, accuracies: &[f64], losses: &[f64]) -> Curve {
        Curve {
            seed,
            diverged: false,
            points: accuracies
                .iter()
                .zip(losses)
                .enumerate()
                .map(|(i, (&a, &l))| Point {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    test_accuracy: a,
                    train_loss_mean: l,
                })
                .collect(),
        }
    }

    fn record(config: &TrialConfig, seed: u64, dataset: &str, accuracies: &[f64]) -> TrialRecord {
        TrialRecord {
            format: RECORD_FORMAT,
            id: crate::id::trial_id(config, seed, dataset),
            config_digest: crate::id::config_digest(config),
            experiment: EXPERIMENT.into(),
            variant: "conv4".into(),
            seed,
            dataset_digest: dataset.into(),
            config: config.clone(),
            status: Status::Finished,
            parameters: 1000,
            study_parameters: None,
            final_accuracy: accuracies.last().copied(),
            best_accuracy: None,
            best_epoch: None,
            train_loss_sum: Some(10.0),
            latency: None,
            epochs: accuracies
                .iter()
                .enumerate()
                .map(|(i, &a)| EpochMetrics {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    train_loss_mean: 0.5,
                    train_loss_sum: 10.0,
                    test_loss: 0.4,
                    test_accuracy: a,
                    train_time_s: 1.0,
                    eval_time_s: 1.0,
                    images_per_s: 100.0,
                })
                .collect(),
            wall_time_s: 2.0,
            provenance: Provenance {
                harness_version: "0.1.0".into(),
                git_commit: "0123456789abcdef".into(),
                git_dirty: true,
                tch_version: "0.24.0".into(),
                libtorch_version: "2.11.0+cu130".into(),
                cuda: "none".into(),
                device: "cpu".into(),
                device_name: "Test CPU".into(),
                threads: 2,
                host: "box".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:02Z".into(),
            },
        }
    }

    fn reference_run(
        settings: &ReferenceSettings,
        seed: u64,
        accuracies: &[Option<f64>],
    ) -> ReferenceRun {
        ReferenceRun {
            format: REFERENCE_FORMAT,
            key: settings.key("2.11.0", "s", "d"),
            seed,
            settings: settings.clone(),
            torch: "2.11.0+cu130".into(),
            torchvision: "0.26.0+cu130".into(),
            script_sha256: "abcdef0123456789".into(),
            dataset_digest: "d".repeat(64),
            threads: 2,
            device: "cpu".into(),
            device_name: "Test CPU".into(),
            host: "box".into(),
            parameters: 1000,
            command: vec!["python".into()],
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:02Z".into(),
            wall_time_s: 2.0,
            epochs: accuracies
                .iter()
                .enumerate()
                .map(|(i, &a)| ReferenceEpoch {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    train_loss_sum: a.map(|_| 10.0),
                    train_loss_mean: a.map(|_| 0.5),
                    batches: 20,
                    images: 5000,
                    test_accuracy: a,
                    epoch_time_s: 1.0,
                })
                .collect(),
        }
    }

    #[test]
    fn select_variants_keeps_the_requested_variants_with_their_settings() {
        let path = Path::new("configs/parity-ours.ron");
        let full = crate::config::parse(path, PARITY, &[]).unwrap();
        let reduced = select_variants(path, &full, &["conv2".into()]).unwrap();
        assert_eq!(reduced.name, EXPERIMENT);
        assert_eq!(reduced.seeds, full.seeds);
        assert_eq!(reduced.variants.len(), 1);
        assert_eq!(
            reduced.baseline, "conv2",
            "the baseline falls to the first kept"
        );
        assert_eq!(
            reduced.variants[0].trial,
            full.variant("conv2").unwrap().trial,
            "same settings, so the same trial ids"
        );
        // Both, in the requested order; the baseline stays.
        let both = select_variants(path, &full, &["conv4".into(), "conv2".into()]).unwrap();
        let names: Vec<&str> = both.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["conv4", "conv2"]);
        assert_eq!(both.baseline, "conv4");
    }

    #[test]
    fn select_variants_names_what_is_wrong_with_archs() {
        let path = Path::new("configs/parity-ours.ron");
        let full = crate::config::parse(path, PARITY, &[]).unwrap();
        let err = select_variants(path, &full, &["conv3".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`conv3` is not a variant"), "{err}");
        assert!(err.contains("conv2, conv4"), "{err}");
        let err = select_variants(path, &full, &[]).unwrap_err().to_string();
        assert!(err.contains("at least one"), "{err}");
        let err = select_variants(path, &full, &["conv2".into(), "conv2".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn the_baseline_maps_to_the_references_flags() {
        let s = settings(12);
        assert_eq!(s.arch, "conv4");
        let args = s.args();
        let flag = |name: &str| {
            let i = args
                .iter()
                .position(|a| a == name)
                .unwrap_or_else(|| panic!("{name}"));
            args[i + 1].clone()
        };
        assert_eq!(flag("--arch"), "conv4");
        assert_eq!(flag("--channels"), "32");
        assert_eq!(flag("--kernel"), "3");
        assert_eq!(flag("--dropout"), "0.2");
        assert_eq!(flag("--optimizer"), "adam");
        assert_eq!(flag("--lr"), "0.01");
        assert_eq!(flag("--step-size"), "10");
        assert_eq!(flag("--gamma"), "0.1");
        assert_eq!(flag("--epochs"), "12");
        assert_eq!(flag("--batch-size"), "256");
        assert_eq!(flag("--eval-batch-size"), "256");
        assert_eq!(flag("--augment"), "none");
        assert!(!args.iter().any(|a| a == "--no-bn" || a == "--train-limit"));
        let mut limited = s.clone();
        limited.batch_norm = false;
        limited.train_limit = Some(1024);
        limited.test_limit = Some(512);
        let args = limited.args();
        assert!(args.iter().any(|a| a == "--no-bn"));
        assert!(args.windows(2).any(|w| w == ["--train-limit", "1024"]));
        assert!(args.windows(2).any(|w| w == ["--test-limit", "512"]));
        assert_eq!(
            s.describe(),
            "32 channels, kernel 3, batch norm, dropout 0.2; Adam lr 0.01; StepLR every 10 epochs x0.1; \
             batch 256, eval batch 256; 12 epochs; all 60,000 training images and all 10,000 test images"
        );
        assert!(
            limited
                .describe()
                .ends_with("the first 1,024 training images and the first 512 test images")
        );
    }

    #[test]
    fn settings_the_reference_cannot_express_are_refused() {
        type Change = Box<dyn Fn(&mut TrialConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "optimizer.weight_decay",
                Box::new(|c| c.optimizer.weight_decay = 1e-4),
            ),
            (
                "schedule",
                Box::new(|c| c.schedule = Schedule::Exponential { gamma: 0.99 }),
            ),
            (
                "fix",
                Box::new(|c| c.fix = vec![trainer::RandomSource::Init]),
            ),
            ("data.test_limit", Box::new(|c| c.data.test_limit = Some(0))),
            (
                "augmentations",
                Box::new(|c| {
                    c.augmentations = vec![augmentation::Augmentation::HorizontalFlip { p: 0.5 }]
                }),
            ),
        ];
        for (field, change) in cases {
            let mut config = TrialConfig::default();
            change(&mut config);
            let err = ReferenceSettings::from_trial("v", &config)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("variant `v`: {field} = ")),
                "{err}"
            );
            assert!(err.contains("cannot express"), "{err}");
        }
        let constant = TrialConfig {
            schedule: Schedule::Constant,
            ..TrialConfig::default()
        };
        let s = ReferenceSettings::from_trial("v", &constant).unwrap();
        assert_eq!((s.step_size, s.gamma), (1, 1.0));
        assert!(s.describe().contains("constant learning rate"));
    }

    #[test]
    fn the_key_changes_with_every_input_but_not_the_seed() {
        let s = settings(12);
        let k = s.key("2.11.0", "script", "data");
        assert_eq!(k.len(), 12);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, s.key("2.11.0", "script", "data"), "deterministic");
        assert_ne!(k, s.key("2.12.0", "script", "data"));
        assert_ne!(k, s.key("2.11.0", "other", "data"));
        assert_ne!(k, s.key("2.11.0", "script", "other"));
        let mut t = s.clone();
        t.epochs = 2;
        assert_ne!(k, t.key("2.11.0", "script", "data"));
        assert_eq!(
            ReferenceRun::file_name("conv2", &k, 3),
            format!("conv2-{k}-seed3.json")
        );
    }

    const OUTPUT: &str = r#"{"kind": "start", "torch": "2.11.0+cu130", "torchvision": "0.26.0+cu130", "threads": 1, "device": "cpu", "params": 50378, "seed": 0}
{"kind": "epoch", "epoch": 1, "lr": 0.01, "epoch_time_s": 1.3, "train_loss_sum": 35.9, "train_loss_mean": 8.975, "batches": 4, "test_accuracy": 44.3359375, "images": 1024}
{"kind": "epoch", "epoch": 2, "lr": 0.01, "epoch_time_s": 1.0, "train_loss_sum": null, "train_loss_mean": null, "batches": 4, "test_accuracy": 63.28125, "images": 1024}
{"kind": "latency", "batch1": {"median_ms": 0.45, "p95_ms": 0.59}}
"#;

    #[test]
    fn the_references_output_parses_and_is_checked() {
        let out = parse_reference_output(OUTPUT, 0, 2).unwrap();
        assert_eq!(out.start.torch, "2.11.0+cu130");
        assert_eq!(out.start.params, 50378);
        assert_eq!(out.epochs.len(), 2);
        assert_eq!(out.epochs[0].test_accuracy, Some(44.3359375));
        assert_eq!(out.epochs[0].train_loss_mean, Some(8.975));
        assert_eq!(out.epochs[1].train_loss_mean, None, "null: diverged");

        let err = parse_reference_output(OUTPUT, 1, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1: the run reports seed 0, not 1"),
            "{err}"
        );
        let err = parse_reference_output(OUTPUT, 0, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 epoch line(s), expected 3"), "{err}");
        let skipped = OUTPUT.replacen("\"epoch\": 1,", "\"epoch\": 3,", 1);
        let err = parse_reference_output(&skipped, 0, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2: epoch 3 where epoch 1 was due"),
            "{err}"
        );
        let err = parse_reference_output("{\"kind\": \"epoch\", NaN}\n", 0, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: not JSON"), "{err}");
        let no_start: String = OUTPUT.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let err = parse_reference_output(&no_start, 0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no start line"), "{err}");
        // Noise that is not a JSON object is ignored.
        let noisy = format!("warning: something\n{OUTPUT}");
        assert_eq!(
            parse_reference_output(&noisy, 0, 2).unwrap().epochs.len(),
            2
        );
    }

    #[test]
    fn a_cached_run_must_match_its_settings_key_and_seed() {
        let s = settings(2);
        let run = reference_run(&s, 1, &[Some(80.0), Some(85.0)]);
        let key = run.key.clone();
        assert_eq!(run.check(&s, &key, 1), Ok(()));
        assert!(run.check(&s, &key, 2).unwrap_err().contains("seed 1"));
        assert!(
            run.check(&s, "000000000000", 1)
                .unwrap_err()
                .contains("key")
        );
        let mut other = s.clone();
        other.lr = 0.02;
        assert!(run.check(&other, &key, 1).unwrap_err().contains("settings"));
        let mut short = run.clone();
        short.epochs.pop();
        assert!(
            short
                .check(&s, &key, 1)
                .unwrap_err()
                .contains("expected 1 to 2")
        );
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(serde_json::from_str::<ReferenceRun>(&json).unwrap(), run);
    }

    #[test]
    fn our_records_are_selected_by_digest_dataset_and_seed() {
        let config = epochs_config(2);
        let mut other = config.clone();
        other.model.dropout = 0.5;
        let d = "d".repeat(64);
        let records = vec![
            record(&config, 2, &d, &[80.0, 81.0]),
            record(&config, 0, &d, &[80.0, 82.0]),
            record(&config, 1, &"e".repeat(64), &[80.0, 83.0]),
            record(&other, 1, &d, &[80.0, 84.0]),
            record(&config, 9, &d, &[80.0, 85.0]),
        ];
        let chosen = select_ours(&records, &config, &[0, 1, 2], &d);
        let seeds: Vec<u64> = chosen.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [0, 2]);
    }

    #[test]
    fn rows_summarise_each_epoch_and_leave_diverged_runs_out() {
        let mut diverged = curve(7, &[10.0], &[9.0]);
        diverged.diverged = true;
        let a = ArchParity {
            arch: "conv2".into(),
            settings: settings(2),
            ours: vec![
                curve(0, &[80.0, 85.0], &[0.6, 0.4]),
                curve(1, &[82.0, 87.0], &[0.8, 0.6]),
                diverged,
            ],
            pytorch: vec![
                curve(0, &[81.0, 86.0], &[0.7, 0.5]),
                curve(1, &[81.0, 86.0], &[0.7, 0.5]),
            ],
        };
        let rows = a.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].epoch, 1);
        assert_eq!(rows[0].lrs, [0.01]);
        let o = rows[1].ours_accuracy.unwrap();
        assert_eq!(o.n, 2);
        assert!((o.mean - 86.0).abs() < 1e-12);
        assert!((o.std - 2f64.sqrt()).abs() < 1e-12);
        assert!((rows[1].ours_loss.unwrap().mean - 0.5).abs() < 1e-12);
        assert_eq!(rows[1].pytorch_accuracy.unwrap().std, 0.0);
        let d = a.final_difference().unwrap();
        assert_eq!(d.epoch, 2);
        assert!((d.welch.diff - 0.0).abs() < 1e-12);
        assert_eq!(d.verdict, ParityVerdict::WithinNoise);
    }

    #[test]
    fn the_interval_is_welchs_and_decides_the_verdict() {
        // ours: mean 91, var 0.01; PyTorch: mean 90, var 0.04 (n = 3 each).
        let ours = [90.9, 91.0, 91.1];
        let pytorch = [89.8, 90.0, 90.2];
        let d = difference(12, &ours, &pytorch).unwrap();
        let welch = stats::welch(&pytorch, &ours).unwrap();
        assert!((d.welch.diff - 1.0).abs() < 1e-9);
        assert_eq!(d.welch, welch);
        // se = sqrt(0.01/3 + 0.04/3); the half-width uses Welch's df.
        let se = (0.05f64 / 3.0).sqrt();
        let half = stats::t_quantile(0.975, welch.df) * se;
        let (lo, hi) = d.ci95.unwrap();
        assert!((lo - (1.0 - half)).abs() < 1e-9 && (hi - (1.0 + half)).abs() < 1e-9);
        assert_eq!(d.verdict, ParityVerdict::OursHigher);
        // The interval excludes 0 exactly when Welch's p is below 0.05.
        assert!(welch.p_value < 0.05);
        assert_eq!(
            difference(12, &pytorch, &ours).unwrap().verdict,
            ParityVerdict::OursLower
        );
        let close = difference(12, &[90.0, 90.5, 89.5], &[90.2, 89.9, 90.1]).unwrap();
        assert_eq!(close.verdict, ParityVerdict::WithinNoise);
        let (lo, hi) = close.ci95.unwrap();
        assert!(lo < 0.0 && hi > 0.0);
        assert!(close.welch.p_value >= 0.05);
        let one = difference(12, &[90.0], &[90.2, 89.9]).unwrap();
        assert_eq!(one.verdict, ParityVerdict::TooFewSeeds);
        assert_eq!(one.ci95, None);
        let flat = difference(12, &[90.0, 90.0], &[91.0, 91.0]).unwrap();
        assert_eq!(flat.verdict, ParityVerdict::CannotTell);
        assert!(difference(12, &[], &[1.0]).is_none());
    }

    #[test]
    fn curves_come_from_records_and_reference_runs() {
        let config = epochs_config(2);
        let r = record(&config, 3, "d", &[80.0, 85.0]);
        let c = Curve::from_record(&r);
        assert_eq!(c.seed, 3);
        assert!(!c.diverged);
        assert_eq!(c.points.len(), 2);
        assert_eq!(c.points[1].test_accuracy, 85.0);
        let mut bad = r.clone();
        bad.epochs[1].train_loss_mean = f64::NAN;
        let c = Curve::from_record(&bad);
        assert!(c.diverged);
        assert_eq!(c.points.len(), 1);

        let s = settings(2);
        let c = Curve::from_reference(&reference_run(&s, 1, &[Some(80.0), Some(85.0)]));
        assert!(!c.diverged);
        assert_eq!(c.points[1].train_loss_mean, 0.5);
        let c = Curve::from_reference(&reference_run(&s, 1, &[Some(80.0), None]));
        assert!(c.diverged);
        assert_eq!(c.points.len(), 1);
    }

    #[test]
    fn the_report_shows_conditions_both_sides_per_epoch_and_the_verdict() {
        let s = settings(2);
        let config = epochs_config(2);
        let d = "d".repeat(64);
        let ours = [
            record(&config, 0, &d, &[80.0, 85.0]),
            record(&config, 1, &d, &[82.0, 87.0]),
        ];
        let theirs = [
            reference_run(&s, 0, &[Some(81.0), Some(86.0)]),
            reference_run(&s, 1, &[Some(81.5), Some(86.5)]),
        ];
        let conditions = Conditions::gather(
            &ours.iter().collect::<Vec<_>>(),
            &theirs.iter().collect::<Vec<_>>(),
        );
        assert_eq!(conditions.datasets.len(), 1, "{:?}", conditions.datasets);
        let mut diverged = curve(5, &[], &[]);
        diverged.diverged = true;
        let arch = ArchParity {
            arch: "conv4".into(),
            settings: s.clone(),
            ours: ours.iter().map(Curve::from_record).collect(),
            pytorch: theirs
                .iter()
                .map(Curve::from_reference)
                .chain([diverged])
                .collect(),
        };
        let md = render(&conditions, std::slice::from_ref(&arch));
        for expected in [
            "# Parity with PyTorch",
            "- Architectures: conv4",
            "- Settings (both sides, every architecture): 32 channels, kernel 3",
            "- Seeds: ours 2 (0, 1); PyTorch 2 (0, 1);",
            "- Threads: ours 2; PyTorch 2",
            "- Device: ours cpu (Test CPU); PyTorch cpu (Test CPU)",
            "- Ours: harness commit 0123456789ab (dirty); tch 0.24.0; libtorch 2.11.0+cu130",
            "- PyTorch: torch 2.11.0+cu130; torchvision 0.26.0+cu130; reference script SHA-256 abcdef012345",
            "- Dataset digest: dddddddddddd",
            "## conv4",
            "| 1 | 0.01 | 2 / 2 | 81.00 ± 1.41 | 81.25 ± 0.35 | -0.25 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 |",
            "| 2 | 0.01 | 2 / 2 | 86.00 ± 1.41 | 86.25 ± 0.35 | -0.25 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 |",
            "Final epoch (2): ours - PyTorch = -0.25 points, 95% CI [",
            "**difference within noise**",
            "Diverged (PyTorch, left out of every mean): seed(s) 5.",
            "| conv4 | 2 | 86.00 ± 1.41 (n=2) | 86.25 ± 0.35 (n=2) | -0.25 [",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
        }
        assert!(!md.contains("**Warning:**"), "{md}");
        // A learning rate that differs between the sides is flagged.
        let mut skewed = arch.clone();
        skewed.pytorch[0].points[1].lr = 0.001;
        let md = render(&conditions, &[skewed]);
        assert!(md.contains("| 2 | 0.01 / 0.001 (differ!) |"), "{md}");
        assert!(
            md.contains(
                "**Warning:** the two sides trained with different learning rates in epoch(s) 2"
            ),
            "{md}"
        );
        // Rendering is a pure function of its inputs.
        assert_eq!(
            render(&conditions, std::slice::from_ref(&arch)),
            render(&conditions, &[arch])
        );
    }
}
