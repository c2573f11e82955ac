//! How many seeds a variant gets, decided before looking at any comparison:
//! Stein's two-stage rule (the maths is [`stats::stein`]) and the persisted record of the
//! decision (`runs/<experiment>/seeding.json`, [`write`] / [`read`]) that the
//! report shows ([`report_line`]).
//!
//! Stein's rule: run a pilot of `n0` seeds, take its standard deviation
//! `s0`, and run `N = max(n0, floor((t_{1-α/2, n0-1} s0 / W)²) + 1)` seeds
//! in all. The interval `mean_N ± t_{1-α/2, n0-1} s0 / sqrt(N)` then has
//! half-width at most `W` and coverage exactly `1 - α` for normal data,
//! whatever the true standard deviation (Stein 1945): `N` depends only on
//! the pilot's spread, never on the means, so it cannot be steered towards a
//! wanted p-value. Adding seeds "until p < 0.05" has no such guarantee and
//! is not offered.

use serde::{Deserialize, Serialize};
use statistics as stats;
use std::path::{Path, PathBuf};
use store::{StoreError, write_atomic};

/// Errors of the seeding rule and its record.
#[derive(Debug, thiserror::Error)]
pub enum SeedingError {
    /// Stein's rule gives no `N` for this pilot ([`stats::stein::total_n`]).
    #[error(transparent)]
    Stein(#[from] stats::stein::SteinError),
    /// Reading or writing the record failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The record exists but cannot be parsed.
    #[error("{path}: unreadable seeding record: {message}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The rule that decided the seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedingRule {
    /// Stein's two-stage rule.
    Stein,
}

/// One variant's part of a [`SeedingDecision`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSeeding {
    /// Variant name.
    pub variant: String,
    /// The pilot's standard deviation.
    pub pilot_sd: f64,
    /// Total seeds decided for this variant (pilot included).
    pub total_n: usize,
}

/// The persisted decision: which rule, with which inputs, gave which `N`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedingDecision {
    /// The rule.
    pub rule: SeedingRule,
    /// Pilot seeds per variant.
    pub n0: usize,
    /// The requested half-width `W`, accuracy points.
    pub halfwidth: f64,
    /// `1 -` the interval's coverage.
    pub alpha: f64,
    /// Per variant, in the experiment's order.
    pub variants: Vec<VariantSeeding>,
}

impl SeedingDecision {
    /// The largest `N` over the variants (a replicate that runs the same
    /// seeds for every variant needs this many).
    pub fn max_n(&self) -> usize {
        self.variants
            .iter()
            .map(|v| v.total_n)
            .max()
            .unwrap_or(self.n0)
    }

    /// The decided `N` of `variant`.
    pub fn total_n(&self, variant: &str) -> Option<usize> {
        self.variants
            .iter()
            .find(|v| v.variant == variant)
            .map(|v| v.total_n)
    }
}

/// Applies Stein's rule ([`stats::stein::total_n`]) to every variant's pilot (`(name, accuracies)`,
/// all of the same size `n0`, the first `n0` seeds).
pub fn decide(
    pilots: &[(String, Vec<f64>)],
    halfwidth: f64,
    alpha: f64,
) -> Result<SeedingDecision, SeedingError> {
    let mut variants = Vec::with_capacity(pilots.len());
    let mut n0 = usize::MAX;
    for (name, pilot) in pilots {
        let s = stats::stein::total_n(pilot, halfwidth, alpha)?;
        n0 = n0.min(s.n0);
        variants.push(VariantSeeding {
            variant: name.clone(),
            pilot_sd: s.pilot_sd,
            total_n: s.total_n,
        });
    }
    if variants.is_empty() {
        return Err(stats::stein::SteinError::PilotTooSmall(0).into());
    }
    Ok(SeedingDecision {
        rule: SeedingRule::Stein,
        n0,
        halfwidth,
        alpha,
        variants,
    })
}

/// `runs/<experiment>/seeding.json` for the experiment folder `experiment_dir`.
pub fn path(experiment_dir: &Path) -> PathBuf {
    experiment_dir.join(contract::layout::SEEDING)
}

/// Writes the decision atomically into `experiment_dir`.
pub fn write(experiment_dir: &Path, decision: &SeedingDecision) -> Result<(), SeedingError> {
    let mut json = serde_json::to_string_pretty(decision).map_err(|e| SeedingError::BadRecord {
        path: path(experiment_dir),
        message: e.to_string(),
    })?;
    json.push('\n');
    write_atomic(&path(experiment_dir), json.as_bytes())?;
    Ok(())
}

/// Reads the decision of `experiment_dir`; `Ok(None)` when there is none.
pub fn read(experiment_dir: &Path) -> Result<Option<SeedingDecision>, SeedingError> {
    let file = path(experiment_dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SeedingError::Store(StoreError::Io { path: file, source }));
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| SeedingError::BadRecord {
            path: file,
            message: format!(
                "{e}; a seeding decision is never re-made silently: delete the file and rerun `replicate --halfwidth W` to decide anew from the pilot"
            ),
        })
}

/// The report's line saying which rule decided `n`: Stein's (with its inputs), or a count
/// fixed in advance (the config's `seeds` or `--seeds N`: the report cannot tell which).
pub fn report_line(decision: Option<&SeedingDecision>, seeds: usize) -> String {
    match decision {
        Some(d) => {
            let per: Vec<String> = d
                .variants
                .iter()
                .map(|v| format!("{} N={} (pilot sd {:.3})", v.variant, v.total_n, v.pilot_sd))
                .collect();
            format!(
                "n decided by Stein's two-stage rule (pilot n0={}, W={}, {:.0}% interval): {}",
                d.n0,
                d.halfwidth,
                100.0 * (1.0 - d.alpha),
                per.join("; ")
            )
        }
        None => format!("n fixed in advance at {seeds} per variant (not by Stein's rule)"),
    }
}
