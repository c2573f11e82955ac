//! The state of one experiment in the store, kept up to date by cheap rescans: the grid
//! of variants × seeds with each trial's state, the counts, the records (each
//! `summary.json` read once) and the live statistics.
//!
//! A rescan lists the store `runs/trials/` and `runs/trials/.work/` and checks the
//! claim of each trial in the work folder; nothing else is read unless it is new. A record
//! is the experiment's when its configuration digest is one of the variants' (whichever
//! experiment ran it: shared trials show in every experiment that plans them) or when the
//! experiment ran it itself.
//!
//! A cell's trial is found by its planned id (the plan's id with the canonical dataset
//! digest). Trials the plan does not name are placed by what they say about themselves:
//! a record by its configuration digest and seed, a running trial by its `trial.json`
//! (the variant and seed it was started as, when this experiment started it). So extra seeds (`replicate --seeds N`)
//! show as extra columns.

use crate::statistics::{StatsRow, rows};
use contract::is_trial_id;
use contract::layout::SUMMARY;
use spec::Experiment;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use store::read_record;
use store::record::TrialRecord;
use store::{Store, TrialState, id, lease};

use store::TrialStatus;

/// One trial of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Index of the variant.
    pub variant: usize,
    /// The seed.
    pub seed: u64,
    /// The trial id shown in this cell.
    pub id: String,
    /// Its state.
    pub state: TrialStatus,
}

/// Trial counts of an experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Finished.
    pub done: usize,
    /// Running now.
    pub running: usize,
    /// Still to run.
    pub pending: usize,
    /// Not started, of variants the store's last run left out as too slow for its machine
    /// (see [`ExperimentState::left_out`]): not counted as still to run.
    pub left_out: usize,
    /// Left incomplete by a failed or killed run.
    pub failed: usize,
    /// Diverged.
    pub diverged: usize,
}

impl Counts {
    /// Counts of `cells`; `left_out` says which unstarted ones were left out.
    pub fn of(cells: &[Cell], left_out: impl Fn(&Cell) -> bool) -> Self {
        let mut c = Counts::default();
        for cell in cells {
            match cell.state {
                TrialStatus::Pending if left_out(cell) => c.left_out += 1,
                TrialStatus::Pending | TrialStatus::Queued => c.pending += 1,
                TrialStatus::Running => c.running += 1,
                TrialStatus::Done => c.done += 1,
                TrialStatus::Diverged => c.diverged += 1,
                TrialStatus::Failed => c.failed += 1,
            }
        }
        c
    }

    /// All trials of the grid.
    pub fn total(&self) -> usize {
        self.done + self.running + self.pending + self.left_out + self.failed + self.diverged
    }

    /// Trials with a result (finished or diverged).
    pub fn recorded(&self) -> usize {
        self.done + self.diverged
    }
}

/// One experiment as the store shows it.
#[derive(Debug)]
pub struct ExperimentState {
    /// The experiment, as its file resolves.
    pub experiment: Experiment,
    /// The seeds shown: the planned ones and any others the store holds.
    pub seeds: Vec<u64>,
    /// Row-major `variants × seeds`.
    pub cells: Vec<Cell>,
    /// Counts of the cells.
    pub counts: Counts,
    /// Every readable record of the store that belongs to the experiment, sorted by
    /// variant, seed and id.
    pub records: Vec<TrialRecord>,
    /// The statistics rows, one per variant.
    pub stats: Vec<StatsRow>,
    /// Per variant, the ids of the finished records the statistics pool.
    pub pooled: Vec<Vec<String>>,
    /// Per variant, one trial's seconds as the command line's cost model estimates it
    /// (the calibration cached for the split of the experiment's last run; see
    /// `spec::cost::cached_trial_seconds`); `None` where there is none.
    pub calibrated_s: Vec<Option<f64>>,
    calibrated_at: Option<std::time::Instant>,
    /// The variants the store's last run of this protocol left out because one trial was
    /// estimated over its `--max-trial-time` (`estimate.json`'s `skipped`, as the report
    /// reads it): their unstarted trials show as "not run on this machine", the report's
    /// words, and a replicate started from the dashboard passes the same limit.
    pub left_out: Vec<spec::cost::Skipped>,
    dataset_digest: String,
    by_id: HashMap<String, usize>,
    planned: HashMap<String, (usize, u64)>,
    /// Each variant's config digest, in variant order (where an unplanned record goes).
    wanted: Vec<String>,
    /// Which records of the store are the experiment's: the store's one rule.
    members: store::Membership,
    headers: HashMap<String, (String, u64)>,
    /// Records of the store read once and found to belong to other experiments.
    others: BTreeSet<String>,
    work: Vec<(String, TrialState)>,
    jobs: HashMap<String, String>,
}

