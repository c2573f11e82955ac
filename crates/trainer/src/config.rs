//! The configuration of one trial, as it appears in the `base:` section of an experiment
//! file, and its validation into a [`ValidTrial`] that cannot hold impossible values.

use crate::streams::RandomSource;
use augmentation::Augmentation;
use models::{ModelConfig, Precision};
use serde::{Deserialize, Serialize};
use std::ops::Deref;

/// Everything that determines a trial's numbers, except its seed and the dataset.
///
/// The device is deliberately absent: a trial is the same experiment wherever it runs, and
/// the device it ran on is recorded beside its results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialConfig {
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// The optimiser.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule, stepped once per epoch.
    #[serde(default)]
    pub schedule: Schedule,
    /// Training-time augmentations, applied in this order.
    #[serde(default)]
    pub augmentations: Vec<Augmentation>,
    /// Number of epochs.
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    /// Training batch size.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Batch size for evaluation and for the eval-batch latency.
    #[serde(default = "default_batch")]
    pub eval_batch_size: usize,
    /// Subsets for quick runs.
    #[serde(default)]
    pub data: DataLimits,
    /// Sources of randomness held fixed across seeds: each listed source (`init`,
    /// `order`, `augment`, `dropout`) uses seed 0 instead of the trial's seed, so every
    /// seed of the experiment shares it. `fix: [init]` gives every seed the same initial
    /// weights, so the spread across seeds that remains comes from data order,
    /// augmentation and dropout alone; fixing all four makes every seed the same trial.
    /// Empty (the default, omitted when serialised) means every source follows the seed.
    /// Each source may be listed once. See the trainer's `streams` module.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fix: Vec<RandomSource>,
    /// The arithmetic of training and evaluation (see [`Precision`]): `fp32`, the default,
    /// or `bf16` (autocast's mixed precision). The default is left out when serialised,
    /// so the canonical configuration, and so the id, of every fp32 trial is what it was
    /// before this setting existed.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

fn default_epochs() -> u32 {
    30
}

fn default_batch() -> usize {
    256
}

impl Default for TrialConfig {
    /// The study's baseline: 4 conv, 32 channels, kernel 3, batch norm, dropout 0.2, Adam at
    /// 0.01 with the step schedule, batch 256, 30 epochs, no augmentation.
    fn default() -> Self {
        TrialConfig {
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            schedule: Schedule::default(),
            augmentations: Vec::new(),
            epochs: default_epochs(),
            batch_size: default_batch(),
            eval_batch_size: default_batch(),
            data: DataLimits::default(),
            fix: Vec::new(),
            precision: Precision::Fp32,
        }
    }
}

/// Which optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Adam (beta 0.9 / 0.999, eps 1e-8), with L2 weight decay added to the gradient.
    Adam,
    /// SGD with (heavy-ball) momentum, as PyTorch's `SGD(momentum=...)`.
    Sgd,
}

/// Optimiser settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Adam or SGD.
    pub name: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// Momentum (SGD only).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
}

fn default_momentum() -> f64 {
    0.9
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            name: OptimizerKind::Adam,
            lr: 0.01,
            momentum: default_momentum(),
            weight_decay: 0.0,
        }
    }
}

/// Learning-rate schedule, stepped after every epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// Constant learning rate.
    Constant,
    /// Multiply by `gamma` every `every` epochs (the study: x0.1 every 10).
    Step {
        /// Epochs between steps.
        #[serde(default = "default_step_every")]
        every: u32,
        /// Factor per step.
        #[serde(default = "default_step_gamma")]
        gamma: f64,
    },
    /// Multiply by `gamma` after every epoch (the study: x0.99).
    Exponential {
        /// Factor per epoch.
        #[serde(default = "default_exp_gamma")]
        gamma: f64,
    },
}

fn default_step_every() -> u32 {
    10
}

fn default_step_gamma() -> f64 {
    0.1
}

fn default_exp_gamma() -> f64 {
    0.99
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Step {
            every: default_step_every(),
            gamma: default_step_gamma(),
        }
    }
}

