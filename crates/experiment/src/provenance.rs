//! What could explain a difference between two trials without being part of their id:
//! code version, library versions, device, threads, host and time.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
#[cfg(feature = "torch")]
use tch::Device;

pub use contract::Provenance;

/// The device as text: `cpu`, `cuda:0` (the trainer's label, so records and the
/// command line never disagree).
#[cfg(feature = "torch")]
pub use trainer::device_label;

/// The current commit of the checkout at `repo` and whether it is dirty.
pub fn git_state(repo: &Path) -> (String, bool) {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(commit) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            (commit, dirty)
        }
        None => ("unknown".into(), false),
    }
}

/// The libtorch version this binary was built against, e.g. `2.11.0+cu130` (read from
/// the `version.py` of the PyPI torch package that `LIBTORCH` pointed at when building).
pub fn libtorch_version() -> String {
    option_env!("LIBTORCH")
        .and_then(|dir| std::fs::read_to_string(Path::new(dir).join("version.py")).ok())
        .and_then(|text| parse_torch_version(&text))
        .unwrap_or_else(|| "unknown".into())
}

fn parse_torch_version(version_py: &str) -> Option<String> {
    version_py
        .lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
}

#[cfg(feature = "torch")]
/// CUDA as libtorch sees it.
pub fn cuda_description() -> String {
    if tch::Cuda::is_available() {
        format!(
            "{} device(s), cuDNN {}",
            tch::Cuda::device_count(),
            if tch::Cuda::cudnn_is_available() {
                "yes"
            } else {
                "no"
            }
        )
    } else {
        "none".into()
    }
}

#[cfg(feature = "torch")]
/// CPU model, or the GPU's name from `nvidia-smi` when on CUDA.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => Command::new("nvidia-smi")
            .args([
                "--query-gpu=name",
                "--format=csv,noheader",
                &format!("--id={i}"),
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| format!("CUDA device {i}")),
        _ => std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_version_is_read_from_version_py() {
        let text = "x = 1\n__version__ = '2.11.0+cu130'\ncuda = '13.0'\n";
        assert_eq!(parse_torch_version(text).as_deref(), Some("2.11.0+cu130"));
        assert_eq!(parse_torch_version("nothing"), None);
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}
