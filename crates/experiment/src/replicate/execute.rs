//! One plan on this machine, from start to end, as its steps: [`Run::prepare`] (the store,
//! the dataset), [`Run::plan_union`], [`Run::leave_out_too_slow`] (`--max-trial-time`),
//! [`Run::announce`] (what will run, the estimate kept beside each experiment),
//! [`Run::run_trials`] (the local executor), [`Run::account`] (what the store holds now),
//! [`Run::measure_latency`] (the quiet phase), [`Run::publish`] (the reports) and the
//! [`Outcome`].

use super::split::{estimate_line, split_and_estimate};
use super::{
    LoadedExperiment, Local, NO_VERIFY, Outcome, ReplicateError, Reporter, quiet_latency_phase,
};
use crate::cost;
use crate::executor::{Scheduler, Tally};
use cluster::worker::WorkerTrial;
use data::FashionMnist;
use progress::format::duration;
use reporting::seeding;
use spec::TrialSpec;
use spec::cost::{Estimate, Skipped};
use spec::plan::{PlannedTrial, Union, counts, plan, union};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use store::TrialState;

/// Plans the union of `experiments` (the trials `keep` accepts; a trial they share once),
/// runs what is missing, writes each experiment's report.
pub(super) fn execute(
    request: &Local<'_>,
    experiments: &[LoadedExperiment],
    keep: &dyn Fn(&PlannedTrial) -> bool,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let dataset = Run::prepare(request, experiments, reporter)?;
    let run = Run {
        request,
        experiments,
        keep,
        names: experiments
            .iter()
            .map(|p| p.experiment.name.clone())
            .collect(),
        dataset,
    };
    let (mut sizes, mut union) = run.plan_union();
    run.warn_of_slow_bf16(&union, reporter);
    let (jobs, threads, estimate) =
        split_and_estimate(request, &union.trials, &run.dataset, reporter)?;
    let mut left_out = LeftOut::default();
    let estimate = match (request.max_trial_time, estimate) {
        (Some(limit), Some(e)) => run.leave_out_too_slow(
            limit,
            e,
            (jobs, threads),
            &mut union,
            &mut sizes,
            &mut left_out,
            reporter,
        ),
        (_, estimate) => estimate,
    };
    run.announce(
        &union,
        &sizes,
        estimate.as_ref(),
        (jobs, threads),
        &left_out,
        reporter,
    )?;
    if request.dry_run {
        return Ok(Outcome::DryRun);
    }
    let started = Instant::now();
    let tally = run.run_trials(&union.trials, estimate.as_ref(), (jobs, threads), reporter)?;
    let missing = run.account(
        &union.trials,
        &tally,
        &left_out,
        estimate.as_ref(),
        started,
        reporter,
    )?;
    if missing == 0 && !tally.stop_requested {
        run.measure_latency(&left_out, reporter);
    }
    run.publish(reporter)?;
    Ok(outcome(&tally, missing, reporter))
}

/// The state one local run threads through its steps.
struct Run<'a> {
    request: &'a Local<'a>,
    experiments: &'a [LoadedExperiment],
    keep: &'a dyn Fn(&PlannedTrial) -> bool,
    /// The experiments' names, in order.
    names: Vec<String>,
    dataset: FashionMnist,
}

/// What `--max-trial-time` left out.
#[derive(Default)]
struct LeftOut {
    /// The trial ids.
    ids: HashSet<String>,
    /// Per experiment, the variants left out and why (kept in `estimate.json`).
    variants: HashMap<String, Vec<Skipped>>,
}

