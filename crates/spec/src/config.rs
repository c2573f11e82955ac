//! Experiment files (`configs/*.ron`): a base trial, named variants that override it, the
//! seeds, and the values the original study published for each variant.
//!
//! Loading is two-stage: the RON text is parsed into [`ExperimentFile`], which mirrors the
//! file, then every variant is resolved (base, then `--set` overrides, then the variant's
//! own overrides) and validated into a [`trainer::ValidTrial`]. Every error names the
//! file, the line and the field.

use crate::overrides::{Override, apply_overrides, ron_options};
use crate::ron_layout::Layout;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trainer::{TrialConfig, ValidTrial};

/// The file as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename = "Experiment")]
pub struct ExperimentFile {
    /// Short name: the folder under `runs/` and the report's file name.
    pub name: String,
    /// Human title for reports.
    pub title: String,
    /// What the experiment varies and why (optional).
    #[serde(default)]
    pub description: String,
    /// Number of seeds per variant.
    pub seeds: u32,
    /// First seed (seeds are `first_seed..first_seed + seeds`).
    #[serde(default)]
    pub first_seed: u64,
    /// Name of the variant the others are compared against.
    pub baseline: String,
    /// The base trial.
    pub base: TrialConfig,
    /// The variants.
    pub variants: Vec<VariantFile>,
    /// Defaults for `replicate --slurm` (optional).
    #[serde(default)]
    pub slurm: SlurmDefaults,
    /// Which report the experiment gets (optional; the standard one by default).
    #[serde(default)]
    pub report: ReportKind,
}

/// Which report an experiment gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ReportKind {
    /// Variants against the baseline: accuracy, loss, latency, tests (`report`).
    #[default]
    Standard,
    /// A protocol frontier: accuracy against minutes per trial, per architecture and
    /// protocol (`frontier`).
    Frontier,
}

/// An experiment's defaults for `harness replicate --slurm`; the command line adds to
/// (`--sbatch`) or replaces (`--signal`, `--max-tries`) them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmDefaults {
    /// sbatch options, one each, e.g. `["--partition=gpu", "--gres=gpu:1", "--time=12:00:00"]`.
    #[serde(default)]
    pub sbatch: Vec<String>,
    /// Slurm's warning signal before a time limit or preemption, e.g. `"B:USR1@300"`.
    #[serde(default)]
    pub signal: Option<String>,
    /// Failed attempts after which a trial is marked failed.
    #[serde(default)]
    pub max_tries: Option<usize>,
}

/// One variant as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    /// Name shown in tables.
    pub name: String,
    /// Overrides of the base: dotted path to value, e.g. `{"model.dropout": "0.5"}`.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// What the original study published for this variant.
    #[serde(default)]
    pub study: StudyValues,
}

/// The original study's published figures for a variant.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StudyValues {
    /// Test accuracy, percent.
    #[serde(default)]
    pub accuracy: Option<f64>,
    /// Training loss (the study's sum over an epoch's batches).
    #[serde(default)]
    pub train_loss: Option<f64>,
    /// Test latency, milliseconds.
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// Parameter count as printed, e.g. "247K".
    #[serde(default)]
    pub parameters: Option<String>,
}

/// A resolved, validated experiment.
#[derive(Clone, Debug)]
pub struct Experiment {
    /// The file it came from.
    pub path: PathBuf,
    /// Short name.
    pub name: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The seeds every variant runs with.
    pub seeds: Vec<u64>,
    /// Name of the baseline variant.
    pub baseline: String,
    /// Variants in file order.
    pub variants: Vec<Variant>,
    /// The `--set` overrides applied to the base.
    pub overrides: Vec<Override>,
    /// Defaults for `replicate --slurm`.
    pub slurm: SlurmDefaults,
    /// Which report it gets.
    pub report: ReportKind,
}

/// A resolved variant.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Name.
    pub name: String,
    /// The validated trial configuration.
    pub trial: ValidTrial,
    /// The study's published figures.
    pub study: StudyValues,
}

