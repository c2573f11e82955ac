//! The data of the live curves panel: one metric of the focused trial against the epoch,
//! over the mean and ±1 sd band of its variant's finished seeds, in the whole history or
//! a recent window. Pure: the view only draws what [`curve_data`] returns.

use ::statistics::band;
use contract::EpochMetrics;
use store::record::TrialRecord;

/// Epochs shown by [`Window::Recent`].
pub const RECENT_EPOCHS: u32 = 10;

/// The metric drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metric {
    /// Test accuracy, percent.
    #[default]
    TestAccuracy,
    /// Mean training loss per batch (the running epoch drawn as it goes).
    TrainLoss,
    /// Test loss.
    TestLoss,
}

impl Metric {
    /// The value of one epoch.
    pub fn of(self, m: &EpochMetrics) -> f64 {
        match self {
            Metric::TestAccuracy => m.test_accuracy,
            Metric::TrainLoss => m.train_loss_mean,
            Metric::TestLoss => m.test_loss,
        }
    }

    /// Its name on screen.
    pub fn title(self) -> &'static str {
        match self {
            Metric::TestAccuracy => "Test accuracy %",
            Metric::TrainLoss => "Train loss",
            Metric::TestLoss => "Test loss",
        }
    }

    /// The next one (the `m` key).
    pub fn next(self) -> Self {
        match self {
            Metric::TestAccuracy => Metric::TrainLoss,
            Metric::TrainLoss => Metric::TestLoss,
            Metric::TestLoss => Metric::TestAccuracy,
        }
    }
}

/// Which epochs are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Window {
    /// Every epoch.
    #[default]
    Full,
    /// The last [`RECENT_EPOCHS`] epochs.
    Recent,
}

impl Window {
    /// Its name on screen.
    pub fn title(self) -> &'static str {
        match self {
            Window::Full => "full history",
            Window::Recent => "recent epochs",
        }
    }

    /// The other one (the `w` key).
    pub fn toggle(self) -> Self {
        match self {
            Window::Full => Window::Recent,
            Window::Recent => Window::Full,
        }
    }
}

/// What the chart draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurveData {
    /// The focused trial: one point per epoch (then its running epoch, for the train loss).
    pub trial: Vec<(f64, f64)>,
    /// Mean of the variant's finished seeds per epoch.
    pub mean: Vec<(f64, f64)>,
    /// Mean − 1 sd.
    pub low: Vec<(f64, f64)>,
    /// Mean + 1 sd.
    pub high: Vec<(f64, f64)>,
    /// Seeds in the band.
    pub seeds: usize,
    /// X range (epochs).
    pub x: [f64; 2],
    /// Y range, padded.
    pub y: [f64; 2],
}

impl CurveData {
    /// Whether there is nothing to draw.
    pub fn is_empty(&self) -> bool {
        self.trial.is_empty() && self.mean.is_empty()
    }
}

