//! SHA-256 helpers: per-file digests and the dataset digest.

use sha2::{Digest, Sha256};

use crate::kind::FileKind;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The dataset id: hex SHA-256 of the four file digests (each as its 32 raw
/// bytes, not as hex) concatenated in [`FileKind::ALL`] order.
///
/// # Panics
/// If a digest is not 64 hex digits.
pub fn dataset_digest(file_digests: &[&str; 4]) -> String {
    let mut hasher = Sha256::new();
    for digest in file_digests {
        hasher.update(unhex(digest));
    }
    hex(&hasher.finalize())
}

/// The dataset digest of the published Fashion-MNIST files.
pub fn canonical_digest() -> String {
    dataset_digest(&FileKind::ALL.map(FileKind::expected_sha256))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(digest: &str) -> [u8; 32] {
    assert!(digest.len() == 64, "not a SHA-256 hex digest: {digest:?}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16)
            .unwrap_or_else(|_| panic!("not a SHA-256 hex digest: {digest:?}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn dataset_digest_hashes_raw_digest_bytes_in_order() {
        let a = sha256_hex(b"a");
        let b = sha256_hex(b"b");
        let digest = dataset_digest(&[&a, &b, &a, &b]);
        let mut raw = Vec::new();
        for d in [&a, &b, &a, &b] {
            raw.extend_from_slice(&unhex(d));
        }
        assert_eq!(digest, sha256_hex(&raw));
        assert_ne!(digest, dataset_digest(&[&b, &a, &a, &b]));
        assert_eq!(canonical_digest().len(), 64);
    }
}
