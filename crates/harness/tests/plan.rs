//! Planning the trials of a large experiment: a dry run of a 100,000-variant sweep.

mod util;

use util::Workspace;

/// A sweep of 100,000 variants of one network (they differ only in the dropout rate, which
/// does not change a step's cost) calibrates that network once, on a machine that has
/// measured nothing, and its dry run plans every trial.
#[test]
fn a_sweep_of_100000_dropout_rates_calibrates_one_workload() {
    let ws = Workspace::new();
    let mut text = String::from(
        "Experiment(\n    name: \"sweep\",\n    title: \"Sweep\",\n    description: \"100,000 dropout rates of one network\",\n    seeds: 1,\n    baseline: \"d0\",\n    base: (\n        model: (architecture: conv2, channels: 4, kernel_size: 3, batch_norm: true, dropout: 0.0),\n        optimizer: (name: adam, lr: 0.01),\n        epochs: 1,\n        batch_size: 64,\n        eval_batch_size: 128,\n        data: (train_limit: 512, test_limit: 256),\n    ),\n    variants: [\n",
    );
    for i in 0..100_000u32 {
        let dropout = 0.5 * f64::from(i) / 100_000.0;
        text.push_str(&format!(
            "        (name: \"d{i}\", set: {{\"model.dropout\": \"{dropout:?}\"}}),\n"
        ));
    }
    text.push_str("    ],\n)\n");
    std::fs::write(ws.join("configs/sweep.ron"), text).unwrap();
    let cache = ws.join("fresh-cache");
    let data = util::real_data_dir();
    let out = ws
        .harness()
        .env("XDG_CACHE_HOME", &cache)
        .args([
            "replicate",
            "configs/sweep.ron",
            "--dry-run",
            "--readme",
            "/dev/null",
        ])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("100000 trials: 0 done"),
        "{}",
        &stdout[..stdout.len().min(500)]
    );
    let said = format!("{stdout}{stderr}");
    assert_eq!(said.matches("calibrating [").count(), 1, "one workload");
    assert!(said.contains("calibrating [1/1] conv2 4ch k3 bn batch 64"));
    let calibration = std::fs::read_dir(cache.join("fmnist-harness/calibration"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(calibration.len(), 1);
    assert_eq!(
        calibration[0].matches("measured_at").count(),
        1,
        "{}",
        calibration[0]
    );
}
