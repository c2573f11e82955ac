//! The run store under faults, on real filesystems with real processes: bad records are
//! quarantined (and their trials run again) while every scan carries on; a trial folder without
//! a summary is set aside at claim time; claims stay exclusive under many concurrent
//! threads and processes and never lose a work folder; a read-only store is refused with
//! its path; temporary files never follow a planted symlink.
//!
//! Two `#[test]`s (`child_*`) are entry points for child processes: they do nothing
//! unless the parent test sets their environment variable.

use contract::EpochMetrics;
use contract::Status;
use contract::layout::QUARANTINE_NOTE;
use contract::layout::SUMMARY;
use contract::record::RECORD_FORMAT;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::id;
use store::record::TrialRecord;
use store::{Quarantined, Store, StoreError, TrialState, create_exclusive, write_atomic};

const DIGEST: &str = "test-dataset-digest";

/// The one variant's configuration, as an experiment file's `base:` would give it.
const CONFIG_RON: &str = r#"(
    model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
    optimizer: (name: adam, lr: 0.01),
    epochs: 1,
    batch_size: 64,
    eval_batch_size: 128,
    data: (train_limit: Some(512), test_limit: Some(256)),
)"#;

/// The `base` variant's configuration.
fn config() -> trainer::TrialConfig {
    ron::from_str(CONFIG_RON).unwrap()
}

/// The experiment `faults`, whose one variant is [`config`].
fn membership() -> store::Membership {
    store::Membership::new("faults", [&config()])
}

fn trial_id(seed: u64) -> String {
    id::trial_id(&config(), seed, DIGEST)
}

