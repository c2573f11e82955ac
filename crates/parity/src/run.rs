//! The processes of a parity run ([`run`]): our side through the replicate workflow in this
//! process, PyTorch's side as one Python process per (architecture, seed), then the report.
//!
//! 1. **Before any training** (the caller has loaded the experiment, reduced it to the
//!    requested variants with [`crate::select_variants`], and located the dataset): each
//!    variant is mapped to the reference's flags (settings it cannot express are refused),
//!    and the Python is asked for its torch and torchvision versions, so that a missing
//!    venv fails in seconds rather than after our side has trained.
//! 2. **Our side**: the trials of the plan that the store lacks are run by
//!    `experiment::replicate::run` (one job of T threads on the CPU, as the reference; its
//!    own report goes to `<runs>/parity-ours/replicate/`, so it never overwrites
//!    `reports/parity.md`). The records are then read with `Store::records_for` and matched
//!    by configuration digest, dataset and seed ([`crate::select_ours`]).
//! 3. **PyTorch's side**: `bench/reference/train_reference.py`, built into this crate and
//!    written to `<runs>/parity-ours/pytorch/train_reference-<sha>.py`, runs once per
//!    (architecture, seed) with `--mode train --no-latency --num-workers 0`, one process at
//!    a time. Its stderr is passed on, prefixed; its JSON lines are checked and the run is
//!    cached atomically as `<arch>-<key>-seed<S>.json`, where the key hashes the settings,
//!    the torch version, the script and the dataset. A valid cache file is reused; a failed
//!    run is an error naming the command with the tail of its stderr.
//! 4. **The report**: `reports/parity.md`, written atomically, a pure function of the
//!    records and the cache files, so a rerun that trains nothing writes the same bytes.

use crate::{
    ArchParity, Conditions, Curve, ParityError, REFERENCE_FORMAT, ReferenceRun, ReferenceSettings,
};
use experiment::replicate::{self, DataOptions, Jobs, LoadedExperiment, Reporter, Request};
use spec::config::Experiment;
use spec::overrides::Override;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use store::record::TrialRecord;
use store::{Store, write_atomic};

/// The PyTorch reference, as it was when this crate was built.
const REFERENCE_SCRIPT: &str = include_str!("../../../bench/reference/train_reference.py");

/// The torch version of the cached venv (`scripts/setup.sh`, `bench/venv.sh`).
pub const TORCH_VERSION: &str = "2.11.0";

/// Lines of a failed Python run's stderr shown in the error.
const STDERR_TAIL: usize = 20;

const SETUP_HINT: &str = "the PyTorch side needs torch and torchvision: run scripts/setup.sh --test (or --bench), or pass --python";

/// What a parity run needs, checked and loaded by the caller.
pub struct ParityRequest {
    /// The experiment file (`configs/parity-ours.ron`).
    pub config: PathBuf,
    /// Its experiment, reduced to the requested variants ([`crate::select_variants`]).
    pub experiment: Experiment,
    /// The `--set` overrides it was loaded with, as text.
    pub sets: Vec<String>,
    /// The same overrides, parsed.
    pub overrides: Vec<Override>,
    /// Our side's run store.
    pub store: Store,
    /// Threads per side (one process at a time on each side).
    pub threads: i32,
    /// The verified Fashion-MNIST folder.
    pub data_dir: PathBuf,
    /// Its digest (part of every trial id and cache key).
    pub dataset_digest: String,
    /// The Python with torch and torchvision.
    pub python: PathBuf,
    /// Where `parity.md` goes.
    pub reports: PathBuf,
    /// The harness binary (our side's workers).
    pub program: PathBuf,
}

/// A line a parity run has to say.
pub enum Note {
    /// Progress, for stdout.
    Info(String),
    /// Something the user should know, for stderr.
    Warning(String),
    /// A line of the reference's stderr, prefixed with its run, for stderr as it is.
    Passed(String),
}

