//! End-to-end tests of `harness replicate` and `harness report` on the real dataset with
//! the tiny `configs/smoke.ron` experiment.

mod util;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use util::{Workspace, children_of, summary};

const SMOKE: &str = "configs/smoke.ron";

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn replicate_runs_every_trial_once_reports_and_resumes_without_training() {
    let ws = Workspace::new();
    let out = ws.ok(&["replicate", SMOKE, "--jobs", "2"]);
    assert!(
        out.contains("4 trials: 0 done, 0 running elsewhere, 4 to run"),
        "{out}"
    );
    // Not a terminal: plain lines, no progress bars or control sequences.
    assert!(
        !out.contains('\x1b') && !out.contains('\r') && !out.contains("plan ["),
        "{out}"
    );
    let trials = ws.finished_trials("smoke");
    assert_eq!(trials.len(), 4);

    // The report's numbers match a hand computation from the records.
    let mut by_variant: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in &trials {
        let s = summary(t);
        assert_eq!(s["status"], "finished");
        by_variant
            .entry(s["variant"].as_str().unwrap().to_string())
            .or_default()
            .push(s["final_accuracy"].as_f64().unwrap());
        for file in [
            "trial.json",
            "config.ron",
            "train.log",
            "events.jsonl",
            "metrics.jsonl",
            "losses.png",
            "accuracies.png",
            "ckpt/last.model.ot",
            "ckpt/best.optim.ot",
        ] {
            assert!(t.join(file).is_file(), "{} lacks {file}", t.display());
        }
        // Who started it (what the dashboard reads of a running trial), as the record says.
        let start: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(t.join("trial.json")).unwrap()).unwrap();
        for field in ["id", "experiment", "variant", "seed", "dataset_digest"] {
            assert_eq!(start[field], s[field], "{field} in {}", t.display());
        }
    }
    let report = std::fs::read_to_string(ws.join("reports/smoke.md")).unwrap();
    for (variant, accs) in &by_variant {
        assert_eq!(accs.len(), 2, "{variant}");
        let (mean, sd) = mean_sd(accs);
        let cell = format!("{mean:.2} ± {sd:.2}");
        let row = report
            .lines()
            .find(|l| l.starts_with(&format!("| {variant} |")))
            .unwrap_or_else(|| panic!("no row for {variant}:\n{report}"));
        assert!(row.contains(&cell), "{row} should contain {cell}");
        assert!(row.contains("| 2 |"), "n=2: {row}");
    }
    let readme = std::fs::read_to_string(ws.join("README.md")).unwrap();
    assert!(
        readme.contains("| base |"),
        "README table spliced:\n{readme}"
    );

    // Rerun: nothing to train, byte-identical report.
    let md_before = std::fs::read(ws.join("reports/smoke.md")).unwrap();
    let png_before = std::fs::read(ws.join("reports/smoke.png")).unwrap();
    let out = ws.ok(&["replicate", SMOKE]);
    assert!(
        out.contains("4 done, 0 running elsewhere, 0 to run"),
        "{out}"
    );
    assert!(!out.contains("starting"), "no trial starts: {out}");
    assert_eq!(
        std::fs::read(ws.join("reports/smoke.md")).unwrap(),
        md_before
    );
    assert_eq!(
        std::fs::read(ws.join("reports/smoke.png")).unwrap(),
        png_before
    );
    ws.ok(&["report", SMOKE]);
    assert_eq!(
        std::fs::read(ws.join("reports/smoke.md")).unwrap(),
        md_before
    );

    // More seeds later: only the new ones run.
    let out = ws.ok(&["replicate", SMOKE, "--seeds", "3"]);
    assert!(
        out.contains("6 trials: 4 done, 0 running elsewhere, 2 to run"),
        "{out}"
    );
    assert_eq!(ws.finished_trials("smoke").len(), 6);
}

