//! `harness parity`: trains our trainer and plain PyTorch on the same settings, several
//! seeds each, and writes `reports/parity.md` (the statistics and the markdown are in
//! `experiment::parity`; this module runs the processes).
//!
//! 1. **The experiment.** `configs/parity-ours.ron` (`--config`) is reduced in memory to the
//!    variants of `--archs` (`experiment::parity::select_variants`), so a `--archs conv2` run
//!    does not train conv4; every variant keeps its settings, so its trials have the same
//!    ids as the full file's and are shared with it. `--epochs`, `--train-limit` and
//!    `--test-limit` become `--set` overrides, `--seeds` the seed count.
//! 2. **Before any training**: each variant is mapped to the reference's flags (settings it
//!    cannot express are refused), the reports folder is checked for writes, the dataset is
//!    located and verified (its digest is part of every id and cache key), and the Python
//!    is asked for its torch and torchvision versions, so that a missing venv fails in
//!    seconds rather than after our side has trained.
//! 3. **Our side**: the trials of the plan that the store lacks are run in this process by
//!    the replicate workflow (`experiment::replicate::run`, one job of T threads on the CPU,
//!    as the reference; its own report goes to `runs/parity-ours/replicate/`, so it never
//!    overwrites `reports/parity.md`). With every trial in the store nothing runs. The records are then read with `Store::records_for` and matched by
//!    configuration digest, dataset and seed (`experiment::parity::select_ours`).
//! 4. **PyTorch's side**: `bench/reference/train_reference.py`, built into this binary and
//!    written to `runs/parity-ours/pytorch/train_reference-<sha>.py`, runs once per
//!    (architecture, seed) with `--mode train --no-latency --num-workers 0`, one process at
//!    a time. Its stderr is passed through, prefixed; its JSON lines are checked and the
//!    run is cached atomically as `runs/parity-ours/pytorch/<arch>-<key>-seed<S>.json`, where
//!    the key hashes the settings, the torch version, the script and the dataset. A valid
//!    cache file is reused; a failed run is an error naming the command with the tail of
//!    its stderr.
//! 5. **The report**: `reports/parity.md`, written atomically, a pure function of the
//!    records and the cache files, so a rerun that trains nothing writes the same bytes.

use crate::cli::{DeviceArg, ParityArgs, RunOpts};
use crate::common;
use crate::replicate_cmd::CliReporter;
use anyhow::{Context, bail};
use experiment::parity::{
    self, ArchParity, Conditions, Curve, REFERENCE_FORMAT, ReferenceRun, ReferenceSettings,
};
use experiment::replicate::{self, DataSource, Jobs, Planned, Request};
use experiment::store::write_atomic;
use experiment::{Experiment, Store, TrialRecord, id};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// The PyTorch reference, as it was when this binary was built.
const REFERENCE_SCRIPT: &str = include_str!("../../../bench/reference/train_reference.py");

/// The torch version of the cached venv (`scripts/setup.sh`, `bench/venv.sh`).
const TORCH_VERSION: &str = "2.11.0";

/// Lines of a failed Python run's stderr shown in the error.
const STDERR_TAIL: usize = 20;

/// The Python of the cached torch venv: `${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/
/// torch-2.11.0/bin/python`, as `bench/venv.sh` finds it.
fn default_python() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache
        .join("fmnist-harness")
        .join(format!("torch-{TORCH_VERSION}"))
        .join("bin")
        .join("python")
}

/// A command line as a shell would take it (arguments quoted where needed).
fn shell_line(program: &Path, args: &[String]) -> String {
    std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| experiment::slurm::shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the Python reports about itself before anything trains.
struct PythonInfo {
    torch: String,
    torchvision: String,
}

const SETUP_HINT: &str = "the PyTorch side needs torch and torchvision: run scripts/setup.sh --test (or --bench), or pass --python";

/// Asks `python` for its torch and torchvision versions (and that PIL imports).
fn python_info(python: &Path) -> anyhow::Result<PythonInfo> {
    let probe = "import json, torch, torchvision, PIL; \
                 print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__}))";
    let out = Command::new(python)
        .args(["-c", probe])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}; {SETUP_HINT}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import torch, torchvision and PIL ({}); {SETUP_HINT}:\n{}",
            python.display(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), STDERR_TAIL)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(text.trim())
        .with_context(|| format!("{}: unexpected answer `{}`", python.display(), text.trim()))?;
    let field = |name: &str| {
        value[name].as_str().map(str::to_owned).with_context(|| {
            format!(
                "{}: no {name} version in `{}`",
                python.display(),
                text.trim()
            )
        })
    };
    Ok(PythonInfo {
        torch: field("torch")?,
        torchvision: field("torchvision")?,
    })
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    progress::format::last_lines(text, n)
}