/// What a parity run wrote.
pub struct ParityOutcome {
    /// `reports/parity.md`.
    pub report: PathBuf,
    /// Both sides, per architecture.
    pub archs: Vec<ArchParity>,
}

/// The Python of the cached torch venv: `${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/
/// torch-2.11.0/bin/python`, as `bench/venv.sh` finds it.
pub fn default_python() -> PathBuf {
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
        .map(|a| cluster::slurm::shell_quote(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the Python reports about itself before anything trains.
pub struct PythonInfo {
    /// `torch.__version__`.
    pub torch: String,
    /// `torchvision.__version__`.
    pub torchvision: String,
    /// Whether its torch runs a convolution in bf16 under `torch.autocast("cpu",
    /// dtype=torch.bfloat16)`, which the reference's `--precision bf16` uses.
    pub autocast_bf16: bool,
}

/// Refuses, before anything trains, a bf16 comparison against a Python whose torch
/// cannot run the reference in bf16 ([`PythonInfo::autocast_bf16`]).
pub fn check_precision(
    variant: &str,
    settings: &ReferenceSettings,
    info: &PythonInfo,
) -> Result<(), ParityError> {
    if settings.precision == models::Precision::Bf16 && !info.autocast_bf16 {
        return Err(ParityError::Unsupported {
            variant: variant.to_owned(),
            field: "precision".into(),
            value: "bf16".into(),
            why: format!(
                "its torch {} does not run convolutions in bf16 under torch.autocast(\"cpu\", dtype=torch.bfloat16)",
                info.torch
            ),
        });
    }
    Ok(())
}

fn python_error(python: &Path, message: String) -> ParityError {
    ParityError::Python {
        python: python.to_path_buf(),
        message,
    }
}

/// Asks `python` for its torch and torchvision versions (and that PIL imports).
pub fn python_info(python: &Path) -> Result<PythonInfo, ParityError> {
    let probe = "import json, torch, torchvision, PIL\n\
                 try:\n    \
                     with torch.autocast('cpu', dtype=torch.bfloat16):\n        \
                         bf16 = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3)).dtype == torch.bfloat16\n\
                 except Exception:\n    \
                     bf16 = False\n\
                 print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__, 'autocast_bf16': bf16}))";
    let out = Command::new(python)
        .args(["-c", probe])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            python_error(
                python,
                format!("cannot run {} ({e}); {SETUP_HINT}", python.display()),
            )
        })?;
    if !out.status.success() {
        return Err(python_error(
            python,
            format!(
                "{} cannot import torch, torchvision and PIL ({}); {SETUP_HINT}:\n{}",
                python.display(),
                out.status,
                progress::format::last_lines(&String::from_utf8_lossy(&out.stderr), STDERR_TAIL)
            ),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(text.trim()).map_err(|_| {
        python_error(
            python,
            format!("{}: unexpected answer `{}`", python.display(), text.trim()),
        )
    })?;
    let field = |name: &str| {
        value[name].as_str().map(str::to_owned).ok_or_else(|| {
            python_error(
                python,
                format!(
                    "{}: no {name} version in `{}`",
                    python.display(),
                    text.trim()
                ),
            )
        })
    };
    Ok(PythonInfo {
        torch: field("torch")?,
        torchvision: field("torchvision")?,
        autocast_bf16: value["autocast_bf16"].as_bool().unwrap_or(false),
    })
}

/// Runs both sides (what is missing of each) and writes `reports/parity.md`; `note`
/// hears the progress, `reporter` our side's replicate run.
pub fn run(
    request: &ParityRequest,
    reporter: &mut dyn Reporter,
    note: &(dyn Fn(Note) + Sync),
) -> Result<ParityOutcome, ParityError> {
    let ParityRequest {
        experiment, store, ..
    } = request;
    let seeds = experiment.seeds.clone();
    let dir = store.experiment_dir(&experiment.name);

    // 1. Everything that can fail in seconds, before any training.
    let settings: Vec<ReferenceSettings> = experiment
        .variants
        .iter()
        .map(|v| ReferenceSettings::from_trial(&v.name, v.trial.config()))
        .collect::<Result<_, _>>()?;
    let info = python_info(&request.python)?;
    for (v, s) in experiment.variants.iter().zip(&settings) {
        check_precision(&v.name, s, &info)?;
    }
    note(Note::Info(format!(
        "parity: {} x {} seed(s) per side, {} thread(s), cpu; PyTorch: {} (torch {}, torchvision {})",
        experiment
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        seeds.len(),
        request.threads,
        request.python.display(),
        info.torch,
        info.torchvision
    )));

    // 2. Our side.
    let planned: Vec<String> = experiment
        .variants
        .iter()
        .flat_map(|v| {
            seeds
                .iter()
                .map(|&s| store::id::trial_id(v.trial.config(), s, &request.dataset_digest))
        })
        .collect();
    let pending = planned.iter().filter(|id| !store.is_done(id)).count();
    if pending == 0 {
        note(Note::Info(format!(
            "ours: all {} trial(s) are in the store {}; nothing to train",
            planned.len(),
            store.root().display()
        )));
    } else {
        note(Note::Info(format!(
            "ours: {pending} of {} trial(s) to train",
            planned.len()
        )));
        run_ours(request, &dir, reporter)?;
    }
    let found = store.records_for(&experiment.membership())?;
    for warning in found.warnings() {
        note(Note::Warning(warning));
    }
    let mut ours: Vec<Vec<TrialRecord>> = Vec::new();
    for v in &experiment.variants {
        let chosen = crate::select_ours(
            &found.records,
            v.trial.config(),
            &seeds,
            &request.dataset_digest,
        );
        if chosen.len() != seeds.len() {
            return Err(ParityError::Incomplete(format!(
                "ours: {} has {} of {} trial(s) in {} after the replicate run; run the same command again",
                v.name,
                chosen.len(),
                seeds.len(),
                store.trials_dir().display()
            )));
        }
        ours.push(chosen.into_iter().cloned().collect());
    }

    // 3. PyTorch's side.
    let script_sha256 = data::sha256_hex(REFERENCE_SCRIPT.as_bytes());
    let cache = dir.join("pytorch");
    let script = cache.join(format!("train_reference-{}.py", &script_sha256[..12]));
    if std::fs::read(&script).ok().as_deref() != Some(REFERENCE_SCRIPT.as_bytes()) {
        write_atomic(&script, REFERENCE_SCRIPT.as_bytes())?;
    }
    let reference = Reference {
        request,
        script: &script,
        info: &info,
        script_sha256: &script_sha256,
    };
    let mut pytorch: Vec<Vec<ReferenceRun>> = Vec::new();
    for s in &settings {
        let key = s.key(&info.torch, &script_sha256, &request.dataset_digest);
        let mut runs = Vec::new();
        for &seed in &seeds {
            let path = cache.join(ReferenceRun::file_name(&s.arch, &key, seed));
            let run = match cached(&path, s, &key, seed, note) {
                Some(run) => {
                    note(Note::Info(format!(
                        "pytorch {} seed {seed}: reused {}",
                        s.arch,
                        path.display()
                    )));
                    run
                }
                None => {
                    let run = reference.train(s, &key, seed, note)?;
                    let mut json =
                        serde_json::to_string_pretty(&run).expect("a reference run serialises");
                    json.push('\n');
                    write_atomic(&path, json.as_bytes())?;
                    note(Note::Info(format!(
                        "pytorch {} seed {seed}: trained in {:.1} s, cached {}",
                        s.arch,
                        run.wall_time_s,
                        path.display()
                    )));
                    run
                }
            };
            runs.push(run);
        }
        pytorch.push(runs);
    }

    // 4. The report.
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
    let report = request.reports.join("parity.md");
    write_atomic(&report, crate::render(&conditions, &archs).as_bytes())?;
    Ok(ParityOutcome { report, archs })
}

/// Runs our side through the replicate workflow, in this process: the reduced experiment,
/// CPU, one job of `threads` threads.
fn run_ours(
    request: &ParityRequest,
    dir: &Path,
    reporter: &mut dyn Reporter,
) -> Result<(), ParityError> {
    // The replicate's own report (conv2 against conv4) goes beside the runs; the README
    // named there does not exist, so no README is touched.
    let reports = dir.join("replicate");
    let replicate = Request {
        executor: experiment::replicate::Executor::Local {
            device: tch::Device::Cpu,
        },
        experiments: vec![LoadedExperiment {
            path: request.config.clone(),
            experiment: request.experiment.clone(),
        }],
        overrides: request.overrides.clone(),
        sets: request.sets.clone(),
        store: request.store.clone(),
        device_arg: "cpu".into(),
        jobs: Jobs::Count(1),
        threads: Some(request.threads),
        max_trial_time: None,
        halfwidth: None,
        alpha: statistics::ALPHA,
        dry_run: false,
        data: DataOptions {
            dir: Some(request.data_dir.clone()),
            verify: true,
        },
        readme: reports.join("README.md"),
        reports,
        program: request.program.clone(),
    };
    let outcome = replicate::run(&replicate, reporter)?;
    if !outcome.is_success() {
        return Err(ParityError::Incomplete(format!(
            "our side did not record every trial ({outcome:?}; its output is above); rerunning resumes it"
        )));
    }
    Ok(())
}

/// The cached run at `path` when it is the run of `settings` under `key` with `seed`; a
/// file that is unreadable or holds another run is reported and retrained.
fn cached(
    path: &Path,
    settings: &ReferenceSettings,
    key: &str,
    seed: u64,
    note: &(dyn Fn(Note) + Sync),
) -> Option<ReferenceRun> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            note(Note::Warning(format!(
                "{}: {e}; training it again",
                path.display()
            )));
            return None;
        }
    };
    let checked = serde_json::from_str::<ReferenceRun>(&text)
        .map_err(|e| e.to_string())
        .and_then(|run| run.check(settings, key, seed).map(|()| run));
    match checked {
        Ok(run) => Some(run),
        Err(why) => {
            note(Note::Warning(format!(
                "{}: not a usable cached run ({why}); training it again",
                path.display()
            )));
            None
        }
    }
}

/// How to run the reference.
struct Reference<'a> {
    request: &'a ParityRequest,
    script: &'a Path,
    info: &'a PythonInfo,
    script_sha256: &'a str,
}

