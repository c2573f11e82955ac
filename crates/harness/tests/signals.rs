//! Signals and process faults around `harness replicate`, on the real binary and dataset:
//! SIGTERM / SIGHUP / SIGINT stop the workers (no orphans) and exit non-zero, a worker whose
//! parent dies stops, two replicates on one store share the work, and a config edited under
//! a running replicate is refused by its workers.

mod util;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;
use util::{Spawned, Workspace, alive, children_of, wait_gone};

const SMOKE: &str = "configs/smoke.ron";
/// Long enough that a signal sent after the first epoch lands mid-trial.
const LONG: [&str; 6] = [
    "--set",
    "epochs=12",
    "--set",
    "data.train_limit=1024",
    "--threads",
    "1",
];
const MINUTE: Duration = Duration::from_secs(60);

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(pid as i32), signal).unwrap();
}

fn replicate(ws: &Workspace, jobs: &str) -> Spawned {
    let mut args = vec!["replicate", SMOKE, "--jobs", jobs];
    args.extend_from_slice(&LONG);
    Spawned::start(ws, &args)
}

fn first_epoch_line(line: &str) -> bool {
    line.contains("epoch   1:")
}

/// Each trial's `events.jsonl` in the store, finished or not.
fn finished_events(ws: &Workspace) -> Vec<usize> {
    ws.finished_trials("smoke")
        .iter()
        .map(|t| {
            std::fs::read_to_string(t.join("events.jsonl"))
                .unwrap()
                .lines()
                .filter(|l| l.contains("\"event\":\"finished\"") && !l.contains("\"stopped\""))
                .count()
        })
        .collect()
}

/// Sends `signals` (with a pause between them) to a running replicate and checks that it
/// stops its workers, says so, and exits with the "stopped" code; then a rerun resumes.
fn stops_on(signals: &[Signal], said: &str) {
    let ws = Workspace::new();
    let mut run = replicate(&ws, "2");
    run.wait_for_line("the first epoch", MINUTE, first_epoch_line);
    let workers = children_of(run.child.id());
    assert!(!workers.is_empty(), "workers running");
    for (i, s) in signals.iter().enumerate() {
        if i > 0 {
            run.wait_for_line("the first stop message", MINUTE, |l| {
                l.contains("interrupted:")
            });
        }
        signal(run.child.id(), *s);
    }
    let code = run.wait(MINUTE);
    let out = run.output();
    assert_eq!(code, Some(4), "exit code 4 (stopped):\n{out}");
    assert!(out.contains(said), "says {said:?}:\n{out}");
    assert!(
        out.contains("run the same command again to resume"),
        "{out}"
    );
    for pid in workers {
        assert!(
            wait_gone(pid, Duration::from_secs(5)),
            "worker {pid} orphaned"
        );
    }
    assert!(
        ws.finished_trials("smoke").len() < 4,
        "stopped before the end:\n{out}"
    );
    // The next run finishes everything, resuming the stopped trials.
    let mut args = vec!["replicate", SMOKE, "--jobs", "2"];
    args.extend_from_slice(&LONG);
    ws.ok(&args);
    assert_eq!(finished_events(&ws), vec![1; 4]);
}

#[test]
fn sigterm_stops_the_workers_now_and_exits_non_zero() {
    stops_on(&[Signal::SIGTERM], "SIGTERM: stopping");
}

#[test]
fn sighup_stops_the_workers_now_and_exits_non_zero() {
    stops_on(&[Signal::SIGHUP], "SIGHUP: stopping");
}

#[test]
fn ctrl_c_twice_stops_now_after_asking_for_the_end_of_the_epoch() {
    stops_on(&[Signal::SIGINT, Signal::SIGINT], "SIGINT: stopping");
}

#[test]
fn ctrl_c_once_lets_running_trials_end_their_epoch() {
    stops_on(&[Signal::SIGINT], "stopped by SIGINT");
}

#[test]
fn a_worker_whose_parent_dies_stops_and_the_next_run_completes_the_plan() {
    let ws = Workspace::new();
    let mut run = replicate(&ws, "2");
    run.wait_for_line("the first epoch", MINUTE, first_epoch_line);
    let workers = children_of(run.child.id());
    assert!(!workers.is_empty());
    signal(run.child.id(), Signal::SIGKILL);
    let _ = run.wait(MINUTE);
    for pid in &workers {
        assert!(
            wait_gone(*pid, Duration::from_secs(10)),
            "worker {pid} outlived its parent"
        );
    }
    let mut args = vec!["replicate", SMOKE, "--jobs", "2"];
    args.extend_from_slice(&LONG);
    let out = ws.ok(&args);
    assert!(out.contains("4 of 4 planned trials recorded"), "{out}");
    assert_eq!(finished_events(&ws), vec![1; 4]);
}

#[test]
fn two_replicates_started_together_publish_every_trial_once_and_both_exit_0() {
    let ws = Workspace::new();
    let mut a = replicate(&ws, "1");
    let mut b = replicate(&ws, "1");
    let (code_a, code_b) = (a.wait(3 * MINUTE), b.wait(3 * MINUTE));
    assert_eq!(code_a, Some(0), "first:\n{}", a.output());
    assert_eq!(code_b, Some(0), "second:\n{}", b.output());
    assert_eq!(
        finished_events(&ws),
        vec![1; 4],
        "each trial published once"
    );
    let work = ws.join("runs/trials/.work");
    let left: Vec<_> = std::fs::read_dir(&work)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left in .work: {left:?}");
}

#[test]
fn workers_refuse_a_config_renamed_under_a_running_replicate() {
    let ws = Workspace::new();
    let mut run = Spawned::start(
        &ws,
        &[
            "replicate",
            SMOKE,
            "--jobs",
            "1",
            "--set",
            "epochs=6",
            "--threads",
            "1",
        ],
    );
    run.wait_for_line("the first trial", MINUTE, |l| l.contains("starting"));
    let config = ws.join(SMOKE);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("name: \"smoke\"", "name: \"renamed\""),
    )
    .unwrap();
    let code = run.wait(3 * MINUTE);
    let out = run.output();
    assert_eq!(code, Some(1), "trials failed:\n{out}");
    assert!(out.contains("refusing to run"), "{out}");
    assert!(
        !ws.join("runs/renamed").exists(),
        "nothing published elsewhere"
    );
    assert!(
        children_of(run.child.id()).iter().all(|p| !alive(*p)),
        "no orphans"
    );
}
