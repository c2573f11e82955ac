//! Errors of the run store.

use std::path::{Path, PathBuf};

/// Errors of the run store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause (a full disk shows here).
        source: std::io::Error,
    },
    /// A record cannot be parsed or is not a valid record of its folder.
    #[error("{path}: unusable trial record: {message}")]
    BadRecord {
        /// The file.
        path: PathBuf,
        /// The parser's or the validator's message.
        message: String,
    },
    /// A folder (the run store's, or one a command writes into) does not accept writes
    /// (read-only filesystem, permissions, full disk).
    #[error("not writable: cannot write {path}: {source}")]
    Unwritable {
        /// The folder or file that could not be written.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// One of the store's own folders is not what the store made it: a symbolic link (the
    /// work would land outside the store), or on another filesystem than the trials (the
    /// publishing rename would fail after training).
    #[error("{path}: {message}")]
    Layout {
        /// The folder.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A path named for output exists and is something a file must not replace: a folder,
    /// a block device, a socket, or a symbolic link to nothing.
    #[error("refusing to write {path}: it is {what}")]
    NotAFile {
        /// The path the user named.
        path: PathBuf,
        /// What is there ("a directory", "a block device", ...).
        what: &'static str,
    },
    /// Another process took this claim over while the trial ran.
    #[error(
        "{path}: the claim was taken over by another process (this one's heartbeat was thought dead); nothing published"
    )]
    ClaimLost {
        /// The lease file.
        path: PathBuf,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
