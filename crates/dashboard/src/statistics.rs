//! The report's results table, live: the same pooling ([`report::select`]) and statistics
//! ([`report::statistics`]) as `harness report`, turned into short cells for the screen:
//! Holm-adjusted p-values and verdicts, P(variant > baseline), and the minimum detectable
//! effect beside "no detectable difference".

use ::statistics::Verdict;
use progress::format::{MISSING, fixed};
use reporting::report;
use spec::Experiment;
use store::record::TrialRecord;

/// One variant's row of the statistics panel.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsRow {
    /// Variant name.
    pub variant: String,
    /// Whether this is the baseline.
    pub baseline: bool,
    /// The pooled trials' settings differ from the file's (no exact match in the store).
    pub settings_differ: bool,
    /// Finished trials, and diverged ones in brackets: `5`, `4 +1 div`.
    pub n: String,
    /// Final test accuracy: `84.32 ± 0.45`, `84.32` for one trial.
    pub accuracy: String,
    /// 95% confidence interval of the mean: `[83.76, 84.88]`.
    pub ci: String,
    /// The study's published accuracy.
    pub study: String,
    /// Difference of means versus the baseline: `+0.52`, or `baseline`.
    pub diff: String,
    /// Welch's two-sided p-value, Holm-adjusted over the experiment's comparisons with
    /// the baseline (the raw one when there is a single comparison).
    pub p: String,
    /// P(variant > baseline) for a random pair of seeds: `0.83`.
    pub prob: String,
    /// The verdict in words (judged on the adjusted p-value); when nothing is detected,
    /// with the smallest difference this n could detect: `no detectable difference
    /// (MDE 1.23)`.
    pub verdict: String,
}

/// The rows of every variant, and for each variant the ids of the finished trials it
/// pools (the ones its curves band is drawn from).
pub fn rows(experiment: &Experiment, records: &[TrialRecord]) -> (Vec<StatsRow>, Vec<Vec<String>>) {
    let selected = report::select(experiment, records);
    let stats = report::statistics(experiment, &selected);
    let base_trials = selected
        .iter()
        .find(|t| t.variant.name == experiment.baseline);
    let base_finished = base_trials.map_or(0, |t| t.finished.len());
    let base_diverged = base_trials.is_some_and(|t| !t.diverged.is_empty());
    let base_differs = base_trials.is_some_and(|t| t.settings_differ);
    let rows = selected
        .iter()
        .zip(&stats)
        .map(|(t, s)| {
            let baseline = t.variant.name == experiment.baseline;
            let n = if t.diverged.is_empty() {
                t.finished.len().to_string()
            } else {
                format!("{} +{} div", t.finished.len(), t.diverged.len())
            };
            let (accuracy, ci) = match &s.accuracy {
                None => (MISSING.to_string(), MISSING.to_string()),
                Some(a) if a.n < 2 => (format!("{:.2}", a.mean), MISSING.to_string()),
                Some(a) => (
                    format!("{:.2} ± {:.2}", a.mean, a.std),
                    format!("[{:.2}, {:.2}]", a.ci95.0, a.ci95.1),
                ),
            };
            let prob = s
                .prob_improvement
                .map_or_else(|| MISSING.to_string(), |p| format!("{:.2}", p.p));
            let (diff, p, prob, verdict) = match &s.adjusted {
                _ if baseline => (
                    "baseline".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ),
                // Other settings than the file's (⚠): not compared, as in the report.
                _ if !t.finished.is_empty() && (t.settings_differ || base_differs) => (
                    MISSING.into(),
                    MISSING.into(),
                    MISSING.into(),
                    if t.settings_differ {
                        report::SETTINGS_DIFFER.into()
                    } else {
                        report::BASELINE_SETTINGS_DIFFER.into()
                    },
                ),
                _ if t.finished.is_empty() && !t.diverged.is_empty() => (
                    MISSING.into(),
                    MISSING.into(),
                    MISSING.into(),
                    "all diverged".into(),
                ),
                _ if !t.finished.is_empty() && base_finished == 0 => (
                    MISSING.into(),
                    MISSING.into(),
                    MISSING.into(),
                    if base_diverged {
                        "no comparison: baseline all diverged".into()
                    } else {
                        "no comparison: no baseline trials".into()
                    },
                ),
                Some(c) => (
                    format!("{:+.2}", c.diff),
                    fixed(Some(c.p_value).filter(|p| !p.is_nan()), 3),
                    prob,
                    match (c.verdict, s.mde) {
                        (Verdict::NoDetectableDifference, Some(d)) => {
                            format!("{} (MDE {d:.2})", c.verdict)
                        }
                        _ => c.verdict.to_string(),
                    },
                ),
                None => (
                    MISSING.into(),
                    MISSING.into(),
                    MISSING.into(),
                    "no trials".into(),
                ),
            };
            StatsRow {
                variant: t.variant.name.clone(),
                baseline,
                settings_differ: t.settings_differ,
                n,
                accuracy,
                ci,
                study: fixed(t.variant.study.accuracy, 2),
                diff,
                p,
                prob,
                verdict,
            }
        })
        .collect();
    let pooled = selected
        .iter()
        .map(|t| t.finished.iter().map(|r| r.id.clone()).collect())
        .collect();
    (rows, pooled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures as fixture;

    #[test]
    fn rows_follow_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let (table, pooled) = rows(&e, &[]);
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].n, "0");
        assert_eq!(table[0].accuracy, "—");
        assert_eq!(table[0].diff, "baseline");
        assert_eq!(table[1].verdict, "no trials");
        assert_eq!(table[1].study, "85.00");
        assert!(pooled.iter().all(Vec::is_empty));

        let records = vec![
            fixture::record(&e, "base", 0, &[70.0, 80.0]),
            fixture::record(&e, "base", 1, &[70.0, 82.0]),
            fixture::record(&e, "flip", 0, &[71.0, 85.0]),
            fixture::diverge(fixture::record(&e, "flip", 1, &[71.0, 85.0]), 2),
        ];
        let (table, pooled) = rows(&e, &records);
        assert_eq!(table[0].n, "2");
        assert_eq!(table[0].accuracy, "81.00 ± 1.41");
        assert!(table[0].ci.starts_with("[68.29, 93.71]"), "{}", table[0].ci);
        assert_eq!(table[1].n, "1 +1 div");
        assert_eq!(table[1].accuracy, "85.00");
        assert_eq!(table[1].ci, "—");
        assert_eq!(table[1].diff, "+4.00");
        assert_eq!(table[1].p, "—");
        assert_eq!(table[1].verdict, "too few trials");
        assert_eq!(table[1].prob, "1.00");
        assert_eq!(pooled[0].len(), 2);
        assert_eq!(pooled[1], vec![records[2].id.clone()]);
    }

    #[test]
    fn all_diverged_baseline_keeps_the_variants() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let records = vec![
            fixture::diverge(fixture::record(&e, "base", 0, &[70.0, 80.0]), 1),
            fixture::diverge(fixture::record(&e, "base", 1, &[70.0, 80.0]), 1),
            fixture::record(&e, "flip", 0, &[71.0, 85.0]),
            fixture::record(&e, "flip", 1, &[71.0, 86.0]),
        ];
        let (table, _) = rows(&e, &records);
        assert_eq!(table[0].n, "0 +2 div");
        assert_eq!(table[1].accuracy, "85.50 ± 0.71");
        assert_eq!(table[1].verdict, "no comparison: baseline all diverged");
    }
}
