//! Build script shared by every crate that links libtorch (see `build = ...` in their
//! Cargo.toml). It gives the crate's binaries, tests and benches an rpath to libtorch's
//! `lib/`, so nothing needs `LD_LIBRARY_PATH`. It only touches this crate's own link
//! steps, never proc macros or build scripts.
//!
//! Only libtorch's CPU part is linked (the linker drops the unused `libtorch_cuda.so`):
//! the harness opens the CUDA half at run time where an NVIDIA driver is present (crate
//! `cuda_loader`), so a CPU-only machine never maps the CUDA libraries.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = Path::new(&libtorch).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
