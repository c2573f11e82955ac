//! Calibration: the short trials that measure what a workload costs on this machine (see
//! [`spec::cost`], re-exported here, for the model, the cache and the estimate's types),
//! and [`estimate`], which calibrates what the cache lacks and estimates a plan.

use spec::cost::*;

use contract::Event;
#[cfg(feature = "torch")]
use data::FashionMnist;
#[cfg(feature = "torch")]
use spec::plan::PlannedTrial;
#[cfg(feature = "torch")]
use std::collections::BTreeMap;
#[cfg(feature = "torch")]
use std::time::{Duration, Instant};
#[cfg(feature = "torch")]
use tch::Device;
#[cfg(feature = "torch")]
use trainer::{RunOptions, Stop, TrialConfig, ValidTrial};

/// Errors of calibration.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// The calibration trial failed.
    #[cfg(feature = "torch")]
    #[error("calibration trial: {0}")]
    Train(#[from] trainer::TrainError),
    /// Its configuration was refused.
    #[error("calibration trial: {0}")]
    Config(#[from] trainer::ValidationError),
    /// The calibration trial produced no epoch timing.
    #[error("calibration trial gave no timing (diverged or stopped)")]
    NoTiming,
}
#[cfg(feature = "torch")]
/// Runs the calibration trial of `trial`'s workload on `device` with libtorch's current
/// thread count. A probe comes first, its batch sized by the network's forward FLOPs
/// ([`probe_batch`]) so that it takes a second or two however wide the network: 2 epochs
/// of 1 training and 1 evaluation batch. A workload whose full calibration the probe
/// expects to take longer than [`PROBE_LIMIT_S`] keeps the probe's rates (extrapolated).
pub fn calibrate(
    trial: &ValidTrial,
    dataset: &FashionMnist,
    device: Device,
) -> Result<Rate, CostError> {
    let config = trial.config();
    let probe = run_tiny(
        config,
        dataset,
        device,
        Tiny {
            batch: Some(probe_batch(config)),
            train_batches: 1,
            eval_batches: 1,
            latency: false,
        },
    )?;
    let expected = 6.0 * config.batch_size as f64 / probe.train_images_per_s
        + 4.0 * config.eval_batch_size as f64 / probe.eval_images_per_s;
    if expected > PROBE_LIMIT_S {
        return Ok(Rate {
            extrapolated_from_batch: Some(probe_batch(config)),
            ..probe
        });
    }
    run_tiny(
        config,
        dataset,
        device,
        Tiny {
            batch: None,
            train_batches: 3,
            eval_batches: 2,
            latency: true,
        },
    )
}
/// The shape of one tiny calibration trial (2 epochs; the second is timed).
#[cfg(feature = "torch")]
struct Tiny {
    /// Batch size for training and evaluation, if smaller than the trial's.
    batch: Option<usize>,
    train_batches: usize,
    eval_batches: usize,
    /// Whether to time a short latency phase.
    latency: bool,
}

#[cfg(feature = "torch")]
/// A 2-epoch trial of `shape`'s training and evaluation batches.
fn run_tiny(
    config: &TrialConfig,
    dataset: &FashionMnist,
    device: Device,
    shape: Tiny,
) -> Result<Rate, CostError> {
    let Tiny {
        batch,
        train_batches,
        eval_batches,
        latency,
    } = shape;
    let mut tiny = config.clone();
    if let Some(b) = batch {
        tiny.batch_size = tiny.batch_size.min(b);
        tiny.eval_batch_size = tiny.eval_batch_size.min(b);
    }
    tiny.epochs = 2;
    tiny.data.train_limit = Some(train_batches * tiny.batch_size);
    tiny.data.test_limit = Some(eval_batches * tiny.eval_batch_size);
    let trial = tiny.validate()?;
    let mut options = RunOptions::new(0, device);
    options.progress_every = usize::MAX;
    // A real trial's latency phase; the calibration times a short one (its medians give
    // the real phase's length) so that calibrating a wide network takes seconds, not the
    // real phase's 60 passes of each batch.
    let latency_options = options.latency.unwrap_or_default();
    let short = trainer::LatencyOptions { warmup: 2, runs: 5 };
    options.latency = latency.then_some(short);
    let mut epochs = Vec::new();
    let mut latency_ms = None;
    let started = Instant::now();
    trainer::train(
        &trial,
        dataset,
        &options,
        &mut |event| match event {
            Event::Epoch(m) => epochs.push(m.clone()),
            Event::Latency(l) => latency_ms = Some(l.batch1.median_ms + l.eval.median_ms),
            _ => {}
        },
        &Stop::new(),
    )?;
    let wall = started.elapsed().as_secs_f64();
    let last = epochs.last().ok_or(CostError::NoTiming)?;
    let train_images = (train_batches * trial.batch_size) as f64;
    let eval_images = (eval_batches * trial.eval_batch_size) as f64;
    let latency_phase_s = latency_ms.map_or(0.0, |ms| {
        (latency_options.warmup + latency_options.runs) as f64 * ms / 1000.0
    });
    let latency_run_s =
        latency_ms.map_or(0.0, |ms| (short.warmup + short.runs) as f64 * ms / 1000.0);
    let epoch_s: f64 = epochs.iter().map(|m| m.train_time_s + m.eval_time_s).sum();
    Ok(Rate {
        train_images_per_s: train_images / last.train_time_s.max(1e-9),
        eval_images_per_s: eval_images / last.eval_time_s.max(1e-9),
        latency_phase_s,
        setup_s: (wall - epoch_s - latency_run_s).max(0.0),
        extrapolated_from_batch: None,
        measured_at: store::provenance::unix_seconds(),
    })
}

#[cfg(feature = "torch")]
/// Seconds one trial of `config` takes at `rate` on `dataset`.
pub fn trial_seconds(config: &TrialConfig, dataset: &FashionMnist, rate: &Rate) -> f64 {
    seconds_for(config, dataset.train.len(), dataset.test.len(), rate)
}

#[cfg(feature = "torch")]
/// Estimates the pending trials of `planned` on `device` with `jobs` x `threads`,
/// calibrating (and caching) the workloads the cache lacks as `missing` says. Sets
/// libtorch's thread count to `threads` while it calibrates, and leaves it there.
pub fn estimate(
    planned: &[PlannedTrial],
    dataset: &FashionMnist,
    device: Device,
    jobs: usize,
    threads: i32,
    missing: Missing<'_>,
    on_calibrate: &mut dyn FnMut(Calibrating<'_>),
) -> Result<Estimate, CostError> {
    let label = trainer::device_label(device);
    let cache = cache_path(&label, threads);
    let mut calibration = Calibration::load(&cache);
    let pending: Vec<&PlannedTrial> = planned
        .iter()
        .filter(|t| t.state != store::TrialState::Done)
        .collect();
    let workloads = workloads_of(&pending);
    let to_measure = to_measure(&workloads, &calibration, missing);
    tch::set_num_threads(threads);
    let calibrated = calibrate_each(
        &to_measure,
        dataset,
        device,
        &mut calibration,
        &cache,
        on_calibrate,
    )?;
    let mut rates: BTreeMap<String, Rate> = workloads
        .iter()
        .filter_map(|(k, _)| calibration.rates.get(k).map(|r| (k.clone(), r.clone())))
        .collect();
    let scaled = fill_missing_rates(&mut rates, &workloads, &pending, dataset, missing);
    let priced = price(&pending, &rates, dataset);
    let seconds: Vec<f64> = priced.order.iter().map(|(_, _, s)| *s).collect();
    Ok(Estimate {
        wall: Duration::from_secs_f64(makespan(&seconds, jobs)),
        jobs,
        threads,
        trials: seconds.len(),
        per_architecture: priced.per_architecture,
        calibrated,
        extrapolated: priced.extrapolated,
        scaled,
        cache,
        per_trial: priced
            .order
            .iter()
            .map(|(id, _, s)| (id.clone(), *s))
            .collect(),
        order: priced.order,
        rates,
    })
}

#[cfg(feature = "torch")]
/// Each workload of `pending` once, in plan order, with the first trial that has it.
fn workloads_of<'a>(pending: &[&'a PlannedTrial]) -> Vec<(String, &'a PlannedTrial)> {
    let mut workloads: Vec<(String, &PlannedTrial)> = Vec::new();
    for t in pending {
        let key = workload_key(t.spec.variant.trial.config());
        if !workloads.iter().any(|(k, _)| *k == key) {
            workloads.push((key, t));
        }
    }
    workloads
}