/// A valid finished record of the `base` variant at `seed`.
fn record(seed: u64, accuracy: f64) -> TrialRecord {
    let config = config();
    let epochs = vec![EpochMetrics {
        epoch: 1,
        lr: 0.01,
        train_loss_mean: 0.5,
        train_loss_sum: 4.0,
        test_loss: 0.6,
        test_accuracy: accuracy,
        train_time_s: 1.0,
        eval_time_s: 0.5,
        images_per_s: 500.0,
    }];
    TrialRecord {
        format: RECORD_FORMAT,
        id: id::trial_id(&config, seed, DIGEST),
        config_digest: id::config_digest(&config),
        experiment: "faults".into(),
        variant: "base".into(),
        seed,
        dataset_digest: DIGEST.into(),
        config,
        status: Status::Finished,
        parameters: 1234,
        study_parameters: None,
        final_accuracy: Some(accuracy),
        best_accuracy: Some(accuracy),
        best_epoch: Some(1),
        train_loss_sum: Some(4.0),
        latency: None,
        epochs,
        wall_time_s: 2.0,
        provenance: contract::Provenance {
            harness_version: "0.1.0".into(),
            git_commit: "unknown".into(),
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

fn json(record: &TrialRecord) -> String {
    serde_json::to_string_pretty(record).unwrap()
}

/// Claims, writes the record into the work folder and publishes it, as a worker does.
fn publish(store: &Store, record: &TrialRecord) -> PathBuf {
    let claim = store.claim(&record.id).unwrap().expect("free");
    write_atomic(&claim.work_dir().join(SUMMARY), json(record).as_bytes()).unwrap();
    claim.publish().unwrap()
}

/// Plants a trial folder `name` holding `summary` (and a user file) by hand.
fn plant(store: &Store, name: &str, summary: &str) -> PathBuf {
    let dir = store.trial_dir(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(SUMMARY), summary).unwrap();
    std::fs::write(dir.join("train.log"), format!("log of {name}\n")).unwrap();
    dir
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn bad_records_are_quarantined_their_trials_rerun_and_the_scan_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let good = record(0, 80.0);
    publish(&store, &good);
    assert_eq!(store.state(&good.id), TrialState::Done);

    let full = json(&record(1, 81.0));
    let mut cases: Vec<(String, String, &str)> = vec![
        // Truncated mid-file (a torn copy, a full disk under another tool).
        (trial_id(1), full[..full.len() / 2].to_string(), "EOF"),
        (trial_id(2), "\u{0}\u{7f}garbage".into(), "expected value"),
    ];
    // What serde_json used to write for a NaN wall time.
    let mut v = serde_json::to_value(record(3, 82.0)).unwrap();
    v["wall_time_s"] = serde_json::Value::Null;
    cases.push((trial_id(3), v.to_string(), "invalid type: null"));
    let mut r = record(4, 83.0);
    r.format = 99;
    cases.push((trial_id(4), json(&r), "format"));
    // A valid record of another trial, copied into this trial's folder.
    cases.push((
        trial_id(5),
        json(&record(6, 84.0)),
        "does not match the folder name",
    ));
    let mut r = record(7, 85.0);
    r.config.optimizer.lr = -1.0;
    cases.push((trial_id(7), json(&r), "config.optimizer.lr"));
    let mut r = record(8, 86.0);
    r.final_accuracy = None;
    cases.push((trial_id(8), json(&r), "final_accuracy"));
    let mut r = record(9, 86.0);
    r.final_accuracy = Some(f64::NAN);
    cases.push((trial_id(9), json(&r), "final_accuracy"));
    let mut r = record(10, 86.0);
    r.status = Status::Stopped;
    cases.push((trial_id(10), json(&r), "status"));
    // A folder whose name is not a trial id.
    cases.push((
        "notes".into(),
        json(&record(11, 87.0)),
        "not match the folder name",
    ));

    for (name, text, _) in &cases {
        plant(&store, name, text);
        // Validation, not a test for the file; and asking changes nothing.
        assert!(!store.is_done(name), "{name}");
        assert_eq!(store.state(name), TrialState::Pending, "{name}");
        assert!(store.trial_dir(name).join(SUMMARY).is_file());
    }

    let found = store.records().unwrap();
    assert_eq!(found.records, vec![good.clone()]);
    assert_eq!(
        found.quarantined.len(),
        cases.len(),
        "{:#?}",
        found.quarantined
    );
    for (name, text, why) in &cases {
        let original = store.trial_dir(name);
        let q: &Quarantined = found
            .quarantined
            .iter()
            .find(|q| q.path == original)
            .unwrap_or_else(|| panic!("no warning for {name}: {:#?}", found.quarantined));
        let warning = q.to_string();
        assert!(
            warning.contains(&original.join(SUMMARY).display().to_string()),
            "the warning names the file: {warning}"
        );
        assert!(
            warning.contains(why),
            "the warning says why ({why}): {warning}"
        );
        let moved = q.moved_to.as_ref().expect("moved aside");
        assert!(
            moved.starts_with(store.quarantine_dir()),
            "{}",
            moved.display()
        );
        let moved_name = moved.file_name().unwrap().to_string_lossy().into_owned();
        assert!(moved_name.starts_with(&format!("{name}.")), "{moved_name}");
        assert!(!original.exists(), "{name} left its place");
        // Nothing lost: the user's files are there, byte for byte, with a note why.
        assert_eq!(std::fs::read_to_string(moved.join(SUMMARY)).unwrap(), *text);
        assert_eq!(
            std::fs::read_to_string(moved.join("train.log")).unwrap(),
            format!("log of {name}\n")
        );
        let note = std::fs::read_to_string(moved.join(QUARANTINE_NOTE)).unwrap();
        assert!(note.contains(why), "{note}");
    }

    // Quarantined once: the next scan is clean.
    let again = store.records().unwrap();
    assert_eq!(again.records, vec![good.clone()]);
    assert!(again.quarantined.is_empty(), "{:#?}", again.quarantined);

    // Every quarantined trial is pending and can be claimed and run again.
    for (name, _, _) in cases.iter().filter(|(n, _, _)| n != "notes") {
        let claim = store.claim(name).unwrap().expect("claimable again");
        assert!(claim.warnings().is_empty());
        assert!(!claim.has_leftovers());
        claim.discard().unwrap();
    }
}

#[test]
fn a_diverged_record_full_of_nan_is_a_valid_record() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let mut r = record(0, 50.0);
    r.status = Status::Diverged { epoch: 2, batch: 0 };
    r.epochs[0].train_loss_mean = f64::NAN;
    r.epochs[0].test_loss = f64::INFINITY;
    r.final_accuracy = Some(f64::NAN);
    r.train_loss_sum = Some(f64::NEG_INFINITY);
    publish(&store, &r);
    assert!(store.is_done(&r.id));
    let found = store.records().unwrap();
    assert!(found.quarantined.is_empty(), "{:#?}", found.quarantined);
    let back = &found.records[0];
    assert!(back.epochs[0].train_loss_mean.is_nan());
    assert_eq!(back.epochs[0].test_loss, f64::INFINITY);
    assert!(back.final_accuracy.unwrap().is_nan());
    assert_eq!(back.train_loss_sum, Some(f64::NEG_INFINITY));
}

#[test]
fn a_trial_folder_without_a_summary_is_set_aside_at_claim_time_and_publish_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let r = record(0, 88.0);
    publish(&store, &r);
    let target = store.trial_dir(&r.id);
    // The user deletes the summary to force a rerun; the rest of the folder stays.
    std::fs::remove_file(target.join(SUMMARY)).unwrap();
    std::fs::write(target.join("notes.txt"), "my notes").unwrap();
    assert!(!store.is_done(&r.id));
    assert_eq!(store.state(&r.id), TrialState::Pending);

    let claim = store.claim(&r.id).unwrap().expect("pending again");
    let [warning] = claim.warnings() else {
        panic!("one warning expected: {:?}", claim.warnings())
    };
    assert_eq!(warning.path, target);
    assert!(
        warning.to_string().contains("summary.json is missing"),
        "{warning}"
    );
    let moved = warning.moved_to.clone().unwrap();
    assert_eq!(
        std::fs::read_to_string(moved.join("notes.txt")).unwrap(),
        "my notes"
    );
    assert!(!target.exists(), "set aside before any training");
    write_atomic(&claim.work_dir().join(SUMMARY), json(&r).as_bytes()).unwrap();
    assert_eq!(claim.publish().unwrap(), target);
    assert!(store.is_done(&r.id));

    // Twice in the same second: the second copy gets its own name.
    std::fs::remove_file(target.join(SUMMARY)).unwrap();
    let claim = store.claim(&r.id).unwrap().unwrap();
    let second = claim.warnings()[0].moved_to.clone().unwrap();
    assert_ne!(second, moved);
    assert!(second.is_dir() && moved.is_dir());
    claim.discard().unwrap();

    // A file or a symlink where the trial folder belongs is set aside too (the symlink
    // itself, never what it points to).
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "keep").unwrap();
    std::os::unix::fs::symlink(&outside, &target).unwrap();
    let claim = store.claim(&r.id).unwrap().unwrap();
    assert!(
        claim.warnings()[0].reason.contains("not a folder"),
        "{:?}",
        claim.warnings()
    );
    write_atomic(&claim.work_dir().join(SUMMARY), json(&r).as_bytes()).unwrap();
    claim.publish().unwrap();
    assert!(store.is_done(&r.id));
    assert_eq!(entries(&outside), ["keep"]);
}

