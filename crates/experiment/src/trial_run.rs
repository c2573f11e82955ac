//! Runs one trial into a folder and leaves it complete and self-describing:
//!
//! | file | what |
//! |---|---|
//! | `config.ron` | the resolved configuration, with the seed and id in its header |
//! | `events.jsonl` | every trainer event, one JSON object a line, flushed as it happens (the dashboard follows it) |
//! | `train.log` | what the terminal showed, in plain lines |
//! | `metrics.jsonl` | one line per epoch |
//! | `ckpt/` | model and optimiser state at the last and the best epoch |
//! | `losses.png`, `accuracies.png` | training/test loss and test accuracy against the epoch |
//! | `summary.json` | the [`TrialRecord`], written last: its presence marks the trial as done |

use crate::config::{Experiment, Variant};
use crate::id;
use crate::plot::{Chart, Series, write_png};
use crate::provenance::{self, Provenance};
use crate::record::{RECORD_FORMAT, TrialRecord};
use crate::store::{SUMMARY, StoreError, write_atomic};
use data::FashionMnist;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use tch::Device;
use trainer::{Event, RunOptions, Status, Stop, TrialResult};

/// One planned trial: a variant of an experiment and a seed.
#[derive(Clone, Debug)]
pub struct TrialSpec {
    /// Experiment name.
    pub experiment: String,
    /// The variant (with its validated configuration).
    pub variant: Variant,
    /// Seed.
    pub seed: u64,
    /// Trial id.
    pub id: String,
}

impl TrialSpec {
    /// The spec of `variant` at `seed` on the dataset with `dataset_digest`.
    pub fn new(
        experiment: &Experiment,
        variant: &Variant,
        seed: u64,
        dataset_digest: &str,
    ) -> Self {
        TrialSpec {
            experiment: experiment.name.clone(),
            id: id::trial_id(variant.trial.config(), seed, dataset_digest),
            variant: variant.clone(),
            seed,
        }
    }

    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        id::short(&self.id)
    }
}

/// Errors while running a trial into its folder.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Training failed (libtorch error, checkpoint write).
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
    #[error("trial {id}: {message}")]
    Plot {
        /// Short id.
        id: String,
        /// The cause.
        message: String,
    },
}

/// How a trial run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Finished or diverged: the folder is complete, with its record.
    Recorded(Box<TrialRecord>),
    /// Stopped on request: the folder is incomplete and must not be published.
    Stopped,
}

/// Writes the trial's files as events arrive.
struct FolderWriter {
    events: BufWriter<File>,
    log: BufWriter<File>,
    metrics: BufWriter<File>,
    error: Option<std::io::Error>,
}

impl FolderWriter {
    fn create(dir: &Path) -> std::io::Result<Self> {
        let open = |name: &str| File::create(dir.join(name)).map(BufWriter::new);
        Ok(FolderWriter {
            events: open("events.jsonl")?,
            log: open("train.log")?,
            metrics: open("metrics.jsonl")?,
            error: None,
        })
    }

    fn log_line(&mut self, line: &str) {
        let result = writeln!(self.log, "{line}").and_then(|()| self.log.flush());
        self.keep(result);
    }

