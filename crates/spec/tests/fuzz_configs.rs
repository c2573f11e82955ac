//! Property tests of the experiment loader and the `--set` parser/applier: random text and
//! mutations of the shipped `configs/*.ron` (truncated, bytes flipped, inserted or deleted,
//! numbers and names replaced by extreme values) never panic; every outcome is a typed
//! [`ConfigError`] naming the file, or an experiment that keeps the loader's promises.
//!
//! Failures are saved by proptest next to this file, in
//! `crates/experiment/tests/fuzz_configs.proptest-regressions`, and replayed first.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use spec::config::{ConfigError, check_experiment_name, check_variant_name, parse};
use spec::overrides::{Override, apply_overrides};
use trainer::TrialConfig;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// The shipped experiment files: (path, text).
fn shipped() -> &'static [(PathBuf, String)] {
    static FILES: std::sync::OnceLock<Vec<(PathBuf, String)>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let mut files: Vec<(PathBuf, String)> = std::fs::read_dir(configs_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "ron"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p, text)
            })
            .collect();
        files.sort();
        assert!(files.len() >= 13, "{files:?}");
        files
    })
}

/// One change to a text.
#[derive(Clone, Debug)]
enum Mutation {
    /// Keep only the first `at` bytes (a fraction of the length, 0..1000 per mille).
    Truncate(u16),
    /// XOR the byte at `at` with `mask` (non-zero).
    Flip(u16, u8),
    /// Insert these bytes at `at`.
    Insert(u16, Vec<u8>),
    /// Delete `len` bytes from `at`.
    Delete(u16, u8),
    /// Replace the `n`th number in the text by `value`.
    Number(u8, String),
    /// Replace the `n`th string literal in the text by `value` (written as a RON string).
    Str(u8, String),
    /// Write line `n` twice.
    DuplicateLine(u8),
}

fn interesting_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("18446744073709551616".to_string()),
        Just("4294967296".to_string()),
        Just("99999999999999999999999999".to_string()),
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("-inf".to_string()),
        Just("1e308".to_string()),
        Just("-0.0".to_string()),
        Just("0.5".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
    ]
}

fn interesting_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-x".to_string()),
        Just("a|b".to_string()),
        Just("a\nb".to_string()),
        Just("<!--".to_string()),
        Just("../..".to_string()),
        Just(".x".to_string()),
        Just("model.dropout".to_string()),
        Just("epochs".to_string()),
        Just("augmentations".to_string()),
        Just("schedule".to_string()),
        Just("Exponential(gamma: 2.0)".to_string()),
        Just("[RandomErasing(p: 2.0)]".to_string()),
        Just("none".to_string()),
        ".{0,12}",
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0u16..1000).prop_map(Mutation::Truncate),
        (0u16..1000, 1u8..=255).prop_map(|(at, mask)| Mutation::Flip(at, mask)),
        (0u16..1000, proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (0u16..1000, 1u8..64).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<u8>(), interesting_number()).prop_map(|(n, v)| Mutation::Number(n, v)),
        (any::<u8>(), interesting_string()).prop_map(|(n, v)| Mutation::Str(n, v)),
        any::<u8>().prop_map(Mutation::DuplicateLine),
    ]
}

/// Byte offset `per_mille` of the way through `len`.
fn at(per_mille: u16, len: usize) -> usize {
    len * usize::from(per_mille) / 1000
}

/// Spans of numbers (`-`? digits, `.`, `e`) outside string literals, roughly.
fn spans(text: &[u8], string: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'"' {
            let start = i;
            i += 1;
            while i < text.len() && text[i] != b'"' {
                if text[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            if string {
                out.push((start, (i + 1).min(text.len())));
            }
        } else if !string && text[i].is_ascii_digit() {
            let start = i;
            while i < text.len() && (text[i].is_ascii_digit() || text[i] == b'.') {
                i += 1;
            }
            out.push((start, i));
            continue;
        }
        i += 1;
    }
    out
}

fn apply(text: &str, mutation: &Mutation) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len();
    match mutation {
        Mutation::Truncate(p) => bytes.truncate(at(*p, len)),
        Mutation::Flip(p, mask) => {
            if len > 0 {
                bytes[at(*p, len - 1)] ^= mask;
            }
        }
        Mutation::Insert(p, new) => {
            let i = at(*p, len);
            bytes.splice(i..i, new.iter().copied());
        }
        Mutation::Delete(p, n) => {
            let i = at(*p, len);
            let end = (i + usize::from(*n)).min(len);
            bytes.drain(i..end);
        }
        Mutation::Number(n, value) | Mutation::Str(n, value) => {
            let string = matches!(mutation, Mutation::Str(..));
            let found = spans(&bytes, string);
            if !found.is_empty() {
                let (start, end) = found[usize::from(*n) % found.len()];
                let new = if string {
                    format!("{value:?}")
                } else {
                    value.clone()
                };
                bytes.splice(start..end, new.into_bytes());
            }
        }
        Mutation::DuplicateLine(n) => {
            let lines: Vec<&[u8]> = text.as_bytes().split(|&b| b == b'\n').collect();
            let k = usize::from(*n) % lines.len();
            let mut out = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                out.extend_from_slice(line);
                out.push(b'\n');
                if i == k {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
            }
            bytes = out;
        }
    }
    bytes
}

