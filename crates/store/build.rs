//! Build script of the store crate: what provenance records about the build, fixed
//! when the binary is built instead of asked of `git` at run time (the source folder may
//! be gone, moved or changed since, or the binary copied to a cluster node):
//!
//! - `HARNESS_GIT_COMMIT`: `git rev-parse HEAD` of the workspace, or `unknown`;
//! - `HARNESS_GIT_DIRTY`: `true` when tracked files differed from that commit;
//! - `HARNESS_TCH_VERSION`: the version of the `tch` crate in `Cargo.lock`;
//! - `HARNESS_LIBTORCH_VERSION`: `__version__` of the PyPI torch package `LIBTORCH` points at.
//!
//! It reruns when the commit, the index or any source file of the workspace changes. It
//! also gives the crate's tests and binaries an rpath to libtorch, as
//! `build/link_libtorch.rs` does for the other crates.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let mut libtorch_version = "unknown".to_string();
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        let lib = Path::new(&libtorch).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        let version_py = Path::new(&libtorch).join("version.py");
        println!("cargo:rerun-if-changed={}", version_py.display());
        if let Some(v) = std::fs::read_to_string(&version_py).ok().and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("__version__ = "))
                .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        }) {
            libtorch_version = v;
        }
    }
    println!("cargo:rustc-env=HARNESS_LIBTORCH_VERSION={libtorch_version}");

    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../..");
    let commit = git(&root, &["rev-parse", "HEAD"]);
    let dirty = commit.is_some()
        && git(&root, &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
    println!(
        "cargo:rustc-env=HARNESS_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    println!("cargo:rustc-env=HARNESS_GIT_DIRTY={dirty}");
    for watched in ["crates", "configs", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // HEAD and the index are per worktree; the branches are in the common folder.
    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        let git_dir = Path::new(&git_dir);
        for watched in ["HEAD", "index"] {
            println!("cargo:rerun-if-changed={}", git_dir.join(watched).display());
        }
    }
    if let Some(common) = git(
        &root,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    ) {
        let common = Path::new(&common);
        for watched in ["refs", "packed-refs"] {
            println!("cargo:rerun-if-changed={}", common.join(watched).display());
        }
    }

    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let tch = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"tch\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map_or("unknown".to_string(), |v| v.trim_matches('"').to_string());
    println!("cargo:rustc-env=HARNESS_TCH_VERSION={tch}");
}
