//! Reports: from the store alone, one markdown file per experiment (`reports/<name>.md`),
//! a comparison plot (`reports/<name>.png`), and the README's tables between
//! `<!-- report:<name> -->` and `<!-- /report:<name> -->`. The same store gives
//! byte-identical output: nothing here reads the clock.
//!
//! Trials are pooled only when their resolved configurations (and dataset) are identical.
//! For each variant the report uses the trials whose configuration equals the one the
//! experiment file (with its `--set` overrides) resolves to; if the store holds none of
//! those, it uses the largest group it has and says that the settings differ.

use crate::config::{Experiment, Variant};
use crate::id;
use crate::plot::{Chart, Series, write_png};
use crate::record::TrialRecord;
use crate::stats::{self, Summary};
use crate::store::{StoreError, write_atomic};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The trials of one variant that the report pools.
#[derive(Clone, Debug)]
pub struct VariantTrials<'a> {
    /// The variant as the experiment file defines it.
    pub variant: &'a Variant,
    /// Finished trials (accuracies are averaged over these).
    pub finished: Vec<&'a TrialRecord>,
    /// Diverged trials (counted, never averaged).
    pub diverged: Vec<&'a TrialRecord>,
    /// Whether these trials' settings differ from the file's (no matching trials existed).
    pub settings_differ: bool,
    /// Other settings of this variant present in the store, not shown.
    pub other_groups: usize,
}

/// Statistics of one variant.
#[derive(Clone, Debug)]
pub struct VariantStats {
    /// Final test accuracy over finished trials.
    pub accuracy: Option<Summary>,
    /// Final training loss (sum over the last epoch's batches).
    pub train_loss: Option<Summary>,
    /// Median over trials of the median batch-1 latency, ms.
    pub latency_batch1_ms: Option<f64>,
    /// Median over trials of the median eval-batch latency, ms.
    pub latency_eval_ms: Option<f64>,
    /// Versus the baseline's accuracies.
    pub versus_baseline: Option<stats::Comparison>,
}

/// Picks, per variant, the pooled group of records.
pub fn select<'a>(
    experiment: &'a Experiment,
    records: &'a [TrialRecord],
) -> Vec<VariantTrials<'a>> {
    experiment
        .variants
        .iter()
        .map(|variant| {
            let wanted = id::config_digest(variant.trial.config());
            let mut groups: BTreeMap<(String, String), Vec<&TrialRecord>> = BTreeMap::new();
            for r in records.iter().filter(|r| r.variant == variant.name) {
                groups
                    .entry((r.config_digest.clone(), r.dataset_digest.clone()))
                    .or_default()
                    .push(r);
            }
            let matching = groups
                .iter()
                .filter(|((digest, _), _)| *digest == wanted)
                .max_by_key(|(_, rs)| rs.len())
                .map(|(k, _)| k.clone());
            let settings_differ = matching.is_none();
            let key = matching.or_else(|| {
                groups
                    .iter()
                    .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))
                    .map(|(k, _)| k.clone())
            });
            let chosen = key
                .and_then(|k| groups.get(&k).cloned())
                .unwrap_or_default();
            let (diverged, finished): (Vec<_>, Vec<_>) =
                chosen.into_iter().partition(|r| r.diverged());
            VariantTrials {
                variant,
                settings_differ: settings_differ && !(finished.is_empty() && diverged.is_empty()),
                other_groups: groups.len().saturating_sub(1),
                finished,
                diverged,
            }
        })
        .collect()
}

fn accuracies(trials: &VariantTrials) -> Vec<f64> {
    trials
        .finished
        .iter()
        .filter_map(|r| r.final_accuracy)
        .collect()
}

