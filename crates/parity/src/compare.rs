//! Both sides compared: per-epoch curves, rows and the final-epoch difference.

use super::*;
use statistics::{self as stats, Comparison, Summary, Verdict};
use std::fmt;
use store::record::TrialRecord;

// ----------------------------------------------------------------------- statistics

/// One epoch of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// 1-based epoch.
    pub epoch: u32,
    /// Learning rate during the epoch.
    pub lr: f64,
    /// Test accuracy after the epoch, percent.
    pub test_accuracy: f64,
    /// Mean over the epoch's batches of the mean batch loss.
    pub train_loss_mean: f64,
}

/// One run (one seed) of either side, epoch by epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The seed.
    pub seed: u64,
    /// Whether the run diverged (a non-finite loss or accuracy): its numbers are shown as
    /// such and never averaged.
    pub diverged: bool,
    /// Its epochs with finite values, in order.
    pub points: Vec<Point>,
}

impl Curve {
    /// Our trial's curve.
    pub fn from_record(r: &TrialRecord) -> Curve {
        let finite = |m: &contract::EpochMetrics| {
            m.test_accuracy.is_finite() && m.train_loss_mean.is_finite()
        };
        Curve {
            seed: r.seed,
            diverged: r.diverged() || !r.epochs.iter().all(finite),
            points: r
                .epochs
                .iter()
                .take_while(|m| finite(m))
                .map(|m| Point {
                    epoch: m.epoch,
                    lr: m.lr,
                    test_accuracy: m.test_accuracy,
                    train_loss_mean: m.train_loss_mean,
                })
                .collect(),
        }
    }

    /// The reference run's curve.
    pub fn from_reference(run: &ReferenceRun) -> Curve {
        let point = |e: &ReferenceEpoch| match (e.test_accuracy, e.train_loss_mean) {
            (Some(a), Some(l)) if a.is_finite() && l.is_finite() => Some(Point {
                epoch: e.epoch,
                lr: e.lr,
                test_accuracy: a,
                train_loss_mean: l,
            }),
            _ => None,
        };
        let points: Vec<Point> = run.epochs.iter().map_while(point).collect();
        Curve {
            seed: run.seed,
            diverged: points.len() != run.epochs.len(),
            points,
        }
    }

    fn at(&self, epoch: u32) -> Option<&Point> {
        self.points.iter().find(|p| p.epoch == epoch)
    }
}

/// Both sides of one architecture.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchParity {
    /// The variant (architecture) name.
    pub arch: String,
    /// The settings both sides trained with.
    pub settings: ReferenceSettings,
    /// Our runs.
    pub ours: Vec<Curve>,
    /// PyTorch's runs.
    pub pytorch: Vec<Curve>,
}

/// Statistics of one epoch, both sides; runs that diverged are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRow {
    /// 1-based epoch.
    pub epoch: u32,
    /// The learning rates the runs (both sides) used in this epoch, distinct; one value
    /// when the two sides agree, as they must.
    pub lrs: Vec<f64>,
    /// Our test accuracy, percent.
    pub ours_accuracy: Option<Summary>,
    /// PyTorch's test accuracy, percent.
    pub pytorch_accuracy: Option<Summary>,
    /// Our training loss (mean per batch).
    pub ours_loss: Option<Summary>,
    /// PyTorch's training loss (mean per batch).
    pub pytorch_loss: Option<Summary>,
}

/// What the final-epoch comparison says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParityVerdict {
    /// The 95 % interval of the difference contains 0.
    WithinNoise,
    /// The interval lies above 0.
    OursHigher,
    /// The interval lies below 0.
    OursLower,
    /// A side has fewer than two finished runs: no interval.
    TooFewSeeds,
    /// Neither side varies across seeds, or the values are out of range: no interval.
    CannotTell,
}

impl fmt::Display for ParityVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParityVerdict::WithinNoise => "difference within noise",
            ParityVerdict::OursHigher => "ours higher, beyond noise",
            ParityVerdict::OursLower => "ours lower, beyond noise",
            ParityVerdict::TooFewSeeds => "too few seeds to tell",
            ParityVerdict::CannotTell => "cannot tell",
        })
    }
}

