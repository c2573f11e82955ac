//! Property tests of the strict IDX reader: random bytes, and valid small files mutated
//! (truncated, bytes flipped, header fields changed, bytes appended), raw and gzipped,
//! never make it panic; it answers with the file exactly as decompressed, or a typed
//! error. Failures are saved by proptest in `crates/data/proptest-regressions/idx/proptests.txt`
//! and replayed first.

use std::io::Write;

use proptest::prelude::*;

use super::*;
use crate::test_support::{gzip, valid_images, valid_labels};

/// One change to a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep the first `per_mille` thousandths.
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
                Just(0),
                Just(u32::MAX),
                Just(0x0801),
                Just(0x0803),
                Just(28),
                Just(1),
                Just(2),
                Just(3),
            ]
        )
            .prop_map(|(i, v)| Mutation::Header(i, v)),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    let at = |per_mille: u16| len * usize::from(per_mille) / 1000;
    match mutation {
        Mutation::Truncate(p) => bytes.truncate(at(*p)),
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

const KINDS: [FileKind; 2] = [FileKind::TestImages, FileKind::TestLabels];

/// Writes `bytes` to a fresh temp file and reads it as `kind` with `count` items.
fn read(bytes: &[u8], kind: FileKind, count: usize) -> Result<IdxFile, DataError> {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file.flush().unwrap();
    read_file_with_count(file.path(), kind, count)
}

/// What a successful read must be: exactly the decompressed bytes, strictly valid.
fn assert_consistent(file: &IdxFile, raw: &[u8], kind: FileKind, count: usize) {
    assert_eq!(file.bytes, raw);
    assert_eq!(file.sha256, crate::sha256_hex(raw));
    assert_eq!(file.header.count, count);
    assert_eq!(raw.len(), kind.len_for_count(count));
    assert_eq!(&raw[..4], &kind.magic().to_be_bytes());
    if !kind.is_images() {
        assert!(file.payload().iter().all(|&l| l <= 9));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..2400),
        gzipped: bool,
        images: bool,
        count in 0usize..4,
    ) {
        let kind = KINDS[usize::from(!images)];
        let data = if gzipped { gzip(&bytes) } else { bytes.clone() };
        if let Ok(file) = read(&data, kind, count) {
            assert_consistent(&file, &bytes, kind, count);
        }
        // The in-memory entry points too.
        let _ = parse(Path::new("mem"), &bytes, kind);
        let _ = decode(Path::new("mem"), &bytes, 0);
    }

    #[test]
    fn mutated_valid_files_never_panic_and_only_the_unchanged_pass(
        images: bool,
        count in 1usize..4,
        mutations in proptest::collection::vec(mutation(), 1..4),
        gzip_first: bool,
    ) {
        let kind = KINDS[usize::from(!images)];
        let count = if images { count } else { count * 17 };
        let original = if images { valid_images(count) } else { valid_labels(count) };
        // Mutate the raw file and compress it, or compress it and mutate the gzip stream.
        let (data, raw) = if gzip_first {
            let mut gz = gzip(&original);
            for m in &mutations {
                mutate(&mut gz, m);
            }
            let raw = decode(Path::new("mem"), &gz, 0).ok();
            (gz, raw)
        } else {
            let mut raw = original.clone();
            for m in &mutations {
                mutate(&mut raw, m);
            }
            (gzip(&raw), Some(raw))
        };
        let result = read(&data, kind, count);
        match (&result, &raw) {
            (Ok(file), Some(raw)) => {
                assert_consistent(file, raw, kind, count);
            }
            // A gzip stream that decodes in one pass but not the other would be a bug.
            (Ok(_), None) => panic!("read a stream that does not decode"),
            (Err(_), _) => {}
        }
        if raw.as_deref() == Some(&original[..]) {
            assert!(result.is_ok(), "the unchanged file must pass: {result:?}");
        }
        // The same bytes, uncompressed.
        if let Some(raw) = &raw {
            let direct = read(raw, kind, count);
            assert_eq!(direct.is_ok(), result.is_ok(), "{direct:?} vs {result:?}");
            if let Err(e) = direct {
                assert!(!e.chain_message().is_empty());
            }
        }
    }

    #[test]
    fn a_changed_header_field_is_the_error_named(
        images: bool,
        word in 0u8..4,
        value: u32,
    ) {
        let kind = KINDS[usize::from(!images)];
        let count = 2;
        let mut raw = if images { valid_images(count) } else { valid_labels(count) };
        let words = if images { 4 } else { 2 };
        let word = usize::from(word) % words;
        let old = u32::from_be_bytes(raw[word * 4..word * 4 + 4].try_into().unwrap());
        prop_assume!(value != old);
        raw[word * 4..word * 4 + 4].copy_from_slice(&value.to_be_bytes());
        let err = read(&raw, kind, count).unwrap_err();
        let named = match (word, images) {
            (0, _) => matches!(err, DataError::Magic { found, .. } if found == value),
            (1, _) => matches!(err, DataError::Count { found, .. } if found == value as usize),
            (2 | 3, true) => matches!(err, DataError::Dimensions { .. }),
            _ => unreachable!(),
        };
        prop_assert!(named, "word {word} = {value:#x}: {err:?}");
    }
}