impl ExperimentState {
    /// An experiment not scanned yet (every planned trial pending).
    pub fn new(experiment: Experiment, dataset_digest: &str) -> Self {
        let wanted = experiment
            .variants
            .iter()
            .map(|v| id::config_digest(v.trial.config()))
            .collect();
        let (stats, pooled) = rows(&experiment, &[]);
        let members = experiment.membership();
        let mut state = ExperimentState {
            seeds: experiment.seeds.clone(),
            experiment,
            cells: Vec::new(),
            counts: Counts::default(),
            records: Vec::new(),
            stats,
            pooled,
            calibrated_s: Vec::new(),
            calibrated_at: None,
            left_out: Vec::new(),
            dataset_digest: dataset_digest.to_string(),
            by_id: HashMap::new(),
            planned: HashMap::new(),
            wanted,
            members,
            headers: HashMap::new(),
            others: BTreeSet::new(),
            work: Vec::new(),
            jobs: HashMap::new(),
        };
        state.rebuild_cells();
        state
    }

    /// Marks the variants `skipped` names as left out (see [`ExperimentState::left_out`]).
    pub fn set_left_out(&mut self, skipped: Vec<spec::cost::Skipped>) {
        self.left_out = skipped;
        self.apply_left_out();
        self.rebuild_cells();
    }

    /// Why variant `variant`'s unstarted trials are not run here, in the report's words.
    pub fn not_run(&self, variant: usize) -> Option<String> {
        let name = &self.experiment.variants.get(variant)?.name;
        self.left_out
            .iter()
            .find(|s| &s.variant == name)
            .map(reporting::publish::not_run_words)
    }

    /// Whether `cell` is an unstarted trial of a left-out variant.
    pub fn is_left_out(&self, cell: &Cell) -> bool {
        cell.state == TrialStatus::Pending && self.not_run(cell.variant).is_some()
    }

    /// The `--max-trial-time` of the run that left variants out, for a replicate started
    /// from the dashboard (`1800s`).
    pub fn max_trial_time(&self) -> Option<String> {
        let limit = self.left_out.first()?.limit_s;
        Some(format!("{}s", limit.round()))
    }

    /// A left-out variant with no trials gets the report's words instead of "no trials".
    fn apply_left_out(&mut self) {
        for v in 0..self.stats.len() {
            if self.stats[v].n == "0"
                && !self.stats[v].baseline
                && let Some(words) = self.not_run(v)
            {
                self.stats[v].verdict = words;
            }
        }
    }

    /// The record with this id.
    pub fn record(&self, id: &str) -> Option<&TrialRecord> {
        self.by_id.get(id).map(|&i| &self.records[i])
    }

    /// The cell of variant `variant` and the `col`-th seed.
    pub fn cell(&self, variant: usize, col: usize) -> Option<&Cell> {
        if col >= self.seeds.len() {
            return None;
        }
        self.cells.get(variant * self.seeds.len() + col)
    }

    /// The Slurm job (`<array>_<task>`) running trial `id`, if a Slurm task holds it.
    pub fn slurm_job(&self, id: &str) -> Option<&str> {
        self.jobs.get(id).map(String::as_str)
    }

    /// The cells that are running.
    pub fn running(&self) -> impl Iterator<Item = &Cell> {
        self.cells
            .iter()
            .filter(|c| c.state == TrialStatus::Running)
    }

