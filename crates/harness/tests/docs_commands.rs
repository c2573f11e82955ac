//! Every `harness` command the README and `docs/*.md` show in a ```sh block is run here,
//! by bash as a reader would type it (quotes, comments), with `harness` on the PATH, in a
//! workspace holding the shipped configs and a store copied from the committed `results/`
//! (as `runs/`, the default store, and as `results/`).
//!
//! What runs as written and what is made cheap, by rule:
//! - `replicate` gets `--dry-run` (it would train for minutes to hours), except in a block
//!   that goes on to `export onnx`, where it trains with tiny settings (`--seeds 1`, one
//!   epoch on 512 images) so that the export has a trial with checkpoints; `ID` in that block
//!   is that trial's id.
//! - `reproduce` retrains its (small) trial as written: it must say `identical` on the
//!   machine that recorded it, and may say `differs` (exit 6) on another CPU, which is what
//!   the docs tell the reader to expect.
//! - `tui` is interactive: it runs in `tests/tui.rs` under tmux, and this test checks that the
//!   exact arguments shown are among those the tmux tests run.
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
                } else if lang.trim() == "sh" {
                    block = Some(Vec::new());
                } else {
                    other = true;
                }
                continue;
            }
            if let Some(lines) = &mut block
                && trimmed.starts_with("harness ")
            {
                lines.push((i + 1, trimmed.to_string()));
            }
        }
    }
    out
}

/// Copies a folder tree (the committed store).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
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
    copy_tree(&repo().join("results"), &ws.join("runs"));
    copy_tree(&repo().join("results"), &ws.join("results"));
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
            if !tui_tests.contains(&format!("{command:?}")) {
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
        let fine = match code {
            Some(0) => true,
            // reproduce on a machine other than the one that recorded the trial.
            Some(6) if s.text.starts_with("harness reproduce ") => stdout.contains("differs"),
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

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}
