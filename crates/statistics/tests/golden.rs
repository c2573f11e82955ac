//! Every statistic against golden values from SciPy 1.17 / statsmodels 0.15, computed by
//! `scripts/golden_stats.py` and committed as `tests/golden/stats.json` (no Python at test
//! time): Holm, the Mann-Whitney probability, its bootstrap interval (within tolerance:
//! another generator), the noncentral t CDF, power, the minimum detectable effect, the
//! sample size, Stein's N and the chi-square interval of a standard deviation.

use statistics as stats;
use statistics::power;

use serde_json::Value;

const GOLDEN: &str = include_str!("golden/stats.json");

fn golden() -> Value {
    serde_json::from_str(GOLDEN).expect("the golden file is JSON")
}

fn cases(name: &str) -> Vec<Value> {
    let cases = golden()[name]
        .as_array()
        .unwrap_or_else(|| panic!("golden file lacks `{name}`"))
        .clone();
    assert!(!cases.is_empty(), "no `{name}` cases");
    cases
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn fs(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(f).collect()
}

fn close(actual: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: expected {expected}, got {actual} (tolerance {tol})"
    );
}

#[test]
fn golden_file_names_its_generator() {
    let g = golden();
    assert_eq!(g["generator"], "scripts/golden_stats.py");
    assert!(g["scipy"].as_str().is_some() && g["statsmodels"].as_str().is_some());
}

#[test]
fn holm_matches_statsmodels() {
    for case in cases("holm") {
        let p = fs(&case["p"]);
        let expected = fs(&case["adjusted"]);
        let got = stats::holm(&p);
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            close(*g, *e, 1e-12, &format!("holm {p:?}"));
        }
        assert_eq!(stats::comparisons(&p), p.len());
    }
}

#[test]
fn mann_whitney_probability_matches_scipy() {
    for case in cases("mann_whitney") {
        let (a, b) = (fs(&case["a"]), fs(&case["b"]));
        let got = stats::prob_improvement(&a, &b).unwrap();
        close(
            got,
            f(&case["prob"]),
            1e-12,
            &format!("P(b > a) {a:?} {b:?}"),
        );
    }
}

#[test]
fn bootstrap_interval_agrees_with_scipy_within_tolerance() {
    // SciPy drew 20,000 resamples from its own generator; ours draws 4,000 from
    // SplitMix64. The percentile endpoints of a discrete statistic agree to a few of its
    // steps (1 / (2 n_a n_b)).
    for case in cases("bootstrap") {
        let (a, b) = (fs(&case["a"]), fs(&case["b"]));
        let (lo, hi) =
            stats::bootstrap_prob_ci(&a, &b, stats::BOOTSTRAP_RESAMPLES, stats::seed_of("x"))
                .unwrap();
        close(
            lo,
            f(&case["low"]),
            0.05,
            &format!("bootstrap low {a:?} {b:?}"),
        );
        close(
            hi,
            f(&case["high"]),
            0.05,
            &format!("bootstrap high {a:?} {b:?}"),
        );
        let p = stats::prob_improvement(&a, &b).unwrap();
        assert!(lo <= p && p <= hi, "{lo} <= {p} <= {hi}");
    }
}

#[test]
fn nct_cdf_matches_scipy() {
    let mut worst: f64 = 0.0;
    for case in cases("nct_cdf") {
        let (t, df, nc) = (f(&case["t"]), f(&case["df"]), f(&case["nc"]));
        let got = power::nct_cdf(t, df, nc);
        let expected = f(&case["cdf"]);
        worst = worst.max((got - expected).abs());
        close(got, expected, 1e-9, &format!("nct.cdf({t}, {df}, {nc})"));
    }
    eprintln!("nct_cdf: worst absolute error {worst:e}");
}

#[test]
fn power_matches_statsmodels() {
    for case in cases("power") {
        let got = power::power(
            f(&case["effect"]),
            f(&case["n_a"]),
            f(&case["n_b"]),
            f(&case["alpha"]),
        );
        close(got, f(&case["power"]), 1e-8, &format!("power {case}"));
    }
}

#[test]
fn minimum_detectable_effect_matches_statsmodels() {
    for case in cases("mde") {
        let n_a = case["n_a"].as_u64().unwrap() as usize;
        let n_b = case["n_b"].as_u64().unwrap() as usize;
        let got = power::mde(n_a, n_b, f(&case["alpha"]), f(&case["power"])).unwrap();
        close(got, f(&case["effect"]), 1e-5, &format!("mde {case}"));
    }
}

#[test]
fn sample_size_matches_statsmodels() {
    for case in cases("sample_size") {
        let (d, alpha, pw) = (f(&case["effect"]), f(&case["alpha"]), f(&case["power"]));
        let got = power::seeds_needed(d, alpha, pw).unwrap();
        assert_eq!(got as u64, case["n"].as_u64().unwrap(), "n for {case}");
        // statsmodels' fractional n rounds up to ours.
        assert_eq!(
            got,
            (f(&case["n_fractional"]) - 1e-9).ceil().max(2.0) as usize
        );
        // The normal approximation never asks for more (it ignores the t's heavy tails).
        assert!(power::normal_approx_n(d, alpha, pw).unwrap() <= got);
    }
}

#[test]
fn stein_n_matches_scipy() {
    for case in cases("stein") {
        let pilot = fs(&case["pilot"]);
        let s = stats::stein::total_n(&pilot, f(&case["halfwidth"]), f(&case["alpha"])).unwrap();
        assert_eq!(s.n0, pilot.len());
        close(s.pilot_sd, f(&case["sd"]), 1e-12, "pilot sd");
        close(s.t, f(&case["t"]), 1e-9, "t quantile");
        assert_eq!(
            s.total_n as u64,
            case["n"].as_u64().unwrap(),
            "N for {case}"
        );
        assert!(s.halfwidth() <= f(&case["halfwidth"]) + 1e-12);
    }
}

#[test]
fn chi_square_sd_interval_matches_scipy() {
    for case in cases("chi2_sd") {
        let n = case["n"].as_u64().unwrap() as usize;
        let (lo, hi) = stats::sd_ci(f(&case["sd"]), n, 0.95).unwrap();
        close(lo, f(&case["low"]), 1e-9, &format!("sd low {case}"));
        close(hi, f(&case["high"]), 1e-7, &format!("sd high {case}"));
    }
}
