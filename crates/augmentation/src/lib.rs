//! Seeded batch augmentations on NCHW image tensors: horizontal flip, random
//! erasing and random translation, following torchvision's definitions.
//!
//! Augmentations run on a whole batch `[N, C, H, W]` of `f32` pixels in
//! `[0, 1]`, before normalisation (so 0 is the black background), on whatever
//! device the batch is on. A [`Pipeline`] owns the configured
//! [`Augmentation`]s, applied in order, and a ChaCha8 generator seeded from
//! a seed the trainer derives from the trial seed and re-derives at the start of every
//! epoch ([`Pipeline::reseed`]), so epoch `e`'s draws depend only on the trial seed and
//! `e`:
//!
//! ```no_run
//! use augmentation::{Augmentation, Pipeline};
//! # let batch = tch::Tensor::zeros([256, 1, 28, 28], (tch::Kind::Float, tch::Device::Cpu));
//! let mut pipeline = Pipeline::new(
//!     vec![Augmentation::DEFAULT_FLIP, Augmentation::DEFAULT_ERASING],
//!     42, // the seed of this epoch's augmentation stream
//! );
//! let augmented = pipeline.apply(&batch);
//! ```
//!
//! # Where the randomness comes from
//!
//! Every random choice is drawn on the host from the pipeline's generator,
//! never from libtorch's global generator: per image, a flip decision, an
//! erase rectangle or a shift ([`Drawn`]). Those few values per image are
//! uploaded as small tensors and applied with device tensor ops (`where`,
//! masks built from `arange` comparisons, one `gather`), with no host loops
//! over pixels. So the same seed gives the same augmented batches on the CPU
//! and on a GPU, and augmentation does not disturb the generator that drives
//! initialisation and dropout.
//!
//! # The augmentations (torchvision's algorithms, applied per image)
//!
//! * [`Augmentation::HorizontalFlip`] mirrors left-right with probability `p`.
//! * [`Augmentation::RandomErasing`], with probability `p`, makes up to 10 attempts
//!   to draw an area uniformly in `scale * H * W` and an aspect ratio `h / w`
//!   log-uniformly in `ratio`; `h = round(sqrt(area * ratio))`,
//!   `w = round(sqrt(area / ratio))`; the first rectangle with `h < H` and
//!   `w < W` is placed uniformly and set to `value` in all channels. If no
//!   attempt fits, the image is unchanged.
//! * [`Augmentation::RandomTranslation`] works like
//!   `RandomAffine(degrees=0, translate=(f, f))`: `dx = round(U(-f W, f W))`,
//!   `dy = round(U(-f H, f H))` (round half to even, as Python does); content
//!   moves `dx` right and `dy` down; uncovered pixels are 0.
//!
//! In configs (RON), every field defaults to torchvision's value:
//! `HorizontalFlip()`, `HorizontalFlip(p: 0.3)`, `RandomErasing()`,
//! `RandomErasing(p: 1.0, value: 0.5)`, `RandomTranslation(fraction: 0.2)`.

pub mod config;
#[cfg(feature = "torch")]
pub mod ops;
#[cfg(feature = "torch")]
pub mod pipeline;

pub use config::{AugmentError, Augmentation};
#[cfg(feature = "torch")]
pub use ops::{Drawn, EraseRect, Shift, erase, flip, translate};
#[cfg(feature = "torch")]
pub use pipeline::{Pipeline, STREAM};