pub fn run(args: ParityArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    let threads = match args.threads {
        Some(t) if t >= 1 => t,
        Some(t) => bail!("--threads {t}: must be at least 1"),
        None => cores,
    };

    // 1. The experiment, reduced to --archs.
    let mut sets: Vec<String> = Vec::new();
    if let Some(e) = args.epochs {
        sets.push(format!("epochs={e}"));
    }
    if let Some(n) = args.train_limit {
        sets.push(format!("data.train_limit={n}"));
    }
    if let Some(n) = args.test_limit {
        sets.push(format!("data.test_limit={n}"));
    }
    let full = common::experiment(&args.config, &sets, args.seeds)?;
    let experiment = parity::select_variants(&args.config, &full, &args.archs)?;
    let store = common::store(&args.runs)?;
    let dir = store.experiment_dir(&full.name);
    let seeds = experiment.seeds.clone();

    // 2. Everything that can fail in seconds, before any training.
    let settings: Vec<ReferenceSettings> = experiment
        .variants
        .iter()
        .map(|v| ReferenceSettings::from_trial(&v.name, v.trial.config()))
        .collect::<Result<_, _>>()?;
    common::ensure_writable_dir(&args.reports)?;
    store.ensure_writable()?;
    let opts = RunOpts {
        sets: Vec::new(),
        device: DeviceArg::Cpu,
        threads: Some(threads),
        data_dir: args.data_dir.clone(),
        no_verify: false,
    };
    let dataset = common::dataset(&opts)?;
    let data_dir = dataset.dir.clone();
    let dataset_digest = dataset.digest.clone();
    drop(dataset);
    let python = args.python.clone().unwrap_or_else(default_python);
    let info = python_info(&python)?;
    println!(
        "parity: {} x {} seed(s) per side, {} thread(s), cpu; PyTorch: {} (torch {}, torchvision {})",
        experiment
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        seeds.len(),
        threads,
        python.display(),
        info.torch,
        info.torchvision
    );

    // 3. Our side.
    let planned: Vec<String> = experiment
        .variants
        .iter()
        .flat_map(|v| {
            seeds
                .iter()
                .map(|&s| id::trial_id(v.trial.config(), s, &dataset_digest))
        })
        .collect();
    let pending = planned.iter().filter(|id| !store.is_done(id)).count();
    if pending == 0 {
        println!(
            "ours: all {} trial(s) are in the store {}; nothing to train",
            planned.len(),
            args.runs.display()
        );
    } else {
        println!("ours: {pending} of {} trial(s) to train", planned.len());
        run_ours(&args, &experiment, &sets, threads, &data_dir, &dir, &store)?;
    }
    let found = store.records_for(&experiment.membership())?;
    for warning in found.warnings() {
        eprintln!("warning: {warning}");
    }
    let mut ours: Vec<Vec<TrialRecord>> = Vec::new();
    for v in &experiment.variants {
        let chosen = parity::select_ours(&found.records, v.trial.config(), &seeds, &dataset_digest);
        if chosen.len() != seeds.len() {
            bail!(
                "ours: {} has {} of {} trial(s) in {} after the replicate run; run the same command again",
                v.name,
                chosen.len(),
                seeds.len(),
                store.trials_dir().display()
            );
        }
        ours.push(chosen.into_iter().cloned().collect());
    }

    // 4. PyTorch's side.
    let script_sha256 = data::sha256_hex(REFERENCE_SCRIPT.as_bytes());
    let cache = dir.join("pytorch");
    let script = cache.join(format!("train_reference-{}.py", &script_sha256[..12]));
    if std::fs::read(&script).ok().as_deref() != Some(REFERENCE_SCRIPT.as_bytes()) {
        write_atomic(&script, REFERENCE_SCRIPT.as_bytes())?;
    }
    let reference = Reference {
        python: &python,
        script: &script,
        info: &info,
        script_sha256: &script_sha256,
        dataset_digest: &dataset_digest,
        data_dir: &data_dir,
        threads,
    };
    let mut pytorch: Vec<Vec<ReferenceRun>> = Vec::new();
    for s in &settings {
        let key = s.key(&info.torch, &script_sha256, &dataset_digest);
        let mut runs = Vec::new();
        for &seed in &seeds {
            let path = cache.join(ReferenceRun::file_name(&s.arch, &key, seed));
            let run = match cached(&path, s, &key, seed) {
                Some(run) => {
                    println!("pytorch {} seed {seed}: reused {}", s.arch, path.display());
                    run
                }
                None => {
                    let run = reference.train(s, &key, seed)?;
                    let mut json = serde_json::to_string_pretty(&run)?;
                    json.push('\n');
                    write_atomic(&path, json.as_bytes())?;
                    println!(
                        "pytorch {} seed {seed}: trained in {:.1} s, cached {}",
                        s.arch,
                        run.wall_time_s,
                        path.display()
                    );
                    run
                }
            };
            runs.push(run);
        }
        pytorch.push(runs);
    }

    // 5. The report.
    let all_ours: Vec<&TrialRecord> = ours.iter().flatten().collect();
    let all_pytorch: Vec<&ReferenceRun> = pytorch.iter().flatten().collect();
    let conditions = Conditions::gather(&all_ours, &all_pytorch);
    let archs: Vec<ArchParity> = experiment
        .variants
        .iter()
        .zip(&settings)
        .zip(ours.iter().zip(&pytorch))
        .map(|((v, s), (o, p))| ArchParity {
            arch: v.name.clone(),
            settings: s.clone(),
            ours: o.iter().map(Curve::from_record).collect(),
            pytorch: p.iter().map(Curve::from_reference).collect(),
        })
        .collect();
    let markdown = parity::render(&conditions, &archs);
    let out = args.reports.join("parity.md");
    write_atomic(&out, markdown.as_bytes())?;
    for a in &archs {
        match a.final_difference() {
            Some(d) => println!("{}: {}", a.arch, parity::difference_line(&d)),
            None => println!("{}: no comparison (a side has no finished run)", a.arch),
        }
    }
    println!(
        "wrote {} ({:.0} s)",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs our side through the replicate workflow, in this process (its progress is this
/// command's): the experiment reduced to `--archs`, CPU, one job of `threads` threads.
fn run_ours(
    args: &ParityArgs,
    experiment: &Experiment,
    sets: &[String],
    threads: i32,
    data_dir: &Path,
    dir: &Path,
    store: &Store,
) -> anyhow::Result<()> {
    // The replicate's own report (conv2 against conv4) goes beside the runs; the README
    // named there does not exist, so no README is touched.
    let reports = dir.join("replicate");
    let request = Request {
        experiments: vec![Planned {
            path: args.config.clone(),
            experiment: experiment.clone(),
        }],
        overrides: common::overrides(sets)?,
        sets: sets.to_vec(),
        store: store.clone(),
        device: tch::Device::Cpu,
        device_arg: "cpu".into(),
        jobs: Jobs::Count(1),
        threads: Some(threads),
        max_trial_time: None,
        halfwidth: None,
        alpha: experiment::stats::ALPHA,
        dry_run: false,
        data: DataSource {
            dir: Some(data_dir.to_path_buf()),
            verify: true,
        },
        readme: reports.join("README.md"),
        reports,
        program: std::env::current_exe().context("cannot find this program to run workers")?,
    };
    let outcome = replicate::run(&request, &mut CliReporter::new())?;
    if !outcome.is_success() {
        bail!(
            "our side did not record every trial ({outcome:?}; its output is above); rerunning resumes it"
        );
    }
    Ok(())
}

/// The cached run at `path` when it is the run of `settings` under `key` with `seed`; a
/// file that is unreadable or holds another run is reported and retrained.
fn cached(path: &Path, settings: &ReferenceSettings, key: &str, seed: u64) -> Option<ReferenceRun> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            eprintln!("warning: {}: {e}; training it again", path.display());
            return None;
        }
    };
    let checked = serde_json::from_str::<ReferenceRun>(&text)
        .map_err(|e| e.to_string())
        .and_then(|run| run.check(settings, key, seed).map(|()| run));
    match checked {
        Ok(run) => Some(run),
        Err(why) => {
            eprintln!(
                "warning: {}: not a usable cached run ({why}); training it again",
                path.display()
            );
            None
        }
    }
}

