//! Following a file that another process appends to (`events.jsonl`, `train.log`): the
//! byte offset read so far is kept, and each poll reads only the bytes appended since,
//! returning the complete lines among them. A file that shrinks, or is replaced by a new
//! one at the same path, is read again from its start.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The most bytes one poll reads, so that attaching to a huge file never stalls a frame;
/// the rest comes on the next polls.
const MAX_READ: u64 = 4 << 20;

/// A follower of one append-only text file.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: Option<File>,
    identity: Option<(u64, u64)>,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    /// Follows `path`, which need not exist yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Tail {
            path: path.into(),
            file: None,
            identity: None,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The file followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes consumed so far (complete lines and a pending partial line).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn reset(&mut self) {
        self.file = None;
        self.identity = None;
        self.offset = 0;
        self.partial.clear();
    }

    /// Whether the path now names another file than the one held open (the folder was
    /// wiped and the file created again). Costs one `stat`; call it at rescan time.
    pub fn replaced(&self) -> bool {
        match (&self.identity, std::fs::metadata(&self.path)) {
            (Some(held), Ok(meta)) => identity(&meta).is_some_and(|now| now != *held),
            (Some(_), Err(_)) => false, // moved away (published): keep reading the handle
            (None, _) => false,
        }
    }

    /// Starts over from the beginning of whatever file the path names now.
    pub fn reopen(&mut self) {
        self.reset();
    }

    /// The complete lines appended since the last poll (without their `\n`). A missing
    /// file gives no lines. Costs one `fstat` when nothing was appended.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => {
                    self.identity = file.metadata().ok().as_ref().and_then(identity);
                    self.file = Some(file);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(Vec::new());
        };
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated in place: start again.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return Ok(Vec::new());
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        file.take((len - self.offset).min(MAX_READ))
            .read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        Ok(self.split(bytes))
    }

    fn split(&mut self, bytes: Vec<u8>) -> Vec<String> {
        let mut lines = Vec::new();
        let mut rest = bytes.as_slice();
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..at]);
            let line = String::from_utf8_lossy(&self.partial)
                .trim_end_matches('\r')
                .to_string();
            lines.push(line);
            self.partial.clear();
            rest = &rest[at + 1..];
        }
        self.partial.extend_from_slice(rest);
        lines
    }
}

#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn reads_only_appended_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut tail = Tail::new(&path);
        assert!(tail.poll().unwrap().is_empty(), "missing file: no lines");
        append(&path, "one\ntw");
        assert_eq!(tail.poll().unwrap(), vec!["one"]);
        assert_eq!(tail.offset(), 6);
        assert!(tail.poll().unwrap().is_empty(), "nothing new");
        append(&path, "o\r\nthree\n");
        assert_eq!(tail.poll().unwrap(), vec!["two", "three"]);
        assert_eq!(tail.offset(), 15);
    }

    #[test]
    fn a_truncated_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, "a long first line\n");
        let mut tail = Tail::new(&path);
        assert_eq!(tail.poll().unwrap().len(), 1);
        std::fs::write(&path, "new\n").unwrap();
        assert_eq!(tail.poll().unwrap(), vec!["new"]);
    }

    #[test]
    fn a_replaced_file_is_detected_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, "old 1\nold 2\n");
        let mut tail = Tail::new(&path);
        assert_eq!(tail.poll().unwrap().len(), 2);
        assert!(!tail.replaced());
        std::fs::remove_file(&path).unwrap();
        append(&path, "fresh and longer than before\n");
        assert!(tail.replaced());
        tail.reopen();
        assert_eq!(tail.poll().unwrap(), vec!["fresh and longer than before"]);
    }

    #[test]
    fn a_moved_file_keeps_being_read_through_its_handle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        append(&path, "1\n");
        let mut tail = Tail::new(&path);
        assert_eq!(tail.poll().unwrap(), vec!["1"]);
        let moved = dir.path().join("moved");
        std::fs::rename(&path, &moved).unwrap();
        append(&moved, "2\n");
        assert!(!tail.replaced());
        assert_eq!(tail.poll().unwrap(), vec!["2"]);
    }
}
