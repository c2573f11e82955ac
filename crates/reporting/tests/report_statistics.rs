//! The report's statistics from hand-built trial records: Holm-adjusted verdicts with the
//! number of comparisons, P(variant > baseline), the minimum detectable effect, the spread
//! table, the README's subset of columns, the seeding line, and the reliability cases (an
//! all-diverged baseline, constant samples at n = 2, absurd values).

use contract::EpochMetrics;
use contract::Provenance;
use contract::Status;
use contract::record::RECORD_FORMAT;
use reporting::report::{self, Columns};
use reporting::seeding;
use spec::Experiment;
use statistics::Verdict;
use store::id;
use store::record::TrialRecord;

const RON: &str = r#"
Experiment(
    name: "multi",
    title: "Four variants",
    seeds: 4,
    baseline: "base",
    base: (
        model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
        optimizer: (name: adam, lr: 0.01),
        epochs: 1,
        batch_size: 64,
        eval_batch_size: 128,
        data: (train_limit: 512, test_limit: 256),
    ),
    variants: [
        (name: "base"),
        (name: "big", set: {"model.channels": "8"}),
        (name: "same", set: {"model.dropout": "0.3"}),
        (name: "lr", set: {"optimizer.lr": "0.02"}),
    ],
)
"#;

fn experiment(dir: &std::path::Path) -> Experiment {
    let path = dir.join("multi.ron");
    std::fs::write(&path, RON).unwrap();
    spec::config::load(&path, &[]).unwrap()
}

fn record(e: &Experiment, variant: &str, seed: u64, accuracy: f64) -> TrialRecord {
    let config = e.variant(variant).unwrap().trial.config().clone();
    let dataset_digest = "d".repeat(64);
    TrialRecord {
        format: RECORD_FORMAT,
        id: id::trial_id(&config, seed, &dataset_digest),
        config_digest: id::config_digest(&config),
        experiment: e.name.clone(),
        variant: variant.into(),
        seed,
        dataset_digest,
        config,
        status: Status::Finished,
        parameters: 1000,
        study_parameters: None,
        final_accuracy: Some(accuracy),
        best_accuracy: Some(accuracy),
        best_epoch: Some(1),
        train_loss_sum: Some(10.0),
        latency: None,
        epochs: vec![EpochMetrics {
            epoch: 1,
            lr: 0.01,
            train_loss_mean: 1.0,
            train_loss_sum: 10.0,
            test_loss: 1.0,
            test_accuracy: accuracy,
            train_time_s: 1.0,
            eval_time_s: 1.0,
            images_per_s: 100.0,
        }],
        wall_time_s: 2.0,
        provenance: Provenance {
            harness_version: "0.1.0".into(),
            git_commit: "0123456789abcdef".into(),
            git_dirty: false,
            tch_version: "0.24.0".into(),
            libtorch_version: "2.11.0".into(),
            cuda: "none".into(),
            device: "cpu".into(),
            device_name: "test".into(),
            threads: 1,
            host: "test".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:02Z".into(),
        },
    }
}

fn diverged(mut r: TrialRecord) -> TrialRecord {
    r.status = Status::Diverged { epoch: 1, batch: 3 };
    r.final_accuracy = None;
    r
}

