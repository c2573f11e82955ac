//! `harness export onnx` read back by the real readers: `onnx.checker` (full check) and
//! ONNX Runtime (`onnx` 1.23.2 and `onnxruntime` 1.31.1 in the torch venv that
//! `scripts/setup.sh --test` prepares), through `export_onnx.py`.
//!
//! For three architectures (2 conv with batch norm, 2 conv + residual without, 4 conv +
//! residual with kernel 5), ONNX Runtime's logits on 1,000 test images equal the trained
//! network's eval-mode logits within float tolerance, its top-1 classes equal ours on every
//! image, and its accuracy on the trial's test images is the recorded final accuracy.
//! Then what a user meets: a store of records without checkpoints (refused, with the way
//! out, which works and gives the same file), a damaged final checkpoint (refused), and
//! `--checkpoint best`.
//!
//! Without the venv or the packages the test fails (it never skips) and says what to run.

mod util;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tch::nn::ModuleT;
use util::{Workspace, real_data_dir, summary, venv_python};

const CONFIG: &str = r#"Experiment(
    name: "onnx",
    title: "ONNX export",
    description: "Tiny networks of three architectures for the ONNX export test.",
    seeds: 1,
    baseline: "conv2",
    base: (
        model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.2),
        optimizer: (name: adam, lr: 0.01),
        schedule: Step(every: 10, gamma: 0.1),
        augmentations: [],
        epochs: 2,
        batch_size: 64,
        eval_batch_size: 250,
        data: (train_limit: 512, test_limit: 1000),
    ),
    variants: [
        (name: "conv2"),
        (name: "conv2_res no bn", set: {"model.architecture": "conv2_res", "model.batch_norm": "false"}),
        (name: "conv4_res k5", set: {"model.architecture": "conv4_res", "model.kernel_size": "5"}),
    ],
)"#;

/// Test images compared (the trial's whole test set here).
const N: usize = 1000;

/// The trained network's eval-mode logits for the first `N` test images, as the trial
/// computes them, and those images normalised: written as little-endian f32 files.
fn our_logits(trial: &Path, images_file: &Path, logits_file: &Path) -> Vec<i64> {
    let record: store::record::TrialRecord =
        serde_json::from_str(&std::fs::read_to_string(trial.join("summary.json")).unwrap())
            .unwrap();
    let valid = record.config.clone().validate().unwrap();
    let (_vs, net) =
        trainer::load_model(&valid, &trial.join("ckpt/last.model.ot"), tch::Device::Cpu).unwrap();
    let dataset = data::FashionMnist::load(&real_data_dir(), true).unwrap();
    let test = dataset.test.take(N);
    // As a batch is made: pixels to [0, 1], then normalised.
    let images = data::normalize(&(test.images().to_kind(tch::Kind::Float) / 255.0));
    let logits = tch::no_grad(|| net.forward_t(&images, false));
    let floats = |t: &tch::Tensor| -> Vec<u8> {
        Vec::<f32>::try_from(&t.contiguous().view([-1]))
            .unwrap()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    };
    std::fs::write(images_file, floats(&images)).unwrap();
    std::fs::write(logits_file, floats(&logits)).unwrap();
    Vec::<i64>::try_from(&test.labels().shallow_clone()).unwrap()
}

