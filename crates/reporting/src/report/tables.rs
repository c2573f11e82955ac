//! The report's tables and their cells.

use super::*;
use crate::latency_file;
use spec::config::Experiment;
use statistics::{self as stats, Summary, Verdict};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) fn join_set<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let set: BTreeSet<String> = items.into_iter().map(|x| x.to_string()).collect();
    if set.is_empty() {
        "—".into()
    } else {
        set.into_iter().collect::<Vec<_>>().join(", ")
    }
}

pub(crate) fn mean_sd_ci(s: &Option<Summary>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n < 2 => format!("{:.*} (n=1)", digits, s.mean),
        Some(s) => format!(
            "{:.*} ± {:.*} [{:.*}, {:.*}]",
            digits, s.mean, digits, s.std, digits, s.ci95.0, digits, s.ci95.1
        ),
    }
}

pub(crate) fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// Which columns a results table shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// Every column (the full report).
    Full,
    /// A readable subset (the README): no raw p, no exact p of P(>), no MDE column
    /// (the MDE still appears in the verdict when nothing was detected).
    Readme,
}

/// The results table (markdown), as it appears in the full report.
pub fn table(
    experiment: &Experiment,
    selected: &[VariantTrials],
    stats: &[VariantStats],
) -> String {
    table_with(experiment, selected, stats, Columns::Full)
}

/// The verdict of a row whose trials have other settings than the file's (⚠).
pub const SETTINGS_DIFFER: &str = "no comparison: other settings than the file's (⚠)";
/// The verdict of every row when the baseline's trials have other settings (⚠).
pub const BASELINE_SETTINGS_DIFFER: &str =
    "no comparison: the baseline's trials have other settings than the file's (⚠)";

/// The verdict cell of one variant, in plain words: the Holm-adjusted verdict, with the
/// minimum detectable effect when no difference was detected; or why no test was made.
pub fn verdict_cell(
    experiment: &Experiment,
    selected: &[VariantTrials],
    t: &VariantTrials,
    s: &VariantStats,
    corrected: usize,
) -> String {
    let baseline = selected
        .iter()
        .find(|b| b.variant.name == experiment.baseline);
    let n_a = baseline.map_or(0, |b| b.finished.len());
    let n_b = t.finished.len();
    if t.variant.name == experiment.baseline {
        return String::new();
    }
    if t.finished.is_empty() {
        return if let (true, Some(why)) = (t.diverged.is_empty(), &t.not_run) {
            why.clone()
        } else if t.diverged.is_empty() {
            "no trials".into()
        } else {
            "no comparison: every trial diverged".into()
        };
    }
    if t.settings_differ {
        return SETTINGS_DIFFER.into();
    }
    if baseline.is_some_and(|b| b.settings_differ) {
        return BASELINE_SETTINGS_DIFFER.into();
    }
    if n_a == 0 {
        return match baseline {
            Some(b) if !b.diverged.is_empty() => {
                "no comparison: every baseline trial diverged".into()
            }
            _ => "no comparison: no baseline trials".into(),
        };
    }
    let Some(c) = s.adjusted else {
        return "—".into();
    };
    let label = if corrected > 1 { "Holm " } else { "" };
    let p = stats::format_p(c.p_value);
    match c.verdict {
        Verdict::Higher | Verdict::Lower => format!("{} ({label}{p})", c.verdict),
        Verdict::NoDetectableDifference => {
            let mde = s
                .mde
                .map_or_else(String::new, |d| format!("; could detect ≥ {d:.2} points"));
            format!("{} at n={n_a} vs {n_b} ({label}{p}){mde}", c.verdict)
        }
        Verdict::TooFewTrials | Verdict::NoSpread | Verdict::OutOfRange => {
            format!("{} (n={n_a} vs {n_b})", c.verdict)
        }
    }
}

