//! Stein's two stages: the pilot, the decision kept in the store, the extra seeds.

use super::{LoadedExperiment, Local, Outcome, ReplicateError, Reporter, execute};
use reporting::seeding::{self, SeedingDecision};
use spec::plan::PlannedTrial;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::Path;

/// `--halfwidth W`: the experiment's seeds are the pilot; Stein's rule, applied to the
/// pilot's accuracies once, decides each variant's total `N`, and only the extra seeds run.
/// The decision is written before any extra seed runs and is reused (never re-decided) by
/// later runs, so adding seeds can never depend on the results after the pilot.
pub(super) fn sequential(
    request: &Local<'_>,
    planned: &LoadedExperiment,
    halfwidth: f64,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let pilot = &planned.experiment;
    let n0 = pilot.seeds.len();
    if n0 < 2 {
        return Err(ReplicateError::Request(format!(
            "--halfwidth needs a pilot of at least 2 seeds per variant (--seeds {n0})"
        )));
    }
    let dir = request.store.experiment_dir(&pilot.name);
    let decision = match seeding::read(&dir)? {
        Some(kept) => check_kept(kept, request, halfwidth, &dir, n0, reporter)?,
        None => match decide_after_pilot(request, planned, halfwidth, &dir, reporter)? {
            ControlFlow::Continue(decided) => decided,
            ControlFlow::Break(outcome) => return Ok(outcome),
        },
    };
    run_extra_seeds(request, planned, &decision, n0, reporter)
}

/// The decision kept in `dir` by an earlier run, refused unless made for this run's pilot
/// size `n0`, `halfwidth` and alpha; said.
fn check_kept(
    kept: SeedingDecision,
    request: &Local<'_>,
    halfwidth: f64,
    dir: &Path,
    n0: usize,
    reporter: &mut dyn Reporter,
) -> Result<SeedingDecision, ReplicateError> {
    if kept.n0 != n0 || kept.halfwidth != halfwidth || kept.alpha != request.alpha {
        return Err(ReplicateError::Refused(format!(
            "{}: a seeding decision exists for a pilot of {} seeds, W = {}, alpha = {} \
             (this run asks for {n0}, {halfwidth}, {}); rerun with those values, or delete \
             the file to decide anew from a new pilot",
            seeding::path(dir).display(),
            kept.n0,
            kept.halfwidth,
            kept.alpha,
            request.alpha
        )));
    }
    reporter.line(&seeding::report_line(Some(&kept), n0));
    Ok(kept)
}

/// Runs the pilot, then decides by Stein's rule and keeps the decision in `dir` (a dry
/// run only says it); breaks with the pilot's outcome when it is incomplete.
fn decide_after_pilot(
    request: &Local<'_>,
    planned: &LoadedExperiment,
    halfwidth: f64,
    dir: &Path,
    reporter: &mut dyn Reporter,
) -> Result<ControlFlow<Outcome, SeedingDecision>, ReplicateError> {
    let n0 = planned.experiment.seeds.len();
    let outcome = execute(request, std::slice::from_ref(planned), &|_| true, reporter)?;
    if !outcome.is_success() {
        reporter.line("pilot incomplete: no seeding decision yet (run the same command again)");
        return Ok(ControlFlow::Break(outcome));
    }
    let Some(pilots) = pilot_accuracies(request, planned, reporter)? else {
        return Ok(ControlFlow::Break(outcome));
    };
    let decided = seeding::decide(&pilots, halfwidth, request.alpha)?;
    if request.dry_run {
        // A dry run writes nothing to the store: the real run decides the same
        // way from the same pilot and keeps the decision.
        reporter.line(&format!(
            "dry run: the decision the real run would keep in {} (not written)",
            seeding::path(dir).display()
        ));
    } else {
        seeding::write(dir, &decided)?;
    }
    reporter.line(&seeding::report_line(Some(&decided), n0));
    Ok(ControlFlow::Continue(decided))
}

/// Per variant, its name and its pilot seeds' final accuracies in seed order.
type PilotAccuracies = Vec<(String, Vec<f64>)>;

/// Each variant's final accuracies over the pilot's seeds, in seed order, from the store;
/// refused when a pilot seed has none (`None`, said, in a dry run: nothing to decide yet).
fn pilot_accuracies(
    request: &Local<'_>,
    planned: &LoadedExperiment,
    reporter: &mut dyn Reporter,
) -> Result<Option<PilotAccuracies>, ReplicateError> {
    let pilot = &planned.experiment;
    let n0 = pilot.seeds.len();
    let found = request.store.records_for(&pilot.membership())?;
    for w in found.warnings() {
        reporter.warning(&w);
    }
    let selected = reporting::report::select(pilot, &found.records);
    let mut pilots = Vec::new();
    for v in &selected {
        let mut accuracies: Vec<(u64, f64)> = v
            .finished
            .iter()
            .filter(|r| pilot.seeds.contains(&r.seed))
            .filter_map(|r| r.final_accuracy.map(|a| (r.seed, a)))
            .collect();
        accuracies.sort_by_key(|&(seed, _)| seed);
        if accuracies.len() != n0 && request.dry_run {
            reporter.line(
                "dry run: the pilot is not complete, so no seeding decision yet (the real run makes it after the pilot); nothing written",
            );
            return Ok(None);
        }
        if accuracies.len() != n0 {
            return Err(ReplicateError::Refused(format!(
                "{} {}: {} of {n0} pilot seeds finished with an accuracy (diverged trials \
                 have none); Stein's rule needs the whole pilot",
                pilot.name,
                v.variant.name,
                accuracies.len()
            )));
        }
        pilots.push((
            v.variant.name.clone(),
            accuracies.into_iter().map(|(_, a)| a).collect(),
        ));
    }
    Ok(Some(pilots))
}

/// The second stage: the experiment reloaded with the largest decided `N` seeds, each
/// variant running its first `N` (those of the pilot are done).
fn run_extra_seeds(
    request: &Local<'_>,
    planned: &LoadedExperiment,
    decision: &SeedingDecision,
    n0: usize,
    reporter: &mut dyn Reporter,
) -> Result<Outcome, ReplicateError> {
    let max_n = u32::try_from(decision.max_n())
        .map_err(|_| ReplicateError::Refused("Stein's N does not fit".into()))?;
    let mut full = spec::config::load(&planned.path, &request.overrides)?;
    full.set_seed_count(max_n)
        .map_err(ReplicateError::Request)?;
    let index: HashMap<u64, usize> = full
        .seeds
        .iter()
        .enumerate()
        .map(|(i, &s)| (s, i))
        .collect();
    let full = LoadedExperiment {
        path: planned.path.clone(),
        experiment: full,
    };
    execute(
        request,
        std::slice::from_ref(&full),
        &|t: &PlannedTrial| {
            let wanted = decision.total_n(&t.spec.variant.name).unwrap_or(n0);
            index.get(&t.spec.seed).is_some_and(|&i| i < wanted)
        },
        reporter,
    )
}