/// Statistics of every variant, compared with the baseline.
pub fn statistics(experiment: &Experiment, selected: &[VariantTrials]) -> Vec<VariantStats> {
    let baseline = selected
        .iter()
        .find(|t| t.variant.name == experiment.baseline)
        .map(accuracies)
        .unwrap_or_default();
    selected
        .iter()
        .map(|t| {
            let acc = accuracies(t);
            let losses: Vec<f64> = t.finished.iter().filter_map(|r| r.train_loss_sum).collect();
            let lat = |f: fn(&trainer::Latency) -> f64| {
                let xs: Vec<f64> = t
                    .finished
                    .iter()
                    .filter_map(|r| r.latency.as_ref().map(f))
                    .collect();
                stats::median(&xs)
            };
            VariantStats {
                accuracy: stats::summarize(&acc),
                train_loss: stats::summarize(&losses),
                latency_batch1_ms: lat(|l| l.batch1.median_ms),
                latency_eval_ms: lat(|l| l.eval.median_ms),
                versus_baseline: if t.variant.name == experiment.baseline {
                    None
                } else {
                    stats::welch(&baseline, &acc)
                },
            }
        })
        .collect()
}

fn join_set<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let set: BTreeSet<String> = items.into_iter().map(|x| x.to_string()).collect();
    if set.is_empty() {
        "—".into()
    } else {
        set.into_iter().collect::<Vec<_>>().join(", ")
    }
}

fn mean_sd_ci(s: &Option<Summary>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n < 2 => format!("{:.*} (n=1)", digits, s.mean),
        Some(s) => format!(
            "{:.*} ± {:.*} [{:.*}, {:.*}]",
            digits, s.mean, digits, s.std, digits, s.ci95.0, digits, s.ci95.1
        ),
    }
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// The results table (markdown), as it appears in the report and the README.
pub fn table(
    experiment: &Experiment,
    selected: &[VariantTrials],
    stats: &[VariantStats],
) -> String {
    let eval_batch = selected
        .iter()
        .flat_map(|t| t.finished.iter())
        .find_map(|r| r.latency.as_ref().map(|l| l.eval.batch))
        .unwrap_or(256);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| variant | params (ours / study) | n | test acc % (mean ± sd [95% CI]) | study | Δ vs {} | p (Welch) | verdict | train loss (sum, last epoch) | study | latency b1 / b{eval_batch} ms | study |",
        experiment.baseline
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (t, s) in selected.iter().zip(stats) {
        let params_ours = t
            .finished
            .iter()
            .chain(&t.diverged)
            .next()
            .map(|r| r.parameters);
        let params_study =
            t.variant.study.parameters.clone().or_else(|| {
                models::study_parameter_count(&t.variant.trial.model).map(str::to_string)
            });
        let n = if t.diverged.is_empty() {
            t.finished.len().to_string()
        } else {
            format!("{} (+{} diverged)", t.finished.len(), t.diverged.len())
        };
        let (diff, p, verdict) = match &s.versus_baseline {
            _ if t.variant.name == experiment.baseline => ("baseline".into(), "".into(), "".into()),
            Some(c) => (
                format!("{:+.2}", c.diff),
                if c.p_value.is_nan() {
                    "—".into()
                } else {
                    format!("{:.3}", c.p_value)
                },
                stats::verdict_text(c, stats_n(selected, &experiment.baseline), t.finished.len()),
            ),
            None => ("—".into(), "—".into(), "no trials".into()),
        };
        let name = if t.settings_differ {
            format!("{} ⚠", t.variant.name)
        } else {
            t.variant.name.clone()
        };
        let _ = writeln!(
            out,
            "| {name} | {} / {} | {n} | {} | {} | {diff} | {p} | {verdict} | {} | {} | {} / {} | {} |",
            params_ours.map_or_else(|| "—".into(), format_count),
            params_study.unwrap_or_else(|| "—".into()),
            mean_sd_ci(&s.accuracy, 2),
            opt(t.variant.study.accuracy, 2),
            mean_sd_ci(&s.train_loss, 2),
            opt(t.variant.study.train_loss, 2),
            opt(s.latency_batch1_ms, 3),
            opt(s.latency_eval_ms, 3),
            opt(t.variant.study.latency_ms, 2),
        );
    }
    out
}

fn stats_n(selected: &[VariantTrials], name: &str) -> usize {
    selected
        .iter()
        .find(|t| t.variant.name == name)
        .map_or(0, |t| t.finished.len())
}

