//! The experiment folder's side files (`runs/<experiment>/*.json`), read through one
//! reader that validates the file and names it in any warning or error. Each file has one
//! rule for a bad copy (unreadable, truncated, not the format):
//!
//! | file | a bad copy is |
//! |---|---|
//! | `estimate.json` (the last run's cost estimate) | set aside with a warning: the report leaves out its wall-time line and "not run" notes; the next `replicate` writes it again |
//! | `latency.json` (the quiet latency phase) | set aside with a warning: the report falls back to the trials' own latency (†); the next `replicate` measures again |
//! | `seeding.json` (Stein's decision) | refused, by every command that reads it (dry runs too): a decision is never re-made silently; delete it and rerun `replicate --halfwidth W` to decide anew from the pilot |

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// What a side file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum SideFile<T> {
    /// There is none.
    Absent,
    /// A valid copy.
    Good(T),
    /// A bad copy: the file and what is wrong with it.
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl<T> SideFile<T> {
    /// The value, if the copy is good.
    pub fn good(self) -> Option<T> {
        match self {
            SideFile::Good(t) => Some(t),
            _ => None,
        }
    }

    /// The value, if good; for a bad copy, `warnings` gets a line naming the file, what is
    /// wrong and `consequence` (what the caller does instead).
    pub fn or_warn(self, consequence: &str, warnings: &mut Vec<String>) -> Option<T> {
        match self {
            SideFile::Good(t) => Some(t),
            SideFile::Absent => None,
            SideFile::Bad { path, problem } => {
                warnings.push(format!("{}: {problem}; {consequence}", path.display()));
                None
            }
        }
    }
}

/// Reads and parses the JSON side file at `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> SideFile<T> {
    let bad = |problem: String| SideFile::Bad {
        path: path.to_path_buf(),
        problem,
    };
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SideFile::Absent,
        Err(e) => bad(format!("cannot be read ({e})")),
        Ok(text) => match serde_json::from_str(&text) {
            Ok(value) => SideFile::Good(value),
            Err(e) => bad(format!("is not a valid copy ({e})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_good_and_bad_copies_are_told_apart_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        assert_eq!(read::<Vec<u32>>(&path), SideFile::Absent);
        std::fs::write(&path, "[1, 2]").unwrap();
        assert_eq!(read::<Vec<u32>>(&path), SideFile::Good(vec![1, 2]));
        std::fs::write(&path, "[1, 2").unwrap();
        let mut warnings = Vec::new();
        assert_eq!(
            read::<Vec<u32>>(&path).or_warn("left out", &mut warnings),
            None
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("x.json: is not a valid copy"),
            "{warnings:?}"
        );
        assert!(warnings[0].ends_with("; left out"), "{warnings:?}");
    }
}
