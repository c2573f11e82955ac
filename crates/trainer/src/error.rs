//! Errors of the training loop.

/// What can stop a trial other than divergence (which is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// libtorch reported an error (out of memory, a bad device, ...).
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Writing a checkpoint failed.
    #[error("cannot write checkpoint {path}: {source}")]
    Checkpoint {
        /// The file being written.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
