//! Latency measured when nothing else of the plan runs ([`measure`]); the figures, their
//! file and what they mean are [`reporting::latency_file`], re-exported here.

use reporting::latency_file::*;

#[cfg(feature = "torch")]
use data::{BatchOrder, FashionMnist};
#[cfg(feature = "torch")]
use tch::Device;
#[cfg(feature = "torch")]
use trainer::{LatencyOptions, Streams, ValidTrial};

#[cfg(feature = "torch")]
/// Busy jiffies of the whole machine, and of this process.
fn jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    let busy = cpu.iter().sum::<u64>() - cpu.get(3)? - cpu.get(4).copied().unwrap_or(0);
    let me = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &me[me.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based), 12 and 13 after the state field.
    let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((busy, own))
}

#[cfg(feature = "torch")]
/// Times the network of `trial` on `device` with libtorch's current threads.
pub fn measure(trial: &ValidTrial, dataset: &FashionMnist, device: Device) -> Measured {
    let (_vs, net) = trainer::build_model(trial, &Streams::new(0, &[]), device);
    let images = dataset
        .test
        .take(trial.eval_batch_size.min(dataset.test.len()))
        .to_device(device)
        .batches(trial.eval_batch_size, BatchOrder::Sequential)
        .next()
        .map(|b| data::normalize(&b.images))
        .expect("the test set has images");
    let before = jiffies();
    let started = std::time::Instant::now();
    let (mut b1, mut eval) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let l = trainer::measure_deployed_latency(
            &net,
            &images,
            trial.eval_batch_size,
            LatencyOptions::default(),
        );
        b1.push(l.batch1.median_ms);
        eval.push(l.eval.median_ms);
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Jiffies are 1/100 s on Linux (USER_HZ).
    let other_cores_busy = match (before, jiffies()) {
        (Some((b0, o0)), Some((b1, o1))) if elapsed > 0.0 => {
            (b1.saturating_sub(b0).saturating_sub(o1.saturating_sub(o0))) as f64 / 100.0 / elapsed
        }
        _ => 0.0,
    };
    Measured {
        batch1: Spread::of(b1),
        eval: Spread::of(eval),
        eval_batch: trial.eval_batch_size,
        device: trainer::device_label(device),
        threads: tch::get_num_threads(),
        host: store::provenance::host_name(),
        other_cores_busy,
        measured_at: store::provenance::unix_seconds(),
        form: FORM.to_string(),
    }
}