/// `50186` -> `50,186`.
pub fn format_count(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The conditions the trials ran under, from their records.
pub fn conditions(experiment: &Experiment, selected: &[VariantTrials]) -> String {
    let all: Vec<&TrialRecord> = selected
        .iter()
        .flat_map(|t| t.finished.iter().chain(t.diverged.iter()).copied())
        .collect();
    let limit = |n: Option<usize>, full: usize| n.map_or(format!("all {full}"), |n| n.to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "- Trials: {} ({} seeds planned per variant: {})",
        all.len(),
        experiment.seeds.len(),
        join_set(experiment.seeds.iter())
    );
    let _ = writeln!(
        out,
        "- Epochs: {}",
        join_set(all.iter().map(|r| r.config.epochs))
    );
    let _ = writeln!(
        out,
        "- Data: train {}, test {}",
        join_set(all.iter().map(|r| limit(r.config.data.train_limit, 60_000))),
        join_set(all.iter().map(|r| limit(r.config.data.test_limit, 10_000)))
    );
    let _ = writeln!(
        out,
        "- Device: {}",
        join_set(all.iter().map(|r| format!(
            "{} ({}, {} threads)",
            r.provenance.device, r.provenance.device_name, r.provenance.threads
        )))
    );
    let _ = writeln!(
        out,
        "- Harness commit: {}",
        join_set(all.iter().map(|r| format!(
            "{}{}",
            id::short(&r.provenance.git_commit),
            if r.provenance.git_dirty {
                " (dirty)"
            } else {
                ""
            }
        )))
    );
    let _ = writeln!(
        out,
        "- libtorch: {}",
        join_set(all.iter().map(|r| r.provenance.libtorch_version.clone()))
    );
    let _ = writeln!(
        out,
        "- Dataset digest: {}",
        join_set(all.iter().map(|r| id::short(&r.dataset_digest).to_string()))
    );
    for t in selected {
        let devices: BTreeSet<&str> = t
            .finished
            .iter()
            .map(|r| r.provenance.device.as_str())
            .collect();
        let commits: BTreeSet<&str> = t
            .finished
            .iter()
            .map(|r| r.provenance.git_commit.as_str())
            .collect();
        if devices.len() > 1 || commits.len() > 1 {
            let _ = writeln!(
                out,
                "- Note: variant `{}` pools trials from {} devices and {} commits (same configuration).",
                t.variant.name,
                devices.len(),
                commits.len()
            );
        }
        if t.settings_differ {
            let _ = writeln!(
                out,
                "- ⚠ `{}`: no trials with the file's exact settings; showing the largest group in the store.",
                t.variant.name
            );
        }
        if t.other_groups > 0 {
            let _ = writeln!(
                out,
                "- `{}`: {} other setting(s) in the store are not pooled here.",
                t.variant.name, t.other_groups
            );
        }
    }
    out
}

/// The whole report of an experiment.
pub fn render(experiment: &Experiment, records: &[TrialRecord]) -> String {
    let selected = select(experiment, records);
    let stats = statistics(experiment, &selected);
    let mut out = String::new();
    let _ = writeln!(out, "# {} (`{}`)\n", experiment.title, experiment.name);
    if !experiment.description.is_empty() {
        let _ = writeln!(out, "{}\n", experiment.description);
    }
    let _ = writeln!(
        out,
        "Generated by `harness report {}` from the run store; do not edit.\n",
        experiment.path.display()
    );
    let _ = writeln!(
        out,
        "## Conditions\n\n{}",
        conditions(experiment, &selected)
    );
    let _ = writeln!(
        out,
        "## Results\n\n{}",
        table(experiment, &selected, &stats)
    );
    let _ = writeln!(
        out,
        "Accuracy is the final-epoch test accuracy; n counts finished trials; diverged trials are counted, never averaged. \
         Δ and p compare each variant's accuracies with the baseline's (Welch's t-test, two-sided, α = 0.05). \
         Training loss is the sum of the mean batch losses over the last epoch (the study's column). \
         Latency is the median over trials of each trial's median forward time (eval mode, no grad, {} timed passes).\n",
        50
    );
    let _ = writeln!(out, "![test accuracy per epoch]({}.png)", experiment.name);
    out
}

/// Per-epoch mean test accuracy of each variant with a ±1 sd band.
pub fn accuracy_series(selected: &[VariantTrials]) -> Vec<Series> {
    selected
        .iter()
        .filter(|t| !t.finished.is_empty())
        .map(|t| {
            let epochs = t.finished.iter().map(|r| r.epochs.len()).min().unwrap_or(0);
            let mut points = Vec::new();
            let mut band = Vec::new();
            for e in 0..epochs {
                let xs: Vec<f64> = t
                    .finished
                    .iter()
                    .map(|r| r.epochs[e].test_accuracy)
                    .collect();
                if let Some(s) = stats::summarize(&xs) {
                    let x = (e + 1) as f64;
                    points.push((x, s.mean));
                    let sd = if s.std.is_finite() { s.std } else { 0.0 };
                    band.push((x, s.mean - sd, s.mean + sd));
                }
            }
            Series {
                label: t.variant.name.clone(),
                points,
                band: Some(band),
            }
        })
        .collect()
}

/// Errors of report writing.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Drawing the plot failed.
    #[error("{path}: {message}")]
    Plot {
        /// The plot file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

/// Writes `reports/<name>.md` and `reports/<name>.png`; returns the markdown path.
pub fn write_report(
    experiment: &Experiment,
    records: &[TrialRecord],
    reports_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let md = reports_dir.join(format!("{}.md", experiment.name));
    write_atomic(&md, render(experiment, records).as_bytes())?;
    let selected = select(experiment, records);
    let series = accuracy_series(&selected);
    let png = reports_dir.join(format!("{}.png", experiment.name));
    let title = format!("{}: test accuracy (mean ± sd over seeds)", experiment.title);
    write_png(
        &png,
        &Chart {
            title: &title,
            x_label: "epoch",
            y_label: "test accuracy (%)",
            series: &series,
        },
        900,
        550,
    )
    .map_err(|e| ReportError::Plot {
        path: png.clone(),
        message: e.to_string(),
    })?;
    Ok(md)
}

/// Replaces the text between `<!-- report:<name> -->` and `<!-- /report:<name> -->` in
/// `readme` with `body`. Returns `None` when the markers are absent.
pub fn splice_readme(readme: &str, name: &str, body: &str) -> Option<String> {
    let open = format!("<!-- report:{name} -->");
    let close = format!("<!-- /report:{name} -->");
    let start = readme.find(&open)? + open.len();
    let end = start + readme[start..].find(&close)?;
    Some(format!("{}\n{}{}", &readme[..start], body, &readme[end..]))
}

/// What goes into the README for an experiment: a short conditions line and the table.
pub fn readme_section(experiment: &Experiment, records: &[TrialRecord]) -> String {
    let selected = select(experiment, records);
    let stats = statistics(experiment, &selected);
    let all: Vec<&TrialRecord> = selected
        .iter()
        .flat_map(|t| t.finished.iter().chain(t.diverged.iter()).copied())
        .collect();
    let epochs = join_set(all.iter().map(|r| r.config.epochs));
    let train = join_set(all.iter().map(|r| {
        r.config
            .data
            .train_limit
            .map_or("60000".to_string(), |n| n.to_string())
    }));
    let devices = join_set(all.iter().map(|r| r.provenance.device.clone()));
    format!(
        "*{}*: {} trials, {} epochs, {} training images, on {}. Full report: [reports/{}.md](reports/{}.md).\n\n{}",
        experiment.title,
        all.len(),
        epochs,
        train,
        devices,
        experiment.name,
        experiment.name,
        table(experiment, &selected, &stats)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped() {
        assert_eq!(format_count(50186), "50,186");
        assert_eq!(format_count(87_540_000), "87,540,000");
        assert_eq!(format_count(999), "999");
    }

    #[test]
    fn readme_markers_are_spliced() {
        let readme = "a\n<!-- report:x -->\nold\n<!-- /report:x -->\nb\n";
        let out = splice_readme(readme, "x", "new\n").unwrap();
        assert_eq!(out, "a\n<!-- report:x -->\nnew\n<!-- /report:x -->\nb\n");
        assert_eq!(
            splice_readme(&out, "x", "new\n").unwrap(),
            out,
            "idempotent"
        );
        assert!(splice_readme(readme, "y", "z").is_none());
    }
}
