//! Per-sample parameters: drawn on the host from a seeded generator, then applied
//! to a whole batch with device tensor ops (no host loops over pixels).
//!
//! Each [`Augmentation`] draws a [`Drawn`] value for a batch with
//! [`Augmentation::draw`]; [`Drawn::apply`] (or the free functions [`flip`],
//! [`erase`] and [`translate`]) applies it. Only `N` small values per batch
//! are uploaded to the batch's device.

use rand::Rng;
use tch::{Device, Kind, Tensor};

use crate::config::Augmentation;

/// An axis-aligned rectangle to erase: rows `top..top + height`, columns
/// `left..left + width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EraseRect {
    /// First erased row.
    pub top: i64,
    /// First erased column.
    pub left: i64,
    /// Number of erased rows.
    pub height: i64,
    /// Number of erased columns.
    pub width: i64,
}

/// A whole-pixel shift: content moves `dx` pixels right and `dy` pixels down
/// (negative values move it left / up). Pixels shifted in are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shift {
    /// Horizontal shift in pixels (positive: right).
    pub dx: i64,
    /// Vertical shift in pixels (positive: down).
    pub dy: i64,
}

/// The parameters one augmentation drew for one batch, one entry per image.
#[derive(Clone, Debug, PartialEq)]
pub enum Drawn {
    /// `true` where the image is mirrored.
    Flip(Vec<bool>),
    /// The rectangle erased in each image (`None`: image unchanged) and the fill value.
    Erasing {
        /// One entry per image.
        rects: Vec<Option<EraseRect>>,
        /// Value written into the rectangles.
        value: f64,
    },
    /// The shift of each image.
    Translation(Vec<Shift>),
}

impl Drawn {
    /// Number of images the parameters are for.
    pub fn len(&self) -> usize {
        match self {
            Drawn::Flip(mask) => mask.len(),
            Drawn::Erasing { rects, .. } => rects.len(),
            Drawn::Translation(shifts) => shifts.len(),
        }
    }

    /// Whether the parameters are for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies these parameters to `images` (`[N, C, H, W]`, same `N`), returning a new tensor.
    pub fn apply(&self, images: &Tensor) -> Tensor {
        match self {
            Drawn::Flip(mask) => flip(images, mask),
            Drawn::Erasing { rects, value } => erase(images, rects, *value),
            Drawn::Translation(shifts) => translate(images, shifts),
        }
    }
}

/// `lo + (hi - lo) * U[0, 1)`, like torch's `uniform_(lo, hi)`.
fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// torchvision `RandomErasing` for one image: applied with probability `p`;
/// up to 10 attempts of an area in `scale * H * W` and a log-uniform aspect
/// ratio `h / w` in `ratio`; the first rectangle strictly smaller than the
/// image in both sides is placed uniformly. `None` if not applied or nothing fitted.
fn draw_rect<R: Rng + ?Sized>(
    rng: &mut R,
    p: f64,
    scale: (f64, f64),
    ratio: (f64, f64),
    height: i64,
    width: i64,
) -> Option<EraseRect> {
    if rng.random::<f64>() >= p {
        return None;
    }
    let area = (height * width) as f64;
    let (log_lo, log_hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let erase_area = area * uniform(rng, scale.0, scale.1);
        let aspect = uniform(rng, log_lo, log_hi).exp();
        // Python's round() rounds half to even.
        let h = (erase_area * aspect).sqrt().round_ties_even() as i64;
        let w = (erase_area / aspect).sqrt().round_ties_even() as i64;
        if !(h < height && w < width) {
            continue;
        }
        let top = rng.random_range(0..=height - h);
        let left = rng.random_range(0..=width - w);
        return Some(EraseRect {
            top,
            left,
            height: h,
            width: w,
        });
    }
    None
}

impl Augmentation {
    /// Draws this augmentation's parameters for a batch of `batch` images of
    /// `height` x `width`, in image order, from `rng` (never from torch's generator).
    pub fn draw<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        batch: usize,
        height: i64,
        width: i64,
    ) -> Drawn {
        match *self {
            Augmentation::HorizontalFlip { p } => {
                Drawn::Flip((0..batch).map(|_| rng.random::<f64>() < p).collect())
            }
            Augmentation::RandomErasing {
                p,
                scale,
                ratio,
                value,
            } => Drawn::Erasing {
                rects: (0..batch)
                    .map(|_| draw_rect(rng, p, scale, ratio, height, width))
                    .collect(),
                value,
            },
            Augmentation::RandomTranslation { fraction } => {
                // torchvision RandomAffine: max_dx = f * W, max_dy = f * H,
                // shift = round(uniform(-max, max)), x first.
                let (max_dx, max_dy) = (fraction * width as f64, fraction * height as f64);
                Drawn::Translation(
                    (0..batch)
                        .map(|_| {
                            let dx = uniform(rng, -max_dx, max_dx).round_ties_even() as i64;
                            let dy = uniform(rng, -max_dy, max_dy).round_ties_even() as i64;
                            Shift { dx, dy }
                        })
                        .collect(),
                )
            }
        }
    }
}

