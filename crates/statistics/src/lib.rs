//! Statistics of repeated trials.
//!
//! A variant of an experiment is run with several seeds; each run yields one
//! number (say, the final test accuracy). This module turns those numbers into
//! a [`Summary`] (mean, sample standard deviation, a 95 % Student-t confidence
//! interval) and compares two variants with Welch's unequal-variance t-test
//! ([`welch`]), reporting a plain-words [`Verdict`] at `alpha = 0.05`.
//!
//! With several variants compared against one baseline, [`holm`] adjusts the
//! p-values for the number of comparisons; [`prob_improvement`] gives the
//! probability that a random seed of one variant beats a random seed of the
//! other, with its exact two-sided Mann-Whitney p ([`mann_whitney_exact_p`]; a
//! seeded bootstrap interval, [`bootstrap_prob_ci`], is kept for comparison but no
//! report prints it: its coverage fails at a few seeds); [`sd_ci`] gives a
//! chi-square interval for a standard deviation; [`band`] the per-epoch mean ± sd
//! of several runs. Power, the minimum detectable effect and the Welch MDE are in
//! [`crate::power`], the seeds an experiment needs in [`crate::sample_size`],
//! Stein's two-stage rule in [`crate::stein`].
//!
//! All functions take finite values only. A NaN or infinite input is a bug in
//! the caller (a diverged run should be recorded as such, not averaged), so
//! every function here returns `None` when it sees one rather than a number
//! that silently hides it.

pub mod power;
pub mod sample_size;
pub mod stein;

use std::fmt;

use statrs::distribution::{ChiSquared, ContinuousCDF, StudentsT};

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
        // An infinite variance (values near ±f64::MAX) gives an infinite
        // interval, not a panic.
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
    let (a, b) = (sorted[lo], sorted[hi]);
    if frac == 0.0 {
        return Some(a);
    }
    let step = b - a;
    Some(if step.is_finite() {
        a + frac * step
    } else {
        // Near ±f64::MAX the difference overflows; weight the ends instead.
        a * (1.0 - frac) + b * frac
    })
}

/// One point of a per-epoch band: the values of several trials at one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// The step (an epoch).
    pub step: u32,
    /// Values at this step.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (n - 1); `None` below two values.
    pub sd: Option<f64>,
}

/// Mean and sample sd per step over `series` (each a trial's `(step, value)` pairs), the
/// one per-epoch band the report, the dashboard's curves and the TensorBoard aggregate
/// share; non-finite values are left out and counted (the second result).
pub fn band(series: &[Vec<(u32, f64)>]) -> (Vec<BandPoint>, usize) {
    let mut by_step: std::collections::BTreeMap<u32, Vec<f64>> = std::collections::BTreeMap::new();
    let mut non_finite = 0;
    for s in series {
        for &(step, x) in s {
            if x.is_finite() {
                by_step.entry(step).or_default().push(x);
            } else {
                non_finite += 1;
            }
        }
    }
    let points = by_step
        .into_iter()
        .filter_map(|(step, xs)| {
            let s = summarize(&xs)?;
            Some(BandPoint {
                step,
                n: s.n,
                mean: s.mean,
                sd: (s.n >= 2 && s.std.is_finite()).then_some(s.std),
            })
        })
        .collect();
    (points, non_finite)
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
    /// Welch's standard error of `diff`, `sqrt(var_a / n_a + var_b / n_b)`; NaN with
    /// [`Verdict::TooFewTrials`] and [`Verdict::OutOfRange`], 0 with
    /// [`Verdict::NoSpread`].
    pub se: f64,
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
    /// Both sides are constant (zero variance) with different means: the
    /// t statistic is infinite and a p-value would be meaningless, so no
    /// test is made (typically two or three identical seeds).
    NoSpread,
    /// The values are too large for the arithmetic (a sum or a variance
    /// overflows), so no test is made.
    OutOfRange,
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
            Verdict::NoSpread => "cannot tell: neither varies across seeds",
            Verdict::OutOfRange => "cannot tell: values out of range",
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
            se: f64::NAN,
            p_value: f64::NAN,
            verdict: Verdict::TooFewTrials,
        });
    }
    let (na, nb) = (ma.n as f64, mb.n as f64);
    let (va, vb) = (ma.var / na, mb.var / nb);
    let se2 = va + vb;
    if !diff.is_finite() || !se2.is_finite() {
        return Some(Comparison {
            diff,
            t: f64::NAN,
            df: f64::NAN,
            se: f64::NAN,
            p_value: f64::NAN,
            verdict: Verdict::OutOfRange,
        });
    }
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
            return Some(Comparison {
                diff,
                t: diff.signum() * f64::INFINITY,
                df,
                se: 0.0,
                p_value: f64::NAN,
                verdict: Verdict::NoSpread,
            });
        }
    };
    if !p_value.is_finite() {
        return Some(Comparison {
            diff,
            t,
            df,
            se: f64::NAN,
            p_value: f64::NAN,
            verdict: Verdict::OutOfRange,
        });
    }
    let verdict = verdict_at(diff, p_value);
    Some(Comparison {
        diff,
        t,
        df,
        se: se2.sqrt(),
        p_value,
        verdict,
    })
}

