//! The real files: locating, loading with verification, statistics, batches.

use data::{BatchOrder, FashionMnist, FileKind, Origin};
use tch::Kind;

use crate::util::{dataset, real_dir};

#[test]
fn locate_finds_the_real_files() {
    // Guard: with the files absent, `locate` would try the internet mirror.
    real_dir();
    let source = data::locate(None, None).unwrap();
    assert!(data::has_data(&source.dir), "{source:?}");
    if std::env::var_os(data::ENV_DIR).is_none() {
        assert!(
            matches!(source.origin, Origin::Cache | Origin::System),
            "{source:?}"
        );
    }
    let flagged = data::locate(Some(real_dir()), None).unwrap();
    assert_eq!(flagged.origin, Origin::Flag);
    assert_eq!(flagged.dir, real_dir());
}

#[test]
fn verified_load_has_the_published_counts_digest_and_classes() {
    let data = dataset();
    assert!(data.verified);
    assert_eq!(data.dir, real_dir());
    assert_eq!(data.digest, data::canonical_digest());
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    assert_eq!(data.train.images().size(), [60_000, 1, 28, 28]);
    assert_eq!(data.train.images().kind(), Kind::Uint8);
    assert_eq!(data.test.labels().size(), [10_000]);
    assert_eq!(data.test.labels().kind(), Kind::Int64);
    assert_eq!(data.train.class_counts(), [6_000; 10]);
    assert_eq!(data.test.class_counts(), [1_000; 10]);
    let (mean, std) = data.train.pixel_mean_std();
    assert!((mean - data::PIXEL_MEAN).abs() < 5e-4, "mean {mean}");
    assert!((std - data::PIXEL_STD).abs() < 5e-4, "std {std}");
}

#[test]
fn verify_dir_reports_every_file_as_matching() {
    let reports = data::verify_dir(real_dir());
    assert_eq!(reports.len(), 4);
    for (report, kind) in reports.into_iter().zip(FileKind::ALL) {
        let report = report.unwrap();
        assert_eq!(report.kind, kind);
        assert!(report.matched, "{report:?}");
        assert_eq!(report.sha256, kind.expected_sha256());
        assert_eq!(report.count, kind.expected_count());
        assert_eq!(report.shape[0], kind.expected_count());
        assert_eq!(report.path, real_dir().join(kind.gz_name()));
    }
}

#[test]
fn decompressed_files_load_too_and_a_changed_one_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_real(&FileKind::ALL, dir.path());
    // Replace the test labels by a decompressed copy with one label changed.
    let kind = FileKind::TestLabels;
    let gz = dir.path().join(kind.gz_name());
    let mut raw = data::idx::decode(&gz, &std::fs::read(&gz).unwrap(), 0).unwrap();
    std::fs::remove_file(&gz).unwrap();
    raw[8] = (raw[8] + 1) % 10;
    let path = dir.path().join(kind.file_name());
    std::fs::write(&path, &raw).unwrap();

    let err = FashionMnist::load(dir.path(), true).unwrap_err();
    match &err {
        data::DataError::Digest {
            path: p,
            expected,
            found,
        } => {
            assert_eq!(p, &path);
            assert_eq!(expected, kind.expected_sha256());
            assert_eq!(found, &data::sha256_hex(&raw));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(kind.expected_sha256()));

    // Without verification the structure still passes; the id changes.
    let data = FashionMnist::load(dir.path(), false).unwrap();
    assert!(!data.verified);
    assert_ne!(data.digest, data::canonical_digest());
    let reports = data::verify_dir(dir.path());
    assert!(!reports[3].as_ref().unwrap().matched);
    assert!(reports[..3].iter().all(|r| r.as_ref().unwrap().matched));
}

#[test]
fn missing_file_is_reported_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_real(&[FileKind::TrainLabels, FileKind::TestLabels], dir.path());
    let reports = data::verify_dir(dir.path());
    assert!(matches!(
        reports[0],
        Err(data::DataError::MissingFiles { .. })
    ));
    assert!(reports[1].is_ok());
    let err = FashionMnist::load(dir.path(), true).unwrap_err();
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");
}

