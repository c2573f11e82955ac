//! Every `harness` command the README and `docs/*.md` show in a shell block (```sh, bash,
//! shell or console; a `$ ` prompt is dropped) is run here, by bash as a reader would type
//! it (quotes, comments), with `harness` on the PATH, in a workspace holding the shipped
//! configs and a store copied from the committed `results/` (as `runs/`, the default store,
//! and as `results/`). The calibration cache is a temporary one (the torch venv linked into
//! it), so the test leaves the user's cache as it was.
//!
//! What runs as written and what is made cheap, by rule:
//! - `replicate` gets `--dry-run` (it would train for minutes to hours), except in a block
//!   that goes on to `export onnx`, where it trains with tiny settings (`--seeds 1`, one
//!   epoch on 512 images) so that the export has a trial with checkpoints; `ID` in that block
//!   is that trial's id.
//! - `reproduce` retrains its (small) trial as written: where this machine's CPU name is the
//!   record's it must say `identical` (exit 0); elsewhere `differs` (exit 6) is what the docs
//!   tell the reader to expect.
//! - `parity` runs as written (the docs' example is the one-minute one).
//! - `tui` is interactive: it runs in `tests/tui.rs` under tmux, and this test checks that a
//!   tmux test types the exact line (`type_line("tui", "<the line>")`).
//! - `make` targets and Python snippets are not `harness` commands: `make test` itself, and
//!   the bench and export tests (`bench/test_compare.py`, `tests/export_*.py`), cover them.
//!
//! A new `harness` line in the docs is picked up without editing this test; one that fails
//! names its file and line.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;
use util::Workspace;

/// One `harness` line of a ```sh block.
#[derive(Debug)]
struct Shown {
    file: String,
    line: usize,
    text: String,
    /// The block goes on to `export onnx`.
    feeds_export: bool,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `harness` line in a ```sh block of README.md and docs/*.md.
fn shown() -> Vec<Shown> {
    let mut files = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path
            .strip_prefix(repo())
            .unwrap_or(&path)
            .display()
            .to_string();
        // Lines of the ```sh block we are in; `other`: inside a block of another language.
        let mut block: Option<Vec<(usize, String)>> = None;
        let mut other = false;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if let Some(lang) = trimmed.strip_prefix("```") {
                if let Some(lines) = block.take() {
                    let feeds_export = lines.iter().any(|(_, l)| l.contains("export onnx"));
                    out.extend(lines.into_iter().map(|(line, text)| Shown {
                        file: name.clone(),
                        line,
                        text,
                        feeds_export,
                    }));
                } else if other {
                    other = false;
                } else if matches!(lang.trim(), "sh" | "bash" | "shell" | "console") {
                    block = Some(Vec::new());
                } else {
                    other = true;
                }
                continue;
            }
            let command = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
            if let Some(lines) = &mut block
                && command.starts_with("harness ")
            {
                lines.push((i + 1, command.to_string()));
            }
        }
    }
    out
}

/// The command line as run here, by the rules of the module's comment.
fn as_run(shown: &Shown, trained: Option<&str>) -> String {
    let text = shown.text.clone();
    if text.starts_with("harness replicate ") {
        let (command, comment) = match text.find(" #") {
            Some(i) => (text[..i].to_string(), text[i..].to_string()),
            None => (text.clone(), String::new()),
        };
        let extra = if shown.feeds_export {
            " --seeds 1 --set epochs=1 --set data.train_limit=512 --set data.test_limit=256"
        } else if command.contains("--dry-run") {
            ""
        } else {
            " --dry-run"
        };
        return format!("{command}{extra}{comment}");
    }
    match trained {
        Some(id) if text.starts_with("harness export onnx ID ") => {
            text.replacen(" ID ", &format!(" {id} "), 1)
        }
        _ => text,
    }
}

/// The first finished trial in the workspace's `runs/` that has checkpoints.
fn trained_id(ws: &Workspace) -> Option<String> {
    let trials = ws.join("runs/trials");
    let mut ids: Vec<String> = std::fs::read_dir(trials)
        .ok()?
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("ckpt").is_dir() && e.path().join("summary.json").is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    ids.sort();
    ids.into_iter().next()
}

#[test]
fn every_harness_command_the_docs_show_runs() {
    let all = shown();
    assert!(
        all.len() >= 15,
        "found only {} harness lines in the docs: {all:#?}",
        all.len()
    );
    let ws = Workspace::new();
    util::copy_tree(&repo().join("results"), &ws.join("runs"));
    util::copy_tree(&repo().join("results"), &ws.join("results"));
    // A calibration cache of its own, with the torch venv (parity's Python) linked in.
    let cache = tempfile::tempdir().unwrap();
    let venv = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache"))
        .join("fmnist-harness/torch-2.11.0");
    std::fs::create_dir_all(cache.path().join("fmnist-harness")).unwrap();
    std::os::unix::fs::symlink(&venv, cache.path().join("fmnist-harness/torch-2.11.0")).unwrap();
    let here = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| experiment::provenance::cpu_name(&s));
    let bin = ws.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_harness"), bin.join("harness")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let tui_tests =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tui.rs"))
            .unwrap();
    let mut failures = Vec::new();
    let mut ran = 0;
    for s in &all {
        let at = format!("{}:{}", s.file, s.line);
        if s.text.starts_with("harness tui") {
            let command = s.text.split(" #").next().unwrap().trim();
            if !tui_tests.contains(&format!("type_line(\"tui\", {command:?})")) {
                failures.push(format!(
                    "{at}: `{command}` is typed by no tmux test in tests/tui.rs"
                ));
            }
            continue;
        }
        let started = std::time::Instant::now();
        let trained = trained_id(&ws);
        let line = as_run(s, trained.as_deref());
        let out = Command::new("bash")
            .arg("-c")
            .arg(&line)
            .current_dir(ws.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .env("XDG_CACHE_HOME", cache.path())
            .env("FASHION_MNIST_DIR", util::real_data_dir())
            .output()
            .unwrap();
        ran += 1;
        eprintln!(
            "{at}: {line}: {:?}, {:.1} s",
            out.status.code(),
            started.elapsed().as_secs_f64()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let fine = match (code, recorded_cpu(&ws, &line)) {
            (Some(0), _) => true,
            // reproduce on a CPU other than the recording one (or one its record cannot name).
            (Some(6), Some(cpu)) => {
                here.as_deref() != Some(cpu.as_str()) && stdout.contains("differs")
            }
            _ => false,
        };
        if !fine {
            failures.push(format!(
                "{at}: `{line}` exited {code:?}\nstdout (end): {}\nstderr (end): {}",
                tail(&stdout),
                tail(&stderr)
            ));
        }
    }
    assert!(ran >= 12, "ran only {ran} commands");
    assert!(
        failures.is_empty(),
        "{} of the docs' commands failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// For a `harness reproduce ID --runs DIR` line, the CPU its record names.
fn recorded_cpu(ws: &Workspace, line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.get(1) != Some(&"reproduce") {
        return None;
    }
    let id = words.get(2)?;
    let runs = words
        .iter()
        .position(|w| *w == "--runs")
        .and_then(|i| words.get(i + 1))
        .unwrap_or(&"runs");
    let trials = ws.join(&format!("{runs}/trials"));
    let dir = std::fs::read_dir(trials)
        .ok()?
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(id))?;
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).ok()?).ok()?;
    record["provenance"]["device_name"]
        .as_str()
        .map(str::to_string)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}
