//! A full disk stops a trial at the first failed write, with the OS error and the path.
//!
//! For real: the test re-executes its own binary (the `child_process_entry_point` test,
//! which does nothing unless [`CHILD_DIR`] is set) inside `unshare -m`, a private mount
//! namespace where a 1 MiB tmpfs is mounted over the trial's folder. The trial's epoch
//! checkpoints (about 0.6 MB each for the 2-conv net) fill it within two epochs of eight,
//! so a trial that ignored the error would report many more epochs than one that stops.
//! Needs root (mounting) and `unshare` (util-linux); without them the test fails.

use contract::Event;
use experiment::trial_run::run_trial;
use spec::StudyValues;
use spec::Variant;
use spec::plan::TrialSpec;
use std::path::Path;
use std::process::Command;
use tch::Device;
use trainer::TrialConfig;

/// When set, `child_process_entry_point` runs the trial into this folder.
const CHILD_DIR: &str = "DISK_FULL_TEST_CHILD_DIR";
const EPOCHS: u32 = 8;
const TMPFS_SIZE: &str = "1m";

/// The child: runs an 8-epoch trial into `$DISK_FULL_TEST_CHILD_DIR`, printing a line per
/// finished epoch and the error it ends with; a no-op in a normal test run.
#[test]
#[ignore = "a child of the disk-full test"]
fn child_process_entry_point() {
    let dir = std::env::var(CHILD_DIR).expect("run by its parent test");
    tch::set_num_threads(1);
    let text = format!(
        "(
            model: (architecture: conv2, channels: 32, kernel_size: 3, batch_norm: true, dropout: 0.2),
            optimizer: (name: adam, lr: 0.01),
            epochs: {EPOCHS},
            batch_size: 128,
            eval_batch_size: 256,
            data: (train_limit: Some(512), test_limit: Some(256)),
        )"
    );
    let trial = ron::from_str::<TrialConfig>(&text)
        .unwrap()
        .validate()
        .unwrap();
    let source = data::locate(None, None).expect("the Fashion-MNIST files");
    let dataset = data::FashionMnist::load(&source.dir, true).expect("the dataset loads");
    let spec = TrialSpec {
        experiment: "disk-full-test".into(),
        id: store::id::trial_id(trial.config(), 0, &dataset.digest),
        variant: Variant {
            name: "small".into(),
            trial,
            study: StudyValues::default(),
        },
        seed: 0,
    };
    let result = run_trial(
        &spec,
        &dataset,
        Device::Cpu,
        Path::new(&dir),
        &trainer::Stop::new(),
        &mut |event| {
            if let Event::Epoch(m) = event {
                println!("CHILD epoch {} done", m.epoch);
            }
        },
    );
    match result {
        Ok(_) => println!("CHILD trial finished"),
        Err(e) => {
            println!("CHILD trial failed: {e}");
            std::process::exit(3);
        }
    }
}

#[test]
fn a_full_disk_stops_the_trial_at_the_first_failed_write() {
    let mount = tempfile::tempdir().unwrap();
    let mount_path = mount.path().to_str().expect("a UTF-8 temporary path");
    let exe = std::env::current_exe().unwrap();
    let trial_dir = mount.path().join("trial");
    let script = format!(
        "set -e; mount -t tmpfs -o size={TMPFS_SIZE} fmnist-disk-full-test '{mount_path}'; \
         exec '{}' --exact child_process_entry_point --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env(CHILD_DIR, &trial_dir)
        .output()
        .expect("`unshare` (util-linux) must be installed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        !stderr.contains("unshare failed") && !stderr.contains("mount:"),
        "a private mount namespace with a tmpfs is needed (run as root):\n{all}"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the trial must fail, not finish:\n{all}"
    );
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("CHILD trial failed: "))
        .unwrap_or_else(|| panic!("no failure reported:\n{all}"));
    assert!(
        failure.contains("No space left on device"),
        "the OS error is in the message: {failure}"
    );
    assert!(
        failure.contains(&format!("{}/", trial_dir.display())),
        "the path that failed is in the message: {failure}"
    );
    let epochs = stdout.matches("CHILD epoch").count();
    assert!(
        epochs <= 2,
        "stopped within the first two epochs of {EPOCHS}, not after {epochs}:\n{all}"
    );
    // Nothing leaked out of the namespace: the tmpfs was private to the child.
    assert!(!trial_dir.exists());
}
