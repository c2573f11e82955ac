//! Test-time latency: forward passes of one batch, no augmentation, eval mode, no
//! gradients, timed after a warm-up, with CUDA synchronised before each clock read.

use contract::{Latency, Timing};
use models::Net;
use models::net::Layout;
use std::time::Instant;
use tch::nn::ModuleT;
use tch::{Device, Tensor};

/// How many passes to time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyOptions {
    /// Untimed passes first.
    pub warmup: usize,
    /// Timed passes (at least 50 for the study's figure).
    pub runs: usize,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            warmup: 10,
            runs: 50,
        }
    }
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn time_batch(model: &impl ModuleT, input: &Tensor, options: LatencyOptions) -> Timing {
    let device = input.device();
    let mut samples = Vec::with_capacity(options.runs);
    tch::no_grad(|| {
        for _ in 0..options.warmup {
            let _ = model.forward_t(input, false);
        }
        sync(device);
        for _ in 0..options.runs {
            let start = Instant::now();
            let out = model.forward_t(input, false);
            sync(device);
            samples.push(start.elapsed().as_secs_f64() * 1e3);
            drop(out);
        }
    });
    samples.sort_by(f64::total_cmp);
    Timing {
        batch: input.size()[0] as usize,
        runs: samples.len(),
        median_ms: quantile(&samples, 0.5),
        p95_ms: quantile(&samples, 0.95),
    }
}

/// Linear interpolation between order statistics of sorted `xs` (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Times `net` as it is deployed, the one form every latency figure of the harness times
/// (a trial's own figure and the quiet phase's alike): batch norm folded into the
/// convolutions and, on the CPU, oneDNN's own layout with the weights reordered once
/// ([`Net::folded`] with [`Layout::Mkldnn`]; its outputs equal the net's in eval mode).
/// Images as in [`measure_latency`].
pub fn measure_deployed_latency(
    net: &Net,
    images: &Tensor,
    eval_batch: usize,
    options: LatencyOptions,
) -> Latency {
    let folded = net.folded(Layout::Mkldnn);
    measure_latency(&folded, images, eval_batch, options)
}

/// Times `model` on the first image and on the first `eval_batch` images of `images`
/// (already normalised, on the model's device).
fn measure_latency(
    model: &impl ModuleT,
    images: &Tensor,
    eval_batch: usize,
    options: LatencyOptions,
) -> Latency {
    let n = images.size()[0];
    let one = images.narrow(0, 0, 1);
    let batch = images.narrow(0, 0, (eval_batch as i64).min(n));
    Latency {
        batch1: time_batch(model, &one, options),
        eval: time_batch(model, &batch, options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let xs = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&xs, 0.5), 2.5);
        assert!((quantile(&xs, 0.95) - 3.85).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }
}
