//! Rendering tests: the dashboard drawn into ratatui's `TestBackend` over a fixture store
//! (records and a running trial written by hand from the real types), compared as whole
//! screens.

use contract::Event;
use dashboard::app::{App, Focus, Mode, Options};
use dashboard::launch::{Launcher, Task, TaskArgs};
use dashboard::{Events, run_app};
use fixtures as fixture;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};
use store::Store;

/// Launches nothing.
struct NoLauncher;

impl Launcher for NoLauncher {
    fn launch(&mut self, _: &Task, _: &TaskArgs, _: std::fs::File) -> std::io::Result<Child> {
        Err(std::io::Error::other("tests launch nothing"))
    }
}

/// A store with three finished trials and one running (flip, seed 1, in its second epoch).
struct Fixture {
    dir: tempfile::TempDir,
    _running: fixture::RunningTrial,
}

fn fixture_store() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (_, e) = fixture::experiment(dir.path());
    let store = Store::new(dir.path().join("runs"));
    for (variant, seed, accs) in [
        ("base", 0, [70.0, 80.0]),
        ("base", 1, [71.0, 82.0]),
        ("flip", 0, [72.0, 83.0]),
    ] {
        fixture::write_record(&store, &fixture::record(&e, variant, seed, &accs)).unwrap();
    }
    let running = fixture::start(&store, &e, "flip", 1);
    running.events(&[
        fixture::started(2),
        Event::EpochStarted { epoch: 1, lr: 0.01 },
        Event::Batch {
            epoch: 1,
            batch: 8,
            batches: 8,
            loss: 1.0,
            images_per_s: 51.2,
        },
        Event::Evaluating { epoch: 1 },
        Event::Epoch(fixture::epoch(1, 73.0)),
        Event::EpochStarted { epoch: 2, lr: 0.01 },
        Event::Batch {
            epoch: 2,
            batch: 6,
            batches: 8,
            loss: 0.6,
            images_per_s: 51.2,
        },
    ]);
    running.log(&[
        "trial 1a2b3c (demo / flip / seed 1) on cpu",
        "start: 1234 parameters, 512 train / 256 test images, 8 batches x 2 epochs on cpu (2 threads)",
        "epoch   1: test acc 73.00%",
    ]);
    Fixture {
        dir,
        _running: running,
    }
}

fn app(dir: &Path) -> App {
    let mut options = Options::new(
        vec![dir.join("demo.ron")],
        dir.join("runs"),
        Box::new(NoLauncher),
    );
    options.config_dir = None;
    options.reports = dir.join("reports");
    let mut app = App::new(options);
    app.update(Instant::now());
    app
}

fn draw(app: &App, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| f.render_widget(app, f.area())).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer's text, one string per row, with the fixture's temporary folder replaced by
/// `<tmp>` and trailing spaces removed.
fn screen(buffer: &Buffer, tmp: &Path) -> Vec<String> {
    let width = buffer.area.width as usize;
    let symbols: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    symbols
        .chunks(width)
        .map(|row| {
            row.concat()
                .replace(&tmp.display().to_string(), "<tmp>")
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Compares a whole screen with `tests/screens/<name>.txt`; with `BLESS=1` in the
/// environment, writes the file instead (review the diff before committing it).
#[track_caller]
fn assert_screen(name: &str, actual: &[String]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/screens")
        .join(format!("{name}.txt"));
    let text = actual.join("\n") + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with BLESS=1 to create it)", path.display()));
    if expected != text {
        panic!(
            "the screen differs from {}\n--- expected\n{expected}--- actual\n{text}",
            path.display()
        );
    }
}

#[test]
fn dashboard_on_a_fixture_store() {
    let f = fixture_store();
    let app = app(f.dir.path());
    let lines = screen(&draw(&app, 120, 40), f.dir.path());
    assert_screen("full_120x40", &lines);
}

#[test]
fn the_smallest_terminal_still_shows_every_panel() {
    let f = fixture_store();
    let app = app(f.dir.path());
    let lines = screen(&draw(&app, 80, 24), f.dir.path());
    assert_screen("min_80x24", &lines);
}

#[test]
fn a_too_small_terminal_is_told_so() {
    let f = fixture_store();
    let app = app(f.dir.path());
    let lines = screen(&draw(&app, 60, 12), f.dir.path());
    assert_screen("too_small_60x12", &lines);
}

#[test]
fn resizing_redraws_cleanly() {
    let f = fixture_store();
    let app = app(f.dir.path());
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    for (w, h) in [(120, 40), (90, 30), (50, 10), (100, 28)] {
        terminal.backend_mut().resize(w, h);
        terminal.draw(|f| f.render_widget(&app, f.area())).unwrap();
        assert_eq!(
            screen(terminal.backend().buffer(), f.dir.path()),
            screen(&draw(&app, w, h), f.dir.path()),
            "{w}x{h} after a resize draws exactly what a fresh terminal of that size shows"
        );
    }
}

/// The position of the first cell on row `y` holding `symbol`.
fn find(buffer: &Buffer, y: u16, symbol: &str) -> (u16, u16) {
    let x = (0..buffer.area.width)
        .find(|&x| buffer[(x, y)].symbol() == symbol)
        .unwrap_or_else(|| panic!("no {symbol:?} on row {y}"));
    (x, y)
}

#[test]
fn states_selection_and_focus_are_styled() {
    use ratatui::style::{Color, Modifier};
    let f = fixture_store();
    let mut app = app(f.dir.path());
    let buffer = draw(&app, 120, 40);
    // The selected experiment, in the focused list: reversed.
    assert!(buffer[(2, 3)].modifier.contains(Modifier::REVERSED));
    // Grid: done in green, running in bold magenta; the cursor follows the running trial
    // and is bold and underlined while the list has the focus.
    assert_eq!(buffer[find(&buffer, 3, "✓")].fg, Color::Green);
    let running = find(&buffer, 4, "▶");
    assert_eq!(buffer[running].fg, Color::Magenta);
    assert!(
        buffer[running]
            .modifier
            .contains(Modifier::BOLD | Modifier::UNDERLINED)
    );
    // Text keeps the terminal's own colours.
    assert_eq!(
        (buffer[(2, 8)].fg, buffer[(2, 8)].bg),
        (Color::Reset, Color::Reset)
    );
    // Tab gives the grid the focus: the cursor cell is reversed, the list row only bold.
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Tab,
    ));
    assert_eq!(app.focus, Focus::Grid);
    let buffer = draw(&app, 120, 40);
    assert!(buffer[running].modifier.contains(Modifier::REVERSED));
    assert!(!buffer[(2, 3)].modifier.contains(Modifier::REVERSED));
    assert!(buffer[(2, 3)].modifier.contains(Modifier::BOLD));
}

