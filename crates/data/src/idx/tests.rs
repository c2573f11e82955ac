//! Unit tests of the strict IDX reader on synthetic files in a temp dir.

use std::path::{Path, PathBuf};

use super::*;
use crate::test_support::{gzip, images, labels, valid_images, valid_labels};

const IMAGES: FileKind = FileKind::TestImages;
const LABELS: FileKind = FileKind::TestLabels;

/// Writes `bytes` to `name` in `dir` and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Asserts that the error message names `path` and contains each of `parts`.
fn assert_message(err: &DataError, path: &Path, parts: &[&str]) {
    let message = err.chain_message();
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} does not name {}",
        path.display()
    );
    for part in parts {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
}

#[test]
fn large_files_are_hashed_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // 1500 images: about 1.1 MiB, more than one hashing chunk.
    let raw = valid_images(1500);
    assert!(raw.len() > super::HASH_CHUNK);
    for (name, bytes) in [("img", raw.clone()), ("img.gz", gzip(&raw))] {
        let path = write(dir.path(), name, &bytes);
        let file = read_file_with_count(&path, IMAGES, 1500).unwrap();
        assert_eq!(file.bytes, raw);
        assert_eq!(file.sha256, crate::sha256_hex(&raw));
    }
}

#[test]
fn valid_files_parse_raw_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    let raw = valid_images(3);
    for (name, bytes) in [("img", raw.clone()), ("img.gz", gzip(&raw))] {
        let path = write(dir.path(), name, &bytes);
        let file = read_file_with_count(&path, IMAGES, 3).unwrap();
        assert_eq!(file.bytes, raw);
        assert_eq!(file.header.count, 3);
        assert_eq!(file.header.shape, vec![3, 28, 28]);
        assert_eq!(file.payload(), &raw[16..]);
        assert_eq!(file.sha256, crate::sha256_hex(&raw));
    }

    let raw = valid_labels(5);
    let path = write(dir.path(), "lab.gz", &gzip(&raw));
    let file = read_file_with_count(&path, LABELS, 5).unwrap();
    assert_eq!(file.header.shape, vec![5]);
    assert_eq!(file.payload(), &[0, 1, 2, 3, 4]);
}

#[test]
fn wrong_magic_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // A label file carrying the image magic.
    let path = write(dir.path(), "lab", &labels(0x0803, 2, &[1, 2]));
    let err = read_file_with_count(&path, LABELS, 2).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Magic {
                expected: 0x0801,
                found: 0x0803,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, &path, &["0x00000801", "0x00000803"]);
}

#[test]
fn wrong_dimensions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "img", &images(0x0803, 1, 27, 28, 1));
    let err = read_file_with_count(&path, IMAGES, 1).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Dimensions {
                expected: [28, 28],
                found: [27, 28],
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, &path, &["[28, 28]", "[27, 28]"]);
}

#[test]
fn truncated_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = valid_images(3);
    raw.pop();
    let expected = 16 + 3 * 784;
    for (name, bytes) in [("img", raw.clone()), ("img.gz", gzip(&raw))] {
        let path = write(dir.path(), name, &bytes);
        let err = read_file_with_count(&path, IMAGES, 3).unwrap_err();
        assert!(
            matches!(err, DataError::Length { expected: e, found: f, .. }
                if e == expected && f == expected - 1),
            "{err:?}"
        );
        assert_message(&err, &path, &["truncated", "2368", "2367"]);
    }
}

#[test]
fn header_shorter_than_its_length_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "lab", &[0, 0, 8]);
    let err = read_file_with_count(&path, LABELS, 2).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Length {
                expected: 10,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, &path, &["expected 10", "found 3"]);
}

#[test]
fn extra_bytes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = valid_labels(4);
    raw.extend_from_slice(&[0; 5]);
    for (name, bytes) in [("lab", raw.clone()), ("lab.gz", gzip(&raw))] {
        let path = write(dir.path(), name, &bytes);
        let err = read_file_with_count(&path, LABELS, 4).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Length {
                    expected: 12,
                    found: 17,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_message(&err, &path, &["extra bytes", "expected 12", "found 17"]);
    }
}

#[test]
fn wrong_count_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // Internally consistent (4 images, 4 in the header) but 3 are expected.
    let path = write(dir.path(), "img.gz", &gzip(&valid_images(4)));
    let err = read_file_with_count(&path, IMAGES, 3).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Count {
                expected: 3,
                found: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, &path, &["expected 3", "found 4"]);
}

#[test]
fn real_kind_counts_apply_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "lab", &valid_labels(4));
    let err = read_file(&path, FileKind::TrainLabels).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Count {
                expected: 60_000,
                found: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn label_ten_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "lab", &labels(0x0801, 4, &[0, 9, 10, 3]));
    let err = read_file_with_count(&path, LABELS, 4).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Label {
                index: 2,
                found: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, &path, &["index 2", "0..=9", "found 10"]);
}

#[test]
fn corrupt_gzip_body_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = gzip(&valid_images(3));
    // Keep the 10-byte gzip header intact; spoil the deflate body.
    let body = 10..gz.len() - 8;
    let middle = (body.start + body.end) / 2;
    for byte in &mut gz[middle..middle + 16] {
        *byte ^= 0xa5;
    }
    assert_eq!(gz[..2], GZIP_MAGIC);
    let path = write(dir.path(), "img.gz", &gz);
    let err = read_file_with_count(&path, IMAGES, 3).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert_message(&err, &path, &["corrupt gzip"]);
}

#[test]
fn truncated_gzip_stream_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(&valid_labels(100));
    let path = write(dir.path(), "lab.gz", &gz[..gz.len() / 2]);
    let err = read_file_with_count(&path, LABELS, 100).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert_message(&err, &path, &["corrupt gzip"]);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let err = read_file(&path, LABELS).unwrap_err();
    assert!(
        matches!(err, DataError::Io { action: "open", .. }),
        "{err:?}"
    );
    assert_message(&err, &path, &["cannot open"]);
}

#[test]
fn parse_and_decode_work_on_memory() {
    let path = Path::new("memory");
    let raw = valid_labels(LABELS.expected_count());
    assert_eq!(decode(path, &gzip(&raw), 0).unwrap(), raw);
    assert_eq!(decode(path, &raw, 0).unwrap(), raw);
    let header = parse(path, &raw, LABELS).unwrap();
    assert_eq!(header.count, 10_000);
    let err = parse(path, &raw[..100], LABELS).unwrap_err();
    assert!(matches!(
        err,
        DataError::Length {
            expected: 10_008,
            found: 100,
            ..
        }
    ));
}
