//! The epoch bench (`harness bench-epoch`, which `make bench` drives): the training time of
//! a variant's epochs through the code a user's trial runs, or through the compute alone.

use contract::Event;
use contract::Latency;
use data::FashionMnist;
use spec::{Experiment, Variant};
use tch::Device;

/// What is timed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// [`crate::run_trial`] end to end in a scratch trial folder: the real data path
    /// (uint8 dataset, shuffle, batch assembly, augmentation, normalisation), event files,
    /// per-batch progress, a durable checkpoint per epoch and the latency measurement.
    Full,
    /// The same batches already materialised on the device.
    ComputeOnly,
}

/// Errors of [`epochs`].
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The variant's settings with the bench's epochs do not validate.
    #[error(transparent)]
    Config(#[from] trainer::ValidationError),
    /// The trial failed.
    #[error(transparent)]
    Run(#[from] crate::trial_run::RunError),
}

/// Times `repeats` epochs of `variant` after one warm-up epoch (seed 0): `on_epoch` gets each
/// epoch's index (0 is the warm-up) and training seconds. In [`Mode::Full`] only the
/// settings differ from a user's trial (the epochs asked for, and one evaluation batch of
/// test images, as evaluation is not in the training time and only makes the bench
/// longer), and the trial's latency measurement is returned.
pub fn epochs(
    experiment: &Experiment,
    variant: &Variant,
    dataset: &FashionMnist,
    device: Device,
    mode: Mode,
    repeats: usize,
    on_epoch: &mut dyn FnMut(usize, f64),
) -> Result<Option<Latency>, BenchError> {
    let epochs = repeats + 1;
    if mode == Mode::ComputeOnly {
        let times = trainer::compute_only_epoch(&variant.trial, dataset, 0, device, epochs);
        for (k, t) in times.into_iter().enumerate() {
            on_epoch(k, t);
        }
        return Ok(None);
    }
    let mut config = variant.trial.config().clone();
    config.epochs = epochs as u32;
    config.data.test_limit = Some(config.eval_batch_size.min(10_000));
    let mut variant = variant.clone();
    variant.trial = config.validate()?;
    let spec = spec::TrialSpec::new(experiment, &variant, 0, &dataset.digest);
    let dir = std::env::temp_dir().join(format!("harness-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut latency = None;
    let outcome = crate::run_trial(
        &spec,
        dataset,
        device,
        &dir,
        &trainer::Stop::new(),
        &mut |event| match event {
            Event::Epoch(m) => on_epoch((m.epoch - 1) as usize, m.train_time_s),
            Event::Latency(l) => latency = Some(l.clone()),
            _ => {}
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
    outcome?;
    Ok(latency)
}