#[test]
fn the_report_panel_scrolls() {
    let f = fixture_store();
    let mut app = app(f.dir.path());
    let reports = f.dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let mut text = String::from("# Demo experiment (`demo`)\n\n## Results\n\n");
    for i in 1..=40 {
        text.push_str(&format!("| row {i} | {} |\n", "x".repeat(i)));
    }
    std::fs::write(reports.join("demo.md"), text).unwrap();
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('o'),
    ));
    assert!(matches!(app.mode, Mode::Report(_)));
    for _ in 0..2 {
        app.on_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Down,
        ));
    }
    let lines = screen(&draw(&app, 80, 24), f.dir.path());
    assert_screen("report_80x24", &lines);
    // Panning shows the right of long lines.
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Right,
    ));
    let lines = screen(&draw(&app, 80, 24), f.dir.path());
    assert!(lines[4].starts_with("│| x |  "), "{}", lines[4]);
}

#[test]
fn stopping_asks_first() {
    let f = fixture_store();
    let mut app = app(f.dir.path());
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('s'),
    ));
    let lines = screen(&draw(&app, 80, 24), f.dir.path());
    assert_screen("stop_prompt_80x24", &lines);
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char('e'),
    ));
    assert_eq!(
        Store::new(f.dir.path().join("runs")).stop_request("demo"),
        Some(store::StopRequest::AfterEpoch)
    );
}

#[test]
fn statistics_update_as_trials_finish() {
    let f = fixture_store();
    let mut app = app(f.dir.path());
    let dir = f.dir.path();
    let (_, e) = fixture::experiment(dir);
    let store = Store::new(dir.join("runs"));
    // The running trial ends: its claim goes, its record is published.
    let Fixture {
        dir: tmp,
        _running: running,
    } = f;
    let id = running.id.clone();
    drop(running);
    std::fs::remove_dir_all(store.work_dir(&id)).unwrap();
    fixture::write_record(&store, &fixture::record(&e, "flip", 1, &[73.0, 85.0])).unwrap();
    app.update(Instant::now() + Duration::from_secs(2));
    let lines = screen(&draw(&app, 120, 40), tmp.path());
    assert!(
        lines[3].starts_with("│demo                   4    0    0    0    0│"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].ends_with(
            "││flip       ✓ 83.00    ✓ 85.00                                           │"
        ),
        "{}",
        lines[4]
    );
    assert!(lines[9].starts_with("│flip    2        84.00 ± 1.41  [71.29, 96.71] 85.00 +3.00     0.168 1.00 no detectable difference (MDE 8.00)"), "{}", lines[9]);
}

/// Events from a list, then nothing.
struct Script(VecDeque<crossterm::event::Event>);

impl Events for Script {
    fn next(&mut self, _: Duration) -> std::io::Result<Option<crossterm::event::Event>> {
        Ok(self.0.pop_front())
    }
}

#[test]
fn the_event_loop_draws_handles_resizes_and_quits() {
    use crossterm::event::{Event as CEvent, KeyCode, KeyEvent};
    let f = fixture_store();
    let mut app = app(f.dir.path());
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let mut script = Script(VecDeque::from([
        CEvent::Key(KeyEvent::from(KeyCode::Char('m'))),
        CEvent::Resize(70, 20),
        CEvent::Key(KeyEvent::from(KeyCode::Char('w'))),
        CEvent::Key(KeyEvent::from(KeyCode::Char('q'))),
    ]));
    let exit = run_app(&mut terminal, &mut app, &mut script).unwrap();
    assert_eq!(exit, dashboard::Exit::default());
    assert!(app.frames.frames >= 1);
    assert_eq!(app.metric, dashboard::curves::Metric::TrainLoss);
    assert_eq!(app.window, dashboard::curves::Window::Recent);
}

#[test]
fn many_seeds_scroll_the_grid_to_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let ron = fixture::EXPERIMENT_RON.replace("seeds: 2,", "seeds: 12,");
    std::fs::write(dir.path().join("demo.ron"), ron).unwrap();
    let mut app = app(dir.path());
    let header = |app: &App| screen(&draw(app, 100, 30), dir.path())[2].clone();
    let first = header(&app);
    assert!(
        first.contains("variant    seed 0 ") && first.contains(" ›"),
        "{first}"
    );
    assert!(!first.contains('‹'), "{first}");
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Tab,
    ));
    for _ in 0..11 {
        app.on_key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Right,
        ));
    }
    let last = header(&app);
    assert!(
        last.contains("variant ‹") && last.contains("seed 11"),
        "{last}"
    );
    assert!(!last.contains(" ›") && !last.contains("seed 0 "), "{last}");
}
