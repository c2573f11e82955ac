//! The experiment list: every experiment file with its trial counts.

use super::theme;
use crate::app::{App, Focus};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Row, Table, Widget};

const HEADER: [&str; 5] = ["done", "run", "pend", "fail", "div"];

fn count(n: usize) -> Cell<'static> {
    let line = Line::from(n.to_string()).alignment(Alignment::Right);
    Cell::from(if n == 0 {
        line.style(theme::dim())
    } else {
        line
    })
}

/// Draws the list; it scrolls to keep the selected experiment visible.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::styled(" Experiments ", theme::title()));
    let visible = usize::from(block.inner(area).height.saturating_sub(1)).max(1);
    let offset = app.selected.saturating_sub(visible - 1);
    let rows = app
        .watcher
        .entries
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, entry)| {
            let mut cells = vec![Cell::from(entry.name())];
            match &entry.state {
                Ok(e) => {
                    let c = e.counts;
                    cells.extend([c.done, c.running, c.pending, c.failed, c.diverged].map(count));
                }
                Err(_) => cells.push(Cell::from(Line::styled("file error", theme::error()))),
            }
            let row = Row::new(cells);
            if i != app.selected {
                row
            } else if app.focus == Focus::Experiments {
                row.style(theme::selected())
            } else {
                row.style(theme::selected_unfocused())
            }
        });
    let header = Row::new(
        std::iter::once(Cell::from("name")).chain(
            HEADER
                .iter()
                .map(|h| Cell::from(Line::from(*h).alignment(Alignment::Right))),
        ),
    )
    .style(theme::title());
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
    ];
    Table::new(rows, widths)
        .header(header)
        .block(block)
        .render(area, buf);
}
