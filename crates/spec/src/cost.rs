//! What a plan costs before it runs: a short calibration of training, evaluation and
//! latency throughput on this machine and device, cached per host, device and thread count,
//! times the plan's images, epochs and evaluations.
//!
//! # Calibration
//!
//! For each distinct *workload* of a plan ([`workload_key`]: the network's shape, batch
//! sizes, augmentations and precision set the time of an epoch; the dropout rate, the
//! optimiser and the seed do not), one tiny trial runs through the real
//! trainer: 2 epochs of 3 training batches and 2 evaluation batches, then a short latency
//! phase (2 warm-up and 5 timed passes). The second epoch gives images per second for
//! training and evaluation (the first warms up); the latency medians give the length of a
//! real trial's latency phase; the rest of the wall time is per-trial set-up. A first
//! probe (2 epochs of one small batch, sized by the network's forward FLOPs so that it
//! takes about a second however wide the network, see [`probe_batch`]) comes before; a
//! workload too heavy for the full calibration (more than [`PROBE_LIMIT_S`] by the probe)
//! keeps the probe's rates, marked extrapolated.
//!
//! `--jobs auto` compares jobs x threads splits without calibrating every workload at
//! every thread count: the first split is calibrated fully, the others on the heaviest
//! workloads only, the rest scaled ([`Missing::Scale`]).
//!
//! Results are cached in `<cache>/fmnist-harness/calibration/<host>-<device>-<threads>t.json`
//! (`$XDG_CACHE_HOME` or `~/.cache`), so each workload is calibrated once per machine.
//!
//! # Estimate
//!
//! A trial costs `epochs x (train images / train rate + test images / eval rate) +
//! latency phase + set-up`; the plan's wall time is the greedy schedule of its pending
//! trials, in plan order, on `jobs` slots. Not modelled: checkpoint writing (small for
//! these models) and contention between parallel jobs (calibrations run one at a time).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::write_atomic;
use trainer::TrialConfig;

/// A calibration expected to take longer than this (from the probe) is not run; the
/// probe's rates are used instead.
pub const PROBE_LIMIT_S: f64 = 20.0;
/// Batch size of the probe for a network as heavy as the 4 conv baseline.
const PROBE_BATCH: usize = 8;
/// Format of the cache file (2: workloads keyed without the dropout rate, with the
/// precision; caches of format 1 are dropped and measured again).
const FORMAT: u32 = 2;
/// Most workloads one cache file keeps: the ones measured last are kept.
pub const MAX_CACHED_WORKLOADS: usize = 256;

/// Measured throughput of one workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Training images per second (augmentation and optimiser step included).
    pub train_images_per_s: f64,
    /// Evaluation images per second.
    pub eval_images_per_s: f64,
    /// Seconds of a trial's latency phase.
    pub latency_phase_s: f64,
    /// Seconds of per-trial set-up (model, data on the device, first batch).
    pub setup_s: f64,
    /// `Some(batch)` when the rates come from a probe at that batch size (a workload too
    /// heavy to calibrate at its own batch size), which overstates its cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extrapolated_from_batch: Option<usize>,
    /// Unix seconds of the measurement.
    pub measured_at: u64,
}

/// The cache file of one host, device and thread count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Cache format.
    pub format: u32,
    /// Workload key -> rate.
    pub rates: BTreeMap<String, Rate>,
}