/// The `[N, C, H, W]` sizes of `images`.
///
/// # Panics
///
/// If `images` is not 4-D.
pub(crate) fn dims(images: &Tensor) -> (i64, i64, i64, i64) {
    match images.size()[..] {
        [n, c, h, w] => (n, c, h, w),
        ref other => panic!("augmentation expects an NCHW batch, got shape {other:?}"),
    }
}

fn check_len(what: &str, got: usize, n: i64) {
    assert!(
        i64::try_from(got) == Ok(n),
        "{what}: {got} per-image parameters for a batch of {n}"
    );
}

/// A host table of `n * cols` int64 values as an `[n, cols]` tensor on `device`.
fn upload_i64(values: &[i64], n: i64, cols: i64, device: Device) -> Tensor {
    Tensor::from_slice(values).to_device(device).view([n, cols])
}

/// Mirrors (along W) the images whose `mask` entry is `true`.
///
/// # Panics
///
/// If `images` is not `[N, C, H, W]` with `N == mask.len()`.
pub fn flip(images: &Tensor, mask: &[bool]) -> Tensor {
    let (n, ..) = dims(images);
    check_len("flip", mask.len(), n);
    let mask = Tensor::from_slice(mask)
        .to_device(images.device())
        .view([n, 1, 1, 1]);
    images.flip([3]).where_self(&mask, images)
}

/// Sets `rects[i]` of image `i` (all channels) to `value`; `None` leaves it unchanged.
///
/// The mask is built on the device from `arange` comparisons against the
/// per-image bounds; rectangles are clipped to the image.
///
/// # Panics
///
/// If `images` is not `[N, C, H, W]` with `N == rects.len()`.
pub fn erase(images: &Tensor, rects: &[Option<EraseRect>], value: f64) -> Tensor {
    let (n, _, h, w) = dims(images);
    check_len("erase", rects.len(), n);
    let device = images.device();
    let bounds: Vec<i64> = rects
        .iter()
        .flat_map(|r| match r {
            Some(r) => [r.top, r.top + r.height, r.left, r.left + r.width],
            None => [0, 0, 0, 0],
        })
        .collect();
    let bounds = upload_i64(&bounds, n, 4, device);
    let bound = |i: i64| bounds.select(1, i).view([n, 1, 1]);
    let rows = Tensor::arange(h, (Kind::Int64, device)).view([1, h, 1]);
    let cols = Tensor::arange(w, (Kind::Int64, device)).view([1, 1, w]);
    let in_rows = rows
        .ge_tensor(&bound(0))
        .logical_and(&rows.lt_tensor(&bound(1)));
    let in_cols = cols
        .ge_tensor(&bound(2))
        .logical_and(&cols.lt_tensor(&bound(3)));
    let mask = in_rows.logical_and(&in_cols).unsqueeze(1);
    images.masked_fill(&mask, value)
}

/// Shifts image `i` by `shifts[i]`, filling uncovered pixels with 0:
/// `out[i, :, y, x] = images[i, :, y - dy, x - dx]` where that is inside the image.
///
/// One `gather` over the flattened `H * W` pixels with per-image source indices,
/// then a validity mask.
///
/// # Panics
///
/// If `images` is not `[N, C, H, W]` with `N == shifts.len()`.
pub fn translate(images: &Tensor, shifts: &[Shift]) -> Tensor {
    let (n, c, h, w) = dims(images);
    check_len("translate", shifts.len(), n);
    let device = images.device();
    let flat: Vec<i64> = shifts.iter().flat_map(|s| [s.dx, s.dy]).collect();
    let shifts = upload_i64(&flat, n, 2, device);
    let dx = shifts.select(1, 0).view([n, 1, 1]);
    let dy = shifts.select(1, 1).view([n, 1, 1]);
    let src_y = Tensor::arange(h, (Kind::Int64, device)).view([1, h, 1]) - dy; // [n, h, 1]
    let src_x = Tensor::arange(w, (Kind::Int64, device)).view([1, 1, w]) - dx; // [n, 1, w]
    let valid_y = src_y.ge(0).logical_and(&src_y.lt(h));
    let valid_x = src_x.ge(0).logical_and(&src_x.lt(w));
    let valid = valid_y.logical_and(&valid_x).unsqueeze(1); // [n, 1, h, w]
    let index = (src_y.clamp(0, (h - 1).max(0)) * w + src_x.clamp(0, (w - 1).max(0)))
        .view([n, 1, h * w])
        .expand([n, c, h * w], false);
    images
        .reshape([n, c, h * w])
        .gather(2, &index, false)
        .view([n, c, h, w])
        .masked_fill(&valid.logical_not(), 0.0)
}
