//! `statistics::sample_size` (what `harness plan` prints), Stein's rule's own guarantees and
//! the per-epoch band, from hand-computed samples: where the standard deviation comes from,
//! the comparisons counted against the baseline, the seeds found being the smallest with the
//! power asked, and every refusal. The SciPy/statsmodels values of the underlying power
//! functions are in `golden.rs`.

use statistics::power::{mde, power, seeds_needed};
use statistics::sample_size::{ASSUMED_SD, SampleSizeError, SdSource, sample_size};
use statistics::{band, stein, summarize};

fn close(actual: f64, expected: f64, tol: f64) {
    assert!(
        (actual - expected).abs() <= tol,
        "expected {expected}, got {actual} (tolerance {tol})"
    );
}

/// Three variants (the baseline first): two with three seeds, one with a single seed.
fn samples() -> Vec<Vec<f64>> {
    vec![vec![90.0, 90.4, 89.8], vec![91.0, 91.6, 91.1], vec![88.0]]
}

#[test]
fn the_difference_to_detect_must_be_positive_and_finite() {
    for detect in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = sample_size(&samples(), 3, detect, 0.05, 0.8, None).unwrap_err();
        assert!(matches!(e, SampleSizeError::Detect(_)), "{detect}: {e:?}");
    }
}

#[test]
fn alpha_must_lie_strictly_between_0_and_1() {
    for alpha in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
        let e = sample_size(&samples(), 3, 1.0, alpha, 0.8, None).unwrap_err();
        assert!(matches!(e, SampleSizeError::Alpha(_)), "{alpha}: {e:?}");
    }
}

#[test]
fn power_must_lie_between_alpha_and_1() {
    for p in [0.05, 0.01, 1.0, f64::NAN] {
        let e = sample_size(&samples(), 3, 1.0, 0.05, p, None).unwrap_err();
        assert!(matches!(e, SampleSizeError::Power(_)), "{p}: {e:?}");
    }
    assert_eq!(
        SampleSizeError::Power(1.0).to_string(),
        "--power 1: must be between alpha and 1"
    );
}

#[test]
fn an_assumed_sd_must_be_positive_and_finite() {
    for sd in [0.0, -0.3, f64::NAN, f64::INFINITY] {
        let e = sample_size(&samples(), 3, 1.0, 0.05, 0.8, Some(sd)).unwrap_err();
        assert!(matches!(e, SampleSizeError::Sd(_)), "{sd}: {e:?}");
    }
}

#[test]
fn the_sd_is_pooled_within_the_variants_that_have_two_values() {
    let s = sample_size(&samples(), 3, 1.0, 0.05, 0.8, None).unwrap();
    // Sums of squares by hand: 0.56 / 3 about the mean 90.0667 and 0.62 / 3 about 91.2333,
    // 2 degrees of freedom each; the single seed adds nothing.
    close(s.sd, (1.18f64 / 12.0).sqrt(), 1e-12);
    assert_eq!(
        s.sd_source,
        SdSource::Observed {
            trials: 6,
            variants: 2,
            df: 4
        }
    );
}

#[test]
fn without_two_values_in_any_variant_the_sd_is_assumed() {
    let one_each = vec![vec![90.0], vec![91.0]];
    let s = sample_size(&one_each, 1, 1.0, 0.05, 0.8, None).unwrap();
    assert_eq!(s.sd, ASSUMED_SD);
    assert_eq!(s.sd_source, SdSource::Assumed);
    let none: Vec<Vec<f64>> = vec![vec![], vec![]];
    assert_eq!(
        sample_size(&none, 3, 1.0, 0.05, 0.8, None)
            .unwrap()
            .sd_source,
        SdSource::Assumed
    );
}

#[test]
fn constant_samples_give_no_spread_to_plan_with_so_the_sd_is_assumed() {
    let constant = vec![vec![90.0, 90.0], vec![91.0, 91.0]];
    let s = sample_size(&constant, 2, 1.0, 0.05, 0.8, None).unwrap();
    assert_eq!(s.sd_source, SdSource::Assumed);
    assert_eq!(s.sd, ASSUMED_SD);
}

#[test]
fn a_given_sd_wins_and_says_what_the_samples_would_have_given() {
    let s = sample_size(&samples(), 3, 1.0, 0.05, 0.8, Some(0.5)).unwrap();
    assert_eq!(s.sd, 0.5);
    let SdSource::Given {
        observed: Some((sd, trials)),
    } = s.sd_source
    else {
        panic!("{:?}", s.sd_source)
    };
    close(sd, (1.18f64 / 12.0).sqrt(), 1e-12);
    assert_eq!(trials, 6);
    let alone = sample_size(&[vec![90.0]], 1, 1.0, 0.05, 0.8, Some(0.5)).unwrap();
    assert_eq!(alone.sd_source, SdSource::Given { observed: None });
}

#[test]
fn each_variant_but_the_baseline_is_one_comparison_at_a_bonferroni_level() {
    let s = sample_size(&samples(), 3, 1.0, 0.05, 0.8, None).unwrap();
    assert_eq!(s.comparisons, 2);
    close(s.alpha_per_comparison, 0.025, 1e-15);
    // A lone variant still counts one comparison (nothing to divide by zero).
    let lone = sample_size(&[vec![90.0, 91.0]], 2, 1.0, 0.05, 0.8, None).unwrap();
    assert_eq!(lone.comparisons, 1);
    close(lone.alpha_per_comparison, 0.05, 1e-15);
}

