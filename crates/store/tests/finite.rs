//! Non-finite numbers read back: every `f64` of the trainer's metrics, timings, events and
//! results and of the trial record survives a JSON (and RON) round trip holding NaN, +inf
//! or -inf, through `contract::finite`.

use contract::EpochMetrics;
use contract::Event;
use contract::Latency;
use contract::Provenance;
use contract::Status;
use contract::Timing;
use contract::TrialResult;
use contract::record::RECORD_FORMAT;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::record::TrialRecord;
use trainer::TrialConfig;

const SPECIALS: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// Equal, NaN included (bit patterns of infinities and finite values must match).
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn json_round_trip<T: Serialize + DeserializeOwned>(value: &T) -> (T, String) {
    let text = serde_json::to_string(value).unwrap();
    let back: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("does not read back: {e}: {text}"));
    // Writing what was read gives the same text.
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    (back, text)
}

fn metrics(x: f64) -> EpochMetrics {
    EpochMetrics {
        epoch: 2,
        lr: x,
        train_loss_mean: x,
        train_loss_sum: x,
        test_loss: x,
        test_accuracy: x,
        train_time_s: x,
        eval_time_s: x,
        images_per_s: x,
    }
}

fn metric_fields(m: &EpochMetrics) -> [f64; 8] {
    [
        m.lr,
        m.train_loss_mean,
        m.train_loss_sum,
        m.test_loss,
        m.test_accuracy,
        m.train_time_s,
        m.eval_time_s,
        m.images_per_s,
    ]
}

fn latency(x: f64) -> Latency {
    let timing = |batch| Timing {
        batch,
        runs: 5,
        median_ms: x,
        p95_ms: x,
    };
    Latency {
        batch1: timing(1),
        eval: timing(256),
    }
}

fn latency_fields(l: &Latency) -> [f64; 4] {
    [
        l.batch1.median_ms,
        l.batch1.p95_ms,
        l.eval.median_ms,
        l.eval.p95_ms,
    ]
}

fn record(x: f64) -> TrialRecord {
    let config = TrialConfig::default();
    TrialRecord {
        format: RECORD_FORMAT,
        id: "a".repeat(64),
        config_digest: store::id::config_digest(&config),
        experiment: "e".into(),
        variant: "v".into(),
        seed: 1,
        dataset_digest: "d".into(),
        config,
        status: Status::Diverged { epoch: 2, batch: 7 },
        parameters: 10,
        study_parameters: None,
        final_accuracy: Some(x),
        best_accuracy: Some(x),
        best_epoch: Some(1),
        train_loss_sum: Some(x),
        latency: Some(latency(x)),
        epochs: vec![metrics(x), metrics(x)],
        wall_time_s: x,
        provenance: Provenance {
            harness_version: "0".into(),
            git_commit: "c".into(),
            git_dirty: false,
            tch_version: "0.24.0".into(),
            libtorch_version: "2.11.0".into(),
            cuda: "none".into(),
            device: "cpu".into(),
            device_name: "cpu".into(),
            threads: 1,
            host: "h".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:01Z".into(),
        },
    }
}

#[test]
fn epoch_metrics_timings_and_results_keep_nan_and_infinities() {
    for x in SPECIALS {
        let (back, text) = json_round_trip(&metrics(x));
        assert!(metric_fields(&back).iter().all(|&v| same(v, x)), "{text}");

        let (back, text) = json_round_trip(&latency(x));
        assert!(latency_fields(&back).iter().all(|&v| same(v, x)), "{text}");

        let result = TrialResult {
            status: Status::Diverged { epoch: 1, batch: 0 },
            parameters: 3,
            epochs: vec![metrics(x)],
            latency: Some(latency(x)),
            wall_time_s: x,
        };
        let (back, text) = json_round_trip(&result);
        assert!(same(back.wall_time_s, x), "{text}");
        assert!(metric_fields(&back.epochs[0]).iter().all(|&v| same(v, x)));
        assert!(
            latency_fields(back.latency.as_ref().unwrap())
                .iter()
                .all(|&v| same(v, x))
        );
    }
}

