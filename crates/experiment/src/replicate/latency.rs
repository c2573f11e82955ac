//! The quiet latency phase: each distinct network timed once, when nothing else runs.

use super::{LoadedExperiment, Reporter};
use crate::quiet_latency;
use data::FashionMnist;
use reporting::latency_file::network_key;
use spec::Variant;
use std::collections::HashMap;
use store::Store;
use tch::Device;

/// After every trial is recorded and nothing else of the plan runs: times each network
/// of the experiments that their `runs/<name>/latency.json` lacks (on all cores; see
/// [`crate::quiet_latency`]), each distinct network once however many experiments
/// show it. Variants `left_out` says were not run (`--max-trial-time`) are not timed
/// either: a network too slow to train here may take hours for 300 timed passes.
pub fn quiet_latency_phase(
    experiments: &[LoadedExperiment],
    store: &Store,
    dataset: &FashionMnist,
    device: Device,
    reporter: &mut dyn Reporter,
    left_out: &dyn Fn(&LoadedExperiment, &Variant) -> bool,
) -> Result<(), store::StoreError> {
    let label = trainer::device_label(device);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    // One figure per network for the whole store: what any experiment's latency.json
    // holds for this device and thread count (a clean one over one taken under load, then
    // the newest, where several do) is reused, and
    // written into every experiment that shows the network, so that the same network
    // shows the same latency in every table. Only a figure of the deployed form is reused
    // (`Measured::reusable`).
    let mut fresh: HashMap<String, reporting::latency_file::Measured> = HashMap::new();
    for dir in std::fs::read_dir(store.root())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir())
    {
        for (key, m) in reporting::latency_file::load(&dir) {
            if m.device != label || m.threads != cores || !m.reusable() {
                continue;
            }
            let better = fresh.get(&key).is_none_or(|known| m.better_than(known));
            if better {
                fresh.insert(key, m);
            }
        }
    }
    for p in experiments {
        let dir = store.experiment_dir(&p.experiment.name);
        let mut all = reporting::latency_file::load(&dir);
        let mut changed = false;
        for v in p.experiment.variants.iter().filter(|v| !left_out(p, v)) {
            let key = network_key(v.trial.config());
            if let Some(known) = fresh.get(&key)
                && all.get(&key) == Some(known)
            {
                continue;
            }
            let m = fresh.entry(key.clone()).or_insert_with(|| {
                tch::set_num_threads(cores);
                let m = quiet_latency::measure(&v.trial, dataset, device);
                reporter.line(&format!(
                    "latency of {} {}'s network, nothing else of the plan running ({label}, {cores} threads): batch 1 {:.3} ms [{:.3}, {:.3}], batch {} {:.3} ms [{:.3}, {:.3}]{}",
                    p.experiment.name,
                    v.name,
                    m.batch1.median_ms,
                    m.batch1.low_ms,
                    m.batch1.high_ms,
                    m.eval_batch,
                    m.eval.median_ms,
                    m.eval.low_ms,
                    m.eval.high_ms,
                    m.caveat().map(|c| format!(" ({c})")).unwrap_or_default()
                ));
                m
            });
            all.insert(key, m.clone());
            changed = true;
        }
        if changed {
            reporting::latency_file::save(&dir, &all)?;
        }
    }
    Ok(())
}
