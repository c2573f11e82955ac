//! The replicate workflow as a library call: [`run`] plans the union of one or several
//! experiments (variants × seeds, each shared trial once), estimates its cost
//! (`--jobs auto` picks the split), leaves out what `--max-trial-time` says is too slow,
//! runs the pending trials on the local executor ([`crate::schedule`], one `harness worker`
//! per trial, built by [`crate::worker::WorkerInvocation`]), times each network once when
//! nothing else runs ([`quiet_latency_phase`]), and writes every experiment's report. With
//! a half-width, the seeds are Stein's pilot and only the extra seeds the decision asks
//! for run ([`Request::halfwidth`]).
//!
//! The caller (the CLI, parity) builds a [`Request`], whose flags [`check_flags`] validates
//! before anything is loaded, and hears what happens through a [`Reporter`]. The
//! [`Outcome`] says whether every planned trial is recorded, which decides the exit code.

use crate::cost::{self, Calibrating};
use crate::plan::{PlannedTrial, counts, plan, union};
use crate::quiet_latency::{self, network_key};
use crate::schedule::{Control, Report, Scheduler};
use crate::worker::{WorkerInvocation, WorkerTrial};
use crate::{Experiment, Override, Store, TrialSpec, TrialState, Variant, seeding};
use data::FashionMnist;
use progress::format::duration;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tch::Device;

/// One experiment of the plan and the file it came from.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The experiment file.
    pub path: PathBuf,
    /// The experiment, with the command line's overrides and seeds.
    pub experiment: Experiment,
}

/// `--jobs`: a number, or the fastest split of the cores by the calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jobs {
    /// This many jobs.
    Count(usize),
    /// The split of the cores into jobs × threads estimated fastest.
    Auto,
}

/// The warning of a run whose data files are not checked (`--no-verify`).
pub const NO_VERIFY: &str =
    "--no-verify: the SHA-256 of the data files is NOT checked; results may come from altered data";

/// Where the dataset comes from.
#[derive(Clone, Debug, Default)]
pub struct DataSource {
    /// `--data-dir`, else the usual places ([`data::locate`]).
    pub dir: Option<PathBuf>,
    /// Whether the files' SHA-256 digests are checked (not with `--no-verify`).
    pub verify: bool,
}

impl DataSource {
    /// Finds and loads the dataset.
    pub fn load(&self) -> Result<FashionMnist, ReplicateError> {
        let source = data::locate(self.dir.as_deref(), None).map_err(ReplicateError::Locate)?;
        FashionMnist::load(&source.dir, self.verify).map_err(|e| ReplicateError::Data {
            dir: source.dir.clone(),
            source: e,
        })
    }
}

/// What a run of the plan is asked to do.
pub struct Request {
    /// The experiments, planned together.
    pub experiments: Vec<Planned>,
    /// The `--set` overrides they were loaded with (Stein's second stage reloads them).
    pub overrides: Vec<Override>,
    /// The `--set` texts, handed to every worker as given.
    pub sets: Vec<String>,
    /// The run store (opened and migrated by the caller).
    pub store: Store,
    /// The device the trials run on.
    pub device: Device,
    /// `--device` as given, handed to every worker.
    pub device_arg: String,
    /// `--jobs`.
    pub jobs: Jobs,
    /// `--threads` per job (`None`: the cores shared among the jobs).
    pub threads: Option<i32>,
    /// `--max-trial-time`.
    pub max_trial_time: Option<Duration>,
    /// `--halfwidth W`: the experiment's seeds are a pilot, Stein's rule decides the rest.
    pub halfwidth: Option<f64>,
    /// `--alpha` of Stein's rule.
    pub alpha: f64,
    /// `--dry-run`: plan, estimate and say; write nothing to the store.
    pub dry_run: bool,
    /// The dataset.
    pub data: DataSource,
    /// Where reports go.
    pub reports: PathBuf,
    /// The README whose sections are updated.
    pub readme: PathBuf,
    /// The harness binary the workers run.
    pub program: PathBuf,
}