#[test]
fn a_replicate_killed_mid_trial_completes_every_trial_exactly_once_on_rerun() {
    let ws = Workspace::new();
    let mut child = ws
        .harness()
        .args(["replicate", SMOKE, "--set", "epochs=20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until one trial is finished and the next is mid-way (its work folder has
    // logged an epoch).
    let work = ws.join("runs/trials/.work");
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mid_trial = std::fs::read_dir(&work)
            .ok()
            .into_iter()
            .flatten()
            .any(|e| {
                let events = e.unwrap().path().join("events.jsonl");
                std::fs::read_to_string(events).is_ok_and(|s| s.contains("\"event\":\"epoch\""))
            });
        if mid_trial && !ws.finished_trials("smoke").is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no trial started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL the replicate and its worker, by pid (never a process group: the test
    // runner's own group must survive).
    let mut pids = vec![child.id()];
    pids.extend(children_of(child.id()));
    let status = std::process::Command::new("kill")
        .arg("-9")
        .args(pids.iter().map(u32::to_string))
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
    let before = ws.finished_trials("smoke").len();
    assert!((1..4).contains(&before), "killed mid-way: {before} done");

    let out = ws.ok(&["replicate", SMOKE, "--set", "epochs=20"]);
    assert!(out.contains(&format!("{before} done")), "{out}");
    let trials = ws.finished_trials("smoke");
    assert_eq!(trials.len(), 4, "every trial exactly once");
    let ids: std::collections::BTreeSet<String> = trials
        .iter()
        .map(|t| summary(t)["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4);
    let leftovers: Vec<_> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| !n.to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(leftovers.is_empty(), "no stale work folders: {leftovers:?}");
}

fn planned_ids(ws: &Workspace, config: &str, extra: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["replicate", config, "--dry-run"];
    args.extend_from_slice(extra);
    let out = ws.ok(&args);
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let id = words.next()?;
            if id.len() != 12 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            // `<id> <experiment> <variant...> seed <n> <state>`
            let rest: Vec<&str> = words.skip(1).collect();
            let seed_at = rest.iter().position(|w| *w == "seed")?;
            Some((
                format!("{} {}", rest[..seed_at].join(" "), rest[seed_at + 1]),
                id.to_string(),
            ))
        })
        .collect()
}

#[test]
fn changing_one_setting_changes_only_the_affected_ids() {
    let ws = Workspace::new();
    let before = planned_ids(&ws, SMOKE, &[]);
    assert_eq!(before.len(), 4, "{before:?}");
    // Reformatting and reordering the file changes nothing.
    let text = std::fs::read_to_string(ws.join(SMOKE)).unwrap();
    let reformatted = text
        .replace("dropout: 0.2)", "dropout: 0.2,\n    )")
        .replace(
            "epochs: 2,\n        batch_size: 64,",
            "batch_size: 64,\n        epochs:    2,",
        );
    assert_ne!(reformatted, text);
    std::fs::write(ws.join("configs/smoke2.ron"), &reformatted).unwrap();
    assert_eq!(planned_ids(&ws, "configs/smoke2.ron", &[]), before);
    // One variant's setting: only that variant's ids change.
    let edited = text.replace("HorizontalFlip(p: 0.5)", "HorizontalFlip(p: 0.6)");
    std::fs::write(ws.join("configs/smoke3.ron"), edited).unwrap();
    let after = planned_ids(&ws, "configs/smoke3.ron", &[]);
    for (key, id) in &before {
        if key.starts_with("flip") {
            assert_ne!(after[key], *id, "{key}");
        } else {
            assert_eq!(after[key], *id, "{key}");
        }
    }
    // A base setting changes every id.
    let after = planned_ids(&ws, SMOKE, &["--set", "epochs=3"]);
    assert!(before.iter().all(|(k, id)| after[k] != *id));
}

#[test]
fn a_malformed_config_fails_before_any_training() {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(ws.join(SMOKE)).unwrap();
    let cases = [
        (
            text.replace("dropout: 0.2", "dropout: 1.2"),
            "smoke.ron:9: field `model.dropout`",
        ),
        (
            text.replace("kernel_size: 3", "kernel_sise: 3"),
            "kernel_sise",
        ),
        (text.replace("epochs: 2,", "epochs: 2,,"), "smoke.ron:13:"),
    ];
    for (bad, expected) in cases {
        std::fs::write(ws.join("configs/smoke.ron"), bad).unwrap();
        let out = ws.run(&["replicate", SMOKE]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
        assert!(!ws.join("runs").exists(), "nothing trained");
    }
    let out = ws.run(&[
        "replicate",
        "configs/quickstart.ron",
        "--set",
        "model.dropuot=0.1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("model.dropuot"));
    let out = ws.run(&[
        "replicate",
        "configs/quickstart.ron",
        "--set",
        "optimizer.lr=-1",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("optimizer.lr"));
}

/// `--halfwidth W`: the seeds already run are the pilot; Stein's rule decides each
/// variant's N from the pilot's sd, only the extra seeds run, the decision is kept and
/// reused, and the report says which rule decided n.
#[test]
fn halfwidth_runs_only_the_extra_seeds_stein_decides_and_keeps_the_decision() {
    let ws = Workspace::new();
    ws.ok(&["replicate", SMOKE, "--set", "epochs=1"]);
    let mut pilot: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for t in ws.finished_trials("smoke") {
        let s = summary(&t);
        pilot
            .entry(s["variant"].as_str().unwrap().to_string())
            .or_default()
            .push(s["final_accuracy"].as_f64().unwrap());
    }
    let sd_max = pilot.values().map(|a| mean_sd(a).1).fold(0.0, f64::max);
    assert!(sd_max > 0.0, "the pilot's seeds should differ: {pilot:?}");
    // t(0.975, 1 df); W chosen so that the widest variant needs N = floor(3.5) + 1 = 4.
    let t = 12.706_204_736_174_707;
    let w = t * sd_max / 3.5f64.sqrt();
    // A dry run shows the decision and writes nothing: a later real run with another W
    // is not refused because of it.
    let dry = ws.ok(&[
        "replicate",
        SMOKE,
        "--set",
        "epochs=1",
        "--halfwidth",
        &format!("{}", w / 2.0),
        "--dry-run",
    ]);
    assert!(dry.contains("(not written)"), "{dry}");
    assert!(
        !ws.join("runs/smoke/seeding.json").exists(),
        "a dry run writes no seeding decision"
    );
    let out = ws.ok(&[
        "replicate",
        SMOKE,
        "--set",
        "epochs=1",
        "--halfwidth",
        &format!("{w}"),
    ]);
    assert!(out.contains("Stein's two-stage rule"), "{out}");

    let decision: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("runs/smoke/seeding.json")).unwrap())
            .unwrap();
    assert_eq!(decision["n0"], 2);
    let mut seeds: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in ws.finished_trials("smoke") {
        let s = summary(&t);
        seeds
            .entry(s["variant"].as_str().unwrap().to_string())
            .or_default()
            .push(s["seed"].as_u64().unwrap());
    }
    let mut widest = 0;
    for v in decision["variants"].as_array().unwrap() {
        let name = v["variant"].as_str().unwrap();
        let n = v["total_n"].as_u64().unwrap();
        let expected = ((t * mean_sd(&pilot[name]).1 / w).powi(2)).floor() as u64 + 1;
        assert_eq!(n, expected.max(2), "{name}");
        let mut got = seeds[name].clone();
        got.sort();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{name} runs seeds 0..N");
        widest = widest.max(n);
    }
    assert_eq!(widest, 4, "{decision}");
    let report = std::fs::read_to_string(ws.join("reports/smoke.md")).unwrap();
    assert!(report.contains("## Seeding"), "{report}");
    assert!(
        report.contains("n decided by Stein's two-stage rule (pilot n0=2"),
        "{report}"
    );

    // The decision is reused, never re-decided; another W or pilot is refused.
    let again = ws.ok(&[
        "replicate",
        SMOKE,
        "--set",
        "epochs=1",
        "--halfwidth",
        &format!("{w}"),
    ]);
    assert!(!again.contains("starting"), "{again}");
    let other = ws.run(&[
        "replicate",
        SMOKE,
        "--set",
        "epochs=1",
        "--halfwidth",
        "0.5",
    ]);
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("a seeding decision exists"), "{err}");
    let small = ws.run(&["replicate", SMOKE, "--seeds", "1", "--halfwidth", "0.5"]);
    assert!(!small.status.success());
    assert!(String::from_utf8_lossy(&small.stderr).contains("at least 2 seeds"));
}

/// The estimate is printed before a plan runs, from a calibration cached per host, device
/// and thread count; `--jobs auto` compares the splits of the cores; a run keeps its
/// estimate and actual time, and the report states both.
#[test]
fn the_cost_is_estimated_from_a_cached_calibration_and_compared_after_the_run() {
    let ws = Workspace::new();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = ws
            .harness()
            .args(args)
            .env("XDG_CACHE_HOME", cache.path())
            .env("FASHION_MNIST_DIR", util::real_data_dir())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run(&["replicate", SMOKE, "--dry-run", "--threads", "1"]);
    assert!(
        first.contains("calibrating [1/2] conv2 4ch k3 bn batch 64 (")
            && first.contains("calibrating 2 workload(s) this machine has not measured yet"),
        "{first}"
    );
    let line = first
        .lines()
        .find(|l| l.starts_with("estimated "))
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        line.contains("on cpu, 1 job(s) x 1 threads (conv2: 4 trial(s)"),
        "{line}"
    );
    let file = cache.path().join("fmnist-harness/calibration");
    let cached: Vec<_> = std::fs::read_dir(&file)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].to_string_lossy().ends_with("-cpu-1t.json"),
        "{cached:?}"
    );
    let again = run(&["replicate", SMOKE, "--dry-run", "--threads", "1"]);
    assert!(!again.contains("calibrating"), "cached: {again}");
    let estimate = line.split("; calibration").next().unwrap();
    assert!(
        again.contains(&format!("{estimate}; calibration cached in ")),
        "the same estimate from the cache:\n{line}\n{again}"
    );
    assert!(
        !ws.join("runs/smoke/estimate.json").exists(),
        "a dry run keeps nothing"
    );

    let auto = run(&["replicate", SMOKE, "--dry-run", "--jobs", "auto"]);
    assert!(
        auto.contains("--jobs auto: estimated wall time per split (jobs x threads): 1 x "),
        "{auto}"
    );
    assert!(auto.contains("; picked "), "{auto}");

    let real = run(&["replicate", SMOKE, "--threads", "1"]);
    assert!(real.contains("estimate vs actual: estimated "), "{real}");
    // In words that cannot be misread as the run's own change.
    assert!(
        real.contains("% high)") || real.contains("% low)") || real.contains("(estimate exact)"),
        "{real}"
    );
    let kept: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join("runs/smoke/estimate.json")).unwrap(),
    )
    .unwrap();
    assert!(kept["actual_s"].as_f64().unwrap() > 0.0, "{kept}");
    let report = std::fs::read_to_string(ws.join("reports/smoke.md")).unwrap();
    assert!(
        report.contains("- Wall time of the last run: estimated "),
        "{report}"
    );
}

