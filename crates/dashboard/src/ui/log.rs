//! The log panel: the tail of the focused trial's `train.log` (followed while it runs), or
//! the replicate's output for a trial not started yet.

use super::{fit, theme};
use crate::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Widget};

/// Draws the last lines that fit.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let (title, lines) = app.log();
    let label = app
        .experiment()
        .zip(app.focused())
        .map_or(String::new(), |(e, c)| {
            format!(
                " · {} seed {}",
                e.experiment.variants[c.variant].name, c.seed
            )
        });
    let block = Block::bordered().title(Line::styled(
        format!(" Log{label} · {title} "),
        theme::title(),
    ));
    let inner = block.inner(area);
    let shown: Vec<Line> = lines[lines.len().saturating_sub(usize::from(inner.height))..]
        .iter()
        .map(|l| Line::from(fit(l, inner.width)))
        .collect();
    let paragraph = if shown.is_empty() {
        Paragraph::new(Line::styled("(empty)", theme::dim()))
    } else {
        Paragraph::new(shown)
    };
    paragraph.block(block).render(area, buf);
}