/// What decides an epoch's time, and nothing else: the network's shape (architecture,
/// width, kernel, batch norm), the batch sizes, the augmentations and the precision. The
/// dropout rate, the optimiser and its hyper-parameters, the schedule, the epochs, the data
/// limits and the seed do not change the cost of a step (the estimate multiplies the rate
/// by the images and epochs), so a plan of 100,000 variants of one network calibrates once.
pub fn workload_key(trial: &TrialConfig) -> String {
    let m = &trial.model;
    let mut key = serde_json::json!({
        "architecture": m.architecture,
        "channels": m.channels,
        "kernel_size": m.kernel_size,
        "batch_norm": m.batch_norm,
        "batch_size": trial.batch_size,
        "eval_batch_size": trial.eval_batch_size,
        "augmentations": trial.augmentations,
    });
    if !trial.precision.is_fp32() {
        key["precision"] = serde_json::json!(trial.precision);
    }
    let digest = Sha256::digest(key.to_string().as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The workload in words, e.g. `conv4 32ch k3 bn batch 256 + HorizontalFlip` (` bf16` at
/// that precision).
pub fn workload_label(trial: &TrialConfig) -> String {
    let m = &trial.model;
    let mut label = format!(
        "{} {}ch k{}{} batch {}",
        m.architecture,
        m.channels,
        m.kernel_size,
        if m.batch_norm { " bn" } else { " no-bn" },
        trial.batch_size
    );
    if !trial.precision.is_fp32() {
        label.push_str(&format!(" {}", trial.precision));
    }
    for a in &trial.augmentations {
        let name = match serde_json::to_value(a) {
            Ok(serde_json::Value::Object(map)) => map.keys().next().cloned(),
            Ok(serde_json::Value::String(name)) => Some(name),
            _ => None,
        };
        label.push_str(&format!(
            " + {}",
            name.unwrap_or_else(|| "augmentation".into())
        ));
    }
    label
}

/// `<cache>/fmnist-harness/calibration/<host>-<device>-<threads>t.json`.
pub fn cache_path(device: &str, threads: i32) -> PathBuf {
    let base = data::cache_dir();
    let root = base.parent().map_or(base.clone(), Path::to_path_buf);
    let safe = |s: &str| s.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-");
    root.join("calibration").join(format!(
        "{}-{}-{threads}t.json",
        safe(&store::provenance::host_name()),
        safe(device)
    ))
}

impl Calibration {
    /// Drops the workloads measured longest ago until at most `max` remain.
    pub fn bound(&mut self, max: usize) {
        if self.rates.len() <= max {
            return;
        }
        let mut by_age: Vec<(u64, String)> = self
            .rates
            .iter()
            .map(|(k, r)| (r.measured_at, k.clone()))
            .collect();
        by_age.sort();
        let excess = self.rates.len() - max;
        for (_, key) in by_age.into_iter().take(excess) {
            self.rates.remove(&key);
        }
    }

    /// The cache at `path` (empty if missing, unreadable or of another format).
    pub fn load(path: &Path) -> Calibration {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<Calibration>(&t).ok())
            .filter(|c| c.format == FORMAT)
            .unwrap_or_default()
    }

    /// Writes the cache atomically (a failure only costs a recalibration next time),
    /// keeping the [`MAX_CACHED_WORKLOADS`] measured last.
    pub fn save(&self, path: &Path) {
        let mut c = self.clone();
        c.format = FORMAT;
        c.bound(MAX_CACHED_WORKLOADS);
        if let Ok(mut json) = serde_json::to_string_pretty(&c) {
            json.push('\n');
            let _ = write_atomic(path, json.as_bytes());
        }
    }
}

/// One workload about to be calibrated, for progress: the `index`-th of `total` that this
/// machine has not measured yet.
#[derive(Clone, Copy, Debug)]
pub struct Calibrating<'a> {
    /// 1-based.
    pub index: usize,
    /// Workloads to calibrate in this estimate.
    pub total: usize,
    /// What the workload is, e.g. `conv4 32ch k3 bn batch 256`.
    pub workload: &'a str,
    /// About how long the calibration has left, this workload included: the mean time of
    /// the workloads calibrated so far, weighted by forward FLOPs up to 4x (heavier ones
    /// are probed, not calibrated in full); `None` before the first is done.
    pub left: Option<Duration>,
}

/// The probe's batch: [`PROBE_BATCH`] images for a network as heavy as the 4 conv
/// baseline (32 channels, kernel 3), fewer in proportion to its forward FLOPs for heavier
/// ones (down to 1 image), and never more than the trial's own batches.
pub fn probe_batch(config: &TrialConfig) -> usize {
    let batch = ((PROBE_BATCH as f64 / heaviness(config)).floor() as usize).clamp(1, PROBE_BATCH);
    batch.min(config.batch_size).min(config.eval_batch_size)
}

/// The network's forward FLOPs over those of the 4 conv baseline (32 channels, kernel 3).
pub fn heaviness(config: &TrialConfig) -> f64 {
    let yardstick = models::ModelConfig {
        architecture: models::Architecture::Conv4,
        channels: 32,
        kernel_size: 3,
        ..config.model.clone()
    };
    models::forward_flops(&config.model) / models::forward_flops(&yardstick)
}

/// Seconds one trial of `config` takes at `rate` with `train` training and `test` test
/// images available (the config's limits apply).
pub fn seconds_for(config: &TrialConfig, train: usize, test: usize, rate: &Rate) -> f64 {
    let train = config.data.train_limit.map_or(train, |n| n.min(train)) as f64;
    let test = config.data.test_limit.map_or(test, |n| n.min(test)) as f64;
    f64::from(config.epochs) * (train / rate.train_images_per_s + test / rate.eval_images_per_s)
        + rate.latency_phase_s
        + rate.setup_s
}

/// The estimate of one trial of `config` from the calibration cached on this machine for
/// the split the experiment's last run used (`runs/<name>/estimate.json`: device and
/// threads), on the full Fashion-MNIST (60,000 / 10,000 images, limits applied). `None`
/// without such a run or calibration. The dashboard's ETA uses it, so that it and the
/// command line's estimate come from one model.
pub fn cached_trial_seconds(experiment_dir: &Path, config: &TrialConfig) -> Option<f64> {
    let kept = kept(experiment_dir)?;
    let calibration = Calibration::load(&cache_path(&kept.device, kept.threads));
    let rate = calibration.rates.get(&workload_key(config))?;
    Some(seconds_for(
        config,
        data::FileKind::TrainImages.expected_count(),
        data::FileKind::TestImages.expected_count(),
        rate,
    ))
}

/// The greedy schedule's wall time of `seconds` (in plan order) on `jobs` slots.
pub fn makespan(seconds: &[f64], jobs: usize) -> f64 {
    let mut slots = vec![0.0f64; jobs.max(1)];
    for &s in seconds {
        let first = slots
            .iter_mut()
            .min_by(|a, b| a.total_cmp(b))
            .expect("at least one slot");
        *first += s;
    }
    slots.into_iter().fold(0.0, f64::max)
}

/// The cost of a plan's pending trials.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Wall time on `jobs` slots.
    pub wall: Duration,
    /// Jobs.
    pub jobs: usize,
    /// libtorch threads per job.
    pub threads: i32,
    /// Trials counted.
    pub trials: usize,
    /// Per architecture: trials and summed seconds.
    pub per_architecture: BTreeMap<String, (usize, f64)>,
    /// Workloads calibrated now (the others came from the cache).
    pub calibrated: usize,
    /// Workloads whose rates are extrapolated from a probe.
    pub extrapolated: usize,
    /// The cache file.
    pub cache: PathBuf,
    /// Per pending trial (by id): its estimated seconds.
    pub per_trial: BTreeMap<String, f64>,
    /// Per pending trial in plan order: id, workload key and estimated seconds.
    pub order: Vec<(String, String, f64)>,
    /// Per workload key: the rate used (measured, cached or scaled).
    pub rates: BTreeMap<String, Rate>,
    /// Workloads whose rates were scaled from another thread count ([`Missing::Scale`]).
    pub scaled: usize,
}

