//! Fixtures: the real files and temp folders.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use data::{FashionMnist, FileKind, SYSTEM_DIR};

/// The folder holding the real (Debian-recompressed) `.gz` files.
pub fn real_dir() -> &'static Path {
    let dir = Path::new(SYSTEM_DIR);
    assert!(
        data::has_data(dir),
        "these tests need the real files in {SYSTEM_DIR} (apt-get install dataset-fashion-mnist)"
    );
    dir
}

/// The bytes of the real `.gz` file of `kind`.
pub fn real_gz(kind: FileKind) -> Vec<u8> {
    std::fs::read(real_dir().join(kind.gz_name())).unwrap()
}

/// The dataset, loaded and verified once for all tests of this binary
/// (behind a mutex: tensors are `Send` but not `Sync`).
pub fn dataset() -> MutexGuard<'static, FashionMnist> {
    static DATA: OnceLock<Mutex<FashionMnist>> = OnceLock::new();
    DATA.get_or_init(|| Mutex::new(FashionMnist::load(real_dir(), true).unwrap()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Copies the real `.gz` of each of `kinds` into `dest`.
pub fn copy_real(kinds: &[FileKind], dest: &Path) {
    for kind in kinds {
        std::fs::copy(real_dir().join(kind.gz_name()), dest.join(kind.gz_name())).unwrap();
    }
}

/// The names of the entries of `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The final and partial paths of `kind` in `dir`.
pub fn final_and_part(dir: &Path, kind: FileKind) -> (PathBuf, PathBuf) {
    (
        dir.join(kind.gz_name()),
        data::download::part_path(dir, kind),
    )
}
