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
    // A mistyped --runs never rewrites the README's tables as "no trial recorded yet".
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::copy(repo.join("README.md"), ws.join("README.md")).unwrap();
    let readme = std::fs::read(ws.join("README.md")).unwrap();
    for args in [
        &["report", "configs/dropout.ron", "--runs", "reslts"][..],
        &["export", "csv", "--runs", "reslts"][..],
        &[
            "export",
            "records",
            "configs/dropout.ron",
            "--runs",
            "reslts",
            "--out",
            "copy",
        ][..],
    ] {
        let out = ws.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("reslts: not a run store"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(ws.join("README.md")).unwrap(), readme);
    assert!(!ws.join("reports/dropout.md").exists());
    assert!(!ws.join("copy").exists());
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

/// `--readme` that is not a regular file: a device is never read (`/dev/zero` would be read
/// without end), a folder is refused before any report is written.
#[test]
fn a_readme_that_is_a_device_is_not_read_and_a_folder_is_refused() {
    let ws = Workspace::new();
    let results = results();
    let results = results.to_str().unwrap();
    let reports = ws.join("out");
    let reports = reports.to_str().unwrap();
    for device in ["/dev/zero", "/dev/null"] {
        let out = ws.run(&[
            "report",
            "configs/dropout.ron",
            "--runs",
            results,
            "--reports",
            reports,
            "--readme",
            device,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{device}: {err}");
    }
    std::fs::remove_dir_all(ws.join("out")).unwrap();
    std::fs::create_dir_all(ws.join("a-folder")).unwrap();
    let out = ws.run(&[
        "report",
        "configs/dropout.ron",
        "--runs",
        results,
        "--reports",
        reports,
        "--readme",
        "a-folder",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a directory"), "{err}");
    assert!(
        !ws.join("out").exists(),
        "refused before any report is written"
    );
}

/// An export never writes into the store it reads: `--out` inside `--runs` (a record's
/// file, the store itself, its `trials/`) is refused before anything is written.
#[test]
fn exports_refuse_an_output_inside_the_store_they_read() {
    let ws = Workspace::new();
    util::copy_tree(&results(), &ws.join("store"));
    let snapshot = |dir: &Path| {
        let mut files = util::files_under(dir);
        files.sort();
        files
            .into_iter()
            .map(|f| (std::fs::read(&f).unwrap(), f))
            .collect::<Vec<_>>()
    };
    let before = snapshot(&ws.join("store"));
    let record = std::fs::read_dir(ws.join("store/trials"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("summary.json").is_file())
        .unwrap()
        .join("summary.json");
    let record = record.to_str().unwrap();
    for args in [
        &["export", "csv", "--runs", "store", "--out", record][..],
        &[
            "export",
            "csv",
            "--runs",
            "store",
            "--out",
            "store/new/dir/x.csv",
        ][..],
        &[
            "export",
            "tensorboard",
            "configs/dropout.ron",
            "--runs",
            "store",
            "--out",
            "store",
        ][..],
        &[
            "export",
            "records",
            "configs/dropout.ron",
            "--runs",
            "store",
            "--out",
            "store/trials",
        ][..],
    ] {
        let out = ws.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("inside the run store store"),
            "{args:?}: {err}"
        );
    }
    assert!(
        snapshot(&ws.join("store")) == before,
        "the store is untouched"
    );
    // Beside the store is fine.
    ws.ok(&["export", "csv", "--runs", "store", "--out", "store.csv"]);
}

/// Two files that name one experiment would share its report, README section and store
/// folder: `report` and `export records` refuse them, as `replicate` does.
#[test]
fn two_files_naming_one_experiment_are_refused() {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(ws.join("configs/dropout.ron")).unwrap();
    std::fs::write(ws.join("copy.ron"), text.replace("Dropout", "Impostor")).unwrap();
    let results = results();
    let results = results.to_str().unwrap();
    for args in [
        &[
            "report",
            "configs/dropout.ron",
            "copy.ron",
            "--runs",
            results,
            "--reports",
            "out",
        ][..],
        &[
            "export",
            "records",
            "configs/dropout.ron",
            "copy.ron",
            "--runs",
            results,
            "--out",
            "out",
        ][..],
    ] {
        let out = ws.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("configs/dropout.ron and copy.ron both name the experiment `dropout`"),
            "{args:?}: {err}"
        );
        assert!(!ws.join("out").exists(), "nothing written");
    }
}

/// `--seeds 0` is a malformed command line: exit 2, as `--jobs 0` and a bad `--set`.
#[test]
fn seeds_zero_is_a_usage_error() {
    let ws = Workspace::new();
    let results = results();
    let out = ws.run(&[
        "report",
        "configs/dropout.ron",
        "--runs",
        results.to_str().unwrap(),
        "--seeds",
        "0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--seeds 0: must be in 1..=1000"), "{err}");
}