/// How [`estimate`] treats the workloads this machine's cache lacks at its thread count.
#[derive(Clone, Copy, Debug)]
pub enum Missing<'a> {
    /// Calibrate each one.
    Calibrate,
    /// Calibrate only the heaviest workloads of `reference` (an estimate of the same plan
    /// at another thread count): those that make up at least `share` of its time, at
    /// least one. The others' rates are `reference`'s scaled by how much slower or faster
    /// those heaviest ones ran here (time-weighted), and are not cached. `--jobs auto`
    /// compares its splits this way, so that a plan is calibrated fully once, not once
    /// per split.
    Scale {
        /// The fully calibrated estimate.
        reference: &'a Estimate,
        /// The share of its time to calibrate here, e.g. 0.5.
        share: f64,
        /// Trials estimated longer than this many seconds in `reference` do not count
        /// (`--max-trial-time` leaves them out).
        limit: Option<f64>,
    },
    /// Calibrate nothing: take the rates of `earlier`, an estimate at the same thread
    /// count of a plan holding these trials (e.g. before `--max-trial-time` left some
    /// out).
    Reuse {
        /// The earlier estimate.
        earlier: &'a Estimate,
    },
}

impl Estimate {
    /// The workload keys that make up at least `share` of this estimate's time, heaviest
    /// first (at least one when there is any), counting only trials estimated at no more
    /// than `limit` seconds.
    pub fn heaviest_workloads(&self, share: f64, limit: Option<f64>) -> Vec<String> {
        let mut per_workload: BTreeMap<&String, f64> = BTreeMap::new();
        for (_, key, s) in &self.order {
            if limit.is_none_or(|l| *s <= l) {
                *per_workload.entry(key).or_default() += s;
            }
        }
        let total: f64 = per_workload.values().sum();
        let mut by_time: Vec<(&String, f64)> = per_workload.into_iter().collect();
        by_time.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let mut picked = Vec::new();
        let mut sum = 0.0;
        for (key, s) in by_time {
            if !picked.is_empty() && sum >= share * total {
                break;
            }
            picked.push(key.clone());
            sum += s;
        }
        picked
    }

