//! The command line: subcommands and their options.

use clap::{Args, Parser, Subcommand, ValueEnum};
pub use experiment::device::DeviceChoice;
use experiment::replicate::Jobs;
use std::path::PathBuf;

/// Reproducible Fashion-MNIST experiments: train, repeat with seeds, prove where every
/// number came from, test what is significant, and write the tables.
#[derive(Debug, Parser)]
#[command(name = "harness", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check and describe the Fashion-MNIST files (location, digests, class counts).
    Data {
        /// Which data command.
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Run ONE trial (one variant, one seed) and write its complete trial folder:
    /// checkpoints, loss/accuracy plots, resolved config, log, per-epoch metrics, summary.
    Train(TrainArgs),
    /// Run every variant of an experiment with N seeds into the run store, skipping trials
    /// already done (safe to interrupt and rerun), then write its report.
    Replicate(ReplicateArgs),
    /// Regenerate reports/<experiment>.md, its plot and the README tables from the store.
    Report(ReportArgs),
    /// Seeds per variant needed to detect a difference of D accuracy points, with the
    /// config's multiple-comparison correction, from the sd in the store (noncentral t).
    /// (Called `plan` before 2026-12; the old name still works.)
    #[command(alias = "plan")]
    Seeds(SeedsArgs),
    /// Results for other tools: `export csv` writes one tidy row per trial and epoch,
    /// `export tensorboard` TensorBoard runs.
    Export {
        /// Which format.
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Print each architecture's layers and parameter count beside the study's.
    Models(ModelsArgs),
    /// Train our trainer and plain PyTorch (bench/reference/train_reference.py) on the same
    /// settings, several seeds each (both cached: a rerun trains nothing), and write
    /// reports/parity.md: both sides' test accuracy and training loss per epoch, and the
    /// final difference with its 95% CI (Welch).
    Parity(ParityArgs),
    /// Live dashboard of experiments in the store: grid of variants x seeds, curves,
    /// statistics, progress; start or stop a replicate from it.
    Tui(TuiArgs),
    /// Time training epochs (full data path or compute only) and latency; JSON lines out.
    /// Used by `make bench`.
    BenchEpoch(BenchArgs),
    /// Per experiment: trials done, running, queued, failed and diverged, with Slurm job
    /// ids and states, and the log tail of each failed task.
    Status(StatusArgs),
    /// Retrain one recorded trial in a temporary folder from its record alone (resolved
    /// configuration, seed, data digest) and compare every per-epoch result with the
    /// record: `identical` (exit 0) or `differs` (exit 6) with the first differing epoch,
    /// the largest difference per metric and both sides' machine, schema and libtorch.
    Reproduce(ReproduceArgs),
    /// Cancel an experiment's queued and running Slurm tasks; their trials stay resumable.
    Cancel(CancelArgs),
    /// Internal: run one trial of a replicate and stream its events (JSON lines).
    #[command(hide = true)]
    Worker(WorkerArgs),
}

/// `harness data ...`.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// For each of the four files: path, count, shape, SHA-256 and whether it matches the
    /// known digest. Exits non-zero unless all four match.
    Verify {
        /// Folder with the four files (raw or .gz); default: FASHION_MNIST_DIR, the user
        /// cache, /usr/share/datasets/fashion-mnist, else download.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Per-class counts and the training set's pixel mean and standard deviation.
    Info {
        /// Folder with the four files.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// `harness export ...`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One tidy CSV (a row per trial and epoch, the resolved config flattened into
    /// columns) on standard output or into --out; reads with pandas or polars as is.
    Csv {
        /// Experiment files (default: every configs/*.ron with trials in the store).
        configs: Vec<PathBuf>,
        /// The run store.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Write here (atomically) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The overrides the experiments were run with (as given to `replicate` and
        /// `report`): the records are selected by the settings they give, as reports do.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Seeds per variant, as given to `replicate` and `report`.
        #[arg(long)]
        seeds: Option<u32>,
    },
    /// Copy the records of experiments (no checkpoints, no plots) and the side files their
    /// reports read into another run store, e.g. the committed `results/`: `report`,
    /// `tui`, `export` and `reproduce` then work on it with `--runs OUT`, without training.
    Records {
        /// Experiment files.
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        /// The run store to copy from.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// The run store to copy into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The overrides the experiments were run with (as given to `replicate`).
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Seeds per variant, as given to `replicate` (every seed's records are copied
        /// whatever it says: membership is by settings).
        #[arg(long)]
        seeds: Option<u32>,
    },
    /// The trained network of one recorded trial as an ONNX file, the way it is deployed:
    /// batch norm folded into the convolutions, no dropout, a dynamic batch dimension,
    /// opset 17. The weights are evaluated on the trial's test images first and the
    /// accuracy is compared with the record's. Serve it with ONNX Runtime (README).
    Onnx(OnnxArgs),
    /// TensorBoard event files: a run per trial (per-epoch scalars; its hyper-parameters
    /// for the HParams dashboard, seeds of a variant grouped) and a `mean` run per variant
    /// (mean and mean ± sd over its seeds, diverged trials left out). Then:
    /// `tensorboard --logdir OUT`.
    Tensorboard {
        /// Experiment files (default: every trial of the store).
        configs: Vec<PathBuf>,
        /// The run store.
        #[arg(long, default_value = "runs")]
        runs: PathBuf,
        /// Folder of the runs: <OUT>/<experiment>/<variant>/{seed-<n>-<id>,mean}/.
        #[arg(long)]
        out: PathBuf,
        /// The overrides the experiments were run with (as given to `replicate` and
        /// `report`): the records are selected by the settings they give, as reports do.
        #[arg(long = "set", value_name = "PATH=VALUE")]
        sets: Vec<String>,
        /// Seeds per variant, as given to `replicate` and `report`.
        #[arg(long)]
        seeds: Option<u32>,
    },
}

/// Options shared by every command that trains.
#[derive(Debug, Args, Clone)]
pub struct RunOpts {
    /// Override a field of the base trial by dotted path, e.g. --set model.dropout=0.5
    /// --set epochs=1 --set data.train_limit=2000 (repeatable; applied before the
    /// variants' own overrides).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// auto | cpu | cuda | cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// libtorch threads per trial (default: all cores divided by the number of jobs).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Folder with the Fashion-MNIST files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Skip the SHA-256 check of the data (structure checks still run). Loud on purpose.
    #[arg(long)]
    pub no_verify: bool,
}

/// `harness reproduce`.
#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// The trial's id, or a prefix of it (at least 6 hex digits) naming one trial.
    pub trial: String,
    /// The run store holding its record (e.g. `results`, the committed one).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// auto | cpu | cuda | cuda:N (default: cpu for a record made on a CPU, else auto).
    #[arg(long)]
    pub device: Option<DeviceChoice>,
    /// libtorch threads (default: the record's, as kernels may sum in another order with
    /// another count).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Folder with the Fashion-MNIST files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Keep the retrained trial folder here (must not exist) instead of deleting it.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// `harness train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Experiment file (configs/*.ron).
    pub config: PathBuf,
    /// Variant to run (default: the experiment's baseline).
    #[arg(long)]
    pub variant: Option<String>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the trial folder here instead of the run store (must not exist).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Shared run options.
    #[command(flatten)]
    pub run: RunOpts,
}

/// `harness replicate`.
#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Experiment files (configs/*.ron). With several, their union is planned: a trial
    /// that several of them share (same resolved settings, seed and data) runs once.
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// Seeds per variant (default: the file's `seeds`); raising it later runs only the new
    /// seeds.
    #[arg(long)]
    pub seeds: Option<u32>,
    /// Sequential seeding: run the seeds as a pilot (at least 2), then as many more per
    /// variant as Stein's two-stage rule needs for a confidence interval of the mean
    /// accuracy no wider than ± this many points (decision kept in runs/<name>/seeding.json).
    #[arg(long, value_name = "W")]
    pub halfwidth: Option<f64>,
    /// 1 - the coverage of `--halfwidth`'s interval.
    #[arg(long, default_value_t = 0.05, requires = "halfwidth")]
    pub alpha: f64,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Trials at once, each in its own process (default 1; worth more on a GPU), or
    /// `auto`: the split of this machine's cores into jobs x threads with the shortest
    /// estimated wall time for this plan (from the calibration).
    #[arg(long, default_value = "1")]
    pub jobs: Jobs,
    /// Print the plan (with --slurm: and the sbatch script) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave out every variant one trial of which is estimated (by the calibration) to take
    /// longer than this on this machine, e.g. 20m, 1.5h; reports show it as not run, with
    /// the estimate.
    #[arg(long, value_name = "DURATION", value_parser = spec::cost::parse_duration)]
    pub max_trial_time: Option<std::time::Duration>,
    /// Submit the trials that are not done (nor queued or running in a live job) to
    /// Slurm as ONE job array (`%N` throttle from --jobs) and return at once.
    #[arg(long)]
    pub slurm: bool,
    /// Options passed through to sbatch, e.g. --sbatch '--partition=gpu --gres=gpu:1
    /// --time=4:00:00' (split at spaces; repeatable), after the config's `slurm.sbatch`.
    #[arg(
        long,
        value_name = "ARGS",
        requires = "slurm",
        allow_hyphen_values = true
    )]
    pub sbatch: Vec<String>,
    /// Slurm's warning signal before the time limit or preemption: the worker stops after
    /// its current batch and requeues its task, which resumes from its last checkpoint.
    /// (Default: the config's `slurm.signal`, else B:USR1@120.)
    #[arg(long, requires = "slurm")]
    pub signal: Option<String>,
    /// Failed attempts after which a trial is marked failed and not submitted again
    /// (default: the config's `slurm.max_tries`, else 3).
    #[arg(long, requires = "slurm")]
    pub max_tries: Option<usize>,
    /// Submit trials marked failed again (forgets their failed attempts).
    #[arg(long, requires = "slurm")]
    pub retry_failed: bool,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// README whose `<!-- report:NAME -->` section to update (if it has the markers).
    #[arg(long, default_value = "README.md")]
    pub readme: PathBuf,
    /// Shared run options.
    #[command(flatten)]
    pub run: RunOpts,
}

