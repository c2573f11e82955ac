//! The progress panel: the focused trial (epoch, batches, speed, the epoch's and the
//! trial's ETA with evaluation counted, elapsed time, device and threads) and the whole
//! plan (trials recorded, ETA, time spent).

use super::{fit, theme};
use crate::app::App;
use crate::plan_progress::{PlanProgress, plan_progress, running_left_s, variant_pace};
use crate::scan::{Cell, ExperimentState};
use contract::Status;
use progress::eta::{epoch_left_s, pace_of_running};
use progress::format::{MISSING, bar, duration, percent, rate, short_id};
use progress::trial::{Phase, TrialProgress};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};
use store::TrialStatus;

/// `label bar suffix` with the bar filling what the line has left (4 to 24 cells).
fn bar_line(label: &str, fraction: f64, suffix: String, width: u16) -> Line<'static> {
    let used = label.chars().count() + suffix.chars().count() + 2;
    let w = usize::from(width).saturating_sub(used).clamp(4, 24);
    Line::from(vec![
        Span::raw(format!("{label} ")),
        Span::styled(bar(fraction, w), theme::state(TrialStatus::Running)),
        Span::raw(format!(" {suffix}")),
    ])
}

/// The lines about the focused running trial.
fn running_lines(
    e: &ExperimentState,
    cell: &Cell,
    p: &TrialProgress,
    width: u16,
) -> Vec<Line<'static>> {
    let planned = p
        .planned_epochs()
        .unwrap_or(e.experiment.variants[cell.variant].trial.epochs);
    let pace = pace_of_running(p, variant_pace(e, cell.variant));
    let mut lines = Vec::new();
    match &p.phase {
        Phase::Starting | Phase::Ready => {
            lines.push(Line::from("loading data and building the model…"));
            lines.push(Line::from(""));
        }
        Phase::Training {
            batch,
            batches,
            loss,
            images_per_s,
        } => {
            let loss = if loss.is_finite() {
                format!(" · loss {loss:.4}")
            } else {
                String::new()
            };
            lines.push(bar_line(
                &format!("epoch {}/{planned}", p.epoch),
                p.epoch_fraction(),
                format!("{batch}/{batches} batches{loss}"),
                width,
            ));
            let epoch_eta = pace
                .as_ref()
                .and_then(|pace| epoch_left_s(p, pace))
                .map_or(MISSING.to_string(), duration);
            lines.push(Line::from(format!(
                "{} · epoch ETA {epoch_eta} incl. eval",
                rate(*images_per_s)
            )));
        }
        Phase::Evaluating => {
            lines.push(Line::from(format!(
                "epoch {}/{planned} evaluating…",
                p.epoch
            )));
            lines.push(last_epoch_line(p));
        }
        Phase::EpochDone => {
            lines.push(Line::from(format!("epoch {}/{planned} done", p.epoch)));
            lines.push(last_epoch_line(p));
        }
        Phase::Latency => {
            lines.push(Line::from("all epochs done; measuring latency…"));
            lines.push(last_epoch_line(p));
        }
        Phase::Finished(status) => {
            lines.push(Line::from(format!("ended: {}", status_text(status))));
            lines.push(last_epoch_line(p));
        }
    }
    let left = running_left_s(e, cell.variant, p).map_or(MISSING.to_string(), duration);
    lines.push(bar_line(
        "trial",
        p.trial_fraction(),
        format!(
            "{} · elapsed {} · ETA {left}",
            percent(p.trial_fraction()),
            duration(p.elapsed_s())
        ),
        width,
    ));
    lines
}

fn last_epoch_line(p: &TrialProgress) -> Line<'static> {
    match p.last_epoch() {
        Some(m) => Line::from(format!(
            "last epoch: test acc {:.2}% · loss {:.4} · {}",
            m.test_accuracy,
            m.train_loss_mean,
            rate(m.images_per_s)
        )),
        None => Line::from(""),
    }
}

fn status_text(status: &Status) -> String {
    match status {
        Status::Finished => "finished".into(),
        Status::Diverged { epoch, batch } => format!("diverged at epoch {epoch}, batch {batch}"),
        Status::Stopped => "stopped on request".into(),
    }
}

