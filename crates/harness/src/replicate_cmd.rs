//! `harness replicate`: plans variants x seeds, skips what the store already has, runs the
//! rest on the local executor (`experiment::schedule`: each trial in its own
//! `harness worker` process, `--jobs` at a time) or submits it to Slurm
//! (`crate::slurm_cmd`), then writes the report; and `harness worker`, the process that
//! runs one trial.
//!
//! `replicate` exits 0 only when every planned trial is recorded. Signals are handled as
//! [`crate::signals`] describes.

use crate::cli::{JobsArg, ReplicateArgs, RunOpts, WorkerArgs};
use crate::common;
use crate::progress::{PlanState, Printer};
use crate::report_cmd;
use crate::signals::{self, exit};
use anyhow::{Context, bail};
use experiment::cost;
use experiment::plan::{PlannedTrial, counts, plan, union};
use experiment::schedule::{Report, Scheduler};
use experiment::slurm::{self, Attempt, AttemptEnd};
use experiment::store::StopRequest;
use experiment::trial_run::{Outcome, TrialSpec, run_trial};
use experiment::worker::{WorkerInvocation, WorkerTrial};
use experiment::{Experiment, Store, TrialState, seeding};
use progress::format::duration;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The worker process that runs `spec` (of the experiment file `config`).
fn worker_command(
    args: &ReplicateArgs,
    config: &std::path::Path,
    spec: &TrialSpec,
    threads: i32,
) -> std::io::Result<Command> {
    Ok(WorkerInvocation {
        program: std::env::current_exe()?,
        config: config.to_path_buf(),
        experiment: spec.experiment.clone(),
        runs: args.runs.clone(),
        trial: Some(WorkerTrial {
            variant: spec.variant.name.clone(),
            seed: spec.seed,
            id: spec.id.clone(),
        }),
        max_tries: None,
        device: args.run.device.to_string(),
        threads: Some(threads),
        sets: args.run.sets.clone(),
        data_dir: args.run.data_dir.clone(),
        no_verify: args.run.no_verify,
    }
    .command())
}

/// One experiment of the plan and the file it came from.
pub struct Planned {
    /// The experiment file.
    pub path: std::path::PathBuf,
    /// The experiment, with the command line's overrides and seeds.
    pub experiment: Experiment,
}

pub fn run(args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    let mut all: Vec<Planned> = Vec::new();
    for path in &args.configs {
        let experiment = common::experiment(path, &args.run.sets, args.seeds)?;
        if let Some(other) = all.iter().find(|p| p.experiment.name == experiment.name) {
            bail!(
                "{} and {} both name the experiment `{}`; each experiment needs its own name",
                other.path.display(),
                path.display(),
                experiment.name
            );
        }
        all.push(Planned {
            path: path.clone(),
            experiment,
        });
    }
    if all.len() > 1 {
        if args.slurm {
            bail!(
                "--slurm takes one experiment file at a time (submit each; trials they share still run once, the store's claims see to it)"
            );
        }
        if args.halfwidth.is_some() {
            bail!("--halfwidth takes one experiment file at a time");
        }
        return execute(&args, &all, &|_| true);
    }
    let Planned { path, experiment } = all.pop().expect("clap requires one config");
    if args.slurm {
        if args.halfwidth.is_some() {
            bail!(
                "--halfwidth with --slurm: run the pilot first, then decide (not supported in one submission)"
            );
        }
        return crate::slurm_cmd::submit(&args, &experiment);
    }
    let Some(halfwidth) = args.halfwidth else {
        return execute(&args, &[Planned { path, experiment }], &|_| true);
    };
    sequential(&args, &path, &experiment, halfwidth)
}

