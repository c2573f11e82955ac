//! Power of the two-sample t-test, from the noncentral t distribution: the
//! minimum detectable effect at a given number of seeds ([`mde`]) and the
//! seeds needed to detect a given difference ([`seeds_needed`]), and the plan
//! of an experiment (`harness plan`, [`plan`]) with the multiple-comparison
//! correction of its config.
//!
//! The test is the two-sided pooled-variance t-test with `n_a + n_b - 2`
//! degrees of freedom. With a true difference `Δ` and a common standard
//! deviation `σ`, its statistic follows a noncentral t with noncentrality
//! `δ = Δ / (σ sqrt(1/n_a + 1/n_b))`, so the power at level `α` is
//! `P(T > t_{1-α/2}) + P(T < -t_{1-α/2})` under that distribution, as
//! `statsmodels.stats.power.TTestIndPower` computes it. The noncentral t CDF
//! is [`nct_cdf`] (Lenth's algorithm AS 243).

use crate::report::{self, VariantTrials};
use crate::{Experiment, TrialRecord};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::beta_reg;
use statrs::function::gamma::ln_gamma;

/// The cumulative distribution function of the noncentral t distribution
/// with `df` degrees of freedom and noncentrality `nc`, at `t`.
///
/// Lenth's series (Applied Statistics algorithm AS 243), with the normal
/// approximation R uses where the series' first term underflows
/// (`nc² > 1416`) or `df > 4e5`. Agrees with `scipy.stats.nct.cdf` to about
/// 1e-10 on the checked grid. NaN for `df <= 0` or a NaN argument.
pub fn nct_cdf(t: f64, df: f64, nc: f64) -> f64 {
    if t.is_nan() || nc.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 1.0;
    }
    if t == f64::NEG_INFINITY {
        return 0.0;
    }
    let std_normal = Normal::new(0.0, 1.0).expect("standard normal");
    let (tt, del, negdel) = if t >= 0.0 {
        (t, nc, false)
    } else {
        (-t, -nc, true)
    };
    if df > 4e5 || del * del > 2.0 * std::f64::consts::LN_2 * 1021.0 {
        // Abramowitz and Stegun 26.7.10.
        let s = 1.0 / (4.0 * df);
        let z = (tt * (1.0 - s) - del) / (1.0 + tt * tt * 2.0 * s).sqrt();
        let p = std_normal.cdf(z);
        return if negdel { 1.0 - p } else { p };
    }
    let x = tt * tt / (tt * tt + df);
    let mut tnc = 0.0;
    if x > 0.0 {
        let lambda = del * del;
        let mut p = 0.5 * (-0.5 * lambda).exp();
        let mut q = (2.0 / std::f64::consts::PI).sqrt() * p * del;
        let mut s = 0.5 - p;
        // Guard against s losing all its digits when p is near 0.5.
        if s < 1e-7 {
            s = -0.5 * (-0.5 * lambda).exp_m1();
        }
        let mut a = 0.5;
        let b = 0.5 * df;
        let rxb = (1.0 - x).powf(b);
        let albeta = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
        let mut xodd = beta_reg(a, b, x);
        let mut godd = 2.0 * rxb * (a * x.ln() - albeta).exp();
        tnc = b * x;
        let mut xeven = if tnc < f64::EPSILON { tnc } else { 1.0 - rxb };
        let mut geven = tnc * rxb;
        tnc = p * xodd + q * xeven;
        let mut en = 1.0;
        loop {
            a += 1.0;
            xodd -= godd;
            xeven -= geven;
            godd *= x * (a + b - 1.0) / a;
            geven *= x * (a + b - 0.5) / (a + 0.5);
            p *= lambda / (2.0 * en);
            q *= lambda / (2.0 * en + 1.0);
            s -= p;
            en += 1.0;
            tnc += p * xodd + q * xeven;
            let errbd = 2.0 * s * (xodd - godd);
            if errbd.abs() < 1e-12 || en > 10_000.0 {
                break;
            }
        }
    }
    tnc += std_normal.cdf(-del);
    let tnc = tnc.clamp(0.0, 1.0);
    if negdel { 1.0 - tnc } else { tnc }
}

/// The power of the two-sided two-sample t-test at level `alpha` with `n_a`
/// and `n_b` values, for a true difference of `effect` standard deviations
/// (Cohen's d). NaN when `n_a + n_b < 3`, `n_a` or `n_b` is below 1, or an
/// argument is not finite.
pub fn power(effect: f64, n_a: f64, n_b: f64, alpha: f64) -> f64 {
    if !(effect.is_finite()
        && n_a >= 1.0
        && n_b >= 1.0
        && n_a + n_b > 2.0
        && alpha > 0.0
        && alpha < 1.0)
    {
        return f64::NAN;
    }
    let df = n_a + n_b - 2.0;
    let nc = effect * (n_a * n_b / (n_a + n_b)).sqrt();
    let crit = crate::stats::t_quantile(1.0 - alpha / 2.0, df);
    (1.0 - nct_cdf(crit, df, nc) + nct_cdf(-crit, df, nc)).clamp(0.0, 1.0)
}

