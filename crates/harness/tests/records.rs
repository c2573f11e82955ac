//! Results as data: `harness reproduce` retrains a recorded trial and compares it with its
//! record, and `harness export records` copies records into a store without checkpoints
//! or plots that `report` and `export` read as they read `runs/`.

mod util;

use std::path::Path;
use util::{Workspace, files_under, summary};

const SMOKE: &str = "configs/smoke.ron";

/// The id of the one trial `harness train` recorded.
fn only_trial(ws: &Workspace) -> (String, std::path::PathBuf) {
    let trials = ws.finished_trials("smoke");
    assert_eq!(trials.len(), 1, "{trials:?}");
    let id = summary(&trials[0])["id"].as_str().unwrap().to_string();
    (id, trials[0].clone())
}

fn edit_summary(trial: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = trial.join("summary.json");
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut s);
    std::fs::write(&path, serde_json::to_string_pretty(&s).unwrap()).unwrap();
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn reproduce_says_identical_then_differs_on_a_tampered_record_and_refuses_another_schema() {
    let ws = Workspace::new();
    ws.ok(&["train", SMOKE, "--threads", "1", "--set", "epochs=2"]);
    let (id, trial) = only_trial(&ws);

    // The record as it was written: bit for bit, exit 0.
    let out = ws.run(&["reproduce", &id[..12]]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains(&format!("trial {}: identical", &id[..12])),
        "{said}"
    );
    assert!(said.contains("2 epoch(s)"), "{said}");

    // One metric changed by hand: `differs`, the epoch, the metric, both sides; exit 6.
    edit_summary(&trial, |s| {
        let v = s["epochs"][1]["test_loss"].as_f64().unwrap();
        s["epochs"][1]["test_loss"] = serde_json::json!(v + 0.001);
    });
    let out = ws.run(&["reproduce", &id]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(6), "{said}");
    assert!(said.contains("differs from epoch 2 on"), "{said}");
    assert!(said.contains("test_loss"), "{said}");
    assert!(said.contains("1 of 2 epoch(s) differ"), "{said}");
    assert!(
        said.contains("recorded") && said.contains("reproduced"),
        "{said}"
    );
    assert!(said.contains("libtorch"), "{said}");
    assert!(
        !said.contains("train_loss_mean "),
        "only the edited metric: {said}"
    );

    // A record whose id no longer follows from its contents (another schema, or edited):
    // refused with the reason, nothing trained.
    edit_summary(&trial, |s| s["seed"] = serde_json::json!(7));
    let out = ws.run(&["reproduce", &id]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("another trial schema"), "{said}");
    assert!(!said.contains("epoch   1"), "nothing trained: {said}");

    // Not a trial of this store.
    let out = ws.run(&["reproduce", "abcdef"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no trial abcdef"), "{}", text(&out));
}

/// A bf16 trial trains, says its precision in its record, its `config.ron` and its report,
/// has another id than the fp32 trial of the same settings and seed, and reproduces bit
/// for bit on this machine.
#[test]
fn a_bf16_trial_records_its_precision_and_reproduces_bit_for_bit() {
    let ws = Workspace::new();
    ws.ok(&["train", SMOKE, "--threads", "1", "--set", "precision=bf16"]);
    let (id, trial) = only_trial(&ws);
    let s = summary(&trial);
    assert_eq!(s["config"]["precision"], "bf16", "{s}");
    let config = std::fs::read_to_string(trial.join("config.ron")).unwrap();
    assert!(config.contains("precision: bf16"), "{config}");
    let out = ws.run(&["reproduce", &id[..12]]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("identical"), "{said}");
    // The fp32 trial of the same settings and seed is another trial, without the field.
    ws.ok(&["train", SMOKE, "--threads", "1"]);
    let ids: Vec<String> = ws
        .finished_trials("smoke")
        .iter()
        .map(|t| summary(t)["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let fp32 = ws
        .finished_trials("smoke")
        .into_iter()
        .find(|t| summary(t)["id"] != id.as_str())
        .unwrap();
    assert!(summary(&fp32)["config"].get("precision").is_none());
    // The report says the precision of the bf16 trial.
    ws.ok(&["report", SMOKE, "--set", "precision=bf16"]);
    let report = std::fs::read_to_string(ws.join("reports/smoke.md")).unwrap();
    assert!(report.contains("- Precision: bf16"), "{report}");
}

/// `metrics.jsonl` follows the rule of `config.ron`: an edited number is found by `report`
/// and by `reproduce`, the bad copy kept as `metrics.jsonl.bad` and the file rewritten from
/// the record; a missing `events.jsonl` is named.
#[test]
fn an_edited_metrics_file_is_found_kept_and_rewritten_from_the_record() {
    let ws = Workspace::new();
    ws.ok(&["train", SMOKE, "--threads", "1"]);
    let (id, trial) = only_trial(&ws);
    let metrics = trial.join("metrics.jsonl");
    let original = std::fs::read_to_string(&metrics).unwrap();
    let first = original.lines().next().unwrap();
    let v: serde_json::Value = serde_json::from_str(first).unwrap();
    let acc = v["test_accuracy"].as_f64().unwrap();
    let edited = original.replacen(
        &format!("\"test_accuracy\":{acc}"),
        &format!("\"test_accuracy\":{}", acc + 2.0),
        1,
    );
    assert_ne!(edited, original);
    for args in [&["report", SMOKE][..], &["reproduce", &id[..12]][..]] {
        std::fs::write(&metrics, &edited).unwrap();
        let _ = std::fs::remove_file(trial.join("metrics.jsonl.bad"));
        let out = ws.run(args);
        let said = text(&out);
        assert!(out.status.success(), "{args:?}: {said}");
        assert!(
            said.contains("metrics.jsonl: differs from the record at epoch 1"),
            "{args:?}: {said}"
        );
        assert!(said.contains("test_accuracy"), "{args:?}: {said}");
        assert_eq!(
            std::fs::read_to_string(&metrics).unwrap(),
            original,
            "{args:?}"
        );
        assert_eq!(
            std::fs::read_to_string(trial.join("metrics.jsonl.bad")).unwrap(),
            edited,
            "{args:?}"
        );
    }
    // Repaired: the next read is quiet about it.
    let out = ws.run(&["report", SMOKE]);
    assert!(!text(&out).contains("metrics.jsonl"), "{}", text(&out));
    // A deleted event log cannot be rebuilt: named on every read.
    std::fs::remove_file(trial.join("events.jsonl")).unwrap();
    let out = ws.run(&["report", SMOKE]);
    let said = text(&out);
    assert!(said.contains("events.jsonl: is missing"), "{said}");
    assert!(said.contains("cannot be rebuilt"), "{said}");
}

#[test]
fn exported_records_regenerate_byte_identical_reports_without_checkpoints() {
    let ws = Workspace::new();
    ws.ok(&["replicate", SMOKE, "--threads", "1"]);
    let report = std::fs::read(ws.join("reports/smoke.md")).unwrap();
    let plot = std::fs::read(ws.join("reports/smoke.png")).unwrap();
    let readme = std::fs::read(ws.join("README.md")).unwrap();
    assert!(String::from_utf8_lossy(&readme).contains("| base |"));

    let out = ws.ok(&["export", "records", SMOKE, "--out", "results"]);
    assert!(out.contains("4 trial(s) copied"), "{out}");
    let files = files_under(&ws.join("results"));
    assert!(
        files
            .iter()
            .all(|f| !f.contains("/ckpt/") && !f.ends_with(".png")),
        "no checkpoints or plots: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("smoke/estimate.json")),
        "{files:?}"
    );
    // A second export changes nothing.
    let again = ws.ok(&["export", "records", SMOKE, "--out", "results"]);
    assert!(
        again.contains("0 trial(s) copied, 0 replaced, 4 unchanged"),
        "{again}"
    );

    // Without runs/, from the exported store alone: the same bytes.
    std::fs::remove_dir_all(ws.join("runs")).unwrap();
    std::fs::remove_dir_all(ws.join("reports")).unwrap();
    ws.ok(&["report", SMOKE, "--runs", "results"]);
    assert_eq!(std::fs::read(ws.join("reports/smoke.md")).unwrap(), report);
    assert_eq!(std::fs::read(ws.join("reports/smoke.png")).unwrap(), plot);
    assert_eq!(std::fs::read(ws.join("README.md")).unwrap(), readme);

    // The CSV export reads it too: a row per trial and epoch.
    let csv = ws.ok(&["export", "csv", SMOKE, "--runs", "results"]);
    assert_eq!(csv.lines().count(), 1 + 4 * 2, "{csv}");
    // And reproduce finds its trials there.
    let trials = std::fs::read_dir(ws.join("results/trials"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .count();
    assert_eq!(trials, 4);

    // Side files, one rule each: a bad estimate.json or latency.json is named in a warning
    // and left out; a bad seeding.json is refused, by dry runs too, saying what to do.
    for file in ["estimate.json", "latency.json"] {
        assert!(ws.join("results/smoke").join(file).exists(), "{file}");
        std::fs::write(ws.join("results/smoke").join(file), "{ not json").unwrap();
    }
    let out = ws.run(&["report", SMOKE, "--runs", "results"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for file in ["estimate.json", "latency.json"] {
        assert!(
            err.contains(&format!("results/smoke/{file}: is not a valid copy")),
            "{file}: {err}"
        );
    }
    std::fs::write(ws.join("results/smoke/seeding.json"), "garbage").unwrap();
    for args in [
        &["report", SMOKE, "--runs", "results"][..],
        &["replicate", SMOKE, "--runs", "results", "--dry-run"][..],
    ] {
        let out = ws.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("results/smoke/seeding.json"),
            "{args:?}: {err}"
        );
        assert!(err.contains("delete the file and rerun"), "{args:?}: {err}");
    }
}

/// The arguments of `configs/study-cpu.args` as the Makefile's shell passes them: one per
/// line, `#` lines skipped, single quotes removed.
fn study_args(repo: &Path) -> Vec<String> {
    args_file(repo, "configs/study-cpu.args")
}

/// The arguments of an `.args` file (see `study_args`).
fn args_file(repo: &Path, file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo.join(file)).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .flat_map(|l| {
            let (flag, value) = l.split_once(' ').unwrap_or((l, ""));
            [flag.to_string(), value.trim_matches('\'').to_string()]
        })
        .filter(|a| !a.is_empty())
        .collect()
}

/// The nine tables of the study.
const STUDY: [&str; 9] = [
    "architectures",
    "augmentation",
    "batchnorm",
    "channels",
    "dropout",
    "kernel",
    "lr",
    "optimizer",
    "scheduler",
];

/// A workspace with the committed README and the committed stores (linked where the
/// README's section markers name them: `runs=results`, `runs=results-cpu-bf16`).
fn committed_workspace(repo: &Path) -> Workspace {
    let ws = Workspace::new();
    std::fs::copy(repo.join("README.md"), ws.join("README.md")).unwrap();
    for store in ["results", "results-cpu-bf16", "results-h200"] {
        std::os::unix::fs::symlink(repo.join(store), ws.join(store)).unwrap();
    }
    ws
}

/// `make study-report study-report-bf16 protocol-report examples-report study-gpu-report`
/// on a fresh clone leave `git status` clean: the committed reports, plots and README
/// sections are exactly what the committed records give, without training. Each README
/// section is filled only from the store its marker names: the fp32 tables' report leaves
/// the bf16 sections as they are, and says so.
#[test]
fn the_committed_reports_are_what_the_committed_records_give() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = committed_workspace(&repo);
    let mut args: Vec<String> = vec!["report".into()];
    args.extend(STUDY.iter().map(|s| format!("configs/{s}.ron")));
    args.extend(study_args(&repo));
    args.extend(["--runs".into(), "results".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(said.matches("left as it is").count(), 9, "{said}");
    assert!(
        said.contains("note: README.md: its `architectures` section shows the records of `results-cpu-bf16` (its marker says `runs=results-cpu-bf16`), not those of results; left as it is\n"),
        "{said}"
    );
    assert!(
        std::fs::read(ws.join("README.md")).unwrap()
            == std::fs::read(repo.join("README.md")).unwrap(),
        "the fp32 tables' report changed the README's bf16 sections"
    );
    // `make study-report-bf16`: the nine tables at the bf16 point, into reports/cpu-bf16/
    // and the README.
    let mut args: Vec<String> = vec!["report".into()];
    args.extend(STUDY.iter().map(|s| format!("configs/{s}.ron")));
    args.extend(args_file(&repo, "configs/study-cpu-bf16.args"));
    args.extend(
        [
            "--runs",
            "results-cpu-bf16",
            "--reports",
            "reports/cpu-bf16",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ws.ok(&args);
    assert!(out.contains("wrote README.md"), "{out}");
    ws.ok(&["report", "configs/protocol.ron", "--runs", "results"]);
    ws.ok(&[
        "report",
        "configs/quickstart.ron",
        "configs/variance.ron",
        "--runs",
        "results",
    ]);
    // `make study-gpu-report`: the architectures table at the study's own protocol, from
    // the H200's records.
    ws.ok(&[
        "report",
        "configs/architectures.ron",
        "--seeds",
        "3",
        "--runs",
        "results-h200",
        "--reports",
        "reports/h200",
        "--readme",
        "/dev/null",
    ]);
    // A row that pools trials another experiment planned says so, and from where.
    let quickstart = std::fs::read_to_string(ws.join("reports/quickstart.md")).unwrap();
    assert!(
        quickstart.contains(
            "- Pooled: `adam + flip/erasing` holds 5 of its 8 trial(s) from `variance` / `all vary`"
        ),
        "{quickstart}"
    );
    // One deployed network, one latency in every table: 4 conv at dropout 0, 0.2 and 0.5.
    let latency_of = |report: &str, row: &str| {
        let text = std::fs::read_to_string(ws.join(&format!("reports/{report}.md"))).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("{report}: no row {row}"))
            .to_string();
        line.split('|').rev().nth(2).unwrap().trim().to_string()
    };
    for prefix in ["", "cpu-bf16/"] {
        let baseline = latency_of(&format!("{prefix}architectures"), "4 conv");
        for row in ["0", "0.2", "0.5"] {
            let report = format!("{prefix}dropout");
            assert_eq!(latency_of(&report, row), baseline, "{report} {row}");
        }
    }
    let bf16 = std::fs::read_to_string(ws.join("reports/cpu-bf16/architectures.md")).unwrap();
    assert!(bf16.contains("\n- Precision: bf16 "), "{bf16}");
    let mut compared = 0;
    let bf16_names: Vec<String> = STUDY.iter().map(|s| format!("cpu-bf16/{s}")).collect();
    for name in STUDY
        .iter()
        .map(|s| s.to_string())
        .chain(bf16_names)
        .chain(["protocol", "quickstart", "variance", "h200/architectures"].map(String::from))
    {
        for ext in ["md", "png"] {
            let file = format!("reports/{name}.{ext}");
            assert!(
                std::fs::read(ws.join(&file)).unwrap() == std::fs::read(repo.join(&file)).unwrap(),
                "{file} differs from what `make study-report study-report-bf16 protocol-report examples-report study-gpu-report` writes: run them and commit"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 44);
    let readme = std::fs::read_to_string(ws.join("README.md")).unwrap();
    assert!(
        readme == std::fs::read_to_string(repo.join("README.md")).unwrap(),
        "README.md's generated sections differ from `make study-report-bf16 protocol-report examples-report`'s: run them and commit"
    );
    assert!(
        readme.contains(", on cpu in bf16 mixed precision. Full report: [reports/cpu-bf16/architectures.md](reports/cpu-bf16/architectures.md)."),
        "{readme}"
    );
}

/// Commands that read a store, given no `--set` or `--seeds`, take each experiment at the
/// settings of the store's last run of it (as the dashboard does) and say so: `report`
/// writes the committed study's reports byte for byte, `status` counts its trials as done
/// and the CSV export holds them; with no config, `report` writes every committed report of
/// the store and nothing else. Settings on the command line are the command line's.
#[test]
fn without_settings_the_store_commands_read_at_the_last_runs_settings() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = Workspace::new();
    std::fs::copy(repo.join("README.md"), ws.join("README.md")).unwrap();
    let results = repo.join("results");
    let results = results.to_str().unwrap();
    let note = "note: dropout, kernel: read at the settings of this store's last run of each \
                (no --set or --seeds given): --seeds 3 --set data.train_limit=10000 --set \
                data.test_limit=10000 --set epochs=9 --set 'schedule=Step(every: 3, gamma: 0.1)'\n";
    let stderr = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", text(out));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let both = ["configs/dropout.ron", "configs/kernel.ron"];
    let out = ws.run(&[&["report"][..], &both, &["--runs", results]].concat());
    let said = stderr(&out);
    assert!(said.starts_with(note), "{said}");
    // The README's study sections show the bf16 store's records: left as they are.
    for name in ["dropout", "kernel"] {
        assert!(
            said.contains(&format!(
                "note: README.md: its `{name}` section shows the records of `results-cpu-bf16`"
            )),
            "{said}"
        );
    }
    assert_eq!(said.lines().count(), 3, "{said}");
    for file in ["dropout.md", "dropout.png", "kernel.md", "kernel.png"] {
        let file = format!("reports/{file}");
        assert!(
            std::fs::read(ws.join(&file)).unwrap() == std::fs::read(repo.join(&file)).unwrap(),
            "{file}"
        );
    }
    assert!(
        std::fs::read(ws.join("README.md")).unwrap()
            == std::fs::read(repo.join("README.md")).unwrap()
    );

    let out = ws.run(&[&["status"][..], &both, &["--runs", results]].concat());
    assert_eq!(stderr(&out), note);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("dropout: 9 trials: 9 done,"), "{said}");
    assert!(said.contains("kernel: 9 trials: 9 done,"), "{said}");

    let csv = ws.run(&["export", "csv", "configs/dropout.ron", "--runs", results]);
    assert!(stderr(&csv).starts_with("note: dropout: read at the settings"));
    let ids: std::collections::BTreeSet<&str> = std::str::from_utf8(&csv.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(ids.len(), 9, "{ids:?}");

    // Settings given: the file's 5 seeds at its own protocol, which this store never ran.
    let out = ws.run(&[
        "status",
        "configs/dropout.ron",
        "--seeds",
        "5",
        "--runs",
        results,
    ]);
    assert_eq!(stderr(&out), "");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("dropout: 15 trials: 0 done,"), "{said}");

    // No config at all: every experiment the store holds, each at its last run's settings,
    // gives exactly the committed reports and README (its sections of `results` rewritten
    // alike, the others left alone); nothing uncommitted is written.
    let ws = committed_workspace(&repo);
    let out = ws.ok(&["report", "--runs", "results"]);
    assert!(out.contains("wrote README.md"), "{out}");
    let written = files_under(&ws.join("reports"));
    assert_eq!(written.len(), 26, "{written:?}");
    for file in written {
        let name = Path::new(&file).strip_prefix(ws.join("reports")).unwrap();
        let committed = repo.join("reports").join(name);
        assert!(
            std::fs::read(&file).ok() == std::fs::read(&committed).ok(),
            "reports/{}: not what the committed one holds",
            name.display()
        );
    }
    assert!(
        std::fs::read(ws.join("README.md")).unwrap()
            == std::fs::read(repo.join("README.md")).unwrap()
    );
}

/// A finished trial's `config.ron` and `trial.json` repeat what its record holds: a
/// garbage or missing copy is named in a warning and rewritten from the record (the bad
/// copy kept as `<name>.bad`), and the report is unchanged. Before, they were ignored
/// silently.
#[test]
fn a_garbage_config_or_trial_file_in_a_finished_trial_is_named_and_rewritten_from_its_record() {
    let ws = Workspace::new();
    ws.ok(&["train", SMOKE, "--threads", "1", "--set", "epochs=1"]);
    let (_, trial) = only_trial(&ws);
    let config = trial.join("config.ron");
    let start = trial.join("trial.json");
    let written_config = std::fs::read_to_string(&config).unwrap();
    let written_start: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&start).unwrap()).unwrap();
    let report = |ws: &Workspace| {
        let out = ws.run(&["report", SMOKE, "--set", "epochs=1", "--seeds", "1"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read(ws.join("reports/smoke.md")).unwrap(),
        )
    };
    let (quiet, before) = report(&ws);
    assert!(!quiet.contains("rewritten"), "{quiet}");

    std::fs::write(&config, "Experiment(garbage").unwrap();
    std::fs::write(&start, "{\"id\": 3").unwrap();
    let (said, after) = report(&ws);
    assert_eq!(after, before, "the record is what the report uses");
    let id = trial.file_name().unwrap().to_string_lossy().into_owned();
    for (file, problem) in [
        ("config.ron", "is not a valid configuration"),
        ("trial.json", "is not a valid trial start"),
    ] {
        let named = format!("{id}/{file}:");
        let line = said
            .lines()
            .find(|l| l.starts_with("warning:") && l.contains(&named))
            .unwrap_or_else(|| panic!("no warning naming {named}: {said}"));
        assert!(line.contains(problem), "{line}");
        assert!(
            line.contains("rewritten from the trial's summary.json"),
            "{line}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        written_config,
        "config.ron is rewritten exactly as the trial wrote it"
    );
    let mut rewritten: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&start).unwrap()).unwrap();
    let mut expected = written_start.clone();
    rewritten["started"] = serde_json::Value::Null;
    expected["started"] = serde_json::Value::Null;
    assert_eq!(rewritten, expected);
    assert_eq!(
        std::fs::read_to_string(trial.join("config.ron.bad")).unwrap(),
        "Experiment(garbage",
        "nothing is lost"
    );

    // Another trial's identity in trial.json, and a missing config.ron, are bad copies too.
    let mut other = written_start.clone();
    other["seed"] = serde_json::json!(99);
    std::fs::write(&start, other.to_string()).unwrap();
    std::fs::remove_file(&config).unwrap();
    let (said, after) = report(&ws);
    assert_eq!(after, before);
    assert!(
        said.contains("names another trial than the record (it differs in: seed)"),
        "{said}"
    );
    assert!(said.contains("config.ron: is missing"), "{said}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written_config);

    // Repaired: the next command is quiet.
    let (quiet, _) = report(&ws);
    assert!(!quiet.contains("rewritten"), "{quiet}");
}

/// Exports select like reports: with the study's arguments, `export csv` and `export
/// tensorboard` of the dropout table include the baseline's three trials, which the
/// architectures table recorded.
#[test]
fn exports_take_the_study_arguments_and_include_the_shared_baseline() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ws = Workspace::new();
    let results = repo.join("results");
    let results = results.to_str().unwrap();
    let study = study_args(&repo);
    let with = |head: &[&str], tail: &[&str]| {
        let mut args: Vec<String> = head.iter().map(|s| s.to_string()).collect();
        args.extend(study.iter().cloned());
        args.extend(tail.iter().map(|s| s.to_string()));
        args
    };
    let args = with(
        &["export", "csv", "configs/dropout.ron"],
        &["--runs", results],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let csv = ws.ok(&args);
    let mut header = csv.lines().next().unwrap().split(',');
    let id_column = header.position(|h| h == "trial_id").unwrap();
    let ids: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(id_column).unwrap())
        .collect();
    assert_eq!(ids.len(), 9, "dropout 0, 0.2 and 0.5 at 3 seeds: {ids:?}");
    // Named as the dropout file names them, although the architectures table recorded the
    // baseline: grouping by variant finds the three dropouts, three seeds each.
    // (The first columns are plain: experiment, variant, seed, trial_id.)
    let mut per_variant = std::collections::BTreeMap::new();
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.splitn(5, ',').collect();
        assert_eq!(cells[0], "dropout", "{line}");
        per_variant
            .entry(cells[1].to_string())
            .or_insert_with(std::collections::BTreeSet::new)
            .insert(cells[3].to_string());
    }
    let per_variant: std::collections::BTreeMap<String, usize> = per_variant
        .into_iter()
        .map(|(v, ids)| (v, ids.len()))
        .collect();
    let expected: std::collections::BTreeMap<String, usize> = [("0", 3), ("0.2", 3), ("0.5", 3)]
        .map(|(v, n)| (v.to_string(), n))
        .into();
    assert_eq!(per_variant, expected);

    // Two files sharing the baseline: it is listed under each, with the same trial id, and
    // the command counts it once.
    let out = ws.join("two.csv");
    let args = with(
        &["export", "csv", "configs/dropout.ron", "configs/kernel.ron"],
        &["--runs", results, "--out", out.to_str().unwrap()],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = ws.run(&args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(
        err.contains("(15 trials, 3 of them listed under several experiments)"),
        "{err}"
    );
    let two = std::fs::read_to_string(&out).unwrap();
    let baseline_rows = two
        .lines()
        .filter(|l| l.starts_with("dropout,0.2,") || l.starts_with("kernel,3,"))
        .count();
    let epochs = two
        .lines()
        .filter(|l| l.starts_with("dropout,0.2,0,"))
        .count();
    assert!(epochs > 0, "{two}");
    assert_eq!(baseline_rows, 2 * 3 * epochs, "{two}");

    let tb = ws.join("tb");
    let args = with(
        &["export", "tensorboard", "configs/dropout.ron"],
        &["--runs", results, "--out", tb.to_str().unwrap()],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ws.ok(&args);
    let baseline_runs = std::fs::read_dir(tb.join("dropout/0.2"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .count();
    assert_eq!(baseline_runs, 3);
}