impl Comparison {
    /// The two-sided `level` confidence interval of `diff` (e.g. 0.95): `diff ± t_{(1+level)/2,
    /// df} se`, the interval that matches the test. `None` where the test gave no p-value
    /// (too few trials, no spread, out of range) or `level` is not in (0, 1).
    pub fn interval(&self, level: f64) -> Option<(f64, f64)> {
        let tested = matches!(
            self.verdict,
            Verdict::Higher | Verdict::Lower | Verdict::NoDetectableDifference
        );
        if !(tested && level > 0.0 && level < 1.0) {
            return None;
        }
        let half = t_quantile(0.5 + level / 2.0, self.df) * self.se;
        half.is_finite()
            .then_some((self.diff - half, self.diff + half))
    }
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
        Verdict::NoSpread | Verdict::OutOfRange => format!("{} (n={n_a} vs {n_b})", c.verdict),
    }
}

/// The verdict for a difference `diff` whose (possibly adjusted) p-value is
/// `p`, at [`ALPHA`]: [`Verdict::Higher`] or [`Verdict::Lower`] below it,
/// else [`Verdict::NoDetectableDifference`].
pub fn verdict_at(diff: f64, p: f64) -> Verdict {
    if p.is_nan() || p >= ALPHA {
        Verdict::NoDetectableDifference
    } else if diff > 0.0 {
        Verdict::Higher
    } else {
        Verdict::Lower
    }
}

/// `c` judged with the adjusted p-value `p_adjusted` (for example from
/// [`holm`]) instead of its own: the verdict is recomputed at [`ALPHA`]; the
/// raw `p_value` is replaced. Comparisons that were not tested
/// ([`Verdict::TooFewTrials`], [`Verdict::NoSpread`],
/// [`Verdict::OutOfRange`]) are returned unchanged.
pub fn adjusted(c: &Comparison, p_adjusted: f64) -> Comparison {
    match c.verdict {
        Verdict::Higher | Verdict::Lower | Verdict::NoDetectableDifference
            if p_adjusted.is_finite() =>
        {
            Comparison {
                p_value: p_adjusted,
                verdict: verdict_at(c.diff, p_adjusted),
                ..*c
            }
        }
        _ => *c,
    }
}

/// Holm's step-down adjustment of the p-values of several tests.
///
/// NaN entries (comparisons that were attempted but could not be tested) stay
/// NaN and stay in the family: `m` is the number of entries, as if each NaN
/// were p = 1, so an untestable comparison never makes the others look
/// stronger. With the finite p-values sorted ascending, `p_(i)` becomes `max_{j <= i} min(1, (m - j + 1) p_(j))`
/// (1-based), as `statsmodels.stats.multitest.multipletests(method="holm")`
/// computes. Rejecting where the adjusted value is below `alpha` controls
/// the family-wise error rate at `alpha`, never less powerful than
/// Bonferroni.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_finite()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let m = p.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        let scaled = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(scaled);
        out[i] = running;
    }
    out
}

/// The number of tests [`holm`] corrects for: every entry, testable or not.
pub fn comparisons(p: &[f64]) -> usize {
    p.len()
}

/// The probability that a random value of `b` exceeds a random value of
/// `a`, ties counting one half: the Mann-Whitney statistic `U_b` divided by
/// `n_a * n_b` (the "common-language effect size"). 0.5 means neither tends
/// to be higher.
///
/// Returns `None` when either sample is empty or holds a non-finite value.
pub fn prob_improvement(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || b.is_empty() || !all_finite(a) || !all_finite(b) {
        return None;
    }
    Some(pair_score(a, b) / (a.len() * b.len()) as f64)
}

/// Most splits [`mann_whitney_exact_p`] enumerates (`C(n_a + n_b, n_b)`): 20 vs 20 seeds
/// is past it, 10 vs 10 (184,756 splits) within.
pub const EXACT_SPLITS_MAX: u64 = 1_000_000;

