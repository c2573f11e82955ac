//! Hydra-style overrides: `--set model.dropout=0.5` sets one field of a trial
//! configuration by its dotted path. The existing value's type decides how the text is
//! read (number, boolean, name); whole sections that are enums or lists (`schedule`,
//! `augmentations`) take RON, e.g. `--set 'schedule=Exponential(gamma: 0.95)'`.

use augmentation::Augmentation;
use serde_json::Value;
use trainer::{Schedule, TrialConfig};

/// Parses RON with the `implicit_some` extension, so optional fields are written plainly
/// (`train_limit: 2000`, not `Some(2000)`).
pub fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
}

/// One `path=value` override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// Dotted path, e.g. `model.dropout`.
    pub path: String,
    /// The value as written.
    pub value: String,
}

/// An override that cannot be applied, naming its path.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct OverrideError {
    /// The dotted path as given.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl Override {
    /// Parses `path=value`.
    pub fn parse(text: &str) -> Result<Override, OverrideError> {
        match text.split_once('=') {
            Some((path, value)) if !path.trim().is_empty() => Ok(Override {
                path: path.trim().to_string(),
                value: value.trim().to_string(),
            }),
            _ => Err(OverrideError {
                field: text.to_string(),
                message: "expected PATH=VALUE, e.g. model.dropout=0.5".into(),
            }),
        }
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.path, self.value)
    }
}

/// Applies `sets` in order to a copy of `base`. Only types are checked here; ranges are
/// checked by validation afterwards.
pub fn apply_overrides(
    base: &TrialConfig,
    sets: &[Override],
) -> Result<TrialConfig, OverrideError> {
    let mut config = base.clone();
    for set in sets {
        let error = |message: String| OverrideError {
            field: set.path.clone(),
            message,
        };
        let mut root = serde_json::to_value(&config).map_err(|e| error(e.to_string()))?;
        set_path(&mut root, &set.path, &set.value).map_err(error)?;
        config = serde_json::from_value(root).map_err(|e| {
            // A number that parsed but does not fit the field's type (`epochs=99999999999`).
            error(match allowed(&set.path) {
                Some(allowed) => format!("`{}` is out of range: allowed {allowed}", set.value),
                None => e.to_string(),
            })
        })?;
    }
    Ok(config)
}

/// The numeric settings and the values validation allows for each (the core of its
/// message, e.g. `1..=10000`), and whether they are whole numbers. Kept in step with
/// `TrialConfig::validate` by a test; used to say what is allowed when a `--set` value does
/// not even fit the field's type.
const RANGES: &[(&str, bool, &str)] = &[
    ("epochs", true, "1..=10000"),
    ("batch_size", true, "1..=65536"),
    ("eval_batch_size", true, "1..=65536"),
    ("data.train_limit", true, "1..=60000"),
    ("data.test_limit", true, "1..=10000"),
    ("model.channels", true, "1..=4096"),
    ("model.kernel_size", true, "1..=7"),
    ("schedule.every", true, ">= 1"),
    ("model.dropout", false, "[0, 1)"),
    ("optimizer.lr", false, "(0, 10]"),
    ("optimizer.momentum", false, "[0, 1)"),
    ("optimizer.weight_decay", false, ">= 0"),
    ("schedule.gamma", false, "(0, 1]"),
];

/// What a numeric setting allows, in words (`a whole number in 1..=10000`), if `path` is
/// one.
pub fn allowed(path: &str) -> Option<String> {
    let &(_, whole, range) = RANGES.iter().find(|(p, _, _)| *p == path)?;
    let what = if whole {
        "a whole number"
    } else {
        "a finite number"
    };
    let optional = if path.starts_with("data.") {
        ", or none"
    } else {
        ""
    };
    Some(if range.starts_with(['>', '<']) {
        format!("{what} {range}{optional}")
    } else {
        format!("{what} in {range}{optional}")
    })
}