#[test]
fn every_event_payload_keeps_nan_and_infinities() {
    for x in SPECIALS {
        let events = [
            Event::EpochStarted { epoch: 1, lr: x },
            Event::Batch {
                epoch: 1,
                batch: 3,
                batches: 8,
                loss: x,
                images_per_s: x,
            },
            Event::Epoch(metrics(x)),
            Event::Latency(latency(x)),
            Event::Finished {
                status: Status::Diverged { epoch: 1, batch: 3 },
                wall_time_s: x,
            },
        ];
        for event in events {
            let (back, text) = json_round_trip(&event);
            let values: Vec<f64> = match back {
                Event::EpochStarted { lr, .. } => vec![lr],
                Event::Batch {
                    loss, images_per_s, ..
                } => vec![loss, images_per_s],
                Event::Epoch(m) => metric_fields(&m).to_vec(),
                Event::Latency(l) => latency_fields(&l).to_vec(),
                Event::Finished { wall_time_s, .. } => vec![wall_time_s],
                other => panic!("came back as another event: {other:?}"),
            };
            assert!(values.iter().all(|&v| same(v, x)), "{text}");
        }
    }
}

#[test]
fn trial_records_keep_nan_and_infinities_in_every_number() {
    for x in SPECIALS {
        let (back, text) = json_round_trip(&record(x));
        for v in [
            back.final_accuracy.unwrap(),
            back.best_accuracy.unwrap(),
            back.train_loss_sum.unwrap(),
            back.wall_time_s,
        ]
        .into_iter()
        .chain(latency_fields(back.latency.as_ref().unwrap()))
        .chain(back.epochs.iter().flat_map(metric_fields))
        {
            assert!(same(v, x), "{text}");
        }
        // Pretty JSON, as summary.json is written, reads back too.
        let pretty = serde_json::to_string_pretty(&record(x)).unwrap();
        let back: TrialRecord = serde_json::from_str(&pretty).unwrap();
        assert!(same(back.wall_time_s, x));
    }
    // Absent optional numbers stay null.
    let mut r = record(1.5);
    r.final_accuracy = None;
    let (back, text) = json_round_trip(&r);
    assert_eq!(back.final_accuracy, None);
    assert!(text.contains("\"final_accuracy\":null"), "{text}");
    assert_eq!(back, r, "finite records round-trip exactly");
}

#[test]
fn non_finite_values_are_written_as_named_strings_and_finite_ones_as_numbers() {
    let text = serde_json::to_string(&Event::Batch {
        epoch: 1,
        batch: 1,
        batches: 2,
        loss: f64::NAN,
        images_per_s: 12.5,
    })
    .unwrap();
    assert!(text.contains("\"loss\":\"NaN\""), "{text}");
    assert!(text.contains("\"images_per_s\":12.5"), "{text}");
    let text = serde_json::to_string(&record(f64::NEG_INFINITY)).unwrap();
    assert!(text.contains("\"wall_time_s\":\"-inf\""), "{text}");
    assert!(text.contains("\"final_accuracy\":\"-inf\""), "{text}");
    let text = serde_json::to_string(&metrics(f64::INFINITY)).unwrap();
    assert!(text.contains("\"test_loss\":\"inf\""), "{text}");
}

#[test]
fn null_for_a_number_is_an_error_naming_what_was_expected() {
    // What serde_json wrote for NaN before: it must not read as a number.
    let mut value = serde_json::to_value(metrics(1.0)).unwrap();
    value["test_loss"] = serde_json::Value::Null;
    let err = serde_json::from_value::<EpochMetrics>(value).unwrap_err();
    assert!(err.to_string().contains("\"NaN\""), "{err}");
    let mut value = serde_json::to_value(metrics(1.0)).unwrap();
    value["lr"] = serde_json::Value::String("fast".into());
    let err = serde_json::from_value::<EpochMetrics>(value).unwrap_err();
    assert!(err.to_string().contains("fast"), "{err}");
}

#[test]
fn ron_round_trips_non_finite_values_too() {
    for x in SPECIALS {
        let text = ron::to_string(&metrics(x)).unwrap();
        let back: EpochMetrics = ron::from_str(&text).unwrap();
        assert!(metric_fields(&back).iter().all(|&v| same(v, x)), "{text}");
        let text = ron::to_string(&record(x)).unwrap();
        let back: TrialRecord = ron::from_str(&text).unwrap();
        assert!(same(back.final_accuracy.unwrap(), x), "{text}");
        assert!(same(back.wall_time_s, x), "{text}");
    }
    let back: TrialRecord = ron::from_str(&ron::to_string(&record(2.0)).unwrap()).unwrap();
    assert_eq!(back, record(2.0));
}
