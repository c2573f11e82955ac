//! `harness parity` end to end on the real data: both sides train (ours through the run
//! store, PyTorch through `bench/reference/train_reference.py` in the cached torch venv),
//! `reports/parity.md` shows both sides per epoch and the final difference with its CI,
//! the PyTorch runs are cached, and a rerun trains nothing and writes the same report.
//!
//! It needs the torch venv with torchvision and pillow, which `make test` installs
//! (`scripts/setup.sh --test`); without them it fails, and the error says what to run.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};
use util::{Workspace, summary};

const ARGS: &[&str] = &[
    "parity",
    "--archs",
    "conv2",
    "--epochs",
    "2",
    "--seeds",
    "2",
    "--train-limit",
    "1024",
    "--test-limit",
    "512",
    "--threads",
    "1",
];

/// `mean ± sd` as the report writes it.
fn cell(xs: &[f64], digits: usize) -> String {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    format!("{mean:.digits$} ± {sd:.digits$}")
}

/// Per epoch (1-based): the test accuracies and training losses of some runs, from their
/// JSON (`epochs[i].test_accuracy`, `epochs[i].train_loss_mean` on both sides).
fn per_epoch(runs: &[serde_json::Value]) -> BTreeMap<u64, (Vec<f64>, Vec<f64>)> {
    let mut out: BTreeMap<u64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for run in runs {
        for e in run["epochs"].as_array().unwrap() {
            let entry = out.entry(e["epoch"].as_u64().unwrap()).or_default();
            entry.0.push(e["test_accuracy"].as_f64().unwrap());
            entry.1.push(e["train_loss_mean"].as_f64().unwrap());
        }
    }
    out
}

