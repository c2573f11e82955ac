//! Every shipped experiment file parses and validates, and the study's tables are all
//! there with their published values.

use spec::config::load;
use std::path::{Path, PathBuf};

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn all_configs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(configs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_config_parses_and_validates() {
    let files = all_configs();
    assert!(
        files.len() >= 13,
        "expected the nine study files and more: {files:?}"
    );
    for file in files {
        let experiment = load(&file, &[]).unwrap_or_else(|e| panic!("{e}"));
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(experiment.name, stem, "name matches the file name");
        assert!(!experiment.variants.is_empty());
    }
}

#[test]
fn the_study_tables_carry_their_published_values() {
    let expect: &[(&str, &[(&str, f64)])] = &[
        (
            "architectures",
            &[
                ("2 conv", 92.84),
                ("2 conv + residual", 93.11),
                ("4 conv", 93.14),
                ("4 conv + residual", 92.98),
            ],
        ),
        (
            "channels",
            &[("32", 92.98), ("64", 92.48), ("128", 92.70), ("512", 91.46)],
        ),
        ("kernel", &[("1", 89.09), ("3", 93.14), ("5", 92.92)]),
        ("batchnorm", &[("no", 92.62), ("yes", 93.14)]),
        ("dropout", &[("0", 93.01), ("0.2", 93.14), ("0.5", 93.25)]),
        ("optimizer", &[("Adam", 93.14), ("SGD", 92.65)]),
        (
            "lr",
            &[
                ("0.1", 91.83),
                ("0.05", 92.34),
                ("0.01", 93.14),
                ("0.005", 93.18),
            ],
        ),
        ("scheduler", &[("step", 93.14), ("exponential", 92.86)]),
        (
            "augmentation",
            &[
                ("none", 93.14),
                ("flip", 93.47),
                ("erasing", 93.41),
                ("translation", 93.35),
                ("flip+erasing", 92.53),
                ("flip+translation", 92.92),
                ("erasing+translation", 93.12),
                ("all three", 92.78),
            ],
        ),
    ];
    for (name, variants) in expect {
        let experiment = load(&configs_dir().join(format!("{name}.ron")), &[]).unwrap();
        assert_eq!(experiment.variants.len(), variants.len(), "{name}");
        for (variant, accuracy) in *variants {
            let v = experiment
                .variant(variant)
                .unwrap_or_else(|| panic!("{name}: no variant {variant}"));
            assert_eq!(v.study.accuracy, Some(*accuracy), "{name}/{variant}");
        }
    }
}

#[test]
fn study_variants_differ_only_in_what_they_vary() {
    let e = load(&configs_dir().join("dropout.ron"), &[]).unwrap();
    let base = e.baseline_variant().trial.config().clone();
    for v in &e.variants {
        let mut c = v.trial.config().clone();
        c.model.dropout = base.model.dropout;
        assert_eq!(c, base, "{}", v.name);
    }
    let e = load(&configs_dir().join("scheduler.ron"), &[]).unwrap();
    assert_eq!(
        e.variant("exponential").unwrap().trial.schedule,
        trainer::Schedule::Exponential { gamma: 0.99 }
    );
    let e = load(&configs_dir().join("augmentation.ron"), &[]).unwrap();
    assert_eq!(e.variant("all three").unwrap().trial.augmentations.len(), 3);
}

// ---- Bad input: each is a clear error naming the file, the line and the field. ----

use spec::Experiment;
use spec::Override;
use spec::config::{ConfigError, parse};

/// A valid experiment; the tests below break one thing at a time.
const GOOD: &str = r#"// A test experiment.
Experiment(
    name: "test",
    title: "A test",
    seeds: 2,
    first_seed: 7,
    baseline: "a",
    base: (
        model: (architecture: conv2, channels: 8, kernel_size: 3, batch_norm: true, dropout: 0.2),
        optimizer: (name: adam, lr: 0.01),
        epochs: 2,
        data: (train_limit: 512, test_limit: 256),
    ),
    variants: [
        (name: "a", study: (accuracy: 93.0)),
        (name: "b", set: {"model.dropout": "0.5"}, study: (accuracy: 92.5, train_loss: 4.4, latency_ms: 1.2)),
        (name: "c", set: {"optimizer.name": "sgd"}),
    ],
)
"#;

fn parse_text(text: &str) -> Result<Experiment, ConfigError> {
    parse(Path::new("configs/test.ron"), text, &[])
}

/// Parses `text`, which must fail with `ConfigError::Invalid`; returns (line, field, the
/// whole message).
fn invalid(text: &str, sets: &[&str]) -> (usize, String, String) {
    let sets: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    match parse(Path::new("configs/test.ron"), text, &sets) {
        Err(err @ ConfigError::Invalid { .. }) => {
            let message = err.to_string();
            let ConfigError::Invalid { line, field, .. } = err else {
                unreachable!()
            };
            assert!(
                message.starts_with(&format!("configs/test.ron:{line}: field `{field}`")),
                "{message}"
            );
            (line, field, message)
        }
        // From the command line: line 0, the message names the flag.
        Err(err @ ConfigError::BadSet { .. }) => {
            let message = err.to_string();
            let ConfigError::BadSet { set, field, .. } = err else {
                unreachable!()
            };
            assert!(
                message.starts_with(&format!("--set {set}: field `{field}`")),
                "{message}"
            );
            (0, field, message)
        }
        Err(other) => panic!("expected an invalid value, got: {other}"),
        Ok(_) => panic!("accepted:\n{text}"),
    }
}

/// `GOOD` with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_test_experiment_is_valid() {
    let e = parse_text(GOOD).unwrap();
    assert_eq!(e.seeds, vec![7, 8]);
    assert_eq!(e.variants.len(), 3);
}

