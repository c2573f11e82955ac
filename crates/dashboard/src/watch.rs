//! The [`Watcher`]: follows the run store for a list of experiment files.
//!
//! Two speeds. Every [`Watcher::poll`] reads only the bytes appended to the files of the
//! running trials (`events.jsonl`, `train.log`): one `fstat` each when nothing changed.
//! Every [`Watcher::rescan_every`] (1 s) it also lists the experiment folders, reloads
//! experiment files whose modification time changed, picks up new files in the config
//! folder, and starts or stops following trials as they start and end.

use crate::scan::ExperimentState;
use crate::tail::Tail;
use contract::layout::{EVENTS, LOG};
use progress::trial::TrialProgress;
use spec::Override;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use store::Store;
use store::TrialStatus;

/// Lines of a trial's log kept in memory.
pub const LOG_LINES: usize = 200;

/// A running trial being followed.
#[derive(Debug)]
pub struct LiveTrial {
    events: Tail,
    log: Tail,
    /// Its progress, from its events.
    pub progress: TrialProgress,
    /// The last [`LOG_LINES`] lines of its `train.log`.
    pub log_lines: VecDeque<String>,
}

impl LiveTrial {
    fn new(dir: &Path) -> Self {
        LiveTrial {
            events: Tail::new(dir.join(EVENTS)),
            log: Tail::new(dir.join(LOG)),
            progress: TrialProgress::default(),
            log_lines: VecDeque::new(),
        }
    }

    /// Reads what was appended; returns whether anything was.
    fn poll(&mut self) -> bool {
        let mut changed = false;
        if let Ok(lines) = self.events.poll() {
            changed |= !lines.is_empty();
            for line in &lines {
                self.progress.apply_line(line);
            }
        }
        if let Ok(lines) = self.log.poll() {
            changed |= !lines.is_empty();
            push_lines(&mut self.log_lines, lines);
        }
        changed
    }

    /// Starts over when the work folder was wiped and made again.
    fn check_replaced(&mut self) {
        if self.events.replaced() || self.log.replaced() {
            self.events.reopen();
            self.log.reopen();
            self.progress = TrialProgress::default();
            self.log_lines.clear();
        }
    }

    /// Bytes of `events.jsonl` read so far.
    pub fn events_offset(&self) -> u64 {
        self.events.offset()
    }
}

fn push_lines(buffer: &mut VecDeque<String>, lines: Vec<String>) {
    for line in lines {
        if buffer.len() == LOG_LINES {
            buffer.pop_front();
        }
        buffer.push_back(line);
    }
}