/// `harness worker` (internal).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Experiment file.
    pub config: PathBuf,
    /// Variant.
    #[arg(long)]
    pub variant: String,
    /// Seed.
    #[arg(long)]
    pub seed: u64,
    /// The id the parent computed (checked).
    #[arg(long)]
    pub expect_id: String,
    /// The experiment name the parent planned (checked: a renamed experiment would
    /// publish elsewhere).
    #[arg(long)]
    pub expect_experiment: String,
    /// The run store.
    #[arg(long)]
    pub runs: PathBuf,
    /// Running as a Slurm array task: record the attempt, requeue the task when Slurm's
    /// warning signal (SIGUSR1) stopped it, refuse a trial marked failed.
    #[arg(long)]
    pub slurm: bool,
    /// With --slurm: failed attempts after which the trial is marked failed.
    #[arg(long, default_value_t = 3)]
    pub max_tries: usize,
    /// Shared run options.
    #[command(flatten)]
    pub run: RunOpts,
}

/// `harness status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Experiment files (default: every configs/*.ron with anything in the store).
    pub configs: Vec<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// The overrides and seeds the replicate ran with.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Seeds per variant, as given to replicate.
    #[arg(long)]
    pub seeds: Option<u32>,
    /// Failed attempts after which a trial counts as failed (default: the config's
    /// `slurm.max_tries`, else 3).
    #[arg(long)]
    pub max_tries: Option<usize>,
    /// Folder with the Fashion-MNIST files (their digest is part of each trial id).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `harness cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Experiment files.
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// The overrides the replicate ran with (they may rename nothing, but are accepted).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