impl Run<'_> {
    /// Refuses a bad seeding decision (dry runs too), readies the store (not for a dry run)
    /// and loads the dataset.
    fn prepare(
        request: &Local<'_>,
        experiments: &[LoadedExperiment],
        reporter: &mut dyn Reporter,
    ) -> Result<FashionMnist, ReplicateError> {
        let store = &request.store;
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
        request.data.load()
    }

    /// Each experiment's planned trials (those `keep` accepts) counted, and their union
    /// against the store as it is now.
    fn plan_union(&self) -> (Vec<usize>, Union) {
        let plans: Vec<(&spec::Experiment, Vec<PlannedTrial>)> = self
            .experiments
            .iter()
            .map(|p| {
                let trials = plan(&p.experiment, &self.dataset.digest, &self.request.store)
                    .into_iter()
                    .filter(|t| (self.keep)(t))
                    .collect();
                (&p.experiment, trials)
            })
            .collect();
        let u = union(&plans);
        (plans.into_iter().map(|(_, t)| t.len()).collect(), u)
    }

    /// Warns before training when bf16 trials will run on a CPU without native bf16.
    fn warn_of_slow_bf16(&self, union: &Union, reporter: &mut dyn Reporter) {
        if union
            .trials
            .iter()
            .any(|t| t.spec.variant.trial.precision == models::Precision::Bf16)
            && let Some(warning) = crate::device::bf16_warning_here(self.request.device)
        {
            reporter.warning(&warning);
        }
    }

    /// `--max-trial-time`: leaves out the variants whose trial is estimated over `limit`,
    /// says so per variant, and estimates what is left again (from the same calibration).
    #[allow(clippy::too_many_arguments)]
    fn leave_out_too_slow(
        &self,
        limit: Duration,
        estimate: Estimate,
        (jobs, threads): (usize, i32),
        union: &mut Union,
        sizes: &mut Vec<usize>,
        left_out: &mut LeftOut,
        reporter: &mut dyn Reporter,
    ) -> Option<Estimate> {
        left_out.ids = estimate
            .per_trial
            .iter()
            .filter(|(_, s)| **s > limit.as_secs_f64())
            .map(|(id, _)| id.clone())
            .collect();
        if left_out.ids.is_empty() {
            return Some(estimate);
        }
        for p in self.experiments {
            for v in &p.experiment.variants {
                let ids: Vec<String> = p
                    .experiment
                    .seeds
                    .iter()
                    .map(|&seed| TrialSpec::new(&p.experiment, v, seed, &self.dataset.digest).id)
                    .filter(|id| left_out.ids.contains(id))
                    .collect();
                let Some(first) = ids.first() else { continue };
                let each = estimate.per_trial[first];
                reporter.line(&format!(
                    "{} {}: not run on this machine: one trial is estimated at {} (--max-trial-time {}); {} trial(s) left out",
                    p.experiment.name,
                    v.name,
                    progress::format::human(Duration::from_secs_f64(each)),
                    progress::format::human(limit),
                    ids.len()
                ));
                left_out
                    .variants
                    .entry(p.experiment.name.clone())
                    .or_default()
                    .push(Skipped {
                        variant: v.name.clone(),
                        trials: ids.len(),
                        seconds_each: each,
                        limit_s: limit.as_secs_f64(),
                    });
            }
        }
        let kept: Vec<PlannedTrial> = union
            .trials
            .iter()
            .filter(|t| !left_out.ids.contains(&t.spec.id))
            .cloned()
            .collect();
        *sizes = self
            .experiments
            .iter()
            .map(|p| {
                plan(&p.experiment, &self.dataset.digest, &self.request.store)
                    .iter()
                    .filter(|t| (self.keep)(t) && !left_out.ids.contains(&t.spec.id))
                    .count()
            })
            .collect();
        union.planned -= union.trials.len() - kept.len();
        union.trials = kept;
        cost::estimate(
            &union.trials,
            &self.dataset,
            self.request.device,
            jobs,
            threads,
            spec::cost::Missing::Reuse { earlier: &estimate },
            &mut |_| {},
        )
        .ok()
        .filter(|_| union.trials.iter().any(|t| t.state != TrialState::Done))
    }

    /// Says what will run (per experiment, the union, the split, the estimate, each trial
    /// not done) and keeps the estimate beside each experiment (not in a dry run).
    fn announce(
        &self,
        union: &Union,
        sizes: &[usize],
        estimate: Option<&Estimate>,
        (jobs, threads): (usize, i32),
        left_out: &LeftOut,
        reporter: &mut dyn Reporter,
    ) -> Result<(), ReplicateError> {
        let planned = &union.trials;
        let label = trainer::device_label(self.request.device);
        let (done, running, pending) = counts(planned);
        for (p, size) in self.experiments.iter().zip(sizes) {
            reporter.line(&format!(
                "{} ({}): {} variants x up to {} seeds = {size} trials",
                p.experiment.name,
                p.path.display(),
                p.experiment.variants.len(),
                p.experiment.seeds.len(),
            ));
        }
        if self.experiments.len() > 1 {
            reporter.line(&format!(
                "{}: {} planned, {} unique, {} shared",
                self.names.join(" + "),
                union.planned,
                planned.len(),
                union.shared()
            ));
        }
        reporter.line(&format!(
            "{} trials: {done} done, {running} running elsewhere, {pending} to run on {label} ({jobs} job(s) x {threads} threads)",
            planned.len()
        ));
        if let Some(e) = estimate {
            reporter.line(&estimate_line(e, &label));
            if !self.request.dry_run {
                self.keep_estimate(e, (jobs, threads), &label, left_out)?;
            }
        }
        for t in planned {
            if self.request.dry_run || t.state != TrialState::Done {
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
        Ok(())
    }

    /// Writes `estimate.json` beside each experiment: the estimate, the split, what was left
    /// out, and the settings and seeds it ran with (the dashboard loads them).
    fn keep_estimate(
        &self,
        e: &Estimate,
        (jobs, threads): (usize, i32),
        label: &str,
        left_out: &LeftOut,
    ) -> Result<(), ReplicateError> {
        for name in &self.names {
            spec::cost::keep(
                &self.request.store.experiment_dir(name),
                &spec::cost::Kept {
                    estimated_s: e.wall.as_secs_f64(),
                    trials: e.trials,
                    jobs,
                    threads,
                    device: label.to_string(),
                    actual_s: None,
                    plan: if self.names.len() > 1 {
                        self.names.clone()
                    } else {
                        Vec::new()
                    },
                    skipped: left_out.variants.get(name).cloned().unwrap_or_default(),
                    sets: self.request.sets.clone(),
                    seeds: self
                        .experiments
                        .iter()
                        .find(|p| p.experiment.name == *name)
                        .map(|p| p.experiment.seeds.len() as u32),
                },
            )?;
        }
        Ok(())
    }

    /// Runs the trials not done on the local executor, one `harness worker` each, `jobs` at
    /// a time; the reporter holds the stop control while they run.
    fn run_trials(
        &self,
        planned: &[PlannedTrial],
        estimate: Option<&Estimate>,
        (jobs, threads): (usize, i32),
        reporter: &mut dyn Reporter,
    ) -> Result<Tally, ReplicateError> {
        let request = self.request;
        // Every path a worker gets is made absolute once, before any worker starts.
        let paths: HashMap<&str, PathBuf> = self
            .experiments
            .iter()
            .map(|p| Ok((p.experiment.name.as_str(), super::absolute(&p.path)?)))
            .collect::<Result<_, ReplicateError>>()?;
        let base = request.worker(None, Some(threads), None)?;
        let scheduler = Scheduler::new().with_estimates(
            estimate
                .map(|e| e.per_trial.clone().into_iter().collect())
                .unwrap_or_default(),
        );
        reporter
            .running(scheduler.control())
            .map_err(ReplicateError::Signals)?;
        let worker = |spec: &TrialSpec| {
            let mut invocation = base.clone();
            invocation.trial = Some(WorkerTrial {
                config: paths[spec.experiment.as_str()].clone(),
                experiment: spec.experiment.clone(),
                variant: spec.variant.name.clone(),
                seed: spec.seed,
                id: spec.id.clone(),
            });
            Ok(invocation.command())
        };
        let tally = scheduler.run(
            &request.store,
            &self.names,
            planned,
            jobs,
            &worker,
            &mut |report| reporter.schedule(report),
        );
        reporter.ran();
        Ok(tally?)
    }

    /// What the store holds now (not what this process saw): the planned trials still
    /// missing, said with the tally; with everything run, the estimate against the actual
    /// time, kept beside each experiment.
    fn account(
        &self,
        planned: &[PlannedTrial],
        tally: &Tally,
        left_out: &LeftOut,
        estimate: Option<&Estimate>,
        started: Instant,
        reporter: &mut dyn Reporter,
    ) -> Result<usize, ReplicateError> {
        let missing = self
            .plan_union()
            .1
            .trials
            .iter()
            .filter(|t| t.state != TrialState::Done && !left_out.ids.contains(&t.spec.id))
            .count();
        reporter.line(&format!(
            "{}: started {} of {} trial(s) in {}: {} finished, {} diverged, {} failed, {} stopped; {} of {} planned trials recorded",
            self.names.join(" + "),
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
        if let Some(e) = estimate
            && missing == 0
            && tally.started == tally.total
            && tally.total > 0
        {
            let actual = started.elapsed();
            reporter.line(&format!(
                "estimate vs actual: estimated {}, took {} ({})",
                progress::format::human(e.wall),
                progress::format::human(actual),
                spec::cost::estimate_error(e.wall.as_secs_f64(), actual.as_secs_f64())
            ));
            for name in &self.names {
                let dir = self.request.store.experiment_dir(name);
                if let Some(mut kept) = spec::cost::kept(&dir) {
                    kept.actual_s = Some(actual.as_secs_f64());
                    spec::cost::keep(&dir, &kept)?;
                }
            }
        }
        Ok(missing)
    }

    /// Times each network once with nothing else of this store running (the quiet phase);
    /// a failure is a warning, never the run's.
    fn measure_latency(&self, left_out: &LeftOut, reporter: &mut dyn Reporter) {
        let store = &self.request.store;
        let busy = store.held_anywhere();
        if busy > 0 {
            reporter.line(&format!(
                "latency not re-measured now: {busy} trial(s) of this store are running elsewhere (rerun replicate when they are done)"
            ));
        } else if let Err(e) = quiet_latency_phase(
            self.experiments,
            store,
            &self.dataset,
            self.request.device,
            reporter,
            &|p, v| {
                left_out
                    .variants
                    .get(&p.experiment.name)
                    .is_some_and(|s| s.iter().any(|s| s.variant == v.name))
            },
        ) {
            reporter.line(&format!("warning: latency not measured: {e}"));
        }
    }

    /// Writes every experiment's report and README section.
    fn publish(&self, reporter: &mut dyn Reporter) -> Result<(), ReplicateError> {
        for p in self.experiments {
            let published = reporting::publish::write_all(
                &p.experiment,
                &self.request.store,
                &self.request.reports,
                &self.request.readme,
            )?;
            for w in &published.warnings {
                reporter.warning(w);
            }
            for n in &published.notes {
                reporter.line(&format!("note: {n}"));
            }
            for file in published.files {
                reporter.line(&format!("wrote {}", file.display()));
            }
        }
        Ok(())
    }
}

/// How the run ended: stopped by a signal (rerun to resume), incomplete, or complete.
fn outcome(tally: &Tally, missing: usize, reporter: &mut dyn Reporter) -> Outcome {
    if let Some(signal) = tally.signalled {
        reporter.line(&format!(
            "stopped by {signal}: {missing} trial(s) not recorded; run the same command again to resume"
        ));
        return Outcome::Signalled {
            signal: signal.to_string(),
            missing,
        };
    }
    if tally.failed > 0 || missing > 0 {
        Outcome::Incomplete {
            failed: tally.failed,
            missing,
            stop_requested: tally.stop_requested,
        }
    } else {
        Outcome::Complete
    }
}
