//! The report as markdown, its plot and its README section.

use super::*;
use crate::latency_file;
use crate::plot::{Chart, Series, write_png};
use crate::seeding::{self, SeedingDecision};
use spec::config::Experiment;
use statistics as stats;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use store::id;
use store::record::TrialRecord;
use store::{StoreError, write_atomic};

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
    // Said only where a trial is not fp32 (the default), so fp32 reports read as before.
    if all.iter().any(|r| !r.config.precision.is_fp32()) {
        let _ = writeln!(
            out,
            "- Precision: {} (bf16: mixed precision as PyTorch's autocast, convolutions and classifier in bf16, batch norm statistics, loss and optimiser in fp32; latency is always the fp32 deployed network)",
            join_set(all.iter().map(|r| r.config.precision.name()))
        );
    }
    let _ = writeln!(
        out,
        "- Device: {}",
        join_set(all.iter().map(|r| format!(
            "{} ({}, {})",
            r.provenance.device,
            r.provenance.device_name,
            crate::threads(r.provenance.threads)
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
    // Pooling is by settings: a row may hold trials that another experiment planned, or
    // seeds this one did not plan. Said per row, with where they came from.
    for t in selected {
        let foreign: Vec<&TrialRecord> = t
            .finished
            .iter()
            .chain(&t.diverged)
            .copied()
            .filter(|r| r.experiment != experiment.name || !experiment.seeds.contains(&r.seed))
            .collect();
        if foreign.is_empty() {
            continue;
        }
        let sources = join_set(foreign.iter().map(|r| {
            if r.experiment == experiment.name {
                format!("`{}`", r.experiment)
            } else {
                format!("`{}` / `{}`", r.experiment, r.variant)
            }
        }));
        let extra_seeds: BTreeSet<u64> = foreign
            .iter()
            .map(|r| r.seed)
            .filter(|s| !experiment.seeds.contains(s))
            .collect();
        let beyond = if extra_seeds.is_empty() {
            String::new()
        } else {
            format!(
                "; seeds {} are beyond this experiment's plan, so its n is {}, not {}",
                join_set(extra_seeds.iter()),
                t.finished.len() + t.diverged.len(),
                experiment.seeds.len()
            )
        };
        let _ = writeln!(
            out,
            "- Pooled: `{}` holds {} of its {} trial(s) from {sources} (the same resolved settings){beyond}.",
            t.variant.name,
            foreign.len(),
            t.finished.len() + t.diverged.len()
        );
    }
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
                "- Note: variant `{}` pools trials from {} and {} (same configuration).",
                t.variant.name,
                count(devices.len(), "device"),
                count(commits.len(), "commit")
            );
        }
        if t.settings_differ {
            let _ = writeln!(
                out,
                "- ⚠ `{}`: no trials with the file's exact settings; showing the largest group in the store, not compared with the baseline (pass the `--set`/`--seeds` its trials were run with).",
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
    if let Some(line) = protocol_line(experiment, &selected, &stats) {
        let _ = writeln!(out, "{line}\n");
    }
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
         (Mann-Whitney U / (n₁·n₂), ties count ½; 0.5 = no tendency), with the exact two-sided Mann-Whitney p. {PROB_NOTE}. \
         MDE is the smallest difference (accuracy points) the verdict's own test could detect at this row's n: Welch's two-sided t-test at α = {MDE_ALPHA}/m for the m comparisons of the family (Holm's worst case), \
         with this row's Welch standard error and degrees of freedom (from the observed sds), power {MDE_POWER}, noncentral t; so no row shows |Δ| ≥ MDE beside \"no detectable difference\" (`harness seeds` computes with the pooled t, as the sds are not yet known). \
         Training loss is the sum of the mean batch losses over the last epoch (the study's column). \
         Latency is the forward time of one image and of one evaluation batch (eval mode, no grad): \
         measured after training with nothing else of the plan running, once per network, as the median of {} rounds \
         of {} timed passes (‡: the rounds disagree by more than {}x, or other processes were busy; see \"Latency\" below); \
         † marks figures from inside the training processes (median over trials), where other trials may have shared the cores.\n",
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
pub(crate) fn stein_section(d: &SeedingDecision, selected: &[VariantTrials]) -> String {
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
            let series: Vec<Vec<(u32, f64)>> = t
                .finished
                .iter()
                .map(|r| {
                    r.epochs
                        .iter()
                        .map(|e| (e.epoch, e.test_accuracy))
                        .collect()
                })
                .collect();
            let (steps, _) = stats::band(&series);
            Series {
                label: t.variant.name.clone(),
                points: steps.iter().map(|p| (f64::from(p.step), p.mean)).collect(),
                band: Some(
                    steps
                        .iter()
                        .map(|p| {
                            let sd = p.sd.unwrap_or(0.0);
                            (f64::from(p.step), p.mean - sd, p.mean + sd)
                        })
                        .collect(),
                ),
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

/// The opening marker of a README section: `<!-- report:NAME -->`, which the report of any
/// store fills, or `<!-- report:NAME runs=STORE -->`, which only the report of the store at
/// `STORE` (a path relative to the README's folder) fills, so that the committed tables stay
/// those of their committed records whatever store a later `harness report` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// Where the section's records are (`runs=`), if the marker names it.
    pub runs: Option<String>,
    /// The byte just past the marker's `-->`.
    end: usize,
}

/// The opening marker of section `name` in `readme`, if it has one (`<!-- report:lr -->`
/// is not `<!-- report:lr2 -->`'s); a marker with words other than `runs=STORE` is none.
pub fn readme_marker(readme: &str, name: &str) -> Option<Marker> {
    let open = format!("<!-- report:{name}");
    readme.match_indices(&open).find_map(|(at, _)| {
        let rest = &readme[at + open.len()..];
        let close = rest.find("-->")?;
        let inner = &rest[..close];
        if !inner.is_empty() && !inner.starts_with(' ') {
            return None;
        }
        let runs = match inner.trim() {
            "" => None,
            words => Some(
                words
                    .strip_prefix("runs=")
                    .filter(|r| !r.is_empty() && !r.contains(char::is_whitespace))?
                    .to_string(),
            ),
        };
        Some(Marker {
            runs,
            end: at + open.len() + close + "-->".len(),
        })
    })
}

/// Replaces the text between section `name`'s opening marker (see [`readme_marker`]) and
/// `<!-- /report:<name> -->` in `readme` with `body`. Returns `None` when the markers are
/// absent.
pub fn splice_readme(readme: &str, name: &str, body: &str) -> Option<String> {
    let close = format!("<!-- /report:{name} -->");
    let start = readme_marker(readme, name)?.end;
    let end = start + readme[start..].find(&close)?;
    Some(format!("{}\n{}{}", &readme[..start], body, &readme[end..]))
}

/// The README's link to report `name` in `dir` (relative to the README's folder;
/// `reports` when `None`).
pub fn report_link(dir: Option<&str>, name: &str) -> String {
    match dir.unwrap_or("reports").trim_end_matches('/') {
        "" | "." => format!("{name}.md"),
        dir => format!("{dir}/{name}.md"),
    }
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
    let mut devices = join_set(all.iter().map(|r| r.provenance.device.clone()));
    let lower = all.iter().filter(|r| !r.config.precision.is_fp32());
    let lower = join_set(lower.map(|r| r.config.precision.name()));
    if !all.is_empty() && all.iter().all(|r| !r.config.precision.is_fp32()) {
        devices.push_str(&format!(" in {lower} mixed precision"));
    } else if all.iter().any(|r| !r.config.precision.is_fp32()) {
        devices.push_str(&format!(
            " partly in {lower} mixed precision (the rest fp32)"
        ));
    }
    let link = report_link(extras.report_dir.as_deref(), &experiment.name);
    if all.is_empty() {
        let base = experiment.baseline_variant().trial.config();
        return format!(
            "*{}*: no trial recorded yet (planned: {} epochs, {} training images). Full report: [{link}]({link}).\n\n{}",
            experiment.title,
            base.epochs,
            base.data
                .train_limit
                .map_or("60000".to_string(), |n| n.to_string()),
            table_with(experiment, &selected, &stats, Columns::Readme)
        );
    }
    let mut protocol = protocol_line(experiment, &selected, &stats)
        .map_or_else(String::new, |l| format!("\n{l}\n"));
    if selected.iter().any(|t| t.settings_differ) {
        protocol.push_str("\n⚠: the store has no trials of this row with the file's exact settings; it shows other settings, not compared (see the full report).\n");
    }
    format!(
        "*{}*: {} trials, {} epochs, {} training images, on {}. Full report: [{link}]({link}).\n\n{}{protocol}",
        experiment.title,
        all.len(),
        epochs,
        train,
        devices,
        table_with(experiment, &selected, &stats, Columns::Readme)
    )
}

/// The study's regime against ours, the baselines side by side, and how many of the
/// comparisons point the study's way; `None` without study figures. For example: `Protocol:
/// 10,000 training images × 9 epochs (360 optimiser steps per trial), the baseline's
/// learning rate x0.1 after epoch 3, 6; the study: 60,000 × 30 (7,050 steps), x0.1 after
/// epoch 10, 20. Baseline 82.30 % (the study: 93.14 %). Agrees with the study in direction:
/// 2 of 3 comparison(s) with the baseline (the other way: `2 conv`).`
pub fn protocol_line(
    experiment: &Experiment,
    selected: &[VariantTrials],
    stats: &[VariantStats],
) -> Option<String> {
    let agreement = agreement(experiment, selected, stats)?;
    let all: Vec<&TrialRecord> = selected
        .iter()
        .flat_map(|t| t.finished.iter().chain(t.diverged.iter()).copied())
        .collect();
    let steps = |r: &TrialRecord| {
        let images = r.config.data.train_limit.unwrap_or(60_000);
        u64::from(r.config.epochs) * images.div_ceil(r.config.batch_size) as u64
    };
    let protocol = join_set(all.iter().map(|r| {
        format!(
            "{} training images × {} epochs ({} optimiser steps per trial)",
            progress::format::thousands(r.config.data.train_limit.unwrap_or(60_000) as i64),
            r.config.epochs,
            progress::format::thousands(steps(r) as i64)
        )
    }));
    // The schedule the baseline ran (a shortened protocol moves the study's drops).
    let schedule: String = match join_set(
        selected
            .iter()
            .filter(|t| t.variant.name == experiment.baseline)
            .flat_map(|t| t.finished.iter().chain(t.diverged.iter()))
            .map(|r| crate::frontier::schedule_words(&r.config.schedule, r.config.epochs)),
    ) {
        none if none == "—" => String::new(),
        words => format!(", the baseline's learning rate {words}"),
    };
    let ours = selected
        .iter()
        .zip(stats)
        .find(|(t, _)| t.variant.name == experiment.baseline)
        .and_then(|(_, s)| s.accuracy)
        .map_or_else(|| "—".into(), |a| format!("{:.2} %", a.mean));
    let study = experiment
        .baseline_variant()
        .study
        .accuracy
        .map_or_else(|| "—".into(), |a| format!("{a:.2} %"));
    let loss = if loss_comparable(selected) {
        ""
    } else {
        " The study's training loss (a sum over the batches of its 60,000-image epochs) is left out: ours sums other epochs."
    };
    Some(format!(
        "Protocol: {protocol}{schedule}; the study: 60,000 × 30 (7,050 steps), x0.1 after epoch 10, 20. Baseline {ours} (the study: {study}). {}.{loss}",
        capitalise(&agreement.line())
    ))
}

/// `1 device`, `2 devices`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn capitalise(text: &str) -> String {
    let mut c = text.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_uppercase().collect::<String>() + c.as_str()
    })
}
