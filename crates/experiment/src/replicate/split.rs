//! The jobs × threads split (`--jobs N` or `auto`) and the plan's estimate.

use super::{Jobs, ReplicateError, Reporter, Request, set_threads};
use crate::cost;
use data::FashionMnist;
use spec::cost::Calibrating;
use spec::plan::PlannedTrial;
use std::time::Duration;
use store::TrialState;
use tch::Device;

/// The jobs x threads split (`--jobs N`, or the fastest by the calibration for `auto`)
/// and the estimate of the plan's pending trials (`None` when nothing is pending or the
/// calibration failed, which is said and does not stop the run).
pub(super) fn split_and_estimate(
    request: &Request,
    planned: &[PlannedTrial],
    dataset: &FashionMnist,
    reporter: &mut dyn Reporter,
) -> Result<(usize, i32, Option<spec::cost::Estimate>), ReplicateError> {
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
                    spec::cost::Missing::Calibrate,
                    calibrating!(),
                );
                return Ok((1, threads, e.ok().filter(|_| pending)));
            }
            // The first split (1 job on every core) is calibrated fully; the others only
            // on the workloads that make up a quarter of its time, the rest scaled (see
            // `spec::cost::Missing::Scale`). Splits are compared on the trials that
            // `--max-trial-time` keeps.
            let limit = request.max_trial_time.map(|d| d.as_secs_f64());
            let mut best: Option<(usize, i32, spec::cost::Estimate)> = None;
            let mut reference: Option<spec::cost::Estimate> = None;
            let mut seen = Vec::new();
            for j in (1..=cores).filter(|j| cores.is_multiple_of(*j)) {
                let threads = (cores / j) as i32;
                let missing = match &reference {
                    None => spec::cost::Missing::Calibrate,
                    Some(r) => spec::cost::Missing::Scale {
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
                        seen.push(format!(
                            "{j} x {threads}: {}",
                            progress::format::human(wall)
                        ));
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
        spec::cost::Missing::Calibrate,
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
pub(super) fn estimate_line(e: &spec::cost::Estimate, device: &str) -> String {
    let per: Vec<String> = e
        .per_architecture
        .iter()
        .map(|(arch, (n, s))| {
            format!(
                "{arch}: {n} trial(s), {}",
                progress::format::human(Duration::from_secs_f64(*s))
            )
        })
        .collect();
    let mut line = format!(
        "estimated {} on {device}, {} job(s) x {} threads ({}; calibration {}{})",
        progress::format::human(e.wall),
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
