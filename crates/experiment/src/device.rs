//! Where trials run: `--device auto|cpu|cuda|cuda:N`, and the libtorch device it names on
//! this machine. `cuda` when CUDA is missing is an error, not a silent CPU run.

use tch::Device;

/// A device as the command line names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA if available, else CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

/// Why a named device cannot be used here.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// libtorch's CUDA backend could not be opened.
    #[error("--device {choice}: loading libtorch's CUDA backend: {source}")]
    Backend {
        /// What was asked.
        choice: DeviceChoice,
        /// Why it failed.
        source: cuda_loader::CudaLoadError,
    },
    /// No CUDA device is visible.
    #[error(
        "--device {0}: libtorch sees no CUDA device on this machine (use --device cpu or auto)"
    )]
    NoCuda(DeviceChoice),
    /// The device number is too high.
    #[error("--device {choice}: only {count} CUDA device(s) here")]
    TooFew {
        /// What was asked.
        choice: DeviceChoice,
        /// How many there are.
        count: usize,
    },
}

impl DeviceChoice {
    /// The libtorch device. The harness binary opens libtorch's CUDA backend where an
    /// NVIDIA driver is present before anything else (see the `cuda_loader` crate), so
    /// `auto` finds CUDA there; `cuda` also tries where none is, to say what is missing.
    pub fn resolve(&self) -> Result<Device, DeviceError> {
        match self {
            DeviceChoice::Auto => Ok(Device::cuda_if_available()),
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(n) => {
                cuda_loader::load().map_err(|source| DeviceError::Backend {
                    choice: self.clone(),
                    source,
                })?;
                if !tch::Cuda::is_available() {
                    return Err(DeviceError::NoCuda(self.clone()));
                }
                let count = tch::Cuda::device_count() as usize;
                if *n >= count {
                    return Err(DeviceError::TooFew {
                        choice: self.clone(),
                        count,
                    });
                }
                Ok(Device::Cuda(*n))
            }
        }
    }
}

impl std::str::FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("`{s}`: expected auto, cpu, cuda or cuda:N")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Whether a CPU computes bfloat16 natively, from `/proc/cpuinfo`'s text: the `avx512_bf16`
/// flag (AVX-512 BF16: Intel Cooper Lake and later, AMD Zen 4 and later) or `amx_bf16`
/// (Intel AMX). Read from the flags, never the model name (cloud VMs call every EPYC
/// "AMD EPYC").
pub fn cpu_has_native_bf16(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .and_then(|l| l.split_once(':'))
        .is_some_and(|(_, flags)| {
            flags
                .split_whitespace()
                .any(|f| f == "avx512_bf16" || f == "amx_bf16")
        })
}

/// The warning a plan with bf16 trials gets before training on `device`, when that is a
/// CPU without native bf16 ([`cpu_has_native_bf16`] of `cpuinfo`): libtorch then converts
/// to and from fp32 around every bf16 convolution in software.
pub fn bf16_warning(device: Device, cpuinfo: &str) -> Option<String> {
    (device == Device::Cpu && !cpu_has_native_bf16(cpuinfo)).then(|| {
        "precision bf16 on a CPU without native bf16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo): \
         its convolutions are emulated, so bf16 trials run slower than fp32 here, not faster \
         (the estimate above is calibrated in bf16 on this machine: compare it with an fp32 dry run); \
         use precision fp32, or a CPU with AVX-512 BF16 or AMX, or a GPU"
            .to_string()
    })
}

/// [`bf16_warning`] for this machine (its `/proc/cpuinfo`).
pub fn bf16_warning_here(device: Device) -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    bf16_warning(device, &cpuinfo)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every spelling the command line accepts reads back as itself, a bad one says what
    /// is expected, and the CPU resolves everywhere.
    #[test]
    fn the_choice_round_trips_and_the_cpu_resolves() {
        for (text, choice) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda:0", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(text.parse::<DeviceChoice>(), Ok(choice.clone()));
            assert_eq!(choice.to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceChoice>(), Ok(DeviceChoice::Cuda(0)));
        let bad = "gpu".parse::<DeviceChoice>().unwrap_err();
        assert_eq!(bad, "`gpu`: expected auto, cpu, cuda or cuda:N");
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), Device::Cpu);
        if !tch::Cuda::is_available() {
            let err = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
            assert!(err.starts_with("--device cuda:0: "), "{err}");
        }
    }

    #[test]
    fn bf16_is_native_only_with_the_flags_and_only_the_cpu_warns() {
        let zen4 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n";
        let zen3 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n";
        let sapphire = "flags\t\t: avx512f amx_bf16 amx_tile\n";
        assert!(cpu_has_native_bf16(zen4));
        assert!(cpu_has_native_bf16(sapphire));
        assert!(!cpu_has_native_bf16(zen3));
        // A model name that mentions bf16 is not a flag.
        assert!(!cpu_has_native_bf16(
            "model name\t: avx512_bf16 lookalike\nflags\t: sse\n"
        ));
        assert_eq!(bf16_warning(Device::Cpu, zen4), None);
        let warning = bf16_warning(Device::Cpu, zen3).expect("a warning");
        assert!(warning.contains("slower than fp32"), "{warning}");
        assert_eq!(bf16_warning(Device::Cuda(0), zen3), None);
    }
}