/// `--jobs auto` calibrates the plan fully at its first split only; every other split of
/// the cores calibrates just the heaviest workload(s) and scales the rest. Before, each
/// split calibrated every workload (a dry run of the whole study took 9 minutes here).
#[test]
fn jobs_auto_calibrates_the_plan_once_and_only_the_heaviest_workload_per_other_split() {
    let ws = Workspace::new();
    let cache = tempfile::tempdir().unwrap();
    let out = ws
        .harness()
        .args(["replicate", SMOKE, "--dry-run", "--jobs", "auto"])
        .env("XDG_CACHE_HOME", cache.path())
        .env("FASHION_MNIST_DIR", util::real_data_dir())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let splits = (1..=cores).filter(|j| cores.is_multiple_of(*j)).count();
    let headers: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("calibrating ") && l.contains(" workload(s) "))
        .collect();
    assert_eq!(headers.len(), splits, "{said}");
    assert!(
        headers[0].starts_with("calibrating 2 workload(s)"),
        "{said}"
    );
    for later in &headers[1..] {
        assert!(later.starts_with("calibrating 1 workload(s)"), "{said}");
    }
    assert_eq!(
        said.lines()
            .filter(|l| l.starts_with("calibrating ["))
            .count(),
        2 + (splits - 1),
        "{said}"
    );
    if splits > 1 {
        assert!(said.contains("; picked "), "{said}");
    }
}

