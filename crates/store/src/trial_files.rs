//! The copies a trial folder keeps beside its record: `config.ron` (the exact resolved
//! configuration, the trial's "exact arguments") and `trial.json` (who started it: id,
//! experiment, variant, seed, dataset). The trial runner writes both with the texts made
//! here; for a finished trial they repeat what `summary.json` holds.
//!
//! Rule for a bad copy in a finished trial (missing, unreadable, not the format, or
//! naming another configuration or trial than the record): **rewritten from the record,
//! with a warning** naming the file and what was wrong; the bad copy is kept beside it as
//! `<name>.bad`, so nothing is lost. The record itself is never changed by this: its
//! numbers and its resolved configuration are what reports use.

use crate::atomic::write_atomic;
use crate::record::TrialRecord;
use contract::TrialStart;
use contract::layout::{CONFIG, TRIAL_START};
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

/// The text of `trial.json`.
pub fn start_text(start: &TrialStart) -> String {
    format!(
        "{}\n",
        serde_json::to_string(start).expect("a trial start serialises")
    )
}

/// One copy that was bad and rewritten (or could not be).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The file.
    pub path: PathBuf,
    /// What was wrong with it.
    pub problem: String,
    /// Where the bad copy was kept (`None` when there was none: the file was missing), or
    /// why the rewrite failed.
    pub outcome: Result<Option<PathBuf>, String>,
}

impl std::fmt::Display for Repaired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; ", self.path.display(), self.problem)?;
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

/// Checks the finished trial `dir`'s `config.ron` and `trial.json` against its record and
/// rewrites each bad copy from it (see the module docs). Returns one entry per bad copy.
pub fn check_and_repair(dir: &Path, record: &TrialRecord) -> Vec<Repaired> {
    let mut repaired = Vec::new();
    let config_path = dir.join(CONFIG);
    if let Some(problem) = config_problem(&config_path, record) {
        let text = config_text(
            &record.id,
            &record.experiment,
            &record.variant,
            record.seed,
            &record.dataset_digest,
            &record.config,
        );
        repaired.push(Repaired {
            outcome: rewrite(&config_path, &text),
            path: config_path,
            problem,
        });
    }
    let start_path = dir.join(TRIAL_START);
    if let Some(problem) = start_problem(&start_path, record) {
        let start = TrialStart {
            id: record.id.clone(),
            experiment: record.experiment.clone(),
            variant: record.variant.clone(),
            seed: record.seed,
            dataset_digest: record.dataset_digest.clone(),
            started: crate::provenance::parse_rfc3339(&record.provenance.started_at).unwrap_or(0),
        };
        repaired.push(Repaired {
            outcome: rewrite(&start_path, &start_text(&start)),
            path: start_path,
            problem,
        });
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