/// How a run of the plan ended (errors aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A dry run: nothing was run or written.
    DryRun,
    /// Every planned trial is recorded.
    Complete,
    /// Some planned trials are not recorded: `failed` trials failed, or a stop request
    /// (`stop_requested`) ended the run early.
    Incomplete {
        /// Trials that failed.
        failed: usize,
        /// Planned trials not recorded.
        missing: usize,
        /// Whether a stop was asked for (the dashboard's stop key, a first Ctrl-C).
        stop_requested: bool,
    },
    /// Stopped by a signal; rerun to resume.
    Signalled {
        /// The signal's name.
        signal: String,
        /// Planned trials not recorded.
        missing: usize,
    },
}

impl Outcome {
    /// Whether every planned trial is recorded (or nothing was to be run).
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::DryRun | Outcome::Complete)
    }
}

/// Errors of [`run`].
#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    /// The request's flags contradict each other or are out of range (said before anything
    /// is loaded).
    #[error("{0}")]
    Request(String),
    /// The run cannot go on as asked (a seeding decision for other values, a pilot that
    /// did not finish); the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The seeding decision is unreadable or Stein's rule refused the pilot.
    #[error(transparent)]
    Seeding(#[from] seeding::SeedingError),
    /// An experiment file failed to load again (Stein's second stage).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// The local executor failed.
    #[error(transparent)]
    Schedule(#[from] crate::schedule::ScheduleError),
    /// Writing a report failed.
    #[error(transparent)]
    Publish(#[from] reporting::publish::PublishError),
    /// The Fashion-MNIST files are nowhere to be found.
    #[error("cannot find the Fashion-MNIST files")]
    Locate(#[source] data::DataError),
    /// The Fashion-MNIST files failed to load or verify.
    #[error("loading Fashion-MNIST from {}", dir.display())]
    Data {
        /// Where they were.
        dir: PathBuf,
        /// What failed.
        #[source]
        source: data::DataError,
    },
    /// The reporter could not take over the stop control (signal handlers).
    #[error("installing signal handlers")]
    Signals(#[source] std::io::Error),
}

/// What the caller hears while a plan runs.
pub trait Reporter {
    /// A line of the run's account (the plan, estimates, each trial's start and end, the
    /// summary, what was written).
    fn line(&mut self, text: &str);
    /// A warning about input that was set aside or left out (standard error in the CLI).
    fn warning(&mut self, text: &str);
    /// A workload is about to be calibrated.
    fn calibrating(&mut self, c: &Calibrating<'_>);
    /// What the executor reports while trials run.
    fn schedule(&mut self, report: Report<'_>);
    /// Trials are about to run; `control` stops them (the CLI forwards signals to it).
    fn running(&mut self, control: Control) -> std::io::Result<()>;
    /// The trials have stopped running.
    fn ran(&mut self);
}

/// Checks the request's flags against each other before anything is loaded.
pub fn check_flags(
    experiments: usize,
    jobs: Jobs,
    threads: Option<i32>,
    halfwidth: Option<f64>,
) -> Result<(), ReplicateError> {
    if let Some(t) = threads
        && t < 1
    {
        return Err(ReplicateError::Request(format!(
            "--threads {t}: must be at least 1"
        )));
    }
    if jobs == Jobs::Auto && threads.is_some() {
        return Err(ReplicateError::Request(
            "--jobs auto chooses the threads per job too; drop --threads".into(),
        ));
    }
    if jobs == Jobs::Count(0) {
        return Err(ReplicateError::Request(
            "--jobs 0: must be at least 1".into(),
        ));
    }
    if experiments > 1 && halfwidth.is_some() {
        return Err(ReplicateError::Request(
            "--halfwidth takes one experiment file at a time".into(),
        ));
    }
    Ok(())
}

/// Runs the plan `request` describes.
pub fn run(request: &Request, reporter: &mut dyn Reporter) -> Result<Outcome, ReplicateError> {
    check_flags(
        request.experiments.len(),
        request.jobs,
        request.threads,
        request.halfwidth,
    )?;
    for (i, p) in request.experiments.iter().enumerate() {
        if let Some(other) = request.experiments[..i]
            .iter()
            .find(|o| o.experiment.name == p.experiment.name)
        {
            return Err(ReplicateError::Request(format!(
                "{} and {} both name the experiment `{}`; each experiment needs its own name",
                other.path.display(),
                p.path.display(),
                p.experiment.name
            )));
        }
    }
    match request.halfwidth {
        Some(w) => sequential(request, &request.experiments[0], w, reporter),
        None => execute(request, &request.experiments, &|_| true, reporter),
    }
}

/// Sets libtorch's intra-op threads (default: all cores / `jobs`); returns the count.
pub fn set_threads(threads: Option<i32>, jobs: usize) -> Result<i32, ReplicateError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match threads {
        Some(t) if t >= 1 => t,
        Some(t) => {
            return Err(ReplicateError::Request(format!(
                "--threads {t}: must be at least 1"
            )));
        }
        None => (cores / jobs.max(1)).max(1) as i32,
    };
    tch::set_num_threads(threads);
    Ok(threads)
}

/// `--halfwidth W`: the experiment's seeds are the pilot; Stein's rule, applied to the
/// pilot's accuracies once, decides each variant's total `N`, and only the extra seeds run.
/// The decision is written before any extra seed runs and is reused (never re-decided) by
/// later runs, so adding seeds can never depend on the results after the pilot.
fn sequential(
    request: &Request,
    planned: &Planned,
    halfwidth: f64,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let pilot = &planned.experiment;
    let n0 = pilot.seeds.len();
    if n0 < 2 {
        return Err(ReplicateError::Request(format!(
            "--halfwidth needs a pilot of at least 2 seeds per variant (--seeds {n0})"
        )));
    }
    let store = &request.store;
    let dir = store.experiment_dir(&pilot.name);
    let decision = match seeding::read(&dir)? {
        Some(d) => {
            if d.n0 != n0 || d.halfwidth != halfwidth || d.alpha != request.alpha {
                return Err(ReplicateError::Refused(format!(
                    "{}: a seeding decision exists for a pilot of {} seeds, W = {}, alpha = {} \
                     (this run asks for {n0}, {halfwidth}, {}); rerun with those values, or delete \
                     the file to decide anew from a new pilot",
                    seeding::path(&dir).display(),
                    d.n0,
                    d.halfwidth,
                    d.alpha,
                    request.alpha
                )));
            }
            reporter.line(&seeding::report_line(Some(&d), n0));
            d
        }
        None => {
            let outcome = execute(request, std::slice::from_ref(planned), &|_| true, reporter)?;
            if !outcome.is_success() {
                reporter
                    .line("pilot incomplete: no seeding decision yet (run the same command again)");
                return Ok(outcome);
            }
            let found = store.records_for(&pilot.membership())?;
            for w in found.warnings() {
                reporter.warning(&w);
            }
            let selected = crate::report::select(pilot, &found.records);
            let mut pilots = Vec::new();
            for v in &selected {
                let mut accuracies: Vec<(u64, f64)> = v
                    .finished
                    .iter()
                    .filter(|r| pilot.seeds.contains(&r.seed))
                    .filter_map(|r| r.final_accuracy.map(|a| (r.seed, a)))
                    .collect();
                accuracies.sort_by_key(|&(seed, _)| seed);
                if accuracies.len() != n0 && request.dry_run {
                    reporter.line(
                        "dry run: the pilot is not complete, so no seeding decision yet (the real run makes it after the pilot); nothing written",
                    );
                    return Ok(outcome);
                }
                if accuracies.len() != n0 {
                    return Err(ReplicateError::Refused(format!(
                        "{} {}: {} of {n0} pilot seeds finished with an accuracy (diverged trials \
                         have none); Stein's rule needs the whole pilot",
                        pilot.name,
                        v.variant.name,
                        accuracies.len()
                    )));
                }
                pilots.push((
                    v.variant.name.clone(),
                    accuracies.into_iter().map(|(_, a)| a).collect(),
                ));
            }
            let d = seeding::decide(&pilots, halfwidth, request.alpha)?;
            if request.dry_run {
                // A dry run writes nothing to the store: the real run decides the same
                // way from the same pilot and keeps the decision.
                reporter.line(&format!(
                    "dry run: the decision the real run would keep in {} (not written)",
                    seeding::path(&dir).display()
                ));
            } else {
                seeding::write(&dir, &d)?;
            }
            reporter.line(&seeding::report_line(Some(&d), n0));
            d
        }
    };
    let max_n = u32::try_from(decision.max_n())
        .map_err(|_| ReplicateError::Refused("Stein's N does not fit".into()))?;
    let mut full = crate::config::load(&planned.path, &request.overrides)?;
    full.set_seed_count(max_n)
        .map_err(ReplicateError::Request)?;
    let index: HashMap<u64, usize> = full
        .seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i))
        .collect();
    let full = Planned {
        path: planned.path.clone(),
        experiment: full,
    };
    execute(
        request,
        std::slice::from_ref(&full),
        &|t: &PlannedTrial| {
            let wanted = decision.total_n(&t.spec.variant.name).unwrap_or(n0);
            index.get(&t.spec.seed).is_some_and(|&i| i < wanted)
        },
        reporter,
    )
}

/// Plans the union of `experiments` (the trials `keep` accepts; a trial they share once), runs what is missing, writes each experiment's report.
fn execute(
    request: &Request,
    experiments: &[Planned],
    keep: &dyn Fn(&PlannedTrial) -> bool,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let device = request.device;
    let store = &request.store;
    // A bad seeding decision is refused by every run, dry or not (see side_file).
    for p in experiments {
        seeding::read(&store.experiment_dir(&p.experiment.name))?;
    }
    if !request.dry_run {
        store.ensure_writable()?;
        store.sweep_leftovers();
    }
    if !request.data.verify {
        reporter.warning(NO_VERIFY);
    }
    let dataset = request.data.load()?;
    let digest = dataset.digest.clone();
    let make_plan = |store: &Store| {
        let plans: Vec<(&Experiment, Vec<PlannedTrial>)> = experiments
            .iter()
            .map(|p| {
                let trials = plan(&p.experiment, &digest, store)
                    .into_iter()
                    .filter(|t| keep(t))
                    .collect();
                (&p.experiment, trials)
            })
            .collect();
        let u = union(&plans);
        (
            plans.into_iter().map(|(_, t)| t.len()).collect::<Vec<_>>(),
            u,
        )
    };
    let (mut sizes, mut union) = make_plan(store);
    let names: Vec<String> = experiments
        .iter()
        .map(|p| p.experiment.name.clone())
        .collect();
    let (jobs, threads, mut estimate) =
        split_and_estimate(request, &union.trials, &dataset, reporter)?;
    let label = crate::provenance::device_label(device);
    // `--max-trial-time`: variants too slow for this machine are left out, and said so.
    let mut too_slow: HashSet<String> = HashSet::new();
    let mut skipped: HashMap<String, Vec<cost::Skipped>> = HashMap::new();
    if let (Some(limit), Some(e)) = (request.max_trial_time, &estimate) {
        too_slow = e
            .per_trial
            .iter()
            .filter(|(_, s)| **s > limit.as_secs_f64())
            .map(|(id, _)| id.clone())
            .collect();
        if !too_slow.is_empty() {
            for p in experiments {
                for v in &p.experiment.variants {
                    let ids: Vec<String> = p
                        .experiment
                        .seeds
                        .iter()
                        .map(|&seed| TrialSpec::new(&p.experiment, v, seed, &digest).id)
                        .filter(|id| too_slow.contains(id))
                        .collect();
                    if let Some(first) = ids.first() {
                        let each = e.per_trial[first];
                        reporter.line(&format!(
                            "{} {}: not run on this machine: one trial is estimated at {} (--max-trial-time {}); {} trial(s) left out",
                            p.experiment.name,
                            v.name,
                            cost::human(Duration::from_secs_f64(each)),
                            cost::human(limit),
                            ids.len()
                        ));
                        skipped
                            .entry(p.experiment.name.clone())
                            .or_default()
                            .push(cost::Skipped {
                                variant: v.name.clone(),
                                trials: ids.len(),
                                seconds_each: each,
                                limit_s: limit.as_secs_f64(),
                            });
                    }
                }
            }
            let kept: Vec<PlannedTrial> = union
                .trials
                .iter()
                .filter(|t| !too_slow.contains(&t.spec.id))
                .cloned()
                .collect();
            sizes = experiments
                .iter()
                .map(|p| {
                    plan(&p.experiment, &digest, store)
                        .iter()
                        .filter(|t| keep(t) && !too_slow.contains(&t.spec.id))
                        .count()
                })
                .collect();
            union.planned -= union.trials.len() - kept.len();
            union.trials = kept;
            let earlier = estimate.take().expect("an estimate");
            estimate = cost::estimate(
                &union.trials,
                &dataset,
                device,
                jobs,
                threads,
                cost::Missing::Reuse { earlier: &earlier },
                &mut |_| {},
            )
            .ok()
            .filter(|_| union.trials.iter().any(|t| t.state != TrialState::Done));
        }
    }
    let planned = &union.trials;
    let (done, running, pending) = counts(planned);
    for (p, size) in experiments.iter().zip(&sizes) {
        reporter.line(&format!(
            "{} ({}): {} variants x up to {} seeds = {size} trials",
            p.experiment.name,
            p.path.display(),
            p.experiment.variants.len(),
            p.experiment.seeds.len(),
        ));
    }
    if experiments.len() > 1 {
        reporter.line(&format!(
            "{}: {} planned, {} unique, {} shared",
            names.join(" + "),
            union.planned,
            planned.len(),
            union.shared()
        ));
    }
    reporter.line(&format!(
        "{} trials: {done} done, {running} running elsewhere, {pending} to run on {label} ({jobs} job(s) x {threads} threads)",
        planned.len()
    ));
    if let Some(e) = &estimate {
        reporter.line(&estimate_line(e, &label));
        if !request.dry_run {
            for name in &names {
                cost::keep(
                    &store.experiment_dir(name),
                    &cost::Kept {
                        estimated_s: e.wall.as_secs_f64(),
                        trials: e.trials,
                        jobs,
                        threads,
                        device: label.clone(),
                        actual_s: None,
                        plan: if names.len() > 1 {
                            names.clone()
                        } else {
                            Vec::new()
                        },
                        skipped: skipped.get(name).cloned().unwrap_or_default(),
                    },
                )?;
            }
        }
    }
    for t in planned {
        if request.dry_run || t.state != TrialState::Done {
            reporter.line(&format!(
                "  {} {:<12} {:<12} seed {:<3} {}",
                t.spec.short_id(),
                t.spec.experiment,
                t.spec.variant.name,
                t.spec.seed,
                match t.state {
                    TrialState::Done => "done",
                    TrialState::Running => "running elsewhere",
                    TrialState::Pending => "to run",
                }
            ));
        }
    }
    if request.dry_run {
        return Ok(Outcome::DryRun);
    }

    let paths: HashMap<&str, &Path> = experiments
        .iter()
        .map(|p| (p.experiment.name.as_str(), p.path.as_path()))
        .collect();
    let scheduler = Scheduler::new().with_estimates(
        estimate
            .as_ref()
            .map(|e| e.per_trial.clone().into_iter().collect())
            .unwrap_or_default(),
    );
    reporter
        .running(scheduler.control())
        .map_err(ReplicateError::Signals)?;
    let worker = |spec: &TrialSpec| {
        Ok(WorkerInvocation {
            program: request.program.clone(),
            config: paths[spec.experiment.as_str()].to_path_buf(),
            experiment: spec.experiment.clone(),
            runs: store.root().to_path_buf(),
            trial: Some(WorkerTrial {
                variant: spec.variant.name.clone(),
                seed: spec.seed,
                id: spec.id.clone(),
            }),
            max_tries: None,
            device: request.device_arg.clone(),
            threads: Some(threads),
            sets: request.sets.clone(),
            data_dir: request.data.dir.clone(),
            no_verify: !request.data.verify,
        }
        .command())
    };
    let started = Instant::now();
    let tally = scheduler.run(store, &names, planned, jobs, &worker, &mut |report| {
        reporter.schedule(report)
    });
    reporter.ran();
    let tally = tally?;
    // What the store holds now decides the outcome, not what this process saw.
    let missing = make_plan(store)
        .1
        .trials
        .iter()
        .filter(|t| t.state != TrialState::Done && !too_slow.contains(&t.spec.id))
        .count();
    reporter.line(&format!(
        "{}: started {} of {} trial(s) in {}: {} finished, {} diverged, {} failed, {} stopped; {} of {} planned trials recorded",
        names.join(" + "),
        tally.started,
        tally.total,
        duration(started.elapsed().as_secs_f64()),
        tally.finished,
        tally.diverged,
        tally.failed,
        tally.stopped,
        planned.len() - missing,
        planned.len()
    ));
    if let Some(e) = &estimate
        && missing == 0
        && tally.started == tally.total
        && tally.total > 0
    {
        let actual = started.elapsed();
        let estimated = e.wall.as_secs_f64();
        reporter.line(&format!(
            "estimate vs actual: estimated {}, took {} ({})",
            cost::human(e.wall),
            cost::human(actual),
            cost::estimate_error(estimated, actual.as_secs_f64())
        ));
        for name in &names {
            let dir = store.experiment_dir(name);
            if let Some(mut kept) = cost::kept(&dir) {
                kept.actual_s = Some(actual.as_secs_f64());
                cost::keep(&dir, &kept)?;
            }
        }
    }
    if missing == 0 && !tally.stop_requested {
        let busy = store.held_anywhere();
        if busy > 0 {
            reporter.line(&format!(
                "latency not re-measured now: {busy} trial(s) of this store are running elsewhere (rerun replicate when they are done)"
            ));
        } else if let Err(e) =
            quiet_latency_phase(experiments, store, &dataset, device, reporter, &|p, v| {
                skipped
                    .get(&p.experiment.name)
                    .is_some_and(|s| s.iter().any(|s| s.variant == v.name))
            })
        {
            reporter.line(&format!("warning: latency not measured: {e}"));
        }
    }
    for p in experiments {
        let published =
            reporting::publish::write_all(&p.experiment, store, &request.reports, &request.readme)?;
        for w in &published.warnings {
            reporter.warning(w);
        }
        for file in published.files {
            reporter.line(&format!("wrote {}", file.display()));
        }
    }
    if let Some(signal) = tally.signalled {
        reporter.line(&format!(
            "stopped by {signal}: {missing} trial(s) not recorded; run the same command again to resume"
        ));
        return Ok(Outcome::Signalled {
            signal: signal.to_string(),
            missing,
        });
    }
    Ok(if tally.failed > 0 || missing > 0 {
        Outcome::Incomplete {
            failed: tally.failed,
            missing,
            stop_requested: tally.stop_requested,
        }
    } else {
        Outcome::Complete
    })
}

/// After every trial is recorded and nothing else of the plan runs: times each network
/// of the experiments that their `runs/<name>/latency.json` lacks (on all cores; see
/// [`crate::quiet_latency`]), each distinct network once however many experiments
/// show it. Variants `left_out` says were not run (`--max-trial-time`) are not timed
/// either: a network too slow to train here may take hours for 300 timed passes.
pub fn quiet_latency_phase(
    experiments: &[Planned],
    store: &Store,
    dataset: &FashionMnist,
    device: Device,
    reporter: &mut dyn Reporter,
    left_out: &dyn Fn(&Planned, &Variant) -> bool,
) -> Result<(), store::StoreError> {
    let label = crate::provenance::device_label(device);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    // One figure per network for the whole store: what any experiment's latency.json
    // holds for this device and thread count (a clean one over one taken under load, then
    // the newest, where several do) is reused, and
    // written into every experiment that shows the network, so that the same network
    // shows the same latency in every table. Only a figure of the deployed form is reused
    // (`Measured::reusable`).
    let mut fresh: HashMap<String, quiet_latency::Measured> = HashMap::new();
    for dir in std::fs::read_dir(store.root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir())
    {
        for (key, m) in quiet_latency::load(&dir) {
            if m.device != label || m.threads != cores || !m.reusable() {
                continue;
            }
            let better = fresh.get(&key).is_none_or(|known| m.better_than(known));
            if better {
                fresh.insert(key, m);
            }
        }
    }
    for p in experiments {
        let dir = store.experiment_dir(&p.experiment.name);
        let mut all = quiet_latency::load(&dir);
        let mut changed = false;
        for v in p.experiment.variants.iter().filter(|v| !left_out(p, v)) {
            let key = network_key(v.trial.config());
            if let Some(known) = fresh.get(&key)
                && all.get(&key) == Some(known)
            {
                continue;
            }
            let m = fresh.entry(key.clone()).or_insert_with(|| {
                tch::set_num_threads(cores);
                let m = quiet_latency::measure(&v.trial, dataset, device);
                reporter.line(&format!(
                    "latency of {} {}'s network, nothing else of the plan running ({label}, {cores} threads): batch 1 {:.3} ms [{:.3}, {:.3}], batch {} {:.3} ms [{:.3}, {:.3}]{}",
                    p.experiment.name,
                    v.name,
                    m.batch1.median_ms,
                    m.batch1.low_ms,
                    m.batch1.high_ms,
                    m.eval_batch,
                    m.eval.median_ms,
                    m.eval.low_ms,
                    m.eval.high_ms,
                    m.caveat().map(|c| format!(" ({c})")).unwrap_or_default()
                ));
                m
            });
            all.insert(key, m.clone());
            changed = true;
        }
        if changed {
            quiet_latency::save(&dir, &all)?;
        }
    }
    Ok(())
}

/// The jobs x threads split (`--jobs N`, or the fastest by the calibration for `auto`)
/// and the estimate of the plan's pending trials (`None` when nothing is pending or the
/// calibration failed, which is said and does not stop the run).
fn split_and_estimate(
    request: &Request,
    planned: &[PlannedTrial],
    dataset: &FashionMnist,
    reporter: &mut dyn Reporter,
) -> Result<(usize, i32, Option<cost::Estimate>), ReplicateError> {
    let device = request.device;
    let pending = planned.iter().any(|t| t.state != TrialState::Done);
    // The calibration's progress and the plan's lines both go to the reporter; the
    // closure below borrows it only while `cost::estimate` runs.
    macro_rules! calibrating {
        () => {
            &mut |c: Calibrating<'_>| reporter.calibrating(&c)
        };
    }
    let jobs = match request.jobs {
        Jobs::Count(n) => n,
        Jobs::Auto => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if device != Device::Cpu {
                // Parallel jobs share one GPU, which a one-job calibration cannot model.
                reporter.line("--jobs auto: on a GPU, 1 job (jobs would share the device)");
                let threads = set_threads(None, 1)?;
                let e = cost::estimate(
                    planned,
                    dataset,
                    device,
                    1,
                    threads,
                    cost::Missing::Calibrate,
                    calibrating!(),
                );
                return Ok((1, threads, e.ok().filter(|_| pending)));
            }
            // The first split (1 job on every core) is calibrated fully; the others only
            // on the workloads that make up a quarter of its time, the rest scaled (see
            // `cost::Missing::Scale`). Splits are compared on the trials that
            // `--max-trial-time` keeps.
            let limit = request.max_trial_time.map(|d| d.as_secs_f64());
            let mut best: Option<(usize, i32, cost::Estimate)> = None;
            let mut reference: Option<cost::Estimate> = None;
            let mut seen = Vec::new();
            for j in (1..=cores).filter(|j| cores.is_multiple_of(*j)) {
                let threads = (cores / j) as i32;
                let missing = match &reference {
                    None => cost::Missing::Calibrate,
                    Some(r) => cost::Missing::Scale {
                        reference: r,
                        share: 0.25,
                        limit,
                    },
                };
                match cost::estimate(
                    planned,
                    dataset,
                    device,
                    j,
                    threads,
                    missing,
                    calibrating!(),
                ) {
                    Ok(e) => {
                        let wall = e.wall_within(limit);
                        seen.push(format!("{j} x {threads}: {}", cost::human(wall)));
                        if best
                            .as_ref()
                            .is_none_or(|(_, _, b)| wall < b.wall_within(limit))
                        {
                            best = Some((j, threads, e.clone()));
                        }
                        if reference.is_none() {
                            reference = Some(e);
                        }
                    }
                    Err(e) => reporter.line(&format!("warning: --jobs auto: {j} x {threads}: {e}")),
                }
            }
            let Some((j, threads, e)) = best else {
                reporter.line("warning: --jobs auto: no split could be calibrated; 1 job");
                let threads = set_threads(None, 1)?;
                return Ok((1, threads, None));
            };
            reporter.line(&format!(
                "--jobs auto: estimated wall time per split (jobs x threads): {}; picked {j} x {threads}",
                seen.join(", ")
            ));
            set_threads(Some(threads), j)?;
            return Ok((j, threads, pending.then_some(e)));
        }
    };
    let threads = set_threads(request.threads, jobs)?;
    if !pending {
        return Ok((jobs, threads, None));
    }
    match cost::estimate(
        planned,
        dataset,
        device,
        jobs,
        threads,
        cost::Missing::Calibrate,
        calibrating!(),
    ) {
        Ok(e) => Ok((jobs, threads, Some(e))),
        Err(e) => {
            reporter.line(&format!("warning: no estimate: {e}"));
            Ok((jobs, threads, None))
        }
    }
}

/// `estimated 3h 20m on cpu, 1 job x 2 threads (...)`.
fn estimate_line(e: &cost::Estimate, device: &str) -> String {
    let per: Vec<String> = e
        .per_architecture
        .iter()
        .map(|(arch, (n, s))| {
            format!(
                "{arch}: {n} trial(s), {}",
                cost::human(Duration::from_secs_f64(*s))
            )
        })
        .collect();
    let mut line = format!(
        "estimated {} on {device}, {} job(s) x {} threads ({}; calibration {}{})",
        cost::human(e.wall),
        e.jobs,
        e.threads,
        per.join("; "),
        if e.calibrated > 0 {
            format!("measured now for {} workload(s), cached in ", e.calibrated)
        } else {
            "cached in ".to_string()
        },
        e.cache.display()
    );
    if e.scaled > 0 {
        line.push_str(&format!(
            "; {} lighter workload(s) scaled from the calibration at another thread count by the heaviest ones' ratio",
            e.scaled
        ));
    }
    if e.extrapolated > 0 {
        line.push_str(&format!(
            "; {} heavy workload(s) extrapolated from a small-batch probe, so overstated",
            e.extrapolated
        ));
    }
    line
}
