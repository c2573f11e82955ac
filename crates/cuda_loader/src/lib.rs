//! Loads libtorch's CUDA backend (`libtorch_cuda.so`) at run time, and only where a GPU
//! could use it.
//!
//! A binary linked against `libtorch_cuda.so` maps cuBLAS, cuBLASLt, nvJitLink and the
//! rest of the CUDA libraries at start-up: about 120 MiB of resident memory in every
//! process, on a machine without any GPU as much as on one with eight. The workspace
//! therefore links only libtorch's CPU part, and the harness calls
//! [`load_if_driver_present`] (or [`load`] when CUDA was asked for) before it picks a
//! device. `libtorch_cuda.so` is opened from the directory of the `libtorch_cpu.so` the
//! process already runs, so the two halves always come from the same build; its
//! initialisers then register the CUDA backend with libtorch exactly as they do when it
//! is linked, and it stays loaded for the life of the process.
//!
//! Call it first thing in `main`, from one thread: libtorch decides once, at the first
//! question about CUDA (`manual_seed` asks, for one), whether it has a CUDA backend, and
//! a backend opened after that is never seen.

use std::path::{Path, PathBuf};

/// What [`load`] or [`load_if_driver_present`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// `libtorch_cuda.so` was opened now, from this path.
    Opened(PathBuf),
    /// `libtorch_cuda.so` was already in the process (linked, or opened before).
    AlreadyPresent(PathBuf),
    /// Nothing opened: this machine has no NVIDIA driver, so CUDA cannot run here.
    NoDriver,
    /// Nothing opened: the libtorch in use (in this directory) is a CPU-only build.
    CpuOnlyLibtorch(PathBuf),
}

impl Loaded {
    /// Whether libtorch's CUDA backend is now in the process.
    pub fn is_loaded(&self) -> bool {
        matches!(self, Loaded::Opened(_) | Loaded::AlreadyPresent(_))
    }
}

/// Why the CUDA backend could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CudaLoadError {
    /// `/proc/self/maps` could not be read.
    #[error("cannot read /proc/self/maps to find libtorch: {0}")]
    Maps(#[source] std::io::Error),
    /// No `libtorch_cpu.so` is mapped into this process.
    #[error(
        "libtorch_cpu.so is not loaded in this process, so libtorch_cuda.so cannot be found next to it"
    )]
    LibtorchNotFound,
    /// The dynamic loader refused the library (missing CUDA libraries, wrong driver, ...).
    #[error("cannot open {}: {message}", path.display())]
    Open {
        /// The library.
        path: PathBuf,
        /// The dynamic loader's message.
        message: String,
    },
}

/// Whether the NVIDIA kernel driver is present (`/proc/driver/nvidia/version` or
/// `/dev/nvidiactl`). Without it CUDA cannot run, whatever libraries are installed.
pub fn nvidia_driver_present() -> bool {
    Path::new("/proc/driver/nvidia/version").exists() || Path::new("/dev/nvidiactl").exists()
}

/// [`load`] where the NVIDIA driver is present; [`Loaded::NoDriver`] (nothing opened,
/// no memory spent) elsewhere.
pub fn load_if_driver_present() -> Result<Loaded, CudaLoadError> {
    if nvidia_driver_present() {
        load()
    } else {
        Ok(Loaded::NoDriver)
    }
}

/// Opens `libtorch_cuda.so` from the directory of the process's `libtorch_cpu.so`,
/// unless it is already loaded or that libtorch has none (a CPU-only build).
pub fn load() -> Result<Loaded, CudaLoadError> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(CudaLoadError::Maps)?;
    if let Some(path) = mapped_library(&maps, "libtorch_cuda.so") {
        deterministic_cudnn()?;
        return Ok(Loaded::AlreadyPresent(path));
    }
    let cpu = mapped_library(&maps, "libtorch_cpu.so").ok_or(CudaLoadError::LibtorchNotFound)?;
    let dir = cpu.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = dir.join("libtorch_cuda.so");
    if !path.exists() {
        return Ok(Loaded::CpuOnlyLibtorch(dir));
    }
    open_for_good(&path)?;
    deterministic_cudnn()?;
    Ok(Loaded::Opened(path))
}

/// Makes cuDNN pick only deterministic algorithms and never benchmark (libtorch's
/// `at::globalContext().setDeterministicCuDNN(true)` and `setBenchmarkCuDNN(false)`,
/// what `torch.backends.cudnn.deterministic = True; benchmark = False` does in Python),
/// and reads the setting back. tch exposes neither, so the two members are called
/// through their exported symbols in the process's `libtorch_cpu.so`.
///
/// Without it a CUDA trial is not reproducible: measured on an H200 (libtorch
/// 2.11.0+cu130), retraining a smoke trial gave training losses 6e-8 apart after one
/// epoch and a test accuracy 2.3 points apart after two, because cuDNN's default
/// convolution backward accumulates with atomics and Adam amplifies the rounding.
/// The flag lives in libtorch's CPU half, so calling it on a CPU-only machine is
/// harmless (and is how it is tested there).
pub fn deterministic_cudnn() -> Result<(), CudaLoadError> {
    let cpu = libtorch_cpu()?;
    if cudnn_context(&cpu, true)? {
        Ok(())
    } else {
        Err(CudaLoadError::Open {
            path: cpu,
            message: "at::Context::deterministicCuDNN() is still false after setting it".into(),
        })
    }
}

