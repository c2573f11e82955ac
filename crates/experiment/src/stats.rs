//! Statistics of repeated trials.
//!
//! A variant of an experiment is run with several seeds; each run yields one
//! number (say, the final test accuracy). This module turns those numbers into
//! a [`Summary`] (mean, sample standard deviation, a 95 % Student-t confidence
//! interval) and compares two variants with Welch's unequal-variance t-test
//! ([`welch`]), reporting a plain-words [`Verdict`] at `alpha = 0.05`.
//!
//! All functions take finite values only. A NaN or infinite input is a bug in
//! the caller (a diverged run should be recorded as such, not averaged), so
//! every function here returns `None` when it sees one rather than a number
//! that silently hides it.

use std::fmt;

use statrs::distribution::{ContinuousCDF, StudentsT};

/// The significance level used by [`welch`] to reach a [`Verdict`].
pub const ALPHA: f64 = 0.05;

/// Descriptive statistics of one sample (for example, one variant over seeds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (denominator `n - 1`); NaN when `n < 2`.
    pub std: f64,
    /// 95 % confidence interval of the mean,
    /// `mean ± t(0.975, n - 1) * std / sqrt(n)`; `(NaN, NaN)` when `n < 2`.
    pub ci95: (f64, f64),
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Summarizes a sample.
///
/// Returns `None` when `xs` is empty or holds a non-finite value (callers must
/// pass finite values only). A sample of one value has a mean, min and max but
/// no spread: its `std` and `ci95` are NaN.
pub fn summarize(xs: &[f64]) -> Option<Summary> {
    let m = moments(xs)?;
    let (std, ci95) = if m.n < 2 {
        (f64::NAN, (f64::NAN, f64::NAN))
    } else {
        let std = m.var.sqrt();
        let half = t_quantile(0.975, (m.n - 1) as f64) * std / (m.n as f64).sqrt();
        (std, (m.mean - half, m.mean + half))
    };
    Some(Summary {
        n: m.n,
        mean: m.mean,
        std,
        ci95,
        min: m.min,
        max: m.max,
    })
}

/// The median of `xs`: the 50th [`percentile`].
///
/// Returns `None` when `xs` is empty or holds a non-finite value.
pub fn median(xs: &[f64]) -> Option<f64> {
    percentile(xs, 50.0)
}

/// The `q`-th percentile of `xs`, `q` in `[0, 100]`.
///
/// Interpolates linearly between order statistics, as NumPy's default
/// (`method="linear"`) does: with the values sorted, the result is at
/// fractional rank `(n - 1) * q / 100`.
///
/// Returns `None` when `xs` is empty, holds a non-finite value, or `q` is
/// outside `[0, 100]` (or NaN).
pub fn percentile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() || !all_finite(xs) || !(0.0..=100.0).contains(&q) {
        return None;
    }
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (sorted.len() - 1) as f64 * q / 100.0;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = rank - lo as f64;
    Some(sorted[lo] + frac * (sorted[hi] - sorted[lo]))
}

/// The outcome of comparing sample `b` with sample `a` by [`welch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// `mean(b) - mean(a)`.
    pub diff: f64,
    /// Welch's t statistic, `diff / sqrt(var_a / n_a + var_b / n_b)`;
    /// NaN with [`Verdict::TooFewTrials`].
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom; NaN with
    /// [`Verdict::TooFewTrials`].
    pub df: f64,
    /// Two-sided p-value; NaN with [`Verdict::TooFewTrials`].
    pub p_value: f64,
    /// What the test says at [`ALPHA`] = 0.05.
    pub verdict: Verdict,
}

/// What a [`Comparison`] says about `b` relative to `a`, at [`ALPHA`] = 0.05.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `b`'s mean is higher than `a`'s, and `p < 0.05`.
    Higher,
    /// `b`'s mean is lower than `a`'s, and `p < 0.05`.
    Lower,
    /// `p >= 0.05`: with this many trials the data cannot tell them apart.
    /// This is not evidence that the two are equal.
    NoDetectableDifference,
    /// One side has fewer than two values, so its variance is unknown.
    TooFewTrials,
}

impl fmt::Display for Verdict {
    /// Plain words without numbers, e.g. `no detectable difference`; see
    /// [`verdict_text`] for the sentence with the p-value and trial counts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Higher => "higher",
            Verdict::Lower => "lower",
            Verdict::NoDetectableDifference => "no detectable difference",
            Verdict::TooFewTrials => "too few trials",
        })
    }
}

