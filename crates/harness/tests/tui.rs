//! End-to-end tests of what a terminal shows: `harness replicate`'s progress bars, and
//! `harness tui`: the real binary in tmux, attached to a `harness
//! replicate` of `configs/smoke.ron` running in another tmux window on the same store. It
//! must follow the run (progress advancing, statistics appearing), quit on `q`, and leave
//! the terminal as it found it (main screen, cooked mode, cursor shown, a working prompt).
//!
//! They need tmux, and fail (never pass silently) where it is missing, saying how to install
//! it (`scripts/setup.sh --test`). Run with `--nocapture` to see the captured screens and
//! the dashboard's CPU use.

mod util;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use util::Workspace;

/// How long any one thing may take to appear.
const WAIT: Duration = Duration::from_secs(120);
/// How long a whole replicate run in a test window may take.
const RUN_WAIT: Duration = Duration::from_secs(600);

/// Fails the test, saying how to install tmux, where `tmux -V` does not run and succeed.
fn require_tmux() {
    let problem = match Command::new("tmux").arg("-V").output() {
        Ok(out) if out.status.success() => return,
        Ok(out) => format!(
            "`tmux -V` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("tmux cannot be run: {e}"),
    };
    panic!(
        "{problem}\nThese terminal tests drive the real dashboard in tmux and cannot pass without it: \
         install it with `scripts/setup.sh --test` (or `apt-get install tmux`)."
    );
}

/// A tmux server of our own (its own socket), killed when dropped, even on failure.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts the server, or fails the test where tmux cannot run.
    fn start(dir: &Path) -> Self {
        require_tmux();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let tmux = Tmux {
            socket: format!("harness-tui-test-{}-{nanos}", std::process::id()),
        };
        let dir = dir.to_str().unwrap();
        let shell = "env PS1='$ ' bash --norc --noprofile";
        tmux.ok(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-n",
            "rep",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            dir,
            shell,
        ]);
        tmux.ok(&["new-window", "-d", "-t", "t", "-n", "tui", "-c", dir, shell]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Types `text` then Enter.
    fn type_line(&self, window: &str, text: &str) {
        self.ok(&["send-keys", "-t", &format!("t:{window}"), "-l", text]);
        self.ok(&["send-keys", "-t", &format!("t:{window}"), "Enter"]);
    }

    fn keys(&self, window: &str, keys: &str) {
        self.ok(&["send-keys", "-t", &format!("t:{window}"), keys]);
    }

    fn capture(&self, window: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", &format!("t:{window}")])
    }

    /// The window's whole history, scrolled-off lines included.
    fn capture_all(&self, window: &str) -> String {
        self.ok(&[
            "capture-pane",
            "-p",
            "-S",
            "-",
            "-t",
            &format!("t:{window}"),
        ])
    }

    fn format(&self, window: &str, format: &str) -> String {
        self.ok(&[
            "display-message",
            "-p",
            "-t",
            &format!("t:{window}"),
            format,
        ])
        .trim()
        .to_string()
    }

    /// Polls the window until `done` holds for its text; panics with the last screen after
    /// [`WAIT`].
    fn wait_for(&self, window: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        self.wait_within(window, what, WAIT, done)
    }

    /// [`Tmux::wait_for`] with its own limit (a whole run, which a loaded machine slows).
    fn wait_within(
        &self,
        window: &str,
        what: &str,
        limit: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(window);
            if done(&screen) {
                return screen;
            }
            if start.elapsed() > limit {
                panic!(
                    "waited {limit:?} for {what}; window {window} shows:\n{screen}\nreplicate window:\n{}",
                    self.capture("rep")
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// The number of trials the plan line says are recorded: `plan ███░ 3/4 · …`.
fn plan_done(screen: &str) -> Option<(u32, u32)> {
    let line = screen.lines().find(|l| l.contains("│plan "))?;
    let after = line.split("│plan ").nth(1)?;
    let fraction = after.split_whitespace().nth(1)?;
    let (done, total) = fraction.split_once('/')?;
    Some((done.parse().ok()?, total.parse().ok()?))
}

/// Whether the statistics row of `variant` shows a mean accuracy.
fn has_statistics(screen: &str, variant: &str) -> bool {
    screen.lines().any(|l| {
        let mut words = l.trim_start_matches('│').split_whitespace();
        words.next() == Some(variant)
            && words
                .next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1)
            && words
                .next()
                .is_some_and(|m| m.contains('.') && m.parse::<f64>().is_ok())
    })
}

/// CPU seconds (user + system) used so far by process `pid`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The child of the shell in `window` (the dashboard).
fn child_of(pid: &str) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

#[test]
fn the_dashboard_follows_a_replicate_and_restores_the_terminal() {
    let ws = Workspace::new();
    let tmux = Tmux::start(ws.path());
    let harness = env!("CARGO_BIN_EXE_harness");
    tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
    tmux.type_line("tui", "stty -g > stty-before.txt");
    tmux.type_line(
        "tui",
        &format!("{harness} tui --runs runs configs/smoke.ron"),
    );
    let first = tmux.wait_for("tui", "the dashboard", |s| {
        s.contains("Experiments") && s.contains("smoke · Smoke test") && plan_done(s).is_some()
    });
    assert_eq!(plan_done(&first), Some((0, 4)), "{first}");
    assert_eq!(tmux.format("tui", "#{alternate_on}"), "1");

    // The replicate in the other window; the dashboard attaches to its trials.
    tmux.type_line(
        "rep",
        &format!("{harness} replicate configs/smoke.ron --runs runs"),
    );
    let running = tmux.wait_for("tui", "a running trial", |s| s.contains("▶ e"));
    eprintln!("--- the dashboard while a trial runs:\n{running}");
    let pid = child_of(&tmux.format("tui", "#{pane_pid}")).expect("the dashboard's pid");
    let (cpu0, t0) = (cpu_seconds(pid).unwrap(), Instant::now());

    let one = tmux.wait_for("tui", "a finished trial", |s| {
        plan_done(s).is_some_and(|(d, _)| d >= 1)
    });
    assert!(
        plan_done(&one).unwrap().0 < 4,
        "progress is seen while it advances:\n{one}"
    );
    let done = tmux.wait_for("tui", "every trial and its statistics", |s| {
        plan_done(s) == Some((4, 4)) && has_statistics(s, "base") && has_statistics(s, "flip")
    });
    let (cpu1, t1) = (cpu_seconds(pid).unwrap(), Instant::now());
    let share = (cpu1 - cpu0) / (t1 - t0).as_secs_f64();
    eprintln!(
        "--- the dashboard at the end ({:.2} CPU s over {:.1} s = {:.1}% of a core):\n{done}",
        cpu1 - cpu0,
        (t1 - t0).as_secs_f64(),
        share * 100.0
    );
    assert!(
        share < 0.25,
        "the dashboard should be light: {:.1}% of a core",
        share * 100.0
    );
    assert!(done.contains("smoke"), "{done}");

    // The report the replicate wrote (at its end, after the quiet latency phase), in the
    // report panel; then written again from here.
    tmux.wait_within("rep", "the replicate to write its report", RUN_WAIT, |s| {
        s.contains("wrote reports/smoke.md")
    });
    tmux.keys("tui", "o");
    let report = tmux.wait_for("tui", "the report panel", |s| {
        s.contains("Report reports/smoke.md")
    });
    assert!(report.contains("# Smoke test (`smoke`)"), "{report}");
    tmux.keys("tui", "Escape");
    // Wait for the panel to close before the next key: an Escape and a key that reach the
    // terminal in one read are Alt+key to any terminal parser (here, Alt+g in the report
    // panel, and the `q` after it only closed the panel: a flake seen in CI).
    tmux.wait_for("tui", "the report panel to close", |s| {
        !s.contains("Report reports/smoke.md")
    });
    tmux.keys("tui", "g");
    tmux.wait_for("tui", "the report to be written again", |s| {
        s.contains("report of smoke written")
    });

    // Quit (answering the question if there is one) and find the shell as it was.
    tmux.keys("tui", "q");
    let after_q = tmux.wait_for("tui", "the dashboard to end", |s| {
        s.contains("Confirm") || !s.contains("Experiments")
    });
    if after_q.contains("Confirm") {
        tmux.keys("tui", "l");
    }
    tmux.wait_for("tui", "the main screen", |_| {
        tmux.format("tui", "#{alternate_on}") == "0"
    });
    tmux.type_line("tui", "stty -g > stty-after.txt; echo READY-$((1+1))");
    let shell = tmux.wait_for("tui", "the prompt", |s| {
        s.lines().any(|l| l.trim() == "READY-2")
    });
    eprintln!("--- the shell after quitting:\n{shell}");
    assert_eq!(
        tmux.format("tui", "#{cursor_flag}"),
        "1",
        "the cursor is shown"
    );
    let before = std::fs::read_to_string(ws.join("stty-before.txt")).unwrap();
    let after = std::fs::read_to_string(ws.join("stty-after.txt")).unwrap();
    assert_eq!(before, after, "the terminal modes are restored");
    assert_eq!(ws.finished_trials("smoke").len(), 4);
}

/// The committed stores open as they are: the study's architectures table, given no `--set`,
/// loads with the protocol its run recorded (`results/architectures/estimate.json`), so its
/// 12 trials show as done at 9 epochs, and `r` says there is nothing to train; the bf16
/// store (`results-cpu-bf16`, the README's tables) shows its 12 trials done at 12 epochs.
#[test]
fn the_committed_study_opens_as_run_in_the_dashboard() {
    let ws = Workspace::new();
    util::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results"),
        &ws.join("results"),
    );
    let tmux = Tmux::start(ws.path());
    let harness = env!("CARGO_BIN_EXE_harness");
    tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
    // The README's command, as a reader types it (tests/docs_commands.rs checks it is here).
    tmux.type_line("tui", &format!("alias harness={harness}"));
    tmux.type_line("tui", "harness tui --runs results");
    let screen = tmux.wait_for("tui", "the architectures table, all done", |s| {
        plan_done(s) == Some((12, 12))
    });
    eprintln!("--- the committed study:\n{screen}");
    assert!(
        screen.contains("9 epochs") || screen.contains("/9"),
        "{screen}"
    );
    tmux.keys("tui", "r");
    tmux.wait_for("tui", "the note that nothing is left to train", |s| {
        s.contains("all 12 trials of architectures are done")
    });
    tmux.keys("tui", "q");
    drop(tmux);

    // The README's study tables: the bf16 store opens at its own protocol (12 epochs, bf16).
    util::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results-cpu-bf16"),
        &ws.join("results-cpu-bf16"),
    );
    let tmux = Tmux::start(ws.path());
    tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
    tmux.type_line("tui", &format!("alias harness={harness}"));
    tmux.type_line("tui", "harness tui --runs results-cpu-bf16");
    let screen = tmux.wait_for("tui", "the bf16 architectures table, all done", |s| {
        plan_done(s) == Some((12, 12))
    });
    eprintln!("--- the committed bf16 study:\n{screen}");
    assert!(screen.contains("4 conv [bf16]"), "{screen}");
    assert!(screen.contains("12 epochs in"), "{screen}");
    tmux.keys("tui", "q");
}

#[test]
fn a_replicate_started_from_the_dashboard_can_be_left_running() {
    let ws = Workspace::new();
    let tmux = Tmux::start(ws.path());
    let harness = env!("CARGO_BIN_EXE_harness");
    tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
    tmux.type_line(
        "tui",
        &format!("{harness} tui --runs runs configs/smoke.ron"),
    );
    tmux.wait_for("tui", "the dashboard", |s| plan_done(s) == Some((0, 4)));
    // `r` starts the replicate; quitting at once (it needs seconds to load the data)
    // asks what to do with it.
    tmux.keys("tui", "r");
    // Training into the store is asked first, with what and where.
    let question = tmux.wait_for("tui", "the question before training", |s| {
        s.contains("Train 4 trial(s) of smoke into the store runs?")
    });
    eprintln!("--- before training:\n{question}");
    tmux.keys("tui", "y");
    tmux.wait_for("tui", "the replicate to start", |s| {
        s.contains("started replicate of smoke")
    });
    tmux.keys("tui", "q");
    let question = tmux.wait_for("tui", "the question", |s| s.contains("Confirm"));
    eprintln!("--- quitting while the replicate runs:\n{question}");
    assert!(
        question.contains("[l] leave it running and quit"),
        "{question}"
    );
    tmux.keys("tui", "l");
    let shell = tmux.wait_for("tui", "the note about the replicate", |s| {
        s.contains("replicate of smoke (pid") && s.contains("is still running")
    });
    eprintln!("--- the shell after quitting:\n{shell}");
    // The quit prompt names the replicate too: under load the text above may still be the
    // prompt's, so wait (bounded) for the dashboard to leave the alternate screen.
    let left_at = Instant::now();
    while tmux.format("tui", "#{alternate_on}") != "0" {
        assert!(
            left_at.elapsed() < Duration::from_secs(30),
            "the dashboard did not leave the alternate screen"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shell = tmux.wait_for("tui", "the note in the shell", |s| {
        s.contains("is still running") && !s.contains("Confirm")
    });
    assert!(shell.contains("replicate of smoke (pid"), "{shell}");
    // It outlives the dashboard and finishes the plan.
    let log_path = ws.join("runs/smoke/.work/replicate.log");
    let start = Instant::now();
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("4 finished") {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the replicate did not finish; its log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(ws.finished_trials("smoke").len(), 4);
}

#[test]
fn sigterm_and_sighup_end_the_dashboard_and_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let ws = Workspace::new();
        let tmux = Tmux::start(ws.path());
        let harness = env!("CARGO_BIN_EXE_harness");
        tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
        tmux.type_line("tui", "stty -g > stty-before.txt");
        tmux.type_line(
            "tui",
            &format!("{harness} tui --runs runs configs/smoke.ron"),
        );
        tmux.wait_for("tui", "the dashboard", |s| plan_done(s) == Some((0, 4)));
        assert_eq!(tmux.format("tui", "#{alternate_on}"), "1");
        let pid = child_of(&tmux.format("tui", "#{pane_pid}")).expect("the dashboard's pid");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        tmux.wait_for("tui", &format!("the main screen after SIG{signal}"), |_| {
            tmux.format("tui", "#{alternate_on}") == "0"
        });
        tmux.type_line("tui", "stty -g > stty-after.txt; echo READY-$((1+1))");
        tmux.wait_for("tui", "the prompt", |s| {
            s.lines().any(|l| l.trim() == "READY-2")
        });
        assert_eq!(
            tmux.format("tui", "#{cursor_flag}"),
            "1",
            "SIG{signal}: the cursor is shown"
        );
        let before = std::fs::read_to_string(ws.join("stty-before.txt")).unwrap();
        let after = std::fs::read_to_string(ws.join("stty-after.txt")).unwrap();
        assert_eq!(
            before, after,
            "SIG{signal}: the terminal modes are restored"
        );
    }
}

/// The lines of a trial's progress bar: `<short id> <variant> s<seed>: [###>...] epoch ...`.
fn trial_bars(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .filter(|l| l.contains(": [") && l.contains(']') && l.contains("epoch "))
        .collect()
}

/// `harness replicate --jobs 2` on a terminal: a bar per running trial (indicatif's
/// MultiProgress) with its epoch, speed and ETA, the plan's bar under them, the epoch
/// lines printed above; at the end no bar is left on the screen or in its history.
#[test]
fn replicate_on_a_terminal_shows_a_bar_per_running_trial_and_the_plans() {
    let ws = Workspace::new();
    let tmux = Tmux::start(ws.path());
    let harness = env!("CARGO_BIN_EXE_harness");
    tmux.wait_for("rep", "the shell prompt", |s| s.contains('$'));
    tmux.type_line(
        "rep",
        &format!(
            "{harness} replicate configs/smoke.ron --runs runs --jobs 2 --threads 1 \
             --set epochs=30 --set data.train_limit=2048; echo REPLICATE-EXIT=$?"
        ),
    );
    let screen = tmux.wait_for("rep", "two trial bars and the plan's", |s| {
        trial_bars(s).len() == 2
            && s.lines().any(|l| l.contains(": epoch   2: lr"))
            && s.lines()
                .any(|l| l.starts_with("plan [") && l.contains("running; ETA"))
    });
    let bars = trial_bars(&screen);
    assert!(
        bars.iter()
            .all(|b| ["img/s", "starting", "evaluating", "done"]
                .iter()
                .any(|what| b.contains(what))
                && b.contains(" ETA ")),
        "{screen}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let first_bar = lines.iter().position(|l| trial_bars(l).len() == 1);
    let last_epoch_line = lines.iter().rposition(|l| l.contains(": epoch "));
    assert!(
        last_epoch_line < first_bar,
        "epoch lines are printed above the bars:\n{screen}"
    );
    // 120 trial-epochs: about a minute on an idle 2-core machine, several under load.
    tmux.wait_within("rep", "the end of the run", RUN_WAIT, |s| {
        s.lines().any(|l| l.starts_with("REPLICATE-EXIT="))
    });
    let history = tmux.capture_all("rep");
    assert!(history.contains("REPLICATE-EXIT=0"), "{history}");
    assert!(
        history.contains("smoke: started 4 of 4 trial(s)"),
        "{history}"
    );
    assert!(
        trial_bars(&history).is_empty() && !history.lines().any(|l| l.starts_with("plan [")),
        "no bar is left behind:\n{history}"
    );
    assert_eq!(
        history.matches(": epoch  30: lr").count(),
        4,
        "every trial's last epoch line:\n{history}"
    );
}

/// Whether process `pid` is alive (a zombie counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// The dashboard ends with its terminal: `tmux kill-server` takes the terminal away (the
/// dashboard is re-parented to init), and it exits within 5 s instead of spinning on the
/// dead terminal. SIGTERM ends it in the same way. It lists only the experiment asked
/// for, and with the `--set` the replicate ran with it finds that run's trials done.
/// It shows a store without checkpoints or plots (`export records`) as well.
#[test]
fn the_dashboard_exits_when_its_terminal_goes_away_or_on_sigterm() {
    let ws = Workspace::new();
    let harness = env!("CARGO_BIN_EXE_harness");
    ws.ok(&[
        "replicate",
        "configs/smoke.ron",
        "--set",
        "epochs=1",
        "--threads",
        "1",
    ]);
    for ending in ["kill-server", "SIGTERM"] {
        let tmux = Tmux::start(ws.path());
        tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
        tmux.type_line(
            "tui",
            &format!("{harness} tui --runs runs configs/smoke.ron --set epochs=1"),
        );
        let screen = tmux.wait_for("tui", "the dashboard with the --set run's trials", |s| {
            s.contains("smoke · Smoke test") && plan_done(s) == Some((4, 4))
        });
        // Only the experiment asked for is listed, not every file of configs/.
        assert!(
            !screen.contains("architectures"),
            "lists only configs/smoke.ron:\n{screen}"
        );
        let pid = child_of(&tmux.format("tui", "#{pane_pid}")).expect("the dashboard's pid");
        assert!(alive(pid));
        match ending {
            "kill-server" => {
                tmux.ok(&["kill-server"]);
            }
            _ => {
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                )
                .unwrap();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let still = alive(pid);
        if still {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(
            !still,
            "{ending}: the dashboard (pid {pid}) is still running after 5 s"
        );
    }

    // A store without checkpoints or plots (`export records`, as the committed `results/`)
    // shows the same trials and statistics.
    ws.ok(&[
        "export",
        "records",
        "configs/smoke.ron",
        "--set",
        "epochs=1",
        "--out",
        "results",
    ]);
    let tmux = Tmux::start(ws.path());
    tmux.wait_for("tui", "the shell prompt", |s| s.contains('$'));
    tmux.type_line(
        "tui",
        &format!("{harness} tui --runs results configs/smoke.ron --set epochs=1"),
    );
    tmux.wait_for("tui", "the exported store's trials and statistics", |s| {
        plan_done(s) == Some((4, 4)) && has_statistics(s, "base") && has_statistics(s, "flip")
    });
    tmux.keys("tui", "q");
}
