//! Epoch checkpoints: what a trial needs to continue exactly where it stopped.
//!
//! After every epoch the trainer writes, in the checkpoint folder it was given:
//!
//! | path | what |
//! |---|---|
//! | `epoch-N/model.ot` | the var store after epoch `N` (weights and batch-norm running statistics) |
//! | `epoch-N/optim.ot` | the optimiser's moments and step count |
//! | `epoch-N/manifest.json` | a [`Manifest`]: run id, seed, epoch, best so far, the metrics of epochs `1..=N`, wall time so far, and the SHA-256 of both files |
//! | `last.model.ot`, `last.optim.ot` | the newest epoch's files (hard links where the filesystem allows) |
//! | `best.model.ot`, `best.optim.ot` | those of the epoch with the best test accuracy so far |
//!
//! An epoch folder is built as `.epoch-N.tmp`, every file and the folder fsynced, then
//! renamed into place and the parent fsynced: an `epoch-N` folder is therefore complete
//! unless the storage itself lied, and [`find_latest`] checks the digests anyway. The
//! newest two epoch folders are kept, so a damaged newest one falls back to the one
//! before. The random streams need no state: they are re-derived from the seed and the
//! epoch (see the `streams` module).

use contract::EpochMetrics;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The version of [`Manifest`]'s layout.
pub const MANIFEST_FORMAT: u32 = 1;
/// The manifest's file name in an epoch folder.
pub const MANIFEST: &str = "manifest.json";
/// The model file in an epoch folder.
pub const MODEL: &str = "model.ot";
/// The optimiser file in an epoch folder.
pub const OPTIM: &str = "optim.ot";
/// Epoch folders kept (the newest ones).
pub const KEEP: u32 = 2;

/// What an epoch checkpoint records besides the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// Whose checkpoint this is (the trial id): a folder holding another run's checkpoints
    /// is not resumed.
    pub run_id: String,
    /// The trial seed.
    pub seed: u64,
    /// Epochs completed (1-based number of the epoch just finished).
    pub epoch: u32,
    /// Best test accuracy so far, percent.
    pub best_accuracy: Option<f64>,
    /// The epoch (1-based) of the best test accuracy so far.
    pub best_epoch: Option<u32>,
    /// Wall time of the trial so far (all attempts), seconds.
    pub wall_time_s: f64,
    /// Metrics of epochs `1..=epoch`.
    pub epochs: Vec<EpochMetrics>,
    /// SHA-256 (hex) of each file of the epoch folder, by name.
    pub files: BTreeMap<String, String>,
}

/// A checkpoint that passed every check of [`find_latest`].
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Its `epoch-N` folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// A checkpoint that cannot be resumed from, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// Its `epoch-N` folder.
    pub dir: PathBuf,
    /// Why, e.g. `sha256 mismatch in model.ot`.
    pub reason: String,
}

/// The result of looking for a checkpoint to resume from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Search {
    /// The newest usable checkpoint.
    pub found: Option<Checkpoint>,
    /// The newer ones that were unusable, newest first.
    pub rejected: Vec<Rejected>,
}

/// The name of epoch `n`'s folder.
pub fn epoch_dir_name(n: u32) -> String {
    format!("epoch-{n}")
}

/// Epoch folders in `dir`, newest first.
fn epoch_dirs(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix("epoch-")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    found.sort_by_key(|b| std::cmp::Reverse(b.0));
    found
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks one epoch folder: the manifest parses, belongs to `run_id`, is epoch `n`, has
/// the metrics of `n` epochs, and every file it lists has its digest.
fn verify(dir: &Path, n: u32, run_id: &str) -> Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{MANIFEST}: {e}"))?;
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| format!("{MANIFEST} does not parse: {e}"))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(format!(
            "{MANIFEST} has format {}, expected {MANIFEST_FORMAT}",
            manifest.format
        ));
    }
    if manifest.run_id != run_id {
        let short: String = manifest.run_id.chars().take(12).collect();
        return Err(format!("it belongs to another trial ({short})"));
    }
    if manifest.epoch != n || manifest.epochs.len() != n as usize {
        return Err(format!(
            "{MANIFEST} says epoch {} with {} epochs of metrics, in folder epoch-{n}",
            manifest.epoch,
            manifest.epochs.len()
        ));
    }
    for required in [MODEL, OPTIM] {
        if !manifest.files.contains_key(required) {
            return Err(format!("{MANIFEST} lists no {required}"));
        }
    }
    for (name, digest) in &manifest.files {
        let actual = sha256_file(&dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        if &actual != digest {
            return Err(format!("sha256 mismatch in {name}"));
        }
    }
    Ok(manifest)
}

