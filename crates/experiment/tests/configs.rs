//! Every shipped experiment file parses and validates, and the study's tables are all
//! there with their published values.

use experiment::config::load;
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
