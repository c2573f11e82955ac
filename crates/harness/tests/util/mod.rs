//! Fixtures for the integration tests: a temporary workspace with the shipped configs and
//! helpers to run the real `harness` binary in it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    /// The finished trial folders (in the store `runs/trials/`) that `experiment`
    /// ran.
    pub fn finished_trials(&self, experiment: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(self.join("runs/trials")) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("summary.json").is_file())
            .filter(|p| summary(p)["experiment"] == experiment)
            .collect();
        out.sort();
        out
    }
}

/// The folder holding the real Fashion-MNIST files (`$FASHION_MNIST_DIR`, the system
/// package's folder, or the user cache), where `make test`'s set-up put them.
pub fn real_data_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [
        std::env::var("FASHION_MNIST_DIR").ok().map(PathBuf::from),
        Some(PathBuf::from("/usr/share/datasets/fashion-mnist")),
        Some(PathBuf::from(home).join(".cache/fmnist-harness/fashion-mnist")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| {
            d.join("train-images-idx3-ubyte.gz").is_file()
                || d.join("train-images-idx3-ubyte").is_file()
        })
        .expect("the Fashion-MNIST files (make test installs them)")
}

/// The Python of the cached torch venv (`${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/
/// torch-2.11.0/bin/python`), where `scripts/setup.sh --test` installs the readers the
/// export tests use (tensorboard, onnx, onnxruntime). Missing, the test fails and says
/// what to run.
pub fn venv_python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    let python = cache.join("fmnist-harness/torch-2.11.0/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/setup.sh --test (make test does)",
        python.display()
    );
    python
}

/// Reads a trial's summary as JSON.
pub fn summary(trial: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(trial.join("summary.json")).unwrap()).unwrap()
}

/// The pids whose parent is `pid` (from /proc).
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().to_string();
            let child: u32 = name.parse().ok()?;
            let (_, ppid) = state_and_parent(child)?;
            (ppid == pid).then_some(child)
        })
        .collect()
}

/// Whether `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    state_and_parent(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// The state letter and parent pid of `pid`, from `/proc/<pid>/stat`.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses): state, ppid, ...
    let mut after = stat[stat.rfind(')')? + 2..].split_whitespace();
    let state = after.next()?.chars().next()?;
    let ppid = after.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Waits until `pid` is gone (or a zombie); false after `timeout`.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Every file under `dir`, recursively (empty when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// A `harness` process whose standard output is collected line by line as it runs.
pub struct Spawned {
    /// The process (in a process group of its own).
    pub child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Spawned {
    /// Starts `harness args...` in `ws`, in a new process group, output collected.
    pub fn start(ws: &Workspace, args: &[&str]) -> Spawned {
        Self::start_with_env(ws, args, &[])
    }

    /// [`Spawned::start`] with extra environment variables.
    pub fn start_with_env(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Spawned {
        use std::os::unix::process::CommandExt;
        let mut cmd = ws.harness();
        cmd.envs(env.iter().copied());
        let mut child = cmd
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Spawned { child, lines }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits until a printed line satisfies `pred` (panics after `timeout`).
    pub fn wait_for_line(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        while !self.lines.lock().unwrap().iter().any(|l| pred(l)) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the exit (panics after `timeout`), returning the exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the exit; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Copies a folder tree (e.g. the committed store `results/` into a workspace).
pub fn copy_tree(from: &Path, to: &Path) {
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