    /// The wall time on `jobs` slots of the trials estimated at no more than `limit`
    /// seconds each (all of them without a limit): what a run with `--max-trial-time`
    /// would take, the slower variants left out.
    pub fn wall_within(&self, limit: Option<f64>) -> Duration {
        let seconds: Vec<f64> = self
            .order
            .iter()
            .map(|(_, _, s)| *s)
            .filter(|s| limit.is_none_or(|l| *s <= l))
            .collect();
        Duration::from_secs_f64(makespan(&seconds, self.jobs))
    }
}

/// The estimate kept beside an experiment's trials (`runs/<name>/estimate.json`) and, after
/// the run, the actual wall time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    /// Estimated seconds.
    pub estimated_s: f64,
    /// Trials estimated.
    pub trials: usize,
    /// Jobs x threads.
    pub jobs: usize,
    /// Threads per job.
    pub threads: i32,
    /// Device.
    pub device: String,
    /// Actual seconds, once the run ended with every trial recorded.
    #[serde(default)]
    pub actual_s: Option<f64>,
    /// The experiments planned together in that run (their union, each shared trial
    /// once), when there were several; the estimate and the wall time are the union's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<String>,
    /// Variants left out of that run because one trial of theirs was estimated to take
    /// longer than `--max-trial-time` (a report shows them as not run, with the estimate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// The `--set` overrides that run was given, as written: the protocol its trials were
    /// planned under, which the dashboard loads the experiment with when it is given none,
    /// so that a store's trials show as done at the epochs they ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<String>,
    /// Seeds per variant of that run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<u32>,
}

/// A variant left out of a run as too slow for this machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The variant's name.
    pub variant: String,
    /// Its trials left out.
    pub trials: usize,
    /// The estimated seconds of one of them.
    pub seconds_each: f64,
    /// The limit it exceeded (`--max-trial-time`), in seconds.
    pub limit_s: f64,
}