/// What every outcome must satisfy: a typed error naming the file, or an experiment that
/// keeps every promise of the loader.
fn check_outcome(path: &Path, result: Result<spec::Experiment, ConfigError>) {
    match result {
        Ok(e) => {
            check_experiment_name(&e.name).unwrap();
            assert!(!e.seeds.is_empty() && e.seeds.len() <= 1000);
            assert!(e.seeds.windows(2).all(|w| w[0] < w[1]));
            assert!(!e.variants.is_empty());
            assert!(e.variant(&e.baseline).is_some());
            for (i, v) in e.variants.iter().enumerate() {
                check_variant_name(&v.name).unwrap();
                for w in &e.variants[..i] {
                    assert_ne!(w.name, v.name);
                    assert_ne!(w.trial, v.trial, "{} and {} are the same", w.name, v.name);
                }
                if let Some(a) = v.study.accuracy {
                    assert!(a.is_finite() && (0.0..=100.0).contains(&a));
                }
                v.trial.config().clone().validate().unwrap();
            }
        }
        // A bad `--set` is a bad command line: it names the flag, not the file.
        Err(err @ ConfigError::BadSet { .. }) => {
            let message = err.to_string();
            assert!(
                message.starts_with("--set "),
                "the error names the flag: {message}"
            );
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                message.starts_with(&path.display().to_string()),
                "the error names the file: {message}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_shipped_configs_never_panic(
        file in 0usize..64,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let (path, text) = &shipped()[file % shipped().len()];
        let mut current = text.clone();
        for m in &mutations {
            current = String::from_utf8_lossy(&apply(&current, m)).into_owned();
        }
        check_outcome(path, parse(path, &current, &[]));
    }

    #[test]
    fn random_text_never_panics(text in ".{0,400}") {
        let path = Path::new("random.ron");
        check_outcome(path, parse(path, &text, &[]));
        let wrapped = format!("Experiment({text})");
        check_outcome(path, parse(path, &wrapped, &[]));
    }

    #[test]
    fn set_arguments_never_panic(
        path in prop_oneof![
            Just("epochs"), Just("batch_size"), Just("eval_batch_size"), Just("model"),
            Just("model.dropout"), Just("model.channels"), Just("model.kernel_size"),
            Just("model.architecture"), Just("model.batch_norm"), Just("optimizer.lr"),
            Just("optimizer.name"), Just("optimizer.momentum"), Just("schedule"),
            Just("schedule.gamma"), Just("schedule.every"), Just("augmentations"),
            Just("data.train_limit"), Just("data.test_limit"), Just("data"), Just(""),
            Just("model..dropout"), Just("a.b.c.d"), Just("augmentations.0.p"),
        ].prop_map(str::to_string),
        value in prop_oneof![interesting_number(), interesting_string()],
        raw in ".{0,40}",
        file in 0usize..64,
    ) {
        // The parser: any text.
        let _ = Override::parse(&raw);
        for text in [format!("{path}={value}"), format!("{path}{raw}"), raw.clone()] {
            let Ok(set) = Override::parse(&text) else { continue };
            // The applier: a typed error, or a configuration that serialises.
            if let Ok(config) = apply_overrides(&TrialConfig::default(), std::slice::from_ref(&set)) {
                let _ = store::id::canonical_json(&config);
                let _ = config.validate();
            }
            // The whole loader with it.
            let (file_path, file_text) = &shipped()[file % shipped().len()];
            check_outcome(file_path, parse(file_path, file_text, &[set]));
        }
    }
}