#[test]
fn two_variants_with_the_same_settings_are_rejected_naming_both() {
    // `d` sets the base's own dropout: it resolves to exactly `a`.
    let text = with(
        r#"(name: "c", set: {"optimizer.name": "sgd"}),"#,
        r#"(name: "c", set: {"optimizer.name": "sgd"}),
        (name: "d", set: {"model.dropout": "0.2", "epochs": "2"}),"#,
    );
    let (line, field, message) = invalid(&text, &[]);
    assert_eq!(line, 18, "the second variant's line: {message}");
    assert_eq!(field, "variants[d]");
    for part in [
        "`a` (line 15)",
        "`d` (line 18)",
        "same settings",
        "configs/test.ron",
    ] {
        assert!(message.contains(part), "{message} lacks {part}");
    }

    // Two variants that differ in text but not in effect (a schedule spelled two ways).
    let text = with(
        r#"(name: "c", set: {"optimizer.name": "sgd"}),"#,
        r#"(name: "c", set: {"schedule": "Step(every: 10, gamma: 0.1)"}),"#,
    );
    let (_, field, message) = invalid(&text, &[]);
    assert_eq!(field, "variants[c]", "{message}");

    // `--set` can make two variants the same: `c` differs from `a` only by SGD.
    let (line, field, message) = invalid(GOOD, &["optimizer.name=sgd"]);
    assert_eq!((line, field.as_str()), (17, "variants[c]"), "{message}");
    assert!(message.contains("--set optimizer.name=sgd"), "{message}");
}

#[test]
fn seeds_must_be_at_least_one_and_fit_in_u64() {
    let (line, field, message) = invalid(&with("seeds: 2,", "seeds: 0,"), &[]);
    assert_eq!((line, field.as_str()), (5, "seeds"), "{message}");
    assert!(message.contains("1..=1000"), "{message}");

    let text = with("first_seed: 7,", "first_seed: 18446744073709551615,");
    let (line, field, message) = invalid(&text, &[]);
    assert_eq!((line, field.as_str()), (6, "first_seed"), "{message}");
    assert!(message.contains("18446744073709551615 + 2"), "{message}");

    // The last seed that fits is fine.
    let text = with("first_seed: 7,", "first_seed: 18446744073709551613,");
    let e = parse_text(&text).unwrap();
    assert_eq!(e.seeds, vec![u64::MAX - 2, u64::MAX - 1]);
}