/// Two experiment files that share a variant (same settings, other names) plan it once:
/// the plan says how many trials are unique and shared, the shared trials train once per
/// seed, and both reports show them. A later `replicate` of either file alone trains
/// nothing. An older store (trials under `runs/<experiment>/`) is moved into the store.
#[test]
fn two_configs_that_share_a_variant_plan_it_once_and_both_reports_include_it() {
    let ws = Workspace::new();
    let smoke = std::fs::read_to_string(ws.join(SMOKE)).unwrap();
    let other = smoke
        .replace("name: \"smoke\"", "name: \"narrow\"")
        .replace("baseline: \"base\"", "baseline: \"plain\"")
        .replace("(name: \"base\"),", "(name: \"plain\"),")
        .replace(
            "(name: \"flip\", set: {\"augmentations\": \"[HorizontalFlip(p: 0.5)]\"}),",
            "(name: \"no bn\", set: {\"model.batch_norm\": \"false\"}),",
        );
    assert_ne!(smoke, other);
    std::fs::write(ws.join("configs/narrow.ron"), &other).unwrap();

    let out = ws.ok(&["replicate", SMOKE, "configs/narrow.ron", "--dry-run"]);
    assert!(
        out.contains("smoke + narrow: 8 planned, 6 unique, 2 shared"),
        "{out}"
    );
    let out = ws.ok(&["replicate", SMOKE, "configs/narrow.ron", "--jobs", "2"]);
    assert!(out.contains("6 trials: 0 done"), "{out}");
    assert_eq!(out.matches(": starting").count(), 6, "{out}");
    let pool: Vec<_> = std::fs::read_dir(ws.join("runs/trials"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("summary.json").is_file())
        .collect();
    assert_eq!(pool.len(), 6, "each shared trial trained once");

    // Both reports show the shared trials, with the same numbers.
    let row = |report: &str, name: &str| -> String {
        let text = std::fs::read_to_string(ws.join(&format!("reports/{report}.md"))).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no {name} row in {report}:\n{text}"))
            .to_string();
        assert!(line.contains("| 2 |"), "n = 2: {line}");
        line.split('|').nth(3).unwrap().trim().to_string()
    };
    assert_eq!(row("smoke", "base"), row("narrow", "plain"));
    row("narrow", "no bn");
    row("smoke", "flip");

    // Either file alone finds its trials done, whoever ran them.
    let out = ws.ok(&["replicate", "configs/narrow.ron"]);
    assert!(out.contains("4 trials: 4 done"), "{out}");
    assert!(!out.contains("starting"), "{out}");

    // An older store: trials moved back under runs/smoke/ are moved into the store again.
    let trials = ws.finished_trials("smoke");
    for t in &trials {
        std::fs::rename(t, ws.join("runs/smoke").join(t.file_name().unwrap())).unwrap();
    }
    let out = ws.run(&["report", SMOKE]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("moved {} finished trial(s)", trials.len())),
        "{err}"
    );
    assert_eq!(ws.finished_trials("smoke").len(), trials.len());
}

