//! Signals: how `replicate`, its workers, `train` and `reproduce` stop when asked to (the
//! exit codes that say how a command ended are `contract::exit`).
//!
//! | who | signal | what happens |
//! |---|---|---|
//! | `replicate` | first SIGINT (Ctrl-C) | no new trials; running ones stop after their current epoch (SIGUSR2 to each worker) |
//! | `replicate` | second SIGINT, SIGTERM, SIGHUP | running trials stop now (SIGTERM to each worker), after their current batch |
//! | worker | SIGTERM, SIGHUP, SIGUSR1 | stop after the current batch; the claim is released and the work folder kept, so the trial resumes from its last checkpoint |
//! | worker | SIGUSR2 | stop after the current epoch |
//! | Slurm task (worker `--slurm`) | SIGUSR1 (`--signal=B:USR1@N`) | stop after the current batch, then `scontrol requeue` its own task, which resumes from the last checkpoint |
//! | worker | SIGINT | ignored: a Ctrl-C reaches the whole foreground process group, and the parent decides |
//! | worker | its parent dies | stop after the current batch (the kernel's parent-death signal, and a poll of the parent pid) |
//! | `train`, `reproduce` | SIGINT, SIGTERM, SIGHUP | stop after the current batch; the next `train` of the same trial resumes |
//!
//! A stopped or interrupted trial is never recorded as a result.

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use trainer::Stop;

/// The signals a command wants delivered to its own thread instead of their default action.
pub fn listen(signals: &[i32]) -> std::io::Result<Signals> {
    Signals::new(signals)
}

/// Makes the worker stop when it is told to, or when its parent dies: SIGTERM, SIGHUP and
/// SIGUSR1 stop it now, SIGUSR2 after the current epoch, SIGINT is ignored.
///
/// Returns a flag that turns true on SIGUSR1 (Slurm's warning before a time limit or
/// preemption), so that a Slurm task can requeue itself after stopping.
pub fn watch_worker(stop: Arc<Stop>) -> std::io::Result<Arc<AtomicBool>> {
    // The kernel sends SIGTERM when the parent dies; checked again below for the race where
    // the parent died before this call.
    let parent = std::os::unix::process::parent_id();
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
    let mut signals = listen(&[SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2])?;
    let on_signal = stop.clone();
    let warned = Arc::new(AtomicBool::new(false));
    let on_usr1 = warned.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            match signal {
                SIGUSR2 => on_signal.after_epoch.store(true, Ordering::Relaxed),
                SIGINT => {}
                SIGUSR1 => {
                    on_usr1.store(true, Ordering::Relaxed);
                    on_signal.now.store(true, Ordering::Relaxed);
                }
                _ => on_signal.now.store(true, Ordering::Relaxed),
            }
        }
    });
    std::thread::spawn(move || {
        loop {
            if std::os::unix::process::parent_id() != parent {
                stop.now.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    Ok(warned)
}

/// Makes an in-process trial (`harness train`) stop after its current batch on SIGINT,
/// SIGTERM or SIGHUP; a second SIGINT ends the process at once.
pub fn watch_foreground(stop: Arc<Stop>) -> std::io::Result<()> {
    let mut signals = listen(&[SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if stop.now.swap(true, Ordering::Relaxed) {
                std::process::exit(i32::from(contract::exit::STOPPED));
            }
        }
    });
    Ok(())
}

/// A signal's conventional name.
pub fn name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        SIGUSR1 => "SIGUSR1",
        SIGUSR2 => "SIGUSR2",
        _ => "a signal",
    }
}
