//! Parity with plain PyTorch: does our trainer (crate `trainer`: its own Adam and SGD,
//! initialisation, batch norm and data path) learn as well as stock PyTorch on the same
//! settings?
//!
//! `harness parity` trains both sides with several seeds each: ours through the run store
//! (the experiment file `configs/parity-ours.ron`, one variant per architecture), PyTorch
//! through `bench/reference/train_reference.py` (`torch.optim`, `StepLR`, the layers'
//! default initialisation, `nn.CrossEntropyLoss`, a `DataLoader`), one process per
//! (architecture, seed), each run cached as a [`ReferenceRun`] JSON file.
//!
//! - [`run`]: the processes (our side in this process through `experiment::replicate`,
//!   the reference's Python processes, the report); the harness's `parity` command parses
//!   its flags and calls it.
//!
//! - [`select_variants`]: the experiment reduced to the requested variants, so that the
//!   replicate run for `--archs conv2` trains conv2 only (same trial ids as the full file);
//! - [`ReferenceSettings`]: a resolved trial configuration as the reference's flags, and
//!   the short hash that names its cache files ([`ReferenceSettings::key`]); settings the
//!   reference cannot express are refused, never approximated;
//! - [`parse_reference_output`]: the reference's JSON lines, checked;
//! - [`select_ours`]: our records of one variant, by configuration digest, dataset and seed;
//! - [`Curve`], [`ArchParity`]: per-epoch statistics of both sides ([`EpochRow`]) and the
//!   final-epoch difference ([`Difference`]: Welch's test and interval from [`statistics`]);
//! - [`Conditions`] and [`render`]: `reports/parity.md`.
//!
//! The two sides share no random stream (our seeds drive ChaCha streams and libtorch's
//! generator per source and epoch, PyTorch's drive `torch.manual_seed`), so seed 0 of one
//! side has nothing to do with seed 0 of the other: the sides are compared as two
//! independent samples, never as pairs.

mod compare;
mod markdown;
mod reference;
mod run;

pub use compare::*;
pub use markdown::*;
pub use reference::*;
pub use run::*;

use spec::config::Experiment;
use std::path::{Path, PathBuf};
use store::record::TrialRecord;
use trainer::TrialConfig;

/// The name of our side's experiment (`configs/parity-ours.ron`), not `parity`, so that its
/// generic report never takes the name of `reports/parity.md`.
pub const EXPERIMENT: &str = "parity-ours";

/// Version of the [`ReferenceRun`] file format.
pub const REFERENCE_FORMAT: u32 = 1;

/// Part of every [`ReferenceSettings::key`]: bumped if the meaning of a cached run changes.
pub const KEY_SCHEMA: &str = "fmnist-harness/parity-reference/v1";

/// Two learning rates closer than this (relative) are the same rate.
const LR_TOLERANCE: f64 = 1e-9;