/// The exact two-sided p-value of the Mann–Whitney test of `b` against `a`: the share of
/// all `C(n_a + n_b, n_b)` ways to split the pooled values into groups of those sizes whose
/// `U_b` (ties ½) is at least as far from `n_a·n_b / 2` as the observed one. Ties are
/// handled exactly (the enumeration uses the values themselves). At complete separation
/// of 3 vs 3 seeds it is 2/20 = 0.10: [`prob_improvement`] of 1.00 at that n is no
/// evidence at the 5 % level.
///
/// `None` when a sample is empty or non-finite, or there are more than
/// [`EXACT_SPLITS_MAX`] splits.
pub fn mann_whitney_exact_p(a: &[f64], b: &[f64]) -> Option<f64> {
    prob_improvement(a, b)?;
    let (na, nb) = (a.len(), b.len());
    let splits = binomial(na + nb, nb)?;
    if splits > EXACT_SPLITS_MAX {
        return None;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let centre = (na * nb) as f64;
    // Twice U, so that ties stay integers.
    let observed = (2.0 * pair_score(a, b) - centre).abs();
    let mut chosen = vec![false; pooled.len()];
    let mut extreme = 0u64;
    let mut total = 0u64;
    let mut group_b = Vec::with_capacity(nb);
    let mut group_a = Vec::with_capacity(na);
    enumerate(&mut chosen, 0, nb, &mut |chosen| {
        group_b.clear();
        group_a.clear();
        for (v, &c) in pooled.iter().zip(chosen) {
            if c {
                group_b.push(*v);
            } else {
                group_a.push(*v);
            }
        }
        let d = (2.0 * pair_score(&group_a, &group_b) - centre).abs();
        total += 1;
        if d >= observed - 1e-9 {
            extreme += 1;
        }
    });
    Some(extreme as f64 / total as f64)
}

/// Calls `visit` with every way to mark `left` more of `chosen[from..]` (in order).
fn enumerate(chosen: &mut [bool], from: usize, left: usize, visit: &mut dyn FnMut(&[bool])) {
    if left == 0 {
        visit(chosen);
        return;
    }
    for i in from..=chosen.len() - left {
        chosen[i] = true;
        enumerate(chosen, i + 1, left - 1, visit);
        chosen[i] = false;
    }
}

/// `n` choose `k`, `None` past `u64`.
fn binomial(n: usize, k: usize) -> Option<u64> {
    let k = k.min(n - k);
    let mut c: u64 = 1;
    for i in 0..k {
        c = c.checked_mul((n - i) as u64)? / (i as u64 + 1);
    }
    Some(c)
}

/// Twice the number of pairs `(x in a, y in b)` with `y > x`, plus the ties,
/// halved: `U_b`.
fn pair_score(a: &[f64], b: &[f64]) -> f64 {
    let mut twice = 0u64;
    for &y in b {
        for &x in a {
            twice += match y.total_cmp(&x) {
                std::cmp::Ordering::Greater => 2,
                std::cmp::Ordering::Equal => 1,
                std::cmp::Ordering::Less => 0,
            };
        }
    }
    twice as f64 / 2.0
}

/// The default number of bootstrap resamples in reports.
pub const BOOTSTRAP_RESAMPLES: usize = 4000;

/// A percentile bootstrap 95 % interval of [`prob_improvement`]: `a` and `b`
/// are resampled independently (with replacement, each at its own size)
/// `resamples` times by a generator seeded with `seed`, so the same inputs
/// always give the same interval.
///
/// Returns `None` when [`prob_improvement`] would, or `resamples` is 0. With
/// one value on both sides the interval is that single point.
pub fn bootstrap_prob_ci(a: &[f64], b: &[f64], resamples: usize, seed: u64) -> Option<(f64, f64)> {
    prob_improvement(a, b)?;
    if resamples == 0 {
        return None;
    }
    let mut rng = SplitMix64(seed);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for y in rb.iter_mut() {
            *y = b[rng.below(b.len())];
        }
        stats.push(pair_score(&ra, &rb) / (a.len() * b.len()) as f64);
    }
    Some((percentile(&stats, 2.5)?, percentile(&stats, 97.5)?))
}

/// A small, fast, seeded generator (SplitMix64) for the bootstrap: the
/// report's intervals must be byte-identical from run to run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), by Lemire's multiply-shift (the bias is
    /// below 2^-50 for the sample sizes here).
    fn below(&mut self, n: usize) -> usize {
        ((self.next() as u128 * n as u128) >> 64) as usize
    }
}