impl Reference<'_> {
    /// Trains `settings` with `seed` in one Python process; its stderr is passed on
    /// (prefixed), its stdout parsed.
    fn train(
        &self,
        settings: &ReferenceSettings,
        key: &str,
        seed: u64,
        note: &(dyn Fn(Note) + Sync),
    ) -> Result<ReferenceRun, ParityError> {
        let python = &self.request.python;
        let mut line: Vec<String> = vec![self.script.display().to_string()];
        line.extend(settings.args());
        line.extend([
            "--seed".into(),
            seed.to_string(),
            "--threads".into(),
            self.request.threads.to_string(),
            "--data-dir".into(),
            self.request.data_dir.display().to_string(),
            "--mode".into(),
            "train".into(),
            "--no-latency".into(),
            "--num-workers".into(),
            "0".into(),
        ]);
        let shown = shell_line(python, &line);
        let failed = |message: String| ParityError::Reference {
            command: shown.clone(),
            message,
        };
        note(Note::Info(format!(
            "pytorch {} seed {seed}: {shown}",
            settings.arch
        )));
        let started_at = store::provenance::now_rfc3339();
        let clock = Instant::now();
        let mut child = Command::new(python)
            .args(&line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot start it ({e}); {SETUP_HINT}")))?;
        let stderr = child.stderr.take().expect("piped");
        let prefix = format!("pytorch {} seed {seed}: ", settings.arch);
        let (read, status, err_tail) = std::thread::scope(|scope| {
            let passing = scope.spawn(|| {
                let mut last: VecDeque<String> = VecDeque::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    note(Note::Passed(format!("{prefix}{line}")));
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
                .read_to_string(&mut stdout)
                .map(|_| stdout);
            let status = child.wait();
            (read, status, passing.join().unwrap_or_default())
        });
        let status = status.map_err(|e| failed(format!("waiting for it: {e}")))?;
        let stdout = read.map_err(|e| failed(format!("reading its output: {e}")))?;
        if !status.success() {
            return Err(failed(format!("it failed ({status}):\n{err_tail}")));
        }
        let output = crate::parse_reference_output(&stdout, seed, settings.epochs)
            .map_err(|e| failed(format!("{e}\n{err_tail}")))?;
        if output.start.precision.as_deref().unwrap_or("fp32") != settings.precision.name() {
            return Err(failed(format!(
                "asked for precision {}, the run reports {}: this reference cannot run it",
                settings.precision,
                output.start.precision.as_deref().unwrap_or("none (fp32)")
            )));
        }
        if output.start.torch != self.info.torch {
            return Err(failed(format!(
                "the run reports torch {}, the version probe said {} (the cache key uses the probe's)",
                output.start.torch, self.info.torch
            )));
        }
        Ok(ReferenceRun {
            format: REFERENCE_FORMAT,
            key: key.to_owned(),
            seed,
            settings: settings.clone(),
            torch: output.start.torch,
            torchvision: output.start.torchvision,
            script_sha256: self.script_sha256.to_owned(),
            dataset_digest: self.request.dataset_digest.clone(),
            threads: output.start.threads,
            device: output.start.device,
            device_name: experiment::provenance::device_name(tch::Device::Cpu),
            host: store::provenance::host_name(),
            parameters: output.start.params,
            command: std::iter::once(python.display().to_string())
                .chain(line)
                .collect(),
            started_at,
            finished_at: store::provenance::now_rfc3339(),
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
    fn an_absent_python_is_refused_with_the_set_up_hint() {
        let err = python_info(Path::new("/nonexistent/bin/python"))
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/bin/python"), "{text}");
        assert!(text.contains("scripts/setup.sh"), "{text}");
    }

    /// A bf16 parity against a Python whose torch cannot autocast to bf16 is refused
    /// before anything trains; fp32 is not affected, and the venv's real torch can.
    #[test]
    fn bf16_is_refused_against_a_reference_that_cannot_run_it() {
        let mut config = trainer::TrialConfig::default();
        let fp32 = ReferenceSettings::from_trial("conv4", &config).unwrap();
        config.precision = models::Precision::Bf16;
        let bf16 = ReferenceSettings::from_trial("conv4", &config).unwrap();
        assert!(bf16.args().windows(2).any(|w| w == ["--precision", "bf16"]));
        assert!(!fp32.args().iter().any(|a| a == "--precision"));
        let without = PythonInfo {
            torch: "1.9.0".into(),
            torchvision: "0.10.0".into(),
            autocast_bf16: false,
        };
        let err = check_precision("conv4", &bf16, &without)
            .unwrap_err()
            .to_string();
        assert!(err.contains("precision = bf16"), "{err}");
        assert!(err.contains("torch 1.9.0"), "{err}");
        check_precision("conv4", &fp32, &without).unwrap();
        // The venv `make test` installs: torch 2.11 runs bf16 convolutions under autocast.
        let real = python_info(&default_python()).expect("the venv of scripts/setup.sh");
        assert!(real.autocast_bf16, "torch {} in the venv", real.torch);
        check_precision("conv4", &bf16, &real).unwrap();
    }
}