    /// The finished records pooled for variant `variant`.
    pub fn pooled_records(&self, variant: usize) -> Vec<&TrialRecord> {
        self.pooled
            .get(variant)
            .map(|ids| ids.iter().filter_map(|id| self.record(id)).collect())
            .unwrap_or_default()
    }

    fn planned_id(&mut self, variant: usize, seed: u64) -> String {
        let config = self.experiment.variants[variant].trial.config();
        let id = id::trial_id(config, seed, &self.dataset_digest);
        self.planned.insert(id.clone(), (variant, seed));
        id
    }

    /// Reads what changed in the store; returns whether anything did.
    pub fn rescan(&mut self, store: &Store) -> bool {
        let name = self.experiment.name.clone();
        if self
            .calibrated_at
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(10))
        {
            self.calibrated_at = Some(std::time::Instant::now());
            let dir = store.experiment_dir(&name);
            self.calibrated_s = self
                .experiment
                .variants
                .iter()
                .map(|v| spec::cost::cached_trial_seconds(&dir, v.trial.config()))
                .collect();
        }
        let records_changed = self.scan_records(store);
        let (work, jobs) = scan_work(store, &self.by_id);
        let jobs_changed = jobs != self.jobs;
        self.jobs = jobs;
        for (id, _) in &work {
            if !self.planned.contains_key(id)
                && !self.headers.contains_key(id)
                && let Some(found) = read_trial_start(&store.work_dir(id)).and_then(|start| {
                    (start.experiment == name).then_some((start.variant, start.seed))
                })
            {
                self.headers.insert(id.clone(), found);
            }
        }
        let work_changed = work != self.work;
        self.work = work;
        if records_changed {
            let (stats, pooled) = rows(&self.experiment, &self.records);
            self.stats = stats;
            self.pooled = pooled;
            self.apply_left_out();
        }
        let before = std::mem::take(&mut self.cells);
        self.rebuild_cells();
        records_changed || work_changed || jobs_changed || before != self.cells
    }

    /// Adds new records and forgets deleted ones; returns whether any changed.
    fn scan_records(&mut self, store: &Store) -> bool {
        let dir = store.trials_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            let changed = !self.records.is_empty();
            self.records.clear();
            self.by_id.clear();
            return changed;
        };
        let mut present = BTreeSet::new();
        let mut added = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().to_string();
            if file_name.starts_with('.') {
                continue;
            }
            if self.by_id.contains_key(&file_name) {
                present.insert(file_name);
                continue;
            }
            if self.others.contains(&file_name) {
                continue;
            }
            let summary = entry.path().join(SUMMARY);
            if summary.is_file()
                && let Ok(record) = read_record(&summary)
            {
                if self.members.admits(&record) {
                    present.insert(file_name);
                    added.push(record);
                } else {
                    self.others.insert(file_name);
                }
            }
        }
        let removed = self.records.iter().any(|r| !present.contains(&r.id));
        if added.is_empty() && !removed {
            return false;
        }
        self.records.retain(|r| present.contains(&r.id));
        self.records.extend(added);
        self.records.sort_by(|a, b| {
            (a.variant.as_str(), a.seed, a.id.as_str()).cmp(&(
                b.variant.as_str(),
                b.seed,
                b.id.as_str(),
            ))
        });
        self.by_id = self
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        true
    }

    /// Where an unplanned record belongs: the variant with its exact settings (whatever
    /// the experiment that ran it called it), and its seed.
    fn place_record(&self, r: &TrialRecord) -> Option<(usize, u64)> {
        let v = self.wanted.iter().position(|d| *d == r.config_digest)?;
        Some((v, r.seed))
    }

    /// Where an unplanned trial of the work folder belongs, by its `trial.json`.
    fn place_work(&self, id: &str) -> Option<(usize, u64)> {
        let (variant, seed) = self.headers.get(id)?;
        let v = self
            .experiment
            .variants
            .iter()
            .position(|v| &v.name == variant)?;
        Some((v, *seed))
    }

    fn rebuild_cells(&mut self) {
        // Where each record and each trial of the work folder belongs.
        let placed_records: Vec<(usize, u64, usize)> = self
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let at = self
                    .planned
                    .get(&r.id)
                    .copied()
                    .or_else(|| self.place_record(r));
                at.map(|(v, s)| (v, s, i))
            })
            .collect();
        let placed_work: Vec<(usize, u64, String, TrialState)> = self
            .work
            .iter()
            .filter_map(|(id, st)| {
                let at = self
                    .planned
                    .get(id)
                    .copied()
                    .or_else(|| self.place_work(id));
                at.map(|(v, s)| (v, s, id.clone(), *st))
            })
            .collect();
        // Seeds: the plan's, then any others the store holds for these settings.
        let mut seeds: BTreeSet<u64> = self.experiment.seeds.iter().copied().collect();
        seeds.extend(placed_records.iter().map(|&(_, s, _)| s));
        seeds.extend(placed_work.iter().map(|(_, s, _, _)| *s));
        let seeds: Vec<u64> = seeds.into_iter().collect();

        let mut cells = Vec::with_capacity(self.experiment.variants.len() * seeds.len());
        for variant in 0..self.experiment.variants.len() {
            for &seed in &seeds {
                let id = self.planned_id(variant, seed);
                cells.push(Cell {
                    variant,
                    seed,
                    id,
                    state: TrialStatus::Pending,
                });
            }
        }
        let n_seeds = seeds.len();
        let index = |v: usize, s: u64| seeds.iter().position(|&x| x == s).map(|c| v * n_seeds + c);
        // Trials with the planned id first, then the others into cells that have nothing
        // better (a record beats a running trial, which beats a left-over).
        for exact in [true, false] {
            for &(v, s, i) in &placed_records {
                let r = &self.records[i];
                let Some(cell) = index(v, s).map(|at| &mut cells[at]) else {
                    continue;
                };
                let takes = if exact {
                    cell.id == r.id
                } else {
                    cell.id != r.id
                        && matches!(cell.state, TrialStatus::Pending | TrialStatus::Failed)
                };
                if takes {
                    cell.id = r.id.clone();
                    cell.state = if r.diverged() {
                        TrialStatus::Diverged
                    } else {
                        TrialStatus::Done
                    };
                }
            }
            for (v, s, id, st) in &placed_work {
                let Some(cell) = index(*v, *s).map(|at| &mut cells[at]) else {
                    continue;
                };
                let running = *st == TrialState::Running;
                let takes = if exact {
                    cell.id == *id && cell.state == TrialStatus::Pending
                } else {
                    cell.id != *id
                        && (cell.state == TrialStatus::Pending
                            || (running && cell.state == TrialStatus::Failed))
                };
                if takes {
                    cell.id = id.clone();
                    cell.state = if running {
                        TrialStatus::Running
                    } else {
                        TrialStatus::Failed
                    };
                }
            }
        }
        self.seeds = seeds;
        self.counts = Counts::of(&cells, |c| self.is_left_out(c));
        self.cells = cells;
    }
}