impl Experiment {
    /// Which records of the store belong to this experiment (the store's one rule).
    pub fn membership(&self) -> store::Membership {
        store::Membership::new(&self.name, self.variants.iter().map(|v| v.trial.config()))
    }

    /// Runs `n` seeds per variant, from the file's first seed on (`--seeds N`).
    pub fn set_seed_count(&mut self, n: u32) -> Result<(), String> {
        if n == 0 || n > 1000 {
            return Err(format!("--seeds {n}: must be in 1..=1000"));
        }
        let first = self.seeds.first().copied().unwrap_or(0);
        let end = first.checked_add(u64::from(n)).ok_or_else(|| {
            format!("--seeds {n}: first seed {first} + {n} seeds overflows a 64-bit seed")
        })?;
        self.seeds = (first..end).collect();
        Ok(())
    }

    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The variant named `name`, or the baseline when `name` is `None`; an unknown name is
    /// an error that lists the variants.
    pub fn variant_or_baseline(&self, name: Option<&str>) -> Result<&Variant, String> {
        let Some(name) = name else {
            return Ok(self.baseline_variant());
        };
        self.variant(name).ok_or_else(|| {
            let names: Vec<&str> = self.variants.iter().map(|v| v.name.as_str()).collect();
            format!("no variant `{name}` (variants: {})", names.join(", "))
        })
    }

    /// The baseline variant.
    pub fn baseline_variant(&self) -> &Variant {
        self.variant(&self.baseline)
            .expect("validated: the baseline names a variant")
    }
}

/// An experiment file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The RON does not parse, or a field is unknown, missing or of the wrong type.
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said (it names the field).
        message: String,
    },
    /// A value parses but is not allowed.
    #[error("{path}:{line}: field `{field}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the field (0 when it comes from the command line).
        line: usize,
        /// Dotted path of the field (for a variant, prefixed with `variants[<name>].`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `--set` from the command line cannot be applied to the file's base, or gives a
    /// value that is not allowed: a bad command line, named by its flag.
    #[error("--set {set}: field `{field}`: {message}")]
    BadSet {
        /// The override(s) as written (`model.dropout=2`).
        set: String,
        /// Dotted path of the field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Refuses two files that name the same experiment: their reports, README sections and
/// store folders would be one (the second silently replacing the first).
pub fn check_distinct_names<'a>(
    experiments: impl IntoIterator<Item = &'a Experiment>,
) -> Result<(), String> {
    let mut seen: Vec<&Experiment> = Vec::new();
    for e in experiments {
        if let Some(other) = seen.iter().find(|o| o.name == e.name) {
            return Err(format!(
                "{} and {} both name the experiment `{}`; each experiment needs its own name",
                other.path.display(),
                e.path.display(),
                e.name
            ));
        }
        seen.push(e);
    }
    Ok(())
}

/// Loads and validates an experiment file, applying `overrides` (from `--set`) to its base
/// before the variants' own overrides.
pub fn load(path: &Path, overrides: &[Override]) -> Result<Experiment, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, overrides)
}

/// The experiment files (`*.ron`) directly in `dir`, sorted.
pub fn experiment_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ron") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// Most seeds one experiment may ask for.
pub const MAX_SEEDS: u32 = 1000;

