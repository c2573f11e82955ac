//! The copies a trial folder keeps beside its record: `config.ron` (the exact resolved
//! configuration, the trial's "exact arguments"), `trial.json` (who started it: id,
//! experiment, variant, seed, dataset) and `metrics.jsonl` (one line per epoch, the
//! numbers a user opens first). The trial runner writes them with the texts made here;
//! for a finished trial they repeat what `summary.json` holds.
//!
//! Rule for a bad copy in a finished trial (missing, unreadable, not the format, or
//! naming another configuration, trial or number than the record): **rewritten from the
//! record, with a warning** naming the file and what was wrong; the bad copy is kept
//! beside it as `<name>.bad`, so nothing is lost. The record itself is never changed by
//! this: its numbers and its resolved configuration are what reports use.
//!
//! `events.jsonl` and `train.log` are the trial's own account as it ran (every event, every
//! log line, with their times): the record does not hold them, so they cannot be rebuilt.
//! A missing one is named in a warning on every read (the store has lost it; the record's
//! numbers stand, and `harness reproduce ID --keep DIR` retrains the trial into a folder
//! with new ones); their contents are not checked.

use crate::atomic::write_atomic;
use crate::record::TrialRecord;
use contract::layout::{CONFIG, EVENTS, LOG, METRICS, TRIAL_START};
use contract::{EpochMetrics, TrialStart};
use std::path::{Path, PathBuf};
use trainer::TrialConfig;

/// The text of `config.ron`: a comment header naming the trial, then the resolved
/// configuration as RON.
pub fn config_text(
    id: &str,
    experiment: &str,
    variant: &str,
    seed: u64,
    dataset_digest: &str,
    config: &TrialConfig,
) -> String {
    let header = format!(
        "// Resolved configuration of trial {id}\n// experiment: {experiment}, variant: {variant}, seed: {seed}\n// dataset: {dataset_digest}\n"
    );
    let ron = ron::ser::to_string_pretty(config, ron::ser::PrettyConfig::default())
        .expect("a trial config serialises to RON");
    format!("{header}{ron}\n")
}

/// `config.ron`'s text as a finished trial's record gives it.
pub fn record_config_text(record: &TrialRecord) -> String {
    config_text(
        &record.id,
        &record.experiment,
        &record.variant,
        record.seed,
        &record.dataset_digest,
        &record.config,
    )
}

/// `trial.json`'s content as a finished trial's record gives it (started: the record's
/// start time).
pub fn record_start(record: &TrialRecord) -> TrialStart {
    TrialStart {
        id: record.id.clone(),
        experiment: record.experiment.clone(),
        variant: record.variant.clone(),
        seed: record.seed,
        dataset_digest: record.dataset_digest.clone(),
        started: crate::provenance::parse_rfc3339(&record.provenance.started_at).unwrap_or(0),
    }
}

/// The text of `trial.json`.
pub fn start_text(start: &TrialStart) -> String {
    format!(
        "{}\n",
        serde_json::to_string(start).expect("a trial start serialises")
    )
}

/// The text of `metrics.jsonl`: one JSON line per epoch.
pub fn metrics_text(epochs: &[EpochMetrics]) -> String {
    let mut text = String::new();
    for m in epochs {
        text.push_str(&serde_json::to_string(m).expect("metrics serialise"));
        text.push('\n');
    }
    text
}

/// One copy that was bad and rewritten (or could not be), or a file of the trial's own
/// account that is missing and cannot be rebuilt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The file.
    pub path: PathBuf,
    /// What was wrong with it.
    pub problem: String,
    /// Where the bad copy was kept (`None` when there was none: the file was missing), or
    /// why the rewrite failed.
    pub outcome: Result<Option<PathBuf>, String>,
    /// Whether the record can rebuild it (`events.jsonl` and `train.log` cannot).
    pub rebuildable: bool,
}

impl std::fmt::Display for Repaired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; ", self.path.display(), self.problem)?;
        if !self.rebuildable {
            return write!(
                f,
                "it is the trial's own account as it ran and cannot be rebuilt from its summary.json, whose numbers stand (`harness reproduce` with --keep retrains it with a new one)"
            );
        }
        match &self.outcome {
            Ok(Some(kept)) => write!(
                f,
                "rewritten from the trial's summary.json (the bad copy is kept as {})",
                kept.display()
            ),
            Ok(None) => write!(f, "rewritten from the trial's summary.json"),
            Err(e) => write!(
                f,
                "the trial's summary.json is used; rewriting the file failed: {e}"
            ),
        }
    }
}

/// The text at `path`, or what is wrong: missing or unreadable.
fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "is missing".to_string(),
        _ => format!("cannot be read ({e})"),
    })
}

