//! Model configuration: the architecture choice and its knobs, with validation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest accepted base channel width (`channels`). The study's largest model uses 512.
pub const MAX_CHANNELS: i64 = 4096;

/// Largest accepted convolution kernel size.
pub const MAX_KERNEL_SIZE: i64 = 7;

/// The four network structures the study compares.
///
/// Serialised (serde, [`fmt::Display`], [`FromStr`]) with the snake_case names
/// `conv2`, `conv2_res`, `conv4`, `conv4_res`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// Two convolutions, each followed by a 2x2 max pool.
    Conv2,
    /// [`Architecture::Conv2`] with a residual block after the first convolution.
    Conv2Res,
    /// Four convolutions, a 2x2 max pool after the second and after the fourth.
    Conv4,
    /// [`Architecture::Conv4`] with a residual block after the second convolution.
    Conv4Res,
}

impl Architecture {
    /// Every architecture, in the order of the study's table.
    pub const ALL: [Architecture; 4] = [
        Architecture::Conv2,
        Architecture::Conv2Res,
        Architecture::Conv4,
        Architecture::Conv4Res,
    ];

    /// The snake_case name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Conv2 => "conv2",
            Architecture::Conv2Res => "conv2_res",
            Architecture::Conv4 => "conv4",
            Architecture::Conv4Res => "conv4_res",
        }
    }

    /// The row label the study uses for this structure (e.g. "4 Conv + Residual Block").
    pub fn study_label(self) -> &'static str {
        match self {
            Architecture::Conv2 => "2 Conv",
            Architecture::Conv2Res => "2 Conv + Residual Block",
            Architecture::Conv4 => "4 Conv",
            Architecture::Conv4Res => "4 Conv + Residual Block",
        }
    }

    /// Whether the architecture contains a residual block.
    pub fn has_residual_block(self) -> bool {
        matches!(self, Architecture::Conv2Res | Architecture::Conv4Res)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                ModelError::new(
                    "architecture",
                    format!(
                        "unknown architecture `{s}` (expected one of conv2, conv2_res, conv4, conv4_res)"
                    ),
                )
            })
    }
}

/// The arithmetic of a network's convolutions and classifier during training and
/// evaluation.
///
/// `bf16` is mixed precision as PyTorch's autocast does it (`torch.autocast(device,
/// dtype=torch.bfloat16)`): each convolution and the classifier cast their input, weight
/// and bias to bfloat16 and compute in it (forward and backward); batch norm takes the
/// bfloat16 activations with fp32 parameters and statistics (computing in fp32 inside, as
/// PyTorch's mixed-type batch norm does); ReLU, pooling, the residual sum and dropout run
/// on what they are given; the logits come back as fp32, so the loss, the gradients of the
/// master weights and the optimiser are fp32. The weights themselves, the checkpoints and
/// the deployed (latency) network stay fp32.
///
/// Serialised as `fp32` / `bf16`; `fp32` is the default and is left out of a trial's
/// canonical configuration, so no fp32 trial id changed when the setting came.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats throughout (the default).
    #[default]
    Fp32,
    /// bfloat16 convolutions and classifier, fp32 elsewhere (autocast's mixed precision).
    Bf16,
}

impl Precision {
    /// Both, in the order of the tables.
    pub const ALL: [Precision; 2] = [Precision::Fp32, Precision::Bf16];

    /// The name used in configs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether this is the default, fp32 (serde's `skip_serializing_if`).
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                ModelError::new(
                    "precision",
                    format!("unknown precision `{s}` (expected fp32 or bf16)"),
                )
            })
    }
}

/// An invalid model setting: which field, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid model config: `{field}` {message}")]
pub struct ModelError {
    /// The offending field of [`ModelConfig`] (`"channels"`, `"kernel_size"`, `"dropout"`),
    /// or `"architecture"` for an unknown architecture name.
    pub field: &'static str,
    /// What is wrong, including the rejected value.
    pub message: String,
}

impl ModelError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        ModelError {
            field,
            message: message.into(),
        }
    }
}

/// Everything that determines a network's structure (and its dropout rate).
///
/// The [`Default`] is the study's baseline: `conv4`, 32 channels, 3x3 kernels,
/// batch norm on, dropout 0.2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Which of the four structures.
    pub architecture: Architecture,
    /// Base channel width `w`: the output channels of the first convolution.
    pub channels: i64,
    /// Side of the square convolution kernels (odd, "same" padding of `k / 2`).
    pub kernel_size: i64,
    /// Whether each convolution is followed by `BatchNorm2d`.
    pub batch_norm: bool,
    /// Dropout probability on the flattened feature vector before the classifier.
    pub dropout: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            architecture: Architecture::Conv4,
            channels: 32,
            kernel_size: 3,
            batch_norm: true,
            dropout: 0.2,
        }
    }
}

impl ModelConfig {
    /// Checks every field: `channels` in `1..=4096`, `kernel_size` odd and in
    /// `1..=7`, `dropout` finite and in `[0, 1)`.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(1..=MAX_CHANNELS).contains(&self.channels) {
            return Err(ModelError::new(
                "channels",
                format!("must be in 1..={MAX_CHANNELS}, got {}", self.channels),
            ));
        }
        if !(1..=MAX_KERNEL_SIZE).contains(&self.kernel_size) || self.kernel_size % 2 == 0 {
            return Err(ModelError::new(
                "kernel_size",
                format!(
                    "must be odd and in 1..={MAX_KERNEL_SIZE} (1, 3, 5 or 7), got {}",
                    self.kernel_size
                ),
            ));
        }
        if !self.dropout.is_finite() || !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::new(
                "dropout",
                format!("must be finite and in [0, 1), got {}", self.dropout),
            ));
        }
        Ok(())
    }
}
