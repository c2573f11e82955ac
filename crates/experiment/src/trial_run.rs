//! Runs one trial into a folder and leaves it complete and self-describing:
//!
//! | file | what |
//! |---|---|
//! | `trial.json` | who started it: experiment, variant, seed, dataset ([`contract::TrialStart`]), written first |
//! | `config.ron` | the resolved configuration, with the seed and id in its header |
//! | `events.jsonl` | every trainer event, one JSON object a line, flushed as it happens (the dashboard follows it); appended to by a resumed attempt |
//! | `train.log` | what the terminal showed, in plain lines; appended to by a resumed attempt |
//! | `metrics.jsonl` | one line per epoch, written once the epoch's checkpoint is durable |
//! | `ckpt/epoch-N/` | `model.ot`, `optim.ot` and `manifest.json` (run id, epoch, best so far, metrics so far, wall time so far, SHA-256 of each file) of the newest two epochs |
//! | `ckpt/last.*.ot`, `ckpt/best.*.ot` | model and optimiser state at the last and the best epoch |
//! | `losses.png`, `accuracies.png` | training/test loss and test accuracy against the epoch |
//! | `summary.json` | the [`TrialRecord`], written last: its presence marks the trial as done |
//!
//! **Resuming.** The folder handed to [`run_trial`] may hold an earlier, interrupted
//! attempt of the same trial (killed, powered off, stopped). If a checkpoint in `ckpt/`
//! belongs to this trial id and passes its digests, the trial continues from the newest
//! such one: `metrics.jsonl` is rewritten from its manifest (epochs up to the checkpoint,
//! never a torn tail), `events.jsonl` and `train.log` are appended to and say where it
//! resumed from and which newer checkpoints were unusable and why. Otherwise the folder is
//! emptied and the trial starts from scratch, saying why. On the CPU a resumed trial's
//! numbers are bit-identical to an uninterrupted run's (see the trainer's `streams`).
//!
//! **Failed writes.** The first write that fails (events, log, metrics, checkpoint,
//! config, plots, record; a full disk) stops the trial at once, and [`run_trial`] returns
//! an error naming the file and carrying the OS error.

use crate::provenance;
use contract::Event;
use contract::Provenance;
use contract::Resumed;
use contract::Status;
use contract::TrialResult;
use contract::layout::SUMMARY;
use contract::record::RECORD_FORMAT;
use data::FashionMnist;
use reporting::plot::{Chart, Series, write_png};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use store::id;
use store::record::TrialRecord;
use store::{StoreError, write_atomic};
use tch::Device;
use trainer::checkpoint::{self, Checkpoint};
use trainer::{RunOptions, Stop, TrainError};

use spec::plan::TrialSpec;

/// Errors while running a trial into its folder.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Training failed or stopped at a failed write (libtorch error, a checkpoint, an event,
    /// log or metrics line that could not be written: the path and the OS error are in it).
    #[error("trial {id}: {source}")]
    Train {
        /// Short id.
        id: String,
        /// The cause.
        source: trainer::TrainError,
    },
    /// Writing the trial folder failed (a full disk shows here).
    #[error("trial {id}: {source}")]
    Store {
        /// Short id.
        id: String,
        /// The cause.
        source: StoreError,
    },
    /// Drawing a plot failed.
    #[error("trial {id}: {source}")]
    Plot {
        /// Short id.
        id: String,
        /// The cause.
        source: reporting::plot::PlotError,
    },
}

/// How a trial run ended.
#[derive(Debug)]
pub enum TrialEnd {
    /// Finished or diverged: the folder is complete, with its record.
    Recorded(Box<TrialRecord>),
    /// Stopped on request: the folder is incomplete and must not be published.
    Stopped,
}

/// Where the trial's checkpoints live, inside its folder.
use contract::layout::CHECKPOINTS;
use contract::layout::{ACCURACY_PLOT, CONFIG, EVENTS, LOG, LOSS_PLOT, METRICS, TRIAL_START};