fn set_path(root: &mut Value, path: &str, text: &str) -> Result<(), String> {
    match path {
        "schedule" => {
            let schedule: Schedule = parse_ron_enum(text)?;
            // JSON has no NaN or infinity: say so before the conversion turns it into null.
            if let Schedule::Step { gamma, .. } | Schedule::Exponential { gamma } = schedule
                && !gamma.is_finite()
            {
                return Err(format!(
                    "gamma `{gamma}` is not a finite number: expected {}",
                    allowed("schedule.gamma").expect("a listed setting")
                ));
            }
            root["schedule"] = serde_json::to_value(schedule).map_err(|e| e.to_string())?;
            return Ok(());
        }
        "augmentations" => {
            let augs: Vec<Augmentation> = ron_options()
                .from_str(text)
                .map_err(|e| format!("expected a RON list like [HorizontalFlip(p: 0.5)]: {e}"))?;
            root["augmentations"] = serde_json::to_value(augs).map_err(|e| e.to_string())?;
            return Ok(());
        }
        // Left out of the serialised config at its default (fp32), so set here by name.
        "precision" => {
            let precision: models::Precision = text
                .parse()
                .map_err(|_| format!("expected fp32 or bf16, got `{text}`"))?;
            root["precision"] = Value::String(precision.name().into());
            return Ok(());
        }
        "fix" => {
            let fixed: Vec<trainer::RandomSource> = ron_options().from_str(text).map_err(|e| {
                format!("expected a RON list of init, order, augment, dropout like [init]: {e}")
            })?;
            root["fix"] = serde_json::to_value(fixed).map_err(|e| e.to_string())?;
            return Ok(());
        }
        _ => {}
    }
    let segments: Vec<&str> = path.split('.').collect();
    let mut node = root;
    let mut walked = String::new();
    for (i, segment) in segments.iter().enumerate() {
        node = unwrap_enum(node, segment);
        let Value::Object(map) = node else {
            return Err(format!("`{walked}` has no fields"));
        };
        if !map.contains_key(*segment) {
            let mut known: Vec<&str> = map.keys().map(String::as_str).collect();
            if walked.is_empty() {
                // Left out of the serialised trial at their defaults, but settable by name.
                known.extend(["fix", "precision"]);
                known.sort_unstable();
                known.dedup();
            }
            let place = if walked.is_empty() {
                "the trial".to_string()
            } else {
                format!("`{walked}`")
            };
            return Err(format!(
                "unknown field `{segment}` in {place} (known: {})",
                known.join(", ")
            ));
        }
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(segment);
        let child = map.get_mut(*segment).expect("checked above");
        if i + 1 == segments.len() {
            *child = leaf_value(child, text, &walked)?;
            return Ok(());
        }
        node = child;
    }
    Err("empty path".into())
}

/// Steps into an externally tagged enum (`{"Step": {...}}`) so that `schedule.gamma`
/// reaches the active variant's field.
fn unwrap_enum<'a>(node: &'a mut Value, segment: &str) -> &'a mut Value {
    let is_tagged = match &*node {
        Value::Object(map) => {
            map.len() == 1
                && !map.contains_key(segment)
                && map
                    .keys()
                    .next()
                    .is_some_and(|k| k.starts_with(|c: char| c.is_ascii_uppercase()))
        }
        _ => false,
    };
    if is_tagged {
        node.as_object_mut()
            .and_then(|m| m.values_mut().next())
            .expect("checked above")
    } else {
        node
    }
}

fn leaf_value(existing: &Value, text: &str, path: &str) -> Result<Value, String> {
    let unquoted = text.trim_matches('"');
    let is_none = matches!(text, "none" | "None" | "null");
    let expected = |what: &str| match allowed(path) {
        Some(allowed) => format!("expected {allowed}, got `{text}`"),
        None => format!("expected {what}, got `{text}`"),
    };
    match existing {
        Value::Bool(_) => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got `{text}`")),
        },
        Value::Number(n) => {
            if n.is_f64() {
                match text.parse::<f64>() {
                    Ok(x) if !x.is_finite() => Err(format!(
                        "`{text}` is not a finite number: {}",
                        expected("a finite number")
                    )),
                    Ok(x) => serde_json::Number::from_f64(x)
                        .map(Value::Number)
                        .ok_or_else(|| expected("a number")),
                    Err(_) => Err(expected("a number")),
                }
            } else if is_none {
                Ok(Value::Null)
            } else {
                match text.parse::<i128>() {
                    Ok(x) => u64::try_from(x)
                        .map(|x| Value::Number(x.into()))
                        .map_err(|_| match allowed(path) {
                            Some(allowed) => format!("`{text}` is out of range: allowed {allowed}"),
                            None => format!("`{text}` is out of range"),
                        }),
                    Err(_) => Err(expected("a whole number")),
                }
            }
        }
        Value::Null => {
            if is_none {
                Ok(Value::Null)
            } else if let Ok(x) = text.parse::<u64>() {
                Ok(Value::Number(x.into()))
            } else {
                Ok(Value::String(unquoted.to_string()))
            }
        }
        Value::String(_) => Ok(Value::String(unquoted.to_string())),
        Value::Array(_) | Value::Object(_) => Err(format!(
            "`{path}` is a section, not a value: set one of its fields (e.g. {path}.<field>=...)"
        )),
    }
}