fn records(e: &Experiment, rows: &[(&str, &[f64])]) -> Vec<TrialRecord> {
    rows.iter()
        .flat_map(|(v, accs)| {
            accs.iter()
                .enumerate()
                .map(|(seed, a)| record(e, v, seed as u64, *a))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn holm_adjusts_the_verdicts_of_several_variants() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let recs = records(
        &e,
        &[
            ("base", &[90.0, 90.3, 89.8, 90.1]),
            ("big", &[91.0, 91.3, 90.9, 91.2]),
            ("same", &[90.1, 90.0, 89.9, 90.3]),
            ("lr", &[90.2, 90.6, 90.1, 90.7]),
        ],
    );
    let selected = report::select(&e, &recs);
    let stats = report::statistics(&e, &selected);
    assert_eq!(report::comparisons_corrected(&stats), 3);
    let raw: Vec<f64> = stats[1..]
        .iter()
        .map(|s| s.versus_baseline.unwrap().p_value)
        .collect();
    let expected = statistics::holm(&raw);
    for (s, p) in stats[1..].iter().zip(&expected) {
        assert_eq!(s.adjusted.unwrap().p_value, *p);
        assert!(s.adjusted.unwrap().p_value >= s.versus_baseline.unwrap().p_value);
    }
    assert_eq!(stats[1].adjusted.unwrap().verdict, Verdict::Higher);
    assert_eq!(stats[0].adjusted, None, "the baseline is not compared");
    // P(big > base) = 1: every seed of big beats every seed of base.
    let p = stats[1].prob_improvement.unwrap();
    assert_eq!(p.p, 1.0);
    // Complete separation at 4 vs 4 seeds: exact two-sided p = 2 / C(8, 4).
    assert!((p.exact_p.unwrap() - 2.0 / 70.0).abs() < 1e-12);
    assert!(stats[2].mde.unwrap() > 0.0);
    // The MDE uses the verdict's own test: Welch's se and df, α / m for the family of 3.
    let base = [90.0, 90.3, 89.8, 90.1];
    let same = [90.1, 90.0, 89.9, 90.3];
    let c = statistics::welch(&base, &same).unwrap();
    let expected = statistics::power::welch_mde(c.se, c.df, 0.05 / 3.0, 0.8).unwrap();
    assert!(
        (stats[2].mde.unwrap() - expected).abs() < 1e-12,
        "{:?}",
        stats[2].mde
    );
    let sd = stats[0].sd_ci.unwrap();
    let a = stats[0].accuracy.unwrap();
    assert!(sd.0 < a.std && a.std < sd.1);

    let full = report::render(&e, &recs, &report::Extras::default());
    assert!(
        full.contains("| p (Welch) | p (Holm, 3) | P(> base) (exact p) | MDE | verdict |"),
        "{full}"
    );
    assert!(full.contains("corrected for 3 comparisons"), "{full}");
    // The P(>) cell names its exact p once: `1.00 (p=0.029)`, never `(p=p=0.029)`.
    assert!(full.contains("| 1.00 (p=0.029) |"), "{full}");
    assert!(!full.contains("p=p="), "{full}");
    // One thread is "1 thread".
    assert!(full.contains("- Device: cpu (test, 1 thread)\n"), "{full}");
    assert!(full.contains("higher (Holm p"), "{full}");
    assert!(full.contains("could detect ≥ "), "{full}");
    assert!(full.contains("## Spread across seeds"), "{full}");
    assert!(full.contains("| base | 4 | "), "{full}");
    assert!(
        full.contains("- Seeds: n fixed in advance at 4 per variant (not by Stein's rule)"),
        "{full}"
    );
    // Byte-identical from the same store.
    assert_eq!(full, report::render(&e, &recs, &report::Extras::default()));
    // A variant whose trials come from two commits says so, counted in words.
    let mut mixed = recs.clone();
    mixed[0].provenance.git_commit = "fedcba9876543210".into();
    let out = report::render(&e, &mixed, &report::Extras::default());
    assert!(
        out.contains(
            "- Note: variant `base` pools trials from 1 device and 2 commits (same configuration)."
        ),
        "{out}"
    );

    let readme = report::readme_section(&e, &recs, &report::Extras::default());
    assert!(
        readme.contains("| p (Holm, 3) | P(> base) | verdict |"),
        "{readme}"
    );
    assert!(!readme.contains("p (Welch)"), "{readme}");
    assert!(!readme.contains("| MDE |"), "{readme}");
    // Every row has as many cells as the header.
    for table in [
        report::table_with(&e, &selected, &stats, Columns::Full),
        report::table_with(&e, &selected, &stats, Columns::Readme),
    ] {
        let header = table.lines().next().unwrap().matches('|').count();
        for line in table.lines().skip(1) {
            assert_eq!(line.matches('|').count(), header, "{line}");
        }
    }
}

#[test]
fn all_diverged_baseline_does_not_hide_the_variants() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let mut recs = records(&e, &[("big", &[91.0, 91.3, 90.9]), ("same", &[90.1, 90.0])]);
    recs.push(diverged(record(&e, "base", 0, 0.0)));
    recs.push(diverged(record(&e, "base", 1, 0.0)));
    recs.push(diverged(record(&e, "lr", 0, 0.0)));
    let out = report::render(&e, &recs, &report::Extras::default());
    assert!(
        out.contains("91.07 ± 0.21"),
        "big's own statistics stay: {out}"
    );
    assert!(
        out.contains("no comparison: every baseline trial diverged"),
        "{out}"
    );
    assert!(out.contains("no comparison: every trial diverged"), "{out}");
    assert!(out.contains("| 0 (+2 diverged) |"), "{out}");
    assert!(
        out.contains("No comparison with the baseline could be tested."),
        "{out}"
    );
}

#[test]
fn constant_samples_at_two_seeds_claim_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let recs = records(&e, &[("base", &[90.0, 90.0]), ("big", &[91.0, 91.0])]);
    let out = report::render(&e, &recs, &report::Extras::default());
    assert!(!out.contains("p<0.001"), "{out}");
    assert!(
        out.contains("cannot tell: neither varies across seeds (n=2 vs 2)"),
        "{out}"
    );
}

