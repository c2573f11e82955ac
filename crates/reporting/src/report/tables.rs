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
    /// A readable subset (the README): no raw p, no interval of P(>), no MDE column
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
        Some(p) => match p.ci95 {
            Some((lo, hi)) if with_ci => format!("{:.2} [{lo:.2}, {hi:.2}]", p.p),
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
            "| Δ vs {base} | p (Welch) | p (Holm, {corrected}) | P(> {base}) [95% CI] | MDE | verdict |"
        )
    } else {
        format!("| Δ vs {base} | p (Holm, {corrected}) | P(> {base}) | verdict |")
    };
    let _ = writeln!(
        out,
        "| variant | params (ours / study) | n | test acc % (mean ± sd [95% CI]) | study {stats_head} train loss (sum, last epoch) | study | latency b1 / b{eval_batch} ms | study |",
    );
    let cols = if full { 15 } else { 13 };
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
            let mut c = vec!["baseline".to_string(), String::new(), String::new()];
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
            if full {
                vec![
                    diff,
                    p_cell(s.versus_baseline.map(|c| c.p_value)),
                    holm,
                    prob_cell(&s.prob_improvement, true),
                    opt(s.mde, 2),
                    verdict,
                ]
            } else {
                vec![diff, holm, prob_cell(&s.prob_improvement, false), verdict]
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
            params_ours.map_or_else(|| "—".into(), format_count),
            params_study.unwrap_or_else(|| "—".into()),
            mean_sd_ci(&s.accuracy, 2),
            opt(t.variant.study.accuracy, 2),
            cells.join(" | "),
            mean_sd_ci(&s.train_loss, 2),
            opt(t.variant.study.train_loss, 2),
            opt(s.latency_batch1_ms, 3),
            opt(s.latency_eval_ms, 3),
            latency_mark(s),
            opt(t.variant.study.latency_ms, 2),
        );
    }
    out
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

/// `50186` -> `50,186` (the one formatter, [`progress::format::thousands`]).
pub use progress::format::thousands as format_count;
