//! `harness replicate`: plans variants x seeds, skips what the store already has, runs the
//! rest (each trial in its own `harness worker` process, `--jobs` at a time), then writes
//! the report.
//!
//! Each trial runs in a child process so that trials in parallel never share libtorch's
//! global random generator (dropout), a crash takes down one trial only, and killing
//! anything at any moment leaves the store consistent (see `experiment::store`).
//!
//! Trials that another process holds (a second `replicate` on the same store, or a worker
//! whose parent died and which is about to stop) are waited for, and taken over if they are
//! released unfinished: `replicate` exits 0 only when every planned trial is recorded.
//! Signals are handled as [`crate::signals`] describes.

use crate::cli::{ReplicateArgs, RunOpts, WorkerArgs};
use crate::common;
use crate::progress::{Printer, format_duration};
use crate::report_cmd;
use crate::signals::{self, exit};
use anyhow::{Context, bail};
use experiment::plan::{PlannedTrial, counts, plan};
use experiment::slurm::{self, Attempt, AttemptEnd};
use experiment::store::StopRequest;
use experiment::trial_run::{Outcome, TrialSpec, run_trial};
use experiment::{Experiment, Store, TrialState, seeding};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use trainer::{Event, Status};

enum Message {
    Event(usize, Event),
    Stderr(usize, String),
    Closed(usize),
    Signal(i32),
}

/// How far a stop request has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stopping {
    /// Running normally.
    No,
    /// No new trials; running ones end after their current epoch.
    AfterEpoch,
    /// Running ones end after their current batch.
    Now,
}

struct Running {
    trial: PlannedTrial,
    child: Child,
    stderr: Vec<String>,
    open_streams: usize,
    /// When it was told to stop now (it is killed if it has not ended a minute later).
    signalled_at: Option<Instant>,
}

/// Arguments for the worker that runs `spec`.
fn worker_command(args: &ReplicateArgs, spec: &TrialSpec, threads: i32) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("locating the harness binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("worker")
        .arg(&args.config)
        .args(["--variant", &spec.variant.name])
        .args(["--seed", &spec.seed.to_string()])
        .args(["--expect-id", &spec.id])
        .args(["--expect-experiment", &spec.experiment])
        .arg("--runs")
        .arg(&args.runs)
        .args(["--device", &args.run.device.to_string()])
        .args(["--threads", &threads.to_string()]);
    for set in &args.run.sets {
        cmd.args(["--set", set]);
    }
    if let Some(dir) = &args.run.data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    if args.run.no_verify {
        cmd.arg("--no-verify");
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Ok(cmd)
}

fn spawn(
    args: &ReplicateArgs,
    trial: PlannedTrial,
    slot: usize,
    threads: i32,
    tx: &mpsc::Sender<Message>,
) -> anyhow::Result<Running> {
    let mut child = worker_command(args, &trial.spec, threads)?
        .spawn()
        .context("starting a worker process")?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(event) = serde_json::from_str::<Event>(&line) {
                let _ = out_tx.send(Message::Event(slot, event));
            }
        }
        let _ = out_tx.send(Message::Closed(slot));
    });
    let err_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(Message::Stderr(slot, line));
        }
        let _ = err_tx.send(Message::Closed(slot));
    });
    Ok(Running {
        trial,
        child,
        stderr: Vec::new(),
        open_streams: 2,
        signalled_at: None,
    })
}

/// Plan-wide ETA from the mean epoch time seen so far.
struct Eta {
    epochs_left: u64,
    epoch_seconds: Vec<f64>,
    jobs: usize,
}

impl Eta {
    fn text(&self) -> String {
        if self.epoch_seconds.is_empty() {
            return String::new();
        }
        let mean = self.epoch_seconds.iter().sum::<f64>() / self.epoch_seconds.len() as f64;
        let secs = mean * self.epochs_left as f64 / self.jobs as f64;
        format!(
            " | plan ETA {}",
            format_duration(Duration::from_secs_f64(secs))
        )
    }
}

pub fn run(args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    if args.jobs == 0 {
        bail!("--jobs 0: must be at least 1");
    }
    let experiment = common::experiment(&args.config, &args.run.sets, args.seeds)?;
    if args.slurm {
        if args.halfwidth.is_some() {
            bail!(
                "--halfwidth with --slurm: run the pilot first, then decide (not supported in one submission)"
            );
        }
        return crate::slurm_cmd::submit(&args, &experiment);
    }
    let Some(halfwidth) = args.halfwidth else {
        return execute(&args, &experiment, &|_| true);
    };
    sequential(&args, &experiment, halfwidth)
}

