//! Synthetic IDX files for unit tests.

use std::io::Write;

use crate::kind::{FileKind, IMAGE_PIXELS};

/// An IDX image file: `magic`, `count` in the header, `rows` x `cols`, and
/// `items` images of deterministic pixels (which may differ from `count`).
pub(crate) fn images(magic: u32, count: u32, rows: u32, cols: u32, items: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [magic, count, rows, cols] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    let pixels = items * rows as usize * cols as usize;
    out.extend((0..pixels).map(|i| (i * 7 % 256) as u8));
    out
}

/// A valid-looking image file of `count` 28x28 images.
pub(crate) fn valid_images(count: usize) -> Vec<u8> {
    let bytes = images(FileKind::TestImages.magic(), count as u32, 28, 28, count);
    assert_eq!(bytes.len(), 16 + count * IMAGE_PIXELS);
    bytes
}

/// An IDX label file with `magic`, `count` in the header and these labels.
pub(crate) fn labels(magic: u32, count: u32, labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&magic.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(labels);
    out
}

/// A valid label file of `count` labels cycling through the classes.
pub(crate) fn valid_labels(count: usize) -> Vec<u8> {
    let values: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
    labels(FileKind::TestLabels.magic(), count as u32, &values)
}

/// Gzip-compresses `bytes`.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