fn parse_ron_enum<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    let options = ron_options();
    options
        .from_str(text)
        .or_else(|first: ron::error::SpannedError| {
            options
                .from_str(&format!("{text}()"))
                .map_err(|_| first.to_string())
        })
        .map_err(|e| format!("expected e.g. Step(every: 10, gamma: 0.1), Exponential(gamma: 0.99) or Constant: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::Architecture;

    fn apply(sets: &[&str]) -> Result<TrialConfig, OverrideError> {
        let sets: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
        apply_overrides(&TrialConfig::default(), &sets)
    }

    #[test]
    fn precision_is_set_by_name_and_fp32_leaves_the_config_as_it_was() {
        let bf16 = apply(&["precision=bf16"]).unwrap();
        assert_eq!(bf16.precision, models::Precision::Bf16);
        let back = apply(&["precision=bf16", "precision=fp32"]).unwrap();
        assert_eq!(back, TrialConfig::default());
        let err = apply(&["precision=fp16"]).unwrap_err();
        assert!(
            err.message.contains("expected fp32 or bf16"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_schedule_with_a_nan_gamma_says_it_is_not_a_finite_number() {
        for text in [
            "schedule=Exponential(gamma: NaN)",
            "schedule=Step(every: 2, gamma: inf)",
        ] {
            let err = apply(&[text]).unwrap_err();
            assert_eq!(err.field, "schedule");
            assert!(
                err.message.contains("is not a finite number"),
                "{}",
                err.message
            );
            assert!(err.message.contains("(0, 1]"), "{}", err.message);
        }
    }

    #[test]
    fn sets_typed_leaves() {
        let c = apply(&[
            "model.dropout=0.5",
            "epochs=1",
            "data.train_limit=2000",
            "data.test_limit=1000",
            "model.batch_norm=false",
            "model.architecture=conv2_res",
            "optimizer.name=sgd",
            "schedule.gamma=0.5",
        ])
        .unwrap();
        assert_eq!(c.model.dropout, 0.5);
        assert_eq!(c.epochs, 1);
        assert_eq!(c.data.train_limit, Some(2000));
        assert_eq!(c.data.test_limit, Some(1000));
        assert!(!c.model.batch_norm);
        assert_eq!(c.model.architecture, Architecture::Conv2Res);
        assert_eq!(c.optimizer.name, trainer::OptimizerKind::Sgd);
        assert_eq!(
            c.schedule,
            Schedule::Step {
                every: 10,
                gamma: 0.5
            }
        );
        let c = apply(&["data.train_limit=2000", "data.train_limit=none"]).unwrap();
        assert_eq!(c.data.train_limit, None);
    }

    #[test]
    fn sets_whole_enum_sections_from_ron() {
        let c = apply(&["schedule=Exponential(gamma: 0.95)"]).unwrap();
        assert_eq!(c.schedule, Schedule::Exponential { gamma: 0.95 });
        let c = apply(&["schedule=Constant"]).unwrap();
        assert_eq!(c.schedule, Schedule::Constant);
        let c = apply(&["augmentations=[HorizontalFlip(p: 0.5)]"]).unwrap();
        assert_eq!(c.augmentations.len(), 1);
    }

    #[test]
    fn errors_name_the_path() {
        let err = apply(&["model.dropuot=0.5"]).unwrap_err();
        assert_eq!(err.field, "model.dropuot");
        assert!(
            err.message.contains("unknown field `dropuot` in `model`"),
            "{err}"
        );
        // The top level lists every settable field, those left out at their defaults too.
        let err = apply(&["precison=bf16"]).unwrap_err();
        let known = err.message.split("(known: ").nth(1).expect("a known list");
        let known: Vec<&str> = known.trim_end_matches(')').split(", ").collect();
        for field in ["epochs", "fix", "model", "precision", "schedule"] {
            assert!(known.contains(&field), "{field}: {err}");
        }
        let err = apply(&["epochs=many"]).unwrap_err();
        assert!(err.message.contains("whole number"), "{err}");
        let err = apply(&["epochs=1.5"]).unwrap_err();
        assert_eq!(err.field, "epochs");
        let err = apply(&["model.dropout=abc"]).unwrap_err();
        assert!(
            err.message.contains("expected a finite number in [0, 1)"),
            "{err}"
        );
        let err = apply(&["model.architecture=conv9"]).unwrap_err();
        assert!(err.message.contains("conv9"), "{err}");
        let err = apply(&["model=1"]).unwrap_err();
        assert!(err.message.contains("section"), "{err}");
        assert!(Override::parse("nonsense").is_err());
    }

    /// Values that do not fit the field's type, or are not finite, name the field and what
    /// it allows.
    #[test]
    fn values_out_of_their_type_name_the_field_and_the_allowed_range() {
        let cases = [
            (
                "epochs=99999999999",
                "epochs",
                "a whole number in 1..=10000",
            ),
            ("epochs=-1", "epochs", "a whole number in 1..=10000"),
            ("batch_size=-1", "batch_size", "a whole number in 1..=65536"),
            (
                "batch_size=99999999999999999999999",
                "batch_size",
                "a whole number in 1..=65536",
            ),
            ("eval_batch_size=1e3", "eval_batch_size", "1..=65536"),
            (
                "optimizer.lr=nan",
                "optimizer.lr",
                "a finite number in (0, 10]",
            ),
            ("optimizer.lr=inf", "optimizer.lr", "(0, 10]"),
            ("model.dropout=-inf", "model.dropout", "[0, 1)"),
            ("model.channels=-3", "model.channels", "1..=4096"),
            ("model.kernel_size=none", "model.kernel_size", "1..=7"),
            ("schedule.every=-1", "schedule.every", "a whole number >= 1"),
            ("schedule.every=4294967296", "schedule.every", ">= 1"),
            (
                "data.train_limit=-5",
                "data.train_limit",
                "1..=60000, or none",
            ),
            (
                "data.test_limit=1.5",
                "data.test_limit",
                "1..=10000, or none",
            ),
        ];
        for (set, field, allowed) in cases {
            let err = apply(&[set]).unwrap_err();
            assert_eq!(err.field, field, "{set}: {err}");
            assert!(err.message.contains(allowed), "{set}: {err}");
            let value = set.split_once('=').unwrap().1;
            assert!(err.message.contains(value), "{set}: {err}");
        }
        // From a `None` default too.
        let err = apply(&["data.train_limit=99999999999999999999999"]).unwrap_err();
        assert!(err.message.contains("1..=60000"), "{err}");
    }

    /// The ranges quoted above are the ones validation applies: a value just outside each
    /// range (but of the right type) fails validation with a message quoting the same range.
    #[test]
    fn the_quoted_ranges_are_the_validated_ones() {
        let outside = [
            ("epochs", "10001"),
            ("batch_size", "0"),
            ("eval_batch_size", "65537"),
            ("data.train_limit", "60001"),
            ("data.test_limit", "0"),
            ("model.channels", "4097"),
            ("model.kernel_size", "9"),
            ("schedule.every", "0"),
            ("model.dropout", "1"),
            ("optimizer.lr", "0"),
            ("optimizer.momentum", "1"),
            ("optimizer.weight_decay", "-0.5"),
            ("schedule.gamma", "1.5"),
        ];
        assert_eq!(outside.len(), RANGES.len(), "every range is checked");
        for (path, value) in outside {
            let &(_, _, range) = RANGES.iter().find(|(p, _, _)| *p == path).unwrap();
            let config = apply(&[&format!("{path}={value}")]).unwrap();
            let err = config.validate().unwrap_err();
            assert_eq!(err.field, path, "{err}");
            assert!(err.message.contains(range), "{path}: `{err}` lacks {range}");
        }
        // And the bounds themselves are allowed.
        for set in [
            "epochs=10000",
            "batch_size=1",
            "eval_batch_size=65536",
            "data.train_limit=60000",
            "data.test_limit=1",
            "model.channels=4096",
            "model.kernel_size=7",
            "schedule.every=1",
            "model.dropout=0",
            "optimizer.lr=10",
            "optimizer.momentum=0",
            "optimizer.weight_decay=0",
            "schedule.gamma=1",
        ] {
            apply(&[set]).unwrap().validate().unwrap();
        }
    }

    /// Every numeric leaf of a trial configuration has a quoted range.
    #[test]
    fn every_numeric_setting_has_a_range() {
        fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        // Step into an enum's fields without naming the variant.
                        let child = if k.starts_with(|c: char| c.is_ascii_uppercase()) {
                            path.clone()
                        } else if path.is_empty() {
                            k.clone()
                        } else {
                            format!("{path}.{k}")
                        };
                        leaves(v, child, out);
                    }
                }
                Value::Number(_) => out.push(path),
                Value::Null if path.starts_with("data.") => out.push(path),
                _ => {}
            }
        }
        let mut found = Vec::new();
        leaves(
            &serde_json::to_value(TrialConfig::default()).unwrap(),
            String::new(),
            &mut found,
        );
        for path in found {
            assert!(allowed(&path).is_some(), "no range quoted for `{path}`");
        }
    }
}
