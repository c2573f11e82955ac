//! `reporting::archive::export` (`harness export records`): records land in the target,
//! and one experiment folder's side files are never replaced by those of another protocol.

use contract::layout::{ESTIMATE, LATENCY};
use reporting::archive::export;
use spec::cost::{Kept, keep};
use store::Store;

fn kept(sets: &[&str], estimated_s: f64) -> Kept {
    Kept {
        estimated_s,
        trials: 2,
        jobs: 1,
        threads: 1,
        device: "cpu".into(),
        actual_s: None,
        plan: Vec::new(),
        skipped: Vec::new(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        seeds: Some(2),
    }
}

#[test]
fn side_files_of_another_protocol_are_kept_and_said_those_of_the_same_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (_, experiment) = fixtures::experiment(dir.path());
    let (from, to) = (
        Store::new(dir.path().join("runs")),
        Store::new(dir.path().join("results")),
    );
    let record = fixtures::record(&experiment, &experiment.variants[0].name, 0, &[70.0, 80.0]);
    fixtures::write_record(&from, &record).unwrap();
    let (src, dst) = (
        from.experiment_dir(&experiment.name),
        to.experiment_dir(&experiment.name),
    );
    // The target holds another protocol's estimate and latency file.
    keep(&dst, &kept(&["epochs=9"], 100.0)).unwrap();
    std::fs::write(dst.join(LATENCY), "{\"target\": true}").unwrap();
    keep(&src, &kept(&["epochs=12", "precision=bf16"], 500.0)).unwrap();
    std::fs::write(src.join(LATENCY), "{\"source\": true}").unwrap();
    let held = |name: &str| std::fs::read_to_string(dst.join(name)).unwrap();
    let (estimate_before, latency_before) = (held(ESTIMATE), held(LATENCY));

    let done = export(&from, std::slice::from_ref(&experiment), &to).unwrap();
    assert_eq!(done.copied, vec![record.id.clone()]);
    assert!(done.side_files.is_empty(), "{:?}", done.side_files);
    assert_eq!(held(ESTIMATE), estimate_before);
    assert_eq!(held(LATENCY), latency_before);
    assert_eq!(done.warnings.len(), 1, "{:?}", done.warnings);
    for name in [ESTIMATE, LATENCY] {
        assert!(
            done.warnings[0].contains(name)
                && done.warnings[0].contains("kept")
                && done.warnings[0].contains("another run"),
            "{name}: {:?}",
            done.warnings
        );
    }

    // The same protocol run again: its estimate and latency replace the target's.
    keep(&src, &kept(&["epochs=9"], 120.0)).unwrap();
    let again = export(&from, std::slice::from_ref(&experiment), &to).unwrap();
    assert_eq!(again.unchanged, 1);
    assert_eq!(
        again.side_files,
        vec![dst.join(ESTIMATE), dst.join(LATENCY)]
    );
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    assert_eq!(spec::cost::kept(&dst).unwrap().estimated_s, 120.0);
    assert_eq!(held(LATENCY), "{\"source\": true}");

    // An unreadable estimate in the target is replaced, and said.
    std::fs::write(dst.join(ESTIMATE), "{ not json").unwrap();
    std::fs::write(dst.join(LATENCY), "{\"target\": true}").unwrap();
    let repaired = export(&from, std::slice::from_ref(&experiment), &to).unwrap();
    assert_eq!(repaired.side_files.len(), 2, "{:?}", repaired.side_files);
    assert!(
        repaired
            .warnings
            .iter()
            .any(|w| w.contains(ESTIMATE) && w.contains("replaced")),
        "{:?}",
        repaired.warnings
    );

    // A target with no side files gets the source's.
    let empty = Store::new(dir.path().join("fresh"));
    let fresh = export(&from, std::slice::from_ref(&experiment), &empty).unwrap();
    assert_eq!(fresh.side_files.len(), 2, "{:?}", fresh.side_files);
    assert!(fresh.warnings.is_empty(), "{:?}", fresh.warnings);
}
