//! Property tests on the real files: the real label and image files, raw and gzipped,
//! mutated (truncated, bytes flipped, header fields changed, bytes appended) never make the
//! reader panic. It answers with the file exactly as decompressed, or a typed error; and
//! only the unchanged bytes carry the published SHA-256. Failures are saved by proptest in
//! `crates/data/tests/integration/fuzz_real.proptest-regressions` and replayed first.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use data::{DataError, FileKind, idx};
use proptest::prelude::*;

use crate::util::real_gz;

/// One change to a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep the first `per_mille` thousandths (at least the first byte is cut).
    Truncate(u16),
    /// XOR the byte at `per_mille` with `mask`.
    Flip(u16, u8),
    /// Overwrite header word `index` (0 magic, 1 count, 2 rows, 3 cols) with `value`.
    Header(u8, u32),
    /// Append these bytes.
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0u16..1000).prop_map(Mutation::Truncate),
        (0u16..1000, 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (
            0u8..4,
            prop_oneof![
                any::<u32>(),
                Just(0x0801),
                Just(0x0803),
                Just(10_000),
                Just(60_000)
            ]
        )
            .prop_map(|(i, v)| Mutation::Header(i, v)),
        proptest::collection::vec(any::<u8>(), 1..32).prop_map(Mutation::Append),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    let at = |per_mille: u16| len * usize::from(per_mille) / 1000;
    match mutation {
        Mutation::Truncate(p) => bytes.truncate(at(*p).min(len.saturating_sub(1))),
        Mutation::Flip(p, mask) => {
            if len > 0 {
                bytes[at(*p).min(len - 1)] ^= mask;
            }
        }
        Mutation::Header(i, value) => {
            let start = usize::from(*i) * 4;
            if start + 4 <= len {
                bytes[start..start + 4].copy_from_slice(&value.to_be_bytes());
            }
        }
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
    }
}

/// The decompressed real file of `kind`, decoded once.
fn real_raw(kind: FileKind) -> &'static [u8] {
    static LABELS: OnceLock<Vec<u8>> = OnceLock::new();
    static IMAGES: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = match kind {
        FileKind::TestLabels => &LABELS,
        FileKind::TestImages => &IMAGES,
        other => panic!("not used here: {other}"),
    };
    cell.get_or_init(|| {
        idx::decode(Path::new("real"), &real_gz(kind), kind.expected_len()).unwrap()
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Reads `bytes` from a temp file named like the real one, as `kind`.
fn read(bytes: &[u8], kind: FileKind, gz: bool) -> Result<idx::IdxFile, DataError> {
    let dir = tempfile::tempdir().unwrap();
    let name = if gz {
        kind.gz_name()
    } else {
        kind.file_name().to_owned()
    };
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let result = idx::read_file(&path, kind);
    if let Err(err) = &result {
        // Every error that is about the file names it.
        let message = err.chain_message();
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
    result
}

/// The outcome of reading `data` (which decompresses to `raw`, if it does) as `kind`.
fn check(kind: FileKind, data: &[u8], raw: Option<&[u8]>, gz: bool) {
    let original = real_raw(kind);
    match (read(data, kind, gz), raw) {
        (Ok(file), Some(raw)) => {
            assert_eq!(file.bytes, raw, "the bytes as decompressed");
            assert_eq!(file.header.count, kind.expected_count());
            assert_eq!(
                file.sha256 == kind.expected_sha256(),
                raw == original,
                "only the real bytes carry the published digest"
            );
        }
        (Ok(_), None) => panic!("read a stream that does not decode"),
        (Err(err), raw) => assert_ne!(raw, Some(original), "the real file was rejected: {err}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_real_labels_never_panic(
        mutations in proptest::collection::vec(mutation(), 0..3),
        gzip_first: bool,
    ) {
        let kind = FileKind::TestLabels;
        if gzip_first {
            let mut gz = real_gz(kind);
            for m in &mutations {
                mutate(&mut gz, m);
            }
            let raw = idx::decode(Path::new("mem"), &gz, 0).ok();
            check(kind, &gz, raw.as_deref(), true);
        } else {
            let mut raw = real_raw(kind).to_vec();
            for m in &mutations {
                mutate(&mut raw, m);
            }
            check(kind, &raw, Some(&raw), false);
            check(kind, &gzip(&raw), Some(&raw), true);
        }
    }
}

proptest! {
    // The image file is 7.8 MB: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn mutated_real_images_never_panic(
        mutations in proptest::collection::vec(mutation(), 1..3),
        gzip_first: bool,
    ) {
        let kind = FileKind::TestImages;
        if gzip_first {
            let mut gz = real_gz(kind);
            for m in &mutations {
                mutate(&mut gz, m);
            }
            let raw = idx::decode(Path::new("mem"), &gz, 0).ok();
            check(kind, &gz, raw.as_deref(), true);
        } else {
            let mut raw = real_raw(kind).to_vec();
            for m in &mutations {
                mutate(&mut raw, m);
            }
            check(kind, &raw, Some(&raw), false);
            // In memory, the same verdict.
            let parsed = idx::parse(Path::new("mem"), &raw, kind);
            prop_assert_eq!(parsed.is_ok(), read(&raw, kind, false).is_ok());
        }
    }
}
