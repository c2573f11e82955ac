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
    /// An event could not be persisted by the sink (the trial stops at the first failed
    /// write, e.g. on a full disk).
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file being written.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint that was verified could not be loaded back.
    #[error("cannot resume from {path}: {message}")]
    Resume {
        /// The checkpoint folder or file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A model file could not be loaded into the trial's network.
    #[error("cannot load weights from {path}: {message}")]
    Load {
        /// The model file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
}
