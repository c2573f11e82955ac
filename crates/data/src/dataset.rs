//! Loading the whole dataset: the four files read in parallel, strictly
//! checked, hashed once, and copied once into `uint8` tensors.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};

use crate::digest::dataset_digest;
use crate::error::DataError;
use crate::idx::{self, IdxFile};
use crate::kind::{FileKind, IMAGE_SIDE};
use crate::split::Split;

/// Fashion-MNIST in memory, on the CPU.
#[derive(Debug)]
pub struct FashionMnist {
    /// 60,000 training examples.
    pub train: Split,
    /// 10,000 test examples.
    pub test: Split,
    /// Dataset id: hex SHA-256 of the four file digests (raw bytes)
    /// concatenated in [`FileKind::ALL`] order; see [`crate::dataset_digest`].
    pub digest: String,
    /// The folder the files were read from.
    pub dir: PathBuf,
    /// Whether all four files matched their published SHA-256.
    pub verified: bool,
}

impl FashionMnist {
    /// Strict load from `dir` (each file as `NAME` or `NAME.gz`).
    ///
    /// Structure checks always run. With `verify`, a file whose SHA-256 is
    /// not the published one is an error; without, it is accepted and only
    /// [`FashionMnist::verified`] says so. The digests are computed either
    /// way, since [`FashionMnist::digest`] is built from them.
    pub fn load(dir: &Path, verify: bool) -> Result<Self, DataError> {
        let [train_images, train_labels, test_images, test_labels] = read_all(dir)?;
        let files = [&train_images, &train_labels, &test_images, &test_labels];
        let mut verified = true;
        for file in files {
            if !file.matched() {
                verified = false;
                if verify {
                    return Err(file.digest_error());
                }
            }
        }
        let digest = dataset_digest(&files.map(|f| f.file.sha256.as_str()));
        Ok(FashionMnist {
            train: split(&train_images.file, &train_labels.file)?,
            test: split(&test_images.file, &test_labels.file)?,
            digest,
            dir: dir.to_owned(),
            verified,
        })
    }
}

impl FashionMnist {
    /// What `harness data info` prints after the folder: the dataset digest, the class
    /// counts of both splits and the training set's pixel mean and standard deviation.
    pub fn info_lines(&self) -> Vec<String> {
        let (train, test) = (self.train.class_counts(), self.test.class_counts());
        let mut lines = vec![
            format!("dataset digest: {}", self.digest),
            String::new(),
            format!(
                "{:>5}  {:<12} {:>7} {:>7}",
                "label", "class", "train", "test"
            ),
        ];
        for (label, name) in crate::CLASS_NAMES.iter().enumerate() {
            lines.push(format!(
                "{label:>5}  {name:<12} {:>7} {:>7}",
                train[label], test[label]
            ));
        }
        lines.push(format!(
            "{:>5}  {:<12} {:>7} {:>7}",
            "",
            "total",
            self.train.len(),
            self.test.len()
        ));
        lines.push(String::new());
        let (mean, std) = self.train.pixel_mean_std();
        lines.push(format!(
            "training pixels in [0, 1]: mean {mean:.4}, std {std:.4} (normalisation uses {:.4} / {:.4})",
            crate::PIXEL_MEAN,
            crate::PIXEL_STD
        ));
        lines
    }
}

/// One file read, checked and hashed, and where it was found.
#[derive(Debug)]
pub(crate) struct CheckedFile {
    pub(crate) path: PathBuf,
    pub(crate) file: IdxFile,
}

impl CheckedFile {
    /// Whether the digest is the published one.
    pub(crate) fn matched(&self) -> bool {
        self.file.sha256 == self.file.header.kind.expected_sha256()
    }

    /// The error for a digest that did not match.
    pub(crate) fn digest_error(&self) -> DataError {
        DataError::Digest {
            path: self.path.clone(),
            expected: self.file.header.kind.expected_sha256().to_owned(),
            found: self.file.sha256.clone(),
        }
    }
}

/// Finds, reads, checks and hashes the file of `kind` in `dir`.
pub(crate) fn read_checked(dir: &Path, kind: FileKind) -> Result<CheckedFile, DataError> {
    let path = kind.find_in(dir).ok_or_else(|| DataError::MissingFiles {
        dir: dir.to_owned(),
        origin: None,
        missing: vec![kind.file_name().to_owned()],
    })?;
    let file = idx::read_file(&path, kind)?;
    Ok(CheckedFile { path, file })
}

/// [`read_checked`] on the four files in parallel, results in `ALL` order.
pub(crate) fn read_each(dir: &Path) -> [Result<CheckedFile, DataError>; 4] {
    std::thread::scope(|scope| {
        let handles = FileKind::ALL.map(|kind| scope.spawn(move || read_checked(dir, kind)));
        handles.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// [`read_each`], failing on the first error in `ALL` order.
fn read_all(dir: &Path) -> Result<[CheckedFile; 4], DataError> {
    let [a, b, c, d] = read_each(dir);
    Ok([a?, b?, c?, d?])
}

/// Builds a split from checked image and label files (one copy each).
fn split(images: &IdxFile, labels: &IdxFile) -> Result<Split, DataError> {
    let n = images.header.count as i64;
    let side = IMAGE_SIDE as i64;
    let images = Tensor::from_data_size(images.payload(), &[n, 1, side, side], Kind::Uint8);
    let labels: Vec<i64> = labels.payload().iter().map(|&l| i64::from(l)).collect();
    Split::new(images, Tensor::from_slice(&labels))
}