/// [`load`] on text already read; `path` is used in messages.
///
/// Besides the ranges of every trial setting, it rejects: a `name` that is not a safe folder
/// name, `seeds` outside `1..=1000` or a `first_seed + seeds` past `u64::MAX`, variant names
/// that would break the worker's command line, the markdown tables or the README splice (see
/// [`check_variant_name`]), two variants with one name, two variants that resolve to the
/// same settings (they would share every trial id), a `baseline` that names no variant, and
/// study figures that are not finite or out of range.
pub fn parse(path: &Path, text: &str, overrides: &[Override]) -> Result<Experiment, ConfigError> {
    let file: ExperimentFile =
        ron_options()
            .from_str(text)
            .map_err(|e: ron::error::SpannedError| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: e.position.line,
                column: e.position.col,
                message: e.code.to_string(),
            })?;
    let layout = Layout::scan(text);
    let invalid = |line: usize, field: String, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        field,
        message,
    };
    if let Err(message) = check_experiment_name(&file.name) {
        return Err(invalid(layout.line("name"), "name".into(), message));
    }
    if file.seeds == 0 || file.seeds > MAX_SEEDS {
        return Err(invalid(
            layout.line("seeds"),
            "seeds".into(),
            format!("must be in 1..={MAX_SEEDS}, got {}", file.seeds),
        ));
    }
    let seeds = seed_range(file.first_seed, file.seeds).map_err(|message| {
        let line = match layout.line("first_seed") {
            0 => layout.line("seeds"),
            line => line,
        };
        invalid(line, "first_seed".into(), message)
    })?;
    if let Err((field, message)) = check_slurm(&file.slurm) {
        return Err(invalid(layout.line_or_parent(&field), field, message));
    }
    if file.variants.is_empty() {
        return Err(invalid(
            layout.line("variants"),
            "variants".into(),
            "an experiment needs at least one variant".into(),
        ));
    }
    // The file's base must be valid on its own, so that its errors point at its lines...
    file.base.clone().validate().map_err(|e| {
        let line = layout.line_or_parent(&format!("base.{}", dotted(&e.field)));
        invalid(line, e.field, e.message)
    })?;
    // ... and a value from `--set` is reported as coming from the command line.
    let base = apply_overrides(&file.base, overrides).map_err(|e| ConfigError::BadSet {
        set: overrides
            .iter()
            .find(|o| o.path == e.field)
            .map_or_else(|| e.field.clone(), ToString::to_string),
        field: e.field,
        message: e.message,
    })?;
    base.clone().validate().map_err(|e| {
        let culprit = overrides
            .iter()
            .rev()
            .find(|o| e.field == o.path || e.field.starts_with(&format!("{}.", o.path)))
            .map_or_else(
                || {
                    let all: Vec<String> = overrides.iter().map(ToString::to_string).collect();
                    all.join(" ")
                },
                ToString::to_string,
            );
        ConfigError::BadSet {
            set: culprit,
            field: e.field,
            message: e.message,
        }
    })?;

    let mut variants: Vec<Variant> = Vec::with_capacity(file.variants.len());
    let mut lines: Vec<usize> = Vec::with_capacity(file.variants.len());
    // Name -> index, so that a generated sweep of 100k variants checks names in linear time.
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    // Canonical settings -> index, for the same reason (twins resolve to equal settings).
    let mut same_settings: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    for (index, variant) in file.variants.iter().enumerate() {
        let at = format!("variants.{index}");
        let variant_line = layout.line_or_parent(&format!("{at}.name"));
        if let Err(message) = check_variant_name(&variant.name) {
            return Err(invalid(
                variant_line,
                format!("variants[#{index}].name"),
                format!(
                    "variant {} of {}: {message}",
                    index + 1,
                    file.variants.len()
                ),
            ));
        }
        if let Some(&first) = seen.get(variant.name.as_str()) {
            return Err(invalid(
                variant_line,
                format!("variants[{}].name", variant.name),
                format!(
                    "two variants have this name (the first is at line {})",
                    lines[first]
                ),
            ));
        }
        let sets: Vec<Override> = variant
            .set
            .iter()
            .map(|(k, v)| Override {
                path: k.clone(),
                value: v.clone(),
            })
            .collect();
        let set_line = |field: &str| {
            let key = variant
                .set
                .keys()
                .find(|k| {
                    field == k.as_str()
                        || field.starts_with(&format!("{k}."))
                        || field.starts_with(&format!("{k}["))
                })
                .map_or(field, String::as_str);
            match layout.line(&format!("{at}.set.{key}")) {
                0 => variant_line,
                line => line,
            }
        };
        let config = apply_overrides(&base, &sets).map_err(|e| {
            invalid(
                set_line(&e.field),
                format!("variants[{}].set.{}", variant.name, e.field),
                e.message,
            )
        })?;
        let trial = config.validate().map_err(|e| {
            invalid(
                set_line(&e.field),
                format!("variants[{}].{}", variant.name, e.field),
                e.message,
            )
        })?;
        if let Err((field, message)) = check_study(&variant.study) {
            return Err(invalid(
                layout.line_or_parent(&format!("{at}.study.{field}")),
                format!("variants[{}].study.{field}", variant.name),
                message,
            ));
        }
        let settings = store::id::canonical_json(trial.config());
        if let Some(&twin) = same_settings.get(&settings) {
            let with_sets = if overrides.is_empty() {
                String::new()
            } else {
                let all: Vec<String> = overrides.iter().map(ToString::to_string).collect();
                format!(" (with --set {})", all.join(" "))
            };
            return Err(invalid(
                variant_line,
                format!("variants[{}]", variant.name),
                format!(
                    "variants `{}` (line {}) and `{}` (line {}) resolve to the same settings{with_sets}, \
                     so they would share every trial id and one of them would never get a result; \
                     remove one or make them differ",
                    variants[twin].name, lines[twin], variant.name, variant_line
                ),
            ));
        }
        seen.insert(&variant.name, variants.len());
        same_settings.insert(settings, variants.len());
        lines.push(variant_line);
        variants.push(Variant {
            name: variant.name.clone(),
            trial,
            study: variant.study.clone(),
        });
    }
    if !variants.iter().any(|v| v.name == file.baseline) {
        return Err(invalid(
            layout.line("baseline"),
            "baseline".into(),
            format!(
                "`{}` is not one of the variants ({})",
                file.baseline,
                variants
                    .iter()
                    .map(|v| v.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Experiment {
        path: path.to_path_buf(),
        name: file.name,
        title: file.title,
        description: file.description,
        seeds,
        baseline: file.baseline,
        variants,
        overrides: overrides.to_vec(),
        slurm: file.slurm,
        report: file.report,
    })
}

/// The `slurm` section's values must be single sbatch options and a signal spec that
/// cannot break the batch script's `#SBATCH` lines.
fn check_slurm(slurm: &SlurmDefaults) -> Result<(), (String, String)> {
    for (i, option) in slurm.sbatch.iter().enumerate() {
        if !option.starts_with('-') || option.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err((
                format!("slurm.sbatch.{i}"),
                format!(
                    "`{option}` is not one sbatch option (like \"--partition=gpu\", no spaces)"
                ),
            ));
        }
    }
    if let Some(signal) = &slurm.signal
        && (signal.is_empty()
            || !signal
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ":@".contains(c)))
    {
        return Err((
            "slurm.signal".into(),
            format!("`{signal}` is not a signal spec like \"B:USR1@120\""),
        ));
    }
    if slurm.max_tries == Some(0) {
        return Err(("slurm.max_tries".into(), "must be at least 1".into()));
    }
    Ok(())
}

/// The seeds `first..first + count`, or why they do not fit in a `u64`.
pub fn seed_range(first: u64, count: u32) -> Result<Vec<u64>, String> {
    match first.checked_add(u64::from(count)) {
        Some(end) => Ok((first..end).collect()),
        None => Err(format!(
            "first_seed + seeds must be at most {} (u64), got {first} + {count}",
            u64::MAX
        )),
    }
}

/// Checks an experiment's `name`: it is a folder under `runs/` and a report's file name, so
/// it must be one safe path component: 1 to 64 ASCII letters, digits, `-` and `_` (so no
/// `/`, no leading `.`, no control characters), and not `trials`, the store's shared trial folder.
pub fn check_experiment_name(name: &str) -> Result<(), String> {
    if name == contract::layout::TRIALS {
        return Err(format!(
            "{name:?} is reserved: runs/{name}/ holds the trials every experiment shares"
        ));
    }
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be 1 to 64 letters, digits, '-' and '_' (it names a folder under runs/ and a report file)"
        ))
    }
}

