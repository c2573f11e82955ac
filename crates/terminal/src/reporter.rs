//! The [`Reporter`] of `harness replicate` on a terminal: lines above the progress bars,
//! warnings on standard error, calibration lines, the bars themselves, and signals
//! forwarded to the executor while trials run (a first SIGINT stops after the current
//! epoch, a second one, SIGTERM or SIGHUP now; see [`crate::signals`]).

use crate::bars::{PlanState, Printer};
use crate::signals;
use experiment::executor::{Control, Report};
use experiment::replicate::Reporter;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use spec::cost::Calibrating;

/// The terminal's side of a plan's run (see the module's documentation).
pub struct TerminalReporter {
    printer: Printer,
    signals: Option<signal_hook::iterator::Handle>,
}

impl TerminalReporter {
    /// A reporter drawing on this terminal (plain lines when piped).
    pub fn new() -> TerminalReporter {
        TerminalReporter {
            printer: Printer::new(),
            signals: None,
        }
    }
}

impl Default for TerminalReporter {
    fn default() -> Self {
        TerminalReporter::new()
    }
}

impl Reporter for TerminalReporter {
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
                .map(|d| format!("; about {} left", progress::format::human(d)))
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
