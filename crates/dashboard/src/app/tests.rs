//! Unit tests of the state and its keys.

use super::keys::step;
use super::*;
use crate::curves::{Metric, Window};
use crate::launch::{Launcher, Task, TaskArgs};
use crossterm::event::{KeyCode, KeyEvent};
use fixtures as fixture;
use std::fs::File;
use std::process::Child;
use std::time::Instant;
use store::StopRequest;

/// What a [`Recorder`] was asked to launch.
type Launched = std::sync::Arc<std::sync::Mutex<Vec<(Task, TaskArgs)>>>;

/// Records what would be launched, and runs `sleep` instead.
#[derive(Default)]
struct Recorder(Launched);

impl Launcher for Recorder {
    fn launch(&mut self, task: &Task, args: &TaskArgs, log: File) -> std::io::Result<Child> {
        self.0.lock().unwrap().push((task.clone(), args.clone()));
        std::process::Command::new("sleep")
            .arg(if *task == Task::Replicate { "30" } else { "0" })
            .stdout(log)
            .spawn()
    }
}

fn key(c: char) -> KeyEvent {
    KeyEvent::from(KeyCode::Char(c))
}

fn app(dir: &std::path::Path) -> (App, Launched) {
    let (path, _) = fixture::experiment(dir);
    let recorder = Recorder::default();
    let launched = recorder.0.clone();
    let mut options = Options::new(vec![path], dir.join("runs"), Box::new(recorder));
    options.config_dir = None;
    options.reports = dir.join("reports");
    let mut app = App::new(options);
    app.update(Instant::now());
    (app, launched)
}

#[test]
fn step_stops_at_the_ends() {
    assert_eq!(step(0, -1, 3), 0);
    assert_eq!(step(2, 1, 3), 2);
    assert_eq!(step(1, 1, 3), 2);
    assert_eq!(step(0, 1, 0), 0);
}

#[test]
fn quitting_without_children_needs_no_question() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = app(dir.path());
    app.on_key(key('q'));
    assert_eq!(app.take_exit(), Some(Exit::default()));
}

#[test]
fn r_starts_a_replicate_and_quitting_asks_about_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, launched) = app(dir.path());
    // Training into the store is asked first, with the store's path; `n` starts nothing.
    app.on_key(key('r'));
    assert_eq!(app.mode, Mode::Confirm(Prompt::Train { entry: 0 }));
    let (name, trials, _, store) = app.training_summary(0).unwrap();
    assert_eq!((name.as_str(), store), ("demo", dir.path().join("runs")));
    assert!(trials > 0);
    app.on_key(key('n'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(launched.lock().unwrap().is_empty());
    app.on_key(key('r'));
    app.on_key(key('y'));
    let launched = launched.lock().unwrap().clone();
    assert_eq!(launched.len(), 1);
    assert_eq!(launched[0].0, Task::Replicate);
    assert_eq!(launched[0].1.runs, dir.path().join("runs"));
    assert!(app.job("demo").is_some());
    assert!(dir.path().join("runs/demo/.work/replicate.log").is_file());
    app.on_key(key('r'));
    assert!(app.message.as_ref().unwrap().contains("running already"));

    app.on_key(key('q'));
    assert_eq!(app.mode, Mode::Confirm(Prompt::Quit));
    app.on_key(KeyEvent::from(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.take_exit().is_none());
    app.on_key(key('q'));
    app.on_key(key('e'));
    let exit = app.take_exit().unwrap();
    assert_eq!(exit.stop, Some(StopRequest::AfterEpoch));
    assert_eq!(exit.left_running.len(), 1);
    assert!(exit.summary()[0].contains("stops after its current epoch"));
    assert_eq!(
        app.watcher.store().stop_request("demo"),
        Some(StopRequest::AfterEpoch)
    );
    for job in &mut app.jobs {
        let _ = job.child.kill();
        let _ = job.child.wait();
    }
}

#[test]
fn stopping_asks_how_and_writes_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = app(dir.path());
    app.on_key(key('s'));
    assert!(
        app.message
            .as_ref()
            .unwrap()
            .contains("nothing of demo is running")
    );
    let e = app.experiment().unwrap().experiment.clone();
    let _running = fixture::start(app.watcher.store(), &e, "flip", 1);
    app.watcher.rescan_soon();
    app.update(Instant::now());
    assert_eq!(
        app.cursor,
        (1, 1),
        "follow moves the cursor to the running trial"
    );
    app.on_key(key('s'));
    assert_eq!(
        app.mode,
        Mode::Confirm(Prompt::Stop {
            experiment: "demo".into()
        })
    );
    app.on_key(key('x'));
    assert_eq!(
        app.watcher.store().stop_request("demo"),
        Some(StopRequest::Now)
    );
    // Another process runs trials: starting here asks first.
    app.on_key(key('r'));
    assert_eq!(app.mode, Mode::Confirm(Prompt::StartAnyway { entry: 0 }));
    app.on_key(key('n'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.jobs.is_empty());
}

#[test]
fn the_report_opens_scrolls_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = app(dir.path());
    app.on_key(key('o'));
    assert!(app.message.as_ref().unwrap().contains("no report"));
    std::fs::create_dir_all(dir.path().join("reports")).unwrap();
    let text: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("reports/demo.md"), text).unwrap();
    app.on_key(key('o'));
    let Mode::Report(view) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(view.lines.len(), 50);
    app.on_key(KeyEvent::from(KeyCode::PageDown));
    app.on_key(key('j'));
    let Mode::Report(view) = &app.mode else {
        panic!()
    };
    assert_eq!(view.scroll, 21);
    app.on_key(KeyEvent::from(KeyCode::End));
    let Mode::Report(view) = &app.mode else {
        panic!()
    };
    assert_eq!(view.scroll, 49);
    app.on_key(KeyEvent::from(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn keys_move_the_selection() {
    let dir = tempfile::tempdir().unwrap();
    let (mut app, _) = app(dir.path());
    app.on_key(KeyEvent::from(KeyCode::Tab));
    assert_eq!(app.focus, Focus::Grid);
    app.on_key(KeyEvent::from(KeyCode::Down));
    app.on_key(KeyEvent::from(KeyCode::Right));
    app.on_key(KeyEvent::from(KeyCode::Right));
    assert_eq!(app.cursor, (1, 1));
    assert!(!app.follow, "moving by hand stops following");
    app.on_key(key('m'));
    assert_eq!(app.metric, Metric::TrainLoss);
    app.on_key(key('w'));
    assert_eq!(app.window, Window::Recent);
}
