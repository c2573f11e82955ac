//! cuDNN's determinism switch, set through libtorch's exported `at::Context` members.
//! The flag lives in libtorch's CPU half, so this runs (and means the same) on a machine
//! without a GPU: its own process, so that no other test has set it first.

#[test]
fn deterministic_cudnn_turns_libtorchs_switch_on() {
    // Map libtorch_cpu.so without asking anything about CUDA.
    let _ = tch::Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu));
    assert!(
        !cuda_loader::cudnn_deterministic().expect("read the switch"),
        "libtorch's default is off"
    );
    cuda_loader::deterministic_cudnn().expect("set the switch");
    assert!(cuda_loader::cudnn_deterministic().expect("read the switch"));
    // Idempotent.
    cuda_loader::deterministic_cudnn().expect("set it again");
    assert!(cuda_loader::cudnn_deterministic().unwrap());
}
