//! `harness replicate`: plans variants x seeds, skips what the store already has, runs the
//! rest on the local executor (`experiment::executor`: each trial in its own
//! `harness worker` process, `--jobs` at a time) or submits it to Slurm
//! (`crate::slurm_cmd`), then writes the report; and `harness worker`, the process that
//! runs one trial.
//!
//! `replicate` exits 0 only when every planned trial is recorded. Signals are handled as
//! [`crate::signals`] describes.

use crate::cli::{JobsArg, ReplicateArgs, RunOpts, WorkerArgs};
use crate::common;
use crate::progress::{PlanState, Printer};
use crate::signals::{self, exit};
use anyhow::{Context, bail};
use experiment::Store;
use experiment::cost::Calibrating;
use experiment::executor::{Control, Report};
use experiment::replicate::{self, Jobs, Outcome, Planned, Reporter, Request};
use experiment::slurm::{self, Attempt, AttemptEnd};
use experiment::store::StopRequest;
use experiment::trial_run::{self, TrialSpec, run_trial};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The command line's side of a plan's run: lines above the progress bars, warnings on
/// standard error, calibration lines, the bars themselves, and signals forwarded to the
/// executor while trials run.
pub struct CliReporter {
    printer: Printer,
    signals: Option<signal_hook::iterator::Handle>,
}

impl CliReporter {
    /// A reporter drawing on this terminal (plain lines when piped).
    pub fn new() -> CliReporter {
        CliReporter {
            printer: Printer::new(),
            signals: None,
        }
    }
}

impl Reporter for CliReporter {
    fn line(&mut self, text: &str) {
        self.printer.line(text);
    }

    fn warning(&mut self, text: &str) {
        eprintln!("warning: {text}");
    }

    fn calibrating(&mut self, c: &Calibrating<'_>) {
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
                .map(|d| format!("; about {} left", experiment::cost::human(d)))
                .unwrap_or_default()
        );
    }

    fn schedule(&mut self, report: Report<'_>) {
        match report {
            Report::Line(line) | Report::Warning(line) => self.printer.line(&line),
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
                self.printer
                    .trial(&trial.id, &label, event, progress, trial_left);
                self.printer.plan(&PlanState {
                    counts,
                    left: plan_left,
                });
            }
        }
    }

    fn running(&mut self, control: Control) -> std::io::Result<()> {
        let mut signals = signals::listen(&[SIGINT, SIGTERM, SIGHUP])?;
        self.signals = Some(signals.handle());
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
        Ok(())
    }

    fn ran(&mut self) {
        if let Some(handle) = self.signals.take() {
            handle.close();
        }
        self.printer.clear();
    }
}

/// The exit code of a plan's outcome: 0 when every planned trial is recorded, 4 when a
/// signal or a stop request ended it early (rerun to resume), 1 when trials failed.
pub fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::DryRun | Outcome::Complete => ExitCode::from(exit::SUCCESS),
        Outcome::Signalled { .. }
        | Outcome::Incomplete {
            stop_requested: true,
            ..
        } => ExitCode::from(exit::STOPPED),
        Outcome::Incomplete { .. } => ExitCode::FAILURE,
    }
}

pub fn run(args: ReplicateArgs) -> anyhow::Result<ExitCode> {
    let mut experiments: Vec<Planned> = Vec::new();
    for path in &args.configs {
        experiments.push(Planned {
            path: path.clone(),
            experiment: common::experiment(path, &args.run.sets, args.seeds)?,
        });
    }
    if args.slurm {
        if experiments.len() > 1 {
            bail!(
                "--slurm takes one experiment file at a time (submit each; trials they share still run once, the store's claims see to it)"
            );
        }
        if args.halfwidth.is_some() {
            bail!(
                "--halfwidth with --slurm: run the pilot first, then decide (not supported in one submission)"
            );
        }
        return crate::slurm_cmd::submit(&args, &experiments[0].experiment);
    }
    let jobs = match args.jobs {
        JobsArg::Count(n) => Jobs::Count(n),
        JobsArg::Auto => Jobs::Auto,
    };
    // The flags are checked against each other before the device, the store or the
    // dataset is touched.
    replicate::check_flags(experiments.len(), jobs, args.run.threads, args.halfwidth)?;
    let device = common::device(&args.run.device)?;
    let store = common::store(&args.runs)?;
    let request = Request {
        experiments,
        overrides: common::overrides(&args.run.sets)?,
        sets: args.run.sets.clone(),
        store,
        device,
        device_arg: args.run.device.to_string(),
        jobs,
        threads: args.run.threads,
        max_trial_time: args.max_trial_time,
        halfwidth: args.halfwidth,
        alpha: args.alpha,
        dry_run: args.dry_run,
        data: common::data_source(&args.run),
        reports: args.reports.clone(),
        readme: args.readme.clone(),
        program: std::env::current_exe().context("locating the harness binary")?,
    };
    let outcome = replicate::run(&request, &mut CliReporter::new())?;
    Ok(exit_code(&outcome))
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
        trial_run::Outcome::Recorded(_) => match claim.publish() {
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
        trial_run::Outcome::Stopped => {
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
