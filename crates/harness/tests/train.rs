//! End-to-end tests of `harness train`: the trial folder, determinism, divergence, bad
//! arguments.

mod util;

use util::{Workspace, summary};

const SMOKE: &str = "configs/smoke.ron";

fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

fn metrics(trial: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(trial.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_trial_leaves_a_complete_folder_and_is_deterministic() {
    let ws = Workspace::new();
    let out = ws.ok(&[
        "train",
        SMOKE,
        "--variant",
        "flip",
        "--seed",
        "7",
        "--out",
        "a",
        "--device",
        "cpu",
    ]);
    assert!(out.contains("final test accuracy"), "{out}");
    ws.ok(&[
        "train",
        SMOKE,
        "--variant",
        "flip",
        "--seed",
        "7",
        "--out",
        "b",
        "--device",
        "cpu",
    ]);
    let (a, b) = (ws.join("a"), ws.join("b"));
    for file in [
        "config.ron",
        "train.log",
        "events.jsonl",
        "metrics.jsonl",
        "summary.json",
        "ckpt/last.model.ot",
        "ckpt/last.optim.ot",
        "ckpt/best.model.ot",
        "ckpt/best.optim.ot",
    ] {
        assert!(a.join(file).is_file(), "missing {file}");
    }
    assert_eq!(png_size(&a.join("losses.png")), (800, 500));
    assert_eq!(png_size(&a.join("accuracies.png")), (800, 500));
    let s = summary(&a);
    assert_eq!(s["seed"], 7);
    assert_eq!(s["variant"], "flip");
    assert_eq!(s["status"], "finished");
    assert_eq!(s["epochs"].as_array().unwrap().len(), 2);
    for key in [
        "git_commit",
        "libtorch_version",
        "device",
        "device_name",
        "threads",
        "host",
        "started_at",
        "finished_at",
    ] {
        assert!(!s["provenance"][key].is_null(), "provenance.{key}");
    }
    assert!(s["latency"]["batch1"]["runs"].as_u64().unwrap() >= 50);
    let config = std::fs::read_to_string(a.join("config.ron")).unwrap();
    assert!(config.contains("HorizontalFlip"), "{config}");
    assert!(config.contains(s["id"].as_str().unwrap()));

    // Bit-identical metrics (timings aside) for the same trial.
    let (ma, mb) = (metrics(&a), metrics(&b));
    assert_eq!(ma.len(), 2);
    for (x, y) in ma.iter().zip(&mb) {
        for key in [
            "train_loss_sum",
            "train_loss_mean",
            "test_loss",
            "test_accuracy",
            "lr",
        ] {
            assert_eq!(x[key], y[key], "{key} differs between identical runs");
        }
    }
    // A different seed gives different numbers.
    ws.ok(&[
        "train",
        SMOKE,
        "--variant",
        "flip",
        "--seed",
        "8",
        "--out",
        "c",
        "--device",
        "cpu",
    ]);
    assert_ne!(
        metrics(&ws.join("c"))[0]["train_loss_sum"],
        ma[0]["train_loss_sum"]
    );
}

#[test]
fn train_into_the_store_is_skipped_when_done() {
    let ws = Workspace::new();
    ws.ok(&["train", SMOKE]);
    assert_eq!(ws.finished_trials("smoke").len(), 1);
    let out = ws.ok(&["train", SMOKE]);
    assert!(out.contains("already done"), "{out}");
}

#[test]
fn a_diverging_trial_is_recorded_as_diverged() {
    let ws = Workspace::new();
    let out = ws.run(&[
        "train",
        SMOKE,
        "--out",
        "d",
        "--set",
        "optimizer.name=sgd",
        "--set",
        "optimizer.lr=10",
        // With lr * weight_decay = 10, every step multiplies each weight by -9: the
        // weights overflow to infinity within a few epochs, on any machine.
        "--set",
        "optimizer.momentum=0",
        "--set",
        "optimizer.weight_decay=1",
        "--set",
        "model.batch_norm=false",
        "--set",
        "epochs=6",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s = summary(&ws.join("d"));
    assert!(s["status"]["diverged"].is_object(), "{s}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("DIVERGED"));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let ws = Workspace::new();
    let err = |args: &[&str]| {
        let out = ws.run(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(err(&["train", SMOKE, "--variant", "nope"]).contains("no variant `nope`"));
    assert!(err(&["train", SMOKE, "--set", "epochs=0"]).contains("epochs"));
    assert!(err(&["train", SMOKE, "--set", "model.kernel_size=4"]).contains("kernel_size"));
    assert!(err(&["train", SMOKE, "--device", "cuda:7"]).contains("cuda"));
    assert!(
        err(&["train", SMOKE, "--device", "tpu"]).contains("expected auto, cpu, cuda or cuda:N")
    );
    assert!(err(&["train", "configs/missing.ron"]).contains("missing.ron"));
    std::fs::create_dir(ws.join("exists")).unwrap();
    assert!(err(&["train", SMOKE, "--out", "exists"]).contains("already exists"));
}

/// `bench-epoch --mode full` times the trial runner itself (what a user's trial runs), so its
/// JSON lines carry the network's FLOPs, a warm-up epoch, the timed epochs and the latency,
/// and its scratch trial folder (under `TMPDIR`) is gone afterwards.
#[test]
fn bench_epoch_full_runs_the_trial_runner_and_leaves_nothing_behind() {
    let ws = Workspace::new();
    let tmp = ws.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = ws
        .harness()
        .env("TMPDIR", &tmp)
        .args(["bench-epoch", SMOKE, "--mode", "full", "--repeats", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "epoch", "epoch", "latency"]);
    assert!(lines[0]["forward_flops"].as_f64().unwrap() > 1e5);
    assert_eq!(lines[1]["warmup"], true);
    assert_eq!(lines[2]["images"], 512);
    assert!(lines[2]["epoch_time_s"].as_f64().unwrap() > 0.0);
    assert!(lines[3]["batch1"]["median_ms"].as_f64().unwrap() > 0.0);
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}