fn pytorch_cache(ws: &Workspace) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ws.join("runs/parity-ours/pytorch"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn parity_trains_both_sides_reports_and_reuses_everything_on_rerun() {
    let ws = Workspace::new();
    let readme = std::fs::read(ws.join("README.md")).unwrap();
    let clock = Instant::now();
    let out = ws.ok(ARGS);
    let first = clock.elapsed();
    assert!(out.contains("ours: 2 of 2 trial(s) to train"), "{out}");

    // Our side: two trials of conv2 in the store.
    let trials = ws.finished_trials("parity-ours");
    assert_eq!(trials.len(), 2, "{out}");
    let ours: Vec<serde_json::Value> = trials.iter().map(|t| summary(t)).collect();
    for s in &ours {
        assert_eq!(s["variant"], "conv2");
        assert_eq!(s["config"]["epochs"], 2);
        assert_eq!(s["config"]["data"]["train_limit"], 1024);
        assert_eq!(s["provenance"]["threads"], 1);
    }

    // PyTorch's side: one cache file per seed, named <arch>-<key>-seed<S>.json.
    let cache = pytorch_cache(&ws);
    let names: Vec<String> = cache
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for (seed, name) in names.iter().enumerate() {
        let key = name
            .strip_prefix("conv2-")
            .and_then(|rest| rest.strip_suffix(&format!("-seed{seed}.json")))
            .unwrap_or_else(|| panic!("{name}"));
        assert!(
            key.len() == 12 && key.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
    }
    let pytorch: Vec<serde_json::Value> = cache
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    for (seed, run) in pytorch.iter().enumerate() {
        assert_eq!(run["seed"], seed as u64);
        assert_eq!(run["threads"], 1);
        assert_eq!(run["settings"]["arch"], "conv2");
        assert_eq!(run["epochs"].as_array().unwrap().len(), 2);
        assert!(
            run["torch"].as_str().unwrap().starts_with("2.11.0"),
            "{run}"
        );
    }

    // The report: both sides' rows for epochs 1 and 2 with n = 2, numbers as computed here
    // from the records and the cache files.
    let report = std::fs::read_to_string(ws.join("reports/parity.md")).unwrap();
    assert!(report.starts_with("# Parity with PyTorch"), "{report}");
    let (ours_epochs, pytorch_epochs) = (per_epoch(&ours), per_epoch(&pytorch));
    for epoch in [1u64, 2] {
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {epoch} | 0.01 |")))
            .unwrap_or_else(|| panic!("no row for epoch {epoch}:\n{report}"));
        let (oa, ol) = &ours_epochs[&epoch];
        let (pa, pl) = &pytorch_epochs[&epoch];
        let expected = format!("| 2 / 2 | {} | {} |", cell(oa, 2), cell(pa, 2));
        assert!(row.contains(&expected), "{row} should contain {expected}");
        let losses = format!("| {} | {} |", cell(ol, 4), cell(pl, 4));
        assert!(row.ends_with(&losses), "{row} should end with {losses}");
    }
    let line = report
        .lines()
        .find(|l| l.starts_with("Final epoch (2): ours - PyTorch = "))
        .unwrap_or_else(|| panic!("no difference line:\n{report}"));
    assert!(line.contains(", 95% CI ["), "{line}");
    assert!(line.contains("(Welch, df "), "{line}");
    assert!(
        [
            "**difference within noise**",
            "**ours higher, beyond noise**",
            "**ours lower, beyond noise**"
        ]
        .iter()
        .any(|v| line.contains(v)),
        "{line}"
    );
    assert!(
        report.contains("| conv2 | 2 | "),
        "verdict table:\n{report}"
    );
    assert!(
        report.contains("- Seeds: ours 2 (0, 1); PyTorch 2 (0, 1);"),
        "{report}"
    );
    assert!(report.contains("- Threads: ours 1; PyTorch 1"), "{report}");
    // The replicate's own report went beside the runs; the README is untouched.
    assert!(
        ws.join("runs/parity-ours/replicate/parity-ours.md")
            .is_file()
    );
    assert_eq!(std::fs::read(ws.join("README.md")).unwrap(), readme);

    // Rerun: nothing trains on either side; the same report, byte for byte.
    let written: Vec<PathBuf> = cache
        .iter()
        .cloned()
        .chain(trials.iter().map(|t| t.join("summary.json")))
        .collect();
    let before: Vec<SystemTime> = written.iter().map(|p| modified(p)).collect();
    let clock = Instant::now();
    let again = ws.ok(ARGS);
    let second = clock.elapsed();
    assert!(
        again.contains("ours: all 2 trial(s) are in the store runs; nothing to train"),
        "{again}"
    );
    assert!(!again.contains("ours: 2 of 2"), "{again}");
    assert_eq!(
        again
            .matches(": reused runs/parity-ours/pytorch/conv2-")
            .count(),
        2,
        "{again}"
    );
    assert!(!again.contains("trained in"), "{again}");
    assert_eq!(
        std::fs::read_to_string(ws.join("reports/parity.md")).unwrap(),
        report
    );
    let after: Vec<SystemTime> = written.iter().map(|p| modified(p)).collect();
    assert_eq!(before, after, "nothing was rewritten");
    assert_eq!(pytorch_cache(&ws), cache);
    assert_eq!(ws.finished_trials("parity-ours").len(), 2);
    eprintln!("first run {first:.1?}, rerun {second:.1?}");
    assert!(
        second * 2 < first,
        "the rerun ({second:?}) should be far faster than the first run ({first:?})"
    );
}

#[test]
fn parity_refuses_bad_requests_before_training() {
    let ws = Workspace::new();
    let fail = |args: &[&str]| {
        let out = ws.run(args);
        assert!(!out.status.success(), "harness {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = fail(&["parity", "--archs", "conv3"]);
    assert!(
        err.contains(
            "--archs: `conv3` is not a variant of configs/parity-ours.ron (it has: conv2, conv4)"
        ),
        "{err}"
    );
    let err = fail(&[
        "parity",
        "--archs",
        "conv2",
        "--python",
        "/nonexistent/bin/python",
    ]);
    assert!(err.contains("cannot run /nonexistent/bin/python"), "{err}");
    assert!(err.contains("scripts/setup.sh --test"), "{err}");
    let err = fail(&["parity", "--archs", "conv2", "--test-limit", "0"]);
    assert!(
        err.contains("data.test_limit") && err.contains("got 0"),
        "{err}"
    );
    // Nothing trained, nothing cached, no report.
    assert!(ws.finished_trials("parity-ours").is_empty());
    assert!(pytorch_cache(&ws).is_empty());
    assert!(!ws.join("reports/parity.md").exists());
}
