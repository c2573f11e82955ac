//! The protocol frontier report (`configs/protocol.ron`): for each network and reduced
//! training protocol (training images, epochs, learning-rate drops), the final test
//! accuracy over seeds against the minutes one trial takes, as a table and a PNG plot.
//! It answers "what can this machine reproduce of the study, and at what cost", and is
//! where the study's CPU protocol is chosen from.
//!
//! Points are grouped by the settings themselves (architecture, training images, epochs,
//! schedule), not by variant names, so trials that other experiments ran under the same
//! settings count too. Diverged trials are counted and left out of the means.

use crate::plot::{Chart, PlotError, Series, write_png};
use spec::config::Experiment;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::record::TrialRecord;
use trainer::Schedule;

/// The study's own protocol: all 60,000 training images.
const FULL_TRAIN: usize = 60_000;

/// One protocol of one network, over its seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The architecture's name, e.g. `conv4`.
    pub architecture: String,
    /// Training images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// Epochs.
    pub epochs: u32,
    /// The schedule in words, e.g. `x0.1 after epochs 2, 4`.
    pub schedule: String,
    /// Optimiser steps of one trial.
    pub steps: usize,
    /// Final test accuracies of the finished trials, percent.
    pub accuracies: Vec<f64>,
    /// Trials that diverged.
    pub diverged: usize,
    /// Mean wall time of one trial as it ran, minutes (other work on the machine slows
    /// it).
    pub wall_minutes: f64,
    /// One trial's minutes on an otherwise idle machine, estimated from the fastest
    /// training and evaluation rates (images per second) this network reached in any
    /// recorded epoch at this thread count: the cost without the noise of other load.
    pub minutes: f64,
    /// libtorch threads per trial (the most common).
    pub threads: i32,
}

impl Point {
    /// Mean final accuracy (NaN with no finished trial), by [`statistics::summarize`].
    pub fn mean(&self) -> f64 {
        statistics::summarize(&self.accuracies).map_or(f64::NAN, |s| s.mean)
    }

    /// Sample standard deviation (NaN below two trials), by [`statistics::summarize`].
    pub fn sd(&self) -> f64 {
        statistics::summarize(&self.accuracies).map_or(f64::NAN, |s| s.std)
    }
}

/// A schedule in words over `epochs` epochs: `x0.1 after epoch 3, 6`.
pub(crate) fn schedule_words(schedule: &Schedule, epochs: u32) -> String {
    match schedule {
        Schedule::Step { every, gamma } => {
            let drops: Vec<String> = (1..)
                .map(|k| k * every)
                .take_while(|&e| e < epochs)
                .map(|e| e.to_string())
                .collect();
            if drops.is_empty() {
                "constant".into()
            } else {
                format!("x{gamma} after epoch {}", drops.join(", "))
            }
        }
        Schedule::Exponential { gamma } => format!("x{gamma} after every epoch"),
        Schedule::Constant => "constant".into(),
    }
}

/// The network as the frontier groups it: the architecture, and the precision where it is
/// not fp32 (`conv4 bf16`), so that a precision's points, rates and frontier are its own.
fn arch_name(r: &TrialRecord) -> String {
    let arch = serde_json::to_value(r.config.model.architecture)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    if r.config.precision.is_fp32() {
        arch
    } else {
        format!("{arch} {}", r.config.precision)
    }
}

/// The frontier's points, by network then optimiser steps.
pub fn points(records: &[TrialRecord]) -> Vec<Point> {
    let mut groups: BTreeMap<(String, usize, usize, u32, String), Vec<&TrialRecord>> =
        BTreeMap::new();
    for r in records {
        let c = &r.config;
        let train = c.data.train_limit.unwrap_or(FULL_TRAIN);
        let test = c.data.test_limit.unwrap_or(10_000);
        let key = (
            arch_name(r),
            train,
            test,
            c.epochs,
            schedule_words(&c.schedule, c.epochs),
        );
        groups.entry(key).or_default().push(r);
    }
    // The fastest rates each network reached (by architecture and threads): training
    // images per second, and test images per second of evaluation.
    let mut best: BTreeMap<(String, i32), (f64, f64)> = BTreeMap::new();
    for r in records {
        let key = (arch_name(r), r.provenance.threads);
        let test = r.config.data.test_limit.unwrap_or(10_000) as f64;
        let entry = best.entry(key).or_insert((0.0, 0.0));
        for e in &r.epochs {
            if e.images_per_s.is_finite() {
                entry.0 = entry.0.max(e.images_per_s);
            }
            if e.eval_time_s.is_finite() && e.eval_time_s > 0.0 {
                entry.1 = entry.1.max(test / e.eval_time_s);
            }
        }
    }
    let mut out: Vec<Point> = groups
        .into_iter()
        .map(|((architecture, train, test, epochs, schedule), rs)| {
            let batch = rs[0].config.batch_size;
            let mut threads: BTreeMap<i32, usize> = BTreeMap::new();
            for r in &rs {
                *threads.entry(r.provenance.threads).or_default() += 1;
            }
            let threads = threads
                .into_iter()
                .max_by_key(|&(_, n)| n)
                .map_or(1, |(t, _)| t);
            let (train_rate, eval_rate) = best
                .get(&(architecture.clone(), threads))
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            let minutes = (train as f64 * f64::from(epochs) / train_rate
                + test as f64 * f64::from(epochs) / eval_rate)
                / 60.0;
            Point {
                architecture,
                train_images: train,
                test_images: test,
                epochs,
                schedule,
                steps: train.div_ceil(batch) * epochs as usize,
                accuracies: rs
                    .iter()
                    .filter(|r| !r.diverged())
                    .filter_map(|r| r.final_accuracy)
                    .collect(),
                diverged: rs.iter().filter(|r| r.diverged()).count(),
                wall_minutes: rs.iter().map(|r| r.wall_time_s).sum::<f64>()
                    / 60.0
                    / rs.len() as f64,
                minutes,
                threads,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.architecture.as_str(), a.steps, a.train_images).cmp(&(
            b.architecture.as_str(),
            b.steps,
            b.train_images,
        ))
    });
    out
}

