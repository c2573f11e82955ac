//! The latency file of an experiment (the measuring is `experiment::quiet_latency`):
//! latency measured when nothing else of the plan runs: after `replicate` has recorded
//! every trial (or on `harness report --latency`), each distinct network of the experiment
//! is timed once, on the whole machine, in [`ROUNDS`] rounds of the trainer's latency
//! measurement (10 warm-up and 50 timed forward passes, eval mode, no grad) of the
//! network in its deployed form, the form a trial times ([`trainer::measure_deployed_latency`]:
//! batch norm folded, in the faster of oneDNN's layout and channels-last for each batch).
//! Until 2026-12 this phase timed the unfolded network and so came out slower than the
//! trials' own figures under load (30.4 against 21-24 ms); until 2026-12-05 it timed
//! oneDNN's layout only ("batch norm folded, oneDNN layout": the committed study's
//! figures). A figure of an older form is kept and shown, but not reused: the next quiet
//! phase measures the network again.
//!
//! Latency is a property of the network and the machine, not of the trained weights, so
//! equal networks share one measurement (equal latencies by construction) and a fresh
//! network built with seed 0 stands in for the trained ones.
//!
//! The median of the rounds' medians is the figure; the lowest and highest round medians
//! are its spread. A figure is marked when its spread is wide (highest > 1.25 x lowest)
//! or when other processes used more than a quarter of one core during the measurement
//! (from `/proc/stat` minus this process's own time).
//!
//! Kept in `runs/<experiment>/latency.json`, by deployed network ([`network_key`]); a
//! report takes one figure per network from every experiment's file ([`store_wide`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::{StoreError, write_atomic};
use trainer::TrialConfig;

/// Rounds per network.
pub const ROUNDS: usize = 5;
/// A spread wider than this ratio (highest / lowest round median) is marked.
pub const WIDE: f64 = 1.25;
/// Other processes' CPU use (in cores) above which a measurement is marked as under load.
pub const BUSY_CORES: f64 = 0.25;

/// One figure with its spread over rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median of the rounds' medians, ms.
    pub median_ms: f64,
    /// Lowest round median, ms.
    pub low_ms: f64,
    /// Highest round median, ms.
    pub high_ms: f64,
}

impl Spread {
    /// The spread of the rounds' `medians` (at least one).
    pub fn of(mut medians: Vec<f64>) -> Spread {
        medians.sort_by(f64::total_cmp);
        let n = medians.len();
        let median = if n % 2 == 1 {
            medians[n / 2]
        } else {
            (medians[n / 2 - 1] + medians[n / 2]) / 2.0
        };
        Spread {
            median_ms: median,
            low_ms: medians[0],
            high_ms: medians[n - 1],
        }
    }

    /// Whether the rounds disagree by more than [`WIDE`].
    pub fn wide(&self) -> bool {
        self.high_ms > WIDE * self.low_ms
    }
}

/// The quiet measurement of one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// One image.
    pub batch1: Spread,
    /// One evaluation batch.
    pub eval: Spread,
    /// Images in the evaluation batch.
    pub eval_batch: usize,
    /// Device label.
    pub device: String,
    /// libtorch threads.
    pub threads: i32,
    /// Host name.
    pub host: String,
    /// Cores' worth of CPU other processes used while it ran.
    pub other_cores_busy: f64,
    /// Unix seconds.
    pub measured_at: u64,
    /// The form of the network timed ([`FORM`]); empty in files written before the form
    /// was recorded, when this phase timed the unfolded network.
    #[serde(default)]
    pub form: String,
}

/// The form this phase times: the deployed one, as a trial's own figure
/// ([`trainer::measure_deployed_latency`]).
pub const FORM: &str = "batch norm folded, faster of oneDNN layout and channels-last";

impl Measured {
    /// Whether another run may reuse this figure for its network: measured in today's form
    /// ([`FORM`]). A figure of the unfolded network (files from before the form was
    /// recorded) is measured again by the next quiet phase.
    pub fn reusable(&self) -> bool {
        self.form == FORM
    }

