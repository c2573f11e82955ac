//! Downloading the four files from a mirror over plain HTTP.
//!
//! Each file is fetched from `<base>/<name>.gz` into `<dest>/<name>.gz.part`.
//! An interrupted transfer is resumed with an HTTP `Range` request (a server
//! that ignores it and answers `200` makes the transfer restart from zero);
//! failed attempts are retried with a doubling backoff. A complete `.part` is
//! decompressed, run through the strict reader and hashed; only a file that
//! passes is fsynced and renamed atomically to `<dest>/<name>.gz`. One that
//! fails is deleted. When the retries run out, the `.part` is **kept**, so
//! that the next run resumes where this one stopped.
//!
//! **Size cap.** No valid copy of a file, however it was compressed, is larger
//! than [`max_download_len`]. A response that announces more (its
//! `Content-Length`, after any resumed offset) or streams more is rejected with
//! [`DataError::TooLarge`] and its `.part` deleted, so a broken or hostile
//! mirror cannot fill the disk.
//!
//! **One downloader at a time.** [`download_all_with`] holds an exclusive OS
//! file lock on `<dest>/.download.lock` ([`LOCK_FILE`]) for its whole run. Two
//! first runs (two processes, or two threads) therefore never write the same
//! `.part`: the second waits for the first, then finds the files it installed
//! valid and fetches nothing. The lock file itself is left in place (removing
//! it would race with a waiter) and is empty.
//!
//! Nothing here prints; every failure is a typed [`DataError`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::DataError;
use crate::idx;
use crate::kind::FileKind;

/// Timeouts, retries and backoff of a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Limit on each read from the socket (a stalled transfer fails after it).
    pub read_timeout: Duration,
    /// Further attempts after the first one fails.
    pub retries: u32,
    /// Pause before the first retry; it doubles for each further one.
    pub backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Downloads the four files from `base_url` into `dest` with default options.
/// Files already in `dest` (as `NAME` or `NAME.gz`) and valid are skipped.
pub fn download_all(base_url: &str, dest: &Path) -> Result<(), DataError> {
    download_all_with(base_url, dest, &Options::default())
}

/// Name of the lock file that [`download_all_with`] holds in the destination.
pub const LOCK_FILE: &str = ".download.lock";

/// The most bytes a download of `kind` may take: its decompressed length plus
/// 1/256 and 4 KiB. Gzip (even of incompressible data, in stored blocks)
/// adds far less than that, so no valid copy is larger.
pub const fn max_download_len(kind: FileKind) -> u64 {
    let len = kind.expected_len() as u64;
    len + len / 256 + 4096
}

/// [`download_all`] with explicit [`Options`].
///
/// Holds an exclusive lock on `<dest>/`[`LOCK_FILE`] throughout, waiting for
/// any other downloader into `dest` to finish first.
pub fn download_all_with(base_url: &str, dest: &Path, options: &Options) -> Result<(), DataError> {
    fs::create_dir_all(dest).map_err(|e| DataError::io("create", dest, e))?;
    let _lock = lock(dest)?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(options.connect_timeout)
        .timeout_read(options.read_timeout)
        .build();
    for kind in FileKind::ALL {
        if is_present_and_valid(dest, kind) {
            continue;
        }
        download_file(&agent, &file_url(base_url, kind), dest, kind, options)?;
    }
    Ok(())
}

/// Opens `<dest>/.download.lock` and takes an exclusive lock on it, waiting
/// as long as another holder keeps it. The lock goes when the file is closed
/// (also when the process dies).
fn lock(dest: &Path) -> Result<File, DataError> {
    let path = dest.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| DataError::io("create", &path, e))?;
    file.lock().map_err(|e| DataError::io("lock", &path, e))?;
    Ok(file)
}

/// The URL of `kind`'s `.gz` under `base_url` (with or without a trailing `/`).
pub fn file_url(base_url: &str, kind: FileKind) -> String {
    format!("{}/{}", base_url.trim_end_matches('/'), kind.gz_name())
}

/// Path of the partial download of `kind` in `dest`.
pub fn part_path(dest: &Path, kind: FileKind) -> PathBuf {
    dest.join(format!("{}.part", kind.gz_name()))
}

/// Whether `dest` already holds a valid copy of `kind`.
fn is_present_and_valid(dest: &Path, kind: FileKind) -> bool {
    [dest.join(kind.file_name()), dest.join(kind.gz_name())]
        .iter()
        .any(|path| path.is_file() && validate(path, kind).is_ok())
}

/// Strict read and digest check of a file of `kind`.
fn validate(path: &Path, kind: FileKind) -> Result<(), DataError> {
    let file = idx::read_file(path, kind)?;
    if file.sha256 != kind.expected_sha256() {
        return Err(DataError::Digest {
            path: path.to_owned(),
            expected: kind.expected_sha256().to_owned(),
            found: file.sha256,
        });
    }
    Ok(())
}

