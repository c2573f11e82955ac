//! `harness export tensorboard` read back by the real `tensorboard` package (2.21.0, in the
//! torch venv that `scripts/setup.sh --test` prepares) through
//! `export_tensorboard.py`: every scalar of every trial against its `metrics.jsonl`, the
//! epochs as steps, the hyper-parameters of the HParams session against the trial's
//! resolved configuration, the HParams dashboard's groups (the seeds of each variant),
//! the `mean` runs against the mean and sd computed here from the records, and the custom
//! scalars dashboard's margin charts over them.
//!
//! Without the venv or the package the test fails (it never skips) and says what to run.

mod util;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use util::{Workspace, summary, venv_python};

const SMOKE: &str = "configs/smoke.ron";

/// Tag in TensorBoard -> field of `metrics.jsonl`.
const SCALARS: [(&str, &str); 5] = [
    ("loss/train", "train_loss_mean"),
    ("loss/test", "test_loss"),
    ("accuracy/test", "test_accuracy"),
    ("optimizer/lr", "lr"),
    ("speed/images_per_s", "images_per_s"),
];

/// What TensorBoard reads from `out` (see `export_tensorboard.py`).
fn tensorboard_view(out: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export_tensorboard.py");
    let result = Command::new(venv_python())
        .arg(script)
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "reading the export with tensorboard failed (scripts/setup.sh --test installs \
         tensorboard==2.21.0 into the venv):\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    serde_json::from_slice(&result.stdout).unwrap()
}

/// A float as the reader wrote it ("nan", "inf" and "-inf" as strings).
fn float(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

/// The lines of a trial's `metrics.jsonl`.
fn metrics(trial: &Path) -> Vec<Value> {
    std::fs::read_to_string(trial.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The configuration flattened as the export's hyper-parameters are.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        Value::Array(_) => {
            out.insert(prefix.into(), Value::String(v.to_string()));
        }
        other => {
            out.insert(prefix.into(), other.clone());
        }
    }
}

/// `a` and `b` agree to float32 precision (a few units in the last place).
fn close(a: f64, b: f64, scale: f64) -> bool {
    (a - b).abs() <= 4.0 * f64::from(f32::EPSILON) * scale.abs().max(1e-30)
}

