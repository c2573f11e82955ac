//! Crash points for the chaos test: a kill placed exactly where a short-lived file exists,
//! so that a leak of any of them fails every run instead of one run in N.
//!
//! `HARNESS_CRASH_AT=<point>[@<n>]` makes a process SIGKILL its whole process group (the
//! replicate and its workers, as a power cut would) the `n`-th time (default: the first)
//! it passes `point`. The points: `probe` (the store's write probe exists), `tmp` (a
//! temporary file of [`crate::write_atomic`] exists), `lease` (a claim was just
//! created), `break` (a takeover's `.break` file exists), `aside` (a claim file is set
//! aside to be checked), `publish` (a finished work folder is about to be renamed).
//!
//! Unset, as always outside the tests, a point costs one cached environment lookup. The
//! process must run in a process group of its own (the tests start it so).

use std::sync::Mutex;
use std::sync::OnceLock;

/// The environment variable that arms a crash point.
pub const CRASH_ENV: &str = "HARNESS_CRASH_AT";

struct Armed {
    point: String,
    nth: u32,
    seen: Mutex<u32>,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(CRASH_ENV).ok()?;
            let (point, nth) = match spec.split_once('@') {
                Some((point, n)) => (point.to_string(), n.parse().ok()?),
                None => (spec, 1),
            };
            Some(Armed {
                point,
                nth,
                seen: Mutex::new(0),
            })
        })
        .as_ref()
}

/// Passes the crash point `name`: kills the process group if it is armed for this pass.
pub fn point(name: &str) {
    let Some(armed) = armed() else {
        return;
    };
    if armed.point != name {
        return;
    }
    let mut seen = armed.seen.lock().unwrap_or_else(|e| e.into_inner());
    *seen += 1;
    if *seen == armed.nth {
        use nix::sys::signal::{Signal, killpg};
        let _ = killpg(nix::unistd::getpgrp(), Signal::SIGKILL);
        // Not reached: SIGKILL cannot be caught.
        std::process::abort();
    }
}