/// The newest checkpoint in `dir` that belongs to `run_id` and passes every check, and the
/// newer ones that did not. A missing `dir` finds nothing.
pub fn find_latest(dir: &Path, run_id: &str) -> Search {
    let mut search = Search::default();
    for (n, path) in epoch_dirs(dir) {
        match verify(&path, n, run_id) {
            Ok(manifest) => {
                search.found = Some(Checkpoint {
                    dir: path,
                    manifest,
                });
                break;
            }
            Err(reason) => search.rejected.push(Rejected { dir: path, reason }),
        }
    }
    search
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> crate::TrainError + '_ {
    move |source| crate::TrainError::Checkpoint {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<(), crate::TrainError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

fn sync_file(path: &Path) -> Result<(), crate::TrainError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

/// Points `link` at `target`'s data atomically: a hard link (or, where the filesystem has
/// none, a copy) under a temporary name, then a rename.
fn publish_alias(target: &Path, link: &Path) -> Result<(), crate::TrainError> {
    let name = link
        .file_name()
        .map_or_else(|| "alias".into(), |n| n.to_string_lossy());
    let tmp = link.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(target, &tmp).is_err() {
        std::fs::copy(target, &tmp).map_err(io_err(&tmp))?;
        sync_file(&tmp)?;
    }
    std::fs::rename(&tmp, link).map_err(io_err(link))
}

/// SHA-256 of bytes, hex.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates `path` with `bytes` and fsyncs it; the error names the file and carries the OS
/// error (a full disk shows here).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), crate::TrainError> {
    File::create(path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io_err(path))
}

/// Writes epoch `manifest.epoch`'s checkpoint into `dir` and makes it durable; `save`
/// serialises the model and the optimiser (in memory, so that the files are written here
/// and a failed write reports its OS error). `is_best` also points `best.*` at it. Older
/// epoch folders beyond the newest [`KEEP`] and any newer (stale, from an abandoned
/// attempt) are removed.
pub(crate) fn write(
    dir: &Path,
    mut manifest: Manifest,
    is_best: bool,
    save: impl FnOnce() -> Result<(Vec<u8>, Vec<u8>), crate::TrainError>,
) -> Result<PathBuf, crate::TrainError> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let n = manifest.epoch;
    let tmp = dir.join(format!(".{}.tmp", epoch_dir_name(n)));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let (model, optim) = save()?;
    for (name, bytes) in [(MODEL, &model), (OPTIM, &optim)] {
        write_synced(&tmp.join(name), bytes)?;
        manifest.files.insert(name.to_string(), sha256_hex(bytes));
    }
    let manifest_path = tmp.join(MANIFEST);
    let json = serde_json::to_string_pretty(&manifest).expect("manifests serialise");
    write_synced(&manifest_path, json.as_bytes())?;
    sync_dir(&tmp)?;
    let target = dir.join(epoch_dir_name(n));
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(io_err(&target))?;
    }
    std::fs::rename(&tmp, &target).map_err(io_err(&target))?;
    sync_dir(dir)?;

    let mut aliases = vec!["last"];
    if is_best {
        aliases.push("best");
    }
    for alias in aliases {
        for file in [MODEL, OPTIM] {
            let stem = file.trim_end_matches(".ot");
            publish_alias(&target.join(file), &dir.join(format!("{alias}.{stem}.ot")))?;
        }
    }
    for (k, path) in epoch_dirs(dir) {
        if k > n || k + KEEP <= n {
            std::fs::remove_dir_all(&path).map_err(io_err(&path))?;
        }
    }
    sync_dir(dir)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(epoch: u32) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            run_id: "run".into(),
            seed: 1,
            epoch,
            best_accuracy: Some(50.0),
            best_epoch: Some(1),
            wall_time_s: 1.5,
            epochs: (1..=epoch)
                .map(|e| EpochMetrics {
                    epoch: e,
                    lr: 0.01,
                    train_loss_mean: 0.1 + f64::from(e) / 3.0,
                    train_loss_sum: 1.0 / 3.0,
                    test_loss: 0.2,
                    test_accuracy: 50.0,
                    train_time_s: 0.1,
                    eval_time_s: 0.1,
                    images_per_s: 10.0,
                })
                .collect(),
            files: BTreeMap::new(),
        }
    }

    fn fake_save() -> Result<(Vec<u8>, Vec<u8>), crate::TrainError> {
        Ok((b"model".to_vec(), b"optim".to_vec()))
    }

    #[test]
    fn keeps_two_verifies_digests_and_falls_back() {
        let root = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for epoch in 1..=3 {
            write(&root, manifest(epoch), epoch == 1, fake_save).unwrap();
        }
        let names: Vec<_> = epoch_dirs(&root).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [3, 2]);
        for file in [
            "last.model.ot",
            "last.optim.ot",
            "best.model.ot",
            "best.optim.ot",
        ] {
            assert!(root.join(file).is_file(), "{file}");
        }
        let search = find_latest(&root, "run");
        let found = search.found.unwrap();
        assert_eq!(found.manifest, {
            let mut m = manifest(3);
            m.files = found.manifest.files.clone();
            m
        });
        assert!(search.rejected.is_empty());
        // Another run's folder is not resumed.
        let other = find_latest(&root, "other");
        assert!(other.found.is_none());
        assert!(other.rejected[0].reason.contains("another trial"));
        // A damaged newest falls back to the one before, and says why.
        std::fs::write(root.join("epoch-3").join(MODEL), b"m0del").unwrap();
        let search = find_latest(&root, "run");
        assert_eq!(search.found.unwrap().manifest.epoch, 2);
        assert_eq!(search.rejected[0].reason, "sha256 mismatch in model.ot");
        // Writing epoch 3 again replaces the damaged one.
        write(&root, manifest(3), false, fake_save).unwrap();
        assert_eq!(find_latest(&root, "run").found.unwrap().manifest.epoch, 3);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
