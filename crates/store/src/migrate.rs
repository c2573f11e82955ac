//! Stores of the older layout (trials under `runs/<experiment>/<id>/`) moved into the store's
//! shared trials folder ([`Store::migrate`]).

use super::*;
use contract::is_trial_id;

/// What [`Store::migrate`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Migration {
    /// Finished trials moved from `runs/<experiment>/<id>/` into the store.
    pub moved: Vec<String>,
    /// Resumable work folders moved from `runs/<experiment>/.work/<id>/` into the store.
    pub moved_work: Vec<String>,
    /// Old copies of finished trials the store holds already (another experiment shared
    /// them), moved to the store's quarantine: from where, to where.
    pub duplicates: Vec<(PathBuf, PathBuf)>,
    /// Old folders left in place, and why (a process of an older version still holds
    /// them, or the store has a work folder of that trial already).
    pub left: Vec<(PathBuf, String)>,
}

impl Migration {
    /// Whether anything was moved or left.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
            && self.moved_work.is_empty()
            && self.duplicates.is_empty()
            && self.left.is_empty()
    }

    /// What to tell the user of store `runs` (whose shared trials folder is `trials`), one line each; a
    /// folder left in place is a warning.
    pub fn lines(&self, runs: &Path, trials: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.moved.is_empty() || !self.moved_work.is_empty() {
            lines.push(format!(
                "{}: moved {} finished trial(s) and {} unfinished one(s) from runs/<experiment>/ into the store's trials folder {}",
                runs.display(),
                self.moved.len(),
                self.moved_work.len(),
                trials.display()
            ));
        }
        for (from, to) in &self.duplicates {
            lines.push(format!(
                "{}: a copy of a trial the store holds already; set aside in {}",
                from.display(),
                to.display()
            ));
        }
        for (path, why) in &self.left {
            lines.push(format!(
                "warning: {} stays where it is: {why}",
                path.display()
            ));
        }
        lines
    }
}

impl Store {
    /// Moves the trials of the older per-experiment layout (`runs/<experiment>/<id>/` and
    /// `runs/<experiment>/.work/<id>/`) into the store, each while holding that trial's
    /// lease in the store. A finished trial whose id the store holds already, and a work
    /// folder whose old claim a live process still holds, stay where they are and are
    /// listed in [`Migration::left`]; an old copy of a finished trial the store holds
    /// already (two experiments shared it) is moved to the store's quarantine, never
    /// deleted ([`Migration::duplicates`]). Running it again finds nothing to do.
    pub fn migrate(&self) -> Result<Migration, StoreError> {
        let mut done = Migration::default();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(done);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == TRIALS || name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            let dir = entry.path();
            for child in std::fs::read_dir(&dir).map_err(io(&dir))?.flatten() {
                let id = child.file_name().to_string_lossy().into_owned();
                if is_trial_id(&id) && child.path().join(SUMMARY).is_file() {
                    self.migrate_one(&id, &child.path(), false, &mut done)?;
                }
            }
            let old_work = dir.join(WORK);
            let Ok(work) = std::fs::read_dir(&old_work) else {
                continue;
            };
            for child in work.flatten() {
                let id = child.file_name().to_string_lossy().into_owned();
                if !is_trial_id(&id) || !child.path().is_dir() {
                    continue;
                }
                let old_lock = old_work.join(format!("{id}{LEASE_SUFFIX}"));
                if let Ok(lease::LeaseState::Held(_)) =
                    lease::status(&old_lock, lease::stale_after())
                {
                    done.left.push((
                        child.path(),
                        "a running process of an older version holds it".into(),
                    ));
                    continue;
                }
                self.migrate_one(&id, &child.path(), true, &mut done)?;
                if !child.path().exists() {
                    let _ = std::fs::remove_file(&old_lock);
                }
            }
        }
        Ok(done)
    }

    fn migrate_one(
        &self,
        id: &str,
        from: &Path,
        work: bool,
        done: &mut Migration,
    ) -> Result<(), StoreError> {
        let Some((lock, _)) = self.try_lock_trial(id)? else {
            done.left.push((
                from.to_path_buf(),
                "its trial is running in the store".into(),
            ));
            return Ok(());
        };
        let to = if work {
            self.work_dir(id)
        } else {
            self.trial_dir(id)
        };
        let occupied = if work {
            self.is_done(id) || std::fs::symlink_metadata(&to).is_ok()
        } else {
            std::fs::symlink_metadata(&to).is_ok()
        };
        let result = if occupied && !work {
            let note = format!(
                "a copy of {}, which the store holds already (set aside when an older store's runs/<experiment>/ folders were moved into the shared trials folder)",
                to.display()
            );
            self.quarantine(from, &note).map(|moved| {
                done.duplicates.push((from.to_path_buf(), moved));
            })
        } else if occupied {
            done.left.push((
                from.to_path_buf(),
                format!("the store holds {} already", to.display()),
            ));
            Ok(())
        } else {
            std::fs::rename(from, &to).map_err(io(from)).and_then(|()| {
                sync_dir(to.parent().unwrap_or(&self.root))?;
                if let Some(parent) = from.parent() {
                    sync_dir(parent)?;
                }
                if work {
                    done.moved_work.push(id.to_string());
                } else {
                    done.moved.push(id.to_string());
                }
                Ok(())
            })
        };
        lock.release();
        result
    }
}
