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
use crate::seeding::SeedingDecision;
use spec::config::{Experiment, Variant};
use statistics::power;
use statistics::{self as stats, Comparison, Summary};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use store::id;
use store::record::TrialRecord;

mod markdown;
mod tables;

pub use markdown::*;
pub use tables::*;

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
    /// The folder of the reports as seen from the README's (its "Full report" links);
    /// `reports` when `None`.
    pub report_dir: Option<String>,
}

pub(crate) fn select_with<'a>(
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
pub(crate) fn apply_quiet(
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
    /// The exact two-sided Mann-Whitney p-value ([`stats::mann_whitney_exact_p`]), which says
    /// what `p` is worth at this n (1.00 at 3 vs 3 seeds has exact p = 0.10). No interval
    /// is printed: the percentile bootstrap's coverage of this probability falls short of
    /// 95 % at the seeds these tables have (see [`PROB_NOTE`]).
    pub exact_p: Option<f64>,
}

/// Why the report prints no interval for P(>), as the report says it.
pub const PROB_NOTE: &str = "No interval is printed for P(>): the percentile bootstrap's coverage of it falls short of 95 % at these seeds (simulated on normal data with shifts of 0 to 2 sd, 300 samples each: 41-87 % at 3 vs 3 seeds, 61-92 % at 5, 82-95 % at 8, 88-94 % at 15); the exact two-sided Mann-Whitney p beside it says what it is worth (at 3 vs 3 seeds even complete separation, P = 1.00 or 0.00, has p = 0.10)";

/// Family-wise significance level of the minimum detectable effect: each comparison is
/// judged at `MDE_ALPHA / m` for a family of `m` comparisons with the baseline (Holm's
/// first step, the bound the strongest comparison must pass; `harness seeds` uses the same).
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

pub(crate) fn accuracies(trials: &VariantTrials) -> Vec<f64> {
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
    // A row that shows other settings than the file's (⚠) is not compared: its difference
    // would mix the variant's effect with the settings'.
    let baseline_differs = selected
        .iter()
        .find(|t| t.variant.name == experiment.baseline)
        .is_some_and(|b| b.settings_differ);
    let family = selected.len().saturating_sub(1).max(1);
    let mde_alpha = MDE_ALPHA / family as f64;
    let mut out: Vec<VariantStats> = selected
        .iter()
        .map(|t| {
            let acc = accuracies(t);
            let losses: Vec<f64> = t.finished.iter().filter_map(|r| r.train_loss_sum).collect();
            let lat = |f: fn(&contract::Latency) -> f64| {
                let xs: Vec<f64> = t
                    .finished
                    .iter()
                    .filter_map(|r| r.latency.as_ref().map(f))
                    .collect();
                stats::median(&xs)
            };
            let is_baseline = t.variant.name == experiment.baseline;
            let accuracy = stats::summarize(&acc);
            let (versus_baseline, prob_improvement, mde) =
                if is_baseline || t.settings_differ || baseline_differs {
                    (None, None, None)
                } else {
                    let prob = stats::prob_improvement(&baseline, &acc).map(|p| ProbImprovement {
                        p,
                        exact_p: stats::mann_whitney_exact_p(&baseline, &acc),
                    });
                    // The verdict's own test: Welch's standard error and degrees of freedom,
                    // at Holm's worst case α/m.
                    let welch = stats::welch(&baseline, &acc);
                    let mde =
                        welch.and_then(|c| power::welch_mde(c.se, c.df, mde_alpha, MDE_POWER));
                    (welch, prob, mde)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped() {
        assert_eq!(progress::format::thousands(50186), "50,186");
        assert_eq!(progress::format::thousands(87_540_000), "87,540,000");
        assert_eq!(progress::format::thousands(999), "999");
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

    #[test]
    fn a_marker_may_name_its_store_and_names_are_whole() {
        let readme = "<!-- report:lr2 -->\n<!-- /report:lr2 -->\n<!-- report:lr runs=results-cpu-bf16 -->\nold\n<!-- /report:lr -->\n";
        assert_eq!(
            readme_marker(readme, "lr").unwrap().runs.as_deref(),
            Some("results-cpu-bf16")
        );
        assert_eq!(readme_marker(readme, "lr2").unwrap().runs, None);
        let out = splice_readme(readme, "lr", "new\n").unwrap();
        assert!(
            out.ends_with("<!-- report:lr runs=results-cpu-bf16 -->\nnew\n<!-- /report:lr -->\n"),
            "{out}"
        );
        assert!(
            out.starts_with("<!-- report:lr2 -->\n<!-- /report:lr2 -->\n"),
            "{out}"
        );
        for bad in [
            "<!-- report:x runs= -->",
            "<!-- report:x other -->",
            "<!-- report:xy -->",
        ] {
            assert_eq!(readme_marker(bad, "x"), None, "{bad}");
        }
        assert_eq!(report_link(None, "lr"), "reports/lr.md");
        assert_eq!(
            report_link(Some("reports/cpu-bf16/"), "lr"),
            "reports/cpu-bf16/lr.md"
        );
        assert_eq!(report_link(Some("."), "lr"), "lr.md");
    }
}
