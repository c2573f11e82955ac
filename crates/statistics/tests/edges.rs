//! Edge cases of the statistics: n = 1, zero variance, ties, absurd values (±1e308), NaN
//! p-values in Holm, the bootstrap's reproducibility and Stein's rule's refusals.

use statistics::power;
use statistics::stein::{self, SteinError};
use statistics::{self as stats, Verdict};

/// An untestable comparison (NaN) stays in the family, as p = 1 would: the others are
/// adjusted for m = 3, not 2 (statsmodels with the NaN replaced by 1 gives 0.03, 0.08).
#[test]
fn holm_keeps_untestable_comparisons_in_the_family() {
    let p = [0.01, f64::NAN, 0.04];
    let adj = stats::holm(&p);
    assert_eq!(stats::comparisons(&p), 3);
    assert!((adj[0] - 0.03).abs() < 1e-15, "{adj:?}");
    assert!(adj[1].is_nan());
    assert!((adj[2] - 0.08).abs() < 1e-15, "{adj:?}");
    assert!(stats::holm(&[]).is_empty());
    assert!(stats::holm(&[f64::NAN]).iter().all(|x| x.is_nan()));
}

#[test]
fn holm_is_monotone_and_never_below_raw() {
    let p = [0.3, 0.001, 0.02, 0.02, 0.9, 0.04, 0.011];
    let adj = stats::holm(&p);
    for (raw, a) in p.iter().zip(&adj) {
        assert!(a >= raw && *a <= 1.0);
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    for w in order.windows(2) {
        assert!(adj[w[0]] <= adj[w[1]]);
    }
}

#[test]
fn adjusted_verdict_follows_the_adjusted_p() {
    let c = stats::welch(&[90.0, 90.2, 90.1], &[90.6, 90.9, 90.7]).unwrap();
    assert_eq!(c.verdict, Verdict::Higher);
    let adj = stats::adjusted(&c, 0.2);
    assert_eq!(adj.verdict, Verdict::NoDetectableDifference);
    assert_eq!(adj.p_value, 0.2);
    assert_eq!(adj.diff, c.diff);
    // Untested comparisons stay untested.
    let few = stats::welch(&[90.0], &[91.0, 92.0]).unwrap();
    assert_eq!(stats::adjusted(&few, 0.01).verdict, Verdict::TooFewTrials);
}

#[test]
fn probability_of_improvement_counts_ties_as_half() {
    assert_eq!(stats::prob_improvement(&[1.0, 2.0], &[1.0, 2.0]), Some(0.5));
    assert_eq!(stats::prob_improvement(&[1.0], &[2.0]), Some(1.0));
    assert_eq!(stats::prob_improvement(&[3.0], &[2.0]), Some(0.0));
    assert_eq!(stats::prob_improvement(&[5.0; 3], &[5.0; 4]), Some(0.5));
    assert!(stats::prob_improvement(&[], &[1.0]).is_none());
    assert!(stats::prob_improvement(&[f64::NAN], &[1.0]).is_none());
}

#[test]
fn bootstrap_is_reproducible_and_seed_dependent() {
    let a = [90.1, 90.4, 89.8, 90.0, 90.6];
    let b = [90.5, 90.2, 90.9, 90.1, 90.7];
    let one = stats::bootstrap_prob_ci(&a, &b, 2000, 7).unwrap();
    assert_eq!(one, stats::bootstrap_prob_ci(&a, &b, 2000, 7).unwrap());
    assert_ne!(one, stats::bootstrap_prob_ci(&a, &b, 2000, 8).unwrap());
    // n = 1 on both sides: every resample is the same pair.
    assert_eq!(
        stats::bootstrap_prob_ci(&[1.0], &[2.0], 100, 1),
        Some((1.0, 1.0))
    );
    assert!(stats::bootstrap_prob_ci(&a, &b, 0, 1).is_none());
    assert_ne!(stats::seed_of("adam"), stats::seed_of("sgd"));
}

#[test]
fn sd_interval_edges() {
    assert!(stats::sd_ci(0.3, 1, 0.95).is_none());
    assert!(stats::sd_ci(f64::NAN, 5, 0.95).is_none());
    assert!(stats::sd_ci(0.3, 5, 1.0).is_none());
    assert_eq!(stats::sd_ci(0.0, 5, 0.95), Some((0.0, 0.0)));
    let (lo, hi) = stats::sd_ci(1e300, 5, 0.95).unwrap();
    assert!(lo.is_finite() && hi.is_finite() && lo < 1e300 && hi > 1e300);
}

#[test]
fn absurd_values_never_panic() {
    let huge = [1e308, -1e308, 1e308];
    let s = stats::summarize(&huge).unwrap();
    assert!(s.mean.is_finite(), "mean {}", s.mean);
    assert_eq!((s.min, s.max), (-1e308, 1e308));
    let c = stats::welch(&huge, &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(c.verdict, Verdict::OutOfRange);
    assert!(c.p_value.is_nan());
    let c = stats::welch(&[1e308, 1e308], &[-1e308, -1e308]).unwrap();
    assert!(matches!(c.verdict, Verdict::OutOfRange | Verdict::NoSpread));
    assert!(stats::percentile(&huge, 50.0).unwrap().is_finite());
    assert!(
        stats::percentile(&[-1e308, 1e308], 50.0)
            .unwrap()
            .is_finite()
    );
    assert!(stats::prob_improvement(&huge, &[0.0]).is_some());
    assert!(stats::bootstrap_prob_ci(&huge, &[0.0, 1.0], 50, 1).is_some());
    let _ = power::pooled_sd(&[&huge, &[0.0, 1.0]]);
    let _ = power::mde(3, 3, 0.05, 0.8);
    assert!(stein::total_n(&huge, 0.1, 0.05).is_err());
    assert!(power::nct_cdf(1e308, 5.0, 1e308).is_finite());
    assert!(power::seeds_needed(1e308, 0.05, 0.8).is_some());
    assert!(power::seeds_needed(1e-308, 0.05, 0.8).is_none());
    // Past a million seeds the answer is None at once (0.002 sd walked millions of steps),
    // and never a count over the cap.
    assert_eq!(power::seeds_needed(0.002, 0.05, 0.8), None);
    assert_eq!(power::seeds_needed(0.002, 0.05 / 3.0, 0.8), None);
    for effect in [0.0035, 0.0039, 0.004, 0.0041] {
        let n = power::seeds_needed(effect, 0.05, 0.8);
        assert!(n.is_none_or(|n| n <= 1_000_000), "{effect}: {n:?}");
    }
}

#[test]
fn nct_tails_and_symmetry() {
    for (t, df, nc) in [(1.3, 4.0, 2.0), (-0.7, 12.0, -1.5), (3.0, 2.0, 0.3)] {
        let left = power::nct_cdf(t, df, nc);
        let mirrored = 1.0 - power::nct_cdf(-t, df, -nc);
        assert!((left - mirrored).abs() < 1e-12, "{t} {df} {nc}");
    }
    assert_eq!(power::nct_cdf(f64::INFINITY, 3.0, 1.0), 1.0);
    assert_eq!(power::nct_cdf(f64::NEG_INFINITY, 3.0, 1.0), 0.0);
    // A huge noncentrality takes the normal approximation and stays a probability.
    let p = power::nct_cdf(40.0, 10.0, 45.0);
    assert!((0.0..=1.0).contains(&p));
}

#[test]
fn mde_shrinks_with_seeds() {
    let m3 = power::mde(3, 3, 0.05, 0.8).unwrap();
    let m10 = power::mde(10, 10, 0.05, 0.8).unwrap();
    assert!(m10 < m3);
    // Power at the MDE is the target.
    assert!((power::power(m10, 10.0, 10.0, 0.05) - 0.8).abs() < 1e-9);
    // Stricter alpha (a correction) needs a larger effect.
    assert!(power::mde(10, 10, 0.05 / 7.0, 0.8).unwrap() > m10);
}

#[test]
fn stein_refuses_bad_pilots() {
    assert!(matches!(
        stein::total_n(&[1.0], 0.1, 0.05),
        Err(SteinError::PilotTooSmall(1))
    ));
    assert!(matches!(
        stein::total_n(&[1.0, 2.0], 0.0, 0.05),
        Err(SteinError::Halfwidth(_))
    ));
    assert!(matches!(
        stein::total_n(&[1.0, f64::NAN], 0.1, 0.05),
        Err(SteinError::NonFinite)
    ));
    assert!(matches!(
        stein::total_n(&[1.0, 2.0], 0.1, 1.5),
        Err(SteinError::Alpha(_))
    ));
    assert!(matches!(
        stein::total_n(&[0.0, 90.0], 1e-6, 0.05),
        Err(SteinError::TooMany(_))
    ));
    // A constant pilot needs nothing more.
    assert_eq!(stein::total_n(&[70.0; 4], 0.1, 0.05).unwrap().total_n, 4);
}
