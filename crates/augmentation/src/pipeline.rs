//! An ordered list of augmentations with its own seeded random stream.
//!
//! The stream can be re-seeded at any point ([`Pipeline::reseed`]); the trainer does so
//! at the start of every epoch with a seed derived from the trial seed and the epoch, so
//! the augmentations of epoch `e` never depend on how many draws earlier epochs made, and
//! a trial resumed at epoch `e` draws exactly what an uninterrupted one would.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::config::{AugmentError, Augmentation};
use crate::ops::{Drawn, dims};

/// The ChaCha stream the pipeline draws from (`b"augment\0"` as a little-endian
/// `u64`), so that a pipeline seeded with the trial seed does not replay the
/// numbers of another ChaCha8 generator seeded with the same value on stream 0.
pub const STREAM: u64 = u64::from_le_bytes(*b"augment\0");

fn stream(seed: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(STREAM);
    rng
}

/// The configured augmentations, applied in order, and the generator all their
/// randomness comes from (a [`ChaCha8Rng`] seeded from the trial seed, on
/// [`STREAM`]). The same seed and the same sequence of batch shapes give the
/// same augmented batches on every device.
#[derive(Clone, Debug)]
pub struct Pipeline {
    augmentations: Vec<Augmentation>,
    rng: ChaCha8Rng,
}

impl Pipeline {
    /// A pipeline applying `augmentations` in order, seeded with `seed`.
    ///
    /// # Panics
    ///
    /// If an augmentation fails [`Augmentation::validate`] (configs are
    /// validated before this; use [`Pipeline::try_new`] to get the error).
    pub fn new(augmentations: Vec<Augmentation>, seed: u64) -> Pipeline {
        match Pipeline::try_new(augmentations, seed) {
            Ok(pipeline) => pipeline,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`Pipeline::new`], but returns the first validation error.
    pub fn try_new(augmentations: Vec<Augmentation>, seed: u64) -> Result<Pipeline, AugmentError> {
        for aug in &augmentations {
            aug.validate()?;
        }
        Ok(Pipeline {
            augmentations,
            rng: stream(seed),
        })
    }

    /// Restarts the random stream from `seed`, as if the pipeline had just been made with
    /// [`Pipeline::new`]`(augmentations, seed)`: what it draws next depends on `seed` alone,
    /// not on anything drawn before.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = stream(seed);
    }

    /// The augmentations, in the order they are applied.
    pub fn augmentations(&self) -> &[Augmentation] {
        &self.augmentations
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.augmentations.is_empty()
    }

    /// Augments a batch `[N, C, H, W]` with pixels in `[0, 1]` (before
    /// normalisation), on whatever device it is on. Returns a new tensor; an
    /// empty pipeline returns a shallow clone and draws nothing.
    ///
    /// # Panics
    ///
    /// If `images` is not 4-D.
    pub fn apply(&mut self, images: &Tensor) -> Tensor {
        self.apply_with_params(images).0
    }

    /// Like [`Pipeline::apply`], also returning the parameters each augmentation
    /// drew (in order), e.g. to log or test them.
    pub fn apply_with_params(&mut self, images: &Tensor) -> (Tensor, Vec<Drawn>) {
        if self.is_empty() {
            return (images.shallow_clone(), Vec::new());
        }
        let (n, _, h, w) = dims(images);
        let batch = usize::try_from(n).expect("tensor sizes are non-negative");
        let mut out = images.shallow_clone();
        let mut drawn = Vec::with_capacity(self.augmentations.len());
        for aug in &self.augmentations {
            let params = aug.draw(&mut self.rng, batch, h, w);
            out = params.apply(&out);
            drawn.push(params);
        }
        (out, drawn)
    }
}