/// Checks a variant's name. It is passed as one argument on a worker's command line
/// (`--variant NAME`), printed in markdown table cells and spliced into the README between
/// HTML comments, so it must not be empty, start with `-`, or contain `|`, `<!--`, `-->` or
/// a control character (newlines included). At most 100 characters.
pub fn check_variant_name(name: &str) -> Result<(), String> {
    let problem = if name.trim().is_empty() {
        Some("must not be empty")
    } else if name.starts_with('-') {
        Some("must not start with '-' (it would read as an option on a command line)")
    } else if name.contains('|') {
        Some("must not contain '|' (it would split a markdown table cell)")
    } else if name.contains("<!--") || name.contains("-->") {
        Some("must not contain `<!--` or `-->` (they would break the README's generated section)")
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters such as a newline or a tab")
    } else if name.chars().any(is_bidi_control) {
        Some(
            "must not contain bidirectional-control characters (U+200E, U+200F, U+061C, U+202A-U+202E, U+2066-U+2069): they reorder the text around them where it is printed",
        )
    } else if name.chars().count() > 100 {
        Some("must be at most 100 characters")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(format!("name {name:?} {problem}")),
        None => Ok(()),
    }
}

/// The invisible characters that reorder text on screen (the "Trojan Source" set).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks the study's figures: finite, accuracy in `[0, 100]`, loss and latency `>= 0`.
/// The error is the offending field's name and what is wrong.
fn check_study(study: &StudyValues) -> Result<(), (&'static str, String)> {
    if let Some(a) = study.accuracy
        && !(a.is_finite() && (0.0..=100.0).contains(&a))
    {
        return Err((
            "accuracy",
            format!("a test accuracy in percent must be finite and in [0, 100], got {a}"),
        ));
    }
    for (field, value, what) in [
        ("train_loss", study.train_loss, "a training loss"),
        ("latency_ms", study.latency_ms, "a latency"),
    ] {
        if let Some(x) = value
            && !(x.is_finite() && x >= 0.0)
        {
            return Err((field, format!("{what} must be finite and >= 0, got {x}")));
        }
    }
    Ok(())
}

