//! Test-time latency: forward passes of one batch, no augmentation, eval mode, no
//! gradients, timed after a warm-up, with CUDA synchronised before each clock read.

use contract::{Latency, Timing};
use models::Net;
use models::net::{FoldedNet, Layout};
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
/// convolutions ([`Net::folded`]; its outputs equal the net's in eval mode) and, on the
/// CPU, the faster of two layouts **for each batch size**: oneDNN's own layout with the
/// weights reordered once ([`Layout::Mkldnn`]), or channels-last ([`Layout::ChannelsLast`]).
/// Which is faster depends on the network, the batch and the CPU (at batch 1, 2 conv runs
/// about 1.8 times faster channels-last on an AMD EPYC, where oneDNN's reorders cost more
/// than its convolutions; at batch 256 oneDNN's layout wins), so both are timed briefly
/// ([`DEPLOY_TRIAL`]) and the faster one is timed as `options` asks, as an inference
/// runtime picks its kernels. On CUDA there is one form (contiguous). `images` are
/// normalised test images on the net's device: batch 1 is the first, the eval batch the
/// first `eval_batch`.
pub fn measure_deployed_latency(
    net: &Net,
    images: &Tensor,
    eval_batch: usize,
    options: LatencyOptions,
) -> Latency {
    let layouts: &[Layout] = if images.device() == Device::Cpu {
        &DEPLOY_LAYOUTS
    } else {
        &[Layout::Contiguous]
    };
    let copies: Vec<FoldedNet> = layouts.iter().map(|l| net.folded(*l)).collect();
    let n = images.size()[0];
    let one = images.narrow(0, 0, 1);
    let batch = images.narrow(0, 0, (eval_batch as i64).min(n));
    Latency {
        batch1: time_batch(fastest(&copies, &one), &one, options),
        eval: time_batch(fastest(&copies, &batch), &batch, options),
    }
}

/// The layouts a deployed CPU net is tried in.
pub const DEPLOY_LAYOUTS: [Layout; 2] = [Layout::Mkldnn, Layout::ChannelsLast];

/// The short timing that picks a deployed net's layout: the median of 10 passes after 3.
pub const DEPLOY_TRIAL: LatencyOptions = LatencyOptions {
    warmup: 3,
    runs: 10,
};

/// The copy with the lowest median over [`DEPLOY_TRIAL`] on `input` (the first on a tie);
/// a lone copy (CUDA's) is not timed.
fn fastest<'a>(copies: &'a [FoldedNet], input: &Tensor) -> &'a FoldedNet {
    if let [only] = copies {
        return only;
    }
    copies
        .iter()
        .map(|copy| (copy, time_batch(copy, input, DEPLOY_TRIAL).median_ms))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one layout")
        .0
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

    fn net(architecture: models::Architecture, channels: i64) -> (tch::nn::VarStore, Net) {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let cfg = models::ModelConfig {
            architecture,
            channels,
            ..models::ModelConfig::default()
        };
        let net = Net::new(&vs.root(), &cfg);
        (vs, net)
    }

    #[test]
    fn the_fastest_copy_is_picked_wherever_it_stands() {
        // Two very different workloads: 4 conv at 128 channels does ~200 times the work of
        // 2 conv at 8, far beyond any timing noise.
        let (_a, small) = net(models::Architecture::Conv2, 8);
        let (_b, big) = net(models::Architecture::Conv4, 128);
        let input = Tensor::randn([8, 1, 28, 28], (tch::Kind::Float, Device::Cpu));
        let small_first = [small.folded(Layout::Mkldnn), big.folded(Layout::Mkldnn)];
        assert!(std::ptr::eq(fastest(&small_first, &input), &small_first[0]));
        let big_first = [
            big.folded(Layout::ChannelsLast),
            small.folded(Layout::ChannelsLast),
        ];
        assert!(std::ptr::eq(fastest(&big_first, &input), &big_first[1]));
    }

    #[test]
    fn a_deployed_net_is_timed_at_batch_1_and_the_eval_batch() {
        let (_vs, net) = net(models::Architecture::Conv2, 32);
        let images = Tensor::randn([20, 1, 28, 28], (tch::Kind::Float, Device::Cpu));
        let options = LatencyOptions { warmup: 1, runs: 5 };
        let l = measure_deployed_latency(&net, &images, 16, options);
        assert_eq!((l.batch1.batch, l.eval.batch), (1, 16));
        assert_eq!((l.batch1.runs, l.eval.runs), (5, 5));
        for t in [&l.batch1, &l.eval] {
            assert!(t.median_ms > 0.0 && t.median_ms.is_finite(), "{t:?}");
            assert!(t.p95_ms >= t.median_ms, "{t:?}");
        }
    }
}
