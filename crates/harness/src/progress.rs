//! Terminal output of running trials: a redrawn status line on a terminal, plain lines
//! otherwise (and always for the lines that matter: epochs, latency, the end).

use experiment::trial_run::describe;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};
use trainer::Event;

/// `mm:ss` or `h:mm:ss`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A text bar of `width` cells, `done` of `total` filled.
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(0).min(width);
    format!("{}{}", "#".repeat(filled), ".".repeat(width - filled))
}

/// Prints events for one or more trials.
pub struct Printer {
    tty: bool,
    line_open: bool,
    epoch_started: Option<Instant>,
}

impl Printer {
    /// Interactive when stdout is a terminal.
    pub fn new() -> Self {
        Printer {
            tty: std::io::stdout().is_terminal(),
            line_open: false,
            epoch_started: None,
        }
    }

    /// Prints a whole line (closing any status line first).
    pub fn line(&mut self, text: &str) {
        let mut out = std::io::stdout().lock();
        if self.line_open {
            let _ = write!(out, "\r\x1b[2K");
            self.line_open = false;
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Redraws the status line (terminals only).
    pub fn status(&mut self, text: &str) {
        if !self.tty {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K{text}");
        let _ = out.flush();
        self.line_open = true;
    }

    /// Shows one event, with `prefix` (e.g. the trial's short id) before plain lines and
    /// `suffix` (e.g. the plan's ETA) after the status line.
    pub fn event(&mut self, prefix: &str, event: &Event, suffix: &str) {
        match event {
            Event::Batch {
                epoch,
                batch,
                batches,
                loss,
                images_per_s,
            } => {
                let left = self.epoch_started.map_or(String::new(), |t| {
                    let per_batch = t.elapsed().as_secs_f64() / (*batch).max(1) as f64;
                    let rest = per_batch * (batches - batch) as f64;
                    format!(" ETA {}", format_duration(Duration::from_secs_f64(rest)))
                });
                self.status(&format!(
                    "{prefix}epoch {epoch} [{}] {batch}/{batches} loss {loss:.4} {images_per_s:.0} img/s{left}{suffix}",
                    bar(*batch, *batches, 24)
                ));
            }
            Event::EpochStarted { .. } => {
                self.epoch_started = Some(Instant::now());
            }
            Event::Evaluating { epoch } => {
                self.status(&format!("{prefix}epoch {epoch} evaluating...{suffix}"));
            }
            other => {
                if let Some(text) = describe(other) {
                    self.line(&format!("{prefix}{text}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_bars() {
        assert_eq!(format_duration(Duration::from_secs(59)), "0:59");
        assert_eq!(format_duration(Duration::from_secs(3671)), "1:01:11");
        assert_eq!(bar(5, 10, 10), "#####.....");
        assert_eq!(bar(0, 0, 4), "....");
        assert_eq!(bar(20, 10, 4), "####");
    }
}
