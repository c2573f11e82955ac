//! Keys: what each one does in each [`Mode`].

use super::{App, Exit, Focus, Mode, Prompt, ReportView};
use crate::launch::Task;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use store::StopRequest;

impl App {
    /// Handles one terminal event; returns whether the screen changed.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                self.on_key(*key);
                true
            }
            Event::Resize(..) => true,
            _ => false,
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) {
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        match self.mode.clone() {
            Mode::Confirm(prompt) => self.on_prompt_key(prompt, key.code, ctrl_c),
            Mode::Report(view) => self.on_report_key(view, key.code, ctrl_c),
            Mode::Normal => self.on_normal_key(key.code, ctrl_c),
        }
    }

    fn on_normal_key(&mut self, code: KeyCode, ctrl_c: bool) {
        if ctrl_c {
            return self.quit();
        }
        match code {
            KeyCode::Char('q') => self.quit(),
            KeyCode::Tab | KeyCode::BackTab => {
                self.focus = match self.focus {
                    Focus::Experiments => Focus::Grid,
                    Focus::Grid => Focus::Experiments,
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_vertical(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_vertical(1),
            KeyCode::Left | KeyCode::Char('h') => self.move_column(-1),
            KeyCode::Right | KeyCode::Char('l') => self.move_column(1),
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                self.message = Some(format!(
                    "follow {}",
                    if self.follow {
                        "on: the cursor stays on a running trial"
                    } else {
                        "off"
                    }
                ));
            }
            KeyCode::Char('m') => self.metric = self.metric.next(),
            KeyCode::Char('w') => self.window = self.window.toggle(),
            KeyCode::Char('d') => self.debug = !self.debug,
            KeyCode::Char('r') => self.start_replicate(self.selected, false),
            KeyCode::Char('s') => self.ask_stop(),
            KeyCode::Char('o') => self.open_report(),
            KeyCode::Char('g') => self.regenerate_report(),
            KeyCode::Esc => self.message = None,
            _ => {}
        }
    }

    fn move_vertical(&mut self, delta: isize) {
        match self.focus {
            Focus::Experiments => {
                let n = self.watcher.entries.len();
                let next = step(self.selected, delta, n);
                if next != self.selected {
                    self.selected = next;
                    self.cursor = (0, 0);
                    self.follow = true;
                }
            }
            Focus::Grid => {
                let rows = self.experiment().map_or(0, |e| e.experiment.variants.len());
                self.cursor.0 = step(self.cursor.0, delta, rows);
                self.follow = false;
            }
        }
    }

    fn move_column(&mut self, delta: isize) {
        let cols = self.experiment().map_or(0, |e| e.seeds.len());
        self.cursor.1 = step(self.cursor.1, delta, cols);
        self.follow = false;
    }

    fn quit(&mut self) {
        if self.jobs.iter().any(|j| j.task == Task::Replicate) {
            self.mode = Mode::Confirm(Prompt::Quit);
        } else {
            self.exit = Some(Exit::default());
        }
    }

    fn on_prompt_key(&mut self, prompt: Prompt, code: KeyCode, ctrl_c: bool) {
        if ctrl_c || matches!(code, KeyCode::Esc) {
            self.mode = Mode::Normal;
            return;
        }
        match (prompt, code) {
            (Prompt::StartAnyway { entry }, KeyCode::Char('y')) => {
                self.mode = Mode::Normal;
                self.start_replicate(entry, true);
            }
            (Prompt::StartAnyway { .. }, KeyCode::Char('n')) => self.mode = Mode::Normal,
            (Prompt::Train { entry }, KeyCode::Char('y')) => {
                self.mode = Mode::Normal;
                self.start_replicate(entry, true);
            }
            (Prompt::Train { .. }, KeyCode::Char('n')) => self.mode = Mode::Normal,
            (Prompt::Stop { experiment }, KeyCode::Char(c @ ('e' | 'x'))) => {
                self.mode = Mode::Normal;
                let request = if c == 'e' {
                    StopRequest::AfterEpoch
                } else {
                    StopRequest::Now
                };
                self.stop(&experiment, request);
            }
            (Prompt::Stop { .. }, KeyCode::Char('n')) => self.mode = Mode::Normal,
            (Prompt::Quit, KeyCode::Char(c @ ('l' | 'e' | 'x'))) => {
                let stop = match c {
                    'e' => Some(StopRequest::AfterEpoch),
                    'x' => Some(StopRequest::Now),
                    _ => None,
                };
                self.quit_leaving(stop);
            }
            _ => {}
        }
    }

    fn on_report_key(&mut self, mut view: ReportView, code: KeyCode, ctrl_c: bool) {
        let last = view.lines.len().saturating_sub(1);
        match code {
            _ if ctrl_c => return self.quit(),
            KeyCode::Esc | KeyCode::Char('q' | 'o') => {
                self.mode = Mode::Normal;
                return;
            }
            KeyCode::Char('g') => return self.regenerate_report(),
            KeyCode::Up | KeyCode::Char('k') => view.scroll = view.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => view.scroll = (view.scroll + 1).min(last),
            KeyCode::PageUp => view.scroll = view.scroll.saturating_sub(20),
            KeyCode::PageDown | KeyCode::Char(' ') => view.scroll = (view.scroll + 20).min(last),
            KeyCode::Home => view.scroll = 0,
            KeyCode::End => view.scroll = last,
            KeyCode::Left | KeyCode::Char('h') => view.pan = view.pan.saturating_sub(8),
            KeyCode::Right | KeyCode::Char('l') => {
                let widest = view
                    .lines
                    .iter()
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0);
                view.pan = (view.pan + 8).min(widest.saturating_sub(1));
            }
            _ => {}
        }
        self.mode = Mode::Report(view);
    }
}

/// `index + delta` within `0..len`, stopping at the ends.
pub(super) fn step(index: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    index.saturating_add_signed(delta).min(len - 1)
}