/// `augmentations[1].p` -> `augmentations.1.p`: the notation of [`Layout`] paths.
fn dotted(field: &str) -> String {
    field.replace('[', ".").replace(']', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
Experiment(
    name: "dropout",
    title: "Effect of dropout",
    seeds: 3,
    baseline: "0.2",
    base: (
        model: (architecture: conv2, channels: 8, kernel_size: 3, batch_norm: true, dropout: 0.2),
        optimizer: (name: adam, lr: 0.01),
        schedule: Step(every: 10, gamma: 0.1),
        epochs: 2,
        data: (train_limit: 512, test_limit: 256),
    ),
    variants: [
        (name: "0", set: {"model.dropout": "0.0"}, study: (accuracy: 93.01, parameters: "247K")),
        (name: "0.2", study: (accuracy: 93.14)),
        (name: "0.5", set: {"model.dropout": "0.5"}, study: (accuracy: 93.25)),
    ],
)
"#;

    fn parse_str(text: &str) -> Result<Experiment, ConfigError> {
        parse(Path::new("test.ron"), text, &[])
    }

    #[test]
    fn a_slurm_section_gives_defaults_and_bad_values_name_their_line() {
        let with = GOOD.replace(
            "    variants: [",
            "    slurm: (sbatch: [\"--partition=gpu\", \"--gres=gpu:1\"], signal: \"B:USR1@300\", max_tries: 5),\n    variants: [",
        );
        let e = parse_str(&with).unwrap();
        assert_eq!(e.slurm.sbatch, ["--partition=gpu", "--gres=gpu:1"]);
        assert_eq!(e.slurm.signal.as_deref(), Some("B:USR1@300"));
        assert_eq!(e.slurm.max_tries, Some(5));
        assert_eq!(parse_str(GOOD).unwrap().slurm, SlurmDefaults::default());

        let bad = GOOD.replace(
            "    variants: [",
            "    slurm: (\n        sbatch: [\"--partition=gpu --time=1:00:00\"],\n    ),\n    variants: [",
        );
        let err = parse_str(&bad).unwrap_err().to_string();
        assert!(
            err.contains("slurm.sbatch.0") && err.contains("not one sbatch option"),
            "{err}"
        );
        let line = bad.lines().position(|l| l.contains("sbatch:")).unwrap() + 1;
        assert!(
            err.contains(&format!(":{line}")),
            "names line {line}: {err}"
        );
        let bad = GOOD.replace(
            "    variants: [",
            "    slurm: (max_tries: 0),\n    variants: [",
        );
        assert!(
            parse_str(&bad)
                .unwrap_err()
                .to_string()
                .contains("slurm.max_tries")
        );
    }

    #[test]
    fn a_good_file_resolves_every_variant() {
        let e = parse_str(GOOD).unwrap();
        assert_eq!(e.name, "dropout");
        assert_eq!(e.seeds, vec![0, 1, 2]);
        let dropouts: Vec<f64> = e.variants.iter().map(|v| v.trial.model.dropout).collect();
        assert_eq!(dropouts, vec![0.0, 0.2, 0.5]);
        assert_eq!(e.variants[0].study.accuracy, Some(93.01));
        assert_eq!(e.variants[0].study.parameters.as_deref(), Some("247K"));
        assert_eq!(e.baseline_variant().name, "0.2");
        assert_eq!(e.variants[1].trial.data.train_limit, Some(512));
        assert_eq!(
            e.variants[1].trial.batch_size, 256,
            "defaults fill the rest"
        );
    }

    #[test]
    fn cli_overrides_apply_to_the_base_and_variants_win() {
        let sets = vec![
            Override::parse("epochs=1").unwrap(),
            Override::parse("model.dropout=0.3").unwrap(),
        ];
        let e = parse(Path::new("t.ron"), GOOD, &sets).unwrap();
        assert!(e.variants.iter().all(|v| v.trial.epochs == 1));
        assert_eq!(e.variants[1].trial.model.dropout, 0.3);
        assert_eq!(e.variants[2].trial.model.dropout, 0.5);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = GOOD.replace("dropout: 0.2)", "dropuot: 0.2)");
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.starts_with("test.ron:8:"), "{err}");
        assert!(err.contains("dropuot"), "{err}");
    }

    #[test]
    fn out_of_range_value_names_line_and_field() {
        let text = GOOD.replace("dropout: 0.2)", "dropout: 1.5)");
        let err = parse_str(&text).unwrap_err();
        match &err {
            ConfigError::Invalid { line, field, .. } => {
                assert_eq!(*line, 8);
                assert_eq!(field, "model.dropout");
            }
            other => panic!("{other}"),
        }
        assert!(
            err.to_string()
                .starts_with("test.ron:8: field `model.dropout`")
        );
    }

    #[test]
    fn bad_variant_override_names_the_variant() {
        let text = GOOD.replace(r#""model.dropout": "0.5""#, r#""model.dropout": "2""#);
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.contains("test.ron:17:"), "{err}");
        assert!(err.contains("variants[0.5].model.dropout"), "{err}");
        let text = GOOD.replace(r#""model.dropout": "0.5""#, r#""model.dropot": "0.5""#);
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.contains("model.dropot"), "{err}");
    }

    #[test]
    fn baseline_must_name_a_variant() {
        let text = GOOD.replace(r#"baseline: "0.2""#, r#"baseline: "0.3""#);
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.contains("test.ron:6: field `baseline`"), "{err}");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let text = GOOD.replace("epochs: 2,", "epochs: 2,,");
        let err = parse_str(&text).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { line: 11, .. }), "{err}");
    }

    #[test]
    fn type_errors_name_the_value() {
        let text = GOOD.replace("epochs: 2,", "epochs: \"two\",");
        let err = parse_str(&text).unwrap_err().to_string();
        assert!(err.starts_with("test.ron:11:"), "{err}");
    }
}