#[test]
fn tensorboard_reads_every_scalar_hparam_and_mean_of_the_export() {
    let ws = Workspace::new();
    ws.ok(&["replicate", SMOKE]);
    let out = ws.join("tb");
    let started = std::time::Instant::now();
    let printed = ws.ok(&[
        "export",
        "tensorboard",
        SMOKE,
        "--out",
        out.to_str().unwrap(),
    ]);
    eprintln!("export took {:?}:\n{printed}", started.elapsed());
    assert!(
        printed.contains("wrote 4 trial run(s) and 2 mean run(s)"),
        "{printed}"
    );
    assert!(
        printed.contains("smoke/base: mean of 2 trial(s)"),
        "{printed}"
    );
    assert!(!printed.contains("diverged"), "{printed}");
    assert!(printed.contains("tensorboard --logdir"), "{printed}");

    let view = tensorboard_view(&out);
    let runs = view["runs"].as_object().unwrap();
    let trials = ws.finished_trials("smoke");
    assert_eq!(trials.len(), 4);
    assert_eq!(runs.len(), 4 + 2, "{:?}", runs.keys().collect::<Vec<_>>());

    // variant -> epoch -> field -> values over seeds
    let mut by_variant: BTreeMap<String, BTreeMap<u64, BTreeMap<&str, Vec<f64>>>> = BTreeMap::new();
    for trial in &trials {
        let s = summary(trial);
        let id = s["id"].as_str().unwrap();
        let variant = s["variant"].as_str().unwrap();
        let name = format!("smoke/{variant}/seed-{}-{}", s["seed"], &id[..8]);
        let run = runs
            .get(&name)
            .unwrap_or_else(|| panic!("no run {name}: {:?}", runs.keys()));
        let files = run["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(
            files[0]
                .as_str()
                .unwrap()
                .starts_with("events.out.tfevents.")
        );

        // Every scalar, at its epoch, equal to metrics.jsonl as float32.
        let lines = metrics(trial);
        assert_eq!(lines.len(), 2);
        for (tag, field) in SCALARS {
            let points = run["scalars"][tag]
                .as_array()
                .unwrap_or_else(|| panic!("{name} has no {tag}"));
            assert_eq!(points.len(), lines.len(), "{name} {tag}");
            for (p, line) in points.iter().zip(&lines) {
                assert_eq!(p[0], line["epoch"], "{name} {tag}: step is the epoch");
                let expected = line[field].as_f64().unwrap();
                assert_eq!(
                    float(&p[2]) as f32,
                    expected as f32,
                    "{name} {tag} epoch {}",
                    line["epoch"]
                );
                by_variant
                    .entry(variant.to_string())
                    .or_default()
                    .entry(line["epoch"].as_u64().unwrap())
                    .or_default()
                    .entry(field)
                    .or_default()
                    .push(expected);
            }
            assert!(!run["descriptions"][tag].as_str().unwrap().is_empty());
        }
        // Wall times: increasing, inside the trial's wall time.
        let times: Vec<f64> = run["scalars"]["accuracy/test"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[1].as_f64().unwrap())
            .collect();
        let session = &run["session"];
        let start = session["start_time_secs"].as_f64().unwrap();
        let end = session["end_time_secs"].as_f64().unwrap();
        assert!(close(end - start, s["wall_time_s"].as_f64().unwrap(), end));
        assert!(
            start < times[0] && times[0] < times[1] && times[1] <= end + 1.0,
            "{times:?}"
        );

        // The HParams session: the resolved config, experiment and variant; not the seed.
        assert_eq!(session["version"], 0);
        assert_eq!(session["tag_start"], "_hparams_/session_start_info");
        assert_eq!(session["tag_end"], "_hparams_/session_end_info");
        assert_eq!(session["group_name"], format!("smoke/{variant}"));
        assert_eq!(session["status"], "STATUS_SUCCESS");
        let mut expected = BTreeMap::new();
        flatten("", &s["config"], &mut expected);
        expected.insert("experiment".into(), "smoke".into());
        expected.insert("variant".into(), variant.into());
        let got: BTreeMap<String, Value> = session["hparams"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (k, want) in &expected {
            match want {
                Value::Number(n) => assert_eq!(got[k].as_f64(), n.as_f64(), "{k}"),
                other => assert_eq!(&got[k], other, "{k}"),
            }
        }
        assert_eq!(got["model.channels"].as_f64(), Some(4.0));
        assert_eq!(got["model.architecture"], "conv2");
    }

    // The mean runs: mean and mean ± sample sd of the seeds, per epoch.
    for (variant, epochs) in &by_variant {
        let name = format!("smoke/{variant}/mean");
        let run = runs
            .get(&name)
            .unwrap_or_else(|| panic!("no run {name}: {:?}", runs.keys()));
        assert!(
            run["session"].as_object().unwrap().is_empty(),
            "not a session"
        );
        for (tag, field) in SCALARS {
            let mean_pts = run["scalars"][tag].as_array().unwrap();
            let plus = run["scalars"][format!("{tag}/mean_plus_sd")]
                .as_array()
                .unwrap();
            let minus = run["scalars"][format!("{tag}/mean_minus_sd")]
                .as_array()
                .unwrap();
            assert_eq!(mean_pts.len(), epochs.len());
            for (i, (epoch, fields)) in epochs.iter().enumerate() {
                let xs = &fields[field];
                assert_eq!(xs.len(), 2);
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                let scale = mean.abs() + sd;
                for (points, want) in [(mean_pts, mean), (plus, mean + sd), (minus, mean - sd)] {
                    assert_eq!(points[i][0].as_u64(), Some(*epoch));
                    let got = float(&points[i][2]);
                    assert!(
                        close(got, want, scale),
                        "{name} {tag} epoch {epoch}: {got} vs {want}"
                    );
                }
            }
        }
        let counts: Vec<f64> = run["scalars"]["aggregate/trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| float(&p[2]))
            .collect();
        assert_eq!(counts, vec![2.0, 2.0]);
    }

    // The custom scalars dashboard: a margin chart (mean with its ± sd band) per scalar.
    let categories = view["layout"]["category"].as_array().unwrap();
    assert_eq!(
        categories.len(),
        1,
        "merged over the mean runs: {categories:?}"
    );
    let charts = categories[0]["chart"].as_array().unwrap();
    assert_eq!(charts.len(), SCALARS.len());
    for ((tag, _), chart) in SCALARS.iter().zip(charts) {
        let series = &chart["margin"]["series"][0];
        assert_eq!(series["value"], *tag);
        assert_eq!(series["lower"], format!("{tag}/mean_minus_sd"));
        assert_eq!(series["upper"], format!("{tag}/mean_plus_sd"));
    }

    // The HParams dashboard: one group per variant holding its two seeds.
    let groups = view["groups"].as_object().unwrap();
    assert_eq!(
        groups.keys().collect::<Vec<_>>(),
        vec!["smoke/base", "smoke/flip"],
        "{groups:?}"
    );
    for (group, g) in groups {
        let variant = group.strip_prefix("smoke/").unwrap();
        let sessions: Vec<&str> = g["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(sessions.len(), 2, "{g}");
        assert!(
            sessions
                .iter()
                .all(|s| s.starts_with(&format!("smoke/{variant}/seed-"))),
            "{sessions:?}"
        );
        assert_eq!(
            g["statuses"],
            serde_json::json!(["STATUS_SUCCESS", "STATUS_SUCCESS"])
        );
        assert_eq!(g["hparams"]["variant"], variant);
        // The group's accuracy: the mean over its seeds of the last epoch's.
        let last = &by_variant[variant].values().last().unwrap()["test_accuracy"];
        let mean = last.iter().sum::<f64>() / last.len() as f64;
        let got = g["metrics"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.ends_with("|accuracy/test"))
            .map(|(_, v)| float(v))
            .unwrap_or_else(|| panic!("no accuracy metric in {g}"));
        assert!(close(got, mean, mean), "{group}: {got} vs {mean}");
    }
}
