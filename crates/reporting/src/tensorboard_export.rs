//! TensorBoard runs of the store: one run per trial and one aggregate run per variant.
//!
//! Layout under the output folder (names sanitised for the file system, see [`file_name`]):
//!
//! ```text
//! <out>/<experiment>/<variant>/seed-<seed>-<first 8 hex of the trial id>/events.out.tfevents.*
//! <out>/<experiment>/<variant>/mean/events.out.tfevents.*
//! ```
//!
//! A trial's run has, per epoch (the step), the scalars of [`SCALARS`] exactly as its
//! `metrics.jsonl` holds them (as `f32`, TensorBoard's scalar type), and the HParams
//! plugin's session start (the resolved configuration flattened by dotted path, plus
//! `experiment` and `variant`; not the seed) with the group name `<experiment>/<variant>`,
//! so the HParams table shows the seeds of a variant as one row; the session ends with
//! status success, or failure for a diverged trial. Wall times are the trial's start time
//! plus its cumulative epoch times, so exporting the same records gives the same bytes (the
//! event file is named after the trial's start time and this machine's host name).
//!
//! The aggregate run `mean` holds, per epoch, the mean over the variant's trials under the
//! same tags as the trials (so it is drawn in the same charts as the seeds), the curves
//! `<tag>/mean_plus_sd` and `<tag>/mean_minus_sd` (sample standard deviation, n - 1; only
//! where two or more values exist) and `aggregate/trials`, how many trials each point
//! averages. It also holds a layout for TensorBoard's custom scalars dashboard: one margin
//! chart per scalar, drawing every variant's mean with its ± sd band ([`layout`]).
//! Only trials of the same settings are averaged: when a variant's trials ran under
//! different settings (another configuration or dataset digest), each settings group gets
//! its own aggregate run `mean-<first 8 hex of the config digest>`.
//!
//! Non-finite values: a trial's own run stores NaN and infinities as they are (TensorBoard
//! keeps them; a finite value beyond `f32`'s range would also become an infinity). Diverged trials are left out of the aggregate entirely (their last epochs
//! before divergence would otherwise bias the curves), as is any single non-finite value of
//! a finished trial; both are counted in [`Aggregate`] so the command can say so.
//!
//! A rerun into the same folder replaces the event files of the runs it writes (a run
//! folder with two event files would show every point twice), and removes those of runs
//! it no longer writes under the variants it exports (`seed-*` and `mean*` folders of an
//! earlier export, e.g. a trial since removed from the store); other files are left alone.

use contract::EpochMetrics;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::record::TrialRecord;
use tensorboard::EventWriter;
use tensorboard::proto::{
    Category, Chart, Layout, MarginChartContent, ProtoValue, SessionEndInfo, SessionStartInfo,
    SessionStatus, chart, hparam, margin_chart_content,
};

/// One exported per-epoch scalar.
pub struct Scalar {
    /// The TensorBoard tag (charts are grouped by the part before the first `/`).
    pub tag: &'static str,
    /// The `metrics.jsonl` field it comes from.
    pub field: &'static str,
    /// The chart's description.
    pub description: &'static str,
    /// Reads it from an epoch's metrics.
    pub get: fn(&EpochMetrics) -> f64,
}

/// The scalars of every trial run, per epoch.
pub const SCALARS: [Scalar; 5] = [
    Scalar {
        tag: "loss/train",
        field: "train_loss_mean",
        description: "Training loss: mean over the epoch's batches of the mean batch loss.",
        get: |e| e.train_loss_mean,
    },
    Scalar {
        tag: "loss/test",
        field: "test_loss",
        description: "Mean cross-entropy on the test set after the epoch.",
        get: |e| e.test_loss,
    },
    Scalar {
        tag: "accuracy/test",
        field: "test_accuracy",
        description: "Test accuracy after the epoch, percent.",
        get: |e| e.test_accuracy,
    },
    Scalar {
        tag: "optimizer/lr",
        field: "lr",
        description: "Learning rate used during the epoch.",
        get: |e| e.lr,
    },
    Scalar {
        tag: "speed/images_per_s",
        field: "images_per_s",
        description: "Training images per second (training pass only).",
        get: |e| e.images_per_s,
    },
];