/// Parses a duration as people write it: `90s`, `20m`, `1.5h`, `2h30m`; a bare number is
/// minutes.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(minutes) = t.parse::<f64>() {
        return (minutes.is_finite() && minutes > 0.0)
            .then(|| Duration::from_secs_f64(minutes * 60.0))
            .ok_or_else(|| format!("`{text}`: must be a positive duration"));
    }
    let mut total = 0.0;
    let mut number = String::new();
    for c in t.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' => {
                let n: f64 = number
                    .parse()
                    .map_err(|_| format!("`{text}`: expected e.g. 90s, 20m, 1.5h or 2h30m"))?;
                total += n * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(format!("`{text}`: expected e.g. 90s, 20m, 1.5h or 2h30m")),
        }
    }
    if !number.is_empty() || total <= 0.0 || !total.is_finite() {
        return Err(format!("`{text}`: expected e.g. 90s, 20m, 1.5h or 2h30m"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// How far an estimate was off, in words that cannot be misread as the run's own change:
/// `estimate 66% high` (it said more than it took), `estimate 12% low`, `estimate exact`
/// (within 0.5%). The percentage is of the actual time.
pub fn estimate_error(estimated_s: f64, actual_s: f64) -> String {
    let pct = 100.0 * (estimated_s - actual_s) / actual_s.max(1e-9);
    if pct.abs() < 0.5 {
        "estimate exact".into()
    } else if pct > 0.0 {
        format!("estimate {pct:.0}% high")
    } else {
        format!("estimate {:.0}% low", -pct)
    }
}

/// `runs/<name>/estimate.json`.
pub fn kept_path(experiment_dir: &Path) -> PathBuf {
    experiment_dir.join(contract::layout::ESTIMATE)
}

/// Writes `kept` atomically.
pub fn keep(experiment_dir: &Path, kept: &Kept) -> Result<(), store::StoreError> {
    let mut json = serde_json::to_string_pretty(kept).expect("serialises");
    json.push('\n');
    write_atomic(&kept_path(experiment_dir), json.as_bytes())
}

/// The kept estimate of an experiment, if any (a bad copy counts as none; see
/// [`kept_file`] for one that says so).
pub fn kept(experiment_dir: &Path) -> Option<Kept> {
    kept_file(experiment_dir).good()
}

/// The kept estimate through the side-file reader ([`crate::side_file`]).
pub fn kept_file(experiment_dir: &Path) -> store::side_file::SideFile<Kept> {
    store::side_file::read(&kept_path(experiment_dir))
}

#[cfg(test)]
mod tests {
    #[test]
    fn estimate_errors_say_high_or_low_in_words() {
        assert_eq!(estimate_error(254.0, 153.0), "estimate 66% high");
        assert_eq!(estimate_error(100.0, 125.0), "estimate 20% low");
        assert_eq!(estimate_error(100.0, 100.2), "estimate exact");
    }

    use super::*;

    fn estimate_of(order: &[(&str, &str, f64)], jobs: usize) -> Estimate {
        Estimate {
            wall: Duration::ZERO,
            jobs,
            threads: 1,
            trials: order.len(),
            per_architecture: BTreeMap::new(),
            calibrated: 0,
            extrapolated: 0,
            cache: PathBuf::new(),
            per_trial: order
                .iter()
                .map(|(id, _, s)| (id.to_string(), *s))
                .collect(),
            order: order
                .iter()
                .map(|(id, key, s)| (id.to_string(), key.to_string(), *s))
                .collect(),
            rates: BTreeMap::new(),
            scaled: 0,
        }
    }

    /// `--jobs auto` calibrates its other splits on the heaviest workloads only, and
    /// compares splits on the trials `--max-trial-time` keeps: before, a 512-channel row
    /// that was left out anyway decided the split, and every workload was calibrated at
    /// every thread count (9 minutes of dry run for the study).
    #[test]
    fn the_heaviest_workloads_and_the_wall_count_only_the_trials_within_the_limit() {
        let e = estimate_of(
            &[
                ("a", "base", 10.0),
                ("b", "base", 10.0),
                ("c", "flip", 8.0),
                ("d", "wide", 1000.0),
                ("e", "k1", 2.0),
            ],
            2,
        );
        assert_eq!(e.heaviest_workloads(0.25, Some(60.0)), ["base"]);
        assert_eq!(e.heaviest_workloads(0.7, Some(60.0)), ["base", "flip"]);
        assert_eq!(e.heaviest_workloads(0.0, Some(60.0)), ["base"]);
        assert_eq!(e.heaviest_workloads(0.25, None), ["wide"]);
        assert_eq!(e.wall_within(None), Duration::from_secs(1010));
        // a, b on two slots, then c and e: 10 + 8 and 10 + 2.
        assert_eq!(e.wall_within(Some(60.0)), Duration::from_secs(18));
    }

    #[test]
    fn the_probe_batch_shrinks_with_the_networks_flops() {
        let mut config: TrialConfig = serde_json::from_value(serde_json::json!({
            "model": {"architecture": "conv4", "channels": 32, "kernel_size": 3,
                      "batch_norm": true, "dropout": 0.2},
            "optimizer": {"name": "adam", "lr": 0.01},
            "epochs": 1, "batch_size": 256, "eval_batch_size": 256,
        }))
        .unwrap();
        assert_eq!(probe_batch(&config), PROBE_BATCH);
        config.model.architecture = models::Architecture::Conv2;
        assert_eq!(
            probe_batch(&config),
            PROBE_BATCH,
            "lighter: the full probe batch"
        );
        config.model.architecture = models::Architecture::Conv4;
        config.model.channels = 64;
        assert_eq!(probe_batch(&config), 2, "about 4x the FLOPs");
        config.model.architecture = models::Architecture::Conv4Res;
        config.model.channels = 512;
        assert_eq!(probe_batch(&config), 1);
        config.model.channels = 32;
        config.batch_size = 4;
        assert_eq!(probe_batch(&config), 4, "never more than the trial's batch");
    }

    #[test]
    fn the_workload_ignores_what_does_not_change_a_steps_cost() {
        let base = TrialConfig::default();
        let mut other = base.clone();
        other.model.dropout = 0.5;
        other.optimizer.lr = 0.1;
        other.epochs = 3;
        other.data.train_limit = Some(1000);
        assert_eq!(workload_key(&base), workload_key(&other));
        assert_eq!(workload_label(&base), workload_label(&other));
        let mut wider = base.clone();
        wider.model.channels = 64;
        assert_ne!(workload_key(&base), workload_key(&wider));
        let mut bf16 = base.clone();
        bf16.precision = models::Precision::Bf16;
        assert_ne!(workload_key(&base), workload_key(&bf16));
        assert!(workload_label(&bf16).contains("bf16"));
    }

    #[test]
    fn the_cache_keeps_the_workloads_measured_last() {
        let rate = |at: u64| Rate {
            train_images_per_s: 1.0,
            eval_images_per_s: 1.0,
            latency_phase_s: 1.0,
            setup_s: 1.0,
            extrapolated_from_batch: None,
            measured_at: at,
        };
        let mut c = Calibration::default();
        for i in 0..10u64 {
            c.rates.insert(format!("w{i}"), rate(100 + i));
        }
        c.bound(4);
        let kept: Vec<&str> = c.rates.keys().map(String::as_str).collect();
        assert_eq!(kept, ["w6", "w7", "w8", "w9"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        for i in 0..(MAX_CACHED_WORKLOADS as u64 + 5) {
            c.rates.insert(format!("x{i}"), rate(1000 + i));
        }
        c.save(&path);
        assert_eq!(Calibration::load(&path).rates.len(), MAX_CACHED_WORKLOADS);
    }

    #[test]
    fn makespan_fills_the_least_loaded_slot() {
        assert_eq!(makespan(&[3.0, 1.0, 1.0, 1.0], 2), 3.0);
        assert_eq!(makespan(&[3.0, 1.0, 1.0, 1.0], 1), 6.0);
        assert_eq!(makespan(&[], 4), 0.0);
    }

    #[test]
    fn durations_parse_as_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse_duration("2h30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(900)));
        for bad in ["", "0", "-3", "5x", "m", "3h2"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(progress::format::human(Duration::from_secs(40)), "40s");
        assert_eq!(progress::format::human(Duration::from_secs(725)), "12m 5s");
        assert_eq!(progress::format::human(Duration::from_secs(4800)), "1h 20m");
    }
}
