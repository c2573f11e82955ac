//! The strict IDX reader.
//!
//! A file is read whole (decompressing it if it starts with the gzip magic
//! `1f 8b`), then checked: magic number (`0x00000803` images, `0x00000801`
//! labels), image dimensions 28x28, the item count of its [`FileKind`],
//! labels in `0..=9`, and an exact length: no missing and no extra bytes.
//! Decompression never holds more than the expected length in memory; bytes
//! past it are only counted. The SHA-256 is computed while decompressing.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::digest::hex;
use crate::error::DataError;
use crate::kind::{FileKind, IMAGE_SIDE};

/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What a valid header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Which file this is.
    pub kind: FileKind,
    /// Number of examples.
    pub count: usize,
    /// Shape of the data: `[count, 28, 28]` for images, `[count]` for labels.
    pub shape: Vec<usize>,
}

/// A whole file, decompressed, checked and hashed.
#[derive(Debug, Clone)]
pub struct IdxFile {
    /// The decompressed bytes, header included (what the SHA-256 covers).
    pub bytes: Vec<u8>,
    /// The parsed header.
    pub header: Header,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

impl IdxFile {
    /// The data after the header: `count * 784` pixels or `count` labels.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.header.kind.header_len()..]
    }
}

/// Reads, decompresses and strictly checks the file at `path` as `kind`.
pub fn read_file(path: &Path, kind: FileKind) -> Result<IdxFile, DataError> {
    read_file_with_count(path, kind, kind.expected_count())
}

/// [`read_file`] with a custom expected count (small synthetic files in tests).
pub(crate) fn read_file_with_count(
    path: &Path,
    kind: FileKind,
    expected_count: usize,
) -> Result<IdxFile, DataError> {
    let limit = kind.len_for_count(expected_count);
    let Decompressed {
        bytes,
        sha256,
        total_len,
    } = read_decompressed(path, limit)?;
    let header = check(path, &bytes, total_len, kind, expected_count)?;
    Ok(IdxFile {
        bytes,
        header,
        sha256,
    })
}

/// Strictly checks in-memory decompressed `bytes` as a file of `kind`.
pub fn parse(path: &Path, bytes: &[u8], kind: FileKind) -> Result<Header, DataError> {
    check(path, bytes, bytes.len(), kind, kind.expected_count())
}

/// Decompresses `data` if it starts with the gzip magic, else returns it as is.
/// `path` only names the source in errors.
pub fn decode(path: &Path, data: &[u8], size_hint: usize) -> Result<Vec<u8>, DataError> {
    if !data.starts_with(&GZIP_MAGIC) {
        return Ok(data.to_vec());
    }
    let mut out = Vec::with_capacity(size_hint);
    MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|source| DataError::Gzip {
            path: path.to_owned(),
            source,
        })?;
    Ok(out)
}

/// What [`read_decompressed`] got: at most `limit` bytes, their SHA-256,
/// and the full decompressed length.
struct Decompressed {
    bytes: Vec<u8>,
    sha256: String,
    total_len: usize,
}

/// Reads the file, decompressing gzip, keeping at most `limit` bytes.
fn read_decompressed(path: &Path, limit: usize) -> Result<Decompressed, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io("open", path, e))?;
    let mut magic = [0u8; 2];
    let peeked = read_up_to(&mut file, &mut magic).map_err(|e| DataError::io("read", path, e))?;
    file.rewind().map_err(|e| DataError::io("read", path, e))?;

    if magic[..peeked] == GZIP_MAGIC {
        let decoder = MultiGzDecoder::new(BufReader::with_capacity(1 << 17, file));
        read_limited(decoder, limit).map_err(|source| match source.kind() {
            io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof => DataError::Gzip {
                path: path.to_owned(),
                source,
            },
            _ => DataError::io("read", path, source),
        })
    } else {
        read_limited(file, limit).map_err(|e| DataError::io("read", path, e))
    }
}

/// Reads up to `buf.len()` bytes, stopping early only at end of file.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Bytes read (and hashed) at a time.
const HASH_CHUNK: usize = 1 << 20;

/// Reads at most `limit` bytes into a vector allocated once, then counts
/// (and drops) whatever follows.
///
/// Reads go straight into the vector in large chunks, and each chunk is hashed
/// while it is still in cache, so every byte is hashed once, in one pass.
fn read_limited(mut reader: impl Read, limit: usize) -> io::Result<Decompressed> {
    let mut bytes = vec![0u8; limit];
    let mut hasher = Sha256::new();
    let mut filled = 0;
    while filled < limit {
        let end = (filled + HASH_CHUNK).min(limit);
        let n = read_up_to(&mut reader, &mut bytes[filled..end])?;
        hasher.update(&bytes[filled..filled + n]);
        filled += n;
        if filled < end {
            break;
        }
    }
    let digest = hasher.finalize();
    bytes.truncate(filled);
    let extra = io::copy(&mut reader, &mut io::sink())?;
    let total_len = filled + usize::try_from(extra).unwrap_or(usize::MAX - filled);
    Ok(Decompressed {
        bytes,
        sha256: hex(&digest),
        total_len,
    })
}

/// The checks. `bytes` may be a prefix of the file when `total_len` is larger.
fn check(
    path: &Path,
    bytes: &[u8],
    total_len: usize,
    kind: FileKind,
    expected_count: usize,
) -> Result<Header, DataError> {
    let expected_len = kind.len_for_count(expected_count);
    let length_error = |found: usize| DataError::Length {
        path: path.to_owned(),
        expected: expected_len,
        found,
    };
    if bytes.len() < kind.header_len() {
        return Err(length_error(total_len));
    }
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);

    let magic = word(0);
    if magic != kind.magic() {
        return Err(DataError::Magic {
            path: path.to_owned(),
            expected: kind.magic(),
            found: magic,
        });
    }
    if kind.is_images() {
        let side = IMAGE_SIDE as u32;
        let found = [word(8), word(12)];
        if found != [side, side] {
            return Err(DataError::Dimensions {
                path: path.to_owned(),
                expected: [side, side],
                found,
            });
        }
    }
    let count = word(4) as usize;
    if count != expected_count {
        return Err(DataError::Count {
            path: path.to_owned(),
            expected: expected_count,
            found: count,
        });
    }
    if total_len != expected_len || bytes.len() != expected_len {
        return Err(length_error(total_len));
    }
    if !kind.is_images() {
        let labels = &bytes[kind.header_len()..];
        if let Some(index) = labels.iter().position(|&label| label > 9) {
            return Err(DataError::Label {
                path: path.to_owned(),
                index,
                found: labels[index],
            });
        }
    }
    let shape = if kind.is_images() {
        vec![count, IMAGE_SIDE, IMAGE_SIDE]
    } else {
        vec![count]
    };
    Ok(Header { kind, count, shape })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
