//! The chaos test: a small `harness replicate` is SIGKILLed, its whole process group at
//! once (the replicate and its workers, as a power cut would), at pseudo-random moments, at
//! least 20 times, then left to finish. Afterwards every planned trial is published exactly
//! once, nothing is left in the work folder, every record validates, and every trial's
//! per-epoch metrics are bit-identical to those of a store that was never interrupted.
//!
//! The moments come from a fixed-seed generator (printed), so a failure can be replayed;
//! the count and the total time are bounded.
//!
//! Random moments rarely land inside a file that lives for microseconds (the store's write
//! probe, a temporary file before its rename, a takeover's `.break`), so a leak of one of
//! those would fail one run in N. The second test therefore kills the run exactly there,
//! at each crash point (`HARNESS_CRASH_AT`, see `store::crash`), every time.

mod util;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use util::{Spawned, Workspace, files_under, summary};

const SMOKE: &str = "configs/smoke.ron";
const ARGS: [&str; 10] = [
    "replicate",
    SMOKE,
    "--jobs",
    "2",
    "--threads",
    "1",
    "--set",
    "epochs=3",
    "--set",
    "data.train_limit=1024",
];
const KILLS: usize = 20;

/// SplitMix64: the moments of the kills.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + z % (hi - lo)
    }
}

/// The deterministic fields of every epoch of every trial, by trial id.
fn metrics_by_trial(ws: &Workspace) -> BTreeMap<String, Vec<String>> {
    ws.finished_trials("smoke")
        .iter()
        .map(|t| {
            let id = summary(t)["id"].as_str().unwrap().to_string();
            let lines = std::fs::read_to_string(t.join("metrics.jsonl"))
                .unwrap()
                .lines()
                .map(|l| {
                    let m: serde_json::Value = serde_json::from_str(l).unwrap();
                    format!(
                        "{} {} {} {} {} {}",
                        m["epoch"],
                        m["lr"],
                        m["train_loss_mean"],
                        m["train_loss_sum"],
                        m["test_loss"],
                        m["test_accuracy"]
                    )
                })
                .collect();
            (id, lines)
        })
        .collect()
}

/// Whether a live (non-zombie) process is in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc").unwrap().any(|e| {
        let Ok(pid) = e.unwrap().file_name().to_string_lossy().parse::<u32>() else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some(close) = stat.rfind(')') else {
            return false;
        };
        // After the command: state, ppid, pgrp.
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// Checks the invariants on a store that has every trial: each planned trial exactly once,
/// each record valid and its events ending with the trial's end, nothing left behind, and the same numbers as
/// the uninterrupted store.
fn check_complete_store(ws: &Workspace, expected: &BTreeMap<String, Vec<String>>) {
    let trials = ws.finished_trials("smoke");
    assert_eq!(trials.len(), 4);
    for t in &trials {
        let s = summary(t);
        assert_eq!(s["status"], "finished", "{}", t.display());
        assert_eq!(
            s["id"].as_str().unwrap(),
            t.file_name().unwrap().to_string_lossy()
        );
        // A kill between the end of training and the publishing rename replays the end
        // (the trial resumes after its last epoch), so `finished` may be logged more than
        // once; the last event is the trial's end.
        let events = std::fs::read_to_string(t.join("events.jsonl")).unwrap();
        let last = events.lines().last().unwrap_or_default();
        assert!(
            last.contains("\"event\":\"finished\"") && last.contains("\"status\":\"finished\""),
            "{}: ends with its end: {last}",
            t.display()
        );
        let stray: Vec<_> = files_under(t)
            .into_iter()
            .filter(|f| f.ends_with(".tmp") || f.contains(".partial"))
            .collect();
        assert!(stray.is_empty(), "temporary files published: {stray:?}");
    }
    let leftovers = files_under(&ws.join("runs/trials/.work"));
    assert!(leftovers.is_empty(), "left in .work: {leftovers:?}");
    assert!(
        !ws.join("runs/trials/.quarantine").exists(),
        "no record had to be quarantined"
    );
    assert_eq!(&metrics_by_trial(ws), expected, "bit-identical metrics");
}

