//! Opens the real `libtorch_cuda.so` of the libtorch this test runs on and checks that
//! libtorch then has its CUDA backend (`at::hasCUDA()`), GPU or not: the backend
//! registers itself when the library is opened, and no GPU is needed for that.

use cuda_loader::{Loaded, load};

#[test]
fn opening_libtorch_cuda_registers_the_cuda_backend_once() {
    // Touch libtorch so that libtorch_cpu.so is mapped. Nothing here may ask libtorch
    // about CUDA before the load: it caches the answer for good (see the crate docs).
    let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        cuda_loader::mapped_library(&maps, "libtorch_cuda.so").is_none(),
        "libtorch_cuda.so is linked into this test binary: build/link_libtorch.rs should not force it"
    );
    match load().expect("load libtorch_cuda.so") {
        Loaded::Opened(path) => {
            assert!(path.ends_with("libtorch_cuda.so"), "{}", path.display());
            // The CUDA backend answers for the CUDA runtime it was built with; without
            // it libtorch says it has none.
            assert!(
                tch::utils::has_cudart(),
                "opened, but libtorch has no CUDA backend"
            );
            assert!(tch::utils::version_cudart() > 0);
            assert!(matches!(load(), Ok(Loaded::AlreadyPresent(p)) if p == path));
            // Without a driver CUDA is backend-only; with one, devices show up.
            if !cuda_loader::nvidia_driver_present() {
                assert!(!tch::Cuda::is_available());
            }
        }
        Loaded::CpuOnlyLibtorch(dir) => {
            assert!(!dir.join("libtorch_cuda.so").exists());
            assert!(!tch::utils::has_cudart());
        }
        other => panic!("unexpected {other:?}"),
    }
}
