//! Reports: from the store alone, one markdown file per experiment (`reports/<name>.md`),
//! a comparison plot (`reports/<name>.png`), and the README's tables between
//! `<!-- report:<name> -->` and `<!-- /report:<name> -->`. The same store gives
//! byte-identical output: nothing here reads the clock.
//!
//! With several variants against one baseline, verdicts use Holm-adjusted p-values
//! (raw and adjusted are both shown, with the number of comparisons corrected for); each
//! row also gives P(variant > baseline) for a random pair of seeds with a seeded bootstrap
//! interval, and the minimum detectable effect at its n. The full report has every
//! column and a spread table (sd with its chi-square interval); the README's table a
//! subset.
//!
//! Trials are pooled only when their resolved configurations (and dataset) are identical.
//! For each variant the report uses the trials whose configuration equals the one the
//! experiment file (with its `--set` overrides) resolves to; if the store holds none of
//! those, it uses the largest group it has and says that the settings differ.

use crate::latency_file;
use crate::plot::{Chart, Series, write_png};
use crate::seeding::{self, SeedingDecision};
use spec::config::{Experiment, Variant};
use statistics::power;
use statistics::{self as stats, Comparison, Summary, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use store::id;
use store::record::TrialRecord;
use store::{StoreError, write_atomic};

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
    /// Why the variant was not run here (too slow for this machine, with the estimate),
    /// when its last run left it out.
    pub not_run: Option<String>,
}

/// Statistics of one variant.
#[derive(Clone, Debug)]
pub struct VariantStats {
    /// Whether this is the baseline (compared with nothing).
    pub baseline: bool,
    /// Final test accuracy over finished trials.
    pub accuracy: Option<Summary>,
    /// Final training loss (sum over the last epoch's batches).
    pub train_loss: Option<Summary>,
    /// Median over trials of the median batch-1 latency, ms.
    pub latency_batch1_ms: Option<f64>,
    /// Median over trials of the median eval-batch latency, ms.
    pub latency_eval_ms: Option<f64>,
    /// Versus the baseline's accuracies: Welch's test with its raw p-value.
    pub versus_baseline: Option<Comparison>,
    /// The same comparison judged with the Holm-adjusted p-value (over all variants'
    /// comparisons with the baseline): the verdict the tables print.
    pub adjusted: Option<Comparison>,
    /// P(variant > baseline) for a random pair of seeds, with its bootstrap interval.
    pub prob_improvement: Option<ProbImprovement>,
    /// Minimum detectable difference (accuracy points) at this row's n and the
    /// baseline's: two-sided α 0.05, power 0.8, pooled sd, noncentral t.
    pub mde: Option<f64>,
    /// 95% chi-square interval of the accuracy's standard deviation.
    pub sd_ci: Option<(f64, f64)>,
    /// Where the latency figures come from.
    pub latency_source: LatencySource,
}

/// Where a row's latency comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatencySource {
    /// The training processes' own measurements (median over trials); other trials may
    /// have shared the cores. Marked † in the tables.
    Trials,
    /// The quiet measurement after training (see [`crate::latency_file`]); `Some(why)`
    /// when it is marked ‡ (wide spread, or other load).
    Quiet(Option<String>),
}

/// What the store keeps beside the records that a report shows: extra Conditions lines
/// (e.g. the last run's estimated and actual time), the quiet latency measurements, the
/// variants left out, and Stein's seeding decision. `Extras::default()` is a report from
/// the records alone.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The store's seeding decision (`seeding::read`), if `harness replicate --halfwidth`
    /// made one.
    pub seeding: Option<SeedingDecision>,
    /// Extra lines for the Conditions list.
    pub notes: Vec<String>,
    /// `runs/<experiment>/latency.json` (see [`crate::latency_file`]).
    pub quiet_latency: BTreeMap<String, latency_file::Measured>,
    /// Variants the last run left out as too slow for the machine, and the words to show
    /// instead of a verdict (e.g. "not run on this machine (estimated 4h 10m per trial)").
    pub not_run: BTreeMap<String, String>,
}

fn select_with<'a>(
    experiment: &'a Experiment,
    records: &'a [TrialRecord],
    extras: &Extras,
) -> Vec<VariantTrials<'a>> {
    let mut selected = select(experiment, records);
    for t in &mut selected {
        t.not_run = extras.not_run.get(&t.variant.name).cloned();
    }
    selected
}

