//! The dashboard's ETA and the command line's estimate come from one model: an
//! experiment's cached estimate names the split its last run used, and
//! `cost::cached_trial_seconds` reads that split's calibration back. The test runs itself
//! again as a child process with `XDG_CACHE_HOME` pointing at a temporary folder, so that
//! the real cache is never touched.

use spec::cost::{self, Calibration, Kept, Rate};

const CHILD: &str = "COST_CACHE_TEST_CHILD";

#[test]
fn a_trial_is_estimated_from_the_calibration_of_the_experiments_last_split() {
    let cache = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_estimates_from_the_cache",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("COST-CACHE-OK"), "the child ran: {text}");
    assert!(
        cache.path().join("fmnist-harness/calibration").is_dir(),
        "the calibration went to the temporary cache"
    );
}

#[test]
#[ignore = "a child of a_trial_is_estimated_from_the_calibration_of_the_experiments_last_split"]
fn child_estimates_from_the_cache() {
    assert!(std::env::var_os(CHILD).is_some(), "run by its parent test");
    let cache = std::path::PathBuf::from(std::env::var_os("XDG_CACHE_HOME").unwrap());
    let runs = tempfile::tempdir().unwrap();
    let dir = runs.path().join("demo");
    let config = trainer::TrialConfig {
        epochs: 3,
        ..trainer::TrialConfig::default()
    };
    let mut limited = config.clone();
    limited.data.train_limit = Some(6000);
    limited.data.test_limit = Some(1000);

    assert_eq!(
        cost::cached_trial_seconds(&dir, &config),
        None,
        "no run yet"
    );
    cost::keep(
        &dir,
        &Kept {
            estimated_s: 100.0,
            trials: 1,
            jobs: 2,
            threads: 1,
            device: "cpu".into(),
            actual_s: None,
            plan: Vec::new(),
            skipped: Vec::new(),
            sets: Vec::new(),
            seeds: None,
        },
    )
    .unwrap();
    assert_eq!(
        cost::cached_trial_seconds(&dir, &config),
        None,
        "no calibration yet"
    );
    let rate = Rate {
        train_images_per_s: 1000.0,
        eval_images_per_s: 5000.0,
        latency_phase_s: 2.0,
        setup_s: 1.0,
        extrapolated_from_batch: None,
        measured_at: 0,
    };
    let mut calibration = Calibration::default();
    calibration
        .rates
        .insert(cost::workload_key(&config), rate.clone());
    let path = cost::cache_path("cpu", 1);
    assert!(path.starts_with(&cache), "{}", path.display());
    calibration.save(&path);
    // 3 epochs x (60,000 / 1,000 + 10,000 / 5,000) + 2 + 1.
    assert_eq!(cost::cached_trial_seconds(&dir, &config), Some(189.0));
    // The limits apply: 3 x (6 + 0.2) + 3.
    let limited_s = cost::cached_trial_seconds(&dir, &limited).unwrap();
    assert!((limited_s - 21.6).abs() < 1e-9, "{limited_s}");
    // Another split's calibration is not this one's.
    cost::keep(
        &dir,
        &Kept {
            threads: 2,
            ..cost::kept(&dir).unwrap()
        },
    )
    .unwrap();
    assert_eq!(cost::cached_trial_seconds(&dir, &config), None);
    println!("COST-CACHE-OK");
}
