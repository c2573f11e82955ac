//! The jobs × threads split (`--jobs N` or `auto`) and the plan's estimate.

use super::{Jobs, Local, ReplicateError, Reporter, set_threads};
use crate::cost;
use data::FashionMnist;
use spec::cost::{Calibrating, Estimate, Missing};
use spec::plan::PlannedTrial;
use std::time::Duration;
use store::TrialState;
use tch::Device;

/// The jobs x threads split (`--jobs N`, or the fastest by the calibration for `auto`)
/// and the estimate of the plan's pending trials (`None` when nothing is pending or the
/// calibration failed, which is said and does not stop the run).
pub(super) fn split_and_estimate(
    request: &Local<'_>,
    planned: &[PlannedTrial],
    dataset: &FashionMnist,
    reporter: &mut dyn Reporter,
) -> Result<(usize, i32, Option<Estimate>), ReplicateError> {
    let trials = Trials {
        planned,
        dataset,
        device: request.device,
        pending: planned.iter().any(|t| t.state != TrialState::Done),
    };
    match request.jobs {
        Jobs::Count(jobs) => trials.given_split(jobs, request.threads, reporter),
        Jobs::Auto if trials.device != Device::Cpu => trials.one_job_on_the_gpu(reporter),
        Jobs::Auto => trials.fastest_split(request.max_trial_time, reporter),
    }
}

/// The plan's trials to split and estimate, and where they run.
struct Trials<'a> {
    planned: &'a [PlannedTrial],
    dataset: &'a FashionMnist,
    device: Device,
    /// Whether any trial is still to run.
    pending: bool,
}

impl Trials<'_> {
    /// [`cost::estimate`] of the trials with `jobs` x `threads`, the calibration's
    /// progress to `reporter`.
    fn estimate(
        &self,
        jobs: usize,
        threads: i32,
        missing: Missing<'_>,
        reporter: &mut dyn Reporter,
    ) -> Result<Estimate, cost::CostError> {
        cost::estimate(
            self.planned,
            self.dataset,
            self.device,
            jobs,
            threads,
            missing,
            &mut |c: Calibrating<'_>| reporter.calibrating(&c),
        )
    }

    /// `--jobs N`: `threads` (or the cores shared) per job, and the estimate.
    fn given_split(
        &self,
        jobs: usize,
        threads: Option<i32>,
        reporter: &mut dyn Reporter,
    ) -> Result<(usize, i32, Option<Estimate>), ReplicateError> {
        let threads = set_threads(threads, jobs)?;
        if !self.pending {
            return Ok((jobs, threads, None));
        }
        match self.estimate(jobs, threads, Missing::Calibrate, reporter) {
            Ok(e) => Ok((jobs, threads, Some(e))),
            Err(e) => {
                reporter.line(&format!("warning: no estimate: {e}"));
                Ok((jobs, threads, None))
            }
        }
    }

    /// `--jobs auto` on a GPU: 1 job, since parallel jobs share one GPU, which a one-job
    /// calibration cannot model.
    fn one_job_on_the_gpu(
        &self,
        reporter: &mut dyn Reporter,
    ) -> Result<(usize, i32, Option<Estimate>), ReplicateError> {
        reporter.line("--jobs auto: on a GPU, 1 job (jobs would share the device)");
        let threads = set_threads(None, 1)?;
        let e = self.estimate(1, threads, Missing::Calibrate, reporter);
        Ok((1, threads, e.ok().filter(|_| self.pending)))
    }

    /// `--jobs auto` on the CPU: each split of the cores into jobs x threads estimated,
    /// the fastest picked. The first split (1 job on every core) is calibrated fully; the
    /// others only on the workloads that make up a quarter of its time, the rest scaled
    /// (see `spec::cost::Missing::Scale`). Splits are compared on the trials that
    /// `--max-trial-time` keeps.
    fn fastest_split(
        &self,
        max_trial_time: Option<Duration>,
        reporter: &mut dyn Reporter,
    ) -> Result<(usize, i32, Option<Estimate>), ReplicateError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let limit = max_trial_time.map(|d| d.as_secs_f64());
        let mut best: Option<(usize, i32, Estimate)> = None;
        let mut reference: Option<Estimate> = None;
        let mut seen = Vec::new();
        for j in (1..=cores).filter(|j| cores.is_multiple_of(*j)) {
            let threads = (cores / j) as i32;
            let missing = match &reference {
                None => Missing::Calibrate,
                Some(r) => Missing::Scale {
                    reference: r,
                    share: 0.25,
                    limit,
                },
            };
            match self.estimate(j, threads, missing, reporter) {
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
        Ok((j, threads, self.pending.then_some(e)))
    }
}

/// `estimated 3h 20m on cpu, 1 job x 2 threads (...)`.
pub(super) fn estimate_line(e: &Estimate, device: &str) -> String {
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
