//! A killed trial resumes exactly where it stopped, and every source of randomness has its
//! own stream.
//!
//! The kill tests are real: the test binary re-executes itself as a child process (the
//! `child_process_entry_point` test, which does nothing unless [`CHILD_DIR`] is set) that
//! runs one trial into a folder; the parent watches `metrics.jsonl`, sends SIGKILL, runs the
//! trial again in the same folder, and compares the result with an uninterrupted run in
//! another folder, bit for bit (deterministic metrics, results and final weights), on the
//! real dataset with real libtorch. Every child uses one libtorch thread, so runs on one
//! machine are deterministic.

use contract::Event;
use experiment::trial_run::{TrialEnd, run_trial};
use serde_json::Value;
use spec::StudyValues;
use spec::Variant;
use spec::plan::TrialSpec;
use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tch::{Device, Kind, Tensor};
use trainer::{RandomSource, Streams, TrialConfig, ValidTrial};

/// When set, `child_process_entry_point` runs the trial into this folder.
const CHILD_DIR: &str = "RESUME_TEST_CHILD_DIR";
/// When set to `N`, the child stops (sleeps) right after epoch `N` is reported, so the
/// parent's SIGKILL lands at that point.
const CHILD_PAUSE: &str = "RESUME_TEST_PAUSE_AFTER_EPOCH";
/// The child's trial seed.
const CHILD_SEED: &str = "RESUME_TEST_SEED";
const EPOCHS: usize = 3;

/// Tests here train in this process or start children: one at a time (libtorch's
/// generator is global, and the machine is small).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The real dataset, verified (tensors are not `Sync`, so each caller loads its own).
fn dataset() -> data::FashionMnist {
    let source = data::locate(None, None).expect("the Fashion-MNIST files");
    data::FashionMnist::load(&source.dir, true).expect("the dataset loads")
}

fn digest() -> &'static str {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST.get_or_init(|| dataset().digest.clone())
}

/// A small trial that still uses every source of randomness: dropout, batch norm, flip and
/// erasing, a shuffled order, and a schedule that changes the rate every epoch.
fn trial(fix: &str, epochs: usize) -> ValidTrial {
    let text = format!(
        "(
            model: (architecture: conv2, channels: 8, kernel_size: 3, batch_norm: true, dropout: 0.3),
            optimizer: (name: adam, lr: 0.01),
            schedule: Step(every: 1, gamma: 0.5),
            augmentations: [HorizontalFlip(p: 0.5), RandomErasing(p: 0.5)],
            epochs: {epochs},
            batch_size: 128,
            eval_batch_size: 256,
            data: (train_limit: Some(1024), test_limit: Some(512)),
            fix: [{fix}],
        )"
    );
    ron::from_str::<TrialConfig>(&text)
        .expect("the test config parses")
        .validate()
        .expect("the test config is valid")
}

fn spec(seed: u64, fix: &str, epochs: usize) -> TrialSpec {
    let trial = trial(fix, epochs);
    TrialSpec {
        experiment: "resume-test".into(),
        id: store::id::trial_id(trial.config(), seed, digest()),
        variant: Variant {
            name: "small".into(),
            trial,
            study: StudyValues::default(),
        },
        seed,
    }
}

/// The child: runs the trial into `$RESUME_TEST_CHILD_DIR` (ignored: only its parent
/// tests run it, with `--ignored`, and check that it ran).
#[test]
#[ignore = "a child of the resume tests"]
fn child_process_entry_point() {
    let dir = std::env::var(CHILD_DIR).expect("run by its parent test");
    println!("CHILD started");
    tch::set_num_threads(1);
    let pause: Option<u32> = std::env::var(CHILD_PAUSE).ok().map(|v| v.parse().unwrap());
    let seed: u64 = std::env::var(CHILD_SEED).map_or(1, |v| v.parse().unwrap());
    let spec = spec(seed, "", EPOCHS);
    let outcome = run_trial(
        &spec,
        &dataset(),
        Device::Cpu,
        Path::new(&dir),
        &trainer::Stop::new(),
        &mut |event| {
            if let Event::Epoch(m) = event
                && Some(m.epoch) == pause
            {
                println!("CHILD paused after epoch {}", m.epoch);
                std::thread::sleep(Duration::from_secs(600));
            }
        },
    )
    .unwrap_or_else(|e| panic!("CHILD trial failed: {e}"));
    assert!(matches!(outcome, TrialEnd::Recorded(_)));
}

