//! The few styles the dashboard uses, in one place. Text keeps the terminal's own
//! foreground and background; only states get a named colour (chosen to read on light and
//! dark themes alike), and every state also has a symbol, so nothing depends on colour.
//! Selection is reversed video.

use ratatui::style::{Color, Modifier, Style};
use store::TrialStatus;

/// Panel titles and table headers.
pub fn title() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Secondary text (units, zero counts, pending trials).
pub fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

/// The selected row or cell in the panel that has the focus.
pub fn selected() -> Style {
    Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
}

/// The selected row or cell of a panel without the focus.
pub fn selected_unfocused() -> Style {
    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
}

/// Keys in the help line.
pub fn key() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Errors and warnings.
pub fn error() -> Style {
    Style::new().fg(Color::Red)
}

/// The focused trial's curve (the same colour as running trials).
pub fn trial_curve() -> Style {
    Style::new().fg(Color::Magenta)
}

/// A trial state's style.
pub fn state(state: TrialStatus) -> Style {
    match state {
        TrialStatus::Done => Style::new().fg(Color::Green),
        TrialStatus::Running => Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        TrialStatus::Diverged | TrialStatus::Failed => Style::new().fg(Color::Red),
        TrialStatus::Pending | TrialStatus::Queued => dim(),
    }
}

/// The symbol of an unstarted trial of a variant left out as too slow for the machine.
pub const LEFT_OUT: &str = "–";

/// A trial state's symbol.
pub fn symbol(state: TrialStatus) -> &'static str {
    match state {
        TrialStatus::Done => "✓",
        TrialStatus::Running => "▶",
        TrialStatus::Diverged => "!",
        TrialStatus::Failed => "✗",
        TrialStatus::Pending => "·",
        TrialStatus::Queued => "…",
    }
}
