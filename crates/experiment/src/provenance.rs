//! The facts about the device that need libtorch (the rest of provenance, versions, host
//! and time, is [`store::provenance`]; the device's label is [`trainer::device_label`]).

#[cfg(feature = "torch")]
use std::process::Command;
#[cfg(feature = "torch")]
use tch::Device;

/// CUDA as libtorch sees it.
#[cfg(feature = "torch")]
pub fn cuda_description() -> String {
    if tch::Cuda::is_available() {
        format!(
            "{} device(s), cuDNN {}",
            tch::Cuda::device_count(),
            if tch::Cuda::cudnn_is_available() {
                "yes"
            } else {
                "no"
            }
        )
    } else {
        "none".into()
    }
}

/// CPU model, or the GPU's name from `nvidia-smi` when on CUDA.
#[cfg(feature = "torch")]
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => Command::new("nvidia-smi")
            .args([
                "--query-gpu=name",
                "--format=csv,noheader",
                &format!("--id={i}"),
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| format!("CUDA device {i}")),
        _ => std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
    }
}
