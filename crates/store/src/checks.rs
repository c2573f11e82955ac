//! Checks a reading command makes of the store before it writes anything: that the store
//! exists, and that an export's output lies outside it.

use crate::Store;
use crate::error::{StoreError, io};
use std::path::Path;

impl Store {
    /// Checks that the store exists, for a command that only reads it: a folder without
    /// `trials/` (a mistyped `--runs`) is refused before anything is written.
    pub fn check_exists(&self) -> Result<(), StoreError> {
        if self.trials_dir().is_dir() {
            return Ok(());
        }
        Err(StoreError::Layout {
            path: self.root.clone(),
            message: format!(
                "not a run store (it has no {}/ folder; a store is what `harness replicate` writes, e.g. runs/ or results/)",
                contract::layout::TRIALS
            ),
        })
    }

    /// Refuses an export's output path inside this store (`--out runs/trials/...`): an
    /// export never writes into the store it reads.
    pub fn refuse_output_inside(&self, out: &Path) -> Result<(), StoreError> {
        let Ok(root) = std::fs::canonicalize(&self.root) else {
            return Ok(());
        };
        // The nearest existing ancestor of `out`, resolved, with the rest appended.
        let absolute = std::path::absolute(out).map_err(io(out))?;
        let mut existing = absolute.as_path();
        let mut rest = Vec::new();
        let resolved = loop {
            if let Ok(found) = std::fs::canonicalize(existing) {
                break found;
            }
            match (existing.parent(), existing.file_name()) {
                (Some(parent), Some(name)) => {
                    rest.push(name.to_owned());
                    existing = parent;
                }
                _ => return Ok(()),
            }
        };
        let target = rest.iter().rev().fold(resolved, |p, n| p.join(n));
        if target.starts_with(&root) {
            return Err(StoreError::Layout {
                path: out.to_path_buf(),
                message: format!(
                    "inside the run store {} that the export reads; write it elsewhere",
                    self.root.display()
                ),
            });
        }
        Ok(())
    }
}