/// Per variant: the quiet latency with the spread of its rounds, and its caveat.
pub(crate) fn latency_table(
    selected: &[VariantTrials],
    quiet: &BTreeMap<String, latency_file::Measured>,
) -> String {
    let mut out = String::from(
        "| variant | batch 1 ms (median [lowest, highest round]) | eval batch ms | device, threads | caveat |\n|---|---|---|---|---|\n",
    );
    for t in selected {
        let Some(m) = quiet.get(&latency_file::network_key(t.variant.trial.config())) else {
            let _ = writeln!(out, "| {} | not measured | | | |", t.variant.name);
            continue;
        };
        let spread = |s: &latency_file::Spread| {
            format!("{:.3} [{:.3}, {:.3}]", s.median_ms, s.low_ms, s.high_ms)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} (batch {}) | {}, {} | {} |",
            t.variant.name,
            spread(&m.batch1),
            spread(&m.eval),
            m.eval_batch,
            m.device,
            m.threads,
            m.caveat().unwrap_or_else(|| "—".into())
        );
    }
    out
}

/// † for figures from the training processes, ‡ for a quiet figure with a caveat.
pub(crate) fn latency_mark(s: &VariantStats) -> &'static str {
    match (&s.latency_source, s.latency_batch1_ms) {
        (_, None) => "",
        (LatencySource::Trials, _) => " †",
        (LatencySource::Quiet(Some(_)), _) => " ‡",
        (LatencySource::Quiet(None), _) => "",
    }
}

pub(crate) fn p_cell(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() => format!("{p:.3}"),
        _ => "—".into(),
    }
}

pub(crate) fn prob_cell(p: &Option<ProbImprovement>, with_ci: bool) -> String {
    match p {
        None => "—".into(),
        Some(p) => match p.exact_p {
            Some(exact) if with_ci => format!("{:.2} ({})", p.p, stats::format_p(exact)),
            _ => format!("{:.2}", p.p),
        },
    }
}

/// The results table with the chosen [`Columns`].
pub fn table_with(
    experiment: &Experiment,
    selected: &[VariantTrials],
    stats: &[VariantStats],
    columns: Columns,
) -> String {
    let full = columns == Columns::Full;
    let corrected = comparisons_corrected(stats);
    let eval_batch = selected
        .iter()
        .flat_map(|t| t.finished.iter())
        .find_map(|r| r.latency.as_ref().map(|l| l.eval.batch))
        .unwrap_or(256);
    let base = &experiment.baseline;
    let mut out = String::new();
    let stats_head = if full {
        format!(
            "| Δ vs {base} | study Δ | p (Welch) | p (Holm, {corrected}) | P(> {base}) (exact p) | MDE | verdict |"
        )
    } else {
        format!("| Δ vs {base} | study Δ | p (Holm, {corrected}) | P(> {base}) | verdict |")
    };
    // The study's loss is a sum over its epoch's batches: shown only where ours sums the same.
    let comparable_loss = loss_comparable(selected);
    let _ = writeln!(
        out,
        "| variant | params (ours / study) | n | test acc % (mean ± sd [95% CI]) | study {stats_head} train loss (sum, last epoch) | study | latency b1 / b{eval_batch} ms | study |",
    );
    let cols = if full { 16 } else { 14 };
    let _ = writeln!(out, "|{}", "---|".repeat(cols));
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
        let verdict = verdict_cell(experiment, selected, t, s, corrected);
        let cells: Vec<String> = if t.variant.name == *base {
            let mut c = vec![
                "baseline".to_string(),
                String::new(),
                String::new(),
                String::new(),
            ];
            if full {
                c.extend([String::new(), String::new()]);
            }
            c.push(String::new());
            c
        } else {
            let diff = s
                .versus_baseline
                .map_or_else(|| "—".into(), |c| format!("{:+.2}", c.diff));
            let holm = p_cell(s.adjusted.map(|c| c.p_value));
            let study =
                study_diff(experiment, t).map_or_else(|| "—".into(), |d| format!("{d:+.2}"));
            if full {
                vec![
                    diff,
                    study,
                    p_cell(s.versus_baseline.map(|c| c.p_value)),
                    holm,
                    prob_cell(&s.prob_improvement, true),
                    opt(s.mde, 2),
                    verdict,
                ]
            } else {
                vec![
                    diff,
                    study,
                    holm,
                    prob_cell(&s.prob_improvement, false),
                    verdict,
                ]
            }
        };
        let name = if t.settings_differ {
            format!("{} ⚠", t.variant.name)
        } else {
            t.variant.name.clone()
        };
        let _ = writeln!(
            out,
            "| {name} | {} / {} | {n} | {} | {} | {} | {} | {} | {} / {}{} | {} |",
            params_ours.map_or_else(|| "—".into(), progress::format::thousands),
            params_study.unwrap_or_else(|| "—".into()),
            mean_sd_ci(&s.accuracy, 2),
            opt(t.variant.study.accuracy, 2),
            cells.join(" | "),
            mean_sd_ci(&s.train_loss, 2),
            if comparable_loss {
                opt(t.variant.study.train_loss, 2)
            } else {
                "—".into()
            },
            opt(s.latency_batch1_ms, 3),
            opt(s.latency_eval_ms, 3),
            latency_mark(s),
            opt(t.variant.study.latency_ms, 2),
        );
    }
    out
}

