//! `harness replicate`: plans variants x seeds, skips what the store already has, runs the
//! rest (each trial in its own `harness worker` process, `--jobs` at a time), then writes
//! the report.
//!
//! Each trial runs in a child process so that trials in parallel never share libtorch's
//! global random generator (dropout), a crash takes down one trial only, and killing
//! anything at any moment leaves the store consistent (see `experiment::store`).

use crate::cli::{ReplicateArgs, RunOpts, WorkerArgs};
use crate::common;
use crate::progress::{Printer, format_duration};
use crate::report_cmd;
use anyhow::{Context, bail};
use experiment::plan::{PlannedTrial, counts, plan};
use experiment::store::StopRequest;
use experiment::trial_run::{Outcome, TrialSpec, run_trial};
use experiment::{Store, TrialState};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use trainer::{Event, Status};

/// Worker exit code: the trial was done or claimed by someone else; nothing ran.
const EXIT_SKIPPED: i32 = 3;
/// Worker exit code: stopped on request; nothing recorded.
const EXIT_STOPPED: i32 = 4;

enum Message {
    Event(usize, Event),
    Stderr(usize, String),
    Closed(usize),
}

struct Running {
    trial: PlannedTrial,
    child: Child,
    stderr: Vec<String>,
    open_streams: usize,
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
    let device = common::device(&args.run.device)?;
    let threads = common::set_threads(args.run.threads, args.jobs)?;
    let store = Store::new(&args.runs);
    if !args.dry_run {
        store.ensure_writable(&experiment.name)?;
    }
    let digest = common::dataset(&args.run)?.digest;
    let planned = plan(&experiment, &digest, &store);
    let (done, running, pending) = counts(&planned);
    let mut printer = Printer::new();
    printer.line(&format!(
        "{} ({}): {} variants x {} seeds = {} trials: {done} done, {running} running elsewhere, {pending} to run on {} ({} job(s) x {threads} threads)",
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
    let mut stopping = false;
    let (tx, rx) = mpsc::channel();
    let mut slots: Vec<Option<Running>> = (0..args.jobs).map(|_| None).collect();
    let (mut finished, mut diverged, mut failed, mut skipped, mut stopped) = (0, 0, 0, 0, 0);
    let started = Instant::now();
    loop {
        if !stopping && store.stop_request(&experiment.name).is_some() {
            stopping = true;
            printer.line(&format!(
                "stop requested: no new trials; {} not started",
                queue.len()
            ));
            queue.clear();
        }
        for (slot, place) in slots.iter_mut().enumerate() {
            if place.is_none()
                && let Some(trial) = queue.pop_front()
            {
                printer.line(&format!(
                    "[{}/{}] {} {} seed {}: starting",
                    total - queue.len(),
                    total,
                    trial.spec.short_id(),
                    trial.spec.variant.name,
                    trial.spec.seed
                ));
                *place = Some(spawn(&args, trial, slot, threads, &tx)?);
            }
        }
        if slots.iter().all(Option::is_none) {
            break;
        }
        let Ok(message) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        match message {
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
                match status.code() {
                    Some(0) => match experiment::store::read_record(
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
                    Some(EXIT_STOPPED) => {
                        stopped += 1;
                        printer.line(&format!(
                            "{}: stopped on request (incomplete; reruns later)",
                            spec.short_id()
                        ));
                    }
                    Some(EXIT_SKIPPED) => {
                        skipped += 1;
                        printer.line(&format!(
                            "{}: done or claimed by another process meanwhile; skipped",
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
    store.clear_stop(&experiment.name);
    printer.line(&format!(
        "{}: ran {total} trial(s) in {}: {finished} finished, {diverged} diverged, {failed} failed, {skipped} skipped, {stopped} stopped",
        experiment.name,
        format_duration(started.elapsed())
    ));
    for file in report_cmd::write_all(&experiment, &store, &args.reports, &args.readme)? {
        printer.line(&format!("wrote {}", file.display()));
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The child side: runs one trial and prints its events as JSON lines.
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let WorkerArgs {
        config,
        variant,
        seed,
        expect_id,
        runs,
        run,
    } = args;
    let RunOpts {
        sets,
        device,
        threads,
        ..
    } = &run;
    let experiment = common::experiment(&config, sets, None)?;
    let variant = experiment
        .variant(&variant)
        .with_context(|| format!("no variant `{variant}`"))?;
    let device = common::device(device)?;
    common::set_threads(*threads, 1)?;
    let dataset = common::dataset(&run)?;
    let spec = TrialSpec::new(&experiment, variant, seed, &dataset.digest);
    if spec.id != expect_id {
        bail!(
            "{}: the configuration changed since the plan was made (id {} != {})",
            config.display(),
            spec.short_id(),
            experiment::id::short(&expect_id)
        );
    }
    let store = Store::new(&runs);
    let Some(claim) = store.claim(&experiment.name, &spec.id)? else {
        return Ok(ExitCode::from(EXIT_SKIPPED as u8));
    };
    for warning in claim.warnings() {
        eprintln!("warning: {warning}");
    }
    let stop = std::sync::Arc::new(trainer::Stop::new());
    watch_stop_requests(store.clone(), experiment.name.clone(), stop.clone());
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
            claim.release();
            Ok(ExitCode::from(EXIT_STOPPED as u8))
        }
    }
}

/// Polls the store's stop request for `experiment` twice a second and raises `stop`.
fn watch_stop_requests(store: Store, experiment: String, stop: std::sync::Arc<trainer::Stop>) {
    std::thread::spawn(move || {
        loop {
            match store.stop_request(&experiment) {
                Some(StopRequest::Now) => stop.now.store(true, Ordering::Relaxed),
                Some(StopRequest::AfterEpoch) => stop.after_epoch.store(true, Ordering::Relaxed),
                None => {}
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
}