/// `--halfwidth W`: the experiment's seeds are the pilot; Stein's rule, applied to the
/// pilot's accuracies once, decides each variant's total `N`, and only the extra seeds run.
/// The decision is written before any extra seed runs and is reused (never re-decided) by
/// later runs, so adding seeds can never depend on the results after the pilot.
fn sequential(
    args: &ReplicateArgs,
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
            let code = execute(args, pilot, &|_| true)?;
            if code != ExitCode::SUCCESS {
                println!("pilot incomplete: no seeding decision yet (run the same command again)");
                return Ok(code);
            }
            let records = report_cmd::records(&store, &pilot.name)?;
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
            seeding::write(&dir, &d)?;
            println!("{}", seeding::report_line(Some(&d), n0));
            d
        }
    };
    let max_n = u32::try_from(decision.max_n()).context("Stein's N does not fit")?;
    let full = common::experiment(&args.config, &args.run.sets, Some(max_n))?;
    let index: HashMap<u64, usize> = full
        .seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i))
        .collect();
    execute(args, &full, &|t: &PlannedTrial| {
        let wanted = decision.total_n(&t.spec.variant.name).unwrap_or(n0);
        index.get(&t.spec.seed).is_some_and(|&i| i < wanted)
    })
}

/// Plans `experiment` (the trials `keep` accepts), runs what is missing, writes the report.
fn execute(
    args: &ReplicateArgs,
    experiment: &Experiment,
    keep: &dyn Fn(&PlannedTrial) -> bool,
) -> anyhow::Result<ExitCode> {
    let device = common::device(&args.run.device)?;
    let threads = common::set_threads(args.run.threads, args.jobs)?;
    let store = Store::new(&args.runs);
    if !args.dry_run {
        store.ensure_writable(&experiment.name)?;
    }
    let digest = common::dataset(&args.run)?.digest;
    let planned: Vec<PlannedTrial> = plan(experiment, &digest, &store)
        .into_iter()
        .filter(|t| keep(t))
        .collect();
    let (done, running, pending) = counts(&planned);
    let mut printer = Printer::new();
    printer.line(&format!(
        "{} ({}): {} variants x up to {} seeds = {} trials: {done} done, {running} running elsewhere, {pending} to run on {} ({} job(s) x {threads} threads)",
        experiment.name,
        args.config.display(),
        experiment.variants.len(),
        experiment.seeds.len(),
        planned.len(),
        experiment::provenance::device_label(device),
        args.jobs,
    ));
    for t in &planned {
        if args.dry_run || t.state != TrialState::Done {
            printer.line(&format!(
                "  {} {:<12} seed {:<3} {}",
                t.spec.short_id(),
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

    let mut queue: VecDeque<PlannedTrial> = planned
        .iter()
        .filter(|t| t.state == TrialState::Pending)
        .cloned()
        .collect();
    // Held by another process when planned: waited for, taken over if released unfinished.
    let mut elsewhere: Vec<PlannedTrial> = planned
        .iter()
        .filter(|t| t.state == TrialState::Running)
        .cloned()
        .collect();
    let mut eta = Eta {
        epochs_left: queue
            .iter()
            .map(|t| u64::from(t.spec.variant.trial.epochs))
            .sum(),
        epoch_seconds: Vec::new(),
        jobs: args.jobs,
    };
    let total = queue.len();
    store.clear_stop(&experiment.name);
    let (tx, rx) = mpsc::channel();
    let mut signals =
        signals::listen(&[SIGINT, SIGTERM, SIGHUP]).context("installing signal handlers")?;
    let handle = signals.handle();
    let signal_tx = tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_tx.send(Message::Signal(signal)).is_err() {
                break;
            }
        }
    });
    let mut stopping = Stopping::No;
    let mut signalled: Option<i32> = None;
    let mut slots: Vec<Option<Running>> = (0..args.jobs).map(|_| None).collect();
    let (mut finished, mut diverged, mut failed, mut stopped) = (0, 0, 0, 0);
    let mut started_count = 0usize;
    let mut last_poll = Instant::now();
    let started = Instant::now();
    loop {
        if stopping == Stopping::No && store.stop_request(&experiment.name).is_some() {
            stopping = Stopping::AfterEpoch;
            printer.line(&format!(
                "stop requested: no new trials; {} not started",
                queue.len()
            ));
            queue.clear();
        }
        if stopping == Stopping::No && last_poll.elapsed() >= Duration::from_millis(500) {
            last_poll = Instant::now();
            elsewhere.retain(|t| match store.state(&experiment.name, &t.spec.id) {
                TrialState::Done => false,
                TrialState::Running => true,
                TrialState::Pending => {
                    printer.line(&format!(
                        "{} {} seed {}: released unfinished by another process; taking it over",
                        t.spec.short_id(),
                        t.spec.variant.name,
                        t.spec.seed
                    ));
                    queue.push_back(t.clone());
                    false
                }
            });
        }
        if stopping == Stopping::No {
            for (slot, place) in slots.iter_mut().enumerate() {
                if place.is_none()
                    && let Some(trial) = queue.pop_front()
                {
                    started_count += 1;
                    printer.line(&format!(
                        "[{started_count}/{total}] {} {} seed {}: starting",
                        trial.spec.short_id(),
                        trial.spec.variant.name,
                        trial.spec.seed
                    ));
                    *place = Some(spawn(args, trial, slot, threads, &tx)?);
                }
            }
        }
        for run in slots.iter_mut().flatten() {
            if run
                .signalled_at
                .is_some_and(|t| t.elapsed() > Duration::from_secs(60))
            {
                let _ = run.child.kill();
            }
        }
        let idle = slots.iter().all(Option::is_none);
        if idle && (stopping != Stopping::No || (queue.is_empty() && elsewhere.is_empty())) {
            break;
        }
        let Ok(message) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        match message {
            Message::Signal(signal) => {
                let now = signal != SIGINT || stopping != Stopping::No;
                signalled = Some(signal);
                let running = slots.iter().flatten().count();
                queue.clear();
                elsewhere.clear();
                if now {
                    stopping = Stopping::Now;
                    printer.line(&format!(
                        "{}: stopping {running} running trial(s) after their current batch; each resumes from its last finished epoch on the next run",
                        signals::name(signal)
                    ));
                    for run in slots.iter_mut().flatten() {
                        signals::send(run.child.id(), Signal::SIGTERM);
                        run.signalled_at.get_or_insert_with(Instant::now);
                    }
                } else {
                    stopping = Stopping::AfterEpoch;
                    printer.line(&format!(
                        "interrupted: no new trials; {running} running trial(s) stop after their current epoch (Ctrl-C again to stop now)"
                    ));
                    for run in slots.iter().flatten() {
                        signals::send(run.child.id(), Signal::SIGUSR2);
                    }
                }
            }
            Message::Event(slot, event) => {
                let Some(run) = slots[slot].as_ref() else {
                    continue;
                };
                let prefix = format!(
                    "{} {} s{}: ",
                    run.trial.spec.short_id(),
                    run.trial.spec.variant.name,
                    run.trial.spec.seed
                );
                if let Event::Epoch(m) = &event {
                    eta.epochs_left = eta.epochs_left.saturating_sub(1);
                    eta.epoch_seconds.push(m.train_time_s + m.eval_time_s);
                }
                if let Event::Finished { status, .. } = &event {
                    let planned_epochs = u64::from(run.trial.spec.variant.trial.epochs);
                    if let Status::Diverged { epoch, .. } = status {
                        eta.epochs_left = eta
                            .epochs_left
                            .saturating_sub(planned_epochs.saturating_sub(u64::from(*epoch)));
                    }
                }
                printer.event(&prefix, &event, &eta.text());
            }
            Message::Stderr(slot, line) => {
                if line.starts_with("warning: ") {
                    printer.line(&line);
                }
                if let Some(run) = slots[slot].as_mut() {
                    run.stderr.push(line);
                }
            }
            Message::Closed(slot) => {
                let Some(run) = slots[slot].as_mut() else {
                    continue;
                };
                run.open_streams -= 1;
                if run.open_streams > 0 {
                    continue;
                }
                let mut run = slots[slot].take().expect("present");
                let status = run.child.wait().context("waiting for a worker")?;
                let spec = &run.trial.spec;
                match status.code().and_then(|c| u8::try_from(c).ok()) {
                    Some(exit::SUCCESS) => match experiment::store::read_record(
                        &store
                            .trial_dir(&experiment.name, &spec.id)
                            .join(experiment::store::SUMMARY),
                    ) {
                        Ok(record) if record.diverged() => diverged += 1,
                        Ok(_) => finished += 1,
                        Err(e) => {
                            failed += 1;
                            printer.line(&format!("{}: FAILED: {e}", spec.short_id()));
                        }
                    },
                    Some(exit::STOPPED) => {
                        stopped += 1;
                        printer.line(&format!(
                            "{}: stopped on request (incomplete; resumes on the next run)",
                            spec.short_id()
                        ));
                    }
                    Some(exit::SKIPPED) => {
                        printer.line(&format!(
                            "{}: done or claimed by another process meanwhile; waiting for it",
                            spec.short_id()
                        ));
                        elsewhere.push(run.trial.clone());
                    }
                    _ if run.signalled_at.is_some() => {
                        stopped += 1;
                        printer.line(&format!(
                            "{}: ended by {status} after a stop request (resumes on the next run)",
                            spec.short_id()
                        ));
                    }
                    _ => {
                        failed += 1;
                        eta.epochs_left = eta
                            .epochs_left
                            .saturating_sub(u64::from(spec.variant.trial.epochs));
                        printer.line(&format!(
                            "{} {} seed {}: FAILED ({status}): {}",
                            spec.short_id(),
                            spec.variant.name,
                            spec.seed,
                            run.stderr.last().map_or("no message", String::as_str)
                        ));
                        for line in run.stderr.iter().rev().take(10).rev() {
                            printer.line(&format!("    {line}"));
                        }
                    }
                }
            }
        }
    }
    handle.close();
    store.clear_stop(&experiment.name);
    // What the store holds now decides the exit code, not what this process saw.
    let missing = plan(experiment, &digest, &store)
        .iter()
        .filter(|t| keep(t) && t.state != TrialState::Done)
        .count();
    printer.line(&format!(
        "{}: started {started_count} of {total} trial(s) in {}: {finished} finished, {diverged} diverged, {failed} failed, {stopped} stopped; {} of {} planned trials recorded",
        experiment.name,
        format_duration(started.elapsed()),
        planned.len() - missing,
        planned.len()
    ));
    for file in report_cmd::write_all(experiment, &store, &args.reports, &args.readme)? {
        printer.line(&format!("wrote {}", file.display()));
    }
    if let Some(signal) = signalled {
        printer.line(&format!(
            "stopped by {}: {missing} trial(s) not recorded; run the same command again to resume",
            signals::name(signal)
        ));
        return Ok(ExitCode::from(exit::STOPPED));
    }
    Ok(if failed > 0 || missing > 0 {
        if stopping != Stopping::No {
            ExitCode::from(exit::STOPPED)
        } else {
            ExitCode::FAILURE
        }
    } else {
        ExitCode::SUCCESS
    })
}

/// The child side: runs one trial and prints its events as JSON lines. With `--slurm`
/// (an array task), each attempt is recorded in the store, a trial whose attempts failed
/// `--max-tries` times is refused, and a task stopped by Slurm's warning signal requeues
/// itself.
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    if !args.slurm {
        return run_worker(args, None);
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
    record(None);
    let max_tries = args.max_tries;
    let result = run_worker(args, Some(max_tries));
    match &result {
        Ok(code) if *code == ExitCode::SUCCESS => record(Some(AttemptEnd::Recorded)),
        Ok(_) => record(Some(AttemptEnd::Stopped)),
        Err(e) => record(Some(AttemptEnd::Failed(format!("{e:#}")))),
    }
    result
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

fn run_worker(args: WorkerArgs, slurm_tries: Option<usize>) -> anyhow::Result<ExitCode> {
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
    store.ensure_writable(&experiment.name)?;
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
    let Some(claim) = store.claim(&experiment.name, &spec.id)? else {
        if slurm_tries.is_some() {
            eprintln!(
                "{}: done or claimed by another process; nothing to do",
                spec.short_id()
            );
        }
        return Ok(ExitCode::from(exit::SKIPPED));
    };
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
        Outcome::Recorded(_) => {
            claim.publish()?;
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Stopped => {
            let lost = claim.lost();
            claim.release();
            if lost {
                bail!(
                    "{}: the claim was taken over by another process (this one was thought dead); stopped",
                    spec.short_id()
                );
            }
            if slurm_tries.is_some() && warned.load(Ordering::Relaxed) {
                match slurm::requeue_self() {
                    Ok(Some(job)) => eprintln!(
                        "{}: stopped by Slurm's warning signal; requeued job {job}, which resumes from the last checkpoint",
                        spec.short_id()
                    ),
                    Ok(None) => {}
                    Err(e) => eprintln!(
                        "warning: {}: could not requeue ({e}); `harness replicate --slurm` submits it again",
                        spec.short_id()
                    ),
                }
            }
            Ok(ExitCode::from(exit::STOPPED))
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