/// The curves of `metric` for a trial with `epochs` done (and, while it trains, `running`:
/// `(epoch, fraction, loss so far)`), over the band of `pooled`.
pub fn curve_data(
    metric: Metric,
    window: Window,
    epochs: &[EpochMetrics],
    running: Option<(u32, f64, f64)>,
    planned_epochs: Option<u32>,
    pooled: &[&TrialRecord],
) -> CurveData {
    let mut trial: Vec<(f64, f64)> = epochs
        .iter()
        .map(|m| (f64::from(m.epoch), metric.of(m)))
        .collect();
    if let (Metric::TrainLoss, Some((epoch, fraction, loss))) = (metric, running)
        && loss.is_finite()
        && fraction > 0.0
    {
        trial.push((f64::from(epoch.saturating_sub(1)) + fraction, loss));
    }
    // Per epoch position (the n-th epoch of each seed), as the records hold them.
    let series: Vec<Vec<(u32, f64)>> = pooled
        .iter()
        .map(|r| {
            (1u32..)
                .zip(&r.epochs)
                .map(|(e, m)| (e, metric.of(m)))
                .collect()
        })
        .collect();
    let (points, _) = band(&series);
    let (mut mean, mut low, mut high) = (Vec::new(), Vec::new(), Vec::new());
    let mut seeds = 0;
    for p in &points {
        seeds = seeds.max(p.n);
        let x = f64::from(p.step);
        let sd = p.sd.unwrap_or(0.0);
        mean.push((x, p.mean));
        low.push((x, p.mean - sd));
        high.push((x, p.mean + sd));
    }
    let last = trial
        .iter()
        .chain(&mean)
        .map(|p| p.0)
        .fold(1.0, f64::max)
        .max(f64::from(planned_epochs.unwrap_or(1)));
    let x = match window {
        Window::Full => [1.0, last.max(2.0)],
        Window::Recent => {
            let end = trial.last().map_or(last, |p| p.0.ceil()).max(2.0);
            [(end - f64::from(RECENT_EPOCHS - 1)).max(1.0), end]
        }
    };
    let inside =
        |points: &mut Vec<(f64, f64)>| points.retain(|p| p.0 >= x[0] - 1e-9 && p.0 <= x[1] + 1e-9);
    for points in [&mut trial, &mut mean, &mut low, &mut high] {
        inside(points);
    }
    let (lo, hi) = trial
        .iter()
        .chain(&low)
        .chain(&high)
        .map(|p| p.1)
        .filter(|y| y.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
    let y = if lo > hi {
        [0.0, 1.0]
    } else {
        let pad = ((hi - lo) * 0.05).max(if metric == Metric::TestAccuracy {
            0.5
        } else {
            0.01
        });
        [lo - pad, hi + pad]
    };
    CurveData {
        trial,
        mean,
        low,
        high,
        seeds,
        x,
        y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures as fixture;
    use trainer::TrialConfig;

    #[test]
    fn the_band_is_mean_and_sd_over_seeds() {
        let c = TrialConfig::default();
        let a = fixture::record_with("e", "v", &c, 0, &[70.0, 80.0]);
        let b = fixture::record_with("e", "v", &c, 1, &[72.0, 82.0]);
        let own = [fixture::epoch(1, 71.0)];
        let d = curve_data(
            Metric::TestAccuracy,
            Window::Full,
            &own,
            None,
            Some(2),
            &[&a, &b],
        );
        assert_eq!(d.trial, vec![(1.0, 71.0)]);
        assert_eq!(d.mean, vec![(1.0, 71.0), (2.0, 81.0)]);
        let sd = 2f64.sqrt();
        assert_eq!(d.low[0], (1.0, 71.0 - sd));
        assert_eq!(d.high[1], (2.0, 81.0 + sd));
        assert_eq!(d.seeds, 2);
        assert_eq!(d.x, [1.0, 2.0]);
        assert!(d.y[0] < 71.0 - sd && d.y[1] > 81.0 + sd);
    }

    #[test]
    fn the_train_loss_includes_the_running_epoch() {
        let own = [fixture::epoch(1, 70.0)];
        let d = curve_data(
            Metric::TrainLoss,
            Window::Full,
            &own,
            Some((2, 0.5, 0.75)),
            Some(3),
            &[],
        );
        assert_eq!(d.trial, vec![(1.0, 1.0), (1.5, 0.75)]);
        assert_eq!(d.x, [1.0, 3.0]);
        assert!(d.mean.is_empty());
        let d = curve_data(
            Metric::TestLoss,
            Window::Full,
            &own,
            Some((2, 0.5, 0.75)),
            None,
            &[],
        );
        assert_eq!(
            d.trial,
            vec![(1.0, 1.2)],
            "only the train loss has a live point"
        );
    }

    #[test]
    fn the_recent_window_keeps_the_last_epochs() {
        let own: Vec<_> = (1..=25).map(|e| fixture::epoch(e, f64::from(e))).collect();
        let d = curve_data(
            Metric::TestAccuracy,
            Window::Recent,
            &own,
            None,
            Some(30),
            &[],
        );
        assert_eq!(d.x, [16.0, 25.0]);
        assert_eq!(d.trial.len(), 10);
        assert_eq!(d.trial[0], (16.0, 16.0));
        let d = curve_data(
            Metric::TestAccuracy,
            Window::Full,
            &own,
            None,
            Some(30),
            &[],
        );
        assert_eq!(d.x, [1.0, 30.0]);
        assert_eq!(d.trial.len(), 25);
    }

    #[test]
    fn empty_data_has_sane_ranges() {
        let d = curve_data(Metric::TestLoss, Window::Full, &[], None, None, &[]);
        assert!(d.is_empty());
        assert_eq!(d.x, [1.0, 2.0]);
        assert_eq!(d.y, [0.0, 1.0]);
    }

    #[test]
    fn metrics_and_windows_cycle() {
        assert_eq!(Metric::default().next().next().next(), Metric::default());
        assert_eq!(Window::Full.toggle().toggle(), Window::Full);
    }
}
