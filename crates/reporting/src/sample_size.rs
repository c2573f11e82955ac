//! The sample size of an experiment (`harness seeds`): its records selected as the report
//! selects them, the seeds per variant computed by [`statistics::sample_size`], and the
//! result in words.

use statistics::sample_size::{SampleSize, SampleSizeError, SdSource};

use crate::report::{self, VariantTrials};
use spec::Experiment;
use store::record::TrialRecord;

/// The seeds per variant `experiment` needs to detect `detect` accuracy points with power
/// `target_power` at family-wise level `alpha`, from the finished trials in `records` that
/// its report would use ([`statistics::sample_size::sample_size`]).
pub fn sample_size(
    experiment: &Experiment,
    records: &[TrialRecord],
    detect: f64,
    alpha: f64,
    target_power: f64,
    assumed_sd: Option<f64>,
) -> Result<SampleSize, SampleSizeError> {
    let samples: Vec<Vec<f64>> = report::select(experiment, records)
        .iter()
        .map(accuracies)
        .collect();
    statistics::sample_size::sample_size(
        &samples,
        experiment.seeds.len(),
        detect,
        alpha,
        target_power,
        assumed_sd,
    )
}

fn accuracies(t: &VariantTrials) -> Vec<f64> {
    t.finished.iter().filter_map(|r| r.final_accuracy).collect()
}

/// The sample size of `experiment` in plain words, one fact a line.
pub fn text(s: &SampleSize, experiment: &str) -> String {
    let sd_line = match &s.sd_source {
        SdSource::Observed {
            trials,
            variants,
            df,
        } => format!(
            "sd {:.3} points: observed, pooled within {variants} variant(s) over {trials} finished trial(s) in the store ({df} degrees of freedom)",
            s.sd
        ),
        SdSource::Given { observed } => format!(
            "sd {:.3} points: GIVEN by --assume-sd ({})",
            s.sd,
            observed.map_or_else(
                || "the store has no variant with two finished trials".to_string(),
                |(sd, n)| format!(
                    "used instead of the store's observed {sd:.3}, pooled over {n} finished trial(s)"
                )
            )
        ),
        SdSource::Assumed => format!(
            "sd {:.3} points: ASSUMED (the store has no variant of `{experiment}` with two finished trials; pass --assume-sd to change it)",
            s.sd
        ),
    };
    let seeds = s
        .seeds
        .map_or_else(|| "more than a million".to_string(), |n| n.to_string());
    let normal = s
        .seeds_normal
        .map_or_else(|| "—".to_string(), |n| n.to_string());
    let now = if s.power_now.is_finite() {
        format!(
            "with the config's {} seeds: power {:.2} for {} points; detectable at power {}: {}",
            s.seeds_now,
            s.power_now,
            s.detect,
            s.power,
            s.mde_now
                .map_or_else(|| "—".to_string(), |d| format!("{d:.2} points")),
        )
    } else {
        format!(
            "with the config's {} seed(s): no test is possible (two are needed)",
            s.seeds_now
        )
    };
    format!(
        "seeds for `{experiment}`: detect a difference of {} accuracy points with power {} at family-wise α {}\n\
         - {sd_line}\n\
         - {} comparison(s) against the baseline: α per comparison {:.4} (Bonferroni = Holm's worst case)\n\
         - effect size {:.3} sd; two-sided two-sample t-test (noncentral t)\n\
         - seeds needed per variant: {seeds} (normal approximation: {normal})\n\
         - {now}\n",
        s.detect, s.power, s.alpha, s.comparisons, s.alpha_per_comparison, s.effect,
    )
}
