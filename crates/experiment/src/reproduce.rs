//! Reproducing a recorded trial: retrain it from its record alone (resolved configuration,
//! seed, data digest) and compare every per-epoch number with the recorded ones.
//!
//! The comparison is bit for bit: on the machine that made the record a trial is
//! deterministic, so any difference is real. On another CPU (oneDNN and MKL pick other
//! kernels) the last digits differ; the verdict then says where the difference starts, how
//! large it is per metric, and what both sides ran on, so a reader can tell a machine
//! difference from a broken result.
//!
//! A record is refused when its id does not follow from its contents under this engine's
//! schema (it was made by another definition of the training loop, [`store::id::SCHEMA`],
//! or edited by hand), or when it was trained on other data than the data at hand.
//! Timings are not compared: they are measurements of the machine, not results.

use contract::events::{EpochMetrics, Status};
use store::id;
use store::record::TrialRecord;

/// Why a record cannot be reproduced here.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The id does not follow from the configuration, seed and data digest under this
    /// engine's schema.
    #[error(
        "trial {short}: its id does not follow from its configuration, seed and data under this engine's schema ({schema}): the record was made under another trial schema (an older or newer harness) or edited; retrain it with that version, or run the experiment again with this one"
    )]
    Schema {
        /// The record's short id.
        short: String,
        /// This engine's schema.
        schema: String,
    },
    /// The record was trained on other data.
    #[error(
        "trial {short}: trained on data with digest {recorded}, but the data here has digest {here}; point --data-dir at the files it was trained on"
    )]
    Data {
        /// The record's short id.
        short: String,
        /// The record's data digest.
        recorded: String,
        /// The digest of the data at hand.
        here: String,
    },
}

/// Checks that `record` can be reproduced with the data whose digest is `dataset_digest`.
pub fn check(record: &TrialRecord, dataset_digest: &str) -> Result<(), Refusal> {
    let short = id::short(&record.id).to_string();
    if id::trial_id(&record.config, record.seed, &record.dataset_digest) != record.id {
        return Err(Refusal::Schema {
            short,
            schema: id::SCHEMA.to_string(),
        });
    }
    if record.dataset_digest != dataset_digest {
        return Err(Refusal::Data {
            short,
            recorded: record.dataset_digest.clone(),
            here: dataset_digest.to_string(),
        });
    }
    Ok(())
}

/// The trial to run again: the record's experiment, variant, seed and id, with its
/// resolved configuration validated again.
pub fn spec_of(record: &TrialRecord) -> Result<spec::TrialSpec, trainer::ValidationError> {
    Ok(spec::TrialSpec {
        experiment: record.experiment.clone(),
        variant: spec::Variant {
            name: record.variant.clone(),
            trial: record.config.clone().validate()?,
            study: spec::StudyValues::default(),
        },
        seed: record.seed,
        id: record.id.clone(),
    })
}

