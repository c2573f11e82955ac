//! `harness export tensorboard`: the store as TensorBoard runs (see
//! [`reporting::tensorboard_export`]), with what was left out of the means said.

use crate::common;
use crate::report_cmd::records;
use reporting::tensorboard_export::{self, Exported};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::record::TrialRecord;

/// The records to export: every trial of the store when no config is given (under the
/// experiment and variant that ran it), else each experiment's trials as `harness report`
/// selects them, named after that experiment's variants (a trial shared by several
/// experiments appears in each experiment's folder).
fn selected(configs: &[PathBuf], runs: &Path) -> anyhow::Result<Vec<TrialRecord>> {
    let store = common::store(runs)?;
    if configs.is_empty() {
        let found = store.records()?;
        for warning in found.warnings() {
            eprintln!("warning: {warning}");
        }
        return Ok(found.records);
    }
    let mut all = Vec::new();
    for config in configs {
        let experiment = common::experiment(config, &[], None)?;
        let mut seen = HashSet::new();
        for record in records(&store, &experiment)? {
            let digest = &record.config_digest;
            let mut named: Vec<TrialRecord> = experiment
                .variants
                .iter()
                .filter(|v| store::id::config_digest(v.trial.config()) == *digest)
                .map(|v| TrialRecord {
                    experiment: experiment.name.clone(),
                    variant: v.name.clone(),
                    ..record.clone()
                })
                .collect();
            if named.is_empty() {
                // This experiment's own trial under other settings: its own names.
                named.push(record);
            }
            all.extend(
                named
                    .into_iter()
                    .filter(|r| seen.insert((r.variant.clone(), r.id.clone()))),
            );
        }
    }
    Ok(all)
}

/// What the export wrote and left out, one line each.
fn describe(exported: &Exported, out: &Path) -> Vec<String> {
    let mut lines = vec![format!(
        "wrote {} trial run(s) and {} mean run(s) under {}{}",
        exported.trials.len(),
        exported
            .aggregates
            .iter()
            .filter(|a| a.dir.is_some())
            .count(),
        out.display(),
        if exported.replaced > 0 {
            format!(
                " (replaced {} event file(s) of an earlier export)",
                exported.replaced
            )
        } else {
            String::new()
        }
    )];
    for a in &exported.aggregates {
        match &a.dir {
            Some(dir) => lines.push(format!(
                "  {}: mean of {} trial(s) -> {}",
                a.group,
                a.trials,
                dir.display()
            )),
            None => lines.push(format!("  {}: no mean run (every trial diverged)", a.group)),
        }
        if !a.diverged.is_empty() {
            let which: Vec<String> = a
                .diverged
                .iter()
                .map(|(seed, id, epoch, batch)| {
                    format!(
                        "seed {seed} ({}, epoch {epoch}, batch {batch})",
                        id.get(..8).unwrap_or(id)
                    )
                })
                .collect();
            lines.push(format!(
                "    {} diverged trial(s) left out of the mean and sd: {}; their own runs keep the epochs they finished",
                a.diverged.len(),
                which.join(", ")
            ));
        }
        if a.non_finite > 0 {
            lines.push(format!(
                "    {} non-finite value(s) of finished trials left out of the mean and sd of their epoch (kept, as NaN or inf, in the trials' runs)",
                a.non_finite
            ));
        }
    }
    if !exported.stale.is_empty() {
        lines.push(format!(
            "  emptied {} run folder(s) of an earlier export that no trial of this one fills:",
            exported.stale.len()
        ));
        for dir in &exported.stale {
            lines.push(format!("    {}", dir.display()));
        }
    }
    lines.push(format!("view with: tensorboard --logdir {}", out.display()));
    lines
}

/// `harness export tensorboard`.
pub fn run(configs: &[PathBuf], runs: &Path, out: &Path) -> anyhow::Result<ExitCode> {
    let records = selected(configs, runs)?;
    if records.is_empty() {
        println!("no trials to export in {}", runs.display());
        return Ok(ExitCode::SUCCESS);
    }
    let exported = tensorboard_export::export(&records, out, &experiment::provenance::host_name())?;
    for line in describe(&exported, out) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