#[test]
fn claims_hand_leftovers_over_release_keeps_them_and_discard_removes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let id = trial_id(0);
    let lock_file = store.work_dir(&id).with_file_name(format!("{id}.lock"));

    let claim = store.claim(&id).unwrap().unwrap();
    assert!(!claim.has_leftovers());
    assert_eq!(store.state(&id), TrialState::Running);
    assert!(store.claim(&id).unwrap().is_none(), "exclusive");
    std::fs::write(claim.work_dir().join("epoch-1"), "state").unwrap();
    // Stopped: the claim ends, the work folder stays for a resume.
    claim.release();
    assert!(!lock_file.exists(), "the holder removes its lock file");
    assert_eq!(store.state(&id), TrialState::Pending);

    let claim = store.claim(&id).unwrap().unwrap();
    assert!(claim.has_leftovers());
    assert_eq!(
        std::fs::read_to_string(claim.work_dir().join("epoch-1")).unwrap(),
        "state"
    );
    std::fs::write(claim.work_dir().join("epoch-2"), "more").unwrap();
    // A writer killed mid-write leaves temporaries; the next claim removes them.
    std::fs::write(claim.work_dir().join(".summary.json.1.2.abc.tmp"), "{ half").unwrap();
    std::fs::create_dir_all(claim.work_dir().join("ckpt/.epoch-3.tmp")).unwrap();
    // A crash: the holder process is gone, so its lease is stale at once (simulated
    // here by rewriting the lease with a dead pid); the files stay.
    let lease = std::fs::read_to_string(&lock_file).unwrap();
    let mut holder: serde_json::Value = serde_json::from_str(lease.trim()).unwrap();
    std::mem::forget(claim);
    holder["pid"] = serde_json::json!(u32::MAX - 1);
    std::fs::write(&lock_file, holder.to_string()).unwrap();
    assert_eq!(store.state(&id), TrialState::Pending);

    let claim = store.claim(&id).unwrap().unwrap();
    assert!(claim.has_leftovers());
    assert_eq!(
        entries(claim.work_dir()),
        [
            "ckpt".to_string(),
            "epoch-1".to_string(),
            "epoch-2".to_string()
        ],
        "handed over as they are, never wiped; temporaries swept"
    );
    assert!(entries(&claim.work_dir().join("ckpt")).is_empty());
    let work = claim.work_dir().to_path_buf();
    claim.discard().unwrap();
    assert!(!work.exists());
    assert!(!lock_file.exists());

    let claim = store.claim(&id).unwrap().unwrap();
    assert!(!claim.has_leftovers());
    write_atomic(
        &claim.work_dir().join(SUMMARY),
        json(&record(0, 90.0)).as_bytes(),
    )
    .unwrap();
    claim.publish().unwrap();
    assert!(!lock_file.exists());
    assert!(!work.exists());
    assert_eq!(store.state(&id), TrialState::Done);
    assert!(store.claim(&id).unwrap().is_none(), "done");
}