/// The minimum detectable effect, in standard deviations: the smallest
/// difference that the two-sided test at level `alpha` with `n_a` and `n_b`
/// values detects with probability `target_power`. Multiply by the (pooled)
/// standard deviation for accuracy points.
///
/// `None` when the test cannot be made (`n_a + n_b < 3`) or the arguments
/// are out of range (`alpha`, `target_power` in `(0, 1)`, `target_power >
/// alpha`).
pub fn mde(n_a: usize, n_b: usize, alpha: f64, target_power: f64) -> Option<f64> {
    let (na, nb) = (n_a as f64, n_b as f64);
    if n_a == 0 || n_b == 0 || n_a + n_b < 3 {
        return None;
    }
    if !(alpha > 0.0 && alpha < 1.0 && target_power > alpha && target_power < 1.0) {
        return None;
    }
    // Power rises with the effect; bracket, then bisect.
    let mut hi = 1.0;
    while power(hi, na, nb, alpha) < target_power {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if power(mid, na, nb, alpha) < target_power {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi))
}

/// The sample size per group (equal groups) the two-sided two-sample t-test
/// at level `alpha` needs to detect `effect` standard deviations with
/// probability `target_power`: the smallest integer `n >= 2` with
/// `power(effect, n, n, alpha) >= target_power`.
///
/// `None` for a non-positive or non-finite effect, out-of-range `alpha` or
/// `target_power`, or more than a million.
pub fn seeds_needed(effect: f64, alpha: f64, target_power: f64) -> Option<usize> {
    if !(effect.is_finite()
        && effect > 0.0
        && alpha > 0.0
        && alpha < 1.0
        && target_power > alpha
        && target_power < 1.0)
    {
        return None;
    }
    // Start from the normal approximation and walk to the exact answer.
    let mut n = normal_approx_n(effect, alpha, target_power)?.max(2);
    while n > 2 && power(effect, (n - 1) as f64, (n - 1) as f64, alpha) >= target_power {
        n -= 1;
    }
    while power(effect, n as f64, n as f64, alpha) < target_power {
        n += 1;
        if n > 1_000_000 {
            return None;
        }
    }
    Some(n)
}

/// The textbook normal approximation of [`seeds_needed`],
/// `ceil(2 (z_{1-α/2} + z_{power})² / effect²)`: too small at few seeds,
/// which is why the plan uses the noncentral t.
pub fn normal_approx_n(effect: f64, alpha: f64, target_power: f64) -> Option<usize> {
    if !(effect.is_finite()
        && effect > 0.0
        && alpha > 0.0
        && alpha < 1.0
        && target_power > 0.0
        && target_power < 1.0)
    {
        return None;
    }
    let z = Normal::new(0.0, 1.0).expect("standard normal");
    let n = 2.0 * (z.inverse_cdf(1.0 - alpha / 2.0) + z.inverse_cdf(target_power)).powi(2)
        / (effect * effect);
    (n.is_finite() && n < 1e9).then(|| n.ceil() as usize)
}

/// The pooled standard deviation of several samples,
/// `sqrt(Σ (n_i - 1) s_i² / Σ (n_i - 1))`, and its degrees of freedom
/// `Σ (n_i - 1)`. Samples of fewer than two values add nothing; `None` when
/// no sample has two finite values.
pub fn pooled_sd(samples: &[&[f64]]) -> Option<(f64, usize)> {
    let mut ss = 0.0;
    let mut df = 0usize;
    for xs in samples {
        if xs.len() < 2 || !xs.iter().all(|x| x.is_finite()) {
            continue;
        }
        let s = crate::stats::summarize(xs)?;
        ss += (xs.len() - 1) as f64 * s.std * s.std;
        df += xs.len() - 1;
    }
    (df > 0 && ss.is_finite()).then(|| ((ss / df as f64).sqrt(), df))
}

/// The standard deviation (accuracy points) `harness plan` assumes when the
/// store has no variant with two finished trials: seed-to-seed spread of a
/// small CNN's final Fashion-MNIST test accuracy is typically 0.1-0.3
/// points; the larger value gives the safer (larger) plan.
pub const ASSUMED_SD: f64 = 0.3;