/// What is wrong with the finished trial `dir`'s `config.ron`, if anything.
fn config_problem(path: &Path, record: &TrialRecord) -> Option<String> {
    let text = match read(path) {
        Err(problem) => return Some(problem),
        Ok(text) => text,
    };
    match ron::from_str::<TrialConfig>(&text) {
        Err(e) => Some(format!("is not a valid configuration ({e})")),
        Ok(config)
            if crate::id::canonical_json(&config) != crate::id::canonical_json(&record.config) =>
        {
            Some("holds another configuration than the trial's record".into())
        }
        Ok(_) => None,
    }
}

/// What is wrong with the finished trial `dir`'s `trial.json`, if anything.
fn start_problem(path: &Path, record: &TrialRecord) -> Option<String> {
    let text = match read(path) {
        Err(problem) => return Some(problem),
        Ok(text) => text,
    };
    match serde_json::from_str::<TrialStart>(&text) {
        Err(e) => Some(format!("is not a valid trial start ({e})")),
        Ok(start) => {
            let mut differ = Vec::new();
            if start.id != record.id {
                differ.push("id");
            }
            if start.experiment != record.experiment {
                differ.push("experiment");
            }
            if start.variant != record.variant {
                differ.push("variant");
            }
            if start.seed != record.seed {
                differ.push("seed");
            }
            if start.dataset_digest != record.dataset_digest {
                differ.push("dataset digest");
            }
            (!differ.is_empty()).then(|| {
                format!(
                    "names another trial than the record (it differs in: {})",
                    differ.join(", ")
                )
            })
        }
    }
}

/// What is wrong with the finished trial's `metrics.jsonl`, if anything: each line must be
/// one epoch's metrics, and together they must be the record's epochs, number for number.
fn metrics_problem(path: &Path, record: &TrialRecord) -> Option<String> {
    let text = match read(path) {
        Err(problem) => return Some(problem),
        Ok(text) => text,
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for (i, line) in lines.iter().enumerate() {
        if let Err(e) = serde_json::from_str::<EpochMetrics>(line) {
            return Some(format!("line {} is not an epoch's metrics ({e})", i + 1));
        }
    }
    if lines.len() != record.epochs.len() {
        return Some(format!(
            "has {} epoch(s), the record {}",
            lines.len(),
            record.epochs.len()
        ));
    }
    // Compared as JSON values, so that a diverged epoch's NaN equals itself.
    for (line, epoch) in lines.iter().zip(&record.epochs) {
        let file: serde_json::Value = serde_json::from_str(line).expect("parsed above");
        let recorded = serde_json::to_value(epoch).expect("metrics serialise");
        if file != recorded {
            let fields: Vec<String> = recorded
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| file.get(k.as_str()) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k} {} (record {v})",
                        file.get(k.as_str())
                            .map_or("absent".into(), ToString::to_string)
                    )
                })
                .collect();
            return Some(format!(
                "differs from the record at epoch {}: {}",
                epoch.epoch,
                fields.join(", ")
            ));
        }
    }
    None
}

/// Checks the finished trial `dir`'s `config.ron`, `trial.json` and `metrics.jsonl`
/// against its record and rewrites each bad copy from it, and names a missing
/// `events.jsonl` or `train.log` (see the module docs). Returns one entry per bad file.
pub fn check_and_repair(dir: &Path, record: &TrialRecord) -> Vec<Repaired> {
    let mut repaired = Vec::new();
    let config_path = dir.join(CONFIG);
    if let Some(problem) = config_problem(&config_path, record) {
        repaired.push(Repaired {
            outcome: rewrite(&config_path, &record_config_text(record)),
            path: config_path,
            problem,
            rebuildable: true,
        });
    }
    let start_path = dir.join(TRIAL_START);
    if let Some(problem) = start_problem(&start_path, record) {
        repaired.push(Repaired {
            outcome: rewrite(&start_path, &start_text(&record_start(record))),
            path: start_path,
            problem,
            rebuildable: true,
        });
    }
    let metrics_path = dir.join(METRICS);
    if let Some(problem) = metrics_problem(&metrics_path, record) {
        repaired.push(Repaired {
            outcome: rewrite(&metrics_path, &metrics_text(&record.epochs)),
            path: metrics_path,
            problem,
            rebuildable: true,
        });
    }
    for name in [EVENTS, LOG] {
        let path = dir.join(name);
        if std::fs::symlink_metadata(&path).is_err() {
            repaired.push(Repaired {
                path,
                problem: "is missing".into(),
                outcome: Err("cannot be rebuilt".into()),
                rebuildable: false,
            });
        }
    }
    repaired
}

/// Keeps the copy at `path` (if any) as `<name>.bad` and writes `text` there atomically.
fn rewrite(path: &Path, text: &str) -> Result<Option<PathBuf>, String> {
    let mut kept = None;
    if std::fs::symlink_metadata(path).is_ok() {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".bad");
        let bad = path.with_file_name(name);
        std::fs::rename(path, &bad).map_err(|e| format!("keeping the bad copy: {e}"))?;
        kept = Some(bad);
    }
    write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())?;
    Ok(kept)
}