/// Tag of the number of trials behind each point of an aggregate run.
pub const TRIALS_TAG: &str = "aggregate/trials";
/// Suffix of the mean-plus-sd curve of a tag in an aggregate run.
pub const PLUS_SD: &str = "/mean_plus_sd";
/// Suffix of the mean-minus-sd curve of a tag in an aggregate run.
pub const MINUS_SD: &str = "/mean_minus_sd";

/// Title of the custom scalars dashboard's section that [`layout`] defines.
pub const LAYOUT_CATEGORY: &str = "mean ± sd over seeds (mean runs)";

/// The custom scalars layout of the mean runs: per scalar, a margin chart of the mean with
/// the band from mean - sd to mean + sd (every mean run's, one colour per variant).
pub fn layout() -> Layout {
    Layout {
        version: 0,
        category: vec![Category {
            title: LAYOUT_CATEGORY.into(),
            chart: SCALARS
                .iter()
                .map(|s| Chart {
                    title: s.tag.into(),
                    content: Some(chart::Content::Margin(MarginChartContent {
                        series: vec![margin_chart_content::Series {
                            value: s.tag.into(),
                            lower: format!("{}{MINUS_SD}", s.tag),
                            upper: format!("{}{PLUS_SD}", s.tag),
                        }],
                    })),
                })
                .collect(),
            closed: false,
        }],
    }
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing an event file failed.
    #[error(transparent)]
    Event(#[from] tensorboard::Error),
    /// Listing or removing old event files failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// A trial's run.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialRun {
    /// Its folder.
    pub dir: PathBuf,
    /// The trial id.
    pub id: String,
    /// Whether it diverged.
    pub diverged: bool,
}

/// An aggregate run (or a settings group that could not have one).
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// `<experiment>/<variant>` (and the settings, when a variant has several).
    pub group: String,
    /// Its folder; `None` when no trial could be averaged (all diverged).
    pub dir: Option<PathBuf>,
    /// Trials averaged.
    pub trials: usize,
    /// Diverged trials left out: (seed, id, epoch and batch of the divergence).
    pub diverged: Vec<(u64, String, u32, usize)>,
    /// Non-finite values of finished trials left out of their points.
    pub non_finite: usize,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exported {
    /// One per trial.
    pub trials: Vec<TrialRun>,
    /// One per variant (per settings group).
    pub aggregates: Vec<Aggregate>,
    /// Event files of earlier exports replaced.
    pub replaced: usize,
    /// Run folders of earlier exports that this one no longer writes, emptied.
    pub stale: Vec<PathBuf>,
}

impl Exported {
    /// What the export wrote and left out, one line each.
    pub fn lines(&self, out: &Path) -> Vec<String> {
        let mut lines = vec![format!(
            "wrote {} trial run(s) and {} mean run(s) under {}{}",
            self.trials.len(),
            self.aggregates.iter().filter(|a| a.dir.is_some()).count(),
            out.display(),
            if self.replaced > 0 {
                format!(
                    " (replaced {} event file(s) of an earlier export)",
                    self.replaced
                )
            } else {
                String::new()
            }
        )];
        for a in &self.aggregates {
            match &a.dir {
                Some(dir) => lines.push(format!(
                    "  {}: mean of {} trial(s) -> {}",
                    a.group,
                    a.trials,
                    dir.display()
                )),
                None => lines.push(format!("  {}: no mean run (every trial diverged)", a.group)),
            }
            if !a.diverged.is_empty() {
                let which: Vec<String> = a
                    .diverged
                    .iter()
                    .map(|(seed, id, epoch, batch)| {
                        format!(
                            "seed {seed} ({}, epoch {epoch}, batch {batch})",
                            id.get(..8).unwrap_or(id)
                        )
                    })
                    .collect();
                lines.push(format!(
                    "    {} diverged trial(s) left out of the mean and sd: {}; their own runs keep the epochs they finished",
                    a.diverged.len(),
                    which.join(", ")
                ));
            }
            if a.non_finite > 0 {
                lines.push(format!(
                    "    {} non-finite value(s) of finished trials left out of the mean and sd of their epoch (kept, as NaN or inf, in the trials' runs)",
                    a.non_finite
                ));
            }
        }
        if !self.stale.is_empty() {
            lines.push(format!(
                "  emptied {} run folder(s) of an earlier export that no trial of this one fills:",
                self.stale.len()
            ));
            for dir in &self.stale {
                lines.push(format!("    {}", dir.display()));
            }
        }
        lines.push(format!("view with: tensorboard --logdir {}", out.display()));
        lines
    }
}

/// `name` as one folder name: ASCII letters, digits, `.`, `_`, `-` and `+` kept, anything
/// else `_`; empty, `.` and `..` become `_`.
pub fn file_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".into()
    } else {
        s
    }
}

