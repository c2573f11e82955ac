//! The seeds per variant an experiment needs ([`sample_size`]): the power of the two-sided
//! two-sample t-test ([`crate::power`]) at the per-comparison level of its comparisons
//! against the baseline (Bonferroni, Holm's worst case), from the standard deviation pooled
//! within variants, an assumed one, or one the user gives.

use crate::power::{mde, normal_approx_n, pooled_sd, power, seeds_needed};

/// The standard deviation (accuracy points) `harness seeds` assumes when the
/// store has no variant with two finished trials: seed-to-seed spread of a
/// small CNN's final Fashion-MNIST test accuracy is typically 0.1-0.3
/// points; the larger value gives the safer (larger) plan.
pub const ASSUMED_SD: f64 = 0.3;

/// Where the standard deviation of a [`SampleSize`] came from.
#[derive(Clone, Debug, PartialEq)]
pub enum SdSource {
    /// Pooled within variants over the finished trials in the store.
    Observed {
        /// Trials that contributed.
        trials: usize,
        /// Variants that contributed (those with at least two trials).
        variants: usize,
        /// Degrees of freedom of the pooled estimate.
        df: usize,
    },
    /// No usable trials: the default assumption.
    Assumed,
    /// Given with `--assume-sd`, which wins over the store's: the sd the store observed
    /// (if any), said beside it so nothing is silently ignored.
    Given {
        /// The store's pooled sd and the trials behind it, when it has one.
        observed: Option<(f64, usize)>,
    },
}

/// How many seeds per variant an experiment needs to detect a difference.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSize {
    /// The difference to detect, accuracy points.
    pub detect: f64,
    /// The family-wise significance level.
    pub alpha: f64,
    /// The wanted power.
    pub power: f64,
    /// Comparisons against the baseline (variants - 1, at least 1).
    pub comparisons: usize,
    /// The per-comparison level: `alpha / comparisons` (Bonferroni, which is
    /// Holm's worst case: the first, smallest p-value is held to it).
    pub alpha_per_comparison: f64,
    /// The standard deviation used, accuracy points.
    pub sd: f64,
    /// Where it came from.
    pub sd_source: SdSource,
    /// `detect / sd`.
    pub effect: f64,
    /// Seeds per variant from the noncentral t (`None`: over a million or
    /// undefined).
    pub seeds: Option<usize>,
    /// The normal approximation, for comparison.
    pub seeds_normal: Option<usize>,
    /// The seeds per variant the config runs now.
    pub seeds_now: usize,
    /// Power at the config's seeds now (NaN below two seeds).
    pub power_now: f64,
    /// The minimum detectable difference at the config's seeds now,
    /// accuracy points.
    pub mde_now: Option<f64>,
}

/// Errors of [`sample_size`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleSizeError {
    /// `--detect` is not a positive finite number.
    #[error("--detect {0}: the difference to detect must be a positive number of accuracy points")]
    Detect(f64),
    /// `--alpha` is not in (0, 1).
    #[error("--alpha {0}: must be between 0 and 1")]
    Alpha(f64),
    /// `--power` is not in (alpha, 1).
    #[error("--power {0}: must be between alpha and 1")]
    Power(f64),
    /// The assumed standard deviation is not positive.
    #[error("--assume-sd {0}: must be a positive number of accuracy points")]
    Sd(f64),
}

/// The seeds per variant needed to detect `detect` accuracy points with probability
/// `target_power` at family-wise level `alpha`, for an experiment whose variants' finished
/// accuracies are `samples` (the baseline among them; one comparison per other variant, at
/// least one) and which runs `seeds_now` seeds per variant now. The standard deviation is
/// pooled within the variants with two values or more, or [`ASSUMED_SD`] without any;
/// `assumed_sd` (the user's `--assume-sd`), when given, is used instead of either, and
/// [`SdSource::Given`] says what the samples would have given.
pub fn sample_size(
    samples: &[Vec<f64>],
    seeds_now: usize,
    detect: f64,
    alpha: f64,
    target_power: f64,
    assumed_sd: Option<f64>,
) -> Result<SampleSize, SampleSizeError> {
    if !(detect.is_finite() && detect > 0.0) {
        return Err(SampleSizeError::Detect(detect));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SampleSizeError::Alpha(alpha));
    }
    if !(target_power > alpha && target_power < 1.0) {
        return Err(SampleSizeError::Power(target_power));
    }
    if let Some(sd) = assumed_sd
        && !(sd.is_finite() && sd > 0.0)
    {
        return Err(SampleSizeError::Sd(sd));
    }
    let refs: Vec<&[f64]> = samples.iter().map(Vec::as_slice).collect();
    let trials: usize = samples.iter().filter(|s| s.len() >= 2).map(Vec::len).sum();
    let (sd, sd_source) = match (assumed_sd, pooled_sd(&refs)) {
        (Some(given), observed) => (
            given,
            SdSource::Given {
                observed: observed
                    .filter(|(sd, _)| *sd > 0.0)
                    .map(|(sd, _)| (sd, trials)),
            },
        ),
        (None, Some((sd, df))) if sd > 0.0 => (
            sd,
            SdSource::Observed {
                trials: samples.iter().filter(|s| s.len() >= 2).map(Vec::len).sum(),
                variants: samples.iter().filter(|s| s.len() >= 2).count(),
                df,
            },
        ),
        _ => (ASSUMED_SD, SdSource::Assumed),
    };
    let comparisons = samples.len().saturating_sub(1).max(1);
    let alpha_per_comparison = alpha / comparisons as f64;
    let effect = detect / sd;
    Ok(SampleSize {
        detect,
        alpha,
        power: target_power,
        comparisons,
        alpha_per_comparison,
        sd,
        sd_source,
        effect,
        seeds: seeds_needed(effect, alpha_per_comparison, target_power),
        seeds_normal: normal_approx_n(effect, alpha_per_comparison, target_power),
        seeds_now,
        power_now: power(
            effect,
            seeds_now as f64,
            seeds_now as f64,
            alpha_per_comparison,
        ),
        mde_now: mde(seeds_now, seeds_now, alpha_per_comparison, target_power).map(|d| d * sd),
    })
}