/// One appendable file of the trial folder.
struct Output {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Output {
    /// Opens `dir/name`: truncated for a fresh attempt; for a resumed one appended to,
    /// after a newline if a killed attempt left a torn last line.
    fn open(dir: &Path, name: &str, append: bool) -> Result<Self, TrainError> {
        let path = dir.join(name);
        let err = |source| TrainError::Output {
            path: path.clone(),
            source,
        };
        let mut file = if append {
            OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(err)?
        } else {
            File::create(&path).map_err(err)?
        };
        if append {
            let len = file.metadata().map_err(err)?.len();
            if len > 0 {
                let mut last = [0u8; 1];
                file.seek(SeekFrom::Start(len - 1))
                    .and_then(|_| file.read_exact(&mut last))
                    .map_err(err)?;
                if last[0] != b'\n' {
                    file.write_all(b"\n").map_err(err)?;
                }
            }
        }
        Ok(Output {
            path,
            file: BufWriter::new(file),
        })
    }

    /// Writes one line and flushes it to the OS.
    fn line(&mut self, text: &str) -> Result<(), TrainError> {
        writeln!(self.file, "{text}")
            .and_then(|()| self.file.flush())
            .map_err(|source| TrainError::Output {
                path: self.path.clone(),
                source,
            })
    }

    fn sync(&mut self) -> Result<(), TrainError> {
        self.file
            .flush()
            .and_then(|()| self.file.get_ref().sync_all())
            .map_err(|source| TrainError::Output {
                path: self.path.clone(),
                source,
            })
    }
}

/// Writes the trial's files as events arrive; the first failed write is returned, and
/// stops the trial.
struct FolderWriter {
    events: Output,
    log: Output,
    metrics: Output,
}

impl FolderWriter {
    /// Fresh files, or (`append`, for a resumed attempt) the previous attempt's files
    /// appended to (`metrics.jsonl` must have been rewritten from the checkpoint first).
    fn open(dir: &Path, append: bool) -> Result<Self, TrainError> {
        Ok(FolderWriter {
            events: Output::open(dir, EVENTS, append)?,
            log: Output::open(dir, LOG, append)?,
            metrics: Output::open(dir, METRICS, append)?,
        })
    }

    fn log_line(&mut self, line: &str) -> Result<(), TrainError> {
        self.log.line(line)
    }

    fn on_event(&mut self, event: &Event) -> Result<(), TrainError> {
        self.events
            .line(&serde_json::to_string(event).expect("events serialise"))?;
        if let Event::Epoch(m) = event {
            self.metrics
                .line(&serde_json::to_string(m).expect("metrics serialise"))?;
        }
        if let Some(line) = describe(event) {
            self.log_line(&line)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), TrainError> {
        self.events.sync()?;
        self.log.sync()?;
        self.metrics.sync()
    }
}

/// A plain line for the log and for terminals that are not interactive; `None` for
/// events too frequent to log.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Started {
            parameters,
            train_images,
            test_images,
            batches,
            epochs,
            device,
            threads,
        } => format!(
            "start: {parameters} parameters, {train_images} train / {test_images} test images, {batches} batches x {epochs} epochs on {device} ({threads} threads)"
        ),
        Event::EpochStarted { .. } | Event::Batch { .. } | Event::Evaluating { .. } => return None,
        Event::Epoch(m) => format!(
            "epoch {:>3}: lr {:.2e}  train loss {:.4} (sum {:.2})  test loss {:.4}  test acc {:.2}%  {:.1}s train + {:.1}s eval  {:.0} img/s",
            m.epoch,
            m.lr,
            m.train_loss_mean,
            m.train_loss_sum,
            m.test_loss,
            m.test_accuracy,
            m.train_time_s,
            m.eval_time_s,
            m.images_per_s
        ),
        Event::Latency(l) => format!(
            "latency: batch 1 median {:.3} ms (p95 {:.3}), batch {} median {:.3} ms (p95 {:.3}), {} runs each",
            l.batch1.median_ms,
            l.batch1.p95_ms,
            l.eval.batch,
            l.eval.median_ms,
            l.eval.p95_ms,
            l.eval.runs
        ),
        Event::Resumed(r) => {
            let mut lines = r.rejected.clone();
            lines.push(r.message.clone());
            lines.join("\n")
        }
        Event::Finished {
            status,
            wall_time_s,
        } => match status {
            Status::Finished => format!("finished in {wall_time_s:.1}s"),
            Status::Diverged { epoch, batch } => {
                format!("DIVERGED: non-finite training loss at epoch {epoch}, batch {batch}")
            }
            Status::Stopped => "stopped on request (incomplete, not recorded)".into(),
        },
    })
}