/// Folder names for `names` (distinct): [`file_name`] of each, with `-2`, `-3`, ...
/// appended where two names would share a folder.
fn folder_names<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<&'a str, String> {
    let mut out = BTreeMap::new();
    let mut taken = std::collections::BTreeSet::new();
    for name in names {
        let base = file_name(name);
        let mut candidate = base.clone();
        let mut k = 1;
        while !taken.insert(candidate.clone()) {
            k += 1;
            candidate = format!("{base}-{k}");
        }
        out.insert(name, candidate);
    }
    out
}

/// The hyper-parameters of a trial: `experiment`, `variant` and its resolved configuration
/// flattened by dotted path (numbers, booleans and strings as such; lists as JSON text).
pub fn hparams(record: &TrialRecord) -> BTreeMap<String, ProtoValue> {
    let mut config = BTreeMap::new();
    crate::csv_export::leaves(
        "",
        &serde_json::to_value(&record.config).expect("configs serialise"),
        &mut config,
    );
    let mut out: BTreeMap<String, ProtoValue> = config
        .into_iter()
        .filter_map(|(key, value)| {
            let v = match value {
                Value::Null | Value::Object(_) => return None,
                Value::Bool(b) => hparam::boolean(b),
                Value::Number(n) => hparam::number(n.as_f64().unwrap_or(f64::NAN)),
                Value::String(s) => hparam::string(s),
                list @ Value::Array(_) => hparam::string(list.to_string()),
            };
            Some((key, v))
        })
        .collect();
    out.insert("experiment".into(), hparam::string(&record.experiment));
    out.insert("variant".into(), hparam::string(&record.variant));
    out
}

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SSZ` (as the provenance writes it).
pub fn parse_rfc3339(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64)
}

/// A trial's start (seconds since the epoch) and the wall time of each epoch's end.
fn times(record: &TrialRecord) -> (f64, Vec<f64>) {
    let start = parse_rfc3339(&record.provenance.started_at).unwrap_or(0.0);
    let mut t = start;
    let ends = record
        .epochs
        .iter()
        .map(|e| {
            t += e.train_time_s.max(0.0) + e.eval_time_s.max(0.0);
            t
        })
        .collect();
    (start, ends)
}

/// Empties the run folders under the variant folder `base` that an earlier export wrote
/// (`seed-*`, `mean`, `mean-*`) and this one does not (`written`): their event files are
/// removed, and the folder too when nothing else is left in it. Returns them.
fn clear_stale(base: &Path, written: &[PathBuf]) -> Result<Vec<PathBuf>, ExportError> {
    let mut stale = Vec::new();
    let entries = std::fs::read_dir(base).map_err(|source| ExportError::Io {
        path: base.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("seed-") || name == "mean" || name.starts_with("mean-");
        if ours && path.is_dir() && !written.contains(&path) && clear_events(&path)? > 0 {
            // Only when empty; anything else the user put there stays.
            let _ = std::fs::remove_dir(&path);
            stale.push(path);
        }
    }
    stale.sort();
    Ok(stale)
}

/// Removes the event files in `dir` (from an earlier export); returns how many.
fn clear_events(dir: &Path) -> Result<usize, ExportError> {
    let io = |source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io)?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
        {
            std::fs::remove_file(entry.path()).map_err(|source| ExportError::Io {
                path: entry.path(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes the run of one trial into `dir`: HParams session start, scalars, session end.
fn write_trial(
    record: &TrialRecord,
    dir: &Path,
    group: &str,
    host: &str,
) -> Result<(), ExportError> {
    let (start, ends) = times(record);
    let mut w = EventWriter::create(dir, host, start)?;
    w.session_start(
        SessionStartInfo {
            hparams: hparams(record),
            group_name: group.to_string(),
            start_time_secs: start,
            ..SessionStartInfo::default()
        },
        start,
    )?;
    for s in &SCALARS {
        w.describe(s.tag, s.description);
    }
    for (e, &t) in record.epochs.iter().zip(&ends) {
        for s in &SCALARS {
            w.scalar(s.tag, i64::from(e.epoch), t, (s.get)(e) as f32)?;
        }
    }
    let status = if record.diverged() {
        SessionStatus::Failure
    } else {
        SessionStatus::Success
    };
    let end = start + record.wall_time_s.max(0.0);
    w.session_end(
        SessionEndInfo {
            status: status as i32,
            end_time_secs: end,
        },
        end,
    )?;
    w.finish()?;
    Ok(())
}

/// Writes the aggregate run of `trials` (finished ones only) into `dir`.
fn write_aggregate(
    trials: &[&TrialRecord],
    dir: &Path,
    excluded: usize,
    host: &str,
) -> Result<usize, ExportError> {
    let timed: Vec<(f64, Vec<f64>)> = trials.iter().map(|r| times(r)).collect();
    let start = timed.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    // Wall time of a step: the mean of the trials' times at that epoch.
    let (wall, _) = statistics::band(
        &trials
            .iter()
            .zip(&timed)
            .map(|(r, (_, ends))| {
                r.epochs
                    .iter()
                    .map(|e| e.epoch)
                    .zip(ends.iter().copied())
                    .collect()
            })
            .collect::<Vec<_>>(),
    );
    let wall: BTreeMap<u32, f64> = wall.iter().map(|p| (p.step, p.mean)).collect();
    let mut w = EventWriter::create(dir, host, start)?;
    w.custom_scalars_layout(&layout(), start)?;
    let left_out = if excluded > 0 {
        format!(" {excluded} diverged trial(s) left out.")
    } else {
        String::new()
    };
    let mut non_finite = 0;
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for s in &SCALARS {
        let series: Vec<Vec<(u32, f64)>> = trials
            .iter()
            .map(|r| r.epochs.iter().map(|e| (e.epoch, (s.get)(e))).collect())
            .collect();
        let (points, skipped) = statistics::band(&series);
        non_finite += skipped;
        w.describe(
            s.tag,
            &format!(
                "Mean over the variant's trials. {}{left_out}",
                s.description
            ),
        );
        let plus = format!("{}{PLUS_SD}", s.tag);
        let minus = format!("{}{MINUS_SD}", s.tag);
        w.describe(
            &plus,
            &format!("Mean + sample sd over the variant's trials.{left_out}"),
        );
        w.describe(
            &minus,
            &format!("Mean - sample sd over the variant's trials.{left_out}"),
        );
        for p in points {
            let t = wall.get(&p.step).copied().unwrap_or(start);
            let step = i64::from(p.step);
            w.scalar(s.tag, step, t, p.mean as f32)?;
            if let Some(sd) = p.sd {
                w.scalar(&plus, step, t, (p.mean + sd) as f32)?;
                w.scalar(&minus, step, t, (p.mean - sd) as f32)?;
            }
        }
    }
    for r in trials {
        for e in &r.epochs {
            *counts.entry(e.epoch).or_default() += 1;
        }
    }
    w.describe(
        TRIALS_TAG,
        &format!("Trials averaged at each epoch.{left_out}"),
    );
    for (step, n) in counts {
        let t = wall.get(&step).copied().unwrap_or(start);
        w.scalar(TRIALS_TAG, i64::from(step), t, n as f32)?;
    }
    w.finish()?;
    Ok(non_finite)
}

/// Writes the runs of `records` under `out` (see the module's documentation); `host` goes
/// into the event files' names.
pub fn export(records: &[TrialRecord], out: &Path, host: &str) -> Result<Exported, ExportError> {
    // experiment -> variant -> (config digest, dataset digest) -> trials
    type Groups<'a> = BTreeMap<(String, String), Vec<&'a TrialRecord>>;
    let mut tree: BTreeMap<&str, BTreeMap<&str, Groups>> = BTreeMap::new();
    for r in records {
        tree.entry(&r.experiment)
            .or_default()
            .entry(&r.variant)
            .or_default()
            .entry((r.config_digest.clone(), r.dataset_digest.clone()))
            .or_default()
            .push(r);
    }
    let mut exported = Exported::default();
    let experiment_dirs = folder_names(tree.keys().copied());
    for (experiment, variants) in &tree {
        let variant_dirs = folder_names(variants.keys().copied());
        for (variant, groups) in variants {
            let base = out
                .join(&experiment_dirs[experiment])
                .join(&variant_dirs[variant]);
            let mut written = Vec::new();
            let several = groups.len() > 1;
            let short_cfgs: Vec<&str> = groups.keys().map(|(c, _)| short(c)).collect();
            let cfg_unique = {
                let mut s = short_cfgs.clone();
                s.dedup();
                s.len() == short_cfgs.len()
            };
            for ((config, dataset), trials) in groups {
                let (label, group) = if !several {
                    ("mean".to_string(), format!("{experiment}/{variant}"))
                } else if cfg_unique {
                    (
                        format!("mean-{}", short(config)),
                        format!("{experiment}/{variant} [{}]", short(config)),
                    )
                } else {
                    (
                        format!("mean-{}-{}", short(config), short(dataset)),
                        format!(
                            "{experiment}/{variant} [{}, data {}]",
                            short(config),
                            short(dataset)
                        ),
                    )
                };
                for r in trials {
                    let dir = base.join(format!("seed-{}-{}", r.seed, short(&r.id)));
                    exported.replaced += clear_events(&dir)?;
                    write_trial(r, &dir, &group, host)?;
                    written.push(dir.clone());
                    exported.trials.push(TrialRun {
                        dir,
                        id: r.id.clone(),
                        diverged: r.diverged(),
                    });
                }
                let (diverged, finished): (Vec<&TrialRecord>, Vec<&TrialRecord>) =
                    trials.iter().partition(|r| r.diverged());
                let diverged: Vec<(u64, String, u32, usize)> = diverged
                    .iter()
                    .map(|r| match r.status {
                        contract::Status::Diverged { epoch, batch } => {
                            (r.seed, r.id.clone(), epoch, batch)
                        }
                        _ => unreachable!("partitioned on diverged()"),
                    })
                    .collect();
                let dir = base.join(&label);
                exported.replaced += clear_events(&dir)?;
                let (dir, non_finite) = if finished.is_empty() {
                    (None, 0)
                } else {
                    let nf = write_aggregate(&finished, &dir, diverged.len(), host)?;
                    written.push(dir.clone());
                    (Some(dir), nf)
                };
                exported.aggregates.push(Aggregate {
                    group,
                    dir,
                    trials: finished.len(),
                    diverged,
                    non_finite,
                });
            }
            exported.stale.extend(clear_stale(&base, &written)?);
        }
    }
    Ok(exported)
}

/// The first 8 characters of a digest or id.
fn short(s: &str) -> &str {
    s.get(..8).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    use contract::Provenance;
    use contract::Status;
    use contract::record::RECORD_FORMAT;
    use tensorboard::proto::{event, summary_value};
    use trainer::TrialConfig;

    fn record(seed: u64, status: Status, losses: &[f64]) -> TrialRecord {
        let config = TrialConfig {
            epochs: 3,
            ..TrialConfig::default()
        };
        TrialRecord {
            format: RECORD_FORMAT,
            id: store::id::trial_id(&config, seed, "data"),
            config_digest: store::id::config_digest(&config),
            experiment: "exp one".into(),
            variant: "base".into(),
            seed,
            dataset_digest: "data".into(),
            config,
            status,
            parameters: 1000,
            study_parameters: None,
            final_accuracy: Some(80.0),
            best_accuracy: None,
            best_epoch: None,
            train_loss_sum: None,
            latency: None,
            epochs: losses
                .iter()
                .enumerate()
                .map(|(i, &l)| EpochMetrics {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    train_loss_mean: l,
                    train_loss_sum: 10.0 * l,
                    test_loss: l,
                    test_accuracy: 70.0 + seed as f64,
                    train_time_s: 1.0,
                    eval_time_s: 0.5,
                    images_per_s: 100.0,
                })
                .collect(),
            wall_time_s: 5.0,
            provenance: Provenance {
                harness_version: "0.1.0".into(),
                git_commit: "0123456789abcdef".into(),
                git_dirty: false,
                tch_version: "0.24.0".into(),
                libtorch_version: "2.11.0".into(),
                cuda: "none".into(),
                device: "cpu".into(),
                device_name: "Test CPU".into(),
                threads: 2,
                host: "box".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:05Z".into(),
            },
        }
    }

    /// `tag -> [(step, wall time, value)]` of the run in `dir` (one event file).
    fn scalars(dir: &Path) -> BTreeMap<String, Vec<(i64, f64, f32)>> {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let mut out: BTreeMap<String, Vec<(i64, f64, f32)>> = BTreeMap::new();
        for e in tensorboard::read_events(&files[0]).unwrap() {
            if let Some(event::What::Summary(s)) = e.what {
                for v in s.value {
                    if let Some(summary_value::Value::SimpleValue(x)) = v.value {
                        out.entry(v.tag).or_default().push((e.step, e.wall_time, x));
                    }
                }
            }
        }
        out
    }

    /// The custom scalars layouts in the run in `dir`.
    fn layouts(dir: &Path) -> Vec<Layout> {
        let file = std::fs::read_dir(dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        tensorboard::read_events(&file)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.what {
                Some(event::What::Summary(s)) => Some(s.value),
                _ => None,
            })
            .flatten()
            .filter(|v| v.tag == tensorboard::CUSTOM_SCALARS_LAYOUT_TAG)
            .map(|v| match v.value {
                Some(summary_value::Value::Tensor(t)) => {
                    tensorboard::decode_layout(&t.string_val[0][..]).unwrap()
                }
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn diverged_trials_and_non_finite_values_stay_out_of_the_mean() {
        let records = vec![
            record(1, Status::Finished, &[1.0, 0.5, 0.25]),
            record(2, Status::Finished, &[3.0, f64::NAN, 0.75]),
            record(3, Status::Diverged { epoch: 3, batch: 7 }, &[9.0, 9.0]),
        ];
        let out = tempfile::tempdir().unwrap();
        let exported = export(&records, out.path(), "box").unwrap();
        assert_eq!(exported.trials.len(), 3);
        assert_eq!(exported.replaced, 0);
        let variant = out.path().join("exp_one/base");
        let a = &exported.aggregates[0];
        assert_eq!(a.group, "exp one/base");
        assert_eq!(a.dir.as_deref(), Some(variant.join("mean").as_path()));
        assert_eq!(a.trials, 2);
        assert_eq!(a.diverged, vec![(3, records[2].id.clone(), 3, 7)]);
        // train loss and test loss of seed 2, epoch 2.
        assert_eq!(a.non_finite, 2);

        // The trial's own run keeps its NaN, at its epoch, with its wall time.
        let seed2 = scalars(&variant.join(format!("seed-2-{}", &records[1].id[..8])));
        let loss = &seed2["loss/train"];
        assert_eq!(loss.len(), 3);
        assert!(loss[1].2.is_nan());
        assert_eq!((loss[1].0, loss[2].2), (2, 0.75));
        let start = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(loss[0].1, start + 1.5);
        assert_eq!(loss[2].1, start + 4.5);

        let mean = scalars(&variant.join("mean"));
        let m = &mean["loss/train"];
        assert_eq!(
            m.iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(),
            vec![(1, 2.0), (2, 0.5), (3, 0.5)]
        );
        // sd of {1, 3} is sqrt(2); epoch 2 has one finite value, so no band there.
        let plus = &mean["loss/train/mean_plus_sd"];
        assert_eq!(plus.iter().map(|p| p.0).collect::<Vec<_>>(), vec![1, 3]);
        assert!((plus[0].2 - (2.0 + 2f32.sqrt())).abs() < 1e-6);
        assert_eq!(
            mean[TRIALS_TAG].iter().map(|p| p.2).collect::<Vec<_>>(),
            vec![2.0, 2.0, 2.0]
        );
        assert_eq!(mean["accuracy/test"][0].2, 71.5);
        let layouts = layouts(&variant.join("mean"));
        assert_eq!(layouts, vec![layout()]);
        let chart::Content::Margin(m) = layouts[0].category[0].chart[0].content.clone().unwrap();
        assert_eq!(m.series[0].value, "loss/train");
        assert_eq!(m.series[0].upper, "loss/train/mean_plus_sd");
        assert!(mean.contains_key(&m.series[0].lower));

        // A second export replaces the event files instead of adding to them, and empties
        // the runs of trials no longer exported.
        let again = export(&records, out.path(), "box").unwrap();
        assert_eq!(again.replaced, 4);
        assert!(again.stale.is_empty());
        scalars(&variant.join("mean"));
        let third = export(&records[..2], out.path(), "box").unwrap();
        let gone = variant.join(format!("seed-3-{}", &records[2].id[..8]));
        assert_eq!(third.stale, vec![gone.clone()]);
        assert!(!gone.exists());
    }

    #[test]
    fn a_variant_whose_trials_all_diverged_has_no_mean() {
        let records = vec![record(1, Status::Diverged { epoch: 2, batch: 0 }, &[1.0])];
        let out = tempfile::tempdir().unwrap();
        let exported = export(&records, out.path(), "box").unwrap();
        assert_eq!(exported.aggregates[0].dir, None);
        assert_eq!(exported.aggregates[0].trials, 0);
        assert!(!out.path().join("exp_one/base/mean").exists());
    }

    #[test]
    fn mean_and_sample_sd_per_step_leave_non_finite_values_out() {
        let (points, skipped) = statistics::band(&[
            vec![(1, 1.0), (2, 2.0)],
            vec![(1, 3.0), (2, f64::NAN)],
            vec![(1, 5.0), (2, 4.0), (3, 7.0)],
        ]);
        assert_eq!(skipped, 1);
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].step, 1);
        assert_eq!(points[0].n, 3);
        assert_eq!(points[0].mean, 3.0);
        assert_eq!(points[0].sd, Some(2.0));
        assert_eq!((points[1].n, points[1].mean), (2, 3.0));
        assert!((points[1].sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!((points[2].n, points[2].mean, points[2].sd), (1, 7.0, None));
    }

    #[test]
    fn names_become_safe_distinct_folders() {
        assert_eq!(file_name("lr 0.01/adam"), "lr_0.01_adam");
        assert_eq!(file_name(".."), "_");
        assert_eq!(file_name(""), "_");
        assert_eq!(file_name("conv4+bn"), "conv4+bn");
        let names = folder_names(["a b", "a/b", "c"]);
        assert_eq!(names["a b"], "a_b");
        assert_eq!(names["a/b"], "a_b-2");
        assert_eq!(names["c"], "c");
    }

    #[test]
    fn rfc3339_times_parse_to_unix_seconds() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_rfc3339("2026-11-30T00:27:42Z"), Some(1_795_998_462.0));
        assert_eq!(
            parse_rfc3339(&store::provenance::rfc3339(1_234_567_890)),
            Some(1_234_567_890.0)
        );
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