fn child(dir: &Path, seed: u64, pause: Option<u32>) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process_entry_point",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .env_remove(CHILD_PAUSE)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(n) = pause {
        command.env(CHILD_PAUSE, n.to_string());
    }
    command.spawn().expect("the test binary runs as a child")
}

/// Runs the trial to the end in a child process.
fn run_to_end(dir: &Path, seed: u64) {
    let out = child(dir, seed, None).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CHILD started"),
        "the child ran"
    );
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Starts the trial, waits until `metrics.jsonl` has `n` lines (and, with `pause`, until
/// the child sits right after epoch `n`), then kills it with SIGKILL.
fn run_and_kill(dir: &Path, n: usize, pause: bool) {
    let mut child = child(dir, 1, pause.then_some(n as u32));
    let metrics = dir.join("metrics.jsonl");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child ended before it was killed: {status}");
        }
        if lines(&metrics) >= n {
            break;
        }
        assert!(Instant::now() < deadline, "no {n} epochs within 10 minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    if pause {
        // The line is written before the child reaches the pause; wait for it to say so.
        let stdout = child.stdout.take().unwrap();
        let said = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("CHILD paused after epoch"));
        assert!(said, "the child never paused");
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    assert!(
        !dir.join("summary.json").exists(),
        "the killed attempt is incomplete"
    );
}

/// The deterministic fields of each line of `metrics.jsonl`, as exact bit patterns.
fn deterministic_metrics(dir: &Path) -> Vec<Vec<(String, String)>> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            [
                "epoch",
                "lr",
                "train_loss_mean",
                "train_loss_sum",
                "test_loss",
                "test_accuracy",
            ]
            .iter()
            .map(|k| (k.to_string(), v[k].to_string()))
            .collect()
        })
        .collect()
}

fn summary(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn weights(path: &Path) -> Vec<(String, Tensor)> {
    let mut named = Tensor::load_multi(path).unwrap();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// The resumed folder holds the same trial as the uninterrupted one: the same
/// deterministic metrics per epoch, results, per-epoch records and final weights and
/// optimiser state.
fn assert_same_trial(resumed: &Path, reference: &Path) {
    let metrics = deterministic_metrics(resumed);
    assert_eq!(metrics.len(), EPOCHS);
    assert_eq!(metrics, deterministic_metrics(reference));
    let (a, b) = (summary(resumed), summary(reference));
    assert_eq!(a["status"], "finished");
    for key in [
        "id",
        "final_accuracy",
        "best_accuracy",
        "best_epoch",
        "train_loss_sum",
    ] {
        assert_eq!(a[key].to_string(), b[key].to_string(), "{key}");
    }
    for (x, y) in a["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["epochs"].as_array().unwrap())
    {
        for key in ["lr", "train_loss_mean", "test_loss", "test_accuracy"] {
            assert_eq!(x[key].to_string(), y[key].to_string(), "epochs[].{key}");
        }
    }
    for file in [
        "ckpt/last.model.ot",
        "ckpt/last.optim.ot",
        "ckpt/best.model.ot",
    ] {
        let (x, y) = (weights(&resumed.join(file)), weights(&reference.join(file)));
        assert_eq!(x.len(), y.len(), "{file}");
        for ((nx, tx), (ny, ty)) in x.iter().zip(&y) {
            assert_eq!(nx, ny);
            assert!(tx.equal(ty), "{file}: {nx} differs");
        }
    }
}

/// An uninterrupted run of the test trial (seed 1), made once per test process (in cargo's
/// scratch folder for integration tests, replaced on every run).
fn reference() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("resume-reference");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        run_to_end(&dir, 1);
        dir
    })
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn resumed_events(dir: &Path) -> Vec<Value> {
    read(dir.join("events.jsonl"))
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "resumed")
        .collect()
}

