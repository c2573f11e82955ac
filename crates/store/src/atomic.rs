//! Writing files so that a reader never sees half of one: exclusive creation, temporary
//! files with unpredictable names, fsync, rename, fsync of the folder; and the clean-up of
//! what a killed writer left.

use crate::error::{StoreError, io};
use crate::lease;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// `<writer>.<counter>.<64 random bits in hex>`, where `<writer>` is
/// [`lease::writer_tag`] (pid context, pid, start time): unique in this process,
/// unpredictable to others, and telling a later process whether its writer is dead.
pub(crate) fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState's keys come from the OS's random source.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(count);
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    format!("{}.{count}.{:016x}", lease::writer_tag(), hasher.finish())
}

/// The name prefix of [`Store::ensure_writable`]'s probe files.
pub(crate) const PROBE_PREFIX: &str = ".probe.";

/// Removes the files in `dir` named `<prefix><unique suffix><suffix>` whose writer is known
/// to be dead ([`lease::writer_dead`]): what a process killed between creating and
/// renaming or removing them left. A live writer's files, and those of writers on other
/// hosts, are kept. Best effort: a folder that cannot be read is left as it is.
pub(crate) fn sweep_dead_writers(dir: &Path, prefix: &str, suffix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_suffix(suffix))
        else {
            continue;
        };
        if lease::writer_dead(rest) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Checks that `dir` accepts writes: creates it, then creates (exclusively), writes,
/// fsyncs and removes a probe file there (`.probe.<unique suffix>`), after sweeping the
/// probes that killed writers left. The error names the path.
pub fn ensure_writable_dir(dir: &Path) -> Result<(), StoreError> {
    let unwritable = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Unwritable { path, source }
    };
    std::fs::create_dir_all(dir).map_err(unwritable(dir))?;
    sweep_dead_writers(dir, PROBE_PREFIX, "");
    let probe = dir.join(format!("{PROBE_PREFIX}{}", unique_suffix()));
    let written = create_exclusive(&probe).and_then(|mut file| {
        crate::crash::point("probe");
        file.write_all(b"probe\n")?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&probe);
        return Err(unwritable(&probe)(source));
    }
    match std::fs::remove_file(&probe) {
        // Swept by another process that judged us dead: the write went through.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(unwritable(&probe)(e)),
        _ => Ok(()),
    }
}

/// Creates `path` for writing, failing if anything (a symlink included) is there.
pub fn create_exclusive(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// How [`write_output`] treats what is at a path the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Nothing, or a regular file: written atomically (temporary file and rename).
    Replace(std::path::PathBuf),
    /// A character device (`/dev/null`, a terminal) or a FIFO: opened and written
    /// through, never renamed over.
    WriteThrough,
}

/// What [`write_output`] will do with `path`: replace it atomically (a symbolic link to
/// a regular file is followed, so the link stays and its file is replaced), write through
/// it (a character device or a FIFO), or refuse (a folder, a block device, a socket, a
/// link to nothing), with the reason.
pub fn output_target(path: &Path) -> Result<OutputTarget, StoreError> {
    use std::os::unix::fs::FileTypeExt;
    let refuse = |what| StoreError::NotAFile {
        path: path.to_path_buf(),
        what,
    };
    let link = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(OutputTarget::Replace(path.to_path_buf()));
        }
        Err(source) => return Err(io(path)(source)),
        Ok(meta) => meta,
    };
    let meta = if link.file_type().is_symlink() {
        match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse("a symbolic link to nothing"));
            }
            Err(source) => return Err(io(path)(source)),
        }
    } else {
        link.clone()
    };
    let kind = meta.file_type();
    if kind.is_file() {
        let target = if link.file_type().is_symlink() {
            std::fs::canonicalize(path).map_err(io(path))?
        } else {
            path.to_path_buf()
        };
        Ok(OutputTarget::Replace(target))
    } else if kind.is_char_device() || kind.is_fifo() {
        Ok(OutputTarget::WriteThrough)
    } else if kind.is_dir() {
        Err(refuse("a directory"))
    } else if kind.is_block_device() {
        Err(refuse("a block device (a disk would be overwritten)"))
    } else if kind.is_socket() {
        Err(refuse("a socket"))
    } else {
        Err(refuse("not a regular file"))
    }
}

/// Writes `bytes` to a path the user named (`--out FILE`, `--readme FILE`): the one
/// function every command uses for such paths. A regular file (or nothing) is replaced
/// atomically ([`write_atomic`]); a character device such as `/dev/null` or a FIFO is
/// written through, never renamed over; a folder, a block device or a socket is refused
/// with the reason ([`output_target`]).
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    match output_target(path)? {
        OutputTarget::Replace(target) => write_atomic(&target, bytes),
        OutputTarget::WriteThrough => OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| {
                file.write_all(bytes)?;
                file.flush()
            })
            .map_err(io(path)),
    }
}

/// Writes `bytes` to `path` atomically: an exclusively created temporary file with an
/// unpredictable name in the same folder, fsync, rename, fsync of the folder. It never
/// renames over something that is not a regular file or a symbolic link (a device, a
/// FIFO, a folder): that is refused ([`StoreError::NotAFile`]); paths a user names go
/// through [`write_output`], which writes through devices instead.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_symlink() {
            return Err(match output_target(path) {
                Err(refused) => refused,
                Ok(_) => StoreError::NotAFile {
                    path: path.to_path_buf(),
                    what: "a device or a FIFO, which a rename would replace",
                },
            });
        }
    }
    // `README.md` has the parent "", which cannot be opened to be fsynced.
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy());
    // A writer of this file killed before its rename left its temporary file here.
    sweep_dead_writers(dir, &format!(".{name}."), ".tmp");
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.{}.tmp", unique_suffix()));
        match create_exclusive(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 16 => {
                attempts += 1;
            }
            Err(source) => return Err(StoreError::Io { path: tmp, source }),
        }
    };
    crate::crash::point("tmp");
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    sync_dir(dir)
}