/// `--halfwidth W`: the experiment's seeds are the pilot; Stein's rule, applied to the
/// pilot's accuracies once, decides each variant's total `N`, and only the extra seeds run.
/// The decision is written before any extra seed runs and is reused (never re-decided) by
/// later runs, so adding seeds can never depend on the results after the pilot.
fn sequential(
    args: &ReplicateArgs,
    path: &std::path::Path,
    pilot: &Experiment,
    halfwidth: f64,
) -> anyhow::Result<ExitCode> {
    let n0 = pilot.seeds.len();
    if n0 < 2 {
        bail!("--halfwidth needs a pilot of at least 2 seeds per variant (--seeds {n0})");
    }
    let store = Store::new(&args.runs);
    let dir = store.experiment_dir(&pilot.name);
    let decision = match seeding::read(&dir)? {
        Some(d) => {
            if d.n0 != n0 || d.halfwidth != halfwidth || d.alpha != args.alpha {
                bail!(
                    "{}: a seeding decision exists for a pilot of {} seeds, W = {}, alpha = {} \
                     (this run asks for {n0}, {halfwidth}, {}); rerun with those values, or delete \
                     the file to decide anew from a new pilot",
                    seeding::path(&dir).display(),
                    d.n0,
                    d.halfwidth,
                    d.alpha,
                    args.alpha
                );
            }
            println!("{}", seeding::report_line(Some(&d), n0));
            d
        }
        None => {
            let code = execute(
                args,
                &[Planned {
                    path: path.to_path_buf(),
                    experiment: pilot.clone(),
                }],
                &|_| true,
            )?;
            if code != ExitCode::SUCCESS {
                println!("pilot incomplete: no seeding decision yet (run the same command again)");
                return Ok(code);
            }
            let records = report_cmd::records(&store, pilot)?;
            let selected = experiment::report::select(pilot, &records);
            let mut pilots = Vec::new();
            for v in &selected {
                let mut accuracies: Vec<(u64, f64)> = v
                    .finished
                    .iter()
                    .filter(|r| pilot.seeds.contains(&r.seed))
                    .filter_map(|r| r.final_accuracy.map(|a| (r.seed, a)))
                    .collect();
                accuracies.sort_by_key(|&(seed, _)| seed);
                if accuracies.len() != n0 && args.dry_run {
                    println!(
                        "dry run: the pilot is not complete, so no seeding decision yet (the real run makes it after the pilot); nothing written"
                    );
                    return Ok(code);
                }
                if accuracies.len() != n0 {
                    bail!(
                        "{} {}: {} of {n0} pilot seeds finished with an accuracy (diverged trials \
                         have none); Stein's rule needs the whole pilot",
                        pilot.name,
                        v.variant.name,
                        accuracies.len()
                    );
                }
                pilots.push((
                    v.variant.name.clone(),
                    accuracies.into_iter().map(|(_, a)| a).collect(),
                ));
            }
            let d = seeding::decide(&pilots, halfwidth, args.alpha)?;
            if args.dry_run {
                // A dry run writes nothing to the store: the real run decides the same
                // way from the same pilot and keeps the decision.
                println!(
                    "dry run: the decision the real run would keep in {} (not written)",
                    seeding::path(&dir).display()
                );
            } else {
                seeding::write(&dir, &d)?;
            }
            println!("{}", seeding::report_line(Some(&d), n0));
            d
        }
    };
    let max_n = u32::try_from(decision.max_n()).context("Stein's N does not fit")?;
    let full = common::experiment(path, &args.run.sets, Some(max_n))?;
    let index: HashMap<u64, usize> = full
        .seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i))
        .collect();
    let full = Planned {
        path: path.to_path_buf(),
        experiment: full,
    };
    execute(args, std::slice::from_ref(&full), &|t: &PlannedTrial| {
        let wanted = decision.total_n(&t.spec.variant.name).unwrap_or(n0);
        index.get(&t.spec.seed).is_some_and(|&i| i < wanted)
    })
}