/// A stable 64-bit seed from text (FNV-1a), e.g. the variant's name, so that
/// each comparison's bootstrap has its own fixed stream.
pub fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The chi-square `level` (e.g. 0.95) confidence interval of a standard
/// deviation `sd` estimated from `n` values:
/// `sqrt((n - 1) sd² / χ²_{1-α/2, n-1}) .. sqrt((n - 1) sd² / χ²_{α/2, n-1})`
/// with `α = 1 - level`. It assumes normally distributed values.
///
/// Returns `None` when `n < 2`, `sd` is negative or not finite, or `level`
/// is outside `(0, 1)`. Zero `sd` gives `(0, 0)`.
pub fn sd_ci(sd: f64, n: usize, level: f64) -> Option<(f64, f64)> {
    if n < 2 || !sd.is_finite() || sd < 0.0 || !(level > 0.0 && level < 1.0) {
        return None;
    }
    let df = (n - 1) as f64;
    let chi = ChiSquared::new(df).ok()?;
    let alpha = 1.0 - level;
    let lo_q = chi_quantile(&chi, 1.0 - alpha / 2.0);
    let hi_q = chi_quantile(&chi, alpha / 2.0);
    // sd * sqrt(df / q): no sd² that could overflow.
    Some((sd * (df / lo_q).sqrt(), sd * (df / hi_q).sqrt()))
}