/// How our comparisons with the baseline agree in direction with the study's, from the
/// study's published accuracies in the experiment file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// Comparisons whose sign is the study's.
    pub agree: usize,
    /// Comparisons that both we and the study have (the study's Δ is not 0).
    pub compared: usize,
    /// The variants whose Δ points the other way.
    pub against: Vec<String>,
}

impl Agreement {
    /// `agrees with the study in direction: 6 of 8 comparisons (the other way: `a`, `b`)`;
    /// the names in code marks, so that a variant called `0` or `no` does not read as a
    /// count.
    pub fn line(&self) -> String {
        let mut line = format!(
            "agrees with the study in direction: {} of {} comparison(s) with the baseline",
            self.agree, self.compared
        );
        if !self.against.is_empty() {
            let names: Vec<String> = self.against.iter().map(|n| format!("`{n}`")).collect();
            line.push_str(&format!(" (the other way: {})", names.join(", ")));
        }
        line
    }
}

/// The study's Δ of `t` against the baseline (its published accuracies), if both exist.
pub fn study_diff(experiment: &Experiment, t: &VariantTrials) -> Option<f64> {
    let base = experiment.baseline_variant().study.accuracy?;
    (t.variant.name != experiment.baseline).then_some(t.variant.study.accuracy? - base)
}

/// Our Δ against the study's, variant by variant: `None` when no comparison has both.
pub fn agreement(
    experiment: &Experiment,
    selected: &[VariantTrials],
    stats: &[VariantStats],
) -> Option<Agreement> {
    let mut a = Agreement {
        agree: 0,
        compared: 0,
        against: Vec::new(),
    };
    for (t, s) in selected.iter().zip(stats) {
        let (Some(study), Some(ours)) = (study_diff(experiment, t), s.versus_baseline) else {
            continue;
        };
        if study == 0.0 || !ours.diff.is_finite() {
            continue;
        }
        a.compared += 1;
        if ours.diff.signum() == study.signum() && ours.diff != 0.0 {
            a.agree += 1;
        } else {
            a.against.push(t.variant.name.clone());
        }
    }
    (a.compared > 0).then_some(a)
}

/// Whether our trials train what the study's did per epoch (all 60,000 images at the
/// study's batch of 256), so that a training loss summed over an epoch's batches compares.
pub fn loss_comparable(selected: &[VariantTrials]) -> bool {
    let mut all = selected
        .iter()
        .flat_map(|t| t.finished.iter().chain(t.diverged.iter()));
    all.all(|r| r.config.data.train_limit.is_none() && r.config.batch_size == 256)
}

/// The spread table: per variant, the standard deviation of the final test accuracy
/// over seeds with its 95% chi-square interval, and the range.
pub fn spread_table(selected: &[VariantTrials], stats: &[VariantStats]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| variant | n | sd of test acc (points) | 95% CI of sd (χ²) | min | max |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for (t, s) in selected.iter().zip(stats) {
        let (sd, ci, min, max) = match &s.accuracy {
            None => ("—".into(), "—".into(), "—".into(), "—".into()),
            Some(a) => (
                if a.n < 2 {
                    "— (n=1)".to_string()
                } else {
                    format!("{:.3}", a.std)
                },
                s.sd_ci
                    .map_or_else(|| "—".into(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]")),
                format!("{:.2}", a.min),
                format!("{:.2}", a.max),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {sd} | {ci} | {min} | {max} |",
            t.variant.name,
            t.finished.len()
        );
    }
    out
}