/// What this attempt starts from.
struct Attempt {
    /// The checkpoint to resume from.
    resume: Option<Checkpoint>,
    /// What to say about the previous attempt (`None`: there was none).
    note: Option<Resumed>,
}

/// Looks at what a previous attempt left in `dir`: the checkpoint to resume from (if any
/// belongs to trial `id` and is intact) and what to say about it; `None` to say when `dir`
/// is empty. When nothing can be resumed, `dir` is emptied.
fn prepare_attempt(
    dir: &Path,
    id: &str,
    total_epochs: u32,
) -> Result<Attempt, (PathBuf, std::io::Error)> {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| (dir.to_path_buf(), e))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| (dir.to_path_buf(), e))?;
    if entries.is_empty() {
        return Ok(Attempt {
            resume: None,
            note: None,
        });
    }
    let search = checkpoint::find_latest(&dir.join(CHECKPOINTS), id);
    let rejected = rejections(dir, &search);
    match search.found {
        Some(found) => Ok(resume_from(dir, found, rejected, total_epochs)),
        None => start_afresh(entries, rejected),
    }
}

/// `path` relative to the trial folder `dir`, for messages.
fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

/// One line per checkpoint of `search` that could not be used: why, and what comes next.
fn rejections(dir: &Path, search: &checkpoint::Search) -> Vec<String> {
    search
        .rejected
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let next = search
                .rejected
                .get(i + 1)
                .map(|n| &n.dir)
                .or(search.found.as_ref().map(|f| &f.dir));
            let then = match next {
                Some(next) => format!("falling back to {}", relative(dir, next)),
                None => "no older checkpoint".to_string(),
            };
            format!(
                "checkpoint {} unreadable ({}): {then}",
                relative(dir, &r.dir),
                r.reason
            )
        })
        .collect()
}

/// Nothing to resume: removes `entries` (the trial folder's content) and says why.
fn start_afresh(
    entries: Vec<PathBuf>,
    rejected: Vec<String>,
) -> Result<Attempt, (PathBuf, std::io::Error)> {
    for path in entries {
        let removed = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| (path.clone(), e))?;
    }
    let why = if rejected.is_empty() {
        "the previous attempt left no checkpoint"
    } else {
        "no checkpoint of this trial is intact"
    };
    let message =
        format!("no usable checkpoint: starting from scratch ({why}; the folder was emptied)");
    Ok(Attempt {
        resume: None,
        note: Some(Resumed {
            epochs_done: 0,
            checkpoint: None,
            rejected,
            message,
        }),
    })
}

/// Resumes from the checkpoint `found` in `dir`, saying where and how far it had got.
fn resume_from(dir: &Path, found: Checkpoint, rejected: Vec<String>, total_epochs: u32) -> Attempt {
    let m = &found.manifest;
    let best = match (m.best_accuracy, m.best_epoch) {
        (Some(acc), Some(epoch)) => format!(", best {acc:.2}% at epoch {epoch}"),
        _ => String::new(),
    };
    let at = if m.epoch < total_epochs {
        format!("resumed at epoch {}", m.epoch + 1)
    } else {
        "resumed after the last epoch".to_string()
    };
    let message = format!(
        "{at} from checkpoint {} ({} of {total_epochs} epochs done{best}, {:.1}s so far)",
        relative(dir, &found.dir),
        m.epoch,
        m.wall_time_s
    );
    let resumed = Resumed {
        epochs_done: m.epoch,
        checkpoint: Some(relative(dir, &found.dir)),
        rejected,
        message,
    };
    Attempt {
        resume: Some(found),
        note: Some(resumed),
    }
}

/// Turns the causes of a failure of one trial into [`RunError`]s naming it.
struct Blame {
    /// The trial's short id.
    id: String,
}

