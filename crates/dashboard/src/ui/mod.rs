//! Drawing: `impl Widget for &App` lays the screen out and hands each panel to its view.
//! Views only read the [`App`]; each is a function from state to cells in a buffer, so the
//! rendering tests can draw into a `TestBackend` and compare whole buffers.
//!
//! ```text
//!  header: title, store, message
//! ┌ Experiments ──────┐┌ Grid: variants × seeds ───────────────┐
//! └───────────────────┘└───────────────────────────────────────┘
//! ┌ Statistics (the report's table, live) ─────────────────────┐
//! └────────────────────────────────────────────────────────────┘
//! ┌ Curves ───────────────────────┐┌ Progress ─────────────────┐
//! │                               │└───────────────────────────┘
//! │                               │┌ Log ──────────────────────┐
//! └───────────────────────────────┘└───────────────────────────┘
//!  help: the keys
//! ```

mod curves;
mod experiments;
mod grid;
mod log;
mod progress;
mod prompt;
mod report;
mod stats;
pub mod theme;

use crate::app::{App, Mode};
use ::progress::format::truncate;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// The smallest terminal the dashboard draws in.
pub const MIN_WIDTH: u16 = 80;
/// The smallest terminal the dashboard draws in.
pub const MIN_HEIGHT: u16 = 24;

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            too_small(area, buf);
            return;
        }
        let [header, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        render_header(self, header, buf);
        match &self.mode {
            Mode::Report(view) => report::render(view, body, buf),
            _ => render_dashboard(self, body, buf),
        }
        render_help(self, footer, buf);
        if let Mode::Confirm(prompt) = &self.mode {
            prompt::render(self, prompt, body, buf);
        }
    }
}

/// The message shown instead of the dashboard when the terminal is too small.
fn too_small(area: Rect, buf: &mut Buffer) {
    let lines = vec![
        Line::styled("Terminal too small", theme::title()),
        Line::from(format!(
            "{}×{}: needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("(q quits)"),
    ];
    let top = area.height.saturating_sub(lines.len() as u16) / 2;
    let inner = Rect {
        y: area.y + top,
        height: area.height - top,
        ..area
    };
    Paragraph::new(lines)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true })
        .render(inner, buf);
}

fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = vec![
        Span::styled(" harness tui", theme::title()),
        Span::styled("  store ", theme::dim()),
        Span::raw(app.runs().display().to_string()),
    ];
    let jobs: Vec<String> = app
        .jobs
        .iter()
        .map(|j| format!("{} {} (pid {})", j.task.name(), j.experiment, j.child.id()))
        .collect();
    if !jobs.is_empty() {
        spans.push(Span::styled("  running here: ", theme::dim()));
        spans.push(Span::raw(jobs.join(", ")));
    }
    if let Some(message) = &app.message {
        spans.push(Span::styled("  │ ", theme::dim()));
        spans.push(Span::styled(message.clone(), theme::title()));
    }
    if app.debug {
        let f = &app.frames;
        spans.push(Span::styled(
            format!(
                "  │ frame {:.2} ms (mean {:.2}, max {:.2}, n {})",
                f.last.as_secs_f64() * 1e3,
                f.mean().as_secs_f64() * 1e3,
                f.max.as_secs_f64() * 1e3,
                f.frames
            ),
            theme::dim(),
        ));
    }
    Line::from(spans).render(area, buf);
}

/// The keys of the current mode, as `key description` pairs.
pub fn help_keys(mode: &Mode) -> &'static [(&'static str, &'static str)] {
    match mode {
        Mode::Normal => &[
            ("q", "quit"),
            ("Tab", "panel"),
            ("↑↓←→", "move"),
            ("f", "follow"),
            ("m", "metric"),
            ("w", "window"),
            ("r", "run/resume"),
            ("s", "stop"),
            ("o", "report"),
            ("g", "regenerate"),
            ("d", "timing"),
        ],
        Mode::Report(_) => &[
            ("↑↓ PgUp PgDn Home End", "scroll"),
            ("←→", "pan"),
            ("g", "regenerate"),
            ("Esc", "close"),
        ],
        Mode::Confirm(_) => &[("Esc", "cancel")],
    }
}

fn render_help(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(" ")];
    for (key, what) in help_keys(&app.mode) {
        spans.push(Span::styled(*key, theme::key()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    Line::from(spans).render(area, buf);
}

fn render_dashboard(app: &App, body: Rect, buf: &mut Buffer) {
    let entries = app.watcher.entries.len() as u16;
    let variants = app
        .experiment()
        .map_or(1, |e| e.experiment.variants.len() as u16);
    let bottom_min = 10;
    let spare = body.height.saturating_sub(bottom_min);
    let top_h = (3 + entries.max(variants)).min((spare / 2).max(5));
    let stats_h = (3 + variants).min(spare.saturating_sub(top_h).max(4));
    let [top, stats_area, bottom] = Layout::vertical([
        Constraint::Length(top_h),
        Constraint::Length(stats_h),
        Constraint::Min(0),
    ])
    .areas(body);
    let left_w = (body.width * 2 / 5).clamp(36, 46);
    let [list, grid_area] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Min(0)]).areas(top);
    let curves_share = if body.width >= 100 { 55 } else { 50 };
    let [curves_area, right] = Layout::horizontal([
        Constraint::Percentage(curves_share),
        Constraint::Percentage(100 - curves_share),
    ])
    .areas(bottom);
    let [progress_area, log_area] =
        Layout::vertical([Constraint::Length(7), Constraint::Min(0)]).areas(right);
    experiments::render(app, list, buf);
    grid::render(app, grid_area, buf);
    stats::render(app, stats_area, buf);
    curves::render(app, curves_area, buf);
    progress::render(app, progress_area, buf);
    log::render(app, log_area, buf);
}

/// `text` fitted to `width` cells (cut with `…`).
fn fit(text: &str, width: u16) -> String {
    truncate(text, usize::from(width))
}