/// How to run the reference.
struct Reference<'a> {
    python: &'a Path,
    script: &'a Path,
    info: &'a PythonInfo,
    script_sha256: &'a str,
    dataset_digest: &'a str,
    data_dir: &'a Path,
    threads: i32,
}

impl Reference<'_> {
    /// Trains `settings` with `seed` in one Python process; its stderr is passed through
    /// (prefixed), its stdout parsed.
    fn train(
        &self,
        settings: &ReferenceSettings,
        key: &str,
        seed: u64,
    ) -> anyhow::Result<ReferenceRun> {
        let mut line: Vec<String> = vec![self.script.display().to_string()];
        line.extend(settings.args());
        line.extend([
            "--seed".into(),
            seed.to_string(),
            "--threads".into(),
            self.threads.to_string(),
            "--data-dir".into(),
            self.data_dir.display().to_string(),
            "--mode".into(),
            "train".into(),
            "--no-latency".into(),
            "--num-workers".into(),
            "0".into(),
        ]);
        let shown = shell_line(self.python, &line);
        println!("pytorch {} seed {seed}: {shown}", settings.arch);
        let started_at = experiment::provenance::now_rfc3339();
        let clock = Instant::now();
        let mut child = Command::new(self.python)
            .args(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {shown}; {SETUP_HINT}"))?;
        let stderr = child.stderr.take().expect("piped");
        let prefix = format!("pytorch {} seed {seed}: ", settings.arch);
        let passing = std::thread::spawn(move || {
            let mut last: VecDeque<String> = VecDeque::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{prefix}{line}");
                if last.len() == STDERR_TAIL {
                    last.pop_front();
                }
                last.push_back(line);
            }
            last.into_iter().collect::<Vec<_>>().join("\n")
        });
        let mut stdout = String::new();
        let read = child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut stdout);
        let status = child
            .wait()
            .with_context(|| format!("waiting for {shown}"))?;
        let err_tail = passing.join().unwrap_or_default();
        read.with_context(|| format!("reading the output of {shown}"))?;
        if !status.success() {
            bail!("the PyTorch reference failed ({status}): {shown}\n{err_tail}");
        }
        let output = parity::parse_reference_output(&stdout, seed, settings.epochs)
            .with_context(|| format!("{shown}\n{err_tail}"))?;
        if output.start.torch != self.info.torch {
            bail!(
                "{shown}: the run reports torch {}, the version probe said {} (the cache key uses the probe's)",
                output.start.torch,
                self.info.torch
            );
        }
        Ok(ReferenceRun {
            format: REFERENCE_FORMAT,
            key: key.to_owned(),
            seed,
            settings: settings.clone(),
            torch: output.start.torch,
            torchvision: output.start.torchvision,
            script_sha256: self.script_sha256.to_owned(),
            dataset_digest: self.dataset_digest.to_owned(),
            threads: output.start.threads,
            device: output.start.device,
            device_name: experiment::provenance::device_name(tch::Device::Cpu),
            host: experiment::provenance::host_name(),
            parameters: output.start.params,
            command: std::iter::once(self.python.display().to_string())
                .chain(line)
                .collect(),
            started_at,
            finished_at: experiment::provenance::now_rfc3339(),
            wall_time_s: clock.elapsed().as_secs_f64(),
            epochs: output.epochs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let line = shell_line(
            Path::new("/venv/bin/python"),
            &[
                "--arch".into(),
                "conv2".into(),
                "a b".into(),
                "it's".into(),
                String::new(),
            ],
        );
        assert_eq!(line, r"/venv/bin/python --arch conv2 'a b' 'it'\''s' ''");
    }

    #[test]
    fn stderr_tails_keep_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
