//! Fixture stores for tests and demonstrations: trial records, running trials and their
//! files, written by hand with serde from the real types, so the dashboard can be shown a
//! store in any state without training anything.

use contract::layout::{EVENTS, LOG, TRIAL_START};
use spec::Experiment;
use std::io::Write;
use std::path::{Path, PathBuf};
use store::id;
use store::provenance::Provenance;
use store::record::RECORD_FORMAT;
use store::record::TrialRecord;
use store::{Claim, SUMMARY, Store, StoreError, write_atomic};
use trainer::{EpochMetrics, Event, Latency, Status, Timing, TrialConfig};

/// A small experiment (two variants, two seeds, two epochs), like `configs/smoke.ron`.
pub const EXPERIMENT_RON: &str = r#"
Experiment(
    name: "demo",
    title: "Demo experiment",
    seeds: 2,
    baseline: "base",
    base: (
        model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
        optimizer: (name: adam, lr: 0.01),
        epochs: 2,
        batch_size: 64,
        eval_batch_size: 128,
        data: (train_limit: 512, test_limit: 256),
    ),
    variants: [
        (name: "base", study: (accuracy: 84.5)),
        (name: "flip", set: {"augmentations": "[HorizontalFlip(p: 0.5)]"}, study: (accuracy: 85.0)),
    ],
)
"#;

/// [`EXPERIMENT_RON`] written as `dir/demo.ron` and loaded.
pub fn experiment(dir: &Path) -> (PathBuf, Experiment) {
    let path = dir.join("demo.ron");
    std::fs::write(&path, EXPERIMENT_RON).expect("writing the fixture config");
    let experiment = spec::config::load(&path, &[]).expect("the fixture config is valid");
    (path, experiment)
}

/// The metrics of epoch `epoch` reaching `accuracy`: 10 s of training at 51.2 img/s and
/// 2 s of evaluation.
pub fn epoch(epoch: u32, accuracy: f64) -> EpochMetrics {
    EpochMetrics {
        epoch,
        lr: 0.01,
        train_loss_mean: 1.0 / f64::from(epoch),
        train_loss_sum: 8.0 / f64::from(epoch),
        test_loss: 1.2 / f64::from(epoch),
        test_accuracy: accuracy,
        train_time_s: 10.0,
        eval_time_s: 2.0,
        images_per_s: 51.2,
    }
}

fn provenance() -> Provenance {
    Provenance {
        harness_version: "0.1.0".into(),
        git_commit: "0123456789abcdef".into(),
        git_dirty: false,
        tch_version: "0.24.0".into(),
        libtorch_version: "2.11.0".into(),
        cuda: "none".into(),
        device: "cpu".into(),
        device_name: "test cpu".into(),
        threads: 2,
        host: "fixture".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:30Z".into(),
    }
}

/// A finished record of `config` at `seed`, one epoch per accuracy, with 6 s of overhead
/// beyond its epochs.
pub fn record_with(
    experiment: &str,
    variant: &str,
    config: &TrialConfig,
    seed: u64,
    accuracies: &[f64],
) -> TrialRecord {
    let epochs: Vec<EpochMetrics> = accuracies
        .iter()
        .enumerate()
        .map(|(i, &a)| epoch(i as u32 + 1, a))
        .collect();
    let dataset_digest = data::canonical_digest();
    let last = epochs.last();
    TrialRecord {
        format: RECORD_FORMAT,
        id: id::trial_id(config, seed, &dataset_digest),
        config_digest: id::config_digest(config),
        experiment: experiment.into(),
        variant: variant.into(),
        seed,
        dataset_digest,
        config: config.clone(),
        status: Status::Finished,
        parameters: 1234,
        study_parameters: None,
        final_accuracy: last.map(|m| m.test_accuracy),
        best_accuracy: epochs.iter().map(|m| m.test_accuracy).reduce(f64::max),
        best_epoch: None,
        train_loss_sum: last.map(|m| m.train_loss_sum),
        latency: Some(Latency {
            batch1: Timing {
                batch: 1,
                runs: 50,
                median_ms: 0.5,
                p95_ms: 0.6,
            },
            eval: Timing {
                batch: 128,
                runs: 50,
                median_ms: 5.0,
                p95_ms: 6.0,
            },
        }),
        wall_time_s: epochs
            .iter()
            .map(|m| m.train_time_s + m.eval_time_s)
            .sum::<f64>()
            + 6.0,
        epochs,
        provenance: provenance(),
    }
}