/// Compares `b` with `a` by Welch's two-sided t-test (unequal variances).
///
/// Returns `None` when either sample is empty or holds a non-finite value.
/// When either side has a single value, the comparison holds `diff` and
/// [`Verdict::TooFewTrials`], with `t`, `df` and `p_value` NaN.
///
/// Zero variance on both sides (each sample constant) leaves the standard
/// error at zero, where the t statistic is undefined. This function then
/// takes the limit: equal means give `t = 0` and `p = 1`
/// ([`Verdict::NoDetectableDifference`]); different means give `t = ±inf`
/// and `p = 0` ([`Verdict::Higher`] or [`Verdict::Lower`]). The degrees of
/// freedom are then reported as `n_a + n_b - 2`. Zero variance on one side
/// only needs no special case.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Comparison> {
    let ma = moments(a)?;
    let mb = moments(b)?;
    let diff = mb.mean - ma.mean;
    if ma.n < 2 || mb.n < 2 {
        return Some(Comparison {
            diff,
            t: f64::NAN,
            df: f64::NAN,
            p_value: f64::NAN,
            verdict: Verdict::TooFewTrials,
        });
    }
    let (na, nb) = (ma.n as f64, mb.n as f64);
    let (va, vb) = (ma.var / na, mb.var / nb);
    let se2 = va + vb;
    let (t, df, p_value) = if se2 > 0.0 {
        let t = diff / se2.sqrt();
        // Welch–Satterthwaite, written with the weights `va / se2` and
        // `vb / se2` (which sum to 1) so that tiny variances cannot underflow.
        let (wa, wb) = (va / se2, vb / se2);
        let df = 1.0 / (wa * wa / (na - 1.0) + wb * wb / (nb - 1.0));
        (t, df, two_sided_p(t, df))
    } else {
        let df = na + nb - 2.0;
        if diff == 0.0 {
            (0.0, df, 1.0)
        } else {
            (diff.signum() * f64::INFINITY, df, 0.0)
        }
    };
    let verdict = if p_value >= ALPHA {
        Verdict::NoDetectableDifference
    } else if diff > 0.0 {
        Verdict::Higher
    } else {
        Verdict::Lower
    };
    Some(Comparison {
        diff,
        t,
        df,
        p_value,
        verdict,
    })
}

/// The verdict of `c` as a short phrase for reports, given the sample sizes
/// `n_a` and `n_b` that [`welch`] compared.
///
/// Examples: `higher (p=0.023)`, `lower (p<0.001)`,
/// `no detectable difference at n=5 vs 5 (p=0.210)`,
/// `too few trials (n=1 vs 5)`.
pub fn verdict_text(c: &Comparison, n_a: usize, n_b: usize) -> String {
    match c.verdict {
        Verdict::Higher | Verdict::Lower => {
            format!("{} ({})", c.verdict, format_p(c.p_value))
        }
        Verdict::NoDetectableDifference => format!(
            "{} at n={n_a} vs {n_b} ({})",
            c.verdict,
            format_p(c.p_value)
        ),
        Verdict::TooFewTrials => format!("{} (n={n_a} vs {n_b})", c.verdict),
    }
}

/// `p=0.023`, or `p<0.001` below a thousandth. Three decimals, unless they
/// would round a p-value below [`ALPHA`] up to `0.050`.
fn format_p(p: f64) -> String {
    if p < 0.001 {
        return "p<0.001".to_owned();
    }
    let three = format!("{p:.3}");
    if p < ALPHA && three == format!("{ALPHA:.3}") {
        format!("p={p:.4}")
    } else {
        format!("p={three}")
    }
}

/// Mean, sample variance and range of a non-empty, finite sample.
struct Moments {
    n: usize,
    mean: f64,
    /// Sample variance (denominator `n - 1`); 0 when `n < 2`.
    var: f64,
    min: f64,
    max: f64,
}

fn moments(xs: &[f64]) -> Option<Moments> {
    if xs.is_empty() || !all_finite(xs) {
        return None;
    }
    let n = xs.len();
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min == max {
        // A constant sample: exact mean and zero variance, free of the
        // rounding that `sum / n` would add.
        return Some(Moments {
            n,
            mean: min,
            var: 0.0,
            min,
            max,
        });
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    // Two passes: the deviations from the mean, then their squares.
    let var = if n < 2 {
        0.0
    } else {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    };
    Some(Moments {
        n,
        mean,
        var,
        min,
        max,
    })
}

fn all_finite(xs: &[f64]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// Standard Student-t distribution with `df > 0` degrees of freedom.
fn students_t(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("degrees of freedom are positive and finite")
}

/// The `p`-quantile of Student's t with `df` degrees of freedom.
fn t_quantile(p: f64, df: f64) -> f64 {
    students_t(df).inverse_cdf(p)
}

/// Two-sided p-value of statistic `t` under Student's t with `df` degrees of
/// freedom.
fn two_sided_p(t: f64, df: f64) -> f64 {
    (2.0 * students_t(df).cdf(-t.abs())).min(1.0)
}