/// Whether cuDNN is held to deterministic algorithms now (libtorch's default: no).
pub fn cudnn_deterministic() -> Result<bool, CudaLoadError> {
    cudnn_context(&libtorch_cpu()?, false)
}

fn libtorch_cpu() -> Result<PathBuf, CudaLoadError> {
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(CudaLoadError::Maps)?;
    mapped_library(&maps, "libtorch_cpu.so").ok_or(CudaLoadError::LibtorchNotFound)
}

/// With `set`, makes cuDNN deterministic and non-benchmarking; returns
/// `deterministicCuDNN()` either way.
#[allow(unsafe_code)]
fn cudnn_context(libtorch_cpu: &Path, set: bool) -> Result<bool, CudaLoadError> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW, Symbol};
    use std::ffi::c_void;
    let fail = |e: libloading::Error| CudaLoadError::Open {
        path: libtorch_cpu.to_path_buf(),
        message: e.to_string(),
    };
    // SAFETY: the library is the libtorch_cpu.so already mapped in this process, so
    // opening it only takes another reference (no initialisers run again); the handle is
    // forgotten, never closed. The symbols are libtorch 2.x's exported (TORCH_API)
    // members, Itanium-mangled: `at::globalContext()` returns `at::Context&` (a pointer
    // in the ABI) and the members take that pointer first, then a `bool`.
    unsafe {
        let library = Library::open(Some(libtorch_cpu), RTLD_NOW | RTLD_GLOBAL).map_err(fail)?;
        let global: Symbol<unsafe extern "C" fn() -> *mut c_void> =
            library.get(b"_ZN2at13globalContextEv\0").map_err(fail)?;
        let set_deterministic: Symbol<unsafe extern "C" fn(*mut c_void, bool)> = library
            .get(b"_ZN2at7Context21setDeterministicCuDNNEb\0")
            .map_err(fail)?;
        let set_benchmark: Symbol<unsafe extern "C" fn(*mut c_void, bool)> = library
            .get(b"_ZN2at7Context17setBenchmarkCuDNNEb\0")
            .map_err(fail)?;
        let is_deterministic: Symbol<unsafe extern "C" fn(*const c_void) -> bool> = library
            .get(b"_ZNK2at7Context18deterministicCuDNNEv\0")
            .map_err(fail)?;
        let context = global();
        if set {
            set_deterministic(context, true);
            set_benchmark(context, false);
        }
        let now = is_deterministic(context);
        std::mem::forget(library);
        Ok(now)
    }
}

/// The path of the mapped file whose name is `file_name`, from `/proc/self/maps` text.
/// The path is everything from the line's first `/` (the fields before it never
/// contain one), so paths with spaces survive.
pub fn mapped_library(maps: &str, file_name: &str) -> Option<PathBuf> {
    maps.lines()
        .filter_map(|line| line.find('/').map(|at| Path::new(&line[at..])))
        .find(|path| path.file_name().is_some_and(|name| name == file_name))
        .map(Path::to_path_buf)
}

/// `dlopen(path, RTLD_NOW | RTLD_GLOBAL)`, never closed.
#[allow(unsafe_code)]
fn open_for_good(path: &Path) -> Result<(), CudaLoadError> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // SAFETY: opening a library runs its initialisers. This is the CUDA half of the very
    // libtorch build the process runs (same directory as its libtorch_cpu.so), whose
    // initialisers register CUDA kernels and hooks with libtorch's dispatcher, as they do
    // when the library is linked; callers do this before any tensor work. The handle is
    // never closed, so nothing it registered can dangle.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| {
        CudaLoadError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    std::mem::forget(library);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
7f0000000000-7f0000001000 r--p 00000000 08:01 1234                       /opt/torch lib/libtorch_cpu.so
7f0000001000-7f0000002000 r-xp 00001000 08:01 1234                       /opt/torch lib/libtorch_cpu.so
7f0000003000-7f0000004000 rw-p 00000000 00:00 0                          [heap]
7f0000005000-7f0000006000 rw-p 00000000 00:00 0 
7f0000007000-7f0000008000 r--p 00000000 08:01 99                         /usr/lib/libtorch_cpu.so.bak
";

    #[test]
    fn finds_a_mapped_library_by_file_name_even_with_spaces_in_its_path() {
        assert_eq!(
            mapped_library(MAPS, "libtorch_cpu.so"),
            Some(PathBuf::from("/opt/torch lib/libtorch_cpu.so"))
        );
    }

    #[test]
    fn anonymous_mappings_and_other_names_do_not_match() {
        assert_eq!(mapped_library(MAPS, "libtorch_cuda.so"), None);
        assert_eq!(mapped_library(MAPS, "[heap]"), None);
        assert_eq!(mapped_library(MAPS, "libtorch_cpu"), None);
    }

    #[test]
    fn only_opened_or_present_counts_as_loaded() {
        assert!(Loaded::Opened(PathBuf::from("/x")).is_loaded());
        assert!(Loaded::AlreadyPresent(PathBuf::from("/x")).is_loaded());
        assert!(!Loaded::NoDriver.is_loaded());
        assert!(!Loaded::CpuOnlyLibtorch(PathBuf::from("/x")).is_loaded());
    }
}
