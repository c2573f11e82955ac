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