/// What can go wrong in the pure part of a parity run.
#[derive(Debug, thiserror::Error)]
pub enum ParityError {
    /// `--archs` names a variant the experiment file lacks.
    #[error("--archs: `{name}` is not a variant of {path} (it has: {known})")]
    UnknownArch {
        /// The requested name.
        name: String,
        /// The experiment file.
        path: PathBuf,
        /// Its variants, comma-separated.
        known: String,
    },
    /// `--archs` is empty or names a variant twice.
    #[error("--archs: {0}")]
    Archs(String),
    /// A setting the PyTorch reference has no flag for.
    #[error(
        "variant `{variant}`: {field} = {value}: the PyTorch reference cannot express this ({why})"
    )]
    Unsupported {
        /// The variant.
        variant: String,
        /// Dotted path of the setting.
        field: String,
        /// Its value.
        value: String,
        /// What the reference supports instead.
        why: String,
    },
    /// The Python cannot run the reference (no torch, torchvision or PIL).
    #[error("{message}")]
    Python {
        /// The Python.
        python: PathBuf,
        /// What is wrong (naming the Python), with how to fix it.
        message: String,
    },
    /// A run of the reference failed.
    #[error("the PyTorch reference: {command}: {message}")]
    Reference {
        /// Its command line, as a shell would take it.
        command: String,
        /// What went wrong, with the tail of its stderr.
        message: String,
    },
    /// Our side could not record every trial.
    #[error("{0}")]
    Incomplete(String),
    /// Our side's replicate run failed.
    #[error(transparent)]
    Replicate(#[from] experiment::replicate::ReplicateError),
    /// The store (records, cache files, the report) failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The reference's standard output is not what it should print.
    #[error("PyTorch reference output, line {line}: {message}")]
    Output {
        /// 1-based line of stdout (0: the output as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

// ------------------------------------------------------------------- experiment file

/// `experiment` (loaded from `path`) with only the variants named in `archs`, in that
/// order.
///
/// Everything else is kept, so each variant has the same settings and its trials keep
/// their ids: a trial run for parity is the same trial as through the full file (the
/// workers load the full file and find their variant by name). The baseline stays when it
/// is kept, else the first requested variant takes its place (the baseline only matters to
/// the replicate's own report).
pub fn select_variants(
    path: &Path,
    experiment: &Experiment,
    archs: &[String],
) -> Result<Experiment, ParityError> {
    if archs.is_empty() {
        return Err(ParityError::Archs("name at least one architecture".into()));
    }
    let mut kept = Vec::with_capacity(archs.len());
    for (i, name) in archs.iter().enumerate() {
        if archs[..i].contains(name) {
            return Err(ParityError::Archs(format!("`{name}` is named twice")));
        }
        let variant = experiment
            .variant(name)
            .ok_or_else(|| ParityError::UnknownArch {
                name: name.clone(),
                path: path.to_path_buf(),
                known: experiment
                    .variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        kept.push(variant.clone());
    }
    let mut reduced = experiment.clone();
    reduced.variants = kept;
    if !archs.contains(&reduced.baseline) {
        reduced.baseline = archs[0].clone();
    }
    Ok(reduced)
}

// ------------------------------------------------------------------------ our side

/// Our records of one variant: configuration digest equal to `config`'s, dataset digest
/// `dataset_digest`, seed among `seeds`; one per seed, sorted by seed. (Like
/// `reporting::report::select`, a trial counts whichever experiment ran it.)
pub fn select_ours<'a>(
    records: &'a [TrialRecord],
    config: &TrialConfig,
    seeds: &[u64],
    dataset_digest: &str,
) -> Vec<&'a TrialRecord> {
    let wanted = store::id::config_digest(config);
    let mut chosen: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| {
            r.config_digest == wanted
                && r.dataset_digest == dataset_digest
                && seeds.contains(&r.seed)
        })
        .collect();
    chosen.sort_by(|a, b| a.seed.cmp(&b.seed).then(a.id.cmp(&b.id)));
    chosen.dedup_by_key(|r| r.seed);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::EpochMetrics;
    use contract::Provenance;
    use contract::Status;
    use contract::record::RECORD_FORMAT;
    use statistics as stats;
    use trainer::Schedule;

    const PARITY: &str = include_str!("../../../configs/parity-ours.ron");

    fn epochs_config(epochs: u32) -> TrialConfig {
        TrialConfig {
            epochs,
            ..TrialConfig::default()
        }
    }

    fn settings(epochs: u32) -> ReferenceSettings {
        let config = epochs_config(epochs);
        ReferenceSettings::from_trial("conv4", &config).unwrap()
    }

    fn curve(seed: u64, accuracies: &[f64], losses: &[f64]) -> Curve {
        Curve {
            seed,
            diverged: false,
            points: accuracies
                .iter()
                .zip(losses)
                .enumerate()
                .map(|(i, (&a, &l))| Point {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    test_accuracy: a,
                    train_loss_mean: l,
                })
                .collect(),
        }
    }

    fn record(config: &TrialConfig, seed: u64, dataset: &str, accuracies: &[f64]) -> TrialRecord {
        TrialRecord {
            format: RECORD_FORMAT,
            id: store::id::trial_id(config, seed, dataset),
            config_digest: store::id::config_digest(config),
            experiment: EXPERIMENT.into(),
            variant: "conv4".into(),
            seed,
            dataset_digest: dataset.into(),
            config: config.clone(),
            status: Status::Finished,
            parameters: 1000,
            study_parameters: None,
            final_accuracy: accuracies.last().copied(),
            best_accuracy: None,
            best_epoch: None,
            train_loss_sum: Some(10.0),
            latency: None,
            epochs: accuracies
                .iter()
                .enumerate()
                .map(|(i, &a)| EpochMetrics {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    train_loss_mean: 0.5,
                    train_loss_sum: 10.0,
                    test_loss: 0.4,
                    test_accuracy: a,
                    train_time_s: 1.0,
                    eval_time_s: 1.0,
                    images_per_s: 100.0,
                })
                .collect(),
            wall_time_s: 2.0,
            provenance: Provenance {
                harness_version: "0.1.0".into(),
                git_commit: "0123456789abcdef".into(),
                git_dirty: true,
                tch_version: "0.24.0".into(),
                libtorch_version: "2.11.0+cu130".into(),
                cuda: "none".into(),
                device: "cpu".into(),
                device_name: "Test CPU".into(),
                threads: 2,
                host: "box".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                finished_at: "2026-01-01T00:00:02Z".into(),
            },
        }
    }

    fn reference_run(
        settings: &ReferenceSettings,
        seed: u64,
        accuracies: &[Option<f64>],
    ) -> ReferenceRun {
        ReferenceRun {
            format: REFERENCE_FORMAT,
            key: settings.key("2.11.0", "s", "d"),
            seed,
            settings: settings.clone(),
            torch: "2.11.0+cu130".into(),
            torchvision: "0.26.0+cu130".into(),
            script_sha256: "abcdef0123456789".into(),
            dataset_digest: "d".repeat(64),
            threads: 2,
            device: "cpu".into(),
            device_name: "Test CPU".into(),
            host: "box".into(),
            parameters: 1000,
            command: vec!["python".into()],
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:02Z".into(),
            wall_time_s: 2.0,
            epochs: accuracies
                .iter()
                .enumerate()
                .map(|(i, &a)| ReferenceEpoch {
                    epoch: i as u32 + 1,
                    lr: 0.01,
                    train_loss_sum: a.map(|_| 10.0),
                    train_loss_mean: a.map(|_| 0.5),
                    batches: 20,
                    images: 5000,
                    test_accuracy: a,
                    epoch_time_s: 1.0,
                })
                .collect(),
        }
    }

    #[test]
    fn select_variants_keeps_the_requested_variants_with_their_settings() {
        let path = Path::new("configs/parity-ours.ron");
        let full = spec::config::parse(path, PARITY, &[]).unwrap();
        let reduced = select_variants(path, &full, &["conv2".into()]).unwrap();
        assert_eq!(reduced.name, EXPERIMENT);
        assert_eq!(reduced.seeds, full.seeds);
        assert_eq!(reduced.variants.len(), 1);
        assert_eq!(
            reduced.baseline, "conv2",
            "the baseline falls to the first kept"
        );
        assert_eq!(
            reduced.variants[0].trial,
            full.variant("conv2").unwrap().trial,
            "same settings, so the same trial ids"
        );
        // Both, in the requested order; the baseline stays.
        let both = select_variants(path, &full, &["conv4".into(), "conv2".into()]).unwrap();
        let names: Vec<&str> = both.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["conv4", "conv2"]);
        assert_eq!(both.baseline, "conv4");
    }

    #[test]
    fn select_variants_names_what_is_wrong_with_archs() {
        let path = Path::new("configs/parity-ours.ron");
        let full = spec::config::parse(path, PARITY, &[]).unwrap();
        let err = select_variants(path, &full, &["conv3".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`conv3` is not a variant"), "{err}");
        assert!(err.contains("conv2, conv4"), "{err}");
        let err = select_variants(path, &full, &[]).unwrap_err().to_string();
        assert!(err.contains("at least one"), "{err}");
        let err = select_variants(path, &full, &["conv2".into(), "conv2".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn the_baseline_maps_to_the_references_flags() {
        let s = settings(12);
        assert_eq!(s.arch, "conv4");
        let args = s.args();
        let flag = |name: &str| {
            let i = args
                .iter()
                .position(|a| a == name)
                .unwrap_or_else(|| panic!("{name}"));
            args[i + 1].clone()
        };
        assert_eq!(flag("--arch"), "conv4");
        assert_eq!(flag("--channels"), "32");
        assert_eq!(flag("--kernel"), "3");
        assert_eq!(flag("--dropout"), "0.2");
        assert_eq!(flag("--optimizer"), "adam");
        assert_eq!(flag("--lr"), "0.01");
        assert_eq!(flag("--step-size"), "10");
        assert_eq!(flag("--gamma"), "0.1");
        assert_eq!(flag("--epochs"), "12");
        assert_eq!(flag("--batch-size"), "256");
        assert_eq!(flag("--eval-batch-size"), "256");
        assert_eq!(flag("--augment"), "none");
        assert!(!args.iter().any(|a| a == "--no-bn" || a == "--train-limit"));
        let mut limited = s.clone();
        limited.batch_norm = false;
        limited.train_limit = Some(1024);
        limited.test_limit = Some(512);
        let args = limited.args();
        assert!(args.iter().any(|a| a == "--no-bn"));
        assert!(args.windows(2).any(|w| w == ["--train-limit", "1024"]));
        assert!(args.windows(2).any(|w| w == ["--test-limit", "512"]));
        assert_eq!(
            s.describe(),
            "32 channels, kernel 3, batch norm, dropout 0.2; Adam lr 0.01; StepLR every 10 epochs x0.1; \
             batch 256, eval batch 256; 12 epochs; all 60,000 training images and all 10,000 test images"
        );
        assert!(
            limited
                .describe()
                .ends_with("the first 1,024 training images and the first 512 test images")
        );
    }

    #[test]
    fn settings_the_reference_cannot_express_are_refused() {
        type Change = Box<dyn Fn(&mut TrialConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "optimizer.weight_decay",
                Box::new(|c| c.optimizer.weight_decay = 1e-4),
            ),
            (
                "schedule",
                Box::new(|c| c.schedule = Schedule::Exponential { gamma: 0.99 }),
            ),
            (
                "fix",
                Box::new(|c| c.fix = vec![trainer::RandomSource::Init]),
            ),
            ("data.test_limit", Box::new(|c| c.data.test_limit = Some(0))),
            (
                "augmentations",
                Box::new(|c| {
                    c.augmentations = vec![augmentation::Augmentation::HorizontalFlip { p: 0.5 }]
                }),
            ),
        ];
        for (field, change) in cases {
            let mut config = TrialConfig::default();
            change(&mut config);
            let err = ReferenceSettings::from_trial("v", &config)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("variant `v`: {field} = ")),
                "{err}"
            );
            assert!(err.contains("cannot express"), "{err}");
        }
        let constant = TrialConfig {
            schedule: Schedule::Constant,
            ..TrialConfig::default()
        };
        let s = ReferenceSettings::from_trial("v", &constant).unwrap();
        assert_eq!((s.step_size, s.gamma), (1, 1.0));
        assert!(s.describe().contains("constant learning rate"));
    }

    #[test]
    fn the_key_changes_with_every_input_but_not_the_seed() {
        let s = settings(12);
        let k = s.key("2.11.0", "script", "data");
        assert_eq!(k.len(), 12);
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(k, s.key("2.11.0", "script", "data"), "deterministic");
        assert_ne!(k, s.key("2.12.0", "script", "data"));
        assert_ne!(k, s.key("2.11.0", "other", "data"));
        assert_ne!(k, s.key("2.11.0", "script", "other"));
        let mut t = s.clone();
        t.epochs = 2;
        assert_ne!(k, t.key("2.11.0", "script", "data"));
        assert_eq!(
            ReferenceRun::file_name("conv2", &k, 3),
            format!("conv2-{k}-seed3.json")
        );
    }

    const OUTPUT: &str = r#"{"kind": "start", "torch": "2.11.0+cu130", "torchvision": "0.26.0+cu130", "threads": 1, "device": "cpu", "params": 50378, "seed": 0}
{"kind": "epoch", "epoch": 1, "lr": 0.01, "epoch_time_s": 1.3, "train_loss_sum": 35.9, "train_loss_mean": 8.975, "batches": 4, "test_accuracy": 44.3359375, "images": 1024}
{"kind": "epoch", "epoch": 2, "lr": 0.01, "epoch_time_s": 1.0, "train_loss_sum": null, "train_loss_mean": null, "batches": 4, "test_accuracy": 63.28125, "images": 1024}
{"kind": "latency", "batch1": {"median_ms": 0.45, "p95_ms": 0.59}}
"#;

    #[test]
    fn the_references_output_parses_and_is_checked() {
        let out = parse_reference_output(OUTPUT, 0, 2).unwrap();
        assert_eq!(out.start.torch, "2.11.0+cu130");
        assert_eq!(out.start.params, 50378);
        assert_eq!(out.epochs.len(), 2);
        assert_eq!(out.epochs[0].test_accuracy, Some(44.3359375));
        assert_eq!(out.epochs[0].train_loss_mean, Some(8.975));
        assert_eq!(out.epochs[1].train_loss_mean, None, "null: diverged");

        let err = parse_reference_output(OUTPUT, 1, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1: the run reports seed 0, not 1"),
            "{err}"
        );
        let err = parse_reference_output(OUTPUT, 0, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 epoch line(s), expected 3"), "{err}");
        let skipped = OUTPUT.replacen("\"epoch\": 1,", "\"epoch\": 3,", 1);
        let err = parse_reference_output(&skipped, 0, 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2: epoch 3 where epoch 1 was due"),
            "{err}"
        );
        let err = parse_reference_output("{\"kind\": \"epoch\", NaN}\n", 0, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: not JSON"), "{err}");
        let no_start: String = OUTPUT.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let err = parse_reference_output(&no_start, 0, 2)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no start line"), "{err}");
        // Noise that is not a JSON object is ignored.
        let noisy = format!("warning: something\n{OUTPUT}");
        assert_eq!(
            parse_reference_output(&noisy, 0, 2).unwrap().epochs.len(),
            2
        );
    }

    #[test]
    fn a_cached_run_must_match_its_settings_key_and_seed() {
        let s = settings(2);
        let run = reference_run(&s, 1, &[Some(80.0), Some(85.0)]);
        let key = run.key.clone();
        assert_eq!(run.check(&s, &key, 1), Ok(()));
        assert!(run.check(&s, &key, 2).unwrap_err().contains("seed 1"));
        assert!(
            run.check(&s, "000000000000", 1)
                .unwrap_err()
                .contains("key")
        );
        let mut other = s.clone();
        other.lr = 0.02;
        assert!(run.check(&other, &key, 1).unwrap_err().contains("settings"));
        let mut short = run.clone();
        short.epochs.pop();
        assert!(
            short
                .check(&s, &key, 1)
                .unwrap_err()
                .contains("expected 1 to 2")
        );
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(serde_json::from_str::<ReferenceRun>(&json).unwrap(), run);
    }

    #[test]
    fn our_records_are_selected_by_digest_dataset_and_seed() {
        let config = epochs_config(2);
        let mut other = config.clone();
        other.model.dropout = 0.5;
        let d = "d".repeat(64);
        let records = vec![
            record(&config, 2, &d, &[80.0, 81.0]),
            record(&config, 0, &d, &[80.0, 82.0]),
            record(&config, 1, &"e".repeat(64), &[80.0, 83.0]),
            record(&other, 1, &d, &[80.0, 84.0]),
            record(&config, 9, &d, &[80.0, 85.0]),
        ];
        let chosen = select_ours(&records, &config, &[0, 1, 2], &d);
        let seeds: Vec<u64> = chosen.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, [0, 2]);
    }

    #[test]
    fn rows_summarise_each_epoch_and_leave_diverged_runs_out() {
        let mut diverged = curve(7, &[10.0], &[9.0]);
        diverged.diverged = true;
        let a = ArchParity {
            arch: "conv2".into(),
            settings: settings(2),
            ours: vec![
                curve(0, &[80.0, 85.0], &[0.6, 0.4]),
                curve(1, &[82.0, 87.0], &[0.8, 0.6]),
                diverged,
            ],
            pytorch: vec![
                curve(0, &[81.0, 86.0], &[0.7, 0.5]),
                curve(1, &[81.0, 86.0], &[0.7, 0.5]),
            ],
        };
        let rows = a.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].epoch, 1);
        assert_eq!(rows[0].lrs, [0.01]);
        let o = rows[1].ours_accuracy.unwrap();
        assert_eq!(o.n, 2);
        assert!((o.mean - 86.0).abs() < 1e-12);
        assert!((o.std - 2f64.sqrt()).abs() < 1e-12);
        assert!((rows[1].ours_loss.unwrap().mean - 0.5).abs() < 1e-12);
        assert_eq!(rows[1].pytorch_accuracy.unwrap().std, 0.0);
        let d = a.final_difference().unwrap();
        assert_eq!(d.epoch, 2);
        assert!((d.welch.diff - 0.0).abs() < 1e-12);
        assert_eq!(d.verdict, ParityVerdict::WithinNoise);
    }

    #[test]
    fn the_interval_is_welchs_and_decides_the_verdict() {
        // ours: mean 91, var 0.01; PyTorch: mean 90, var 0.04 (n = 3 each).
        let ours = [90.9, 91.0, 91.1];
        let pytorch = [89.8, 90.0, 90.2];
        let d = difference(12, &ours, &pytorch).unwrap();
        let welch = stats::welch(&pytorch, &ours).unwrap();
        assert!((d.welch.diff - 1.0).abs() < 1e-9);
        assert_eq!(d.welch, welch);
        // se = sqrt(0.01/3 + 0.04/3); the half-width uses Welch's df.
        let se = (0.05f64 / 3.0).sqrt();
        let half = stats::t_quantile(0.975, welch.df) * se;
        let (lo, hi) = d.ci95.unwrap();
        assert!((lo - (1.0 - half)).abs() < 1e-9 && (hi - (1.0 + half)).abs() < 1e-9);
        assert_eq!(d.verdict, ParityVerdict::OursHigher);
        // The interval excludes 0 exactly when Welch's p is below 0.05.
        assert!(welch.p_value < 0.05);
        assert_eq!(
            difference(12, &pytorch, &ours).unwrap().verdict,
            ParityVerdict::OursLower
        );
        let close = difference(12, &[90.0, 90.5, 89.5], &[90.2, 89.9, 90.1]).unwrap();
        assert_eq!(close.verdict, ParityVerdict::WithinNoise);
        let (lo, hi) = close.ci95.unwrap();
        assert!(lo < 0.0 && hi > 0.0);
        assert!(close.welch.p_value >= 0.05);
        let one = difference(12, &[90.0], &[90.2, 89.9]).unwrap();
        assert_eq!(one.verdict, ParityVerdict::TooFewSeeds);
        assert_eq!(one.ci95, None);
        let flat = difference(12, &[90.0, 90.0], &[91.0, 91.0]).unwrap();
        assert_eq!(flat.verdict, ParityVerdict::CannotTell);
        assert!(difference(12, &[], &[1.0]).is_none());
    }

    #[test]
    fn curves_come_from_records_and_reference_runs() {
        let config = epochs_config(2);
        let r = record(&config, 3, "d", &[80.0, 85.0]);
        let c = Curve::from_record(&r);
        assert_eq!(c.seed, 3);
        assert!(!c.diverged);
        assert_eq!(c.points.len(), 2);
        assert_eq!(c.points[1].test_accuracy, 85.0);
        let mut bad = r.clone();
        bad.epochs[1].train_loss_mean = f64::NAN;
        let c = Curve::from_record(&bad);
        assert!(c.diverged);
        assert_eq!(c.points.len(), 1);

        let s = settings(2);
        let c = Curve::from_reference(&reference_run(&s, 1, &[Some(80.0), Some(85.0)]));
        assert!(!c.diverged);
        assert_eq!(c.points[1].train_loss_mean, 0.5);
        let c = Curve::from_reference(&reference_run(&s, 1, &[Some(80.0), None]));
        assert!(c.diverged);
        assert_eq!(c.points.len(), 1);
    }

    #[test]
    fn the_report_shows_conditions_both_sides_per_epoch_and_the_verdict() {
        let s = settings(2);
        let config = epochs_config(2);
        let d = "d".repeat(64);
        let ours = [
            record(&config, 0, &d, &[80.0, 85.0]),
            record(&config, 1, &d, &[82.0, 87.0]),
        ];
        let theirs = [
            reference_run(&s, 0, &[Some(81.0), Some(86.0)]),
            reference_run(&s, 1, &[Some(81.5), Some(86.5)]),
        ];
        let conditions = Conditions::gather(
            &ours.iter().collect::<Vec<_>>(),
            &theirs.iter().collect::<Vec<_>>(),
        );
        assert_eq!(conditions.datasets.len(), 1, "{:?}", conditions.datasets);
        let mut diverged = curve(5, &[], &[]);
        diverged.diverged = true;
        let arch = ArchParity {
            arch: "conv4".into(),
            settings: s.clone(),
            ours: ours.iter().map(Curve::from_record).collect(),
            pytorch: theirs
                .iter()
                .map(Curve::from_reference)
                .chain([diverged])
                .collect(),
        };
        let md = render(&conditions, std::slice::from_ref(&arch));
        for expected in [
            "# Parity with PyTorch",
            "- Architectures: conv4",
            "- Settings (both sides, every architecture): 32 channels, kernel 3",
            "- Seeds: ours 2 (0, 1); PyTorch 2 (0, 1);",
            "- Threads: ours 2; PyTorch 2",
            "- Device: ours cpu (Test CPU); PyTorch cpu (Test CPU)",
            "- Ours: harness commit 0123456789ab (dirty); tch 0.24.0; libtorch 2.11.0+cu130",
            "- PyTorch: torch 2.11.0+cu130; torchvision 0.26.0+cu130; reference script SHA-256 abcdef012345",
            "- Dataset digest: dddddddddddd",
            "## conv4",
            "| 1 | 0.01 | 2 / 2 | 81.00 ± 1.41 | 81.25 ± 0.35 | -0.25 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 |",
            "| 2 | 0.01 | 2 / 2 | 86.00 ± 1.41 | 86.25 ± 0.35 | -0.25 | 0.5000 ± 0.0000 | 0.5000 ± 0.0000 |",
            "Final epoch (2): ours - PyTorch = -0.25 points, 95% CI [",
            "**difference within noise**",
            "Diverged (PyTorch, left out of every mean): seed(s) 5.",
            "| conv4 | 2 | 86.00 ± 1.41 (n=2) | 86.25 ± 0.35 (n=2) | -0.25 [",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in:\n{md}");
        }
        assert!(!md.contains("**Warning:**"), "{md}");
        // A learning rate that differs between the sides is flagged.
        let mut skewed = arch.clone();
        skewed.pytorch[0].points[1].lr = 0.001;
        let md = render(&conditions, &[skewed]);
        assert!(md.contains("| 2 | 0.01 / 0.001 (differ!) |"), "{md}");
        assert!(
            md.contains(
                "**Warning:** the two sides trained with different learning rates in epoch(s) 2"
            ),
            "{md}"
        );
        // Rendering is a pure function of its inputs.
        assert_eq!(
            render(&conditions, std::slice::from_ref(&arch)),
            render(&conditions, &[arch])
        );
    }

    /// The training loss is tested per epoch like the accuracy: a gap beyond noise in one
    /// epoch is counted, the last epoch's difference is shown with its interval.
    #[test]
    fn the_training_loss_is_tested_per_epoch_like_the_accuracy() {
        let s = settings(2);
        let arch = ArchParity {
            arch: "conv2".into(),
            settings: s,
            ours: vec![
                curve(0, &[80.0, 85.0], &[0.90, 0.50]),
                curve(1, &[81.0, 86.0], &[0.91, 0.52]),
                curve(2, &[82.0, 87.0], &[0.92, 0.48]),
            ],
            pytorch: vec![
                curve(0, &[80.5, 85.5], &[0.60, 0.51]),
                curve(1, &[81.5, 86.5], &[0.61, 0.47]),
                curve(2, &[82.5, 87.5], &[0.62, 0.53]),
            ],
        };
        let first = arch.loss_difference(1).unwrap();
        assert_eq!(first.verdict, ParityVerdict::OursHigher, "{first:?}");
        let last = arch.loss_difference(2).unwrap();
        assert_eq!(last.verdict, ParityVerdict::WithinNoise, "{last:?}");
        let conditions = Conditions::gather(&[], &[]);
        let md = render(&conditions, &[arch]);
        let row = md
            .lines()
            .find(|l| {
                l.starts_with(
                    "| conv2 | 2 | 0.5000 ± 0.0200 (n=3) | 0.5033 ± 0.0306 (n=3) | -0.0033 [",
                )
            })
            .unwrap_or_else(|| panic!("no training-loss row in:\n{md}"));
        assert!(
            row.ends_with("| difference within noise | 1 of 2 |"),
            "{row}"
        );
    }

    #[test]
    fn learning_rates_are_written_as_in_a_config() {
        let cell = markdown::lr_cell;
        assert_eq!(cell(&[0.01 * 0.1 * 0.1]), "0.0001");
        assert_eq!(cell(&[0.01]), "0.01");
        assert_eq!(cell(&[0.1, 0.001]), "0.1 / 0.001 (differ!)");
        assert_eq!(cell(&[1e-12]), "1e-12");
        assert_eq!(cell(&[]), "—");
    }
}