#[test]
fn a_bad_record_of_a_claimed_trial_is_skipped_not_moved_and_publish_sets_it_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let r = record(0, 70.0);
    let claim = store.claim(&r.id).unwrap().unwrap();
    // Something writes a broken folder where the trial will be published.
    let planted = plant(&store, &r.id, "{ broken");
    let found = store.records().unwrap();
    assert!(found.records.is_empty());
    let [q] = found.quarantined.as_slice() else {
        panic!("{:?}", found.quarantined)
    };
    assert_eq!(q.moved_to, None);
    assert!(
        q.to_string().contains("claimed by a running process"),
        "{q}"
    );
    assert!(planted.join(SUMMARY).is_file(), "left in place");
    // The holder publishes: the broken folder is moved aside, not merged or lost.
    write_atomic(&claim.work_dir().join(SUMMARY), json(&r).as_bytes()).unwrap();
    claim.publish().unwrap();
    assert!(store.is_done(&r.id));
    let quarantined = entries(&store.quarantine_dir());
    assert_eq!(quarantined.len(), 1, "{quarantined:?}");
    let moved = store.quarantine_dir().join(&quarantined[0]);
    assert_eq!(
        std::fs::read_to_string(moved.join(SUMMARY)).unwrap(),
        "{ broken"
    );
}

// ---------------------------------------------------------------------------------------
// Claims under concurrency.

const STRESS_TRIALS: u64 = 6;
/// Each trial is claimed and released (as if stopped) this many times, then published.
const STRESS_RELEASES: u64 = 3;
const STRESS_ENV: &str = "STORE_FAULTS_STRESS_DIR";

