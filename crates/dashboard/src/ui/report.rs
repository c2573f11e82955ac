//! The report panel: `reports/<name>.md` as text, scrollable both ways.

use super::theme;
use crate::app::ReportView;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget};

/// Draws the visible part of the report; headings are bold.
pub fn render(view: &ReportView, area: Rect, buf: &mut Buffer) {
    let height = usize::from(area.height.saturating_sub(2));
    let first = view.scroll.min(view.lines.len());
    let last = (first + height).min(view.lines.len());
    let title = format!(
        " Report {} · lines {}–{} of {} ",
        view.path.display(),
        if last > first { first + 1 } else { first },
        last,
        view.lines.len()
    );
    let lines: Vec<Line> = view.lines[first..last]
        .iter()
        .map(|l| {
            let visible: String = l.chars().skip(view.pan).collect();
            if l.starts_with('#') {
                Line::styled(visible, theme::title())
            } else {
                Line::from(visible)
            }
        })
        .collect();
    Paragraph::new(lines)
        .block(Block::bordered().title(Line::styled(title, theme::title())))
        .render(area, buf);
}
