//! `statistics`' descriptive statistics and Welch's test against SciPy 1.17 / NumPy
//! reference values (each written beside its assertion): mean, sd and the t interval of a
//! sample, linear percentiles, Welch's t, df and p at equal and unequal sizes and with a
//! constant side, and the verdict's words.

use statistics::{Comparison, Verdict, median, percentile, summarize, verdict_text, welch};

const A: [f64; 5] = [93.1, 92.8, 93.4, 92.9, 93.0];
const B: [f64; 5] = [93.5, 93.3, 93.6, 93.2, 93.4];

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "expected {expected}, got {actual} (tolerance {tol})"
    );
}

#[test]
fn summary_matches_scipy() {
    // numpy: mean, std(ddof=1); scipy.stats.t.ppf(0.975, 4) = 2.7764451051977934.
    let s = summarize(&A).unwrap();
    assert_eq!(s.n, 5);
    close(s.mean, 93.04, 1e-12);
    close(s.std, 0.230_217_288_664_428_48, 1e-12);
    close(s.ci95.0, 92.754_147_480_901_28, 1e-9);
    close(s.ci95.1, 93.325_852_519_098_7, 1e-9);
    let half = 2.776_445_105_197_793_4 * s.std / 5f64.sqrt();
    close(s.ci95.1 - s.mean, half, 1e-9);
    assert_eq!((s.min, s.max), (92.8, 93.4));
}

#[test]
fn summary_ci_of_two_values_uses_heavy_tailed_t() {
    // t(0.975, 1) = 12.706204736174694; std = sqrt(2), so half = t.
    let s = summarize(&[1.0, 3.0]).unwrap();
    close(s.std, 2f64.sqrt(), 1e-12);
    close(s.ci95.0, 2.0 - 12.706_204_736_174_694, 1e-8);
    close(s.ci95.1, 2.0 + 12.706_204_736_174_694, 1e-8);
}

#[test]
fn summary_of_one_value_has_no_spread() {
    let s = summarize(&[92.5]).unwrap();
    assert_eq!((s.n, s.mean, s.min, s.max), (1, 92.5, 92.5, 92.5));
    assert!(s.std.is_nan());
    assert!(s.ci95.0.is_nan() && s.ci95.1.is_nan());
}

#[test]
fn summary_of_constant_sample_is_exact() {
    let s = summarize(&[0.1, 0.1, 0.1]).unwrap();
    assert_eq!(s.mean, 0.1);
    assert_eq!(s.std, 0.0);
    assert_eq!(s.ci95, (0.1, 0.1));
}

#[test]
fn summary_rejects_empty_and_non_finite() {
    assert!(summarize(&[]).is_none());
    assert!(summarize(&[1.0, f64::NAN]).is_none());
    assert!(summarize(&[1.0, f64::INFINITY]).is_none());
}

#[test]
fn percentiles_match_numpy_linear() {
    let xs = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6];
    // np.percentile(xs, q) with the default method="linear".
    for (q, expected) in [
        (0.0, 1.0),
        (10.0, 1.25),
        (25.0, 1.775),
        (33.3, 2.2315),
        (50.0, 2.8),
        (75.0, 3.75),
        (90.0, 6.5),
        (100.0, 9.0),
    ] {
        close(percentile(&xs, q).unwrap(), expected, 1e-12);
    }
    assert_eq!(median(&xs), Some(2.8));
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[7.0]), Some(7.0));
    assert_eq!(percentile(&[7.0], 37.0), Some(7.0));
}

#[test]
fn percentile_rejects_bad_input() {
    assert_eq!(median(&[]), None);
    assert_eq!(percentile(&[1.0, 2.0], -0.1), None);
    assert_eq!(percentile(&[1.0, 2.0], 100.1), None);
    assert_eq!(percentile(&[1.0, 2.0], f64::NAN), None);
    assert_eq!(percentile(&[1.0, f64::NAN], 50.0), None);
}

#[test]
fn welch_matches_scipy() {
    // scipy.stats.ttest_ind(B, A, equal_var=False)
    let c = welch(&A, &B).unwrap();
    close(c.diff, 0.36, 1e-12);
    close(c.t, 2.882_306_768_491_676_3, 1e-6);
    close(c.df, 7.086_779_266_161_825, 1e-6);
    close(c.p_value, 0.023_260_133_016_017_59, 1e-6);
    assert_eq!(c.verdict, Verdict::Higher);
    assert_eq!(verdict_text(&c, 5, 5), "higher (p=0.023)");

    let r = welch(&B, &A).unwrap();
    close(r.t, -2.882_306_768_491_676_3, 1e-6);
    close(r.p_value, c.p_value, 1e-12);
    assert_eq!(r.verdict, Verdict::Lower);
    assert_eq!(verdict_text(&r, 5, 5), "lower (p=0.023)");
}

