//! Stein's two stages: the pilot, the decision kept in the store, the extra seeds.

use super::{Outcome, Planned, ReplicateError, Reporter, Request, execute};
use reporting::seeding;
use spec::plan::PlannedTrial;
use std::collections::HashMap;

/// `--halfwidth W`: the experiment's seeds are the pilot; Stein's rule, applied to the
/// pilot's accuracies once, decides each variant's total `N`, and only the extra seeds run.
/// The decision is written before any extra seed runs and is reused (never re-decided) by
/// later runs, so adding seeds can never depend on the results after the pilot.
pub(super) fn sequential(
    request: &Request,
    planned: &Planned,
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
    let store = &request.store;
    let dir = store.experiment_dir(&pilot.name);
    let decision = match seeding::read(&dir)? {
        Some(d) => {
            if d.n0 != n0 || d.halfwidth != halfwidth || d.alpha != request.alpha {
                return Err(ReplicateError::Refused(format!(
                    "{}: a seeding decision exists for a pilot of {} seeds, W = {}, alpha = {} \
                     (this run asks for {n0}, {halfwidth}, {}); rerun with those values, or delete \
                     the file to decide anew from a new pilot",
                    seeding::path(&dir).display(),
                    d.n0,
                    d.halfwidth,
                    d.alpha,
                    request.alpha
                )));
            }
            reporter.line(&seeding::report_line(Some(&d), n0));
            d
        }
        None => {
            let outcome = execute(request, std::slice::from_ref(planned), &|_| true, reporter)?;
            if !outcome.is_success() {
                reporter
                    .line("pilot incomplete: no seeding decision yet (run the same command again)");
                return Ok(outcome);
            }
            let found = store.records_for(&pilot.membership())?;
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
                    return Ok(outcome);
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
            let d = seeding::decide(&pilots, halfwidth, request.alpha)?;
            if request.dry_run {
                // A dry run writes nothing to the store: the real run decides the same
                // way from the same pilot and keeps the decision.
                reporter.line(&format!(
                    "dry run: the decision the real run would keep in {} (not written)",
                    seeding::path(&dir).display()
                ));
            } else {
                seeding::write(&dir, &d)?;
            }
            reporter.line(&seeding::report_line(Some(&d), n0));
            d
        }
    };
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
    let full = Planned {
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