#[test]
fn the_seeds_found_are_the_fewest_with_the_power_asked() {
    for (detect, sd) in [(0.5, 0.3), (1.0, 0.3), (0.2, 0.3), (2.0, 1.0)] {
        let s = sample_size(&samples(), 3, detect, 0.05, 0.8, Some(sd)).unwrap();
        close(s.effect, detect / sd, 1e-12);
        let n = s.seeds.expect("a finite plan");
        assert_eq!(Some(n), seeds_needed(s.effect, s.alpha_per_comparison, 0.8));
        let at = |n: usize| power(s.effect, n as f64, n as f64, s.alpha_per_comparison);
        assert!(at(n) >= 0.8, "{detect}/{sd}: power {} at {n}", at(n));
        if n > 2 {
            assert!(at(n - 1) < 0.8, "{detect}/{sd}: {n} - 1 suffices already");
        }
        let normal = s.seeds_normal.unwrap();
        assert!(normal <= n + 1, "the normal approximation {normal} vs {n}");
    }
}

#[test]
fn one_seed_now_has_no_power_and_no_detectable_difference() {
    let s = sample_size(&samples(), 1, 1.0, 0.05, 0.8, None).unwrap();
    assert_eq!(s.seeds_now, 1);
    assert!(s.power_now.is_nan());
    assert_eq!(s.mde_now, None);
}

#[test]
fn the_detectable_difference_now_is_in_points_and_scales_with_the_sd() {
    let at = |sd: f64| {
        sample_size(&samples(), 5, 1.0, 0.05, 0.8, Some(sd))
            .unwrap()
            .mde_now
            .unwrap()
    };
    close(at(0.6), 2.0 * at(0.3), 1e-9);
    close(at(0.3), 0.3 * mde(5, 5, 0.025, 0.8).unwrap(), 1e-12);
    let s = sample_size(&samples(), 5, at(0.3), 0.05, 0.8, Some(0.3)).unwrap();
    close(s.power_now, 0.8, 1e-6);
}

#[test]
fn an_absurdly_small_difference_needs_more_than_a_million_seeds() {
    let s = sample_size(&samples(), 3, 1e-6, 0.05, 0.8, Some(1.0)).unwrap();
    assert_eq!(s.seeds, None);
}

#[test]
fn steins_interval_is_never_wider_than_asked_and_never_below_the_pilot() {
    let pilots: [&[f64]; 4] = [
        &[90.0, 90.5, 89.7],
        &[85.0, 88.0, 84.0, 86.5],
        &[90.0, 90.0],
        &[70.0, 75.0, 72.0, 71.0, 77.0],
    ];
    for pilot in pilots {
        for w in [0.1, 0.5, 2.0] {
            let s = stein::total_n(pilot, w, 0.05).unwrap();
            assert!(s.total_n >= pilot.len(), "{pilot:?} {w}: {s:?}");
            assert!(s.halfwidth() <= w + 1e-12, "{pilot:?} {w}: {s:?}");
            // One seed fewer (above the pilot) would not do.
            if s.total_n > pilot.len() {
                let fewer = s.t * s.pilot_sd / ((s.total_n - 1) as f64).sqrt();
                assert!(fewer > w, "{pilot:?} {w}: {s:?}");
            }
        }
    }
}

#[test]
fn steins_n_grows_with_the_pilots_spread_and_shrinks_with_the_width() {
    let narrow = stein::total_n(&[90.0, 90.2, 89.9], 0.2, 0.05).unwrap();
    let wide = stein::total_n(&[90.0, 91.2, 88.9], 0.2, 0.05).unwrap();
    assert!(wide.total_n > narrow.total_n, "{narrow:?} {wide:?}");
    let looser = stein::total_n(&[90.0, 91.2, 88.9], 0.8, 0.05).unwrap();
    assert!(looser.total_n < wide.total_n, "{looser:?} {wide:?}");
    let stricter = stein::total_n(&[90.0, 91.2, 88.9], 0.2, 0.01).unwrap();
    assert!(stricter.total_n > wide.total_n, "{stricter:?} {wide:?}");
}

#[test]
fn steins_rule_refuses_an_absurd_number_of_seeds() {
    let e = stein::total_n(&[50.0, 90.0], 0.01, 0.05).unwrap_err();
    assert!(matches!(e, stein::SteinError::TooMany(_)), "{e:?}");
    assert!(e.to_string().contains("pilot sd too large"), "{e}");
}

#[test]
fn a_band_over_equal_runs_is_the_summary_of_each_step() {
    let runs = vec![
        vec![(1, 80.0), (2, 85.0), (3, 88.0)],
        vec![(1, 82.0), (2, 86.0), (3, 89.5)],
        vec![(1, 79.0), (2, 86.5), (3, 88.2)],
    ];
    let (points, skipped) = band(&runs);
    assert_eq!(skipped, 0);
    assert_eq!(points.len(), 3);
    for (i, p) in points.iter().enumerate() {
        let xs: Vec<f64> = runs.iter().map(|r| r[i].1).collect();
        let s = summarize(&xs).unwrap();
        assert_eq!(p.step, i as u32 + 1);
        assert_eq!(p.n, 3);
        assert_eq!(p.mean, s.mean);
        assert_eq!(p.sd, Some(s.std));
    }
}

#[test]
fn a_band_of_one_run_has_a_mean_and_no_spread() {
    let (points, _) = band(&[vec![(1, 80.0), (2, 85.0)]]);
    assert_eq!(points.len(), 2);
    assert!(points.iter().all(|p| p.n == 1 && p.sd.is_none()));
    assert_eq!(points[1].mean, 85.0);
    let (empty, skipped) = band(&[]);
    assert!(empty.is_empty());
    assert_eq!(skipped, 0);
}
