//! The live curves: the focused trial's metric against the epoch, over the mean and ±1 sd
//! band of its variant's finished seeds.

use super::theme;
use crate::app::App;
use crate::curves::{CurveData, Metric, curve_data};
use progress::trial::Phase;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, LegendPosition, Paragraph, Widget};
use store::TrialStatus;

/// The chart's data for the focused trial, and the trial's label.
pub fn focused_curves(app: &App) -> Option<(String, CurveData)> {
    let e = app.experiment()?;
    let cell = app.focused()?;
    let variant = &e.experiment.variants[cell.variant];
    let pooled = e.pooled_records(cell.variant);
    let label = format!("{} seed {}", variant.name, cell.seed);
    let data = match cell.state {
        TrialStatus::Running => {
            let live = app.watcher.live(&cell.id);
            let progress = live.map(|l| &l.progress);
            let running = progress.and_then(|p| match p.phase {
                Phase::Training { loss, .. } => Some((p.epoch, p.epoch_fraction(), loss)),
                _ => None,
            });
            curve_data(
                app.metric,
                app.window,
                progress.map_or(&[][..], |p| &p.epochs),
                running,
                Some(variant.trial.epochs),
                &pooled,
            )
        }
        TrialStatus::Done | TrialStatus::Diverged => curve_data(
            app.metric,
            app.window,
            e.record(&cell.id).map_or(&[][..], |r| &r.epochs),
            None,
            Some(variant.trial.epochs),
            &pooled,
        ),
        TrialStatus::Pending | TrialStatus::Queued | TrialStatus::Failed => curve_data(
            app.metric,
            app.window,
            &[],
            None,
            Some(variant.trial.epochs),
            &pooled,
        ),
    };
    Some((label, data))
}

fn axis_number(metric: Metric, y: f64) -> String {
    match metric {
        Metric::TestAccuracy => format!("{y:.1}"),
        _ => format!("{y:.3}"),
    }
}

/// Draws the chart, or says there is nothing to draw yet.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let focused = focused_curves(app);
    let label = focused
        .as_ref()
        .map_or(String::new(), |(l, _)| format!(" · {l}"));
    let title = format!(" {}{label} · {} ", app.metric.title(), app.window.title());
    let block = Block::bordered().title(Line::styled(title, theme::title()));
    let Some((_, data)) = focused.filter(|(_, d)| !d.is_empty()) else {
        Paragraph::new("no epochs yet")
            .style(theme::dim())
            .alignment(Alignment::Center)
            .block(block)
            .render(area, buf);
        return;
    };
    let band_name = format!("mean ±1 sd, n={}", data.seeds);
    let mut datasets = Vec::new();
    for (points, name) in [
        (&data.low, None),
        (&data.high, None),
        (&data.mean, Some(band_name)),
    ] {
        if points.is_empty() {
            continue;
        }
        let style = if name.is_some() {
            ratatui::style::Style::new()
        } else {
            theme::dim()
        };
        let mut d = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(style)
            .data(points);
        if let Some(name) = name {
            d = d.name(name);
        }
        datasets.push(d);
    }
    if !data.trial.is_empty() {
        datasets.push(
            Dataset::default()
                .name("this trial")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(theme::trial_curve())
                .data(&data.trial),
        );
        // Dots on the trial's epochs, over the lines, so a single epoch shows too.
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Scatter)
                .style(theme::trial_curve())
                .data(&data.trial),
        );
    }
    let [x0, x1] = data.x;
    let x_labels = if x1 - x0 >= 2.0 {
        vec![
            format!("{x0:.0}"),
            format!("{:.0}", (x0 + x1) / 2.0),
            format!("{x1:.0}"),
        ]
    } else {
        vec![format!("{x0:.0}"), format!("{x1:.0}")]
    };
    let [y0, y1] = data.y;
    let legend = match app.metric {
        Metric::TestAccuracy => LegendPosition::BottomRight,
        _ => LegendPosition::TopRight,
    };
    Chart::new(datasets)
        .block(block)
        .x_axis(
            Axis::default()
                .title(Line::styled("epoch", theme::dim()))
                .bounds(data.x)
                .labels(x_labels),
        )
        .y_axis(
            Axis::default()
                .bounds(data.y)
                .labels([axis_number(app.metric, y0), axis_number(app.metric, y1)]),
        )
        .legend_position(Some(legend))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
        .render(area, buf);
}