    /// Whether this figure is a better one to reuse than `other`: a clean one over one
    /// with a caveat, then the newer.
    pub fn better_than(&self, other: &Measured) -> bool {
        (self.caveat().is_none(), self.measured_at) > (other.caveat().is_none(), other.measured_at)
    }

    /// Why this figure is marked, if it is: a wide spread or other load.
    pub fn caveat(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.batch1.wide() || self.eval.wide() {
            why.push("wide spread".to_string());
        }
        if self.other_cores_busy > BUSY_CORES {
            why.push(format!(
                "under load ({:.2} cores busy elsewhere)",
                self.other_cores_busy
            ));
        }
        (!why.is_empty()).then(|| why.join(", "))
    }
}

/// What decides a forward pass's time: the deployed network (architecture, width, kernel,
/// batch norm: its layers and shapes; dropout is not part of it, and it runs in fp32
/// whatever the training precision) and the evaluation batch. Equal deployed networks share
/// one figure in every table.
pub fn network_key(trial: &TrialConfig) -> String {
    let m = &trial.model;
    let text = serde_json::json!({
        "deployed": {
            "architecture": m.architecture,
            "channels": m.channels,
            "kernel_size": m.kernel_size,
            "batch_norm": m.batch_norm,
        },
        "eval_batch_size": trial.eval_batch_size,
    })
    .to_string();
    digest8(&text)
}

/// The key of files written before 2026-12-06, which hashed the whole model section
/// (dropout included), so that networks differing only in dropout had figures of their own.
/// Read, never written.
pub fn legacy_network_key(trial: &TrialConfig) -> String {
    let text = serde_json::json!({"model": trial.model, "eval_batch_size": trial.eval_batch_size})
        .to_string();
    digest8(&text)
}

fn digest8(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One figure per deployed network for the whole store: every experiment folder's
/// `latency.json` under `root`, its keys (today's or [`legacy_network_key`]s of `configs`)
/// taken to [`network_key`], and where several figures exist for one network, the one
/// [`Measured::better_than`] the others (a clean one, then the newest). Every report of the
/// store uses it, so that a network shows the same latency in every table. Unreadable
/// files and keys of no known configuration are skipped.
pub fn store_wide<'a>(
    root: &Path,
    configs: impl IntoIterator<Item = &'a TrialConfig>,
) -> BTreeMap<String, Measured> {
    let mut to_network: BTreeMap<String, String> = BTreeMap::new();
    for c in configs {
        let key = network_key(c);
        to_network.insert(legacy_network_key(c), key.clone());
        to_network.insert(key.clone(), key);
    }
    let mut best: BTreeMap<String, Measured> = BTreeMap::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        for (key, m) in load(&dir) {
            let Some(network) = to_network.get(&key) else {
                continue;
            };
            if best.get(network).is_none_or(|known| m.better_than(known)) {
                best.insert(network.clone(), m);
            }
        }
    }
    best
}

/// `runs/<experiment>/latency.json`.
pub fn path(experiment_dir: &Path) -> PathBuf {
    experiment_dir.join(contract::layout::LATENCY)
}

/// The kept measurements by network key (empty if none or a bad copy; see [`file`] for
/// one that says so).
pub fn load(experiment_dir: &Path) -> BTreeMap<String, Measured> {
    file(experiment_dir).good().unwrap_or_default()
}

/// The kept measurements through the side-file reader ([`store::side_file`]).
pub fn file(experiment_dir: &Path) -> store::side_file::SideFile<BTreeMap<String, Measured>> {
    store::side_file::read(&path(experiment_dir))
}