#[test]
fn welch_unequal_sizes_matches_scipy() {
    let a = [1.0, 2.0, 3.0, 4.0];
    let b = [2.0, 4.5, 7.0, 3.0, 9.0, 6.5, 8.0];
    let c = welch(&a, &b).unwrap();
    close(c.t, 2.725_188_134_193_338, 1e-6);
    close(c.df, 8.953_907_297_174_934, 1e-6);
    close(c.p_value, 0.023_514_757_898_515_728, 1e-6);
    assert_eq!(c.verdict, Verdict::Higher);
}

#[test]
fn welch_one_constant_side_matches_scipy() {
    let a = [5.0, 5.0, 5.0];
    let b = [5.5, 6.0, 5.0, 6.5];
    let c = welch(&a, &b).unwrap();
    close(c.t, 2.323_790_007_724_45, 1e-6);
    close(c.df, 3.0, 1e-9);
    close(c.p_value, 0.102_728_078_858_398_99, 1e-6);
    assert_eq!(c.verdict, Verdict::NoDetectableDifference);
    assert_eq!(
        verdict_text(&c, 3, 4),
        "no detectable difference at n=3 vs 4 (p=0.103)"
    );
}

#[test]
fn welch_equal_constant_samples() {
    let c = welch(&[93.0; 5], &[93.0; 5]).unwrap();
    assert_eq!((c.diff, c.t, c.p_value), (0.0, 0.0, 1.0));
    assert_eq!(c.df, 8.0);
    assert_eq!(c.verdict, Verdict::NoDetectableDifference);
    assert_eq!(
        verdict_text(&c, 5, 5),
        "no detectable difference at n=5 vs 5 (p=1.000)"
    );
}

#[test]
fn welch_different_constant_samples_claim_nothing() {
    // Two constant samples say nothing about seed-to-seed noise: no p-value, no
    // significance (this used to print "lower (p<0.001)" at n=2).
    let c = welch(&[93.0; 3], &[92.0; 4]).unwrap();
    assert_eq!(c.diff, -1.0);
    assert_eq!(c.t, f64::NEG_INFINITY);
    assert!(c.p_value.is_nan());
    assert_eq!(c.verdict, Verdict::NoSpread);
    assert_eq!(
        verdict_text(&c, 3, 4),
        "cannot tell: neither varies across seeds (n=3 vs 4)"
    );
    let c = welch(&[93.0; 2], &[94.0; 2]).unwrap();
    assert_eq!(c.verdict, Verdict::NoSpread);
    assert!(!verdict_text(&c, 2, 2).contains("p<"));
}

#[test]
fn welch_with_one_trial_is_too_few() {
    let c = welch(&[93.0], &B).unwrap();
    close(c.diff, 0.4, 1e-12);
    assert!(c.t.is_nan() && c.df.is_nan() && c.p_value.is_nan());
    assert_eq!(c.verdict, Verdict::TooFewTrials);
    assert_eq!(verdict_text(&c, 1, 5), "too few trials (n=1 vs 5)");
    assert_eq!(welch(&A, &[93.0]).unwrap().verdict, Verdict::TooFewTrials);
}

#[test]
fn welch_rejects_empty_and_non_finite() {
    assert!(welch(&[], &B).is_none());
    assert!(welch(&A, &[]).is_none());
    assert!(welch(&A, &[1.0, f64::NAN]).is_none());
}

#[test]
fn verdict_words() {
    assert_eq!(Verdict::Higher.to_string(), "higher");
    assert_eq!(Verdict::Lower.to_string(), "lower");
    assert_eq!(
        Verdict::NoDetectableDifference.to_string(),
        "no detectable difference"
    );
    assert_eq!(Verdict::TooFewTrials.to_string(), "too few trials");
}

#[test]
fn p_value_near_alpha_is_not_rounded_up_to_it() {
    let c = Comparison {
        diff: 1.0,
        t: 2.5,
        df: 8.0,
        se: 0.4,
        p_value: 0.0496,
        verdict: Verdict::Higher,
    };
    assert_eq!(verdict_text(&c, 5, 5), "higher (p=0.0496)");
}