/// Replaces each row's latency with the quiet measurement of its network, where one exists.
fn apply_quiet(
    selected: &[VariantTrials],
    stats: &mut [VariantStats],
    quiet: &BTreeMap<String, latency_file::Measured>,
) {
    for (t, s) in selected.iter().zip(stats.iter_mut()) {
        if let Some(m) = quiet.get(&latency_file::network_key(t.variant.trial.config())) {
            s.latency_batch1_ms = Some(m.batch1.median_ms);
            s.latency_eval_ms = Some(m.eval.median_ms);
            s.latency_source = LatencySource::Quiet(m.caveat());
        }
    }
}

/// P(variant > baseline) for a random pair of seeds (ties count one half).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbImprovement {
    /// The Mann-Whitney statistic over `n_a * n_b`.
    pub p: f64,
    /// Percentile bootstrap 95% interval ([`stats::BOOTSTRAP_RESAMPLES`] resamples,
    /// seeded by the variant's name).
    pub ci95: Option<(f64, f64)>,
}

/// Family-wise significance level of the minimum detectable effect: each comparison is
/// judged at `MDE_ALPHA / m` for a family of `m` comparisons with the baseline (Holm's
/// first step, the bound the strongest comparison must pass; `harness plan` uses the same).
pub const MDE_ALPHA: f64 = 0.05;
/// Power of the minimum detectable effect.
pub const MDE_POWER: f64 = 0.8;

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
            // The variant's exact settings, whichever experiment ran them (shared trials);
            // and what this experiment ran for it under other settings.
            for r in records.iter().filter(|r| {
                r.config_digest == wanted
                    || (r.experiment == experiment.name && r.variant == variant.name)
            }) {
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
                not_run: None,
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
///
/// The verdicts ([`VariantStats::adjusted`]) use Holm-adjusted p-values over every
/// comparison that could be tested. A baseline whose trials all diverged leaves the
/// comparisons empty but every variant's own statistics in place.
pub fn statistics(experiment: &Experiment, selected: &[VariantTrials]) -> Vec<VariantStats> {
    let baseline = selected
        .iter()
        .find(|t| t.variant.name == experiment.baseline)
        .map(accuracies)
        .unwrap_or_default();
    let family = selected.len().saturating_sub(1).max(1);
    let mde_alpha = MDE_ALPHA / family as f64;
    let mut out: Vec<VariantStats> = selected
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
            let is_baseline = t.variant.name == experiment.baseline;
            let accuracy = stats::summarize(&acc);
            let (versus_baseline, prob_improvement, mde) = if is_baseline {
                (None, None, None)
            } else {
                let prob = stats::prob_improvement(&baseline, &acc).map(|p| ProbImprovement {
                    p,
                    ci95: stats::bootstrap_prob_ci(
                        &baseline,
                        &acc,
                        stats::BOOTSTRAP_RESAMPLES,
                        stats::seed_of(&t.variant.name),
                    ),
                });
                let mde = power::pooled_sd(&[&baseline, &acc])
                    .filter(|(sd, _)| *sd > 0.0)
                    .and_then(|(sd, _)| {
                        power::mde(baseline.len(), acc.len(), mde_alpha, MDE_POWER).map(|d| d * sd)
                    });
                (stats::welch(&baseline, &acc), prob, mde)
            };
            VariantStats {
                baseline: is_baseline,
                sd_ci: accuracy.and_then(|a| stats::sd_ci(a.std, a.n, 0.95)),
                accuracy,
                train_loss: stats::summarize(&losses),
                latency_batch1_ms: lat(|l| l.batch1.median_ms),
                latency_eval_ms: lat(|l| l.eval.median_ms),
                versus_baseline,
                adjusted: None,
                prob_improvement,
                mde,
                latency_source: LatencySource::Trials,
            }
        })
        .collect();
    // The family is every variant compared with the baseline, testable or not: an
    // untestable comparison (too few trials, diverged) stays in it, so it never makes the
    // others look stronger.
    let raw: Vec<f64> = out
        .iter()
        .filter(|s| !s.baseline)
        .map(|s| s.versus_baseline.map_or(f64::NAN, |c| c.p_value))
        .collect();
    let holm = stats::holm(&raw);
    for (s, p_adj) in out.iter_mut().filter(|s| !s.baseline).zip(holm) {
        s.adjusted = s.versus_baseline.map(|c| stats::adjusted(&c, p_adj));
    }
    out
}