    fn keep(&mut self, result: std::io::Result<()>) {
        if let Err(e) = result
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    fn on_event(&mut self, event: &Event) {
        let json = serde_json::to_string(event).expect("events serialise");
        let result = writeln!(self.events, "{json}").and_then(|()| self.events.flush());
        self.keep(result);
        if let Event::Epoch(m) = event {
            let json = serde_json::to_string(m).expect("metrics serialise");
            let result = writeln!(self.metrics, "{json}").and_then(|()| self.metrics.flush());
            self.keep(result);
        }
        if let Some(line) = describe(event) {
            self.log_line(&line);
        }
    }

    fn finish(mut self) -> std::io::Result<()> {
        for w in [&mut self.events, &mut self.log, &mut self.metrics] {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
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

/// Runs `spec` in `dir` (which should be empty), writing every file of the trial folder;
/// `on_event` sees each event after it is persisted.
pub fn run_trial(
    spec: &TrialSpec,
    dataset: &FashionMnist,
    device: Device,
    dir: &Path,
    stop: &Stop,
    on_event: &mut dyn FnMut(&Event),
) -> Result<Outcome, RunError> {
    let short = spec.short_id().to_string();
    let store_err = |source: StoreError| RunError::Store {
        id: short.clone(),
        source,
    };
    let io_err = |path: &Path, source: std::io::Error| RunError::Store {
        id: short.clone(),
        source: StoreError::Io {
            path: path.to_path_buf(),
            source,
        },
    };
    let started_at = provenance::now_rfc3339();
    let config = spec.variant.trial.config();
    let header = format!(
        "// Resolved configuration of trial {}\n// experiment: {}, variant: {}, seed: {}\n// dataset: {}\n",
        spec.id, spec.experiment, spec.variant.name, spec.seed, dataset.digest
    );
    let ron = ron::ser::to_string_pretty(config, ron::ser::PrettyConfig::default())
        .expect("a trial config serialises to RON");
    write_atomic(
        &dir.join("config.ron"),
        format!("{header}{ron}\n").as_bytes(),
    )
    .map_err(store_err)?;

    let mut writer = FolderWriter::create(dir).map_err(|e| io_err(dir, e))?;
    writer.log_line(&format!(
        "trial {} ({} / {} / seed {}) on {}",
        spec.short_id(),
        spec.experiment,
        spec.variant.name,
        spec.seed,
        provenance::device_label(device)
    ));
    let mut options = RunOptions::new(spec.seed, device);
    options.checkpoint_dir = Some(dir.join("ckpt"));
    let result = trainer::train(
        &spec.variant.trial,
        dataset,
        &options,
        &mut |event| {
            writer.on_event(event);
            on_event(event);
        },
        stop,
    );
    let result = match result {
        Ok(result) => result,
        Err(source) => {
            writer.log_line(&format!("error: {source}"));
            let _ = writer.finish();
            return Err(RunError::Train { id: short, source });
        }
    };
    writer.finish().map_err(|e| io_err(dir, e))?;
    if result.status == Status::Stopped {
        return Ok(Outcome::Stopped);
    }
    write_plots(dir, &result).map_err(|message| RunError::Plot {
        id: short.clone(),
        message,
    })?;

    let (git_commit, git_dirty) = provenance::git_state(Path::new(env!("CARGO_MANIFEST_DIR")));
    let record = TrialRecord {
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
        provenance: Provenance {
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit,
            git_dirty,
            tch_version: "0.24.0".to_string(),
            libtorch_version: provenance::libtorch_version(),
            cuda: provenance::cuda_description(),
            device: provenance::device_label(device),
            device_name: provenance::device_name(device),
            threads: tch::get_num_threads(),
            host: provenance::host_name(),
            started_at,
            finished_at: provenance::now_rfc3339(),
        },
    };
    let json = serde_json::to_string_pretty(&record).expect("records serialise");
    write_atomic(&dir.join(SUMMARY), json.as_bytes()).map_err(store_err)?;
    Ok(Outcome::Recorded(Box::new(record)))
}

/// `losses.png` (train and test loss) and `accuracies.png` (test accuracy) per epoch.
fn write_plots(dir: &Path, result: &TrialResult) -> Result<(), String> {
    let points = |f: fn(&trainer::EpochMetrics) -> f64| -> Vec<(f64, f64)> {
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
        &dir.join("losses.png"),
        &Chart {
            title: "Loss",
            x_label: "epoch",
            y_label: "cross-entropy",
            series: &losses,
        },
        800,
        500,
    )
    .map_err(|e| e.to_string())?;
    let accuracy = [series("test accuracy", points(|m| m.test_accuracy))];
    write_png(
        &dir.join("accuracies.png"),
        &Chart {
            title: "Test accuracy",
            x_label: "epoch",
            y_label: "accuracy (%)",
            series: &accuracy,
        },
        800,
        500,
    )
    .map_err(|e| e.to_string())
}