/// One epoch's test accuracy (or training loss) of ours against PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    /// The epoch compared.
    pub epoch: u32,
    /// Ours.
    pub ours: Summary,
    /// PyTorch.
    pub pytorch: Summary,
    /// Welch's test of ours against PyTorch: `diff` = mean(ours) - mean(PyTorch).
    pub welch: Comparison,
    /// 95 % interval of the difference, `diff ± t(0.975, df) · se` with Welch's degrees
    /// of freedom and standard error; `None` without a test.
    pub ci95: Option<(f64, f64)>,
    /// What it says.
    pub verdict: ParityVerdict,
}

/// Compares `ours` with `pytorch` (accuracies or losses of one epoch) by [`stats::welch`]; `None`
/// when a side is empty or holds a non-finite value.
pub fn difference(epoch: u32, ours: &[f64], pytorch: &[f64]) -> Option<Difference> {
    let welch = stats::welch(pytorch, ours)?;
    let o = stats::summarize(ours)?;
    let p = stats::summarize(pytorch)?;
    let ci95 = welch.interval(0.95);
    let verdict = match (ci95, welch.verdict) {
        (Some((lo, _)), _) if lo > 0.0 => ParityVerdict::OursHigher,
        (Some((_, hi)), _) if hi < 0.0 => ParityVerdict::OursLower,
        (Some(_), _) => ParityVerdict::WithinNoise,
        (None, Verdict::TooFewTrials) => ParityVerdict::TooFewSeeds,
        (None, _) => ParityVerdict::CannotTell,
    };
    Some(Difference {
        epoch,
        ours: o,
        pytorch: p,
        welch,
        ci95,
        verdict,
    })
}

pub(crate) fn values(curves: &[Curve], epoch: u32, f: impl Fn(&Point) -> f64) -> Vec<f64> {
    curves
        .iter()
        .filter(|c| !c.diverged)
        .filter_map(|c| c.at(epoch).map(&f))
        .collect()
}

impl ArchParity {
    /// One row per epoch, 1 to the settings' epochs.
    pub fn rows(&self) -> Vec<EpochRow> {
        (1..=self.settings.epochs)
            .map(|epoch| {
                let mut lrs: Vec<f64> = Vec::new();
                for p in self
                    .ours
                    .iter()
                    .chain(&self.pytorch)
                    .filter_map(|c| c.at(epoch))
                {
                    if !lrs
                        .iter()
                        .any(|&l| (l - p.lr).abs() <= LR_TOLERANCE * l.abs().max(p.lr.abs()))
                    {
                        lrs.push(p.lr);
                    }
                }
                let summary = |curves: &[Curve], f: fn(&Point) -> f64| {
                    stats::summarize(&values(curves, epoch, f))
                };
                EpochRow {
                    epoch,
                    lrs,
                    ours_accuracy: summary(&self.ours, |p| p.test_accuracy),
                    pytorch_accuracy: summary(&self.pytorch, |p| p.test_accuracy),
                    ours_loss: summary(&self.ours, |p| p.train_loss_mean),
                    pytorch_loss: summary(&self.pytorch, |p| p.train_loss_mean),
                }
            })
            .collect()
    }

    /// The training loss (mean per batch) of `epoch`, ours against PyTorch's (runs that
    /// diverged left out); `None` when a side has no value.
    pub fn loss_difference(&self, epoch: u32) -> Option<Difference> {
        difference(
            epoch,
            &values(&self.ours, epoch, |p| p.train_loss_mean),
            &values(&self.pytorch, epoch, |p| p.train_loss_mean),
        )
    }

    /// The test accuracy after the last epoch, ours against PyTorch's (runs that diverged
    /// left out); `None` when a side has no finished run.
    pub fn final_difference(&self) -> Option<Difference> {
        let epoch = self.settings.epochs;
        difference(
            epoch,
            &values(&self.ours, epoch, |p| p.test_accuracy),
            &values(&self.pytorch, epoch, |p| p.test_accuracy),
        )
    }
}
