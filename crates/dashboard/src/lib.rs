//! `harness tui`: the live dashboard of whole experiments, over the run store.
//!
//! The dashboard only reads the store (plus the stop requests it writes through
//! [`store::Store::request_stop`]), so it attaches to trials run by a `harness
//! replicate` in another terminal, or on another machine writing to the same store, by
//! following their files:
//!
//! - [`watch::Watcher`] lists the store's folders once a second ([`scan`]) and follows the
//!   running trials' `events.jsonl` and `train.log` by byte offset ([`tail`]), reading
//!   only what was appended;
//! - [`app::App`] holds the state and handles keys; [`App::update`] catches up with the
//!   store and with the processes the dashboard started ([`launch`]);
//! - [`ui`] draws `&App` as a ratatui `Widget`; the numbers it shows come from pure,
//!   tested functions ([`plan_progress`], [`curves`], [`statistics`]; the progress and ETA model and the text formatters are the `progress` crate's, shared with the command line).
//!
//! [`run`] is the event loop on any ratatui backend; [`run_in_terminal`] sets the real
//! terminal up, and always restores it: on quit, on error and on panic.

pub mod app;
pub mod curves;
pub mod launch;
pub mod plan_progress;
pub mod scan;
pub mod statistics;
pub mod tail;
pub mod ui;
pub mod watch;

pub use app::{App, Exit, Options};
pub use launch::{Launcher, Task, TaskArgs};

use ratatui::Terminal;
use ratatui::backend::Backend;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Errors that end the dashboard.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Standard input or output is not a terminal.
    #[error("harness tui needs an interactive terminal (stdin and stdout must be a tty)")]
    NotATerminal,
    /// No experiment file was given and the config folder has none.
    #[error(
        "no experiment files: name some (harness tui CONFIG...) or run where configs/*.ron are"
    )]
    NoExperiments,
    /// Reading keys or drawing failed.
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Where the event loop gets terminal events from.
pub trait Events {
    /// The next event, waiting at most `timeout`; `None` when none came.
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<crossterm::event::Event>>;
}

/// The terminal's events, through crossterm.
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminalEvents;

/// Waits at most `timeout` for input on the terminal (standard input). `Err` when the
/// terminal has gone away (hang-up, error: its tmux server or ssh session ended), which
/// crossterm alone would report as endless readiness, spinning a core.
fn wait_for_input(timeout: Duration) -> std::io::Result<bool> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    match poll(&mut fds, ms) {
        // A signal (SIGTERM, SIGHUP): back to the loop, which sees the shutdown flag.
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
        Ok(n) => {
            let gone = PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL;
            if fds[0].revents().is_some_and(|r| r.intersects(gone)) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the terminal went away",
                ));
            }
            Ok(n > 0)
        }
    }
}

impl Events for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> std::io::Result<Option<crossterm::event::Event>> {
        // The terminal's state first, then what crossterm has buffered, then wait.
        let ready = wait_for_input(Duration::ZERO)?
            || crossterm::event::poll(Duration::ZERO)?
            || wait_for_input(timeout)?;
        if ready && crossterm::event::poll(Duration::ZERO)? {
            crossterm::event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Runs the dashboard on `terminal` until the user quits: it catches up with the store,
/// draws when something changed, and waits for a key at most [`Options::tick`].
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    options: Options,
) -> Result<Exit, DashboardError> {
    let mut app = App::new(options);
    if app.watcher.entries.is_empty() {
        return Err(DashboardError::NoExperiments);
    }
    run_app(terminal, &mut app, &mut TerminalEvents)
}

/// The event loop over an existing [`App`] and any event source.
pub fn run_app<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &mut dyn Events,
) -> Result<Exit, DashboardError> {
    let mut dirty = true;
    loop {
        dirty |= app.update(Instant::now());
        if let Some(exit) = app.take_exit() {
            return Ok(exit);
        }
        if dirty {
            let start = Instant::now();
            terminal.draw(|frame| frame.render_widget(&*app, frame.area()))?;
            app.frames.record(start.elapsed());
            dirty = false;
        }
        if let Some(event) = events.next(app.tick)? {
            dirty |= app.on_event(&event);
            // Take whatever else is queued before drawing again.
            while let Some(event) = events.next(Duration::ZERO)? {
                dirty |= app.on_event(&event);
                if app.exit_pending() {
                    break;
                }
            }
        }
        if let Some(exit) = app.take_exit() {
            return Ok(exit);
        }
    }
}

/// Runs the dashboard in the process's terminal (alternate screen, raw mode). The
/// terminal is restored however it ends: normally, with an error, or by a panic (the
/// panic hook restores it before the message is printed).
pub fn run_in_terminal(options: Options) -> Result<Exit, DashboardError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(DashboardError::NotATerminal);
    }
    let mut app = App::new(options);
    if app.watcher.entries.is_empty() {
        return Err(DashboardError::NoExperiments);
    }
    let mut terminal = ratatui::try_init()?;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
        hook(info);
    }));
    let result = run_app(&mut terminal, &mut app, &mut TerminalEvents);
    let restored = ratatui::try_restore();
    let _ = terminal.show_cursor();
    let exit = result?;
    restored?;
    Ok(exit)
}
