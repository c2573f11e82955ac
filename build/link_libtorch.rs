//! Build script shared by every crate that links libtorch (see `build = ...` in their
//! Cargo.toml). It gives the crate's binaries, tests and benches an rpath to libtorch's
//! `lib/`, so nothing needs `LD_LIBRARY_PATH`, and keeps `libtorch_cuda.so` linked (the
//! linker would drop it as unused, and tch would then never see a GPU). It only touches
//! this crate's own link steps, never proc macros or build scripts.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = Path::new(&libtorch).join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