impl Schedule {
    /// The learning rate during `epoch` (0-based), from the initial rate `lr`.
    pub fn lr_at(&self, lr: f64, epoch: u32) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { every, gamma } => lr * gamma.powi((epoch / every.max(1)) as i32),
            Schedule::Exponential { gamma } => lr * gamma.powi(epoch as i32),
        }
    }
}

/// Subsets for quick runs: the first `n` examples of each file (the files are already in
/// random order, so a prefix is a fair, reproducible sample).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataLimits {
    /// Use only the first `n` training images.
    #[serde(default)]
    pub train_limit: Option<usize>,
    /// Use only the first `n` test images.
    #[serde(default)]
    pub test_limit: Option<usize>,
}

/// A configuration value that is out of range, with the dotted path of its field.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the field, e.g. `model.dropout` or `augmentations[1].p`.
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A [`TrialConfig`] whose every value has been checked. Only [`TrialConfig::validate`]
/// makes one.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidTrial(TrialConfig);

impl Deref for ValidTrial {
    type Target = TrialConfig;
    fn deref(&self) -> &TrialConfig {
        &self.0
    }
}

impl ValidTrial {
    /// The checked configuration, for serialising.
    pub fn config(&self) -> &TrialConfig {
        &self.0
    }
}

/// A record's configuration is valid when [`TrialConfig::validate`] accepts it.
impl contract::Settings for TrialConfig {
    fn epochs(&self) -> u32 {
        self.epochs
    }

    fn check(&self) -> Result<(), (String, String)> {
        self.clone()
            .validate()
            .map(|_| ())
            .map_err(|e| (e.field, e.message))
    }
}

impl TrialConfig {
    /// Checks every value; the error names the first field that is out of range.
    pub fn validate(mut self) -> Result<ValidTrial, ValidationError> {
        // -0.0 is 0.0: one setting, one canonical form, one trial id (`--set
        // model.dropout=-0` is the trial of dropout 0, not a twin with another id).
        let zero = |x: &mut f64| {
            if *x == 0.0 {
                *x = 0.0;
            }
        };
        zero(&mut self.model.dropout);
        zero(&mut self.optimizer.lr);
        zero(&mut self.optimizer.momentum);
        zero(&mut self.optimizer.weight_decay);
        if let Schedule::Step { gamma, .. } | Schedule::Exponential { gamma } = &mut self.schedule {
            zero(gamma);
        }
        self.model
            .validate()
            .map_err(|e| ValidationError::new(format!("model.{}", e.field), e.to_string()))?;
        for (i, aug) in self.augmentations.iter().enumerate() {
            aug.validate().map_err(|e| {
                ValidationError::new(format!("augmentations[{i}].{}", e.field), e.to_string())
            })?;
        }
        let opt = &self.optimizer;
        if !(opt.lr.is_finite() && opt.lr > 0.0 && opt.lr <= 10.0) {
            return Err(ValidationError::new(
                "optimizer.lr",
                format!("learning rate must be in (0, 10], got {}", opt.lr),
            ));
        }
        if !(opt.momentum.is_finite() && (0.0..1.0).contains(&opt.momentum)) {
            return Err(ValidationError::new(
                "optimizer.momentum",
                format!("momentum must be in [0, 1), got {}", opt.momentum),
            ));
        }
        if !(opt.weight_decay.is_finite() && opt.weight_decay >= 0.0) {
            return Err(ValidationError::new(
                "optimizer.weight_decay",
                format!("weight decay must be >= 0, got {}", opt.weight_decay),
            ));
        }
        match self.schedule {
            Schedule::Constant => {}
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(ValidationError::new(
                        "schedule.every",
                        "the step schedule needs every >= 1 epoch",
                    ));
                }
                check_gamma(gamma)?;
            }
            Schedule::Exponential { gamma } => check_gamma(gamma)?,
        }
        if !(1..=10_000).contains(&self.epochs) {
            return Err(ValidationError::new(
                "epochs",
                format!("epochs must be in 1..=10000, got {}", self.epochs),
            ));
        }
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("eval_batch_size", self.eval_batch_size),
        ] {
            if !(1..=65_536).contains(&value) {
                return Err(ValidationError::new(
                    field,
                    format!("must be in 1..=65536, got {value}"),
                ));
            }
        }
        for (field, value, max) in [
            ("data.train_limit", self.data.train_limit, 60_000),
            ("data.test_limit", self.data.test_limit, 10_000),
        ] {
            if let Some(n) = value
                && !(1..=max).contains(&n)
            {
                return Err(ValidationError::new(
                    field,
                    format!("must be in 1..={max} (the size of the split), got {n}"),
                ));
            }
        }
        for (i, source) in self.fix.iter().enumerate() {
            if self.fix[..i].contains(source) {
                return Err(ValidationError::new(
                    format!("fix[{i}]"),
                    format!("`{source}` is listed twice"),
                ));
            }
        }
        Ok(ValidTrial(self))
    }
}