#[test]
fn one_seed_and_absurd_values_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let recs = records(
        &e,
        &[
            ("base", &[90.0]),
            ("big", &[1e308, -1e308]),
            ("same", &[-1e308, -1e308, 1e308]),
            ("lr", &[90.0, 91.0]),
        ],
    );
    let out = report::render(&e, &recs, &report::Extras::default());
    assert!(out.contains("too few trials (n=1 vs 2)"), "{out}");
    let readme = report::readme_section(&e, &recs, &report::Extras::default());
    assert!(readme.contains("| base |"));
}

#[test]
fn stein_decision_shows_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let recs = records(
        &e,
        &[
            ("base", &[90.0, 90.3, 89.8, 90.1]),
            ("big", &[91.0, 91.3, 90.9]),
        ],
    );
    let pilots = vec![
        ("base".to_string(), vec![90.0, 90.3, 89.8]),
        ("big".to_string(), vec![91.0, 91.3, 90.9]),
    ];
    let d = seeding::decide(&pilots, 2.0, 0.05).unwrap();
    let out = report::render(
        &e,
        &recs,
        &report::Extras {
            seeding: Some(d.clone()),
            ..Default::default()
        },
    );
    assert!(
        out.contains("- Seeds: n decided by Stein's two-stage rule (pilot n0=3, W=2"),
        "{out}"
    );
    assert!(out.contains("## Seeding"), "{out}");
    assert!(out.contains("Stein 95% interval"), "{out}");
}