/// Fetches, validates and installs one file.
fn download_file(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    kind: FileKind,
    options: &Options,
) -> Result<(), DataError> {
    let part = part_path(dest, kind);
    fetch_with_retries(agent, url, &part, max_download_len(kind), options)?;
    if let Err(error) = validate(&part, kind) {
        // Best effort: the validation error is the one to report.
        let _ = fs::remove_file(&part);
        return Err(DataError::InvalidDownload {
            url: url.to_owned(),
            source: Box::new(error),
        });
    }
    let target = dest.join(kind.gz_name());
    fs::rename(&part, &target).map_err(|e| DataError::io("rename", &part, e))?;
    File::open(dest)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| DataError::io("sync", dest, e))
}

/// Runs [`fetch_once`] until it succeeds, fails for good, or runs out of retries.
fn fetch_with_retries(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    limit: u64,
    options: &Options,
) -> Result<(), DataError> {
    let mut pause = options.backoff;
    let mut attempt = 1;
    loop {
        match fetch_once(agent, url, part, limit) {
            Ok(()) => return Ok(()),
            Err(error) if !is_transient(&error) => return Err(error),
            Err(error) if attempt > options.retries => {
                return Err(DataError::RetriesExhausted {
                    url: url.to_owned(),
                    attempts: attempt,
                    source: Box::new(error),
                });
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = pause.saturating_mul(2);
                attempt += 1;
            }
        }
    }
}

/// Whether another attempt may succeed.
fn is_transient(error: &DataError) -> bool {
    match error {
        DataError::Network { .. } | DataError::ContentRange { .. } => true,
        DataError::HttpStatus { status, .. } => {
            matches!(status, 408 | 416 | 429) || (500..600).contains(status)
        }
        _ => false,
    }
}

/// One HTTP request: resumes `part` if it exists, else starts it; on success
/// `part` holds the whole body, flushed and synced to disk. More than `limit`
/// bytes in all is [`DataError::TooLarge`], and the part is deleted.
fn fetch_once(agent: &ureq::Agent, url: &str, part: &Path, limit: u64) -> Result<(), DataError> {
    let mut offset = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if offset >= limit {
        // A leftover part that cannot be the start of a valid file: start over.
        remove_part(part)?;
        offset = 0;
    }
    let mut request = agent.get(url);
    if offset > 0 {
        request = request.set("Range", &format!("bytes={offset}-"));
    }
    let response = match request.call() {
        Ok(response) => response,
        Err(ureq::Error::Status(status, _)) => {
            if status == 416 {
                // The part does not fit the file on the server: start over.
                remove_part(part)?;
            }
            return Err(DataError::HttpStatus {
                url: url.to_owned(),
                status,
            });
        }
        Err(ureq::Error::Transport(transport)) => {
            return Err(DataError::Network {
                url: url.to_owned(),
                source: Box::new(transport),
            });
        }
    };

    let append = match response.status() {
        206 if offset > 0 => {
            let found = response.header("Content-Range").unwrap_or_default();
            if !found.starts_with(&format!("bytes {offset}-")) {
                remove_part(part)?;
                return Err(DataError::ContentRange {
                    url: url.to_owned(),
                    expected: offset,
                    found: found.to_owned(),
                });
            }
            true
        }
        // A full body: either a fresh start or a server that ignored `Range`.
        200 => false,
        status => {
            return Err(DataError::HttpStatus {
                url: url.to_owned(),
                status,
            });
        }
    };
    let start = if append { offset } else { 0 };
    let announced = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = announced
        && start.saturating_add(len) > limit
    {
        remove_part(part)?;
        return Err(DataError::TooLarge {
            url: url.to_owned(),
            limit,
            announced: Some(start.saturating_add(len)),
        });
    }
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .map_err(|e| DataError::io("open", part, e))?;
    let result = copy_body(response.into_reader(), file, url, part, start, limit);
    if let Err(DataError::TooLarge { .. }) = &result {
        remove_part(part)?;
    }
    result
}

/// Streams the body into `file`, which already holds `start` bytes; more than
/// `limit` in all is [`DataError::TooLarge`] (the caller deletes the part). On
/// a network error, what arrived is flushed to disk first so that the next
/// attempt can resume after it.
fn copy_body(
    mut body: impl Read,
    file: File,
    url: &str,
    part: &Path,
    start: u64,
    limit: u64,
) -> Result<(), DataError> {
    let write_error = |e| DataError::io("write", part, e);
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; 1 << 16];
    let mut total = start;
    loop {
        match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if total > limit {
                    return Err(DataError::TooLarge {
                        url: url.to_owned(),
                        limit,
                        announced: None,
                    });
                }
                writer.write_all(&buf[..n]).map_err(write_error)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                writer.flush().map_err(write_error)?;
                return Err(DataError::Network {
                    url: url.to_owned(),
                    source: Box::new(e),
                });
            }
        }
    }
    let file = writer
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    file.sync_all().map_err(|e| DataError::io("sync", part, e))
}

/// Deletes a partial download, if any.
fn remove_part(part: &Path) -> Result<(), DataError> {
    match fs::remove_file(part) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(DataError::io("remove", part, e)),
        _ => Ok(()),
    }
}
