//! The statistics panel: the report's results table, live.

use super::theme;
use crate::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table, Widget};

/// Draws one row per variant: n, mean ± sd, 95% CI, the study's value, Δ vs baseline, p
/// and the verdict.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::styled(
        " Statistics: final test accuracy % (the report's table, live) ",
        theme::title(),
    ));
    let Some(e) = app.experiment() else {
        block.render(area, buf);
        return;
    };
    let name_w = e
        .stats
        .iter()
        .map(|r| r.variant.chars().count() + 2)
        .max()
        .unwrap_or(7)
        .clamp(7, 20) as u16;
    let header = Row::new([
        "variant".to_string(),
        "n".to_string(),
        "mean ± sd".to_string(),
        "95% CI".to_string(),
        "study".to_string(),
        format!("Δ vs {}", e.experiment.baseline),
        "p".to_string(),
        "verdict".to_string(),
    ])
    .style(theme::title());
    let rows = e.stats.iter().map(|r| {
        let name = if r.settings_differ {
            format!("{} ⚠", r.variant)
        } else {
            r.variant.clone()
        };
        Row::new([
            Cell::from(name),
            Cell::from(r.n.clone()),
            Cell::from(r.accuracy.clone()),
            Cell::from(r.ci.clone()),
            Cell::from(r.study.clone()),
            Cell::from(r.diff.clone()),
            Cell::from(r.p.clone()),
            Cell::from(r.verdict.clone()),
        ])
    });
    let widths = [
        Constraint::Length(name_w),
        Constraint::Length(9),
        Constraint::Length(14),
        Constraint::Length(16),
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    Table::new(rows, widths)
        .header(header)
        .block(block)
        .render(area, buf);
}
