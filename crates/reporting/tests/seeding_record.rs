//! The seeding record (`runs/<experiment>/seeding.json`): Stein's decision round trips,
//! reports its line, and a bad record is refused naming the file.

use reporting::seeding::{self, SeedingDecision, SeedingError, SeedingRule, VariantSeeding};

#[test]
fn seeding_decision_round_trips_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(seeding::read(dir.path()).unwrap(), None);
    let pilots = vec![
        ("base".to_string(), vec![90.1, 90.4, 89.8]),
        ("flip".to_string(), vec![90.5, 90.2, 90.9]),
    ];
    let d = seeding::decide(&pilots, 0.5, 0.05).unwrap();
    assert_eq!(d.rule, SeedingRule::Stein);
    assert_eq!(d.n0, 3);
    assert_eq!(d.variants.len(), 2);
    assert_eq!(
        d.max_n(),
        d.variants.iter().map(|v| v.total_n).max().unwrap()
    );
    assert_eq!(d.total_n("flip"), Some(d.variants[1].total_n));
    seeding::write(dir.path(), &d).unwrap();
    assert_eq!(seeding::read(dir.path()).unwrap(), Some(d.clone()));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![contract::layout::SEEDING.to_string()]);
    let line = seeding::report_line(Some(&d), 3);
    assert!(
        line.starts_with("n decided by Stein's two-stage rule (pilot n0=3, W=0.5, 95% interval)"),
        "{line}"
    );
    assert_eq!(
        seeding::report_line(None, 5),
        "n fixed in advance at 5 per variant (not by Stein's rule)"
    );
}

#[test]
fn unreadable_seeding_record_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(contract::layout::SEEDING), "{not json").unwrap();
    let err = seeding::read(dir.path()).unwrap_err();
    assert!(matches!(err, SeedingError::BadRecord { .. }));
    assert!(err.to_string().contains("seeding.json"), "{err}");
    // Unknown fields are refused, not dropped.
    let d = SeedingDecision {
        rule: SeedingRule::Stein,
        n0: 2,
        halfwidth: 0.2,
        alpha: 0.05,
        variants: vec![VariantSeeding {
            variant: "a".into(),
            pilot_sd: 0.1,
            total_n: 3,
        }],
    };
    let mut v = serde_json::to_value(&d).unwrap();
    v["extra"] = serde_json::json!(1);
    std::fs::write(dir.path().join(contract::layout::SEEDING), v.to_string()).unwrap();
    assert!(seeding::read(dir.path()).is_err());
}
