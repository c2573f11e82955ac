//! Experiment files (`configs/*.ron`): a base trial, named variants that override it, the
//! seeds, and the values the original study published for each variant.
//!
//! Loading is two-stage: the RON text is parsed into [`ExperimentFile`], which mirrors the
//! file, then every variant is resolved (base, then `--set` overrides, then the variant's
//! own overrides) and validated into a [`trainer::ValidTrial`]. Every error names the
//! file, the line and the field.

use crate::overrides::{Override, apply_overrides};
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
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
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
}

/// Parses RON with the `implicit_some` extension, so optional fields are written plainly
/// (`train_limit: 2000`, not `Some(2000)`).
pub(crate) fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
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

/// [`load`] on text already read; `path` is used in messages.
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
    let invalid = |line: usize, field: String, message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        field,
        message,
    };
    if !is_slug(&file.name) {
        return Err(invalid(
            find_field_line(text, &["name"]),
            "name".into(),
            format!(
                "`{}` must be a short name of letters, digits, '-' and '_' (it names a folder)",
                file.name
            ),
        ));
    }
    if file.seeds == 0 || file.seeds > 1000 {
        return Err(invalid(
            find_field_line(text, &["seeds"]),
            "seeds".into(),
            format!("must be in 1..=1000, got {}", file.seeds),
        ));
    }
    if file.variants.is_empty() {
        return Err(invalid(
            find_field_line(text, &["variants"]),
            "variants".into(),
            "an experiment needs at least one variant".into(),
        ));
    }
    let base = apply_overrides(&file.base, overrides)
        .map_err(|e| invalid(0, e.field, format!("--set: {}", e.message)))?;
    // The base itself must be valid, so that errors point at the base's line rather than
    // at the first variant.
    base.clone().validate().map_err(|e| {
        let line = find_field_line(text, &path_segments(&e.field));
        invalid(line, e.field, e.message)
    })?;

    let mut variants: Vec<Variant> = Vec::new();
    for variant in &file.variants {
        let variant_line = find_string_line(text, &format!("\"{}\"", variant.name));
        if variants.iter().any(|v| v.name == variant.name) {
            return Err(invalid(
                variant_line,
                format!("variants[{}].name", variant.name),
                "two variants have this name".into(),
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
        let config = apply_overrides(&base, &sets).map_err(|e| {
            let line = find_string_line(text, &format!("\"{}\"", e.field)).max(variant_line);
            invalid(
                line,
                format!("variants[{}].set.{}", variant.name, e.field),
                e.message,
            )
        })?;
        let trial = config.validate().map_err(|e| {
            let line = find_string_line(text, &format!("\"{}\"", e.field)).max(variant_line);
            invalid(
                line,
                format!("variants[{}].{}", variant.name, e.field),
                e.message,
            )
        })?;
        variants.push(Variant {
            name: variant.name.clone(),
            trial,
            study: variant.study.clone(),
        });
    }
    if !variants.iter().any(|v| v.name == file.baseline) {
        return Err(invalid(
            find_field_line(text, &["baseline"]),
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
        seeds: (file.first_seed..file.first_seed + u64::from(file.seeds)).collect(),
        baseline: file.baseline,
        variants,
        overrides: overrides.to_vec(),
    })
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `augmentations[1].p` -> `["augmentations", "p"]`, `model.dropout` -> `["model", "dropout"]`.
fn path_segments(field: &str) -> Vec<&str> {
    field
        .split('.')
        .map(|s| s.split('[').next().unwrap_or(s))
        .collect()
}

/// The 1-based line where the nested field `segments` is written (`name:` after its
/// parents), or 0 when it is not written (a default).
fn find_field_line(text: &str, segments: &[&str]) -> usize {
    let mut from = 0;
    for segment in segments {
        match find_key(&text[from..], segment) {
            Some(at) => from += at,
            None => return 0,
        }
    }
    line_of(text, from)
}

/// Offset of `key` written as a field (`key` then optional spaces then `:`), as a whole
/// word.
fn find_key(text: &str, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut start = 0;
    while let Some(found) = text[start..].find(key) {
        let at = start + found;
        let end = at + key.len();
        let word_start = at == 0 || !is_ident(bytes[at - 1]);
        let rest = text[end..].trim_start_matches([' ', '\t']);
        if word_start && rest.starts_with(':') {
            return Some(at);
        }
        start = end;
    }
    None
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn find_string_line(text: &str, needle: &str) -> usize {
    text.find(needle).map_or(0, |at| line_of(text, at))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
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