/// Plans the union of `experiments` (the trials `keep` accepts; a trial they share once),
/// runs what is missing, writes each experiment's report.
fn execute(
    args: &ReplicateArgs,
    experiments: &[Planned],
    keep: &dyn Fn(&PlannedTrial) -> bool,
) -> anyhow::Result<ExitCode> {
    let device = common::device(&args.run.device)?;
    let store = common::store(&args.runs)?;
    // A bad seeding decision is refused by every run, dry or not (see side_file).
    for p in experiments {
        experiment::seeding::read(&store.experiment_dir(&p.experiment.name))?;
    }
    if !args.dry_run {
        store.ensure_writable()?;
        store.sweep_leftovers();
    }
    let dataset = common::dataset(&args.run)?;
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
    let (mut sizes, mut union) = make_plan(&store);
    let names: Vec<String> = experiments
        .iter()
        .map(|p| p.experiment.name.clone())
        .collect();
    let mut printer = Printer::new();
    let (jobs, threads, mut estimate) =
        split_and_estimate(args, &union.trials, &dataset, device, &mut printer)?;
    let label = experiment::provenance::device_label(device);
    // `--max-trial-time`: variants too slow for this machine are left out, and said so.
    let mut too_slow: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut skipped: HashMap<String, Vec<cost::Skipped>> = HashMap::new();
    if let (Some(limit), Some(e)) = (args.max_trial_time, &estimate) {
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
                        printer.line(&format!(
                            "{} {}: not run on this machine: one trial is estimated at {} (--max-trial-time {}); {} trial(s) left out",
                            p.experiment.name,
                            v.name,
                            cost::human(std::time::Duration::from_secs_f64(each)),
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
                    plan(&p.experiment, &digest, &store)
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
        printer.line(&format!(
            "{} ({}): {} variants x up to {} seeds = {size} trials",
            p.experiment.name,
            p.path.display(),
            p.experiment.variants.len(),
            p.experiment.seeds.len(),
        ));
    }
    if experiments.len() > 1 {
        printer.line(&format!(
            "{}: {} planned, {} unique, {} shared",
            names.join(" + "),
            union.planned,
            planned.len(),
            union.shared()
        ));
    }
    printer.line(&format!(
        "{} trials: {done} done, {running} running elsewhere, {pending} to run on {label} ({jobs} job(s) x {threads} threads)",
        planned.len()
    ));
    if let Some(e) = &estimate {
        printer.line(&estimate_line(e, &label));
        if !args.dry_run {
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
        if args.dry_run || t.state != TrialState::Done {
            printer.line(&format!(
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
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }

    let paths: HashMap<&str, &std::path::Path> = experiments
        .iter()
        .map(|p| (p.experiment.name.as_str(), p.path.as_path()))
        .collect();
    let scheduler = Scheduler::new().with_estimates(
        estimate
            .as_ref()
            .map(|e| e.per_trial.clone().into_iter().collect())
            .unwrap_or_default(),
    );
    let control = scheduler.control();
    let mut signals =
        signals::listen(&[SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let name = signals::name(signal);
            if signal == SIGINT {
                control.interrupt(name);
            } else {
                control.terminate(name);
            }
        }
    });
    let started = Instant::now();
    let tally = scheduler.run(
        &store,
        &names,
        planned,
        jobs,
        &|spec| worker_command(args, paths[spec.experiment.as_str()], spec, threads),
        &mut |report| match report {
            Report::Line(line) | Report::Warning(line) => printer.line(&line),
            Report::Event {
                trial,
                event,
                progress,
                trial_left,
                plan_left,
                counts,
            } => {
                let label = format!(
                    "{} {} s{}: ",
                    trial.short_id(),
                    trial.variant.name,
                    trial.seed
                );
                printer.trial(&trial.id, &label, event, progress, trial_left);
                printer.plan(&PlanState {
                    counts,
                    left: plan_left,
                });
            }
        },
    )?;
    handle.close();
    printer.clear();
    // What the store holds now decides the exit code, not what this process saw.
    let missing = make_plan(&store)
        .1
        .trials
        .iter()
        .filter(|t| t.state != TrialState::Done && !too_slow.contains(&t.spec.id))
        .count();
    printer.line(&format!(
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
        printer.line(&format!(
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
            printer.line(&format!(
                "latency not re-measured now: {busy} trial(s) of this store are running elsewhere (rerun replicate when they are done)"
            ));
        } else if let Err(e) = quiet_latency_phase(
            experiments,
            &store,
            &dataset,
            device,
            &mut printer,
            &|p, v| {
                skipped
                    .get(&p.experiment.name)
                    .is_some_and(|s| s.iter().any(|s| s.variant == v.name))
            },
        ) {
            printer.line(&format!("warning: latency not measured: {e:#}"));
        }
    }
    for p in experiments {
        for file in report_cmd::write_all(&p.experiment, &store, &args.reports, &args.readme)? {
            printer.line(&format!("wrote {}", file.display()));
        }
    }
    if let Some(signal) = tally.signalled {
        printer.line(&format!(
            "stopped by {signal}: {missing} trial(s) not recorded; run the same command again to resume"
        ));
        return Ok(ExitCode::from(exit::STOPPED));
    }
    Ok(if tally.failed > 0 || missing > 0 {
        if tally.stop_requested {
            ExitCode::from(exit::STOPPED)
        } else {
            ExitCode::FAILURE
        }
    } else {
        ExitCode::from(exit::SUCCESS)
    })
}

/// After every trial is recorded and nothing else of the plan runs: times each network
/// of the experiments that their `runs/<name>/latency.json` lacks (on all cores; see
/// `experiment::quiet_latency`), each distinct network once however many experiments
/// show it. Variants `left_out` says were not run (`--max-trial-time`) are not timed
/// either: a network too slow to train here may take hours for 300 timed passes.
pub fn quiet_latency_phase(
    experiments: &[Planned],
    store: &Store,
    dataset: &data::FashionMnist,
    device: tch::Device,
    printer: &mut Printer,
    left_out: &dyn Fn(&Planned, &experiment::Variant) -> bool,
) -> anyhow::Result<()> {
    use experiment::quiet_latency::{self, network_key};
    let label = experiment::provenance::device_label(device);
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
                printer.line(&format!(
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
    args: &ReplicateArgs,
    planned: &[PlannedTrial],
    dataset: &data::FashionMnist,
    device: tch::Device,
    printer: &mut Printer,
) -> anyhow::Result<(usize, i32, Option<cost::Estimate>)> {
    let pending = planned.iter().any(|t| t.state != TrialState::Done);
    let mut calibrating = |c: cost::Calibrating<'_>| {
        if c.index == 1 {
            println!(
                "calibrating {} workload(s) this machine has not measured yet at this thread count, once per machine: a tiny trial each (a probe sized by the network's FLOPs, then 3 training and 2 evaluation batches twice and a short latency phase; seconds each)",
                c.total
            );
        }
        println!(
            "calibrating [{}/{}] {} (once per machine{})",
            c.index,
            c.total,
            c.workload,
            c.left
                .map(|d| format!("; about {} left", cost::human(d)))
                .unwrap_or_default()
        );
    };
    let jobs = match args.jobs {
        JobsArg::Count(n) => n,
        JobsArg::Auto => {
            if args.run.threads.is_some() {
                bail!("--jobs auto chooses the threads per job too; drop --threads");
            }
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            if device != tch::Device::Cpu {
                // Parallel jobs share one GPU, which a one-job calibration cannot model.
                printer.line("--jobs auto: on a GPU, 1 job (jobs would share the device)");
                let threads = common::set_threads(None, 1)?;
                let e = cost::estimate(
                    planned,
                    dataset,
                    device,
                    1,
                    threads,
                    cost::Missing::Calibrate,
                    &mut calibrating,
                );
                return Ok((1, threads, e.ok().filter(|_| pending)));
            }
            // The first split (1 job on every core) is calibrated fully; the others only
            // on the workloads that make up a quarter of its time, the rest scaled (see
            // `cost::Missing::Scale`). Splits are compared on the trials that
            // `--max-trial-time` keeps.
            let limit = args.max_trial_time.map(|d| d.as_secs_f64());
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
                    &mut calibrating,
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
                    Err(e) => printer.line(&format!("warning: --jobs auto: {j} x {threads}: {e}")),
                }
            }
            let Some((j, threads, e)) = best else {
                printer.line("warning: --jobs auto: no split could be calibrated; 1 job");
                let threads = common::set_threads(None, 1)?;
                return Ok((1, threads, None));
            };
            printer.line(&format!(
                "--jobs auto: estimated wall time per split (jobs x threads): {}; picked {j} x {threads}",
                seen.join(", ")
            ));
            common::set_threads(Some(threads), j)?;
            return Ok((j, threads, pending.then_some(e)));
        }
    };
    let threads = common::set_threads(args.run.threads, jobs)?;
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
        &mut calibrating,
    ) {
        Ok(e) => Ok((jobs, threads, Some(e))),
        Err(e) => {
            printer.line(&format!("warning: no estimate: {e}"));
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
                cost::human(std::time::Duration::from_secs_f64(*s))
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

/// The child side: runs one trial and prints its events as JSON lines. With `--slurm`
/// (an array task), each attempt is recorded in the store, a trial whose attempts failed
/// `--max-tries` times is refused, and a task stopped by Slurm's warning signal requeues
/// itself.
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if !args.slurm {
        return Ok(run_worker(args, &mut || {})?.exit_code());
    }
    let exp_dir = Store::new(&args.runs).experiment_dir(&args.expect_experiment);
    let id = args.expect_id.clone();
    let attempts = slurm::attempts(&exp_dir, &id);
    if attempts.failures() >= args.max_tries {
        bail!(
            "trial {} failed {} times (last: {}); not trying again (harness replicate --slurm --retry-failed to try again)",
            experiment::id::short(&id),
            attempts.failures(),
            attempts.last_failure().unwrap_or("crashed")
        );
    }
    let job = slurm_job();
    let record = |end: Option<AttemptEnd>| {
        let attempt = Attempt {
            job: job.clone(),
            at: experiment::provenance::unix_seconds(),
            end,
        };
        if let Err(e) = slurm::record_attempt(&exp_dir, &id, &attempt) {
            eprintln!("warning: {e}");
        }
    };
    // The start is recorded once the claim is ours (a task that only finds the trial
    // done or held elsewhere is no attempt); the end before any requeue (which kills us).
    match run_worker(args, &mut || record(None)) {
        Ok(WorkerEnd::Recorded) => {
            record(Some(AttemptEnd::Recorded));
            Ok(ExitCode::SUCCESS)
        }
        Ok(WorkerEnd::Skipped) => Ok(ExitCode::from(exit::SKIPPED)),
        Ok(WorkerEnd::Stopped { warned, trial }) => {
            record(Some(AttemptEnd::Stopped));
            if warned {
                match slurm::requeue_self() {
                    Ok(Some(job)) => eprintln!(
                        "{trial}: stopped by Slurm's warning signal; requeued job {job}, which resumes from the last checkpoint"
                    ),
                    Ok(None) => {}
                    Err(e) => eprintln!(
                        "warning: {trial}: could not requeue ({e}); `harness replicate --slurm` submits it again"
                    ),
                }
            }
            Ok(ExitCode::from(exit::STOPPED))
        }
        Err(e) => {
            record(Some(AttemptEnd::Failed(format!("{e:#}"))));
            Err(e)
        }
    }
}

/// How a worker's trial ended (errors aside).
enum WorkerEnd {
    /// Published (finished or diverged).
    Recorded,
    /// Stopped on request; `warned` when by SIGUSR1 (Slurm's warning).
    Stopped { warned: bool, trial: String },
    /// Done or held by another process: nothing to do.
    Skipped,
}

impl WorkerEnd {
    fn exit_code(&self) -> ExitCode {
        match self {
            WorkerEnd::Recorded => ExitCode::SUCCESS,
            WorkerEnd::Stopped { .. } => ExitCode::from(exit::STOPPED),
            WorkerEnd::Skipped => ExitCode::from(exit::SKIPPED),
        }
    }
}

/// `<array job>_<task>` (or the plain job id) of this Slurm task.
fn slurm_job() -> String {
    match (
        std::env::var("SLURM_ARRAY_JOB_ID"),
        std::env::var("SLURM_ARRAY_TASK_ID"),
    ) {
        (Ok(job), Ok(task)) => format!("{job}_{task}"),
        _ => std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "?".into()),
    }
}

fn run_worker(args: WorkerArgs, on_claimed: &mut dyn FnMut()) -> anyhow::Result<WorkerEnd> {
    let WorkerArgs {
        config,
        variant,
        seed,
        expect_id,
        expect_experiment,
        runs,
        run,
        ..
    } = args;
    let RunOpts {
        sets,
        device,
        threads,
        ..
    } = &run;
    let stop = std::sync::Arc::new(trainer::Stop::new());
    let warned = signals::watch_worker(stop.clone()).context("installing signal handlers")?;
    let experiment = common::experiment(&config, sets, None)?;
    if experiment.name != expect_experiment {
        bail!(
            "{}: the experiment is now named `{}`, not `{expect_experiment}` as when the plan was made; refusing to run (rerun replicate)",
            config.display(),
            experiment.name
        );
    }
    let variant = experiment.variant(&variant).with_context(|| {
        format!(
            "{}: no variant `{variant}` any more; refusing to run (rerun replicate)",
            config.display()
        )
    })?;
    let device = common::device(device)?;
    common::set_threads(*threads, 1)?;
    let store = Store::new(&runs);
    store.ensure_writable()?;
    let dataset = common::dataset(&run)?;
    let spec = TrialSpec::new(&experiment, variant, seed, &dataset.digest);
    if spec.id != expect_id {
        bail!(
            "{}: the configuration changed since the plan was made (id {} != {}); refusing to run (rerun replicate)",
            config.display(),
            spec.short_id(),
            experiment::id::short(&expect_id)
        );
    }
    let Some(claim) = store.claim(&spec.id)? else {
        eprintln!(
            "{}: done or claimed by another process; nothing to do",
            spec.short_id()
        );
        return Ok(WorkerEnd::Skipped);
    };
    on_claimed();
    for warning in claim.warnings() {
        eprintln!("warning: {warning}");
    }
    watch_stop_requests(
        store.clone(),
        experiment.name.clone(),
        stop.clone(),
        claim.lost_flag(),
    );
    let mut stdout = std::io::stdout().lock();
    let outcome = run_trial(
        &spec,
        &dataset,
        device,
        claim.work_dir(),
        &stop,
        &mut |event| {
            let line = serde_json::to_string(event).expect("events serialise");
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        },
    )?;
    match outcome {
        Outcome::Recorded(_) => match claim.publish() {
            Ok(_) => Ok(WorkerEnd::Recorded),
            // Taken over and recorded by the taker meanwhile: the trial is done, not failed.
            Err(experiment::store::StoreError::ClaimLost { .. }) if store.is_done(&spec.id) => {
                eprintln!(
                    "{}: taken over by another process, which recorded it; nothing to do",
                    spec.short_id()
                );
                Ok(WorkerEnd::Skipped)
            }
            Err(e) => Err(e.into()),
        },
        Outcome::Stopped => {
            let lost = claim.lost();
            claim.release();
            if lost && store.is_done(&spec.id) {
                eprintln!(
                    "{}: taken over by another process, which recorded it; nothing to do",
                    spec.short_id()
                );
                return Ok(WorkerEnd::Skipped);
            }
            if lost {
                bail!(
                    "{}: the claim was taken over by another process (this one was thought dead); stopped",
                    spec.short_id()
                );
            }
            Ok(WorkerEnd::Stopped {
                warned: warned.load(Ordering::Relaxed),
                trial: spec.short_id().to_string(),
            })
        }
    }
}

/// Polls the store's stop request for `experiment` twice a second and raises `stop`; a
/// lost claim (`lost`) stops the run at once.
fn watch_stop_requests(
    store: Store,
    experiment: String,
    stop: std::sync::Arc<trainer::Stop>,
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    std::thread::spawn(move || {
        loop {
            if lost.load(Ordering::Relaxed) {
                stop.now.store(true, Ordering::Relaxed);
            }
            match store.stop_request(&experiment) {
                Some(StopRequest::Now) => stop.now.store(true, Ordering::Relaxed),
                Some(StopRequest::AfterEpoch) => stop.after_epoch.store(true, Ordering::Relaxed),
                None => {}
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
}