/// `harness report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Experiment files (default: every configs/*.ron with trials in the store).
    pub configs: Vec<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// README whose `<!-- report:NAME -->` sections to update.
    #[arg(long, default_value = "README.md")]
    pub readme: PathBuf,
    /// The same overrides the replicate ran with, to select those trials.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    /// Seeds per variant, as given to replicate.
    #[arg(long)]
    pub seeds: Option<u32>,
}

/// `harness seeds`.
#[derive(Debug, Args)]
pub struct SeedsArgs {
    /// Experiment file (configs/*.ron).
    pub config: PathBuf,
    /// The difference to detect, in accuracy points (e.g. 0.5).
    #[arg(long)]
    pub detect: f64,
    /// The run store whose finished trials give the standard deviation.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// The wanted power (probability of detecting the difference).
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// Family-wise significance level, split over the comparisons with the baseline.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// The sd (accuracy points) to compute with, instead of the one the store observed
    /// (default: the store's; 0.3 when it has no usable trials). The answer says which.
    #[arg(long)]
    pub assume_sd: Option<f64>,
}

/// `harness parity`.
#[derive(Debug, Args)]
pub struct ParityArgs {
    /// Variants (architectures) of the parity experiment, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "conv2,conv4")]
    pub archs: Vec<String>,
    /// Epochs (default: the experiment file's, 12: past the first learning-rate drop).
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Seeds per side (default: the experiment file's, 3).
    #[arg(long)]
    pub seeds: Option<u32>,
    /// Train on the first N training images (default: all 60,000).
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Evaluate on the first M test images (default: all 10,000).
    #[arg(long, value_name = "M")]
    pub test_limit: Option<usize>,
    /// libtorch / torch threads, both sides (default: all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// The run store (our trials; the PyTorch runs in <runs>/parity/pytorch/).
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    pub reports: PathBuf,
    /// Python with torch and torchvision (default: the cached torch venv's,
    /// ${XDG_CACHE_HOME:-$HOME/.cache}/fmnist-harness/torch-2.11.0/bin/python).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Folder with the Fashion-MNIST files (both sides read the same).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The parity experiment file.
    #[arg(long, default_value = "configs/parity-ours.ron")]
    pub config: PathBuf,
}

/// `harness models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print markdown layer tables too.
    #[arg(long)]
    pub layers: bool,
}

