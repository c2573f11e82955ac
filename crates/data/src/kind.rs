//! The four Fashion-MNIST files and the facts known about each of them.

use std::fmt;
use std::path::{Path, PathBuf};

/// Side of a Fashion-MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;

/// Pixels in one image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// One of the four Fashion-MNIST files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FileKind {
    /// `train-images-idx3-ubyte`: 60,000 images.
    TrainImages,
    /// `train-labels-idx1-ubyte`: 60,000 labels.
    TrainLabels,
    /// `t10k-images-idx3-ubyte`: 10,000 images.
    TestImages,
    /// `t10k-labels-idx1-ubyte`: 10,000 labels.
    TestLabels,
}

impl FileKind {
    /// All four, in the canonical order (the order of [`crate::FashionMnist::digest`]).
    pub const ALL: [FileKind; 4] = [
        FileKind::TrainImages,
        FileKind::TrainLabels,
        FileKind::TestImages,
        FileKind::TestLabels,
    ];

    /// Base name of the decompressed file, e.g. `train-images-idx3-ubyte`.
    pub const fn file_name(self) -> &'static str {
        match self {
            FileKind::TrainImages => "train-images-idx3-ubyte",
            FileKind::TrainLabels => "train-labels-idx1-ubyte",
            FileKind::TestImages => "t10k-images-idx3-ubyte",
            FileKind::TestLabels => "t10k-labels-idx1-ubyte",
        }
    }

    /// Name of the compressed file, e.g. `train-images-idx3-ubyte.gz`.
    pub fn gz_name(self) -> String {
        format!("{}.gz", self.file_name())
    }

    /// Published SHA-256 (lowercase hex) of the decompressed file.
    pub const fn expected_sha256(self) -> &'static str {
        match self {
            FileKind::TrainImages => {
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
            }
            FileKind::TrainLabels => {
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
            }
            FileKind::TestImages => {
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
            }
            FileKind::TestLabels => {
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
            }
        }
    }

    /// Number of examples the file holds.
    pub const fn expected_count(self) -> usize {
        match self {
            FileKind::TrainImages | FileKind::TrainLabels => 60_000,
            FileKind::TestImages | FileKind::TestLabels => 10_000,
        }
    }

    /// Length in bytes of the decompressed file.
    pub const fn expected_len(self) -> usize {
        self.len_for_count(self.expected_count())
    }

    /// Whether the file holds images (else labels).
    pub const fn is_images(self) -> bool {
        matches!(self, FileKind::TrainImages | FileKind::TestImages)
    }

    /// The IDX magic number: `0x00000803` for images, `0x00000801` for labels.
    pub const fn magic(self) -> u32 {
        if self.is_images() { 0x0803 } else { 0x0801 }
    }

    /// Length of the IDX header in bytes (magic + one u32 per dimension).
    pub const fn header_len(self) -> usize {
        if self.is_images() { 16 } else { 8 }
    }

    /// Bytes per example after the header.
    pub const fn item_len(self) -> usize {
        if self.is_images() { IMAGE_PIXELS } else { 1 }
    }

    /// Length in bytes of a file of this kind holding `count` examples.
    pub const fn len_for_count(self, count: usize) -> usize {
        self.header_len() + count * self.item_len()
    }

    /// The file of this kind in `dir`: `<name>` if present, else `<name>.gz`
    /// if present, else `None`. The decompressed file wins because it loads
    /// faster; either way its content is verified.
    pub fn find_in(self, dir: &Path) -> Option<PathBuf> {
        let raw = dir.join(self.file_name());
        if raw.is_file() {
            return Some(raw);
        }
        let gz = dir.join(self.gz_name());
        gz.is_file().then_some(gz)
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_published_sizes() {
        assert_eq!(FileKind::TrainImages.expected_len(), 47_040_016);
        assert_eq!(FileKind::TrainLabels.expected_len(), 60_008);
        assert_eq!(FileKind::TestImages.expected_len(), 7_840_016);
        assert_eq!(FileKind::TestLabels.expected_len(), 10_008);
    }

    #[test]
    fn find_in_prefers_the_decompressed_file() {
        let dir = tempfile::tempdir().unwrap();
        let kind = FileKind::TestLabels;
        assert_eq!(kind.find_in(dir.path()), None);
        std::fs::write(dir.path().join(kind.gz_name()), b"x").unwrap();
        assert_eq!(
            kind.find_in(dir.path()),
            Some(dir.path().join(kind.gz_name()))
        );
        std::fs::write(dir.path().join(kind.file_name()), b"x").unwrap();
        assert_eq!(
            kind.find_in(dir.path()),
            Some(dir.path().join(kind.file_name()))
        );
    }
}
