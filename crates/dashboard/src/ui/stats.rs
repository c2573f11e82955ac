//! The statistics panel: the report's results table, live.

use super::theme;
use crate::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table, Widget};

/// Draws one row per variant: n, mean ± sd, 95% CI, the study's value, Δ vs baseline,
/// the Holm-adjusted p, P(variant > baseline) and the verdict.
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
    // Narrow terminals drop the confidence interval (mean, sd and n give it) and then
    // P(>) so the verdict keeps its words.
    let inner = block.inner(area).width;
    let with_ci = inner >= 100;
    let with_prob = inner >= 86;
    let diff_title = format!("Δ vs {}", e.experiment.baseline);
    let mut titles = vec![
        "variant",
        "n",
        "mean ± sd",
        "95% CI",
        "study",
        diff_title.as_str(),
        "p adj",
        "P(>)",
        "verdict",
    ];
    let mut widths = vec![
        Constraint::Length(name_w),
        Constraint::Length(8),
        Constraint::Length(13),
        Constraint::Length(14),
        Constraint::Length(5),
        Constraint::Length(diff_title.chars().count().max(6) as u16),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    if !with_prob {
        titles.remove(7);
        widths.remove(7);
    }
    if !with_ci {
        titles.remove(3);
        widths.remove(3);
    }
    let header = Row::new(titles.into_iter().map(Cell::from)).style(theme::title());
    let rows = e.stats.iter().map(|r| {
        let name = if r.settings_differ {
            format!("{} ⚠", r.variant)
        } else {
            r.variant.clone()
        };
        let mut cells = vec![
            name,
            r.n.clone(),
            r.accuracy.clone(),
            r.ci.clone(),
            r.study.clone(),
            r.diff.clone(),
            r.p.clone(),
            r.prob.clone(),
            r.verdict.clone(),
        ];
        if !with_prob {
            cells.remove(7);
        }
        if !with_ci {
            cells.remove(3);
        }
        Row::new(cells.into_iter().map(Cell::from))
    });
    Table::new(rows, widths)
        .header(header)
        .block(block)
        .render(area, buf);
}
