//! What could explain a difference between two trials without being part of their id:
//! code version, library versions, device, threads, host and time. The facts that need
//! libtorch (the device's name, CUDA) are in the `experiment` crate's `provenance`.

use std::time::{SystemTime, UNIX_EPOCH};

/// `git rev-parse HEAD` of the workspace this binary was built from, or `unknown` (fixed at
/// build time by `build.rs`, never asked of `git` at run time).
pub const GIT_COMMIT: &str = env!("HARNESS_GIT_COMMIT");

/// Whether tracked files differed from [`GIT_COMMIT`] when this binary was built.
pub const GIT_DIRTY: bool = const_str_eq(env!("HARNESS_GIT_DIRTY"), "true");

/// The `tch` crate's version in `Cargo.lock` when this binary was built.
pub const TCH_VERSION: &str = env!("HARNESS_TCH_VERSION");

/// The libtorch version this binary was built against, e.g. `2.11.0+cu130` (from the
/// `version.py` of the PyPI torch package that `LIBTORCH` pointed at when building).
pub const LIBTORCH_VERSION: &str = env!("HARNESS_LIBTORCH_VERSION");

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Seconds since the Unix epoch, now.
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now, RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    rfc3339(unix_seconds())
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of a `YYYY-MM-DDTHH:MM:SSZ` time ([`rfc3339`]'s form); `None`
/// for anything else.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `rfc3339`'s.
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hour * 3600 + minute * 60 + second).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_back_to_the_same_second() {
        for secs in [
            0,
            59,
            86_399,
            951_782_400,
            1_700_000_000,
            1_796_303_102,
            4_102_444_800,
        ] {
            assert_eq!(
                parse_rfc3339(&rfc3339(secs)),
                Some(secs),
                "{}",
                rfc3339(secs)
            );
        }
        assert_eq!(parse_rfc3339("2026-12-03T12:05:02Z"), Some(1_796_299_502));
        for bad in [
            "",
            "2026-12-03 12:05:02Z",
            "2026-13-03T12:05:02Z",
            "2026-12-03T12:05:0xZ",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    /// The build captured the commit this source is at, tch's locked version and the
    /// libtorch it was built against.
    #[test]
    fn the_build_records_commit_tch_and_libtorch() {
        let head = std::process::Command::new("git")
            .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "HEAD"])
            .output()
            .expect("git (the tests run in a checkout)");
        assert_eq!(GIT_COMMIT, String::from_utf8_lossy(&head.stdout).trim());
        assert_eq!(TCH_VERSION, "0.24.0");
        assert!(LIBTORCH_VERSION.starts_with("2.11.0"), "{LIBTORCH_VERSION}");
        assert!(!const_str_eq("true", "tru") && const_str_eq("true", "true"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