fn read_number(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// One claimer thread: claims free trials over and over until all are done, checking
/// the protocol from the outside. Returns what it saw go wrong.
fn claimer(dir: &Path, who: &str) -> Vec<String> {
    let store = Store::new(dir.join("runs"));
    let ledger = dir.join("ledger");
    let mut violations = Vec::new();
    let mut spins = 0u64;
    loop {
        let mut all_done = true;
        for seed in 0..STRESS_TRIALS {
            let id = id::trial_id(&config(), seed, DIGEST);
            if store.is_done(&id) {
                continue;
            }
            all_done = false;
            let claim = match store.claim(&id) {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(e) => {
                    violations.push(format!("{who}: claim failed: {e}"));
                    continue;
                }
            };
            // At most one holder at a time, across threads and processes.
            let holder = ledger.join(format!("{id}.holder"));
            if create_exclusive(&holder).is_err() {
                violations.push(format!("{who}: two holders of {}", id::short(&id)));
            }
            if store.is_done(&id) {
                violations.push(format!("{who}: claimed a done trial"));
            }
            // The work folder is exactly as the last holder left it.
            let generation_file = claim.work_dir().join("generation");
            let seen = read_number(&generation_file);
            let expected = read_number(&ledger.join(format!("{id}.generation")));
            if seen != expected {
                violations.push(format!(
                    "{who}: work folder of {} lost: generation {seen}, ledger {expected}",
                    id::short(&id)
                ));
            }
            if claim.has_leftovers() != (expected > 0) {
                violations.push(format!("{who}: leftovers flag wrong at {expected}"));
            }
            std::thread::sleep(Duration::from_micros(500 + 200 * seed));
            if expected > 0 && !generation_file.is_file() {
                violations.push(format!("{who}: work folder wiped while held"));
            }
            if expected < STRESS_RELEASES {
                let next = (expected + 1).to_string();
                write_atomic(&generation_file, next.as_bytes()).unwrap();
                write_atomic(&ledger.join(format!("{id}.generation")), next.as_bytes()).unwrap();
                std::fs::remove_file(&holder).unwrap();
                claim.release();
            } else {
                write_atomic(
                    &claim.work_dir().join(SUMMARY),
                    json(&record(seed, 60.0 + seed as f64)).as_bytes(),
                )
                .unwrap();
                if create_exclusive(&ledger.join(format!("{id}.published"))).is_err() {
                    violations.push(format!("{who}: {} published twice", id::short(&id)));
                }
                std::fs::remove_file(&holder).unwrap();
                if let Err(e) = claim.publish() {
                    violations.push(format!("{who}: publish failed: {e}"));
                }
            }
        }
        if all_done {
            return violations;
        }
        spins += 1;
        if spins > 100_000 {
            violations.push(format!("{who}: gave up waiting for the trials"));
            return violations;
        }
    }
}

fn claimers(dir: &Path, threads: usize, tag: &str) -> Vec<String> {
    let violations = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|s| {
        for t in 0..threads {
            let violations = violations.clone();
            s.spawn(move || {
                let found = claimer(dir, &format!("{tag}/thread {t}"));
                violations.lock().unwrap().extend(found);
            });
        }
    });
    Arc::try_unwrap(violations).unwrap().into_inner().unwrap()
}

/// Child entry point of the concurrency test (ignored: only its parent runs it, and
/// checks that it ran).
#[test]
#[ignore = "a child of claims_stay_exclusive_under_many_threads_and_processes"]
fn child_claimer_process() {
    let dir = std::env::var_os(STRESS_ENV).expect("run by its parent test");
    let violations = claimers(Path::new(&dir), 4, &format!("pid {}", std::process::id()));
    assert!(violations.is_empty(), "{violations:#?}");
    println!("CLAIMER-OK");
}

#[test]
fn claims_stay_exclusive_under_many_threads_and_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("ledger")).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_claimer_process",
                    "--ignored",
                    "--nocapture",
                ])
                .env(STRESS_ENV, dir)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let violations = claimers(dir, 16, "parent");
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child process saw a violation: {}",
            out.status
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("CLAIMER-OK"), "the child ran: {stdout}");
    }
    assert!(violations.is_empty(), "{violations:#?}");

    let store = Store::new(dir.join("runs"));
    let found = store.records().unwrap();
    assert!(found.quarantined.is_empty(), "{:#?}", found.quarantined);
    assert_eq!(found.records.len(), STRESS_TRIALS as usize);
    for seed in 0..STRESS_TRIALS {
        let id = id::trial_id(&config(), seed, DIGEST);
        assert_eq!(store.state(&id), TrialState::Done);
        assert!(dir.join("ledger").join(format!("{id}.published")).is_file());
        // Every release's work survived into the published folder.
        assert_eq!(
            read_number(&store.trial_dir(&id).join("generation")),
            STRESS_RELEASES
        );
    }
    assert!(!store.quarantine_dir().exists());
    // Nothing left behind: no work folders, no lock files.
    let work = store.work_dir("x");
    assert_eq!(entries(work.parent().unwrap()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Unwritable stores and temporary files.

const READ_ONLY_ENV: &str = "STORE_FAULTS_READ_ONLY_DIR";

/// Child entry point of the read-only test: runs inside a mount namespace where the
/// folder in its variable is a read-only tmpfs (ignored: only its parent runs it).
#[test]
#[ignore = "a child of an_unwritable_store_is_refused_with_its_path"]
fn child_read_only_probe() {
    let dir = std::env::var_os(READ_ONLY_ENV).expect("run by its parent test");
    let dir = PathBuf::from(dir);
    // The work folder exists (made before the remount): the probe file cannot be created.
    let err = Store::new(dir.join("runs")).ensure_writable().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unwritable { .. }), "{err:?}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(
        text.contains(&dir.join("runs/trials/.work/.probe.").display().to_string()),
        "{text}"
    );
    // A store that does not exist yet cannot be created.
    let err = Store::new(dir.join("fresh")).ensure_writable().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(
        text.contains(&dir.join("fresh/trials/.work").display().to_string()),
        "{text}"
    );
    println!("READ-ONLY-PROBE-OK: {text}");
}