/// Finds a record in `store` by its id or by a prefix of it (at least 6 hex digits) that
/// names exactly one trial. The error says what was looked for and what matched.
pub fn find(store: &store::Store, id: &str) -> Result<TrialRecord, String> {
    let dir = store.trials_dir();
    if id.len() < 6 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "`{id}` is not a trial id (64 hex digits, or a unique prefix of at least 6)"
        ));
    }
    let id = id.to_ascii_lowercase();
    let mut matches: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| contract::record::is_trial_id(name) && name.starts_with(&id))
        .collect();
    matches.sort();
    match matches.as_slice() {
        [] => Err(format!("no trial {id} in {}", dir.display())),
        [one] => store::read_record(&store.trial_dir(one).join(contract::layout::SUMMARY))
            .map_err(|e| e.to_string()),
        many => Err(format!(
            "{id} names {} trials in {} ({}); give more digits",
            many.len(),
            dir.display(),
            many.iter()
                .map(|m| id::short(m))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Errors of [`retrain`].
#[derive(Debug, thiserror::Error)]
pub enum RetrainError {
    /// The record cannot be reproduced with this engine or these data.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Its recorded configuration no longer validates.
    #[error("trial {id}: its recorded configuration: {source}")]
    Config {
        /// Short trial id.
        id: String,
        /// Why.
        source: trainer::ValidationError,
    },
    /// The folder to train in could not be made.
    #[error("creating {}: {source}", path.display())]
    WorkDir {
        /// The folder.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The trial failed.
    #[error(transparent)]
    Run(#[from] crate::trial_run::RunError),
}

/// The name prefix of [`work_dir`]'s temporary folders.
pub const WORK_PREFIX: &str = "harness-reproduce-";

/// The folder `harness reproduce` retrains `record` in: `keep` when given (the caller
/// checked it does not exist), else a temporary folder of this process,
/// `harness-reproduce-<short id>-<writer tag>` (the tag names this process and its start
/// time, [`store::lease::writer_tag`]). Those that processes killed before their clean-up
/// (`kill -9`) left are swept first ([`sweep_dead_work_dirs`]).
pub fn work_dir(record: &TrialRecord, keep: Option<&std::path::Path>) -> std::path::PathBuf {
    keep.map_or_else(
        || {
            let tmp = std::env::temp_dir();
            sweep_dead_work_dirs(&tmp);
            tmp.join(format!(
                "{WORK_PREFIX}{}-{}",
                id::short(&record.id),
                store::lease::writer_tag()
            ))
        },
        std::path::Path::to_path_buf,
    )
}

/// Removes the folders `harness-reproduce-<id>-<writer tag>` in `dir` whose process is
/// known to be dead ([`store::lease::writer_dead`]); live ones, other hosts' and folders of
/// another form are kept. Returns the folders removed.
pub fn sweep_dead_work_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((_, tag)) = name
            .to_str()
            .and_then(|n| n.strip_prefix(WORK_PREFIX))
            .and_then(|rest| rest.split_once('-'))
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && store::lease::writer_dead(tag) && std::fs::remove_dir_all(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

/// The trial to retrain from `record`, once [`check`] has found that it can be reproduced
/// on `dataset` with this engine.
pub fn prepare(
    record: &TrialRecord,
    dataset: &data::FashionMnist,
) -> Result<spec::TrialSpec, RetrainError> {
    check(record, &dataset.digest)?;
    spec_of(record).map_err(|source| RetrainError::Config {
        id: id::short(&record.id).to_string(),
        source,
    })
}

/// Retrains `spec` (from [`prepare`]) in `work` ([`work_dir`]) and compares every
/// per-epoch number with `record`'s ([`compare`]); `None` when `stop` ended it first. The
/// folder is removed afterwards unless `keep`.
#[allow(clippy::too_many_arguments)]
pub fn retrain(
    record: &TrialRecord,
    spec: &spec::TrialSpec,
    dataset: &data::FashionMnist,
    device: tch::Device,
    work: &std::path::Path,
    keep: bool,
    stop: &trainer::Stop,
    on_event: &mut dyn FnMut(&contract::Event),
) -> Result<Option<Comparison>, RetrainError> {
    std::fs::create_dir_all(work).map_err(|source| RetrainError::WorkDir {
        path: work.to_path_buf(),
        source,
    })?;
    let outcome = crate::run_trial(spec, dataset, device, work, stop, on_event);
    if !keep {
        let _ = std::fs::remove_dir_all(work);
    }
    Ok(match outcome? {
        crate::TrialEnd::Stopped => None,
        crate::TrialEnd::Recorded(fresh) => Some(compare(record, &fresh)),
    })
}

/// The per-epoch numbers that are results (not timings), by name.
pub const METRICS: [&str; 5] = [
    "lr",
    "train_loss_mean",
    "train_loss_sum",
    "test_loss",
    "test_accuracy",
];

fn metric(m: &EpochMetrics, name: &str) -> f64 {
    match name {
        "lr" => m.lr,
        "train_loss_mean" => m.train_loss_mean,
        "train_loss_sum" => m.train_loss_sum,
        "test_loss" => m.test_loss,
        "test_accuracy" => m.test_accuracy,
        _ => unreachable!("not a metric: {name}"),
    }
}

/// Equal to the bit (a NaN equals a NaN of the same bits: a diverged trial reproduces).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

/// The largest difference of one metric between the two runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDifference {
    /// The metric's name (one of [`METRICS`]).
    pub metric: &'static str,
    /// How many epochs differ in it.
    pub epochs: usize,
    /// The largest absolute difference (infinite when one side is not finite).
    pub largest: f64,
    /// The epoch of the largest difference.
    pub at_epoch: u32,
    /// The recorded value there.
    pub recorded: f64,
    /// The reproduced value there.
    pub reproduced: f64,
}

/// Where the two runs ran, as far as it can explain a difference.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// The CPU model or GPU name.
    pub device_name: String,
    /// The device, e.g. `cpu`.
    pub device: String,
    /// libtorch's version.
    pub libtorch_version: String,
    /// libtorch threads.
    pub threads: i32,
    /// Host name.
    pub host: String,
    /// The harness commit.
    pub git_commit: String,
}

impl Side {
    fn of(record: &TrialRecord) -> Self {
        let p = &record.provenance;
        Side {
            device_name: p.device_name.clone(),
            device: p.device.clone(),
            libtorch_version: p.libtorch_version.clone(),
            threads: p.threads,
            host: p.host.clone(),
            git_commit: p.git_commit.clone(),
        }
    }
}

/// How a reproduction compares with its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The trial id.
    pub id: String,
    /// Epochs compared (the shorter side's count).
    pub epochs: usize,
    /// The first epoch at which any result differs (`None`: identical, or only the
    /// epoch counts or the ending differ).
    pub first_epoch: Option<u32>,
    /// Per metric that differs anywhere: the largest difference.
    pub metrics: Vec<MetricDifference>,
    /// Differences of the trial as a whole (status, epoch count, parameters), in words.
    pub other: Vec<String>,
    /// The record's side.
    pub recorded: Side,
    /// The reproduction's side.
    pub reproduced: Side,
    /// The engine schema both sides ran under (the record's id proves it is this one).
    pub schema: &'static str,
}

impl Comparison {
    /// Whether every compared number is identical to the bit.
    pub fn identical(&self) -> bool {
        self.first_epoch.is_none() && self.metrics.is_empty() && self.other.is_empty()
    }
}

fn status_word(status: &Status) -> String {
    match status {
        Status::Finished => "finished".into(),
        Status::Diverged { epoch, batch } => format!("diverged at epoch {epoch}, batch {batch}"),
        Status::Stopped => "stopped".into(),
    }
}

/// Compares a reproduction with the record it reproduces: every per-epoch result
/// ([`METRICS`]), the status, the epoch count and the parameter count.
pub fn compare(recorded: &TrialRecord, reproduced: &TrialRecord) -> Comparison {
    let epochs = recorded.epochs.len().min(reproduced.epochs.len());
    let mut first_epoch = None;
    let mut metrics = Vec::new();
    for name in METRICS {
        let mut found: Option<MetricDifference> = None;
        for (a, b) in recorded.epochs.iter().zip(&reproduced.epochs) {
            let (x, y) = (metric(a, name), metric(b, name));
            if same(x, y) {
                continue;
            }
            first_epoch = Some(first_epoch.map_or(a.epoch, |e: u32| e.min(a.epoch)));
            let gap = if x.is_finite() && y.is_finite() {
                (x - y).abs()
            } else {
                f64::INFINITY
            };
            let d = found.get_or_insert(MetricDifference {
                metric: name,
                epochs: 0,
                largest: gap,
                at_epoch: a.epoch,
                recorded: x,
                reproduced: y,
            });
            d.epochs += 1;
            if gap > d.largest {
                d.largest = gap;
                d.at_epoch = a.epoch;
                d.recorded = x;
                d.reproduced = y;
            }
        }
        metrics.extend(found);
    }
    let mut other = Vec::new();
    if recorded.status != reproduced.status {
        other.push(format!(
            "status: recorded {}, reproduced {}",
            status_word(&recorded.status),
            status_word(&reproduced.status)
        ));
    }
    if recorded.epochs.len() != reproduced.epochs.len() {
        other.push(format!(
            "epochs: recorded {}, reproduced {}",
            recorded.epochs.len(),
            reproduced.epochs.len()
        ));
    }
    if recorded.parameters != reproduced.parameters {
        other.push(format!(
            "parameters: recorded {}, reproduced {}",
            recorded.parameters, reproduced.parameters
        ));
    }
    Comparison {
        id: recorded.id.clone(),
        epochs,
        first_epoch,
        metrics,
        other,
        recorded: Side::of(recorded),
        reproduced: Side::of(reproduced),
        schema: id::SCHEMA,
    }
}

/// The comparison in words: `identical`, or `differs` with the first epoch, the largest
/// difference per metric and both sides' machine, schema and libtorch.
pub fn describe(c: &Comparison) -> String {
    let short = id::short(&c.id);
    if c.identical() {
        return format!(
            "trial {short}: identical: {} epoch(s), every result bit for bit ({} on {}, libtorch {})\n",
            c.epochs, c.schema, c.reproduced.device_name, c.reproduced.libtorch_version
        );
    }
    let mut out = format!("trial {short}: differs");
    match c.first_epoch {
        Some(e) => out.push_str(&format!(" from epoch {e} on\n")),
        None => out.push('\n'),
    }
    for d in &c.metrics {
        out.push_str(&format!(
            "  {:<16} {} of {} epoch(s) differ; largest {:.3e} at epoch {} (recorded {}, reproduced {})\n",
            d.metric, d.epochs, c.epochs, d.largest, d.at_epoch, d.recorded, d.reproduced
        ));
    }
    for line in &c.other {
        out.push_str(&format!("  {line}\n"));
    }
    for (label, s) in [("recorded", &c.recorded), ("reproduced", &c.reproduced)] {
        out.push_str(&format!(
            "  {label:<10} on {} ({}, {} thread(s)), host {}, schema {}, libtorch {}, commit {}\n",
            s.device_name,
            s.device,
            s.threads,
            s.host,
            c.schema,
            s.libtorch_version,
            progress::format::short_id(&s.git_commit)
        ));
    }
    let (recorded, here) = (&c.recorded.device_name, &c.reproduced.device_name);
    if is_cpu_name_of_old_record(recorded, here) {
        out.push_str("  the record names its CPU without family and model (records before commit ea76517 of 2026-12-06), so another CPU generation sold under the same name (a cloud VM's \"AMD EPYC\") cannot be told from this one: oneDNN picks other kernels there, so the last digits differ; compare on the recording machine for a bit-for-bit check\n");
    } else if recorded != here {
        out.push_str("  the machines differ: oneDNN and MKL pick other kernels on another CPU, so the last digits differ there; compare on the recording machine for a bit-for-bit check\n");
    } else if c.recorded.threads != c.reproduced.threads {
        out.push_str("  the thread counts differ: some kernels sum in another order with other thread counts; rerun with --threads set to the recorded count\n");
    }
    out
}

/// Whether `recorded` is a CPU name of a record older than the family and model (plain
/// "AMD EPYC") that `here` names with them (`AMD EPYC (family 25, model 17)`): the same CPU
/// or another generation, which the record cannot tell.
fn is_cpu_name_of_old_record(recorded: &str, here: &str) -> bool {
    !recorded.contains("(family ")
        && here
            .split_once(" (family ")
            .is_some_and(|(name, _)| name == recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> TrialRecord {
        let text = include_str!("../tests/golden/reproduce_record.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn work_folders_of_dead_processes_are_swept_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let live = store::lease::writer_tag();
        // This process's pid with another start time: a process that is gone.
        let (context, rest) = live.split_once('.').unwrap();
        let pid = rest.split('.').next().unwrap();
        let dead = format!("{context}.{pid}.1");
        let make = |name: String| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.join("ckpt")).unwrap();
            path
        };
        let stale = make(format!("{WORK_PREFIX}063cd6148a27-{dead}"));
        let running = make(format!("{WORK_PREFIX}063cd6148a27-{live}"));
        let other = make("harness-reproduce-notes".into());
        assert_eq!(sweep_dead_work_dirs(dir.path()), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(running.exists() && other.exists());
        // The folder of this process is named by its writer tag, so a later sweep keeps it.
        let r = record();
        let ours = work_dir(&r, None);
        assert!(
            ours.to_str().unwrap().ends_with(&live),
            "{}",
            ours.display()
        );
    }

    #[test]
    fn a_record_compared_with_itself_is_identical() {
        let r = record();
        let c = compare(&r, &r);
        assert!(c.identical());
        assert!(describe(&c).contains("identical"));
    }

    #[test]
    fn one_changed_metric_gives_its_epoch_and_size() {
        let r = record();
        let mut t = r.clone();
        t.epochs[1].test_loss += 0.25;
        let c = compare(&r, &t);
        assert!(!c.identical());
        assert_eq!(c.first_epoch, Some(2));
        assert_eq!(c.metrics.len(), 1);
        assert_eq!(c.metrics[0].metric, "test_loss");
        assert_eq!(c.metrics[0].epochs, 1);
        assert!((c.metrics[0].largest - 0.25).abs() < 1e-12);
        let text = describe(&c);
        assert!(text.contains("differs from epoch 2"), "{text}");
        assert!(text.contains("test_loss"), "{text}");
    }

    /// A record older than the CPU's family and model, reproduced on a CPU of the same name:
    /// the account says the two cannot be told apart (not that the machines differ); a
    /// record naming another CPU says the machines differ.
    #[test]
    fn an_old_record_on_a_cpu_of_the_same_name_says_it_cannot_tell_them_apart() {
        let r = record();
        let mut old = r.clone();
        old.provenance.device_name = "AMD EPYC".into();
        old.epochs[0].test_loss += 0.01;
        let mut here = r.clone();
        here.provenance.device_name = "AMD EPYC (family 25, model 17)".into();
        let text = describe(&compare(&old, &here));
        assert!(text.contains("cannot be told from this one"), "{text}");
        assert!(!text.contains("the machines differ"), "{text}");
        let mut other = here.clone();
        other.provenance.device_name = "Intel(R) Xeon(R) (family 6, model 143)".into();
        let text = describe(&compare(&old, &other));
        assert!(text.contains("the machines differ"), "{text}");
        assert!(!is_cpu_name_of_old_record(
            "AMD EPYC (family 26, model 2)",
            "AMD EPYC (family 25, model 17)"
        ));
    }

    #[test]
    fn a_nan_reproduces_a_nan_and_an_edited_id_is_refused() {
        let mut r = record();
        r.epochs[0].train_loss_mean = f64::NAN;
        assert!(compare(&r, &r.clone()).identical());
        let digest = r.dataset_digest.clone();
        assert_eq!(check(&r, &digest), Ok(()));
        assert!(matches!(check(&r, "another"), Err(Refusal::Data { .. })));
        r.seed += 1;
        assert!(matches!(check(&r, &digest), Err(Refusal::Schema { .. })));
    }
}