/// Whether no other point of the same network is at least as accurate and at least as
/// fast, and better in one of the two.
fn on_frontier(p: &Point, all: &[Point]) -> bool {
    !all.iter().any(|q| {
        q.architecture == p.architecture
            && !std::ptr::eq(p, q)
            && q.mean() >= p.mean()
            && q.minutes <= p.minutes
            && (q.mean() > p.mean() || q.minutes < p.minutes)
    })
}

fn thousands(n: usize) -> String {
    progress::format::thousands(n as i64)
}

/// The README's section: the table and a link to the full report in `report_dir` (as
/// [`crate::report::report_link`] takes it).
pub fn readme_section(
    experiment: &Experiment,
    records: &[TrialRecord],
    report_dir: Option<&str>,
) -> String {
    format!(
        "*{}*: {} trial(s). Full report with the plot and how minutes are measured: [{link}]({link}).\n\n{}",
        experiment.title,
        records.len(),
        table(records),
        link = crate::report::report_link(report_dir, &experiment.name)
    )
}

/// The report's markdown: the table of points (frontier points starred), and the plot.
pub fn markdown(experiment: &Experiment, records: &[TrialRecord], plot_name: &str) -> String {
    let mut out = format!("# {}\n\n{}\n\n", experiment.title, experiment.description);
    let machines: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r.provenance.device_name.as_str())
        .collect();
    out.push_str(&format!(
        "{} trial(s) on {}. *Minutes per trial* is one trial on an otherwise idle core at the thread count shown, evaluation of every epoch on the test images included, estimated from the fastest training and evaluation rates (images/s) this network reached in any recorded epoch; *as run* is the mean wall time the trials took, which other work on the machine inflated (`configs/protocol.ron` runs two trials at once, one thread each, on the 2 cores). The study trained 60,000 images for 30 epochs with x0.1 after epochs 10 and 20: {} optimiser steps. ★ marks the frontier: no other protocol of the same network is both as accurate and as fast.\n\n",
        records.len(),
        machines.into_iter().collect::<Vec<_>>().join(", "),
        thousands(FULL_TRAIN.div_ceil(256) * 30)
    ));
    out.push_str(&table(records));
    out.push_str(&format!(
        "\n![accuracy against minutes per trial]({plot_name})\n"
    ));
    out
}

/// The table of points, frontier points starred.
fn table(records: &[TrialRecord]) -> String {
    let points = points(records);
    let mut out = String::new();
    out.push_str("| network | training images | epochs | learning rate | optimiser steps | test accuracy, % (mean ± sd) | seeds | minutes per trial | as run | threads | |\n");
    out.push_str("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
    for p in &points {
        let acc = if p.accuracies.is_empty() {
            "—".to_string()
        } else if p.accuracies.len() < 2 {
            format!("{:.2}", p.mean())
        } else {
            format!("{:.2} ± {:.2}", p.mean(), p.sd())
        };
        let seeds = if p.diverged > 0 {
            format!("{} (+{} diverged)", p.accuracies.len(), p.diverged)
        } else {
            p.accuracies.len().to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {} | {} |\n",
            p.architecture,
            thousands(p.train_images),
            p.epochs,
            p.schedule,
            thousands(p.steps),
            acc,
            seeds,
            p.minutes,
            p.wall_minutes,
            p.threads,
            if on_frontier(p, &points) { "★" } else { "" }
        ));
    }
    out
}

/// The plot: mean final accuracy (± sd band) against minutes per trial, one line per
/// network through its points in order of cost.
pub fn write_plot(records: &[TrialRecord], path: &Path) -> Result<(), PlotError> {
    let points = points(records);
    let mut by_arch: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
    for p in points.iter().filter(|p| !p.accuracies.is_empty()) {
        by_arch.entry(p.architecture.as_str()).or_default().push(p);
    }
    let series: Vec<Series> = by_arch
        .into_iter()
        .map(|(arch, mut ps)| {
            ps.sort_by(|a, b| a.minutes.total_cmp(&b.minutes));
            let band = ps
                .iter()
                .map(|p| {
                    let sd = if p.sd().is_finite() { p.sd() } else { 0.0 };
                    (p.minutes, p.mean() - sd, p.mean() + sd)
                })
                .collect();
            Series {
                label: arch.to_string(),
                points: ps.iter().map(|p| (p.minutes, p.mean())).collect(),
                band: Some(band),
            }
        })
        .collect();
    write_png(
        path,
        &Chart {
            title: "Protocol frontier: final test accuracy against minutes per trial",
            x_label: "minutes per trial (one idle core)",
            y_label: "test accuracy, % (mean ± sd over seeds)",
            series: &series,
        },
        900,
        560,
    )
}

/// Writes `<reports>/<name>.md` and `<reports>/<name>.png`; returns their paths.
pub fn write(
    experiment: &Experiment,
    records: &[TrialRecord],
    reports_dir: &Path,
) -> Result<Vec<PathBuf>, crate::report::ReportError> {
    let png_name = format!("{}.png", experiment.name);
    let png = reports_dir.join(&png_name);
    write_plot(records, &png).map_err(|e| crate::report::ReportError::Plot {
        path: png.clone(),
        message: e.to_string(),
    })?;
    let md = reports_dir.join(format!("{}.md", experiment.name));
    store::write_atomic(&md, markdown(experiment, records, &png_name).as_bytes())?;
    Ok(vec![md, png])
}