#[test]
fn an_unwritable_store_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    // Writable: passes and leaves nothing behind.
    let store = Store::new(tmp.path().join("runs"));
    store.ensure_writable().unwrap();
    assert_eq!(
        entries(&tmp.path().join("runs/trials/.work")),
        Vec::<String>::new()
    );

    // Root ignores permission bits, so use a real read-only mount in a private mount
    // namespace. No `unshare` (or no permission for it) fails this test.
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = r#"mount -t tmpfs tmpfs "$1" && mkdir -p "$1/runs/trials/.work" && mount -o remount,ro "$1" && exec "$2" --exact child_read_only_probe --ignored --nocapture"#;
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&mnt)
        .arg(&exe)
        .env(READ_ONLY_ENV, &mnt)
        .output()
        .expect("running unshare (util-linux) is required for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("READ-ONLY-PROBE-OK"), "{stdout}\n{stderr}");
    // The mount stayed in the child's namespace.
    assert_eq!(entries(&mnt), Vec::<String>::new());
}

#[test]
fn temporary_files_never_follow_a_planted_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    std::fs::create_dir(&dir).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let target = dir.join("summary.json");

    // Where the old code put its temporary file: `.<name>.<pid>.tmp`.
    let predictable = dir.join(format!(".summary.json.{}.tmp", std::process::id()));
    std::os::unix::fs::symlink(&victim, &predictable).unwrap();
    for round in 0..20 {
        write_atomic(&target, format!("round {round}").as_bytes()).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "round 19");
    assert!(!target.is_symlink());
    // Only the target and the planted link: no temporary file is left over.
    assert_eq!(
        entries(&dir),
        [
            format!(".summary.json.{}.tmp", std::process::id()),
            "summary.json".to_string()
        ]
    );

    // Creating exclusively refuses a symlink, to an existing file or a dangling one.
    let err = create_exclusive(&predictable).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let dangling = dir.join("dangling");
    let nowhere = tmp.path().join("nowhere");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
    assert!(create_exclusive(&dangling).is_err());
    assert!(!nowhere.exists(), "a dangling link's target is not created");

    // A symlink planted as a trial's lock file is refused, not followed.
    let store = Store::new(tmp.path().join("runs"));
    let id = trial_id(0);
    let work_root = store.work_dir(&id);
    let work_root = work_root.parent().unwrap();
    std::fs::create_dir_all(work_root).unwrap();
    let lock = work_root.join(format!("{id}.lock"));
    std::os::unix::fs::symlink(&victim, &lock).unwrap();
    let err = store.claim(&id).unwrap_err();
    assert!(
        err.to_string().contains(&lock.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let lock_nowhere = tmp.path().join("lock-nowhere");
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&lock_nowhere, &lock).unwrap();
    assert!(store.claim(&id).is_err());
    assert!(!lock_nowhere.exists());
}

/// A run killed between publishing a trial and removing its claim, or in the middle of a
/// takeover, leaves files in `.work/`; the next run sweeps them, never a live claim.
#[test]
fn leftovers_of_dead_runs_beside_done_trials_are_swept_live_claims_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("runs"));
    let done = record(0, 80.0);
    let claim = store.claim(&done.id).unwrap().unwrap();
    let lease = store
        .work_dir(&done.id)
        .with_file_name(format!("{}.lock", done.id));
    let text = std::fs::read_to_string(&lease).unwrap();
    write_atomic(&claim.work_dir().join(SUMMARY), json(&done).as_bytes()).unwrap();
    claim.publish().unwrap();
    // As if its holder was killed before removing it: a dead pid's claim on a done trial.
    let mut holder: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    holder["pid"] = serde_json::json!(u32::MAX - 1);
    std::fs::write(&lease, holder.to_string()).unwrap();
    let breaker = lease.with_file_name(format!("{}.lock.break", trial_id(5)));
    std::fs::write(&breaker, holder.to_string()).unwrap();
    let aside = lease.with_file_name(format!(".{}.lock.0123.aside", trial_id(6)));
    std::fs::write(&aside, holder.to_string()).unwrap();
    // A live claim of a pending trial, and a live claim file beside a done trial.
    let live = store.claim(&trial_id(1)).unwrap().unwrap();
    let live_lease = lease.with_file_name(format!("{}.lock", trial_id(1)));

    let removed = store.sweep_leftovers();
    assert_eq!(removed.len(), 3, "{removed:?}");
    assert!(!lease.exists() && !breaker.exists() && !aside.exists());
    assert!(live_lease.exists(), "a live claim stays");
    assert!(!live.lost());
    assert!(store.sweep_leftovers().is_empty());
}

