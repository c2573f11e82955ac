//! `store::write_output`, the one writer of user-named paths: a regular file is replaced
//! atomically, a device or a FIFO is written through and stays what it was, and a folder,
//! a block device or a link to nothing is refused with the reason.

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use store::{StoreError, write_atomic, write_output};

/// `mknod PATH KIND [MAJOR MINOR]` (coreutils): `p` a FIFO, `c` a character device, `b` a
/// block device.
fn mknod(path: &Path, kind: &str, numbers: &[&str]) {
    let out = std::process::Command::new("mknod")
        .arg(path)
        .arg(kind)
        .args(numbers)
        .output()
        .expect("coreutils' mknod");
    assert!(
        out.status.success(),
        "mknod {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process runs as root (the owner of `/proc/self` is the effective user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

#[test]
fn a_regular_file_or_nothing_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    write_output(&path, b"one\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"one\n");
    write_output(&path, b"two\n").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"two\n");
    // Nothing but the file: no temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_fifo_is_written_through_and_stays_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mknod(&fifo, "p", &[]);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    write_output(&fifo, b"through the pipe\n").unwrap();
    assert_eq!(reader.join().unwrap(), b"through the pipe\n");
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced: {kind:?}");
}

#[test]
fn a_character_device_is_written_through_and_stays_a_device() {
    // /dev/null's numbers (1, 3), made in a temporary folder: needs root, which CI and the
    // development machines have. Not root is a failure, not a pass.
    assert!(
        is_root(),
        "this test makes a device node and must run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    mknod(&null, "c", &["1", "3"]);
    write_output(&null, b"discarded\n").unwrap();
    let kind = std::fs::symlink_metadata(&null).unwrap().file_type();
    assert!(kind.is_char_device(), "the device was replaced: {kind:?}");
    // Through a symbolic link too: the link and the device both stay.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&null, &link).unwrap();
    write_output(&link, b"discarded\n").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    // The store's own atomic writer refuses to rename over it.
    let err = write_atomic(&null, b"x").unwrap_err();
    assert!(matches!(err, StoreError::NotAFile { .. }), "{err}");
    assert!(
        std::fs::symlink_metadata(&null)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_block_device_a_folder_and_a_dangling_link_are_refused() {
    assert!(
        is_root(),
        "this test makes a device node and must run as root"
    );
    let dir = tempfile::tempdir().unwrap();
    let block = dir.path().join("disk");
    // loop0's numbers (7, 0): never opened, the refusal comes first.
    mknod(&block, "b", &["7", "0"]);
    let err = write_output(&block, b"x").unwrap_err().to_string();
    assert!(err.contains("block device"), "{err}");
    assert!(
        std::fs::symlink_metadata(&block)
            .unwrap()
            .file_type()
            .is_block_device()
    );

    let err = write_output(dir.path(), b"x").unwrap_err().to_string();
    assert!(err.contains("a directory"), "{err}");

    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).unwrap();
    let err = write_output(&dangling, b"x").unwrap_err().to_string();
    assert!(err.contains("symbolic link to nothing"), "{err}");
}

#[test]
fn a_link_to_a_regular_file_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.csv");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_output(&link, b"new").unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
}
