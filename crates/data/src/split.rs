//! A split (train or test) held compactly as `uint8` tensors, and its
//! batch iterator.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::error::DataError;
use crate::kind::IMAGE_SIDE;
use crate::{CLASS_NAMES, PIXEL_MEAN, PIXEL_STD};

/// Images (`uint8 [N, 1, 28, 28]`) and labels (`int64 [N]`) on one device.
#[derive(Debug)]
pub struct Split {
    images: Tensor,
    labels: Tensor,
}

impl Split {
    /// Checks kinds, shapes, devices and label range, then wraps the tensors.
    pub fn new(images: Tensor, labels: Tensor) -> Result<Self, DataError> {
        let side = IMAGE_SIDE as i64;
        let n = labels.size().first().copied().unwrap_or(-1);
        let invalid = |expected: &str, found: String| {
            Err(DataError::Split {
                expected: expected.to_owned(),
                found,
            })
        };
        if labels.kind() != Kind::Int64 || labels.dim() != 1 {
            return invalid(
                "labels of kind Int64 and shape [N]",
                format!("{:?} {:?}", labels.kind(), labels.size()),
            );
        }
        if images.kind() != Kind::Uint8 || images.size() != [n, 1, side, side] {
            return invalid(
                &format!("images of kind Uint8 and shape [{n}, 1, {side}, {side}]"),
                format!("{:?} {:?}", images.kind(), images.size()),
            );
        }
        if images.device() != labels.device() {
            return invalid(
                "images and labels on one device",
                format!("{:?} and {:?}", images.device(), labels.device()),
            );
        }
        if n > 0 {
            let (min, max) = (labels.min().int64_value(&[]), labels.max().int64_value(&[]));
            if min < 0 || max >= CLASS_NAMES.len() as i64 {
                return invalid("labels in 0..=9", format!("labels in {min}..={max}"));
            }
        }
        Ok(Split { images, labels })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    /// Whether the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The images, `uint8 [N, 1, 28, 28]`.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// The labels, `int64 [N]`.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }

    /// The device both tensors live on.
    pub fn device(&self) -> Device {
        self.images.device()
    }

    /// The first `n` examples (all of them if `n >= len`), as views sharing
    /// this split's storage.
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len()) as i64;
        Split {
            images: self.images.narrow(0, 0, n),
            labels: self.labels.narrow(0, 0, n),
        }
    }

    /// A copy on `device`, still `uint8` (4 times smaller than `f32`).
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
        }
    }

    /// Number of examples of each class, indexed like [`CLASS_NAMES`].
    pub fn class_counts(&self) -> [usize; 10] {
        let counts = self
            .labels
            .bincount(None::<Tensor>, 10)
            .to_device(Device::Cpu);
        let counts = Vec::<i64>::try_from(&counts).expect("bincount yields int64");
        std::array::from_fn(|class| counts[class] as usize)
    }

    /// Mean and (population) standard deviation of the pixels scaled to
    /// `[0, 1]`, computed exactly from a 256-bin histogram; `NaN` when empty.
    pub fn pixel_mean_std(&self) -> (f64, f64) {
        let histogram = self
            .images
            .flatten(0, -1)
            .bincount(None::<Tensor>, 256)
            .to_device(Device::Cpu);
        let histogram = Vec::<i64>::try_from(&histogram).expect("bincount yields int64");
        let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
        for (value, &count) in histogram.iter().enumerate() {
            let (x, count) = (value as f64 / 255.0, count as f64);
            n += count;
            sum += count * x;
            sum_sq += count * x * x;
        }
        let mean = sum / n;
        let variance = (sum_sq / n - mean * mean).max(0.0);
        (mean, variance.sqrt())
    }

    /// Iterates over batches of at most `batch_size` examples (the last
    /// batch may be smaller), in the given order. See [`BatchOrder`].
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn batches(&self, batch_size: usize, order: BatchOrder) -> Batches {
        assert!(batch_size > 0, "batch size must be positive");
        let index = order
            .permutation(self.len())
            .map(|perm| Tensor::from_slice(&perm).to_device(self.device()));
        Batches {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
            index,
            batch_size,
            next: 0,
            len: self.len(),
        }
    }
}

/// The order in which [`Split::batches`] visits the examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchOrder {
    /// Examples `0, 1, 2, ...`.
    Sequential,
    /// A permutation drawn on the host from `ChaCha8Rng::seed_from_u64(seed)`
    /// with `set_stream(epoch)`: the same `(seed, epoch)` always gives the
    /// same order, on any device.
    Shuffled {
        /// Seed of the run (or trial).
        seed: u64,
        /// Epoch number; each epoch gets its own stream.
        epoch: u64,
    },
}

impl BatchOrder {
    /// The order as example indices, or `None` for [`BatchOrder::Sequential`].
    pub fn permutation(self, len: usize) -> Option<Vec<i64>> {
        match self {
            BatchOrder::Sequential => None,
            BatchOrder::Shuffled { seed, epoch } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(epoch);
                let mut perm: Vec<i64> = (0..len as i64).collect();
                perm.shuffle(&mut rng);
                Some(perm)
            }
        }
    }
}

/// One batch: images `f32 [B, 1, 28, 28]` in `[0, 1]` and labels `i64 [B]`.
#[derive(Debug)]
pub struct Batch {
    /// Pixels scaled to `[0, 1]`, not normalised (see [`normalize`]).
    pub images: Tensor,
    /// Class indices in `0..=9`.
    pub labels: Tensor,
}

/// Iterator over the batches of a [`Split`]; see [`Split::batches`].
#[derive(Debug)]
pub struct Batches {
    images: Tensor,
    labels: Tensor,
    /// The permutation on the split's device, if shuffled.
    index: Option<Tensor>,
    batch_size: usize,
    next: usize,
    len: usize,
}

impl Iterator for Batches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.len {
            return None;
        }
        let (start, size) = (self.next, self.batch_size.min(self.len - self.next));
        self.next += size;
        let (images, labels) = match &self.index {
            Some(index) => {
                let index = index.narrow(0, start as i64, size as i64);
                (
                    self.images.index_select(0, &index),
                    self.labels.index_select(0, &index),
                )
            }
            None => (
                self.images.narrow(0, start as i64, size as i64),
                self.labels.narrow(0, start as i64, size as i64).copy(),
            ),
        };
        let mut images = images.to_kind(Kind::Float);
        let _ = images.g_div_scalar_(255.0);
        Some(Batch { images, labels })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.len - self.next).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches {}

/// Normalises `[0, 1]` images with the training set's statistics:
/// `(x - PIXEL_MEAN) / PIXEL_STD`.
pub fn normalize(images: &Tensor) -> Tensor {
    (images - PIXEL_MEAN) / PIXEL_STD
}

#[cfg(test)]
mod tests;