#[test]
fn killed_right_after_epoch_1_resumes_at_epoch_2_bit_identical() {
    let _serial = serial();
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    run_and_kill(dir.path(), 1, true);
    run_to_end(dir.path(), 1);
    assert_same_trial(dir.path(), reference);
    let log = read(dir.path().join("train.log"));
    assert!(
        log.contains("resumed at epoch 2 from checkpoint ckpt/epoch-1 (1 of 3 epochs done"),
        "{log}"
    );
    let resumed = resumed_events(dir.path());
    assert_eq!(resumed.len(), 1, "one Resumed event");
    assert_eq!(resumed[0]["epochs_done"], 1);
    assert_eq!(resumed[0]["checkpoint"], "ckpt/epoch-1");
    // The log was appended to: the first attempt's lines are still there.
    assert_eq!(log.matches("epoch   1:").count(), 1, "{log}");
    assert_eq!(log.matches("start:").count(), 2, "{log}");
}

#[test]
fn killed_during_epoch_3_resumes_from_the_last_durable_epoch_bit_identical() {
    let _serial = serial();
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    // No pause: the kill lands wherever the child is once epoch 2 is reported (usually
    // training epoch 3, possibly mid-write).
    run_and_kill(dir.path(), 2, false);
    run_to_end(dir.path(), 1);
    assert_same_trial(dir.path(), reference);
    let resumed = resumed_events(dir.path());
    assert_eq!(resumed.len(), 1);
    let done = resumed[0]["epochs_done"].as_u64().unwrap();
    assert!((2..=3).contains(&done), "{resumed:?}");
    let log = read(dir.path().join("train.log"));
    assert!(
        log.contains(&format!(
            "from checkpoint ckpt/epoch-{done} ({done} of 3 epochs done"
        )),
        "{log}"
    );
}

#[test]
fn a_corrupted_newest_checkpoint_falls_back_to_the_previous_one() {
    let _serial = serial();
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    run_and_kill(dir.path(), 2, true);
    let ckpt = dir.path().join("ckpt");
    assert!(ckpt.join("epoch-1").is_dir() && ckpt.join("epoch-2").is_dir());
    // Flip bytes in the middle of the newest model (same length: only the digest notices).
    let model = ckpt.join("epoch-2/model.ot");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 16] {
        *b ^= 0xff;
    }
    std::fs::write(&model, bytes).unwrap();
    run_to_end(dir.path(), 1);
    assert_same_trial(dir.path(), reference);
    let log = read(dir.path().join("train.log"));
    assert!(
        log.contains(
            "checkpoint ckpt/epoch-2 unreadable (sha256 mismatch in model.ot): falling back to ckpt/epoch-1"
        ),
        "{log}"
    );
    assert!(
        log.contains("resumed at epoch 2 from checkpoint ckpt/epoch-1"),
        "{log}"
    );
    let resumed = resumed_events(dir.path());
    assert_eq!(resumed[0]["epochs_done"], 1);
    assert_eq!(resumed[0]["rejected"].as_array().unwrap().len(), 1);
}

#[test]
fn garbage_in_every_checkpoint_or_another_trials_leftovers_restart_from_scratch() {
    let _serial = serial();
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    run_and_kill(dir.path(), 2, true);
    let ckpt = dir.path().join("ckpt");
    for n in [1, 2] {
        std::fs::write(
            ckpt.join(format!("epoch-{n}/manifest.json")),
            b"\x00garbage{",
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("stray.txt"), b"left by someone").unwrap();
    run_to_end(dir.path(), 1);
    assert_same_trial(dir.path(), reference);
    assert!(
        !dir.path().join("stray.txt").exists(),
        "the folder was emptied"
    );
    let log = read(dir.path().join("train.log"));
    assert!(
        log.contains("no usable checkpoint: starting from scratch"),
        "{log}"
    );
    assert!(
        log.contains("checkpoint ckpt/epoch-2 unreadable (manifest.json does not parse"),
        "{log}"
    );
    assert!(log.contains("ckpt/epoch-1 unreadable"), "{log}");
    // Only the new attempt's lines remain (the folder started over).
    assert_eq!(log.matches("start:").count(), 1, "{log}");

    // A folder with another trial's (intact) checkpoints: seed 2 does not resume seed 1.
    let other = tempfile::tempdir().unwrap();
    run_and_kill(other.path(), 1, true);
    let out = child(other.path(), 2, None).wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("CHILD started"));
    let log = read(other.path().join("train.log"));
    assert!(log.contains("it belongs to another trial"), "{log}");
    assert!(
        log.contains("no usable checkpoint: starting from scratch"),
        "{log}"
    );
    assert_eq!(summary(other.path())["seed"], 2);
    assert_eq!(lines(&other.path().join("metrics.jsonl")), EPOCHS);
}

