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

/// The CPU's name with its family and model, or the GPU's name from `nvidia-smi` when on
/// CUDA.
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
            .and_then(|s| cpu_name(&s))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string()),
    }
}

/// The first CPU's `model name` in `/proc/cpuinfo` text, with its `cpu family` and `model`
/// when given: a cloud VM names every EPYC generation "AMD EPYC", and two generations pick
/// other oneDNN kernels (other last digits), so a record must tell them apart.
pub fn cpu_name(cpuinfo: &str) -> Option<String> {
    let field = |key: &str| {
        cpuinfo
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let name = field("model name")?;
    Some(match (field("cpu family"), field("model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_is_named_with_its_family_and_model() {
        let zen4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n\nprocessor\t: 1\ncpu family\t: 26\n";
        assert_eq!(
            cpu_name(zen4).as_deref(),
            Some("AMD EPYC (family 25, model 17)")
        );
        let arm = "processor\t: 0\nmodel name\t: ARMv8 Processor\n";
        assert_eq!(cpu_name(arm).as_deref(), Some("ARMv8 Processor"));
        assert_eq!(cpu_name("processor\t: 0\n"), None);
    }
}