/// The last [`LOG_LINES`] lines of a whole file (for trials that are not running).
pub fn read_last_lines(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// One experiment file and what it gives.
#[derive(Debug)]
pub struct Entry {
    /// The file.
    pub path: PathBuf,
    /// Its canonical path (to list a file named twice once).
    key: PathBuf,
    /// Its modification time when last loaded.
    modified: Option<SystemTime>,
    /// Named on the command line (kept even if it leaves the config folder).
    pinned: bool,
    /// The experiment, or why the file cannot be used.
    pub state: Result<Box<ExperimentState>, String>,
    /// The `--set` overrides it was loaded with: the command line's, or, when it gave
    /// none, those the store's last run of the experiment recorded
    /// (`runs/<name>/estimate.json`), so that the trials show as they were planned.
    pub sets: Vec<String>,
    /// Where the overrides came from, when the store's run gave them (for the header).
    pub protocol_from_store: bool,
}

impl Entry {
    fn load(
        path: PathBuf,
        pinned: bool,
        digest: &str,
        overrides: &[Override],
        store: &Store,
    ) -> Self {
        let modified = modified(&path);
        let mut sets: Vec<String> = overrides.iter().map(ToString::to_string).collect();
        let mut protocol_from_store = false;
        let mut state = spec::config::load(&path, overrides).map_err(|e| e.to_string());
        let kept = state
            .as_ref()
            .ok()
            .and_then(|e| spec::cost::kept(&store.experiment_dir(&e.name)));
        if overrides.is_empty()
            && let Ok(e) = &state
            && let Some(last) = spec::last_run::last_run(e, &store.experiment_dir(&e.name))
        {
            sets = last.sets;
            protocol_from_store = true;
            state = Ok(last.experiment);
        }
        let state = state.map(|e| {
            let mut state = Box::new(ExperimentState::new(e, digest));
            // The variants that run left out, where the trials shown are that run's.
            if let Some(kept) = kept.filter(|k| k.sets == sets) {
                state.set_left_out(kept.skipped);
            }
            state
        });
        Entry {
            key: canonical(&path),
            path,
            modified,
            pinned,
            state,
            sets,
            protocol_from_store,
        }
    }

    /// The experiment's name, or the file's stem when it does not load.
    pub fn name(&self) -> String {
        match &self.state {
            Ok(s) => s.experiment.name.clone(),
            Err(_) => self.path.file_stem().map_or_else(
                || self.path.display().to_string(),
                |s| s.to_string_lossy().to_string(),
            ),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Follows the store for a set of experiment files.
#[derive(Debug)]
pub struct Watcher {
    store: Store,
    config_dir: Option<PathBuf>,
    /// The `--set` overrides every experiment is loaded with (as `replicate` was given).
    overrides: Vec<Override>,
    digest: String,
    /// The experiments, in display order (command-line files first, then the folder's).
    pub entries: Vec<Entry>,
    live: HashMap<String, LiveTrial>,
    last_rescan: Option<Instant>,
    /// How often folders are listed again.
    pub rescan_every: Duration,
}

impl Watcher {
    /// Watches `store` for the experiment files `configs` and every `*.ron` in
    /// `config_dir` (when it exists). Nothing is read until the first [`Watcher::poll`].
    pub fn new(store: Store, configs: &[PathBuf], config_dir: Option<PathBuf>) -> Self {
        let digest = data::canonical_digest();
        let mut watcher = Watcher {
            store,
            config_dir,
            overrides: Vec::new(),
            entries: Vec::new(),
            live: HashMap::new(),
            last_rescan: None,
            rescan_every: Duration::from_secs(1),
            digest,
        };
        for path in configs {
            watcher.add(path.clone(), true);
        }
        watcher.list_config_dir();
        watcher
    }

    /// Loads every experiment with these `--set` overrides, as `replicate` was run with
    /// them, so that its trials are found in the store rather than shown as pending.
    pub fn with_overrides(mut self, overrides: Vec<Override>) -> Self {
        self.overrides = overrides;
        for entry in &mut self.entries {
            *entry = Entry::load(
                entry.path.clone(),
                entry.pinned,
                &self.digest,
                &self.overrides,
                &self.store,
            );
        }
        self
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn add(&mut self, path: PathBuf, pinned: bool) -> bool {
        let key = canonical(&path);
        if self.entries.iter().any(|e| e.key == key) {
            return false;
        }
        self.entries.push(Entry::load(
            path,
            pinned,
            &self.digest,
            &self.overrides,
            &self.store,
        ));
        true
    }

    /// Adds new files of the config folder and drops the ones that went away; returns
    /// whether the list changed.
    fn list_config_dir(&mut self) -> bool {
        let Some(dir) = self.config_dir.clone() else {
            return false;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return false;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ron") && p.is_file())
            .collect();
        files.sort();
        let before = self.entries.len();
        self.entries.retain(|e| e.pinned || e.path.is_file());
        let mut changed = before != self.entries.len();
        for file in files {
            changed |= self.add(file, false);
        }
        changed
    }

    /// The state of experiment `index`, when its file loads.
    pub fn experiment(&self, index: usize) -> Option<&ExperimentState> {
        self.entries.get(index)?.state.as_ref().ok().map(|b| &**b)
    }

    /// The running trial `id`, when it is followed.
    pub fn live(&self, id: &str) -> Option<&LiveTrial> {
        self.live.get(id)
    }

    /// Reads appended bytes of running trials, and rescans when it is time; returns
    /// whether anything changed.
    pub fn poll(&mut self, now: Instant) -> bool {
        let due = self
            .last_rescan
            .is_none_or(|t| now.duration_since(t) >= self.rescan_every);
        let mut changed = false;
        if due {
            self.last_rescan = Some(now);
            changed |= self.rescan();
        }
        for live in self.live.values_mut() {
            changed |= live.poll();
        }
        changed
    }

    /// Forces a rescan on the next poll.
    pub fn rescan_soon(&mut self) {
        self.last_rescan = None;
    }

    fn rescan(&mut self) -> bool {
        let mut changed = self.list_config_dir();
        for entry in &mut self.entries {
            let now = modified(&entry.path);
            if now != entry.modified {
                *entry = Entry::load(
                    entry.path.clone(),
                    entry.pinned,
                    &self.digest,
                    &self.overrides,
                    &self.store,
                );
                changed = true;
            }
            if let Ok(state) = &mut entry.state {
                changed |= state.rescan(&self.store);
            }
        }
        // Follow exactly the running trials.
        let mut running: HashMap<String, PathBuf> = HashMap::new();
        for entry in &self.entries {
            if let Ok(state) = &entry.state {
                for cell in state
                    .cells
                    .iter()
                    .filter(|c| c.state == TrialStatus::Running)
                {
                    running.insert(cell.id.clone(), self.store.work_dir(&cell.id));
                }
            }
        }
        let before = self.live.len();
        self.live.retain(|id, _| running.contains_key(id));
        changed |= before != self.live.len();
        for (id, dir) in running {
            self.live
                .entry(id)
                .or_insert_with(|| LiveTrial::new(&dir))
                .check_replaced();
        }
        changed
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::Event;
    use fixtures as fixture;

    /// Variants the store's last run left out as too slow (`estimate.json`'s `skipped`)
    /// show as "not run on this machine", in the report's words: not as still to run, not
    /// in the plan's time left, and a replicate started here passes the same limit.
    #[test]
    fn variants_the_last_run_left_out_show_as_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let (path, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let kept = spec::cost::Kept {
            estimated_s: 100.0,
            trials: 2,
            jobs: 1,
            threads: 1,
            device: "cpu".into(),
            actual_s: Some(90.0),
            plan: Vec::new(),
            skipped: vec![spec::cost::Skipped {
                variant: "flip".into(),
                trials: 2,
                seconds_each: 5400.0,
                limit_s: 1800.0,
            }],
            sets: Vec::new(),
            seeds: None,
        };
        spec::cost::keep(&store.experiment_dir(&e.name), &kept).unwrap();
        fixture::write_record(&store, &fixture::record(&e, "base", 0, &[70.0, 80.0])).unwrap();
        let mut watcher = Watcher::new(store.clone(), std::slice::from_ref(&path), None);
        watcher.poll(Instant::now());
        let state = watcher.experiment(0).unwrap();
        let words = "not run on this machine (estimated 1h 30m per trial, over the 30m 0s limit)";
        assert_eq!(state.not_run(1).as_deref(), Some(words));
        assert_eq!(state.not_run(0), None);
        assert_eq!(
            (
                state.counts.done,
                state.counts.pending,
                state.counts.left_out
            ),
            (1, 1, 2)
        );
        assert_eq!(state.counts.total(), 4);
        assert!(state.is_left_out(state.cell(1, 0).unwrap()));
        assert!(!state.is_left_out(state.cell(0, 1).unwrap()));
        assert_eq!(state.stats[1].verdict, words, "the report's verdict");
        assert_eq!(state.max_trial_time().as_deref(), Some("1800s"));
        let plan = crate::plan_progress::plan_progress(state, &|_| None);
        assert_eq!(
            (plan.to_run, plan.total, plan.left_out),
            (1, 2, 2),
            "base seed 1 is left to run; flip's two are not in the plan"
        );

        // A trial of the variant that did run (an earlier run without the limit): the
        // verdict is the statistics' again, its other seed still left out.
        fixture::write_record(&store, &fixture::record(&e, "flip", 0, &[70.0, 81.0])).unwrap();
        watcher.rescan_soon();
        watcher.poll(Instant::now() + Duration::from_secs(2));
        let state = watcher.experiment(0).unwrap();
        assert_eq!((state.counts.done, state.counts.left_out), (2, 1));
        assert_ne!(state.stats[1].verdict, words);

        // Other settings than that run's: its notes do not apply.
        let other = Watcher::new(store, &[path], None)
            .with_overrides(vec![Override::parse("epochs=1").unwrap()]);
        let state = other.experiment(0).unwrap();
        assert_eq!(state.counts.left_out, 0);
        assert_eq!(state.max_trial_time(), None);
    }

    #[test]
    fn follows_running_trials_by_appended_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (path, e) = fixture::experiment(dir.path());
        let store = Store::new(dir.path().join("runs"));
        let mut watcher = Watcher::new(store.clone(), &[path], Some(dir.path().into()));
        assert_eq!(
            watcher.entries.len(),
            1,
            "the file on the command line is not listed twice"
        );
        let t0 = Instant::now();
        watcher.poll(t0);

        let trial = fixture::start(&store, &e, "base", 0);
        trial.events(&[
            fixture::started(2),
            Event::EpochStarted { epoch: 1, lr: 0.01 },
        ]);
        trial.log(&["trial starting"]);
        assert!(
            !watcher.poll(t0),
            "not rescanned yet: the new trial is not seen"
        );
        assert!(
            watcher.poll(t0 + Duration::from_secs(1)),
            "the rescan finds it"
        );
        let live = watcher.live(&trial.id).unwrap();
        assert_eq!(live.progress.epoch, 1);
        assert_eq!(live.log_lines, ["trial starting"]);
        let offset = live.events_offset();

        trial.events(&[Event::Batch {
            epoch: 1,
            batch: 4,
            batches: 8,
            loss: 1.5,
            images_per_s: 50.0,
        }]);
        assert!(
            watcher.poll(t0 + Duration::from_millis(1100)),
            "appended bytes are read between rescans"
        );
        let live = watcher.live(&trial.id).unwrap();
        assert_eq!(live.progress.epoch_fraction(), 0.5);
        assert!(live.events_offset() > offset);
        assert!(!watcher.poll(t0 + Duration::from_millis(1200)));

        // Finished: published by rename, no longer followed.
        let record = fixture::record(&e, "base", 0, &[70.0, 80.0]);
        drop(trial);
        std::fs::remove_dir_all(store.work_dir(&record.id)).unwrap();
        fixture::write_record(&store, &record).unwrap();
        assert!(watcher.poll(t0 + Duration::from_secs(3)));
        assert!(watcher.live(&record.id).is_none());
        assert_eq!(watcher.experiment(0).unwrap().counts.done, 1);
    }

    #[test]
    fn experiment_files_are_listed_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = fixture::experiment(dir.path());
        std::fs::write(dir.path().join("broken.ron"), "Experiment(").unwrap();
        let mut watcher = Watcher::new(
            Store::new(dir.path().join("runs")),
            &[],
            Some(dir.path().into()),
        );
        assert_eq!(watcher.entries.len(), 2);
        assert_eq!(watcher.entries[0].name(), "broken");
        assert!(watcher.entries[0].state.is_err());
        assert_eq!(watcher.entries[1].name(), "demo");
        std::fs::remove_file(&path).unwrap();
        assert!(watcher.poll(Instant::now()));
        assert_eq!(watcher.entries.len(), 1);
    }
}
