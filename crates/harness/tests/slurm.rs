//! The Slurm executor on a real single-node Slurm (`scripts/local-slurm.sh`, installed by
//! `scripts/setup.sh --test`): job arrays, requeue on Slurm's warning signal, status,
//! cancel, resubmission of only the missing trials, and a failing task.
//!
//! Each test starts the local cluster if it is not up and stops it again if it started it,
//! one test at a time.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use util::{Workspace, real_data_dir, summary};

const SMOKE: &str = "configs/smoke.ron";
static SERIAL: Mutex<()> = Mutex::new(());

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/local-slurm.sh")
}

/// The local cluster for one test: started if it was down, stopped on drop if it was
/// started here.
struct Cluster {
    started: bool,
}

impl Cluster {
    fn up() -> Cluster {
        let was_up = Command::new(script())
            .arg("status")
            .output()
            .unwrap()
            .status
            .success();
        if !was_up {
            let out = Command::new(script()).arg("start").output().unwrap();
            assert!(
                out.status.success(),
                "scripts/local-slurm.sh start failed (make test installs Slurm through scripts/setup.sh --test):\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Cluster { started: !was_up }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.started {
            let _ = Command::new(script()).arg("stop").output();
        }
    }
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The array job id printed by `replicate --slurm`.
fn job_of(out: &str) -> String {
    out.split("submitted job array ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id in:\n{out}"))
        .to_string()
}

/// Polls `harness status` until `pred` accepts its output.
fn wait_status(
    ws: &Workspace,
    args: &[&str],
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let mut full = vec!["status", SMOKE];
        full.extend_from_slice(args);
        let out = ws.ok(&full);
        if pred(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status:\n{out}\nsqueue:\n{}",
            String::from_utf8_lossy(&Command::new("squeue").output().unwrap().stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Per trial id: the deterministic numbers of its record (per-epoch accuracy and losses,
/// final accuracy), as JSON text so that equality is bit-exact.
fn results(ws: &Workspace) -> BTreeMap<String, String> {
    ws.finished_trials("smoke")
        .iter()
        .map(|t| {
            let s = summary(t);
            let epochs: Vec<String> = s["epochs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {} {} {}",
                        e["epoch"],
                        e["train_loss_mean"],
                        e["train_loss_sum"],
                        e["test_loss"],
                        e["test_accuracy"]
                    )
                })
                .collect();
            (
                s["id"].as_str().unwrap().to_string(),
                format!("{} | {}", s["final_accuracy"], epochs.join("; ")),
            )
        })
        .collect()
}

/// Waits (up to 3 minutes) until some trial's first epoch is checkpointed; returns the
/// store's work folder.
fn wait_first_checkpoint(ws: &Workspace) -> PathBuf {
    let work = ws.join("runs/trials/.work");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !std::fs::read_dir(&work).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().join("ckpt/epoch-1/manifest.json").is_file())
    }) {
        assert!(
            Instant::now() < deadline,
            "no trial checkpointed its first epoch"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    work
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && cmd.contains(" worker ") {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn an_array_publishes_every_trial_once_bit_identical_to_a_local_replicate() {
    let _serial = serial();
    let _cluster = Cluster::up();
    let ws = Workspace::new();
    let out = ws.ok(&["replicate", SMOKE, "--slurm", "--jobs", "2"]);
    assert!(out.contains("4 to submit"), "{out}");
    let job = job_of(&out);
    // Queued or running trials are not submitted again.
    let again = ws.ok(&["replicate", SMOKE, "--slurm", "--jobs", "2"]);
    assert!(again.contains("nothing to submit"), "{again}");
    let during = ws.ok(&["status", SMOKE]);
    assert!(during.contains("smoke: 4 trials:"), "{during}");
    assert!(during.contains(&format!("Slurm jobs: {job}")), "{during}");
    wait_status(&ws, &[], "4 done", Duration::from_secs(300), |s| {
        s.contains("4 done")
    });
    assert_eq!(ws.finished_trials("smoke").len(), 4);
    for t in ws.finished_trials("smoke") {
        let id = t.file_name().unwrap().to_string_lossy().into_owned();
        let attempts =
            std::fs::read_to_string(ws.join(&format!("runs/smoke/.slurm/attempts/{id}.jsonl")))
                .unwrap();
        assert_eq!(
            attempts.matches("\"recorded\"").count(),
            1,
            "published once: {attempts}"
        );
    }
    for i in 0..4 {
        assert!(
            ws.join(&format!("runs/smoke/.slurm/logs/{job}_{i}.log"))
                .is_file()
        );
    }

    // The same config run locally on this machine gives bit-identical per-trial results.
    let local = Workspace::new();
    local.ok(&["replicate", SMOKE]);
    assert_eq!(results(&ws), results(&local));
    ws.ok(&["report", SMOKE]);
    assert!(
        std::fs::read_to_string(ws.join("reports/smoke.md"))
            .unwrap()
            .contains("| base |")
    );

    // After a partial run (more seeds asked for), only the missing trials are submitted.
    let more = ws.ok(&["replicate", SMOKE, "--slurm", "--seeds", "3"]);
    assert!(
        more.contains("6 trials: 4 done") && more.contains("2 to submit"),
        "{more}"
    );
    wait_status(
        &ws,
        &["--seeds", "3"],
        "6 done",
        Duration::from_secs(300),
        |s| s.contains("6 done"),
    );
}

/// A second experiment file sharing `smoke`'s base variant (the same trial ids) and adding
/// a wider one.
fn smoke_b(ws: &Workspace) -> &'static str {
    let text = std::fs::read_to_string(ws.join(SMOKE))
        .unwrap()
        .replace("name: \"smoke\"", "name: \"smoke-b\"")
        .replace(
            "(name: \"flip\", set: {\"augmentations\": \"[HorizontalFlip(p: 0.5)]\"}),",
            "(name: \"wide\", set: {\"model.channels\": \"6\"}),",
        );
    assert!(
        text.contains("\"wide\"") && text.contains("smoke-b"),
        "{text}"
    );
    std::fs::write(ws.join("configs/smoke-b.ron"), text).unwrap();
    "configs/smoke-b.ron"
}

#[test]
fn several_files_are_one_array_of_their_unique_trials() {
    let _serial = serial();
    let _cluster = Cluster::up();
    let ws = Workspace::new();
    let b = smoke_b(&ws);
    let out = ws.ok(&["replicate", SMOKE, b, "--slurm", "--seeds", "1"]);
    assert!(
        out.contains("smoke (configs/smoke.ron): 2 trials: 0 done") && out.contains("2 to submit"),
        "{out}"
    );
    assert!(
        out.contains("smoke-b (configs/smoke-b.ron): 2 trials: 0 done"),
        "{out}"
    );
    assert!(
        out.contains("2 experiment files: 3 unique trial(s) to submit as one array"),
        "{out}"
    );
    let job = job_of(&out);
    assert_eq!(out.matches("submitted job array").count(), 1, "{out}");
    // Queued through either file, nothing is submitted again.
    let again = ws.ok(&["replicate", b, "--slurm", "--seeds", "1"]);
    assert!(again.contains("nothing to submit"), "{again}");
    let status = wait_status(
        &ws,
        &["--seeds", "1", b],
        "both files done",
        Duration::from_secs(300),
        |s| s.matches("2 trials: 2 done").count() == 2,
    );
    assert!(status.contains(&format!("Slurm jobs: {job}")), "{status}");
    let shared: Vec<_> = ws.finished_trials("smoke");
    let wide = ws.finished_trials("smoke-b");
    assert_eq!(
        (shared.len(), wide.len()),
        (2, 1),
        "the shared trial ran once"
    );
    for i in 0..3 {
        assert!(
            ws.join(&format!("runs/smoke/.slurm/logs/{job}_{i}.log"))
                .is_file(),
            "the array logs into the first file's folder"
        );
    }
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join(&format!("runs/smoke-b/.slurm/{job}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["tasks"].as_array().unwrap().len(), 2, "{kept}");
    assert!(
        kept["logs"]
            .as_str()
            .unwrap()
            .ends_with("smoke/.slurm/logs"),
        "{kept}"
    );
}

#[test]
fn files_that_disagree_on_their_slurm_section_are_refused_unless_the_flag_decides() {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(ws.join(SMOKE)).unwrap().replace(
        "    variants: [",
        "    slurm: (max_tries: 2),\n    variants: [",
    );
    std::fs::write(ws.join("configs/smoke-slurm.ron"), text).unwrap();
    let b = smoke_b(&ws);
    let out = ws.run(&[
        "replicate",
        "configs/smoke-slurm.ron",
        b,
        "--slurm",
        "--dry-run",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "configs/smoke-slurm.ron and configs/smoke-b.ron give different slurm.max_tries"
        ),
        "{err}"
    );
    let dry = ws.ok(&[
        "replicate",
        "configs/smoke-slurm.ron",
        b,
        "--slurm",
        "--dry-run",
        "--max-tries",
        "5",
    ]);
    assert!(dry.contains("--max-tries 5 "), "{dry}");
    assert!(
        dry.contains("#SBATCH --array=0-5%1\n"),
        "six unique trials: {dry}"
    );
}

#[test]
fn a_task_warned_by_usr1_requeues_itself_and_resumes_to_the_same_numbers() {
    let _serial = serial();
    let _cluster = Cluster::up();
    let sets = [
        "--set",
        "epochs=5",
        "--set",
        "data.train_limit=4096",
        "--seeds",
        "1",
    ];
    let ws = Workspace::new();
    let mut args = vec!["replicate", SMOKE, "--slurm", "--jobs", "1"];
    args.extend_from_slice(&sets);
    let job = job_of(&ws.ok(&args));
    // Task 0 runs first (throttle 1); wait for its first checkpoint.
    wait_first_checkpoint(&ws);
    let signal = Command::new("scancel")
        .args(["--signal=USR1", "--batch", &format!("{job}_0")])
        .output()
        .unwrap();
    assert!(signal.status.success(), "{signal:?}");
    let status = wait_status(
        &ws,
        &sets,
        "both trials done",
        Duration::from_secs(300),
        |s| s.contains("2 done"),
    );
    assert!(!status.contains("FAILED"), "{status}");
    let log =
        std::fs::read_to_string(ws.join(&format!("runs/smoke/.slurm/logs/{job}_0.log"))).unwrap();
    assert!(log.contains("requeued job"), "{log}");
    assert!(
        log.contains("\"event\":\"resumed\""),
        "resumed from its checkpoint:\n{log}"
    );
    assert!(log.contains("(try 2)"), "{log}");

    let local = Workspace::new();
    let mut args = vec!["replicate", SMOKE];
    args.extend_from_slice(&sets);
    local.ok(&args);
    assert_eq!(
        results(&ws),
        results(&local),
        "resumed trial == uninterrupted trial"
    );
}

#[test]
fn cancel_stops_every_task_and_leaves_resumable_trials() {
    let _serial = serial();
    let _cluster = Cluster::up();
    let sets = ["--set", "epochs=40", "--set", "data.train_limit=4096"];
    let ws = Workspace::new();
    let mut args = vec!["replicate", SMOKE, "--slurm", "--jobs", "2"];
    args.extend_from_slice(&sets);
    let job = job_of(&ws.ok(&args));
    let work = wait_first_checkpoint(&ws);
    let running = wait_status(&ws, &sets, "running tasks", Duration::from_secs(60), |s| {
        s.contains("running in job")
    });
    assert!(running.contains(&format!("in job {job}_")), "{running}");

    let out = ws.ok(&["cancel", SMOKE]);
    assert!(out.contains(&format!("cancelled job(s) {job}")), "{out}");
    assert!(out.contains("stopped"), "{out}");
    let ws_path = ws.path().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_mentioning(&ws_path).is_empty() {
        assert!(
            Instant::now() < deadline,
            "workers left running: {:?}",
            processes_mentioning(&ws_path)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = ws.ok(&["status", SMOKE, sets[0], sets[1], sets[2], sets[3]]);
    assert!(after.contains("0 running, 0 queued"), "{after}");
    // The started trials kept their checkpoints for a resume, and no claim is held.
    let kept: Vec<PathBuf> = std::fs::read_dir(&work)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("ckpt").is_dir())
        .collect();
    assert!(!kept.is_empty(), "resumable work folders");
    assert!(
        !std::fs::read_dir(&work)
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "lock")),
        "no claim left"
    );
    // Everything not done is submitted again, nothing else.
    let mut args = vec!["replicate", SMOKE, "--slurm", "--dry-run"];
    args.extend_from_slice(&sets);
    let dry = ws.ok(&args);
    assert!(
        dry.contains(
            "0 done, 0 queued or running in Slurm, 0 running elsewhere, 0 failed, 4 to submit"
        ),
        "{dry}"
    );
}

#[test]
fn a_failing_task_shows_in_status_with_its_log_tail() {
    let _serial = serial();
    let _cluster = Cluster::up();
    let ws = Workspace::new();
    // A private copy of the data, damaged after submission and before the tasks start.
    let data = ws.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(real_data_dir()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().contains("-ubyte") {
            std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
        }
    }
    let data_arg = data.display().to_string();
    let out = ws.ok(&[
        "replicate",
        SMOKE,
        "--slurm",
        "--seeds",
        "1",
        "--data-dir",
        &data_arg,
        "--sbatch",
        "--begin=now+6",
    ]);
    let job = job_of(&out);
    for entry in std::fs::read_dir(&data).unwrap().flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("train-labels")
        {
            std::fs::write(entry.path(), b"not the labels").unwrap();
        }
    }
    // Status needs intact data for the trial ids: it reads them from the real files.
    let status = wait_status(
        &ws,
        &["--seeds", "1"],
        "2 failed",
        Duration::from_secs(240),
        |s| s.contains("2 failed"),
    );
    assert!(
        status.contains(&format!("task {job}_0 ended FAILED (exit 1:0)")),
        "{status}"
    );
    assert!(status.contains(&format!("{job}_0.log")), "{status}");
    assert!(status.contains("      | "), "log tail shown: {status}");
    assert!(
        status.contains("train-labels"),
        "the tail names the cause: {status}"
    );
}

#[test]
fn the_configs_slurm_section_gives_sbatch_defaults_that_the_command_line_extends() {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(ws.join(SMOKE)).unwrap().replace(
        "    variants: [",
        "    slurm: (sbatch: [\"--partition=debug\", \"--time=30\"], signal: \"B:USR1@300\", max_tries: 2),\n    variants: [",
    );
    std::fs::write(ws.join("configs/smoke-slurm.ron"), text).unwrap();
    let dry = ws.ok(&[
        "replicate",
        "configs/smoke-slurm.ron",
        "--slurm",
        "--dry-run",
        "--sbatch",
        "--time=10 --account=lab",
    ]);
    for line in [
        "#SBATCH --partition=debug\n",
        "#SBATCH --time=30\n#SBATCH --time=10\n#SBATCH --account=lab\n",
        "#SBATCH --signal=B:USR1@300\n",
        "--max-tries 2 ",
    ] {
        assert!(dry.contains(line), "{line:?} in:\n{dry}");
    }
    let dry = ws.ok(&[
        "replicate",
        "configs/smoke-slurm.ron",
        "--slurm",
        "--dry-run",
        "--signal",
        "B:USR1@60",
        "--max-tries",
        "4",
    ]);
    assert!(
        dry.contains("#SBATCH --signal=B:USR1@60\n") && dry.contains("--max-tries 4 "),
        "{dry}"
    );
}
