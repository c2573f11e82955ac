//! The training loop.
//!
//! One epoch: re-seed the augmentation pipeline and libtorch's generator (dropout) from
//! the trial's [`Streams`], train over that epoch's order, evaluate, write the epoch's
//! checkpoint (when a checkpoint folder is given) and make it durable, and only then
//! report the epoch. A run given a verified [`Checkpoint`] restores the model, the
//! optimiser, the metrics, the best-so-far and the wall time from it and continues with the
//! next epoch; since every random stream is re-derived per epoch, it computes exactly what
//! an uninterrupted run computes.

use crate::checkpoint::{self, Checkpoint, MANIFEST_FORMAT, Manifest};
use crate::config::ValidTrial;
use crate::error::TrainError;
use crate::latency::{LatencyOptions, measure_deployed_latency};
use crate::optim::Optimizer;
use crate::streams::Streams;
use augmentation::Pipeline;
use contract::{EpochMetrics, Event, Status, TrialResult};
use data::{BatchOrder, FashionMnist, Split};
use models::Net;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

/// How and where to run a trial.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The trial's seed: initialisation, dropout, shuffling and augmentation all derive
    /// from it (except the sources the trial's `fix` holds at seed 0).
    pub seed: u64,
    /// Who owns the checkpoints (the trial id): written into every checkpoint's manifest,
    /// so a folder holding another run's checkpoints is never resumed.
    pub run_id: String,
    /// A checkpoint to continue from (found and verified by
    /// [`checkpoint::find_latest`] in `checkpoint_dir` with this `run_id`); `None` starts
    /// from scratch.
    pub resume: Option<Checkpoint>,
    /// Where to train.
    pub device: Device,
    /// Latency measurement; `None` skips it.
    pub latency: Option<LatencyOptions>,
    /// Where to keep the epoch checkpoints (the newest two, plus `last` and `best`; see
    /// [`checkpoint`]); `None` keeps none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Send a `Batch` event every this many batches (the loss is read from the device
    /// then, so a divergence is noticed within this many batches).
    pub progress_every: usize,
}

impl RunOptions {
    /// Defaults for `seed` on `device`: latency measured, no checkpoints, no resume,
    /// progress every 10 batches.
    pub fn new(seed: u64, device: Device) -> Self {
        RunOptions {
            seed,
            run_id: String::new(),
            resume: None,
            device,
            latency: Some(LatencyOptions::default()),
            checkpoint_dir: None,
            progress_every: 10,
        }
    }
}

/// The data of a trial, limited and on the trial's device.
fn prepare(trial: &ValidTrial, dataset: &FashionMnist, device: Device) -> (Split, Split) {
    let limit = |split: &Split, n: Option<usize>| match n {
        Some(n) => split.take(n),
        None => split.take(split.len()),
    };
    (
        limit(&dataset.train, trial.data.train_limit).to_device(device),
        limit(&dataset.test, trial.data.test_limit).to_device(device),
    )
}

/// The device as text, the one label every crate uses: `cpu`, `cuda:0`.
pub fn device_label(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A request to stop a running trial early (the trial then ends with
/// [`Status::Stopped`] and is not a result).
#[derive(Debug, Default)]
pub struct Stop {
    /// Stop before the next batch.
    pub now: AtomicBool,
    /// Stop when the current epoch is finished (its checkpoint written).
    pub after_epoch: AtomicBool,
}

impl Stop {
    /// No stop requested.
    pub fn new() -> Self {
        Stop::default()
    }
}

/// Builds the trial's network with libtorch's generator seeded from the `init` stream:
/// the initial weights of a trial are a function of its configuration, its seed and its
/// `fix` alone.
pub fn build_model(trial: &ValidTrial, streams: &Streams, device: Device) -> (VarStore, Net) {
    tch::manual_seed(streams.init_seed());
    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), &trial.model).with_precision(trial.precision);
    (vs, net)
}

