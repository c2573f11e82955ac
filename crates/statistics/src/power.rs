//! Power of the two-sample t-test, from the noncentral t distribution: the
//! minimum detectable effect at a given number of seeds ([`mde`], pooled, for planning),
//! that of the Welch test a report's verdict uses ([`welch_mde`]), and the
//! seeds needed to detect a given difference ([`seeds_needed`]). The sample-size
//! sample size of an experiment (`harness seeds`, [`crate::sample_size`]) applies them.
//!
//! The test is the two-sided pooled-variance t-test with `n_a + n_b - 2`
//! degrees of freedom. With a true difference `Δ` and a common standard
//! deviation `σ`, its statistic follows a noncentral t with noncentrality
//! `δ = Δ / (σ sqrt(1/n_a + 1/n_b))`, so the power at level `α` is
//! `P(T > t_{1-α/2}) + P(T < -t_{1-α/2})` under that distribution, as
//! `statsmodels.stats.power.TTestIndPower` computes it. The noncentral t CDF
//! is [`nct_cdf`] (Lenth's algorithm AS 243).

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
    let crit = crate::t_quantile(1.0 - alpha / 2.0, df);
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

/// The minimum detectable difference, in the data's units (accuracy points), of the
/// comparison that decides a verdict: Welch's two-sided test at level `alpha` with its own
/// standard error `se` and Welch–Satterthwaite degrees of freedom `df` (both from
/// [`crate::Comparison`]). It is the smallest `Δ` whose statistic, a noncentral t with `df`
/// degrees of freedom and noncentrality `Δ / se`, exceeds `t_{1-α/2, df}` in absolute value
/// with probability `target_power`.
///
/// Because power 0.8 needs a noncentrality above the critical value, an observed
/// `|diff| >= welch_mde(...)` always has `|t| > t_{1-α/2, df}`: a row cannot show a
/// difference at least as large as its own detectable effect beside "no detectable
/// difference". `None` when `se` or `df` is not positive and finite, or the arguments are
/// out of range.
pub fn welch_mde(se: f64, df: f64, alpha: f64, target_power: f64) -> Option<f64> {
    if !(se.is_finite() && se > 0.0 && df.is_finite() && df > 0.0) {
        return None;
    }
    if !(alpha > 0.0 && alpha < 1.0 && target_power > alpha && target_power < 1.0) {
        return None;
    }
    let crit = crate::t_quantile(1.0 - alpha / 2.0, df);
    let power_at = |nc: f64| (1.0 - nct_cdf(crit, df, nc) + nct_cdf(-crit, df, nc)).clamp(0.0, 1.0);
    let mut hi = crit.max(1.0);
    while power_at(hi) < target_power {
        hi *= 2.0;
        if hi > 1e6 {
            return None;
        }
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if power_at(mid) < target_power {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi {
            break;
        }
    }
    Some(0.5 * (lo + hi) * se)
}

/// The sample size per group (equal groups) the two-sided two-sample t-test
/// at level `alpha` needs to detect `effect` standard deviations with
/// probability `target_power`: the smallest integer `n >= 2` with
/// `power(effect, n, n, alpha) >= target_power`.
///
/// `None` for a non-positive or non-finite effect, out-of-range `alpha` or
/// `target_power`, or more than a million.
pub fn seeds_needed(effect: f64, alpha: f64, target_power: f64) -> Option<usize> {
    /// Past this many seeds per side the answer is "more than a million".
    const MAX_SEEDS: usize = 1_000_000;
    if !(effect.is_finite()
        && effect > 0.0
        && alpha > 0.0
        && alpha < 1.0
        && target_power > alpha
        && target_power < 1.0)
    {
        return None;
    }
    // Start from the normal approximation and walk to the exact answer. The t-test needs at
    // least as many seeds as the approximation says, so past the cap there is no walk.
    let mut n = normal_approx_n(effect, alpha, target_power)?.max(2);
    if n > MAX_SEEDS {
        return None;
    }
    while n > 2 && power(effect, (n - 1) as f64, (n - 1) as f64, alpha) >= target_power {
        n -= 1;
    }
    while power(effect, n as f64, n as f64, alpha) < target_power {
        n += 1;
        if n > MAX_SEEDS {
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
        let s = crate::summarize(xs)?;
        ss += (xs.len() - 1) as f64 * s.std * s.std;
        df += xs.len() - 1;
    }
    (df > 0 && ss.is_finite()).then(|| ((ss / df as f64).sqrt(), df))
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