/// The initial weights, the first epoch's order, augmentation draws and dropout masks
/// of `seed` with `fix`.
struct Draws {
    weights: Vec<Tensor>,
    order: Vec<i64>,
    augment: Vec<augmentation::Drawn>,
    dropout: Tensor,
}

fn draws(seed: u64, fix: &[RandomSource], epoch: u32) -> Draws {
    let config = trial("", EPOCHS);
    let streams = Streams::new(seed, fix);
    let (vs, _net) = trainer::build_model(&config, &streams, Device::Cpu);
    let mut weights: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    weights.sort_by(|a, b| a.0.cmp(&b.0));
    let order = streams.order(epoch).permutation(1024).unwrap();
    let mut pipeline =
        augmentation::Pipeline::new(config.augmentations.clone(), streams.augment_seed(epoch));
    let images = Tensor::rand([64, 1, 28, 28], (Kind::Float, Device::Cpu));
    let (_, augment) = pipeline.apply_with_params(&images);
    tch::manual_seed(streams.dropout_seed(epoch));
    let dropout = Tensor::ones([4096], (Kind::Float, Device::Cpu)).dropout(0.5, true);
    Draws {
        weights: weights.into_iter().map(|(_, t)| t).collect(),
        order,
        augment,
        dropout,
    }
}

fn same_weights(a: &Draws, b: &Draws) -> bool {
    a.weights.len() == b.weights.len() && a.weights.iter().zip(&b.weights).all(|(x, y)| x.equal(y))
}

#[test]
fn different_seeds_give_different_streams_per_source_and_the_same_seed_the_same() {
    let _serial = serial();
    let (a, again, b) = (draws(1, &[], 0), draws(1, &[], 0), draws(2, &[], 0));
    assert!(same_weights(&a, &again));
    assert_eq!(a.order, again.order);
    assert_eq!(a.augment, again.augment);
    assert!(a.dropout.equal(&again.dropout));
    assert!(!same_weights(&a, &b), "init");
    assert_ne!(a.order, b.order, "order");
    assert_ne!(a.augment, b.augment, "augment");
    assert!(!a.dropout.equal(&b.dropout), "dropout");
    // The per-epoch sources change with the epoch; initialisation does not depend on it.
    let later = draws(1, &[], 1);
    assert!(same_weights(&a, &later));
    assert_ne!(a.order, later.order);
    assert_ne!(a.augment, later.augment);
    assert!(!a.dropout.equal(&later.dropout));
}

#[test]
fn fix_holds_the_listed_sources_across_seeds_and_lets_the_others_vary() {
    let _serial = serial();
    let fix = [RandomSource::Init];
    let (a, b) = (draws(1, &fix, 0), draws(2, &fix, 0));
    assert!(
        same_weights(&a, &b),
        "fix: [init] gives equal initial weights"
    );
    assert_ne!(a.order, b.order, "the data order still follows the seed");
    assert_ne!(a.augment, b.augment);
    assert!(!a.dropout.equal(&b.dropout));
    let fix = [RandomSource::Order, RandomSource::Dropout];
    let (a, b) = (draws(1, &fix, 0), draws(2, &fix, 0));
    assert!(!same_weights(&a, &b));
    assert_eq!(a.order, b.order);
    assert_ne!(a.augment, b.augment);
    assert!(a.dropout.equal(&b.dropout));

    // End to end: with every source fixed, two seeds train the same trial; with only
    // `init` fixed they do not.
    tch::set_num_threads(1);
    let data = dataset();
    let train = |seed: u64, fix: &str| {
        let spec = spec(seed, fix, 1);
        let options = trainer::RunOptions {
            latency: None,
            ..trainer::RunOptions::new(spec.seed, Device::Cpu)
        };
        let result = trainer::train(
            &spec.variant.trial,
            &data,
            &options,
            &mut |_| {},
            &trainer::Stop::new(),
        )
        .unwrap();
        let m = result.last().unwrap();
        (m.train_loss_sum.to_bits(), m.test_loss.to_bits())
    };
    let all = "init, order, augment, dropout";
    assert_eq!(train(1, all), train(2, all));
    assert_ne!(train(1, "init"), train(2, "init"));
}