#[test]
fn variant_names_that_break_argv_tables_or_the_readme_are_rejected() {
    let bad = [
        r#""""#,
        r#""  ""#,
        r#""-a""#,
        r#""--variant""#,
        r#""a|b""#,
        r#""a\nb""#,
        r#""a\tb""#,
        r#""a\u{7}b""#,
        r#""a <!-- b""#,
        r#""b --> a""#,
        // Bidirectional controls (right-to-left override, isolates, marks).
        r#""adam\u{202E}dalb""#,
        r#""a\u{2066}b""#,
        r#""a\u{200F}b""#,
    ];
    for name in bad {
        let text = with(r#"(name: "b","#, &format!("(name: {name},"));
        let (line, field, message) = invalid(&text, &[]);
        assert_eq!(line, 16, "{name}: {message}");
        assert_eq!(field, "variants[#1].name", "{name}: {message}");
        assert!(message.contains("variant 2 of 3"), "{message}");
    }
    // Fine: spaces, dots, plus, slashes, digits, non-ASCII letters.
    let text = with(r#"(name: "b","#, r#"(name: "adam + flip/erasing 0.5 é","#);
    parse_text(&text).unwrap();
}

#[test]
fn duplicate_variant_names_are_rejected() {
    let text = with(r#"(name: "c","#, r#"(name: "a","#);
    let (line, field, message) = invalid(&text, &[]);
    assert_eq!(
        (line, field.as_str()),
        (17, "variants[a].name"),
        "{message}"
    );
    assert!(message.contains("line 15"), "{message}");
}

#[test]
fn the_experiment_name_must_be_one_safe_path_component() {
    for name in ["", "a/b", "../up", ".hidden", "a\\u{1}b", "a b", "x\\ny"] {
        let text = with(r#"name: "test","#, &format!("name: \"{name}\","));
        let (line, field, message) = invalid(&text, &[]);
        assert_eq!((line, field.as_str()), (3, "name"), "{name}: {message}");
        assert!(message.contains("folder under runs/"), "{message}");
    }
    // The line is the experiment's `name`, even when it is written after the variants.
    let text = GOOD.replacen("    name: \"test\",\n", "", 1).replacen(
        "    ],\n)",
        "    ],\n    name: \"../x\",\n)",
        1,
    );
    let (line, field, message) = invalid(&text, &[]);
    assert_eq!((line, field.as_str()), (18, "name"), "{message}");
}

#[test]
fn the_baseline_must_name_a_variant() {
    let (line, field, message) = invalid(&with(r#"baseline: "a","#, r#"baseline: "z","#), &[]);
    assert_eq!((line, field.as_str()), (7, "baseline"), "{message}");
    assert!(message.contains("a, b, c"), "{message}");
}

#[test]
fn study_values_must_be_finite_and_in_range() {
    let cases = [
        ("accuracy: 92.5", "accuracy: NaN", "accuracy"),
        ("accuracy: 92.5", "accuracy: inf", "accuracy"),
        ("accuracy: 92.5", "accuracy: -0.5", "accuracy"),
        ("accuracy: 92.5", "accuracy: 100.5", "accuracy"),
        ("train_loss: 4.4", "train_loss: -inf", "train_loss"),
        ("train_loss: 4.4", "train_loss: -1.0", "train_loss"),
        ("latency_ms: 1.2", "latency_ms: NaN", "latency_ms"),
    ];
    for (from, to, key) in cases {
        let (line, field, message) = invalid(&with(from, to), &[]);
        assert_eq!(line, 16, "{to}: {message}");
        assert_eq!(field, format!("variants[b].study.{key}"), "{message}");
    }
    // The bounds are allowed.
    parse_text(&with("accuracy: 92.5", "accuracy: 100.0")).unwrap();
    parse_text(&with("accuracy: 92.5", "accuracy: 0.0")).unwrap();
}

#[test]
fn set_values_out_of_range_name_the_field_and_the_allowed_range() {
    let cases = [
        ("epochs=99999999999", "epochs", "1..=10000"),
        ("epochs=0", "epochs", "1..=10000"),
        ("batch_size=-1", "batch_size", "1..=65536"),
        ("model.dropout=1.5", "model.dropout", "[0, 1)"),
        ("optimizer.lr=nan", "optimizer.lr", "(0, 10]"),
        ("optimizer.lr=20", "optimizer.lr", "(0, 10]"),
        ("data.train_limit=70000", "data.train_limit", "1..=60000"),
    ];
    for (set, expected_field, range) in cases {
        let (line, field, message) = invalid(GOOD, &[set]);
        assert_eq!(line, 0, "from the command line, not the file: {message}");
        assert_eq!(field, expected_field, "{message}");
        assert!(message.contains(range), "{set}: {message}");
        assert!(message.contains("--set"), "{set}: {message}");
        let value = set.split_once('=').unwrap().1;
        assert!(message.contains(value), "{set}: {message}");
    }
}

#[test]
fn errors_in_a_variant_point_at_its_own_line() {
    // The variant named "a" is also the baseline (line 7): the error is on line 15.
    let text = with(
        r#"(name: "a", study: (accuracy: 93.0)),"#,
        r#"(name: "a", set: {"epochs": "0"}, study: (accuracy: 93.0)),"#,
    );
    let (line, field, message) = invalid(&text, &[]);
    assert_eq!(
        (line, field.as_str()),
        (15, "variants[a].epochs"),
        "{message}"
    );
}