#[cfg(feature = "torch")]
/// The workloads to calibrate now: those the cache lacks, all of them or (as `missing`
/// says) only the heaviest, or none.
fn to_measure<'w, 'a>(
    workloads: &'w [(String, &'a PlannedTrial)],
    calibration: &Calibration,
    missing: Missing<'_>,
) -> Vec<&'w (String, &'a PlannedTrial)> {
    match missing {
        Missing::Calibrate => workloads
            .iter()
            .filter(|(k, _)| !calibration.rates.contains_key(k))
            .collect(),
        Missing::Scale {
            reference,
            share,
            limit,
        } => {
            let dominant = reference.heaviest_workloads(share, limit);
            workloads
                .iter()
                .filter(|(k, _)| dominant.contains(k) && !calibration.rates.contains_key(k))
                .collect()
        }
        Missing::Reuse { .. } => Vec::new(),
    }
}

#[cfg(feature = "torch")]
/// Calibrates each workload of `to_measure`, saying which and the time left before each,
/// and caches each rate in `calibration` (saved to `cache`) as it comes; returns how many.
fn calibrate_each(
    to_measure: &[&(String, &PlannedTrial)],
    dataset: &FashionMnist,
    device: Device,
    calibration: &mut Calibration,
    cache: &std::path::Path,
    on_calibrate: &mut dyn FnMut(Calibrating<'_>),
) -> Result<usize, CostError> {
    // Said up front: how many workloads this machine has not measured yet.
    let total = to_measure.len();
    let mut calibrated = 0;
    // Seconds per (capped) FLOP weight of the workloads calibrated so far.
    let weight = |config: &TrialConfig| heaviness(config).clamp(0.1, 4.0);
    let (mut spent_s, mut spent_weight) = (0.0, 0.0);
    let weights: Vec<f64> = to_measure
        .iter()
        .map(|(_, t)| weight(t.spec.variant.trial.config()))
        .collect();
    for (i, (key, t)) in to_measure.iter().enumerate() {
        let config = t.spec.variant.trial.config();
        let left = (spent_weight > 0.0).then(|| {
            let rest: f64 = weights[i..].iter().sum();
            Duration::from_secs_f64(spent_s / spent_weight * rest)
        });
        on_calibrate(Calibrating {
            index: calibrated + 1,
            total,
            workload: &workload_label(config),
            left,
        });
        let started = Instant::now();
        let rate = calibrate(&t.spec.variant.trial, dataset, device)?;
        spent_s += started.elapsed().as_secs_f64();
        spent_weight += weights[i];
        calibration.rates.insert(key.clone(), rate);
        calibration.save(cache);
        calibrated += 1;
    }
    Ok(calibrated)
}

#[cfg(feature = "torch")]
/// Adds to `rates` those of the workloads not calibrated here, as `missing` says: reused
/// from the earlier estimate, or scaled from the reference's; returns how many are scaled.
fn fill_missing_rates(
    rates: &mut BTreeMap<String, Rate>,
    workloads: &[(String, &PlannedTrial)],
    pending: &[&PlannedTrial],
    dataset: &FashionMnist,
    missing: Missing<'_>,
) -> usize {
    match missing {
        Missing::Calibrate => 0,
        Missing::Reuse { earlier } => {
            for (key, _) in workloads {
                if let (false, Some(r)) = (rates.contains_key(key), earlier.rates.get(key)) {
                    rates.insert(key.clone(), r.clone());
                }
            }
            earlier.scaled
        }
        Missing::Scale { reference, .. } => {
            let factor = slowdown(rates, pending, dataset, reference);
            let mut scaled = 0;
            for (key, _) in workloads {
                if rates.contains_key(key) {
                    continue;
                }
                if let Some(r) = reference.rates.get(key) {
                    rates.insert(
                        key.clone(),
                        Rate {
                            train_images_per_s: r.train_images_per_s / factor,
                            eval_images_per_s: r.eval_images_per_s / factor,
                            latency_phase_s: r.latency_phase_s * factor,
                            setup_s: r.setup_s * factor,
                            ..r.clone()
                        },
                    );
                    scaled += 1;
                }
            }
            scaled
        }
    }
}

#[cfg(feature = "torch")]
/// How much slower this machine runs the workloads calibrated here than `reference` did,
/// time-weighted: their trials' seconds here over theirs in `reference` (1 when none).
fn slowdown(
    rates: &BTreeMap<String, Rate>,
    pending: &[&PlannedTrial],
    dataset: &FashionMnist,
    reference: &Estimate,
) -> f64 {
    let (mut here, mut there) = (0.0, 0.0);
    for t in pending {
        let key = workload_key(t.spec.variant.trial.config());
        if let (Some(rate), Some(&s)) = (rates.get(&key), reference.per_trial.get(&t.spec.id)) {
            here += trial_seconds(t.spec.variant.trial.config(), dataset, rate);
            there += s;
        }
    }
    if there > 0.0 { here / there } else { 1.0 }
}

#[cfg(feature = "torch")]
/// The pending trials priced at their workloads' rates.
struct Priced {
    /// Each trial with a rate, in plan order: id, workload key, seconds.
    order: Vec<(String, String, f64)>,
    /// Trials and seconds per architecture.
    per_architecture: BTreeMap<String, (usize, f64)>,
    /// How many of their workloads' rates are extrapolated from a probe.
    extrapolated: usize,
}

#[cfg(feature = "torch")]
/// The seconds of each trial of `pending` whose workload has a rate, and their sums.
fn price(
    pending: &[&PlannedTrial],
    rates: &BTreeMap<String, Rate>,
    dataset: &FashionMnist,
) -> Priced {
    let mut order = Vec::new();
    let mut per_architecture: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut extrapolated = std::collections::BTreeSet::new();
    for t in pending {
        let config = t.spec.variant.trial.config();
        let key = workload_key(config);
        let Some(rate) = rates.get(&key) else {
            continue;
        };
        if rate.extrapolated_from_batch.is_some() {
            extrapolated.insert(key.clone());
        }
        let s = trial_seconds(config, dataset, rate);
        order.push((t.spec.id.clone(), key.clone(), s));
        let entry = per_architecture
            .entry(config.model.architecture.to_string())
            .or_default();
        entry.0 += 1;
        entry.1 += s;
    }
    Priced {
        order,
        per_architecture,
        extrapolated: extrapolated.len(),
    }
}
