//! The grid of the selected experiment: variants × seeds, each cell's state and final
//! accuracy, the running cells' epoch.

use super::theme;
use crate::app::{App, Focus};
use crate::scan::Cell as GridCell;
use crate::watch::LiveTrial;
use contract::Status;
use progress::trial::Phase;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};
use store::TrialStatus;
use store::record::TrialRecord;

/// Width of a seed column.
const COLUMN: u16 = 10;

/// The text of one cell: symbol and final accuracy, epoch, or state.
pub fn cell_text(
    cell: &GridCell,
    record: Option<&TrialRecord>,
    live: Option<&LiveTrial>,
) -> String {
    let symbol = theme::symbol(cell.state);
    match cell.state {
        TrialStatus::Done => match record.and_then(|r| r.final_accuracy) {
            Some(acc) => format!("{symbol} {acc:.2}"),
            None => format!("{symbol} done"),
        },
        TrialStatus::Diverged => match record.map(|r| &r.status) {
            Some(Status::Diverged { epoch, .. }) => format!("{symbol} div e{epoch}"),
            _ => format!("{symbol} diverged"),
        },
        TrialStatus::Running => match live.map(|l| &l.progress) {
            Some(p) if p.epoch > 0 => {
                let of = p
                    .planned_epochs()
                    .map_or(String::new(), |n| format!("/{n}"));
                let eval = if p.phase == Phase::Evaluating {
                    " ev"
                } else {
                    ""
                };
                format!("{symbol} e{}{of}{eval}", p.epoch)
            }
            _ => format!("{symbol} start"),
        },
        TrialStatus::Failed => format!("{symbol} failed"),
        TrialStatus::Pending | TrialStatus::Queued => symbol.to_string(),
    }
}

/// Draws the grid, or why the experiment file does not load. Columns scroll to keep the
/// cursor visible.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(entry) = app.watcher.entries.get(app.selected) else {
        Paragraph::new("no experiment files")
            .block(Block::bordered().title(" Grid "))
            .render(area, buf);
        return;
    };
    let e = match &entry.state {
        Ok(e) => e,
        Err(message) => {
            Paragraph::new(message.as_str())
                .style(theme::error())
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(Line::styled(
                    format!(" {}: cannot load ", entry.path.display()),
                    theme::error(),
                )))
                .render(area, buf);
            return;
        }
    };
    let title = format!(
        " {} · {}: variants × seeds ",
        e.experiment.name, e.experiment.title
    );
    let block = Block::bordered().title(Line::styled(title, theme::title()));
    let inner = block.inner(area);
    let name_w = e
        .experiment
        .variants
        .iter()
        .map(|v| v.name.chars().count() + 2 + if v.trial.precision.is_fp32() { 0 } else { 7 })
        .max()
        .unwrap_or(8)
        .clamp(10, 20) as u16;
    let fit = (inner.width.saturating_sub(name_w + 1) / (COLUMN + 1)).max(1) as usize;
    let first = app.cursor.1.saturating_sub(fit - 1);
    let cols: Vec<usize> = (first..e.seeds.len()).take(fit).collect();
    let more_left = first > 0;
    let more_right = cols.last().is_some_and(|&c| c + 1 < e.seeds.len());

    let mut header = vec![Cell::from(if more_left {
        "variant ‹"
    } else {
        "variant"
    })];
    header.extend(cols.iter().map(|&c| {
        let last = Some(&c) == cols.last() && more_right;
        Cell::from(format!(
            "seed {}{}",
            e.seeds[c],
            if last { " ›" } else { "" }
        ))
    }));
    let rows = e
        .experiment
        .variants
        .iter()
        .enumerate()
        .map(|(v, variant)| {
            let mut spans = vec![Span::raw(variant.name.clone())];
            // A precision other than the default is shown beside the name.
            if !variant.trial.precision.is_fp32() {
                spans.push(Span::styled(
                    format!(" [{}]", variant.trial.precision),
                    theme::dim(),
                ));
            }
            if variant.name == e.experiment.baseline {
                spans.push(Span::styled(" *", theme::dim()));
            }
            let name = Line::from(spans);
            let mut cells = vec![Cell::from(name)];
            for &c in &cols {
                let Some(cell) = e.cell(v, c) else { continue };
                let text = if e.is_left_out(cell) {
                    format!("{} not run", theme::LEFT_OUT)
                } else {
                    cell_text(cell, e.record(&cell.id), app.watcher.live(&cell.id))
                };
                let mut style = theme::state(cell.state);
                if (v, c) == app.cursor {
                    style = style.patch(if app.focus == Focus::Grid {
                        theme::selected()
                    } else {
                        theme::selected_unfocused()
                    });
                }
                cells.push(Cell::from(Line::styled(text, style)));
            }
            Row::new(cells)
        });
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(cols.iter().map(|_| Constraint::Length(COLUMN)));
    Table::new(rows, widths)
        .header(Row::new(header).style(theme::title()))
        .block(block)
        .render(area, buf);
}
