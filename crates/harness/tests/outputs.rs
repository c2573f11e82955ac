//! What the commands do with the paths and streams they write to, tried on the committed
//! store `results/` (no training): `--out` onto a device node or a FIFO writes through it
//! and leaves it what it was; a closed standard output ends a command quietly with exit 0
//! (after its files are written); a full one (`/dev/full`) is one line and exit 1.

mod util;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use util::Workspace;

fn results() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results")
}

/// `mknod PATH KIND [MAJOR MINOR]` (coreutils).
fn mknod(path: &Path, kind: &str, numbers: &[&str]) {
    let out = std::process::Command::new("mknod")
        .arg(path)
        .arg(kind)
        .args(numbers)
        .output()
        .expect("coreutils' mknod");
    assert!(
        out.status.success(),
        "mknod {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every command that prints, with arguments that make it print on the committed store.
fn printing_commands(ws: &Workspace) -> Vec<Vec<String>> {
    let results = results().to_str().unwrap().to_string();
    let tb = ws.join("tb").to_str().unwrap().to_string();
    let reports = ws.join("reports-out").to_str().unwrap().to_string();
    let cmds: Vec<Vec<&str>> = vec![
        vec!["status", "--runs", &results],
        vec!["models"],
        vec![
            "seeds",
            "configs/optimizer.ron",
            "--detect",
            "0.3",
            "--runs",
            &results,
        ],
        vec!["data", "info"],
        vec!["data", "verify"],
        vec!["export", "csv", "--runs", &results],
        vec![
            "export",
            "tensorboard",
            "configs/quickstart.ron",
            "--runs",
            &results,
            "--out",
            &tb,
        ],
        vec![
            "report",
            "configs/quickstart.ron",
            "configs/variance.ron",
            "--runs",
            &results,
            "--reports",
            &reports,
            "--readme",
            "/dev/null",
        ],
    ];
    cmds.into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

#[test]
fn a_closed_standard_output_ends_each_command_quietly_with_exit_0() {
    let ws = Workspace::new();
    for args in printing_commands(&ws) {
        let _ = std::fs::remove_dir_all(ws.join("tb"));
        // The reader is gone before the command writes anything: its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = ws
            .harness()
            .args(&args)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
    // `report` wrote its files before it printed.
    for file in ["quickstart.md", "quickstart.png", "variance.md"] {
        assert!(ws.join("reports-out").join(file).is_file(), "{file}");
    }
}

#[test]
fn a_full_standard_output_is_one_line_and_exit_1() {
    let ws = Workspace::new();
    for args in printing_commands(&ws) {
        let _ = std::fs::remove_dir_all(ws.join("tb"));
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = ws
            .harness()
            .args(&args)
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {err}");
        assert!(errors[0].contains("standard output"), "{args:?}: {err}");
        assert!(
            errors[0].contains("No space left on device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn out_onto_a_device_or_a_fifo_writes_through_and_leaves_it_in_place() {
    // Root makes the device node; CI and the development machines run as root.
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(uid, 0, "this test must run as root (mknod)");
    let ws = Workspace::new();
    let results = results();
    let results = results.to_str().unwrap();
    let null = ws.join("null");
    mknod(&null, "c", &["1", "3"]);
    ws.ok(&[
        "export",
        "csv",
        "--runs",
        results,
        "--out",
        null.to_str().unwrap(),
    ]);
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );

    let fifo = ws.join("fifo");
    mknod(&fifo, "p", &[]);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    ws.ok(&[
        "export",
        "csv",
        "--runs",
        results,
        "--out",
        fifo.to_str().unwrap(),
    ]);
    let csv = String::from_utf8(reader.join().unwrap()).unwrap();
    assert!(
        csv.starts_with("experiment,"),
        "{}",
        &csv[..csv.len().min(200)]
    );
    assert!(csv.lines().count() > 100);
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );

    // A block device is refused before any work, and stays.
    let disk = ws.join("disk");
    mknod(&disk, "b", &["7", "0"]);
    let out = ws.run(&[
        "export",
        "csv",
        "--runs",
        results,
        "--out",
        disk.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("block device"), "{err}");
    assert!(
        std::fs::symlink_metadata(&disk)
            .unwrap()
            .file_type()
            .is_block_device()
    );
    let out = ws.run(&[
        "export",
        "onnx",
        "063cd6148a27",
        "--runs",
        results,
        "--out",
        disk.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("block device"), "{err}");
}

#[test]
fn status_on_a_folder_that_is_not_a_store_says_so() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.join("not-a-store/sub")).unwrap();
    let out = ws.run(&["status", "--runs", "not-a-store"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not-a-store: not a run store"), "{err}");
    let out = ws.run(&["status", "--runs", "missing"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_bad_set_names_the_flag_and_exits_2() {
    let ws = Workspace::new();
    for (set, words) in [
        (
            "model.x=1",
            "--set model.x=1: field `model.x`: unknown field `x`",
        ),
        ("schedule=Exponential(gamma: NaN)", "is not a finite number"),
        ("model.dropout=2", "--set model.dropout=2"),
        ("precision=fp16", "expected fp32 or bf16"),
    ] {
        let out = ws.run(&["replicate", "configs/smoke.ron", "--set", set, "--dry-run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{set}: {err}");
        assert!(err.contains(words), "{set}: {err}");
        assert!(!err.contains(":0:"), "{set}: {err}");
    }
}

/// `--threads 0` is a bad command line for a local run and for `--slurm` alike: exit 2,
/// refused before anything is planned or submitted.
#[test]
fn threads_0_is_refused_with_exit_2_before_any_submission() {
    let ws = Workspace::new();
    for args in [
        &[
            "replicate",
            "configs/smoke.ron",
            "--threads",
            "0",
            "--dry-run",
        ][..],
        &[
            "replicate",
            "configs/smoke.ron",
            "--slurm",
            "--threads",
            "0",
            "--dry-run",
        ][..],
    ] {
        let out = ws.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--threads 0: must be at least 1"), "{err}");
        assert!(
            String::from_utf8_lossy(&out.stdout).is_empty(),
            "nothing planned or printed"
        );
        assert!(!ws.join("runs/smoke/.slurm").exists(), "no script kept");
    }
}

/// The flags only a Slurm submission has are checked with the others, by the library's one
/// flag check, before the store or the dataset is touched: `--jobs auto` (this machine's
/// cores mean nothing to an array) and `--halfwidth` (the pilot must finish first).
#[test]
fn slurm_only_flag_conflicts_are_refused_with_exit_2_before_any_submission() {
    let ws = Workspace::new();
    for (extra, words) in [
        (
            &["--jobs", "auto"][..],
            "--jobs auto splits this machine's cores",
        ),
        (&["--halfwidth", "0.5"][..], "--halfwidth with --slurm"),
    ] {
        let mut args = vec!["replicate", "configs/smoke.ron", "--slurm", "--dry-run"];
        args.extend(extra);
        let out = ws.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "{args:?}");
        assert!(
            !ws.join("runs").exists(),
            "{args:?}: the store is untouched"
        );
    }
}