/// The trials in the work folder that are not recorded: running (claimed) or left over;
/// and the Slurm job of each one a Slurm task holds (from its claim).
fn scan_work(
    store: &Store,
    recorded: &HashMap<String, usize>,
) -> (Vec<(String, TrialState)>, HashMap<String, String>) {
    let dir = store.work_root();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return (Vec::new(), HashMap::new());
    };
    let mut jobs = HashMap::new();
    let mut work: Vec<(String, TrialState)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().to_string();
            if !is_trial_id(&id) || recorded.contains_key(&id) || store.is_done(&id) {
                return None;
            }
            match store.holder(&id) {
                lease::LeaseState::Held(holder) => {
                    if let Some(job) = holder.and_then(|h| h.job) {
                        jobs.insert(id.clone(), job);
                    }
                    Some((id, TrialState::Running))
                }
                _ => Some((id, TrialState::Pending)),
            }
        })
        .collect();
    work.sort_by(|a, b| a.0.cmp(&b.0));
    (work, jobs)
}

/// Who started the trial in `work_dir` (its `trial.json`), if it says.
fn read_trial_start(work_dir: &Path) -> Option<contract::TrialStart> {
    let text = std::fs::read_to_string(work_dir.join(contract::layout::TRIAL_START)).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures as fixture;

    /// A trial another experiment ran with the same settings fills this experiment's cell
    /// (the store is shared); one with other settings does not show.
    #[test]
    fn a_trial_shared_with_another_experiment_fills_the_cell() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let mut state = ExperimentState::new(e.clone(), &data::canonical_digest());
        let mut shared = fixture::record(&e, "flip", 0, &[70.0, 81.0]);
        shared.experiment = "augmentation".into();
        shared.variant = "horizontal flip".into();
        fixture::write_record(&store, &shared).unwrap();
        let mut other = fixture::record(&e, "base", 1, &[70.0, 60.0]);
        other.config.epochs += 1;
        other.config_digest = id::config_digest(&other.config);
        other.id = id::trial_id(&other.config, 1, &data::canonical_digest());
        other.experiment = "augmentation".into();
        fixture::write_record(&store, &other).unwrap();
        assert!(state.rescan(&store));
        assert_eq!(state.cell(1, 0).unwrap().state, TrialStatus::Done);
        assert_eq!(state.cell(1, 0).unwrap().id, shared.id);
        assert_eq!(state.cell(0, 1).unwrap().state, TrialStatus::Pending);
        assert_eq!(
            state.records.len(),
            1,
            "only the shared record is this experiment's"
        );
        assert_eq!(state.stats[1].n, "1");
        assert!(!state.rescan(&store), "the other record is read once");
    }

    #[test]
    fn the_grid_follows_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (_, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let mut state = ExperimentState::new(e.clone(), &data::canonical_digest());
        assert_eq!(state.counts.pending, 4);
        assert!(!state.rescan(&store), "an empty store changes nothing");

        fixture::write_record(&store, &fixture::record(&e, "base", 0, &[70.0, 80.0])).unwrap();
        fixture::write_record(
            &store,
            &fixture::diverge(fixture::record(&e, "flip", 1, &[70.0]), 1),
        )
        .unwrap();
        let running = fixture::start(&store, &e, "base", 1);
        let left_over = fixture::start(&store, &e, "flip", 0);
        drop(left_over); // its process died: the claim is gone, the folder stays
        assert!(state.rescan(&store));
        let states: Vec<TrialStatus> = state.cells.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            vec![
                TrialStatus::Done,
                TrialStatus::Running,
                TrialStatus::Failed,
                TrialStatus::Diverged
            ]
        );
        assert_eq!(
            state.counts,
            Counts {
                done: 1,
                running: 1,
                pending: 0,
                left_out: 0,
                failed: 1,
                diverged: 1
            }
        );
        assert_eq!(state.cell(0, 1).unwrap().id, running.id);
        assert_eq!(state.stats[0].n, "1");
        assert!(!state.rescan(&store), "nothing new");

        // A trial a Slurm task holds shows its job (read from the claim).
        assert_eq!(state.slurm_job(&running.id), None);
        let lease = running.dir().with_extension("lock");
        let mut holder: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&lease).unwrap().trim()).unwrap();
        holder["job"] = serde_json::json!("77_3");
        std::fs::write(&lease, holder.to_string()).unwrap();
        assert!(state.rescan(&store));
        assert_eq!(state.slurm_job(&running.id), Some("77_3"));

        // An extra seed, run with `replicate --seeds 3`, shows as a third column.
        let extra = fixture::start(&store, &e, "flip", 2);
        assert!(state.rescan(&store));
        assert_eq!(state.seeds, vec![0, 1, 2]);
        assert_eq!(state.cell(1, 2).unwrap().state, TrialStatus::Running);
        assert_eq!(state.cell(1, 2).unwrap().id, extra.id);
        assert_eq!(
            state.counts.pending, 1,
            "base seed 2 is not planned but shown"
        );
    }
}