/// Writes the measurements atomically.
pub fn save(experiment_dir: &Path, all: &BTreeMap<String, Measured>) -> Result<(), StoreError> {
    let mut json = serde_json::to_string_pretty(all).expect("serialises");
    json.push('\n');
    write_atomic(&path(experiment_dir), json.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Networks that differ only in dropout are one deployed network: one key, and from
    /// files of several experiments (written with the older per-dropout keys) one figure,
    /// the same for every table.
    #[test]
    fn one_deployed_network_gets_one_figure_in_every_table() {
        let spread = |ms: f64| Spread {
            median_ms: ms,
            low_ms: ms,
            high_ms: ms,
        };
        let at = |ms: f64, when: u64| Measured {
            batch1: spread(ms),
            eval: spread(ms * 100.0),
            eval_batch: 256,
            device: "cpu".into(),
            threads: 2,
            host: "vm".into(),
            other_cores_busy: 0.0,
            measured_at: when,
            form: FORM.to_string(),
        };
        let mut d0 = TrialConfig::default();
        d0.model.dropout = 0.0;
        let d2 = TrialConfig::default();
        let mut d5 = TrialConfig::default();
        d5.model.dropout = 0.5;
        let mut wider = TrialConfig::default();
        wider.model.channels = 64;
        assert_eq!(network_key(&d0), network_key(&d5));
        assert_ne!(legacy_network_key(&d0), legacy_network_key(&d5));
        assert_ne!(network_key(&d0), network_key(&wider));
        let root = tempfile::tempdir().unwrap();
        let dropout = root.path().join("dropout");
        let architectures = root.path().join("architectures");
        save(
            &dropout,
            &BTreeMap::from([
                (legacy_network_key(&d0), at(0.745, 10)),
                (legacy_network_key(&d2), at(0.733, 20)),
                (legacy_network_key(&d5), at(0.647, 30)),
            ]),
        )
        .unwrap();
        save(
            &architectures,
            &BTreeMap::from([
                (legacy_network_key(&d2), at(0.733, 20)),
                (network_key(&wider), at(2.0, 5)),
            ]),
        )
        .unwrap();
        let all = store_wide(root.path(), [&d0, &d2, &d5, &wider]);
        assert_eq!(all.len(), 2);
        // The newest clean figure, whichever file or dropout rate it was filed under.
        assert_eq!(all[&network_key(&d2)].batch1.median_ms, 0.647);
        assert_eq!(all[&network_key(&wider)].batch1.median_ms, 2.0);
    }

    #[test]
    fn the_figure_is_the_median_of_round_medians_and_wide_spreads_are_marked() {
        let s = Spread::of(vec![1.0, 1.1, 0.9, 1.05, 3.0]);
        assert_eq!((s.median_ms, s.low_ms, s.high_ms), (1.05, 0.9, 3.0));
        assert!(s.wide());
        assert!(!Spread::of(vec![1.0, 1.1]).wide());
    }

    /// Before, the quiet phase timed the unfolded network (30.4 ms at batch 256 where the
    /// trials' deployed form took 21-24 ms): such figures carry no form and are not reused;
    /// among reusable ones a clean figure beats a newer one taken under load.
    #[test]
    fn only_figures_of_the_deployed_form_are_reused_and_clean_ones_first() {
        let spread = |ms: f64| Spread {
            median_ms: ms,
            low_ms: ms,
            high_ms: ms,
        };
        let old: Measured = serde_json::from_value(serde_json::json!({
            "batch1": spread(0.3), "eval": spread(30.4), "eval_batch": 256, "device": "cpu",
            "threads": 2, "host": "vm", "other_cores_busy": 0.0, "measured_at": 100,
        }))
        .unwrap();
        assert_eq!(old.form, "");
        assert!(!old.reusable());
        let clean = Measured {
            form: FORM.to_string(),
            eval: spread(22.0),
            ..old.clone()
        };
        assert!(clean.reusable());
        let loaded = Measured {
            other_cores_busy: 1.0,
            measured_at: 200,
            ..clean.clone()
        };
        assert!(loaded.caveat().is_some());
        assert!(clean.better_than(&loaded), "clean beats newer under load");
        assert!(!loaded.better_than(&clean));
        let newer = Measured {
            measured_at: 300,
            ..clean.clone()
        };
        assert!(newer.better_than(&clean));
    }
}
