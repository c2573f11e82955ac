//! Questions, drawn in a box over the dashboard.

use super::theme;
use crate::app::{App, Prompt};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

fn choice(key: &str, what: &str) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("[{key}]"), theme::key()),
        Span::raw(format!(" {what}   ")),
    ]
}

/// The lines of a question.
pub fn lines(app: &App, prompt: &Prompt) -> Vec<Line<'static>> {
    match prompt {
        Prompt::Quit => {
            let mut lines = vec![Line::from("A replicate started here is still running:")];
            for job in app
                .jobs
                .iter()
                .filter(|j| j.task == crate::launch::Task::Replicate)
            {
                lines.push(Line::from(format!(
                    "  {} (pid {})",
                    job.experiment,
                    job.child.id()
                )));
            }
            lines.push(Line::from(""));
            lines.push(Line::from(choice("l", "leave it running and quit")));
            lines.push(Line::from(
                [
                    choice("e", "stop after this epoch, quit"),
                    choice("x", "stop now, quit"),
                ]
                .concat(),
            ));
            lines.push(Line::from(choice("Esc", "stay")));
            lines
        }
        Prompt::Stop { experiment } => vec![
            Line::from(format!(
                "Stop the run of {experiment}? (also reaches replicates started elsewhere)"
            )),
            Line::from(""),
            Line::from(
                [
                    choice("e", "after the current epoch"),
                    choice("x", "now"),
                    choice("Esc", "cancel"),
                ]
                .concat(),
            ),
        ],
        Prompt::Train { entry } => {
            let Some((name, trials, estimate, store)) = app.training_summary(*entry) else {
                return vec![Line::from("this experiment file does not load")];
            };
            let estimate = estimate.map_or_else(
                || "no estimate yet: replicate calibrates and says it first".to_string(),
                |s| {
                    format!(
                        "about {} on this machine",
                        progress::format::human(std::time::Duration::from_secs_f64(s))
                    )
                },
            );
            vec![
                Line::from(format!(
                    "Train {trials} trial(s) of {name} into the store {}?",
                    store.display()
                )),
                Line::from(format!("({estimate})")),
                Line::from(""),
                Line::from([choice("y", "start"), choice("n", "cancel")].concat()),
            ]
        }
        Prompt::StartAnyway { entry } => {
            let (name, running) = app
                .watcher
                .experiment(*entry)
                .map_or((String::new(), 0), |e| {
                    (e.experiment.name.clone(), e.counts.running)
                });
            vec![
                Line::from(format!(
                    "{running} trial(s) of {name} are running already, started by another process."
                )),
                Line::from("Start another replicate beside it? It takes the trials still free."),
                Line::from(""),
                Line::from([choice("y", "yes, start"), choice("n", "no")].concat()),
            ]
        }
    }
}

/// Draws the question centred in `area`.
pub fn render(app: &App, prompt: &Prompt, area: Rect, buf: &mut Buffer) {
    let lines = lines(app, prompt);
    let width = area.width.saturating_sub(4).min(72);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    Clear.render(popup, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .alignment(Alignment::Left)
        .block(Block::bordered().title(Line::styled(" Confirm ", theme::title())))
        .render(popup, buf);
}
