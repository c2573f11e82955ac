//! Checking a data folder file by file, for `harness data verify`.

use std::path::{Path, PathBuf};

use crate::dataset::read_each;
use crate::error::DataError;
use crate::kind::FileKind;

/// What the strict reader found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Which file.
    pub kind: FileKind,
    /// Where it was read from.
    pub path: PathBuf,
    /// Number of examples.
    pub count: usize,
    /// Shape of the data, e.g. `[60000, 28, 28]` or `[60000]`.
    pub shape: Vec<usize>,
    /// Hex SHA-256 of the decompressed bytes.
    pub sha256: String,
    /// Whether `sha256` is the published digest.
    pub matched: bool,
}

/// Runs the strict reader on each file of `dir`: one entry per
/// [`FileKind`], in [`FileKind::ALL`] order. A digest mismatch is not an
/// error here; it shows as `matched: false`.
pub fn verify_dir(dir: &Path) -> Vec<Result<FileReport, DataError>> {
    read_each(dir)
        .into_iter()
        .map(|checked| {
            checked.map(|c| FileReport {
                kind: c.file.header.kind,
                matched: c.matched(),
                count: c.file.header.count,
                shape: c.file.header.shape,
                sha256: c.file.sha256,
                path: c.path,
            })
        })
        .collect()
}

/// What `harness data verify` prints: the reader's findings file by file, and the
/// failures (a digest mismatch or an unreadable file), one message each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Two lines per file (its path, then count, shape, SHA-256 and the verdict), and a
    /// closing line when every file matched.
    pub lines: Vec<String>,
    /// One message per file that failed.
    pub failures: Vec<String>,
}

impl Verification {
    /// Checks every file of `dir` ([`verify_dir`]) and words the findings.
    pub fn of(dir: &Path) -> Verification {
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        for (kind, result) in FileKind::ALL.into_iter().zip(verify_dir(dir)) {
            match result {
                Ok(report) => {
                    let verdict = if report.matched { "MATCH" } else { "MISMATCH" };
                    lines.push(report.path.display().to_string());
                    lines.push(format!(
                        "  count {}  shape {:?}  sha256 {}  {verdict}",
                        report.count, report.shape, report.sha256
                    ));
                    if !report.matched {
                        failures.push(format!(
                            "{}: SHA-256 mismatch: expected {}, found {}",
                            report.path.display(),
                            kind.expected_sha256(),
                            report.sha256
                        ));
                    }
                }
                Err(err) => {
                    let reason = err.chain_message();
                    lines.push(format!("{kind}\n  INVALID  {reason}"));
                    failures.push(reason);
                }
            }
        }
        if failures.is_empty() {
            lines.push(format!(
                "all {} files match the published SHA-256",
                FileKind::ALL.len()
            ));
        }
        Verification { lines, failures }
    }

    /// The error to end with, if any file failed: the only failure, or how many failed
    /// and the first.
    pub fn error(&self) -> Option<String> {
        match self.failures.as_slice() {
            [] => None,
            [only] => Some(only.clone()),
            [first, ..] => Some(format!(
                "{} of {} files failed verification; first: {first}",
                self.failures.len(),
                FileKind::ALL.len()
            )),
        }
    }
}