/// A malformed `--set` is a usage error (exit 2, as clap's), and an OS error is printed
/// once, not once per layer that wraps it.
#[test]
fn a_bad_set_exits_2_and_os_errors_are_not_repeated() {
    let ws = Workspace::new();
    let out = ws.run(&["replicate", SMOKE, "--set", "epochs", "--dry-run"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--set epochs"), "{err}");
    let out = ws.run(&["report", "configs/no-such-file.ron"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

/// One latency per network for the whole store: a second experiment showing the same
/// network reuses the figure the first measured (no new measurement), so the network
/// shows the same latency in both tables.
#[test]
fn a_network_gets_one_latency_in_every_experiment_that_shows_it() {
    let ws = Workspace::new();
    let out = ws.ok(&["replicate", SMOKE, "--threads", "1"]);
    assert!(out.contains("latency of smoke"), "{out}");
    let smoke = std::fs::read_to_string(ws.join("configs/smoke.ron")).unwrap();
    std::fs::write(
        ws.join("configs/twin.ron"),
        smoke.replace("name: \"smoke\"", "name: \"twin\""),
    )
    .unwrap();
    let out = ws.ok(&["replicate", "configs/twin.ron", "--threads", "1"]);
    assert!(
        !out.contains("latency of"),
        "reused, not measured again: {out}"
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(ws.join(&format!("runs/{name}/latency.json"))).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(read("smoke"), read("twin"));
}
