//! `harness replicate`: plans variants x seeds, skips what the store already has, runs the
//! rest on the local executor (`experiment::executor`: each trial in its own
//! `harness worker` process, `--jobs` at a time) or submits it to Slurm
//! (`crate::slurm_cmd`), then writes the report; and `harness worker`, the process that
//! runs one trial.
//!
//! `replicate` exits 0 only when every planned trial is recorded. Signals are handled as
//! [`crate::signals`] describes.

use crate::cli::{JobsArg, ReplicateArgs, WorkerArgs};
use crate::common;
use crate::progress::{PlanState, Printer};
use crate::signals::{self, exit};
use anyhow::{Context, bail};
use experiment::cost::Calibrating;
use experiment::executor::{Control, Report};
use experiment::replicate::{self, Jobs, Outcome, Planned, Reporter, Request};
use experiment::worker_process::{self as worker, WorkerEnd};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::io::Write;
use std::process::ExitCode;
use store::Store;

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
        if args.halfwidth.is_some() {
            bail!(
                "--halfwidth with --slurm: run the pilot first, then decide (not supported in one submission)"
            );
        }
        return crate::slurm_cmd::submit(&args, &experiments);
    }
    let jobs = match args.jobs {
        JobsArg::Count(n) => Jobs::Count(n),
        JobsArg::Auto => Jobs::Auto,
    };
    // The flags are checked against each other before the device, the store or the
    // dataset is touched.
    replicate::check_flags(experiments.len(), jobs, args.run.threads, args.halfwidth)?;
    let device = args.run.device.resolve()?;
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

/// The child side: runs one trial (`experiment::worker_process::run`) and prints its events as
/// JSON lines. With `--slurm` (an array task), each attempt is recorded in the store, a
/// trial whose attempts failed `--max-tries` times is refused, and a task stopped by
/// Slurm's warning signal requeues itself (`experiment::worker_process::SlurmTask`).
pub fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let store = Store::new(&args.runs);
    let task = args
        .slurm
        .then(|| worker::SlurmTask::new(&store, &args.expect_experiment, &args.expect_id));
    if let Some(task) = &task {
        task.check_tries(args.max_tries)?;
    }
    let stop = std::sync::Arc::new(trainer::Stop::new());
    let loaded = (|| {
        let warned = signals::watch_worker(stop.clone()).context("installing signal handlers")?;
        let experiment = common::experiment(&args.config, &args.run.sets, None)?;
        let device = args.run.device.resolve()?;
        common::set_threads(args.run.threads, 1)?;
        let dataset = common::dataset(&args.run)?;
        anyhow::Ok((warned, experiment, device, dataset))
    })();
    let (warned, experiment, device, dataset) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(warning) = task
                .as_ref()
                .and_then(|t| t.record(Some(cluster::slurm::AttemptEnd::Failed(format!("{e:#}")))))
            {
                eprintln!("{warning}");
            }
            return Err(e);
        }
    };
    let job = worker::WorkerJob {
        config: &args.config,
        experiment: &experiment,
        expect_experiment: &args.expect_experiment,
        variant: &args.variant,
        seed: args.seed,
        expect_id: &args.expect_id,
        store: &store,
        dataset: &dataset,
        device,
        stop,
        warned,
    };
    let mut stdout = std::io::stdout().lock();
    let on_event = &mut |event: &trainer::Event| {
        let line = serde_json::to_string(event).expect("events serialise");
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    };
    let note = &mut |line: String| eprintln!("{line}");
    let end = match &task {
        Some(task) => task.run(&job, on_event, note)?,
        None => worker::run(&job, &mut || {}, on_event, note)?,
    };
    Ok(match end {
        WorkerEnd::Recorded => ExitCode::SUCCESS,
        WorkerEnd::Stopped { .. } => ExitCode::from(exit::STOPPED),
        WorkerEnd::Skipped => ExitCode::from(exit::SKIPPED),
    })
}
