//! The crate's error type: one enum whose variants name the file (or URL) and,
//! where it makes sense, the expected and the found values.

use std::io;
use std::path::PathBuf;

use crate::origin::Origin;

/// Everything that can go wrong while locating, reading, verifying or
/// downloading Fashion-MNIST.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A filesystem operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done ("open", "read", "write", "rename", ...).
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A data folder lacks some of the files.
    #[error(
        "data folder {dir}{} lacks {}; expected each as NAME or NAME.gz",
        .origin.map(|o| format!(" ({o})")).unwrap_or_default(),
        .missing.join(", ")
    )]
    MissingFiles {
        /// The folder that was searched.
        dir: PathBuf,
        /// Where the folder came from, when it was located by [`crate::locate`].
        origin: Option<Origin>,
        /// Base names of the files that are absent.
        missing: Vec<String>,
    },

    /// A file is not a valid gzip stream (bad header, corrupt body, bad CRC).
    #[error("corrupt gzip data in {path}")]
    Gzip {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        #[source]
        source: io::Error,
    },

    /// The IDX magic number is wrong for this kind of file.
    #[error("{path}: bad IDX magic number: expected {expected:#010x}, found {found:#010x}")]
    Magic {
        /// The file.
        path: PathBuf,
        /// The magic number the file kind requires.
        expected: u32,
        /// The magic number in the file.
        found: u32,
    },

    /// The image dimensions in the header are not 28x28.
    #[error("{path}: bad image dimensions: expected {expected:?}, found {found:?}")]
    Dimensions {
        /// The file.
        path: PathBuf,
        /// Rows and columns required.
        expected: [u32; 2],
        /// Rows and columns in the header.
        found: [u32; 2],
    },

    /// The header's item count is not the one this file kind must have.
    #[error("{path}: wrong item count: expected {expected}, found {found}")]
    Count {
        /// The file.
        path: PathBuf,
        /// The count the file kind requires.
        expected: usize,
        /// The count in the header.
        found: usize,
    },

    /// The (decompressed) file is shorter or longer than its header implies.
    #[error(
        "{path}: wrong length ({}): expected {expected} bytes, found {found}",
        if .found < .expected { "truncated" } else { "extra bytes at the end" }
    )]
    Length {
        /// The file.
        path: PathBuf,
        /// The length in bytes the header implies.
        expected: usize,
        /// The actual length in bytes.
        found: usize,
    },

    /// A label is outside `0..=9`.
    #[error("{path}: label at index {index} is out of range: expected 0..=9, found {found}")]
    Label {
        /// The file.
        path: PathBuf,
        /// Position of the first bad label.
        index: usize,
        /// Its value.
        found: u8,
    },

    /// The SHA-256 of the decompressed bytes is not the published one.
    #[error("{path}: SHA-256 mismatch: expected {expected}, found {found}")]
    Digest {
        /// The file.
        path: PathBuf,
        /// The known digest (hex).
        expected: String,
        /// The digest of the bytes read (hex).
        found: String,
    },

    /// A tensor pair does not form a valid split.
    #[error("invalid split: expected {expected}, found {found}")]
    Split {
        /// What was required.
        expected: String,
        /// What was given.
        found: String,
    },

    /// The server answered with an HTTP status that is not a success.
    #[error("GET {url} returned HTTP {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },

    /// A connection, timeout or truncated-body error while downloading.
    #[error("network error while downloading {url}")]
    Network {
        /// The URL requested.
        url: String,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A resumed download got a `Content-Range` that does not start where asked.
    #[error("{url}: bad Content-Range: expected bytes {expected}-, found {found:?}")]
    ContentRange {
        /// The URL requested.
        url: String,
        /// The offset that was asked for.
        expected: u64,
        /// The header value received (empty if absent).
        found: String,
    },

    /// A download kept failing; `source` is the last failure.
    #[error("giving up on {url} after {attempts} attempts")]
    RetriesExhausted {
        /// The URL requested.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        source: Box<DataError>,
    },

    /// A response is larger than any valid copy of the file can be; what had
    /// arrived was deleted.
    #[error(
        "{url}: response too large: {} but a valid copy takes at most {limit} bytes (partial download deleted)",
        match .announced {
            Some(n) => format!("{n} bytes announced"),
            None => format!("more than {limit} bytes sent"),
        }
    )]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The most bytes accepted for this file.
        limit: u64,
        /// The total size the server announced (resumed offset plus
        /// `Content-Length`), if it announced one that was too large.
        announced: Option<u64>,
    },

    /// A complete download failed validation (format or digest); it was deleted.
    #[error("{url} served an invalid file (deleted)")]
    InvalidDownload {
        /// The URL requested.
        url: String,
        /// The validation error (a [`DataError::Digest`], [`DataError::Gzip`], ...).
        #[source]
        source: Box<DataError>,
    },
}

impl DataError {
    /// Builds an [`DataError::Io`].
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DataError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// The message of this error and of all its sources, joined by `": "`
    /// (what `anyhow`'s `{:#}` prints); handy for one-line reports.
    pub fn chain_message(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(err) = next {
            out.push_str(": ");
            out.push_str(&err.to_string());
            next = err.source();
        }
        out
    }
}