/// Where the standard deviation of a [`Plan`] came from.
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
pub struct Plan {
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

/// Errors of [`plan`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
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

/// Plans the seeds per variant of `experiment` to detect `detect` accuracy
/// points with probability `target_power` at family-wise level `alpha`,
/// correcting for its comparisons against the baseline, from the standard
/// deviation pooled over the finished trials in `records` (those the report
/// would pool), or [`ASSUMED_SD`] when there are none; `assumed_sd` (the user's
/// `--assume-sd`), when given, is used instead of either, and the plan says so.
pub fn plan(
    experiment: &Experiment,
    records: &[TrialRecord],
    detect: f64,
    alpha: f64,
    target_power: f64,
    assumed_sd: Option<f64>,
) -> Result<Plan, PlanError> {
    if !(detect.is_finite() && detect > 0.0) {
        return Err(PlanError::Detect(detect));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(PlanError::Alpha(alpha));
    }
    if !(target_power > alpha && target_power < 1.0) {
        return Err(PlanError::Power(target_power));
    }
    if let Some(sd) = assumed_sd
        && !(sd.is_finite() && sd > 0.0)
    {
        return Err(PlanError::Sd(sd));
    }
    let selected = report::select(experiment, records);
    let samples: Vec<Vec<f64>> = selected.iter().map(accuracies).collect();
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
    let comparisons = experiment.variants.len().saturating_sub(1).max(1);
    let alpha_per_comparison = alpha / comparisons as f64;
    let effect = detect / sd;
    let seeds_now = experiment.seeds.len();
    Ok(Plan {
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

fn accuracies(t: &VariantTrials) -> Vec<f64> {
    t.finished.iter().filter_map(|r| r.final_accuracy).collect()
}

impl Plan {
    /// The plan in plain words, one fact a line.
    pub fn text(&self, experiment: &str) -> String {
        let sd_line = match &self.sd_source {
            SdSource::Observed {
                trials,
                variants,
                df,
            } => format!(
                "sd {:.3} points: observed, pooled within {variants} variant(s) over {trials} finished trial(s) in the store ({df} degrees of freedom)",
                self.sd
            ),
            SdSource::Given { observed } => format!(
                "sd {:.3} points: GIVEN by --assume-sd ({})",
                self.sd,
                observed.map_or_else(
                    || "the store has no variant with two finished trials".to_string(),
                    |(sd, n)| format!(
                        "used instead of the store's observed {sd:.3}, pooled over {n} finished trial(s)"
                    )
                )
            ),
            SdSource::Assumed => format!(
                "sd {:.3} points: ASSUMED (the store has no variant of `{experiment}` with two finished trials; pass --assume-sd to change it)",
                self.sd
            ),
        };
        let seeds = self
            .seeds
            .map_or_else(|| "more than a million".to_string(), |n| n.to_string());
        let normal = self
            .seeds_normal
            .map_or_else(|| "—".to_string(), |n| n.to_string());
        let now = if self.power_now.is_finite() {
            format!(
                "with the config's {} seeds: power {:.2} for {} points; detectable at power {}: {}",
                self.seeds_now,
                self.power_now,
                self.detect,
                self.power,
                self.mde_now
                    .map_or_else(|| "—".to_string(), |d| format!("{d:.2} points")),
            )
        } else {
            format!(
                "with the config's {} seed(s): no test is possible (two are needed)",
                self.seeds_now
            )
        };
        format!(
            "plan for `{experiment}`: detect a difference of {} accuracy points with power {} at family-wise α {}\n\
             - {sd_line}\n\
             - {} comparison(s) against the baseline: α per comparison {:.4} (Bonferroni = Holm's worst case)\n\
             - effect size {:.3} sd; two-sided two-sample t-test (noncentral t)\n\
             - seeds needed per variant: {seeds} (normal approximation: {normal})\n\
             - {now}\n",
            self.detect,
            self.power,
            self.alpha,
            self.comparisons,
            self.alpha_per_comparison,
            self.effect,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nct_reduces_to_central_t() {
        let t = statrs::distribution::StudentsT::new(0.0, 1.0, 7.0).unwrap();
        for x in [-3.0, -1.0, 0.0, 0.5, 2.0, 4.0] {
            assert!((nct_cdf(x, 7.0, 0.0) - t.cdf(x)).abs() < 1e-12, "{x}");
        }
    }

    #[test]
    fn power_rises_with_seeds_and_effect() {
        let p4 = power(1.0, 4.0, 4.0, 0.05);
        let p8 = power(1.0, 8.0, 8.0, 0.05);
        assert!(p4 < p8 && p8 < 1.0);
        assert!(power(2.0, 4.0, 4.0, 0.05) > p4);
        assert!((power(0.0, 5.0, 5.0, 0.05) - 0.05).abs() < 1e-10);
    }

    #[test]
    fn bad_arguments_give_none() {
        assert!(mde(1, 1, 0.05, 0.8).is_none());
        assert!(mde(5, 5, 0.05, 0.01).is_none());
        assert!(seeds_needed(0.0, 0.05, 0.8).is_none());
        assert!(seeds_needed(f64::NAN, 0.05, 0.8).is_none());
        assert!(nct_cdf(1.0, 0.0, 1.0).is_nan());
        assert!(power(1.0, 1.0, 1.0, 0.05).is_nan());
    }
}
