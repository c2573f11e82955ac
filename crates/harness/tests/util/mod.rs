//! Fixtures for the integration tests: a temporary workspace with the shipped configs and
//! helpers to run the real `harness` binary in it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary folder with `configs/` copied in, used as the working directory.
pub struct Workspace {
    /// The temporary folder (removed on drop).
    pub dir: tempfile::TempDir,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

impl Workspace {
    /// A fresh workspace with the shipped configs and a README with report markers.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let configs = dir.path().join("configs");
        std::fs::create_dir_all(&configs).unwrap();
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
        for entry in std::fs::read_dir(shipped).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, configs.join(path.file_name().unwrap())).unwrap();
        }
        std::fs::write(
            dir.path().join("README.md"),
            "# test\n<!-- report:smoke -->\n<!-- /report:smoke -->\n",
        )
        .unwrap();
        Workspace { dir }
    }

    /// The workspace folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the workspace.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A `harness` command running in the workspace.
    pub fn harness(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
        cmd.current_dir(self.path()).env("NO_COLOR", "1");
        cmd
    }

    /// Runs `harness args...`, returning its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.harness().args(args).output().unwrap()
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "harness {args:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The finished trial folders of an experiment.
    pub fn finished_trials(&self, experiment: &str) -> Vec<PathBuf> {
        let dir = self.join(&format!("runs/{experiment}"));
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("summary.json").is_file())
            .collect();
        out.sort();
        out
    }
}

/// Reads a trial's summary as JSON.
pub fn summary(trial: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(trial.join("summary.json")).unwrap()).unwrap()
}
