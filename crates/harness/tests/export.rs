//! `harness export csv` read back by Python's own `csv` module and checked against the
//! store's records.

mod util;

use std::collections::BTreeMap;
use std::process::Command;
use util::{Workspace, summary};

const SMOKE: &str = "configs/smoke.ron";

/// Reads `path` with Python's csv module; returns the header and the rows.
fn python_rows(path: &std::path::Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let script = "import csv, json, sys\nwith open(sys.argv[1], newline='') as f:\n    r = csv.DictReader(f)\n    rows = list(r)\nprint(json.dumps({'header': r.fieldnames, 'rows': rows}))\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 (make test's set-up needs it for the venv)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let header = serde_json::from_value(v["header"].clone()).unwrap();
    let rows = serde_json::from_value(v["rows"].clone()).unwrap();
    (header, rows)
}

#[test]
fn the_csv_has_a_row_per_trial_and_epoch_with_the_config_flattened() {
    let ws = Workspace::new();
    ws.ok(&["replicate", SMOKE]);
    let out = ws.join("results.csv");
    ws.ok(&["export", "csv", SMOKE, "--out", out.to_str().unwrap()]);
    let (header, rows) = python_rows(&out);
    for column in [
        "experiment",
        "variant",
        "seed",
        "trial_id",
        "model.architecture",
        "model.channels",
        "optimizer.lr",
        "augmentations",
        "epoch",
        "test_accuracy",
        "train_loss_sum",
    ] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    let trials = ws.finished_trials("smoke");
    let mut expected = 0;
    for t in &trials {
        let s = summary(t);
        let id = s["id"].as_str().unwrap();
        for e in s["epochs"].as_array().unwrap() {
            expected += 1;
            let epoch = e["epoch"].as_u64().unwrap().to_string();
            let row = rows
                .iter()
                .find(|r| r["trial_id"] == id && r["epoch"] == epoch)
                .unwrap_or_else(|| panic!("no row for {id} epoch {}", e["epoch"]));
            assert_eq!(
                row["test_accuracy"].parse::<f64>().unwrap(),
                e["test_accuracy"].as_f64().unwrap()
            );
            assert_eq!(
                row["train_loss_sum"].parse::<f64>().unwrap(),
                e["train_loss_sum"].as_f64().unwrap()
            );
            assert_eq!(row["variant"], s["variant"].as_str().unwrap());
            assert_eq!(row["seed"], s["seed"].to_string());
            assert_eq!(row["model.channels"], "4");
            assert_eq!(row["model.architecture"], "conv2");
        }
    }
    assert_eq!(rows.len(), expected);
    // The flip variant's augmentation list is one quoted cell with commas inside.
    assert!(
        rows.iter()
            .any(|r| r["augmentations"].contains("HorizontalFlip"))
    );

    // Standard output by default, byte-identical to the file.
    let stdout = ws.ok(&["export", "csv", SMOKE]);
    assert_eq!(stdout, std::fs::read_to_string(&out).unwrap());
}
