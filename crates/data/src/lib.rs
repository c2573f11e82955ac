//! Fashion-MNIST for the harness: locating (or downloading) the four files,
//! a strict IDX reader, SHA-256 verification on every load, and compact
//! `uint8` splits with seeded, device-side batching.
//!
//! ```no_run
//! # fn main() -> Result<(), data::DataError> {
//! let source = data::locate(None, None)?;
//! let data = data::FashionMnist::load(&source.dir, true)?;
//! for batch in data.train.batches(256, data::BatchOrder::Shuffled { seed: 1, epoch: 0 }) {
//!     let x = data::normalize(&batch.images);
//!     # let _ = (x, batch.labels);
//! }
//! # Ok(()) }
//! ```

#[cfg(feature = "torch")]
mod dataset;
mod digest;
pub mod download;
mod error;
pub mod idx;
mod kind;
mod locate;
mod origin;
#[cfg(feature = "torch")]
mod split;
#[cfg(feature = "torch")]
mod verify;

#[cfg(test)]
mod test_support;

#[cfg(feature = "torch")]
pub use dataset::FashionMnist;
pub use digest::{canonical_digest, dataset_digest, sha256_hex};
pub use error::DataError;
pub use kind::{FileKind, IMAGE_PIXELS, IMAGE_SIDE};
pub use locate::{
    DEFAULT_MIRROR, DataSource, ENV_DIR, ENV_MIRROR, Origin, SYSTEM_DIR, cache_dir, has_data,
    locate, missing_files,
};
#[cfg(feature = "torch")]
pub use split::{Batch, BatchOrder, Batches, Split, normalize};
#[cfg(feature = "torch")]
pub use verify::{FileReport, Verification, verify_dir};

/// Class names, indexed by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Mean of the training set's pixels scaled to `[0, 1]`.
pub const PIXEL_MEAN: f64 = 0.2860;

/// Standard deviation of the training set's pixels scaled to `[0, 1]`.
pub const PIXEL_STD: f64 = 0.3530;