/// The trial's network with trained weights: built as the trial builds it, then every
/// variable (weights and batch-norm running statistics) loaded from `model_file`, an
/// epoch checkpoint's `model.ot` (or `last.model.ot`, `best.model.ot`).
pub fn load_model(
    trial: &ValidTrial,
    model_file: &std::path::Path,
    device: Device,
) -> Result<(VarStore, Net), TrainError> {
    let mut vs = VarStore::new(device);
    let net = Net::try_new(&vs.root(), &trial.model)
        .map_err(|e| TrainError::Load {
            path: model_file.to_path_buf(),
            message: e.to_string(),
        })?
        .with_precision(trial.precision);
    vs.load(model_file).map_err(|e| TrainError::Load {
        path: model_file.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok((vs, net))
}

/// The test loss and accuracy (percent) of `net` on the trial's test images (the first
/// `data.test_limit`), computed exactly as a trial computes them after each epoch.
pub fn evaluate_test(
    trial: &ValidTrial,
    net: &Net,
    dataset: &FashionMnist,
    device: Device,
) -> (f64, f64) {
    let (_, test) = prepare(trial, dataset, device);
    evaluate(net, &test, trial.eval_batch_size)
}

/// Runs one trial and returns its result; `stop` ends it early (status `Stopped`).
///
/// Divergence is a result, not an error: the trial ends with [`Status::Diverged`] and the
/// epochs completed so far. Like [`try_train`] with a sink that cannot fail.
pub fn train(
    trial: &ValidTrial,
    dataset: &FashionMnist,
    options: &RunOptions,
    sink: &mut dyn FnMut(&Event),
    stop: &Stop,
) -> Result<TrialResult, TrainError> {
    try_train(
        trial,
        dataset,
        options,
        &mut |event| {
            sink(event);
            Ok(())
        },
        stop,
    )
}

/// Runs one trial (from `options.resume` if given) and returns its result; `stop` ends it
/// early (status `Stopped`), and so does the first error the sink returns (the trial then
/// returns that error: a sink that cannot persist an event stops the trial at once).
pub fn try_train(
    trial: &ValidTrial,
    dataset: &FashionMnist,
    options: &RunOptions,
    sink: &mut dyn FnMut(&Event) -> Result<(), TrainError>,
    stop: &Stop,
) -> Result<TrialResult, TrainError> {
    let started = Instant::now();
    let device = options.device;
    let streams = Streams::new(options.seed, &trial.fix);
    let (train_split, test_split) = prepare(trial, dataset, device);

    let (mut vs, net) = build_model(trial, &streams, device);
    let parameters = models::parameter_count(&vs);
    let mut optimizer = Optimizer::new(&trial.optimizer, vs.trainable_variables());
    let mut augment = Pipeline::new(trial.augmentations.clone(), streams.augment_seed(0));

    let mut epochs: Vec<EpochMetrics> = Vec::new();
    let mut best_accuracy = f64::NEG_INFINITY;
    let mut best_epoch: Option<u32> = None;
    let mut prior_wall_s = 0.0;
    let mut first_epoch = 0u32;
    if let Some(from) = &options.resume {
        let m = &from.manifest;
        if m.run_id != options.run_id || m.seed != options.seed || m.epoch > trial.epochs {
            return Err(TrainError::Resume {
                path: from.dir.clone(),
                message: format!(
                    "checkpoint of run {} seed {} at epoch {} does not fit run {} seed {} of {} epochs",
                    m.run_id, m.seed, m.epoch, options.run_id, options.seed, trial.epochs
                ),
            });
        }
        let model_path = from.dir.join(checkpoint::MODEL);
        vs.load(&model_path).map_err(|e| TrainError::Resume {
            path: model_path.clone(),
            message: e.to_string(),
        })?;
        let optim_path = from.dir.join(checkpoint::OPTIM);
        optimizer
            .load(&optim_path)
            .map_err(|message| TrainError::Resume {
                path: optim_path.clone(),
                message,
            })?;
        epochs = m.epochs.clone();
        best_accuracy = m.best_accuracy.unwrap_or(f64::NEG_INFINITY);
        best_epoch = m.best_epoch;
        prior_wall_s = m.wall_time_s;
        first_epoch = m.epoch;
    }
    let wall = |started: &Instant| prior_wall_s + started.elapsed().as_secs_f64();

    let batches_per_epoch = train_split.len().div_ceil(trial.batch_size);
    sink(&Event::Started {
        parameters,
        train_images: train_split.len(),
        test_images: test_split.len(),
        batches: batches_per_epoch,
        epochs: trial.epochs,
        device: device_label(device),
        threads: tch::get_num_threads(),
    })?;

    let mut status = Status::Finished;
    'epochs: for epoch in first_epoch..trial.epochs {
        let number = epoch + 1;
        let lr = trial.schedule.lr_at(trial.optimizer.lr, epoch);
        optimizer.set_lr(lr);
        sink(&Event::EpochStarted { epoch: number, lr })?;

        let epoch_start = Instant::now();
        augment.reseed(streams.augment_seed(epoch));
        tch::manual_seed(streams.dropout_seed(epoch));
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut batches_done = 0usize;
        let mut images_done = 0usize;
        for batch in train_split.batches(trial.batch_size, streams.order(epoch)) {
            if stop.now.load(Ordering::Relaxed) {
                status = Status::Stopped;
                break 'epochs;
            }
            let images = if augment.is_empty() {
                batch.images
            } else {
                augment.apply(&batch.images)
            };
            let logits = net.forward_t(&data::normalize(&images), true);
            let loss = logits.cross_entropy_for_logits(&batch.labels);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            loss_sum += loss.detach().to_kind(Kind::Double);
            batches_done += 1;
            images_done += batch.labels.size()[0] as usize;
            if batches_done.is_multiple_of(options.progress_every.max(1))
                || batches_done == batches_per_epoch
            {
                let sum = loss_sum.double_value(&[]);
                if !sum.is_finite() {
                    status = Status::Diverged {
                        epoch: number,
                        batch: batches_done,
                    };
                    break 'epochs;
                }
                sink(&Event::Batch {
                    epoch: number,
                    batch: batches_done,
                    batches: batches_per_epoch,
                    loss: sum / batches_done as f64,
                    images_per_s: images_done as f64 / epoch_start.elapsed().as_secs_f64(),
                })?;
            }
        }
        let train_loss_sum = loss_sum.double_value(&[]);
        if !train_loss_sum.is_finite() {
            status = Status::Diverged {
                epoch: number,
                batch: 0,
            };
            break;
        }
        let train_time_s = epoch_start.elapsed().as_secs_f64();

        sink(&Event::Evaluating { epoch: number })?;
        let eval_start = Instant::now();
        let (test_loss, test_accuracy) = evaluate(&net, &test_split, trial.eval_batch_size);
        let metrics = EpochMetrics {
            epoch: number,
            lr,
            train_loss_mean: train_loss_sum / batches_done.max(1) as f64,
            train_loss_sum,
            test_loss,
            test_accuracy,
            train_time_s,
            eval_time_s: eval_start.elapsed().as_secs_f64(),
            images_per_s: images_done as f64 / train_time_s,
        };
        let is_best = test_accuracy > best_accuracy;
        if is_best {
            best_accuracy = test_accuracy;
            best_epoch = Some(number);
        }
        epochs.push(metrics.clone());
        if let Some(dir) = &options.checkpoint_dir {
            let manifest = Manifest {
                format: MANIFEST_FORMAT,
                run_id: options.run_id.clone(),
                seed: options.seed,
                epoch: number,
                best_accuracy: best_epoch.map(|_| best_accuracy),
                best_epoch,
                wall_time_s: wall(&started),
                epochs: epochs.clone(),
                files: BTreeMap::new(),
            };
            checkpoint::write(dir, manifest, is_best, || {
                let mut model = Vec::new();
                vs.save_to_stream(&mut model)?;
                Ok((model, optimizer.to_bytes()?))
            })?;
        }
        // The epoch counts as done only now that its checkpoint is durable.
        sink(&Event::Epoch(metrics))?;
        if stop.after_epoch.load(Ordering::Relaxed) && number < trial.epochs {
            status = Status::Stopped;
            break;
        }
    }

    let latency = match (&status, options.latency) {
        (Status::Finished, Some(latency_options)) => {
            let images = test_split
                .batches(trial.eval_batch_size, BatchOrder::Sequential)
                .next()
                .map(|b| data::normalize(&b.images));
            // The deployed form of the trained net (see `measure_deployed_latency`).
            images.map(|images| {
                measure_deployed_latency(&net, &images, trial.eval_batch_size, latency_options)
            })
        }
        _ => None,
    };
    if let Some(latency) = &latency {
        sink(&Event::Latency(latency.clone()))?;
    }
    let wall_time_s = wall(&started);
    sink(&Event::Finished {
        status: status.clone(),
        wall_time_s,
    })?;
    Ok(TrialResult {
        status,
        parameters,
        epochs,
        latency,
        wall_time_s,
    })
}

/// Mean test loss and accuracy (percent), in eval mode without gradients.
fn evaluate(net: &Net, split: &Split, batch_size: usize) -> (f64, f64) {
    tch::no_grad(|| {
        let device = split.device();
        let mut loss = Tensor::zeros([], (Kind::Double, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        for batch in split.batches(batch_size, BatchOrder::Sequential) {
            let logits = net.forward_t(&data::normalize(&batch.images), false);
            loss += logits
                .cross_entropy_loss::<Tensor>(&batch.labels, None, Reduction::Sum, -100, 0.0)
                .to_kind(Kind::Double);
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&batch.labels)
                .sum(Kind::Int64);
        }
        let n = split.len().max(1) as f64;
        (
            loss.double_value(&[]) / n,
            100.0 * correct.int64_value(&[]) as f64 / n,
        )
    })
}

/// Times one training epoch with every batch already assembled, normalised and on the
/// device: the compute-only floor that measures the data path's overhead. Returns seconds.
pub fn compute_only_epoch(
    trial: &ValidTrial,
    dataset: &FashionMnist,
    seed: u64,
    device: Device,
    epochs: usize,
) -> Vec<f64> {
    let streams = Streams::new(seed, &trial.fix);
    let (train_split, _) = prepare(trial, dataset, device);
    let (vs, net) = build_model(trial, &streams, device);
    let mut optimizer = Optimizer::new(&trial.optimizer, vs.trainable_variables());
    let mut augment = Pipeline::new(trial.augmentations.clone(), streams.augment_seed(0));
    tch::manual_seed(streams.dropout_seed(0));
    let batches: Vec<(Tensor, Tensor)> = train_split
        .batches(trial.batch_size, streams.order(0))
        .map(|b| {
            let images = if augment.is_empty() {
                b.images
            } else {
                augment.apply(&b.images)
            };
            (data::normalize(&images), b.labels)
        })
        .collect();
    optimizer.set_lr(trial.optimizer.lr);
    (0..epochs)
        .map(|_| {
            let start = Instant::now();
            let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
            for (images, labels) in &batches {
                let loss = net.forward_t(images, true).cross_entropy_for_logits(labels);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                loss_sum += loss.detach().to_kind(Kind::Double);
            }
            let _ = loss_sum.double_value(&[]);
            start.elapsed().as_secs_f64()
        })
        .collect()
}