/// A report of an experiment with nothing recorded yet states the planned settings, as
/// planned, instead of blanks.
#[test]
fn a_report_with_no_trials_states_the_planned_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let out = report::render(&e, &[], &report::Extras::default());
    let epochs = e.baseline_variant().trial.config().epochs;
    assert!(
        out.contains(&format!(
            "- Epochs: {epochs} (as planned; no trial recorded yet)"
        )),
        "{out}"
    );
    let readme = report::readme_section(&e, &[], &report::Extras::default());
    assert!(
        readme.contains("no trial recorded yet (planned: "),
        "{readme}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Over random samples of 2 to 6 seeds per variant, the verdict cell that the report
    /// writes never puts "no detectable difference" beside a difference at least as large as
    /// the MDE it prints (and the MDE is the verdict's own Welch test's).
    #[test]
    fn no_row_shows_a_difference_beyond_its_mde_as_undetected(
        samples in proptest::collection::vec(
            proptest::collection::vec(70.0f64..95.0, 2..7),
            4,
        ),
        shifts in proptest::collection::vec(-6.0f64..6.0, 4),
        spread in 0.01f64..3.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let e = experiment(dir.path());
        let names = ["base", "big", "same", "lr"];
        let rows: Vec<(&str, Vec<f64>)> = names
            .iter()
            .zip(&samples)
            .zip(&shifts)
            .map(|((n, xs), s)| {
                (*n, xs.iter().map(|x| 85.0 + (x - 82.5) * spread / 12.5 + s).collect())
            })
            .collect();
        let borrowed: Vec<(&str, &[f64])> = rows.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        let recs = records(&e, &borrowed);
        let selected = report::select(&e, &recs);
        let stats = report::statistics(&e, &selected);
        let corrected = report::comparisons_corrected(&stats);
        for (t, s) in selected.iter().zip(&stats).skip(1) {
            let cell = report::verdict_cell(&e, &selected, t, s, corrected);
            if let (Some(mde), Some(c)) = (s.mde, s.versus_baseline) {
                proptest::prop_assert!(
                    !(c.diff.abs() >= mde && cell.contains("no detectable difference")),
                    "Δ {} ≥ MDE {mde}: {cell}",
                    c.diff
                );
            }
        }
    }
}

/// The agreement line comes from the study's published accuracies in the experiment file:
/// each comparison whose sign is the study's counts, the others are named.
#[test]
fn the_agreement_line_counts_the_comparisons_that_point_the_studys_way() {
    let dir = tempfile::tempdir().unwrap();
    let text = RON
        .replace(
            r#"(name: "base"),"#,
            r#"(name: "base", study: (accuracy: 90.0)),"#,
        )
        .replace(
            r#"(name: "big", set: {"model.channels": "8"}),"#,
            r#"(name: "big", set: {"model.channels": "8"}, study: (accuracy: 91.0)),"#,
        )
        .replace(
            r#"(name: "same", set: {"model.dropout": "0.3"}),"#,
            r#"(name: "same", set: {"model.dropout": "0.3"}, study: (accuracy: 91.0)),"#,
        );
    let path = dir.path().join("multi.ron");
    std::fs::write(&path, text).unwrap();
    let e = spec::config::load(&path, &[]).unwrap();
    let recs = records(
        &e,
        &[
            ("base", &[90.0, 90.3, 89.8, 90.1]),
            ("big", &[91.0, 91.3, 90.9, 91.2]),
            ("same", &[89.1, 89.0, 88.9, 89.3]),
            ("lr", &[90.2, 90.6, 90.1, 90.7]),
        ],
    );
    let selected = report::select(&e, &recs);
    let stats = report::statistics(&e, &selected);
    let a = report::agreement(&e, &selected, &stats).unwrap();
    // `lr` has no published figure, so it is not a comparison with the study.
    assert_eq!((a.agree, a.compared), (1, 2));
    assert_eq!(a.against, ["same"]);
    assert_eq!(
        a.line(),
        "agrees with the study in direction: 1 of 2 comparison(s) with the baseline (the other way: `same`)"
    );
    let full = report::render(&e, &recs, &report::Extras::default());
    assert!(
        full.contains("| +1.00 |"),
        "the study's Δ of big beside ours"
    );
    // The baseline's schedule beside the study's (1 epoch: no step is reached).
    assert!(
        full.contains(", the baseline's learning rate constant; the study: 60,000 × 30 (7,050 steps), x0.1 after epoch 10, 20. "),
        "{full}"
    );
    assert!(
        full.contains("Agrees with the study in direction: 1 of 2"),
        "{full}"
    );
}