#[test]
fn a_replicate_killed_at_random_moments_ends_with_exactly_the_uninterrupted_results() {
    let started = Instant::now();
    let reference = Workspace::new();
    reference.ok(&ARGS);
    let expected = metrics_by_trial(&reference);
    assert_eq!(expected.len(), 4);

    let ws = Workspace::new();
    let seed = 0x00C0_FFEE;
    let mut moments = Moments(seed);
    let (mut kills, mut attempts, mut rounds) = (0, 0, 1);
    let budget = Duration::from_secs(300);
    while kills < KILLS && attempts < 4 * KILLS && started.elapsed() < budget {
        attempts += 1;
        let mut run = Spawned::start(&ws, &ARGS);
        // From before the data is loaded to the middle of the last trials.
        std::thread::sleep(Duration::from_millis(moments.next_ms(200, 4000)));
        let pgid = Pid::from_raw(run.child.id() as i32);
        if run.child.try_wait().unwrap().is_none() {
            killpg(pgid, Signal::SIGKILL).unwrap();
            kills += 1;
        }
        let _ = run.wait(Duration::from_secs(30));
        // The group's workers are gone too before the next run starts (zombies, which
        // only wait for init to reap them, don't count).
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(pgid.as_raw()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if ws.finished_trials("smoke").len() == 4 {
            // This store survived its kills: check it, then start a new round on an
            // empty store so that the next kills land in the middle of work again.
            check_complete_store(&ws, &expected);
            std::fs::remove_dir_all(ws.join("runs")).unwrap();
            rounds += 1;
        }
    }
    assert!(
        kills >= KILLS,
        "only {kills} kills landed in {attempts} attempts (seed {seed:#x})"
    );
    let done_before = ws.finished_trials("smoke").len();
    let out = ws.ok(&ARGS);
    assert!(out.contains("4 of 4 planned trials recorded"), "{out}");
    check_complete_store(&ws, &expected);
    eprintln!(
        "chaos: {kills} kills in {attempts} runs over {rounds} round(s) ({done_before} of 4 trials done before the last run), {:.0} s in all, seed {seed:#x}",
        started.elapsed().as_secs_f64()
    );
}

/// Every file under `dir` whose name marks it short-lived: temporary files, write probes,
/// takeover `.break` files and claim files set aside.
fn short_lived_under(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| {
            let name = Path::new(f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            name.ends_with(".tmp")
                || name.starts_with(".probe.")
                || name.ends_with(".break")
                || name.ends_with(".aside")
        })
        .collect()
}

/// A kill exactly while each short-lived file exists (the write probe, a temporary file in
/// the experiment's folder and in a worker's work folder, a fresh claim, a takeover's
/// `.break`, a claim set aside, a finished trial before its publishing rename) leaves
/// nothing behind once a later run has finished: every trial once, `.work` empty, no
/// short-lived file anywhere in the store. Each crash point must be reached (the run dies
/// of SIGKILL), so a point that moves or is renamed fails here too.
#[test]
fn a_kill_at_each_short_lived_file_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    let ws = Workspace::new();
    // The order matters: `break` takes over the claim `lease` left, `aside` clears the
    // `.break` that `break` left, and `publish` needs a trial to finish.
    let points = [
        "probe", "tmp", "lease", "break", "aside", "publish", "tmp@2", "tmp@5",
    ];
    let check_leftovers = |when: &str| {
        let leftovers = files_under(&ws.join("runs/trials/.work"));
        assert!(leftovers.is_empty(), "{when}: left in .work: {leftovers:?}");
        let stray = short_lived_under(&ws.join("runs"));
        assert!(
            stray.is_empty(),
            "{when}: short-lived files left: {stray:?}"
        );
    };
    for point in points {
        if ws.finished_trials("smoke").len() == 4 {
            // Complete: check it, then start again on an empty store so that the next
            // point is reached in the middle of work.
            ws.ok(&ARGS);
            check_leftovers(point);
            std::fs::remove_dir_all(ws.join("runs")).unwrap();
        }
        let mut run = Spawned::start_with_env(&ws, &ARGS, &[("HARNESS_CRASH_AT", point)]);
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = run.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{point}: still running; output:\n{}",
                run.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            status.signal(),
            Some(9),
            "crash point {point} was not reached ({status}); output:\n{}",
            run.output()
        );
        let pgid = run.child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        while group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let out = ws.ok(&ARGS);
    assert!(out.contains("4 of 4 planned trials recorded"), "{out}");
    assert_eq!(ws.finished_trials("smoke").len(), 4);
    check_leftovers("the end");
}
