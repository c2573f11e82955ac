//! One plan from start to end: plan, estimate, leave out what is too slow, run, time the
//! networks, report.

use super::split::{estimate_line, split_and_estimate};
use super::{NO_VERIFY, Outcome, Planned, ReplicateError, Reporter, Request, quiet_latency_phase};
use crate::cost;
use crate::executor::Scheduler;
use cluster::worker::WorkerTrial;
use progress::format::duration;
use reporting::seeding;
use spec::Experiment;
use spec::TrialSpec;
use spec::plan::{PlannedTrial, counts, plan, union};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use store::Store;
use store::TrialState;

/// Plans the union of `experiments` (the trials `keep` accepts; a trial they share once), runs what is missing, writes each experiment's report.
pub(super) fn execute(
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
    if union
        .trials
        .iter()
        .any(|t| t.spec.variant.trial.precision == models::Precision::Bf16)
        && let Some(warning) = crate::device::bf16_warning_here(device)
    {
        reporter.warning(&warning);
    }
    let names: Vec<String> = experiments
        .iter()
        .map(|p| p.experiment.name.clone())
        .collect();
    let (jobs, threads, mut estimate) =
        split_and_estimate(request, &union.trials, &dataset, reporter)?;
    let label = trainer::device_label(device);
    // `--max-trial-time`: variants too slow for this machine are left out, and said so.
    let mut too_slow: HashSet<String> = HashSet::new();
    let mut skipped: HashMap<String, Vec<spec::cost::Skipped>> = HashMap::new();
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
                            progress::format::human(Duration::from_secs_f64(each)),
                            progress::format::human(limit),
                            ids.len()
                        ));
                        skipped.entry(p.experiment.name.clone()).or_default().push(
                            spec::cost::Skipped {
                                variant: v.name.clone(),
                                trials: ids.len(),
                                seconds_each: each,
                                limit_s: limit.as_secs_f64(),
                            },
                        );
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
                spec::cost::Missing::Reuse { earlier: &earlier },
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
                spec::cost::keep(
                    &store.experiment_dir(name),
                    &spec::cost::Kept {
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
                        sets: request.sets.clone(),
                        seeds: experiments
                            .iter()
                            .find(|p| p.experiment.name == *name)
                            .map(|p| p.experiment.seeds.len() as u32),
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
        let trial = WorkerTrial {
            config: paths[spec.experiment.as_str()].to_path_buf(),
            experiment: spec.experiment.clone(),
            variant: spec.variant.name.clone(),
            seed: spec.seed,
            id: spec.id.clone(),
        };
        request
            .worker(Some(trial), Some(threads), None)
            .map(|w| w.command())
            .map_err(std::io::Error::other)
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
            progress::format::human(e.wall),
            progress::format::human(actual),
            spec::cost::estimate_error(estimated, actual.as_secs_f64())
        ));
        for name in &names {
            let dir = store.experiment_dir(name);
            if let Some(mut kept) = spec::cost::kept(&dir) {
                kept.actual_s = Some(actual.as_secs_f64());
                spec::cost::keep(&dir, &kept)?;
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