/// `harness tui`.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Experiment files to show (default: every configs/*.ron).
    pub configs: Vec<PathBuf>,
    /// The run store.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// The overrides the experiments were (or are to be) run with, as given to
    /// `replicate`: their trials are found in the store, and a replicate started from the
    /// dashboard gets them too.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

/// `harness export onnx`.
#[derive(Debug, Args)]
pub struct OnnxArgs {
    /// The trial's id, or a prefix of it (at least 6 hex digits) naming one trial.
    pub trial: String,
    /// The run store holding its record.
    #[arg(long, default_value = "runs")]
    pub runs: PathBuf,
    /// The ONNX file to write (atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Which weights: `last` (the final epoch's, which the record's final accuracy
    /// describes) or `best` (the epoch with the best test accuracy).
    #[arg(long, value_enum, default_value = "last")]
    pub checkpoint: CheckpointArg,
    /// The trial's checkpoint folder when it is not in the store, e.g. `DIR/ckpt` after
    /// `harness reproduce ID --keep DIR` (default: the store's `trials/<id>/ckpt`).
    #[arg(long)]
    pub checkpoints: Option<PathBuf>,
    /// Folder with the Fashion-MNIST files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Which epoch's weights `export onnx` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CheckpointArg {
    /// The final epoch's.
    Last,
    /// The best epoch's.
    Best,
}

/// What `bench-epoch` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchMode {
    /// The real data path: uint8 dataset, shuffle, batch assembly, augmentation, normalise.
    Full,
    /// The same batches already materialised on the device.
    ComputeOnly,
}

/// `harness bench-epoch`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Experiment file.
    pub config: PathBuf,
    /// Variant (default: baseline).
    #[arg(long)]
    pub variant: Option<String>,
    /// Full or compute-only.
    #[arg(long, value_enum, default_value = "full")]
    pub mode: BenchMode,
    /// Timed epochs after one warm-up epoch.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Shared run options.
    #[command(flatten)]
    pub run: RunOpts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use cluster::worker::{WorkerInvocation, WorkerTrial};

    fn parse(w: &WorkerInvocation) -> WorkerArgs {
        match Cli::try_parse_from(w.words()).expect("the parser reads the invocation") {
            Cli {
                command: Command::Worker(args),
                ..
            } => args,
            other => panic!("not a worker: {other:?}"),
        }
    }

    /// What the executors write, the worker reads back field by field: a local trial with
    /// every option, and a Slurm array's line with a task's arguments appended.
    #[test]
    fn a_worker_invocation_round_trips_through_the_parser() {
        let local = WorkerInvocation {
            program: "/bin/harness".into(),
            runs: "/tmp/my runs".into(),
            trial: Some(WorkerTrial {
                config: "configs/it's dropout.ron".into(),
                experiment: "dropout".into(),
                variant: "p = 0.5".into(),
                seed: 7,
                id: "ab".repeat(32),
            }),
            max_tries: None,
            device: "cuda:1".into(),
            threads: Some(3),
            sets: vec!["epochs=2".into(), "model.dropout=0.5".into()],
            data_dir: Some("/data/fmnist".into()),
            no_verify: true,
        };
        let a = parse(&local);
        assert_eq!(a.config, local.trial.as_ref().unwrap().config);
        assert_eq!(a.variant, "p = 0.5");
        assert_eq!(a.seed, 7);
        assert_eq!(a.expect_id, "ab".repeat(32));
        assert_eq!(a.expect_experiment, "dropout");
        assert_eq!(a.runs, local.runs);
        assert!(!a.slurm);
        assert_eq!(a.run.device, DeviceChoice::Cuda(1));
        assert_eq!(a.run.threads, Some(3));
        assert_eq!(a.run.sets, local.sets);
        assert_eq!(a.run.data_dir, local.data_dir);
        assert!(a.run.no_verify);

        let array = WorkerInvocation {
            trial: None,
            max_tries: Some(5),
            device: "cpu".into(),
            threads: None,
            sets: vec![],
            data_dir: None,
            no_verify: false,
            ..local.clone()
        };
        let mut words = array.words();
        words.extend(local.trial.as_ref().unwrap().args());
        words.push("--slurm".into());
        let a = match Cli::try_parse_from(words).unwrap() {
            Cli {
                command: Command::Worker(args),
                ..
            } => args,
            other => panic!("not a worker: {other:?}"),
        };
        assert_eq!((a.variant.as_str(), a.seed), ("p = 0.5", 7));
        assert_eq!(a.config, local.trial.as_ref().unwrap().config);
        assert_eq!(a.expect_experiment, "dropout");
        assert!(a.slurm);
        assert_eq!(a.max_tries, 5);
        assert_eq!(a.run.device, DeviceChoice::Cpu);
        assert_eq!(a.run.threads, None);
        assert!(a.run.sets.is_empty() && a.run.data_dir.is_none() && !a.run.no_verify);
    }
}