/// `harness data verify`'s words: four matching files and the closing line; one changed
/// file is its own error; several missing ones are counted with the first named.
#[test]
fn the_verification_says_which_files_failed() {
    let good = data::Verification::of(real_dir());
    assert_eq!(good.lines.len(), 9, "{:?}", good.lines);
    assert_eq!(
        good.lines.iter().filter(|l| l.ends_with("  MATCH")).count(),
        4
    );
    assert_eq!(good.lines[8], "all 4 files match the published SHA-256");
    assert_eq!(good.error(), None);

    let dir = tempfile::tempdir().unwrap();
    crate::util::copy_real(&[FileKind::TrainLabels, FileKind::TestLabels], dir.path());
    let missing = data::Verification::of(dir.path());
    assert_eq!(missing.failures.len(), 2, "{missing:?}");
    assert!(missing.lines.iter().any(|l| l.contains("  INVALID  ")));
    assert!(!missing.lines.iter().any(|l| l.starts_with("all ")));
    let error = missing.error().unwrap();
    assert!(
        error.starts_with("2 of 4 files failed verification; first: "),
        "{error}"
    );
    assert!(error.contains("train-images-idx3-ubyte"), "{error}");

    let labels = dir.path().join(FileKind::TestLabels.gz_name());
    let mut bytes = std::fs::read(&labels).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&labels, bytes).unwrap();
    crate::util::copy_real(&[FileKind::TrainImages, FileKind::TestImages], dir.path());
    let changed = data::Verification::of(dir.path());
    assert_eq!(changed.failures.len(), 1, "{changed:?}");
    assert_eq!(changed.error().as_ref(), changed.failures.first());
}

/// `harness data info`'s words: the digest, 6,000 and 1,000 images per class, the totals
/// and the pixel statistics.
#[test]
fn the_info_lines_count_every_class() {
    let lines = dataset().info_lines();
    assert_eq!(
        lines[0],
        format!("dataset digest: {}", data::canonical_digest())
    );
    assert_eq!(lines.len(), 2 + 1 + 10 + 1 + 1 + 1, "{lines:?}");
    assert_eq!(lines[3], "    0  T-shirt/top     6000    1000");
    assert_eq!(lines[13], "       total          60000   10000");
    assert!(
        lines[15].starts_with("training pixels in [0, 1]: mean 0.28"),
        "{}",
        lines[15]
    );
    assert!(
        lines[15].ends_with("(normalisation uses 0.2860 / 0.3530)"),
        "{}",
        lines[15]
    );
}

#[test]
fn shuffled_batches_are_a_seeded_permutation_of_the_training_set() {
    let data = dataset();
    let order = |seed, epoch| {
        let batches = data
            .train
            .batches(1000, BatchOrder::Shuffled { seed, epoch });
        assert_eq!(batches.len(), 60);
        // Identify each example by a fingerprint of its pixels and label.
        let mut keys = Vec::new();
        for batch in batches {
            assert_eq!(batch.images.size(), [1000, 1, 28, 28]);
            assert_eq!(batch.images.kind(), Kind::Float);
            let weights = tch::Tensor::arange(784, (Kind::Double, tch::Device::Cpu));
            let fingerprint = batch
                .images
                .to_kind(Kind::Double)
                .view([-1, 784])
                .matmul(&weights);
            keys.extend(Vec::<f64>::try_from(&fingerprint).unwrap());
        }
        keys
    };
    let first = order(7, 0);
    let mut sorted = first.clone();
    sorted.sort_by(f64::total_cmp);
    let sequential: Vec<f64> = {
        let mut all = order_sequential(&data.train);
        all.sort_by(f64::total_cmp);
        all
    };
    assert_eq!(sorted, sequential, "not a permutation of the training set");
    assert_eq!(first, order(7, 0));
    assert_ne!(first, order(8, 0));
    assert_ne!(first, order(7, 1));
}

/// Fingerprints of the examples in sequential order.
fn order_sequential(split: &data::Split) -> Vec<f64> {
    let weights = tch::Tensor::arange(784, (Kind::Double, tch::Device::Cpu));
    let mut keys = Vec::new();
    for batch in split.batches(4096, BatchOrder::Sequential) {
        let fingerprint = batch
            .images
            .to_kind(Kind::Double)
            .view([-1, 784])
            .matmul(&weights);
        keys.extend(Vec::<f64>::try_from(&fingerprint).unwrap());
    }
    keys
}

#[test]
fn batch_shapes_and_the_last_partial_batch() {
    let data = dataset();
    let batches: Vec<_> = data.test.batches(256, BatchOrder::Sequential).collect();
    assert_eq!(batches.len(), 40);
    assert_eq!(batches[38].images.size(), [256, 1, 28, 28]);
    assert_eq!(batches[39].images.size(), [10_000 - 39 * 256, 1, 28, 28]);
    assert_eq!(batches[39].labels.size(), [16]);
    let max = batches[0].images.max().double_value(&[]);
    let min = batches[0].images.min().double_value(&[]);
    assert!(
        (0.0..=1.0).contains(&min) && max <= 1.0 && max > 0.9,
        "{min}..{max}"
    );

    let mut shuffled = data
        .test
        .take(1000)
        .batches(300, BatchOrder::Shuffled { seed: 3, epoch: 2 });
    assert_eq!(shuffled.len(), 4);
    let sizes: Vec<i64> = shuffled.by_ref().map(|b| b.labels.size()[0]).collect();
    assert_eq!(sizes, vec![300, 300, 300, 100]);
}