/// The number of comparisons with the baseline that the Holm adjustment corrected for:
/// every variant but the baseline, including those that could not be tested.
pub fn comparisons_corrected(stats: &[VariantStats]) -> usize {
    stats.iter().filter(|s| !s.baseline).count()
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
fn latency_table(
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
fn latency_mark(s: &VariantStats) -> &'static str {
    match (&s.latency_source, s.latency_batch1_ms) {
        (_, None) => "",
        (LatencySource::Trials, _) => " †",
        (LatencySource::Quiet(Some(_)), _) => " ‡",
        (LatencySource::Quiet(None), _) => "",
    }
}

fn p_cell(p: Option<f64>) -> String {
    match p {
        Some(p) if p.is_finite() => format!("{p:.3}"),
        _ => "—".into(),
    }
}

fn prob_cell(p: &Option<ProbImprovement>, with_ci: bool) -> String {
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
    if all.is_empty() {
        // Nothing recorded yet: the settings the plan will run with, said as such.
        let base = experiment.baseline_variant().trial.config();
        let _ = writeln!(
            out,
            "- Epochs: {} (as planned; no trial recorded yet)",
            base.epochs
        );
        let _ = writeln!(
            out,
            "- Data: train {}, test {} (as planned)",
            limit(base.data.train_limit, 60_000),
            limit(base.data.test_limit, 10_000)
        );
    } else {
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
    }
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

/// The whole report of an experiment, from its records and what the store keeps beside
/// them ([`Extras`]).
pub fn render(experiment: &Experiment, records: &[TrialRecord], extras: &Extras) -> String {
    let seeding = extras.seeding.as_ref();
    let selected = select_with(experiment, records, extras);
    let mut stats = statistics(experiment, &selected);
    apply_quiet(&selected, &mut stats, &extras.quiet_latency);
    let notes = &extras.notes;
    let corrected = comparisons_corrected(&stats);
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
        "## Conditions\n\n{}- Seeds: {}\n{}",
        conditions(experiment, &selected),
        seeding::report_line(seeding, experiment.seeds.len()),
        notes.iter().map(|n| format!("- {n}\n")).collect::<String>()
    );
    let _ = writeln!(
        out,
        "## Results\n\n{}",
        table(experiment, &selected, &stats)
    );
    let tested = stats
        .iter()
        .filter(|s| !s.baseline && s.versus_baseline.is_some())
        .count();
    let untested = match corrected - tested {
        0 => String::new(),
        u => format!(
            " The family is every variant compared with the baseline: {u} of them could not be tested and count as p = 1, so they never make the others look stronger."
        ),
    };
    let correction = match (tested, corrected) {
        (0, _) => "No comparison with the baseline could be tested.".to_string(),
        (_, 1) => "One comparison with the baseline, so no correction was needed (Holm = raw)."
            .to_string(),
        (_, m) => format!(
            "Verdicts use Holm-adjusted p-values, corrected for {m} comparisons with the baseline \
             (family-wise α = 0.05); the raw p-values are shown beside them.{untested}"
        ),
    };
    let _ = writeln!(
        out,
        "Accuracy is the final-epoch test accuracy; n counts finished trials; diverged trials are counted, never averaged. \
         Δ and p compare each variant's accuracies with the baseline's (Welch's t-test, two-sided, α = 0.05). {correction} \
         P(> {base}) is the probability that a random seed of the variant beats a random seed of the baseline \
         (Mann-Whitney U / (n₁·n₂), ties count ½; 0.5 = no tendency), with a percentile bootstrap 95% interval \
         ({} resamples, seeded: the report is reproducible). \
         MDE is the smallest difference (accuracy points) this row's n could detect under the verdict's rule: two-sided α = {MDE_ALPHA}/m for the m comparisons of the family (Holm's first step; `harness plan` plans with the same), \
         power {MDE_POWER}, pooled sd of the two variants, noncentral t. \
         Training loss is the sum of the mean batch losses over the last epoch (the study's column). \
         Latency is the forward time of one image and of one evaluation batch (eval mode, no grad): \
         measured after training with nothing else of the plan running, once per network, as the median of {} rounds \
         of {} timed passes (‡: the rounds disagree by more than {}x, or other processes were busy; see \"Latency\" below); \
         † marks figures from inside the training processes (median over trials), where other trials may have shared the cores.\n",
        stats::BOOTSTRAP_RESAMPLES,
        latency_file::ROUNDS,
        50,
        latency_file::WIDE,
        base = experiment.baseline,
    );
    let _ = writeln!(
        out,
        "## Spread across seeds\n\n{}\nThe interval of each sd is the chi-square one \
         (it assumes normally distributed accuracies); it is wide at few seeds.\n",
        spread_table(&selected, &stats)
    );
    if let Some(d) = seeding {
        let _ = writeln!(out, "## Seeding\n\n{}", stein_section(d, &selected));
    }
    if !extras.quiet_latency.is_empty() {
        let _ = writeln!(
            out,
            "## Latency\n\n{}",
            latency_table(&selected, &extras.quiet_latency)
        );
    }
    let _ = writeln!(out, "![test accuracy per epoch]({}.png)", experiment.name);
    out
}

/// Per variant: Stein's interval over every finished seed,
/// `mean ± t(n0-1) s0 / sqrt(N)`, which has half-width at most W.
fn stein_section(d: &SeedingDecision, selected: &[VariantTrials]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| variant | pilot sd | N (decided) | n (finished) | mean | Stein {:.0}% interval |",
        100.0 * (1.0 - d.alpha)
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let t = stats::t_quantile(1.0 - d.alpha / 2.0, d.n0.saturating_sub(1) as f64);
    for v in &d.variants {
        let acc = selected
            .iter()
            .find(|s| s.variant.name == v.variant)
            .map(accuracies)
            .unwrap_or_default();
        let mean = stats::summarize(&acc).map(|s| s.mean);
        let interval = match mean {
            Some(m) if acc.len() >= v.total_n => {
                let half = t * v.pilot_sd / (acc.len() as f64).sqrt();
                format!("[{:.2}, {:.2}] (±{half:.2})", m - half, m + half)
            }
            Some(_) => format!("— ({} of {} seeds finished)", acc.len(), v.total_n),
            None => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {:.3} | {} | {} | {} | {interval} |",
            v.variant,
            v.pilot_sd,
            v.total_n,
            acc.len(),
            opt(mean, 2)
        );
    }
    let _ = writeln!(
        out,
        "\nStein's rule fixed N from the pilot's sd alone (never from the means or p-values); \
         its interval uses the pilot's sd and t with n0 - 1 = {} degrees of freedom, which gives \
         exact coverage and half-width at most W = {}.",
        d.n0.saturating_sub(1),
        d.halfwidth
    );
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

/// Writes `reports/<name>.md` ([`render`]) and `reports/<name>.png`; returns the
/// markdown path.
pub fn write_report(
    experiment: &Experiment,
    records: &[TrialRecord],
    extras: &Extras,
    reports_dir: &Path,
) -> Result<PathBuf, ReportError> {
    let md = reports_dir.join(format!("{}.md", experiment.name));
    write_atomic(&md, render(experiment, records, extras).as_bytes())?;
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
pub fn readme_section(experiment: &Experiment, records: &[TrialRecord], extras: &Extras) -> String {
    let selected = select_with(experiment, records, extras);
    let mut stats = statistics(experiment, &selected);
    apply_quiet(&selected, &mut stats, &extras.quiet_latency);
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
    if all.is_empty() {
        let base = experiment.baseline_variant().trial.config();
        return format!(
            "*{}*: no trial recorded yet (planned: {} epochs, {} training images). Full report: [reports/{}.md](reports/{}.md).\n\n{}",
            experiment.title,
            base.epochs,
            base.data
                .train_limit
                .map_or("60000".to_string(), |n| n.to_string()),
            experiment.name,
            experiment.name,
            table_with(experiment, &selected, &stats, Columns::Readme)
        );
    }
    format!(
        "*{}*: {} trials, {} epochs, {} training images, on {}. Full report: [reports/{}.md](reports/{}.md).\n\n{}",
        experiment.title,
        all.len(),
        epochs,
        train,
        devices,
        experiment.name,
        experiment.name,
        table_with(experiment, &selected, &stats, Columns::Readme)
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
