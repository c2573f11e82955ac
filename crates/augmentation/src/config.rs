//! The augmentation settings as they appear in experiment configs, with validation.

use serde::{Deserialize, Serialize};
use thiserror::Error;

fn half() -> f64 {
    0.5
}

fn default_scale() -> (f64, f64) {
    (0.02, 0.33)
}

fn default_ratio() -> (f64, f64) {
    (0.3, 3.3)
}

fn default_fraction() -> f64 {
    0.1
}

/// One batch augmentation and its settings.
///
/// Every field has a serde default (torchvision's defaults), so in RON
/// `HorizontalFlip()`, `RandomErasing()` and `RandomTranslation()` are complete,
/// and `HorizontalFlip(p: 0.3)` overrides one field. Unknown fields are rejected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Augmentation {
    /// Mirror each image left-right with probability `p`
    /// (torchvision `RandomHorizontalFlip`).
    HorizontalFlip {
        /// Probability of flipping an image (default 0.5).
        #[serde(default = "half")]
        p: f64,
    },
    /// With probability `p`, set one random rectangle of each image to `value`
    /// (torchvision `RandomErasing`, all channels).
    RandomErasing {
        /// Probability of erasing in an image (default 0.5).
        #[serde(default = "half")]
        p: f64,
        /// Range of the erased area as a fraction of the image area (default (0.02, 0.33)).
        #[serde(default = "default_scale")]
        scale: (f64, f64),
        /// Range of the rectangle's aspect ratio height / width, drawn
        /// log-uniformly (default (0.3, 3.3)).
        #[serde(default = "default_ratio")]
        ratio: (f64, f64),
        /// The value written into the rectangle (default 0, black: erasing
        /// happens before normalisation).
        #[serde(default)]
        value: f64,
    },
    /// Shift each image by a random whole number of pixels in x and y, filling
    /// with 0 (torchvision `RandomAffine(degrees=0, translate=(f, f))`).
    RandomTranslation {
        /// Largest shift as a fraction of the side, in each direction (default 0.1).
        #[serde(default = "default_fraction")]
        fraction: f64,
    },
}

/// An invalid augmentation setting: which augmentation, which field, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("invalid {augmentation} augmentation: `{field}` {message}")]
pub struct AugmentError {
    /// [`Augmentation::name`] of the offending augmentation.
    pub augmentation: &'static str,
    /// The offending field (`"p"`, `"scale"`, `"ratio"`, `"value"`, `"fraction"`).
    pub field: &'static str,
    /// What is wrong, including the rejected value.
    pub message: String,
}

impl Augmentation {
    /// `HorizontalFlip { p: 0.5 }`.
    pub const DEFAULT_FLIP: Augmentation = Augmentation::HorizontalFlip { p: 0.5 };
    /// `RandomErasing` with torchvision's defaults.
    pub const DEFAULT_ERASING: Augmentation = Augmentation::RandomErasing {
        p: 0.5,
        scale: (0.02, 0.33),
        ratio: (0.3, 3.3),
        value: 0.0,
    };
    /// `RandomTranslation { fraction: 0.1 }`.
    pub const DEFAULT_TRANSLATION: Augmentation = Augmentation::RandomTranslation { fraction: 0.1 };

    /// Short name: `"flip"`, `"erasing"` or `"translation"`.
    pub fn name(&self) -> &'static str {
        match self {
            Augmentation::HorizontalFlip { .. } => "flip",
            Augmentation::RandomErasing { .. } => "erasing",
            Augmentation::RandomTranslation { .. } => "translation",
        }
    }

    /// Checks the settings: `p` in `[0, 1]`; `scale` with `0 < lo <= hi <= 1`;
    /// `ratio` finite with `0 < lo <= hi`; `value` finite; `fraction` in `[0, 0.5]`.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let err = |field, message: String| {
            Err(AugmentError {
                augmentation: self.name(),
                field,
                message,
            })
        };
        let check_p = |p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                err("p", format!("must be a probability in [0, 1], got {p}"))
            }
        };
        match *self {
            Augmentation::HorizontalFlip { p } => check_p(p),
            Augmentation::RandomErasing {
                p,
                scale,
                ratio,
                value,
            } => {
                check_p(p)?;
                let (lo, hi) = scale;
                if !(lo > 0.0 && lo <= hi && hi <= 1.0) {
                    return err(
                        "scale",
                        format!("must satisfy 0 < lo <= hi <= 1, got ({lo}, {hi})"),
                    );
                }
                let (lo, hi) = ratio;
                if !(lo > 0.0 && lo <= hi && hi.is_finite()) {
                    return err(
                        "ratio",
                        format!("must be finite with 0 < lo <= hi, got ({lo}, {hi})"),
                    );
                }
                if !value.is_finite() {
                    return err("value", format!("must be finite, got {value}"));
                }
                Ok(())
            }
            Augmentation::RandomTranslation { fraction } => {
                if (0.0..=0.5).contains(&fraction) {
                    Ok(())
                } else {
                    err("fraction", format!("must be in [0, 0.5], got {fraction}"))
                }
            }
        }
    }
}