/// The lines about the focused trial, whatever its state (three lines).
fn trial_lines(app: &App, e: &ExperimentState, cell: &Cell, width: u16) -> Vec<Line<'static>> {
    let variant = &e.experiment.variants[cell.variant];
    let record = e.record(&cell.id);
    let live = app.focused_live().map(|l| &l.progress);
    let device = live
        .and_then(|p| p.start.as_ref())
        .map(|s| format!(" · {}, {}", s.device, threads(s.threads)))
        .or_else(|| {
            record.map(|r| {
                format!(
                    " · {}, {}",
                    r.provenance.device,
                    threads(r.provenance.threads)
                )
            })
        })
        .unwrap_or_default();
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} seed {}", variant.name, cell.seed),
            theme::title(),
        ),
        Span::styled(format!(" · {}", short_id(&cell.id)), theme::dim()),
        Span::raw(device),
    ])];
    if cell.state == TrialStatus::Running
        && let Some(job) = e.slurm_job(&cell.id)
    {
        lines[0]
            .spans
            .push(Span::styled(format!(" · Slurm job {job}"), theme::dim()));
    }
    match (cell.state, live, record) {
        (TrialStatus::Running, Some(p), _) => lines.extend(running_lines(e, cell, p, width)),
        (TrialStatus::Running, None, _) => lines.push(Line::from("running; reading its events…")),
        (TrialStatus::Done | TrialStatus::Diverged, _, Some(r)) => {
            let result = match (&r.status, r.final_accuracy) {
                (Status::Finished, Some(acc)) => format!(
                    "finished: test acc {acc:.2}% (best {:.2}%)",
                    r.best_accuracy.unwrap_or(acc)
                ),
                (status, _) => status_text(status),
            };
            lines.push(Line::styled(result, theme::state(cell.state)));
            let speed = r
                .epochs
                .last()
                .map_or(String::new(), |m| format!(" · {}", rate(m.images_per_s)));
            lines.push(Line::from(format!(
                "{} epochs in {}{speed}",
                r.epochs.len(),
                duration(r.wall_time_s)
            )));
        }
        (TrialStatus::Failed, _, _) => {
            lines.push(Line::styled(
                "left incomplete by a failed or killed run",
                theme::error(),
            ));
            lines.push(Line::from("the next replicate redoes it (r)"));
        }
        _ if e.is_left_out(cell) => {
            let words = e.not_run(cell.variant).unwrap_or_default();
            lines.push(Line::styled(words, theme::dim()));
            lines.push(Line::from("a replicate started here (r) leaves it out too"));
        }
        _ => {
            lines.push(Line::styled("pending", theme::dim()));
            lines.push(Line::from("r starts or resumes the replicate"));
        }
    }
    lines
}

fn plan_line(plan: &PlanProgress, width: u16) -> Line<'static> {
    let fraction = if plan.total == 0 {
        0.0
    } else {
        plan.recorded as f64 / plan.total as f64
    };
    let eta = plan.left_s.map_or(MISSING.to_string(), duration);
    let eta = if plan.running > 0 || plan.to_run == 0 {
        format!("ETA {eta}")
    } else {
        format!("idle, {eta} to run")
    };
    let left_out = if plan.left_out > 0 {
        format!(" · {} not run here", plan.left_out)
    } else {
        String::new()
    };
    bar_line(
        "plan ",
        fraction,
        format!(
            "{}/{}{left_out} · {eta} · spent {}",
            plan.recorded,
            plan.total,
            duration(plan.spent_s)
        ),
        width,
    )
}

/// Draws the panel.
pub fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let block = Block::bordered().title(Line::styled(" Progress ", theme::title()));
    let inner = block.inner(area);
    let Some(e) = app.experiment() else {
        block.render(area, buf);
        return;
    };
    let mut lines = match app.focused() {
        Some(cell) => trial_lines(app, e, cell, inner.width),
        None => Vec::new(),
    };
    let height = usize::from(inner.height);
    lines.resize(height.saturating_sub(1), Line::from(""));
    let live = |id: &str| app.watcher.live(id).map(|l| &l.progress);
    lines.push(plan_line(&plan_progress(e, &live), inner.width));
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            if text.chars().count() > usize::from(inner.width) {
                Line::from(fit(&text, inner.width))
            } else {
                l
            }
        })
        .collect();
    Paragraph::new(lines).block(block).render(area, buf);
}

/// `1 thread`, `2 threads`.
fn threads(n: i32) -> String {
    format!("{n} thread{}", if n == 1 { "" } else { "s" })
}