/// `p=0.023`, or `p<0.001` below a thousandth. Three decimals, unless they
/// would round a p-value below [`ALPHA`] up to `0.050`. A NaN gives `p=—`.
pub fn format_p(p: f64) -> String {
    if p.is_nan() {
        return "p=—".to_owned();
    }
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
    let mut mean = xs.iter().sum::<f64>() / n as f64;
    if !mean.is_finite() {
        // The sum overflowed (values near ±f64::MAX): average scaled values.
        let scale = min.abs().max(max.abs());
        mean = xs.iter().map(|x| x / scale).sum::<f64>() / n as f64 * scale;
    }
    // Two passes: the deviations from the mean, then their squares. Huge
    // values give an infinite variance, which callers treat as out of range.
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

/// A chi-square quantile; statrs' inverse gives NaN in the far left tail at one degree
/// of freedom, so that case falls back to bisection on the CDF.
fn chi_quantile(chi: &ChiSquared, p: f64) -> f64 {
    let q = chi.inverse_cdf(p);
    if q.is_finite() {
        return q;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while chi.cdf(hi) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if chi.cdf(mid) < p { lo = mid } else { hi = mid }
    }
    0.5 * (lo + hi)
}

fn all_finite(xs: &[f64]) -> bool {
    xs.iter().all(|x| x.is_finite())
}

/// Standard Student-t distribution with `df` degrees of freedom; `None`
/// unless `df` is positive (NaN or negative degrees of freedom never panic).
fn students_t(df: f64) -> Option<StudentsT> {
    StudentsT::new(0.0, 1.0, df).ok()
}

/// The `p`-quantile of Student's t with `df` degrees of freedom (NaN for a
/// bad `df`).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    students_t(df).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

/// Two-sided p-value of statistic `t` under Student's t with `df` degrees of
/// freedom (NaN for a bad `df` or `t`).
fn two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    students_t(df).map_or(f64::NAN, |d| (2.0 * d.cdf(-t.abs())).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval is the one the test inverts: diff ± t_{0.975, df} · se, with Welch's
    /// standard error, and it excludes 0 exactly when p < 0.05.
    #[test]
    fn the_interval_matches_the_test() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [3.0, 4.0, 5.0, 6.0, 7.0];
        let c = welch(&a, &b).unwrap();
        let se = (1.0f64 / 0.6 / 4.0 + 2.5 / 5.0).sqrt();
        assert!((c.se - se).abs() < 1e-12, "{c:?}");
        assert!((c.t - 2.5 / se).abs() < 1e-12);
        let (lo, hi) = c.interval(0.95).unwrap();
        let half = t_quantile(0.975, c.df) * se;
        assert!((lo - (2.5 - half)).abs() < 1e-12 && (hi - (2.5 + half)).abs() < 1e-12);
        for (a, b) in [
            (&[90.0, 90.2, 89.9][..], &[90.1, 90.3, 90.0, 90.2][..]),
            (&[90.0, 90.2, 89.9], &[91.0, 91.3, 90.9]),
            (&[70.0, 75.0, 72.0], &[71.0, 69.0, 80.0, 77.0]),
        ] {
            let c = welch(a, b).unwrap();
            let (lo, hi) = c.interval(0.95).unwrap();
            assert_eq!(lo > 0.0 || hi < 0.0, c.p_value < 0.05, "{c:?} {lo} {hi}");
            let (lo99, hi99) = c.interval(0.99).unwrap();
            assert!(lo99 < lo && hi99 > hi);
        }
    }

    #[test]
    fn the_band_is_mean_and_sd_per_step_without_non_finite_values() {
        let series = vec![
            vec![(1, 70.0), (2, 80.0), (3, f64::NAN)],
            vec![(1, 72.0), (2, 82.0)],
            vec![(2, 84.0), (3, 7.0)],
        ];
        let (points, skipped) = band(&series);
        assert_eq!(skipped, 1);
        assert_eq!((points[0].step, points[0].n, points[0].mean), (1, 2, 71.0));
        assert!((points[0].sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(
            (points[1].n, points[1].mean, points[1].sd),
            (3, 82.0, Some(2.0))
        );
        assert_eq!((points[2].n, points[2].mean, points[2].sd), (1, 7.0, None));
        assert_eq!(band(&[]).0, vec![]);
    }

    #[test]
    fn no_interval_without_a_test() {
        assert_eq!(welch(&[1.0], &[2.0, 3.0]).unwrap().interval(0.95), None);
        assert_eq!(
            welch(&[1.0, 1.0], &[2.0, 2.0]).unwrap().interval(0.95),
            None
        );
        let c = welch(&[1.0, 2.0], &[2.0, 3.0]).unwrap();
        assert_eq!(c.interval(1.0), None);
        assert_eq!(c.interval(f64::NAN), None);
    }

    /// The exact p against a brute-force count of the permutation distribution written
    /// out here (every labelling of the pooled values, not only the splits), at 3, 5 and 8
    /// seeds per side, with and without ties.
    #[test]
    fn the_exact_mann_whitney_p_is_the_enumerated_permutation_distribution() {
        fn brute(a: &[f64], b: &[f64]) -> f64 {
            let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
            let n = pooled.len();
            let centre = (a.len() * b.len()) as f64;
            let observed = (2.0 * pair_score(a, b) - centre).abs();
            let (mut hit, mut all) = (0u64, 0u64);
            for mask in 0u32..(1 << n) {
                if mask.count_ones() as usize != b.len() {
                    continue;
                }
                let mut ga = Vec::new();
                let mut gb = Vec::new();
                for (i, v) in pooled.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        gb.push(*v);
                    } else {
                        ga.push(*v);
                    }
                }
                all += 1;
                if (2.0 * pair_score(&ga, &gb) - centre).abs() >= observed - 1e-9 {
                    hit += 1;
                }
            }
            hit as f64 / all as f64
        }
        // Complete separation: 2 / C(2n, n).
        for (n, expected) in [(3usize, 0.1), (5, 2.0 / 252.0), (8, 2.0 / 12_870.0)] {
            let a: Vec<f64> = (0..n).map(|i| 80.0 + i as f64 * 0.1).collect();
            let b: Vec<f64> = (0..n).map(|i| 90.0 + i as f64 * 0.1).collect();
            let p = mann_whitney_exact_p(&a, &b).unwrap();
            assert!((p - expected).abs() < 1e-12, "n={n}: {p}");
            assert!((p - brute(&a, &b)).abs() < 1e-12);
        }
        // Overlapping samples with ties.
        let cases: [(&[f64], &[f64]); 3] = [
            (&[82.3, 84.1, 83.0], &[83.0, 85.2, 82.9]),
            (&[1.0, 2.0, 2.0, 3.0, 4.0], &[2.0, 3.0, 3.0, 5.0, 6.0]),
            (
                &[0.1, 0.5, 0.9, 0.2, 0.7, 0.3, 0.8, 0.4],
                &[0.6, 0.55, 1.0, 0.95, 0.35, 0.75, 0.85, 0.45],
            ),
        ];
        for (a, b) in cases {
            let p = mann_whitney_exact_p(a, b).unwrap();
            assert!((p - brute(a, b)).abs() < 1e-12, "{a:?} {b:?}: {p}");
            assert!(p > 0.0 && p <= 1.0);
        }
        assert!(mann_whitney_exact_p(&[1.0; 12], &[2.0; 12]).is_none());
        assert!(mann_whitney_exact_p(&[], &[1.0]).is_none());
    }
}