/// A store of the older layout (`runs/<experiment>/<id>/`, `runs/<experiment>/.work/<id>/`)
/// is moved into the shared trials folder: finished trials and a dead run's resumable work folder;
/// an old copy of a trial the store holds already is set aside in quarantine (never
/// deleted); a second run finds nothing to do.
#[test]
fn an_older_per_experiment_store_moves_into_the_shared_trials_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let old = store.experiment_dir("faults");
    let (a, b, c) = (record(0, 80.0), record(1, 81.0), record(2, 82.0));
    for r in [&a, &b] {
        std::fs::create_dir_all(old.join(&r.id)).unwrap();
        std::fs::write(old.join(&r.id).join(SUMMARY), json(r)).unwrap();
    }
    // b is in the store already (e.g. run by another experiment after an upgrade).
    publish(&store, &b);
    // c was half-run under the old layout by a process that died.
    let old_work = old.join(".work").join(&c.id);
    std::fs::create_dir_all(&old_work).unwrap();
    std::fs::write(old_work.join("epoch-1.ckpt"), "state").unwrap();
    std::fs::write(old.join("seeding.json"), "{}").unwrap();

    let moved = store.migrate().unwrap();
    assert_eq!(moved.moved, vec![a.id.clone()]);
    assert_eq!(moved.moved_work, vec![c.id.clone()]);
    assert!(moved.left.is_empty(), "{:?}", moved.left);
    assert_eq!(moved.duplicates.len(), 1, "{:?}", moved.duplicates);
    assert_eq!(moved.duplicates[0].0, old.join(&b.id));
    assert!(moved.duplicates[0].1.starts_with(store.quarantine_dir()));
    assert!(
        std::fs::read_to_string(moved.duplicates[0].1.join(QUARANTINE_NOTE))
            .unwrap()
            .contains("which the store holds already")
    );

    assert_eq!(store.state(&a.id), TrialState::Done);
    assert_eq!(store.state(&b.id), TrialState::Done);
    assert_eq!(
        std::fs::read_to_string(store.work_dir(&c.id).join("epoch-1.ckpt")).unwrap(),
        "state"
    );
    assert!(!old.join(&a.id).exists());
    assert!(!old_work.exists());
    assert!(old.join("seeding.json").is_file(), "experiment files stay");
    let claim = store
        .claim(&c.id)
        .unwrap()
        .expect("c is resumable in the store");
    assert!(claim.has_leftovers());
    claim.release();

    let again = store.migrate().unwrap();
    assert!(again.is_empty(), "{again:?}");
}

/// An experiment's records are the store's records of its variants' settings, whichever
/// experiment ran them, and those it ran itself; not another experiment's other settings.
#[test]
fn an_experiments_records_are_its_settings_from_any_experiment() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("runs"));
    let mut shared = record(0, 80.0);
    shared.experiment = "other".into();
    shared.variant = "their name".into();
    publish(&store, &shared);
    let mut foreign = record(1, 81.0);
    foreign.config.batch_size = 32;
    foreign.config_digest = id::config_digest(&foreign.config);
    foreign.id = id::trial_id(&foreign.config, 1, DIGEST);
    foreign.experiment = "other".into();
    publish(&store, &foreign);
    let mut own_other_settings = foreign.clone();
    own_other_settings.seed = 2;
    own_other_settings.id = id::trial_id(&own_other_settings.config, 2, DIGEST);
    own_other_settings.experiment = "faults".into();
    publish(&store, &own_other_settings);

    assert_eq!(store.records().unwrap().records.len(), 3);
    let mine: Vec<String> = store
        .records_for(&membership())
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.contains(&shared.id));
    assert!(mine.contains(&own_other_settings.id));
}

