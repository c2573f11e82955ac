//! The training loop.

use crate::config::ValidTrial;
use crate::error::TrainError;
use crate::events::{EpochMetrics, Event, Status, TrialResult};
use crate::latency::{LatencyOptions, measure_latency};
use crate::optim::Optimizer;
use augmentation::Pipeline;
use data::{BatchOrder, FashionMnist, Split};
use models::Net;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Reduction, Tensor};

/// How and where to run a trial.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The trial's seed: initialisation, dropout, shuffling and augmentation all derive
    /// from it.
    pub seed: u64,
    /// Where to train.
    pub device: Device,
    /// Latency measurement; `None` skips it.
    pub latency: Option<LatencyOptions>,
    /// Where to keep `last` and `best` checkpoints (model and optimiser); `None` keeps none.
    pub checkpoint_dir: Option<PathBuf>,
    /// Send a `Batch` event every this many batches (the loss is read from the device
    /// then, so a divergence is noticed within this many batches).
    pub progress_every: usize,
}

impl RunOptions {
    /// Defaults for `seed` on `device`: latency measured, no checkpoints, progress every
    /// 10 batches.
    pub fn new(seed: u64, device: Device) -> Self {
        RunOptions {
            seed,
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

fn device_name(device: Device) -> String {
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

/// Runs one trial and returns its result; `stop` ends it early (status `Stopped`).
///
/// Divergence is a result, not an error: the trial ends with [`Status::Diverged`] and the
/// epochs completed so far.
pub fn train(
    trial: &ValidTrial,
    dataset: &FashionMnist,
    options: &RunOptions,
    sink: &mut dyn FnMut(&Event),
    stop: &Stop,
) -> Result<TrialResult, TrainError> {
    let started = Instant::now();
    let device = options.device;
    tch::manual_seed(options.seed as i64);
    let (train_split, test_split) = prepare(trial, dataset, device);

    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), &trial.model);
    let parameters = models::parameter_count(&vs);
    let mut optimizer = Optimizer::new(&trial.optimizer, vs.trainable_variables());
    let mut augment = Pipeline::new(trial.augmentations.clone(), options.seed);
    let batches_per_epoch = train_split.len().div_ceil(trial.batch_size);
    sink(&Event::Started {
        parameters,
        train_images: train_split.len(),
        test_images: test_split.len(),
        batches: batches_per_epoch,
        epochs: trial.epochs,
        device: device_name(device),
        threads: tch::get_num_threads(),
    });

    let mut epochs: Vec<EpochMetrics> = Vec::new();
    let mut best_accuracy = f64::NEG_INFINITY;
    let mut status = Status::Finished;
    'epochs: for epoch in 0..trial.epochs {
        let number = epoch + 1;
        let lr = trial.schedule.lr_at(trial.optimizer.lr, epoch);
        optimizer.set_lr(lr);
        sink(&Event::EpochStarted { epoch: number, lr });

        let epoch_start = Instant::now();
        let order = BatchOrder::Shuffled {
            seed: options.seed,
            epoch: epoch as u64,
        };
        let mut loss_sum = Tensor::zeros([], (Kind::Double, device));
        let mut batches_done = 0usize;
        let mut images_done = 0usize;
        for batch in train_split.batches(trial.batch_size, order) {
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
                });
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

        sink(&Event::Evaluating { epoch: number });
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
        if let Some(dir) = &options.checkpoint_dir {
            save_checkpoint(&vs, &optimizer, dir, "last")?;
            if test_accuracy > best_accuracy {
                save_checkpoint(&vs, &optimizer, dir, "best")?;
            }
        }
        best_accuracy = best_accuracy.max(test_accuracy);
        sink(&Event::Epoch(metrics.clone()));
        epochs.push(metrics);
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
            images.map(|images| {
                measure_latency(&net, &images, trial.eval_batch_size, latency_options)
            })
        }
        _ => None,
    };
    if let Some(latency) = &latency {
        sink(&Event::Latency(latency.clone()));
    }
    let wall_time_s = started.elapsed().as_secs_f64();
    sink(&Event::Finished {
        status: status.clone(),
        wall_time_s,
    });
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

/// Writes `<name>.model.ot` and `<name>.optim.ot` atomically (temporary file, then rename).
fn save_checkpoint(
    vs: &VarStore,
    optimizer: &Optimizer,
    dir: &Path,
    name: &str,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(|source| TrainError::Checkpoint {
        path: dir.to_path_buf(),
        source,
    })?;
    let model = dir.join(format!("{name}.model.ot"));
    let optim = dir.join(format!("{name}.optim.ot"));
    let model_tmp = dir.join(format!(".{name}.model.ot.tmp"));
    let optim_tmp = dir.join(format!(".{name}.optim.ot.tmp"));
    vs.save(&model_tmp)?;
    optimizer.save(&optim_tmp)?;
    for (tmp, path) in [(model_tmp, model), (optim_tmp, optim)] {
        std::fs::rename(&tmp, &path).map_err(|source| TrainError::Checkpoint { path, source })?;
    }
    Ok(())
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
    tch::manual_seed(seed as i64);
    let (train_split, _) = prepare(trial, dataset, device);
    let vs = VarStore::new(device);
    let net = Net::new(&vs.root(), &trial.model);
    let mut optimizer = Optimizer::new(&trial.optimizer, vs.trainable_variables());
    let mut augment = Pipeline::new(trial.augmentations.clone(), seed);
    let batches: Vec<(Tensor, Tensor)> = train_split
        .batches(trial.batch_size, BatchOrder::Shuffled { seed, epoch: 0 })
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
