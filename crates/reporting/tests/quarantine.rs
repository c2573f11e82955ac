//! A report is written from what the store can use: a garbage record beside a good one is
//! quarantined by the store's scan and the report shows the good trial, and a record that
//! another experiment ran with this experiment's settings is in this experiment's report.

use reporting::report::{Extras, render, write_report};
use store::Store;

#[test]
fn the_report_carries_on_from_the_usable_records_of_any_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let (_, experiment) = fixtures::experiment(dir.path());
    let store = Store::new(dir.path().join("runs"));
    let variant = experiment.variants[0].name.clone();
    let mut shared = fixtures::record(&experiment, &variant, 0, &[70.0, 80.0]);
    shared.experiment = "another".into();
    fixtures::write_record(&store, &shared).unwrap();
    // A trial folder whose record is garbage, under a well-formed id.
    let garbage = fixtures::record(&experiment, &variant, 1, &[75.0]);
    fixtures::write_record(&store, &garbage).unwrap();
    std::fs::write(
        store.trial_dir(&garbage.id).join("summary.json"),
        "{ not a record",
    )
    .unwrap();

    let found = store.records_for(&experiment.membership()).unwrap();
    assert_eq!(found.quarantined.len(), 1, "{:?}", found.quarantined);
    assert_eq!(found.records.len(), 1);
    let written = write_report(
        &experiment,
        &found.records,
        &Extras::default(),
        &dir.path().join("reports"),
    )
    .unwrap();
    let text = std::fs::read_to_string(written).unwrap();
    assert!(text.contains("80.00"), "{text}");
    let rendered = render(&experiment, &found.records, &Extras::default());
    assert!(rendered.contains(&format!("| {variant}")), "{rendered}");
}