/// A symlinked store folder is refused before anything runs, with the path and what to
/// do: the work would otherwise land outside the store.
#[test]
fn symlinked_store_folders_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    for folder in [".work", ".quarantine"] {
        let root = tmp.path().join(format!("runs-{folder}"));
        std::fs::create_dir_all(root.join("trials")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("trials").join(folder)).unwrap();
        let err = Store::new(&root).ensure_writable().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Layout { .. }), "{err:?}");
        assert!(text.contains("is a symbolic link"), "{text}");
        assert!(text.contains(&format!("trials/{folder}")), "{text}");
        assert_eq!(
            entries(&elsewhere),
            Vec::<String>::new(),
            "nothing written there"
        );
    }
    // The store's root may be a link.
    let real = tmp.path().join("real-runs");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, tmp.path().join("linked-runs")).unwrap();
    Store::new(tmp.path().join("linked-runs"))
        .ensure_writable()
        .unwrap();
}

const CROSS_DEVICE_ENV: &str = "STORE_FAULTS_CROSS_DEVICE_DIR";

/// Child of the cross-device test (run by it, never alone): inside a mount namespace where
/// the store's work folder is a tmpfs of its own.
#[test]
#[ignore = "run by work_on_another_filesystem_is_refused_before_training"]
fn child_cross_device() {
    let dir = PathBuf::from(std::env::var_os(CROSS_DEVICE_ENV).expect("run by its parent"));
    let err = Store::new(dir.join("runs")).ensure_writable().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Layout { .. }), "{err:?}");
    assert!(text.contains("another filesystem"), "{text}");
    println!("CROSS-DEVICE-OK: {text}");
}

/// A work folder on another filesystem than the trials (a mount, or a link the user made
/// and the check above would catch) is refused before any training: publishing is a rename.
#[test]
fn work_on_another_filesystem_is_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("runs/trials/.work");
    std::fs::create_dir_all(&work).unwrap();
    let exe = std::env::current_exe().unwrap();
    let script = r#"mount -t tmpfs tmpfs "$1/runs/trials/.work" && exec "$2" --exact child_cross_device --ignored --nocapture"#;
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(tmp.path())
        .arg(&exe)
        .env(CROSS_DEVICE_ENV, tmp.path())
        .output()
        .expect("running unshare (util-linux) is required for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.contains("CROSS-DEVICE-OK"),
        "the child ran: {stdout}\n{stderr}"
    );
}

/// A finished record whose numbers contradict each other was edited: its final accuracy
/// is not its last epoch's, it has fewer epochs than its configuration, its epochs are
/// misnumbered, an epoch's accuracy is not a percentage, or its best is not the highest.
/// It is quarantined with the field named, never averaged.
#[test]
fn a_record_whose_numbers_contradict_each_other_is_quarantined() {
    type Edit = fn(&mut TrialRecord);
    let edits: [(&str, Edit); 5] = [
        ("final_accuracy", |r| r.final_accuracy = Some(99.5)),
        ("a finished trial of 2 epoch(s) has 1 recorded", |r| {
            r.config.epochs = 2
        }),
        ("entry 1 is numbered epoch 3", |r| r.epochs[0].epoch = 3),
        ("epochs[0].test_accuracy", |r| {
            r.epochs[0].test_accuracy = f64::NAN
        }),
        ("best_accuracy", |r| r.best_accuracy = Some(90.0)),
    ];
    for (field, edit) in edits {
        let good = record(0, 80.0);
        assert!(good.validate(&good.id).is_ok());
        let mut bad = good.clone();
        edit(&mut bad);
        let err = bad.validate(&bad.id).unwrap_err().to_string();
        assert!(err.contains(field), "{field}: {err}");

        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("runs"));
        plant(&store, &bad.id, &json(&bad));
        let found = store.records_for(&membership()).unwrap();
        assert!(found.records.is_empty(), "{field}: never averaged");
        assert_eq!(found.quarantined.len(), 1, "{field}");
        assert!(found.quarantined[0].reason.contains(field), "{found:?}");
    }
}
