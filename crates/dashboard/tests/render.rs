//! Rendering tests: the dashboard drawn into ratatui's `TestBackend` over a fixture store
//! (records and a running trial written by hand from the real types), compared as whole
//! screens.

use dashboard::app::{App, Focus, Mode, Options};
use dashboard::launch::{Launcher, Task, TaskArgs};
use dashboard::{fixture, run_app, Events};
use experiment::Store;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};
use trainer::Event;

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
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .unwrap();
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

fn print(lines: &[String]) {
    for l in lines {
        println!("{l:?},");
    }
}

#[test]
fn dashboard_on_a_fixture_store() {
    let f = fixture_store();
    let app = app(f.dir.path());
    let lines = screen(&draw(&app, 120, 40), f.dir.path());
    print(&lines);
    panic!();
}