/// A finished record of `variant` of `experiment` at `seed` (its real trial id).
pub fn record(
    experiment: &Experiment,
    variant: &str,
    seed: u64,
    accuracies: &[f64],
) -> TrialRecord {
    let config = experiment
        .variant(variant)
        .expect("the fixture names a variant")
        .trial
        .config();
    record_with(&experiment.name, variant, config, seed, accuracies)
}

/// Marks a record as diverged at `epoch`.
pub fn diverge(mut record: TrialRecord, epoch: u32) -> TrialRecord {
    record.status = Status::Diverged { epoch, batch: 3 };
    record.epochs.truncate(epoch.saturating_sub(1) as usize);
    record.final_accuracy = record.epochs.last().map(|m| m.test_accuracy);
    record.train_loss_sum = None;
    record.latency = None;
    record
}

/// Publishes `record` into the store, as a finished trial folder with a `train.log`.
pub fn write_record(store: &Store, record: &TrialRecord) -> Result<PathBuf, StoreError> {
    let dir = store.trial_dir(&record.id);
    let json = serde_json::to_string_pretty(record).expect("records serialise");
    write_atomic(&dir.join(SUMMARY), json.as_bytes())?;
    let mut log = format!(
        "trial {} ({} / seed {})\n",
        id::short(&record.id),
        record.variant,
        record.seed
    );
    for m in &record.epochs {
        log.push_str(&format!(
            "epoch {:>3}: test acc {:.2}%\n",
            m.epoch, m.test_accuracy
        ));
    }
    write_atomic(&dir.join(LOG), log.as_bytes())?;
    Ok(dir)
}

/// A trial being run: the store's claim (so the trial shows as running while this
/// lives) and its work folder.
#[derive(Debug)]
pub struct RunningTrial {
    /// The claim; dropping it makes the trial a left-over (failed) one.
    pub claim: Claim,
    /// The trial id.
    pub id: String,
}

impl RunningTrial {
    /// The work folder.
    pub fn dir(&self) -> &Path {
        self.claim.work_dir()
    }

    /// Appends events to `events.jsonl`, one JSON line each.
    pub fn events(&self, events: &[Event]) {
        let mut file = append(&self.dir().join(EVENTS));
        for e in events {
            let line = serde_json::to_string(e).expect("events serialise");
            writeln!(file, "{line}").expect("writing events");
        }
    }

    /// Appends lines to `train.log`.
    pub fn log(&self, lines: &[&str]) {
        let mut file = append(&self.dir().join(LOG));
        for l in lines {
            writeln!(file, "{l}").expect("writing the log");
        }
    }
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("opening a fixture file")
}

/// Claims `variant` at `seed` in the store and writes its `config.ron` header, as a
/// worker does when it starts.
pub fn start(store: &Store, experiment: &Experiment, variant: &str, seed: u64) -> RunningTrial {
    let config = experiment
        .variant(variant)
        .expect("the fixture names a variant")
        .trial
        .config();
    let id = id::trial_id(config, seed, &data::canonical_digest());
    let claim = store
        .claim(&id)
        .expect("claiming in the fixture store")
        .expect("the fixture trial is free");
    let start = contract::TrialStart {
        id: id.clone(),
        experiment: experiment.name.clone(),
        variant: variant.to_string(),
        seed,
        dataset_digest: data::canonical_digest(),
        started: 0,
    };
    std::fs::write(
        claim.work_dir().join(TRIAL_START),
        serde_json::to_string(&start).expect("a trial start serialises"),
    )
    .expect("writing trial.json");
    RunningTrial { claim, id }
}

/// The `started` event of a fixture trial: 512 training images in 8 batches, 256 test
/// images, on the CPU with 2 threads.
pub fn started(epochs: u32) -> Event {
    Event::Started {
        parameters: 1234,
        train_images: 512,
        test_images: 256,
        batches: 8,
        epochs,
        device: "cpu".into(),
        threads: 2,
    }
}