impl Blame {
    /// A failed write to the trial folder.
    fn store(&self, source: StoreError) -> RunError {
        RunError::Store {
            id: self.id.clone(),
            source,
        }
    }

    /// A failed file operation on `path`.
    fn io(&self, path: &Path, source: std::io::Error) -> RunError {
        self.store(StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A failed training or a failed write while training.
    fn train(&self, source: TrainError) -> RunError {
        RunError::Train {
            id: self.id.clone(),
            source,
        }
    }

    /// A plot that could not be drawn.
    fn plot(&self, source: reporting::plot::PlotError) -> RunError {
        RunError::Plot {
            id: self.id.clone(),
            source,
        }
    }
}

/// Runs `spec` in `dir`, writing every file of the trial folder; `on_event` sees each
/// event after it is persisted.
///
/// `dir` may be empty, or hold an earlier attempt of the same trial: the trial then
/// continues from its newest intact checkpoint, or (none, damaged, another trial's
/// leftovers) `dir` is emptied and the trial starts from scratch; either way a
/// [`Event::Resumed`] says which and why. The first failed write stops the trial and is
/// returned, naming the file.
pub fn run_trial(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    device: Device,
    dir: &Path,
    stop: &Stop,
    on_event: &mut dyn FnMut(&Event),
) -> Result<TrialEnd, RunError> {
    let blame = Blame {
        id: spec.short_id().to_string(),
    };
    let started_at = store::provenance::now_rfc3339();
    let attempt = prepare_folder(spec, dataset, dir, &blame)?;
    let result = train_into(spec, dataset, device, dir, stop, attempt, on_event)
        .map_err(|e| blame.train(e))?;
    if result.status == Status::Stopped {
        return Ok(TrialEnd::Stopped);
    }
    write_plots(dir, &result).map_err(|e| blame.plot(e))?;
    let record = trial_record(spec, dataset, device, &result, started_at);
    let json = serde_json::to_string_pretty(&record).expect("records serialise");
    write_atomic(&dir.join(SUMMARY), json.as_bytes()).map_err(|e| blame.store(e))?;
    Ok(TrialEnd::Recorded(Box::new(record)))
}

/// Creates `dir`, decides this attempt ([`prepare_attempt`]), and writes `trial.json`,
/// `config.ron` and, for a resumed attempt, `metrics.jsonl` up to its checkpoint.
fn prepare_folder(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    dir: &Path,
    blame: &Blame,
) -> Result<Attempt, RunError> {
    let config = spec.variant.trial.config();
    std::fs::create_dir_all(dir).map_err(|e| blame.io(dir, e))?;
    let attempt =
        prepare_attempt(dir, &spec.id, config.epochs).map_err(|(path, e)| blame.io(&path, e))?;
    let start = contract::TrialStart {
        id: spec.id.clone(),
        experiment: spec.experiment.clone(),
        variant: spec.variant.name.clone(),
        seed: spec.seed,
        dataset_digest: dataset.digest.clone(),
        started: store::provenance::unix_seconds(),
    };
    write_atomic(
        &dir.join(TRIAL_START),
        store::trial_files::start_text(&start).as_bytes(),
    )
    .map_err(|e| blame.store(e))?;
    let config_text = store::trial_files::config_text(
        &spec.id,
        &spec.experiment,
        &spec.variant.name,
        spec.seed,
        &dataset.digest,
        config,
    );
    write_atomic(&dir.join(CONFIG), config_text.as_bytes()).map_err(|e| blame.store(e))?;
    if let Some(from) = &attempt.resume {
        // The epochs up to the checkpoint, from its manifest: never a torn tail.
        let text = store::trial_files::metrics_text(&from.manifest.epochs);
        write_atomic(&dir.join(METRICS), text.as_bytes()).map_err(|e| blame.store(e))?;
    }
    Ok(attempt)
}

/// Trains `spec` as `attempt` says, every event written to the folder's files before
/// `on_event` sees it; the files are synced at the end, after an error too.
fn train_into(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    device: Device,
    dir: &Path,
    stop: &Stop,
    attempt: Attempt,
    on_event: &mut dyn FnMut(&Event),
) -> Result<TrialResult, TrainError> {
    let Attempt { resume, note } = attempt;
    let mut writer = FolderWriter::open(dir, resume.is_some())?;
    writer.log_line(&format!(
        "trial {} ({} / {} / seed {}) on {}",
        spec.short_id(),
        spec.experiment,
        spec.variant.name,
        spec.seed,
        trainer::device_label(device)
    ))?;
    if let Some(resumed) = note {
        let event = Event::Resumed(resumed);
        writer.on_event(&event)?;
        on_event(&event);
    }
    let mut options = RunOptions::new(spec.seed, device);
    options.checkpoint_dir = Some(dir.join(CHECKPOINTS));
    options.run_id = spec.id.clone();
    options.resume = resume;
    let result = trainer::try_train(
        &spec.variant.trial,
        dataset,
        &options,
        &mut |event| {
            writer.on_event(event)?;
            on_event(event);
            Ok(())
        },
        stop,
    );
    match result {
        Ok(result) => {
            writer.finish()?;
            Ok(result)
        }
        Err(source) => {
            let _ = writer.log_line(&format!("error: {source}"));
            let _ = writer.finish();
            Err(source)
        }
    }
}

/// The record of `spec`'s finished (or diverged) run `result`, with its provenance.
fn trial_record(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    device: Device,
    result: &TrialResult,
    started_at: String,
) -> TrialRecord {
    let config = spec.variant.trial.config();
    TrialRecord {
        format: RECORD_FORMAT,
        id: spec.id.clone(),
        config_digest: id::config_digest(config),
        experiment: spec.experiment.clone(),
        variant: spec.variant.name.clone(),
        seed: spec.seed,
        dataset_digest: dataset.digest.clone(),
        config: config.clone(),
        status: result.status.clone(),
        parameters: result.parameters,
        study_parameters: models::study_parameter_count(&config.model).map(str::to_string),
        final_accuracy: result.last().map(|m| m.test_accuracy),
        best_accuracy: result.best().map(|m| m.test_accuracy),
        best_epoch: result.best().map(|m| m.epoch),
        train_loss_sum: result.last().map(|m| m.train_loss_sum),
        latency: result.latency.clone(),
        epochs: result.epochs.clone(),
        wall_time_s: result.wall_time_s,
        provenance: provenance_now(device, started_at),
    }
}

/// What ran the trial on `device` (started at `started_at`) and when it finished: now.
fn provenance_now(device: Device, started_at: String) -> Provenance {
    Provenance {
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: store::provenance::GIT_COMMIT.to_string(),
        git_dirty: store::provenance::GIT_DIRTY,
        tch_version: store::provenance::TCH_VERSION.to_string(),
        libtorch_version: store::provenance::LIBTORCH_VERSION.to_string(),
        cuda: provenance::cuda_description(),
        device: trainer::device_label(device),
        device_name: provenance::device_name(device),
        threads: tch::get_num_threads(),
        host: store::provenance::host_name(),
        started_at,
        finished_at: store::provenance::now_rfc3339(),
    }
}

/// `losses.png` (train and test loss) and `accuracies.png` (test accuracy) per epoch.
fn write_plots(dir: &Path, result: &TrialResult) -> Result<(), reporting::plot::PlotError> {
    let points = |f: fn(&contract::EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        result
            .epochs
            .iter()
            .map(|m| (f64::from(m.epoch), f(m)))
            .collect()
    };
    let series = |label: &str, points: Vec<(f64, f64)>| Series {
        label: label.to_string(),
        points,
        band: None,
    };
    let losses = [
        series("train loss (mean per batch)", points(|m| m.train_loss_mean)),
        series("test loss", points(|m| m.test_loss)),
    ];
    write_png(
        &dir.join(LOSS_PLOT),
        &Chart {
            title: "Loss",
            x_label: "epoch",
            y_label: "cross-entropy",
            series: &losses,
        },
        800,
        500,
    )?;
    let accuracy = [series("test accuracy", points(|m| m.test_accuracy))];
    write_png(
        &dir.join(ACCURACY_PLOT),
        &Chart {
            title: "Test accuracy",
            x_label: "epoch",
            y_label: "accuracy (%)",
            series: &accuracy,
        },
        800,
        500,
    )
}