fn check_gamma(gamma: f64) -> Result<(), ValidationError> {
    if gamma.is_finite() && gamma > 0.0 && gamma <= 1.0 {
        Ok(())
    } else {
        Err(ValidationError::new(
            "schedule.gamma",
            format!("gamma must be in (0, 1], got {gamma}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_is_valid() {
        assert!(TrialConfig::default().validate().is_ok());
    }

    #[test]
    fn fix_parses_in_snake_case_and_is_omitted_when_empty() {
        let config: TrialConfig = ron::from_str("(fix: [init, dropout])").unwrap();
        assert_eq!(config.fix, [RandomSource::Init, RandomSource::Dropout]);
        assert!(config.clone().validate().is_ok());
        let json = serde_json::to_string(&config).unwrap();
        assert!(json.contains(r#""fix":["init","dropout"]"#), "{json}");
        let plain = serde_json::to_string(&TrialConfig::default()).unwrap();
        assert!(!plain.contains("fix"), "{plain}");
        assert!(ron::from_str::<TrialConfig>("(fix: [weights])").is_err());
    }

    #[test]
    fn schedules_follow_the_study() {
        let step = Schedule::default();
        assert_eq!(step.lr_at(0.01, 0), 0.01);
        assert_eq!(step.lr_at(0.01, 9), 0.01);
        assert!((step.lr_at(0.01, 10) - 0.001).abs() < 1e-15);
        assert!((step.lr_at(0.01, 25) - 0.0001).abs() < 1e-15);
        let exp = Schedule::Exponential { gamma: 0.99 };
        assert!((exp.lr_at(0.01, 2) - 0.01 * 0.99 * 0.99).abs() < 1e-15);
        assert_eq!(Schedule::Constant.lr_at(0.5, 100), 0.5);
    }

    #[test]
    fn bad_values_name_their_field() {
        type Mutation = fn(&mut TrialConfig);
        let cases: Vec<(Mutation, &str)> = vec![
            (|c| c.optimizer.lr = 0.0, "optimizer.lr"),
            (|c| c.optimizer.lr = f64::NAN, "optimizer.lr"),
            (|c| c.optimizer.momentum = 1.0, "optimizer.momentum"),
            (
                |c| c.optimizer.weight_decay = -1.0,
                "optimizer.weight_decay",
            ),
            (
                |c| {
                    c.schedule = Schedule::Step {
                        every: 0,
                        gamma: 0.1,
                    }
                },
                "schedule.every",
            ),
            (
                |c| c.schedule = Schedule::Exponential { gamma: 1.5 },
                "schedule.gamma",
            ),
            (|c| c.epochs = 0, "epochs"),
            (|c| c.batch_size = 0, "batch_size"),
            (|c| c.eval_batch_size = 0, "eval_batch_size"),
            (|c| c.data.train_limit = Some(0), "data.train_limit"),
            (|c| c.data.test_limit = Some(10_001), "data.test_limit"),
            (|c| c.model.dropout = 1.0, "model.dropout"),
            (|c| c.model.kernel_size = 4, "model.kernel_size"),
            (|c| c.model.channels = 0, "model.channels"),
            (
                |c| c.fix = vec![RandomSource::Init, RandomSource::Init],
                "fix[1]",
            ),
        ];
        for (mutate, field) in cases {
            let mut config = TrialConfig::default();
            mutate(&mut config);
            let err = config.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }
}