/// What `export_onnx.py` reads from `model`.
fn runtime_view(model: &Path, images: &Path, logits: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export_onnx.py");
    let out = Command::new(venv_python())
        .arg(script)
        .args([model, images, logits])
        .arg(N.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reading the export with onnx and onnxruntime failed (scripts/setup.sh --test \
         installs onnx==1.23.2 and onnxruntime==1.31.1 into the venv):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn onnx_runtime_gives_our_logits_classes_and_recorded_accuracy_for_every_architecture() {
    let ws = Workspace::new();
    std::fs::write(ws.join("configs/onnx.ron"), CONFIG).unwrap();
    ws.ok(&["replicate", "configs/onnx.ron"]);
    let trials = ws.finished_trials("onnx");
    assert_eq!(trials.len(), 3);
    let images = ws.join("images.f32");
    let logits = ws.join("logits.f32");
    let mut first = None;
    for trial in &trials {
        let record = summary(trial);
        let id = record["id"].as_str().unwrap().to_string();
        let variant = record["variant"].as_str().unwrap().to_string();
        let model = ws.join(&format!("{}.onnx", &id[..12]));
        let printed = ws.ok(&[
            "export",
            "onnx",
            &id[..10],
            "--out",
            model.to_str().unwrap(),
        ]);
        let final_accuracy = record["final_accuracy"].as_f64().unwrap();
        assert!(
            printed.contains(&format!(
                "on the trial's 1000 test images: {final_accuracy:.2} % (recorded: {final_accuracy:.2} %), identical"
            )),
            "{variant}: {printed}"
        );
        let labels = our_logits(trial, &images, &logits);
        let view = runtime_view(&model, &images, &logits);
        assert_eq!(view["checker"], "ok");
        assert_eq!(view["opset"], serde_json::json!([17]));
        assert_eq!(
            view["input"],
            serde_json::json!(["images", ["batch", "1", "28", "28"]])
        );
        assert_eq!(
            view["output"],
            serde_json::json!(["logits", ["batch", "10"]])
        );
        let meta = &view["metadata"];
        assert_eq!(meta["trial_id"], id.as_str());
        assert_eq!(meta["weights"], "last");
        assert_eq!(meta["epoch"], "2");
        assert_eq!(meta["classes"].as_str().unwrap().split(',').count(), 10);
        // Logits within float tolerance of ours (batch norm folded: rounding only).
        let diff = view["max_abs_diff"].as_f64().unwrap();
        let scale = view["scale"].as_f64().unwrap().max(1.0);
        assert!(
            diff <= 1e-4 * scale,
            "{variant}: max |diff| {diff} (scale {scale})"
        );
        // The same class for every image, and the recorded accuracy.
        let top1: Vec<i64> = view["top1"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let ours = {
            let bytes = std::fs::read(&logits).unwrap();
            let floats: Vec<f32> = bytes
                .chunks(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            floats
                .chunks(10)
                .map(|row| (0..10).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap() as i64)
                .collect::<Vec<_>>()
        };
        assert_eq!(top1, ours, "{variant}: top-1 classes differ");
        let correct = top1.iter().zip(&labels).filter(|(a, b)| a == b).count();
        let accuracy = 100.0 * correct as f64 / N as f64;
        assert!(
            (accuracy - final_accuracy).abs() < 1e-9,
            "{variant}: ONNX Runtime {accuracy} % vs recorded {final_accuracy} %"
        );
        first.get_or_insert((id, model));
    }

    // `--checkpoint best` takes the best epoch's weights and says which.
    let (id, model) = first.unwrap();
    let best = ws.join("best.onnx");
    let printed = ws.ok(&[
        "export",
        "onnx",
        &id,
        "--checkpoint",
        "best",
        "--out",
        best.to_str().unwrap(),
    ]);
    let record = summary(&ws.join(&format!("runs/trials/{id}")));
    let best_epoch = record["best_epoch"].as_u64().unwrap();
    assert!(
        printed.contains(&format!("best weights of epoch {best_epoch}")),
        "{printed}"
    );

    // A store of records keeps no checkpoints: refused, with the way out, which works and
    // gives the same file byte for byte (the retrained trial is bit-identical).
    ws.ok(&["export", "records", "configs/onnx.ron", "--out", "results"]);
    let again = ws.join("again.onnx");
    let out = ws.run(&[
        "export",
        "onnx",
        &id,
        "--runs",
        "results",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no checkpoints at")
            && stderr(&out).contains("harness reproduce")
            && stderr(&out).contains("--checkpoints DIR/ckpt"),
        "{}",
        stderr(&out)
    );
    assert!(!again.exists());
    let kept = ws.join("kept");
    ws.ok(&[
        "reproduce",
        &id,
        "--runs",
        "results",
        "--keep",
        kept.to_str().unwrap(),
    ]);
    ws.ok(&[
        "export",
        "onnx",
        &id,
        "--runs",
        "results",
        "--checkpoints",
        kept.join("ckpt").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&model).unwrap()
    );

    // A record whose final accuracy is not what these weights give (tampered by a point)
    // is refused with both figures, and nothing is written.
    let summary_file = ws.join(&format!("results/trials/{id}/summary.json"));
    let mut tampered: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_file).unwrap()).unwrap();
    let last = tampered["epochs"].as_array().unwrap().len() - 1;
    let wrong = tampered["epochs"][last]["test_accuracy"].as_f64().unwrap() - 1.0;
    tampered["epochs"][last]["test_accuracy"] = serde_json::json!(wrong);
    tampered["final_accuracy"] = serde_json::json!(wrong);
    // Kept consistent in itself (its best the highest epoch), so that the store accepts
    // it and the weights are what refuses it.
    let best = tampered["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["test_accuracy"].as_f64().unwrap())
        .fold(f64::NEG_INFINITY, f64::max);
    tampered["best_accuracy"] = serde_json::json!(best);
    std::fs::write(&summary_file, tampered.to_string()).unwrap();
    let refused = ws.join("refused.onnx");
    let out = ws.run(&[
        "export",
        "onnx",
        &id,
        "--runs",
        "results",
        "--checkpoints",
        kept.join("ckpt").to_str().unwrap(),
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!("(recorded: {wrong:.2} %)"))
            && stderr(&out).contains("these weights do not give the recorded result"),
        "{}",
        stderr(&out)
    );
    assert!(!refused.exists());

    // A damaged final checkpoint is not exported: the newest verified one is an epoch
    // short of the record, and nothing is written.
    let ckpt = ws.join(&format!("runs/trials/{id}/ckpt/epoch-2/model.ot"));
    let mut bytes = std::fs::read(&ckpt).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&ckpt, bytes).unwrap();
    let damaged = ws.join("damaged.onnx");
    let out = ws.run(&["export", "onnx", &id, "--out", damaged.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is of epoch 1, but the record has 2 epochs"),
        "{}",
        stderr(&out)
    );
    assert!(!damaged.exists());
}