/// A row whose trials have other settings than the file's (⚠, shown because the store has
/// none with the exact ones) is not compared: its Δ would mix the variant's effect with the
/// settings'. When it is the baseline, no row is compared.
#[test]
fn rows_with_other_settings_are_shown_but_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let e = experiment(dir.path());
    let other = |mut r: TrialRecord| {
        r.config.epochs += 1;
        r.config_digest = id::config_digest(&r.config);
        r.id = id::trial_id(&r.config, r.seed, &r.dataset_digest);
        r
    };
    let mut recs = records(
        &e,
        &[
            ("base", &[90.0, 90.3, 89.8, 90.1]),
            ("big", &[91.0, 91.3, 90.9, 91.2]),
            ("same", &[90.1, 90.0, 89.9, 90.3]),
        ],
    );
    for r in recs.iter_mut().filter(|r| r.variant == "big") {
        *r = other(r.clone());
    }
    let selected = report::select(&e, &recs);
    let stats = report::statistics(&e, &selected);
    assert!(selected[1].settings_differ && !selected[2].settings_differ);
    assert_eq!(stats[1].adjusted, None, "big is not compared");
    assert!(stats[2].adjusted.is_some(), "same is");
    let full = report::render(&e, &recs, &report::Extras::default());
    let row = full.lines().find(|l| l.starts_with("| big ⚠ |")).unwrap();
    assert!(row.contains(report::SETTINGS_DIFFER), "{row}");
    let readme = report::readme_section(&e, &recs, &report::Extras::default());
    assert!(
        readme.contains("\n⚠: the store has no trials of this row"),
        "{readme}"
    );

    // The baseline with other settings: no comparison at all.
    for r in recs.iter_mut().filter(|r| r.variant == "base") {
        *r = other(r.clone());
    }
    let selected = report::select(&e, &recs);
    let stats = report::statistics(&e, &selected);
    assert!(stats.iter().all(|s| s.adjusted.is_none()));
    let full = report::render(&e, &recs, &report::Extras::default());
    let row = full.lines().find(|l| l.starts_with("| same |")).unwrap();
    assert!(row.contains(report::BASELINE_SETTINGS_DIFFER), "{row}");
}

/// The README's section says the precision of its trials beside the device (fp32 sections
/// read as before), and links its full report in the folder it was written to.
#[test]
fn the_readme_section_names_a_lower_precision_and_links_its_reports_folder() {
    let dir = tempfile::tempdir().unwrap();
    let fp32_experiment = experiment(dir.path());
    let e = &fp32_experiment;
    let fp32: Vec<TrialRecord> = (0..2).map(|s| record(e, "base", s, 80.0)).collect();
    let readme = report::readme_section(e, &fp32, &report::Extras::default());
    assert!(
        readme.contains(", on cpu. Full report: [reports/multi.md](reports/multi.md)."),
        "{readme}"
    );

    let path = dir.path().join("bf16.ron");
    std::fs::write(
        &path,
        RON.replace("epochs: 1,", "epochs: 1,\n        precision: bf16,"),
    )
    .unwrap();
    let e = spec::config::load(&path, &[]).unwrap();
    let bf16: Vec<TrialRecord> = (0..2).map(|s| record(&e, "base", s, 80.0)).collect();
    let extras = report::Extras {
        report_dir: Some("reports/cpu-bf16".into()),
        ..Default::default()
    };
    let readme = report::readme_section(&e, &bf16, &extras);
    assert!(
        readme.contains(", on cpu in bf16 mixed precision. Full report: [reports/cpu-bf16/multi.md](reports/cpu-bf16/multi.md)."),
        "{readme}"
    );
    // A row shown at other settings (fp32, no bf16 trial of it) makes the section mixed.
    let mut mixed = bf16;
    mixed.push(record(&fp32_experiment, "big", 0, 81.0));
    let readme = report::readme_section(&e, &mixed, &report::Extras::default());
    assert!(
        readme.contains(", on cpu partly in bf16 mixed precision (the rest fp32)."),
        "{readme}"
    );
}
