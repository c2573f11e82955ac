//! Unit tests of [`Split`] and its batches on small synthetic tensors.

use super::*;

/// `n` images whose pixels all equal the example index (mod 256), labels `i % 10`.
fn synthetic(n: i64) -> Split {
    let images = Tensor::arange(n, (Kind::Int64, Device::Cpu))
        .remainder(256)
        .to_kind(Kind::Uint8)
        .view([n, 1, 1, 1])
        .expand([n, 1, 28, 28], false)
        .contiguous();
    let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(10);
    Split::new(images, labels).unwrap()
}

/// The example index each batch row came from (read back from its pixels).
fn ids(batch: &Batch) -> Vec<i64> {
    let first_pixel = (batch.images.select(1, 0).select(1, 0).select(1, 0) * 255.0).round();
    Vec::<f32>::try_from(&first_pixel)
        .unwrap()
        .into_iter()
        .map(|x| x as i64)
        .collect()
}

#[test]
fn new_rejects_bad_kinds_shapes_and_labels() {
    let labels = || Tensor::zeros([2], (Kind::Int64, Device::Cpu));
    let images = || Tensor::zeros([2, 1, 28, 28], (Kind::Uint8, Device::Cpu));
    let cases = [
        (images().to_kind(Kind::Float), labels(), "Uint8"),
        (
            Tensor::zeros([2, 28, 28], (Kind::Uint8, Device::Cpu)),
            labels(),
            "[2, 1, 28, 28]",
        ),
        (images(), labels().to_kind(Kind::Int), "Int64"),
        (
            images(),
            Tensor::zeros([3], (Kind::Int64, Device::Cpu)),
            "[3, 1, 28, 28]",
        ),
        (images(), Tensor::from_slice(&[0i64, 10]), "0..=9"),
        (images(), Tensor::from_slice(&[-1i64, 0]), "0..=9"),
    ];
    for (images, labels, needle) in cases {
        let err = Split::new(images, labels).unwrap_err();
        assert!(matches!(err, DataError::Split { .. }), "{err:?}");
        assert!(err.to_string().contains(needle), "{err} lacks {needle}");
    }
    assert!(Split::new(images(), labels()).is_ok());
}

#[test]
fn take_is_a_view_of_the_first_examples() {
    let split = synthetic(10);
    let head = split.take(3);
    assert_eq!(head.len(), 3);
    assert_eq!(head.images().data_ptr(), split.images().data_ptr());
    assert_eq!(Vec::<i64>::try_from(head.labels()).unwrap(), vec![0, 1, 2]);
    assert_eq!(split.take(100).len(), 10);
    assert!(split.take(0).is_empty());
}

#[test]
fn sequential_batches_keep_the_last_partial_one() {
    let split = synthetic(10);
    let batches = split.batches(4, BatchOrder::Sequential);
    assert_eq!(batches.len(), 3);
    let batches: Vec<Batch> = batches.collect();
    let sizes: Vec<i64> = batches.iter().map(|b| b.images.size()[0]).collect();
    assert_eq!(sizes, vec![4, 4, 2]);
    for batch in &batches {
        assert_eq!(batch.images.kind(), Kind::Float);
        assert_eq!(batch.images.size()[1..], [1, 28, 28]);
        assert_eq!(batch.labels.kind(), Kind::Int64);
    }
    let all: Vec<i64> = batches.iter().flat_map(ids).collect();
    assert_eq!(all, (0..10).collect::<Vec<_>>());
    assert_eq!(
        Vec::<i64>::try_from(&batches[2].labels).unwrap(),
        vec![8, 9]
    );
}

#[test]
fn batches_scale_pixels_to_unit_range() {
    let images = Tensor::from_slice(&[0u8, 51, 255, 128])
        .repeat([196])
        .view([1, 1, 28, 28]);
    let split = Split::new(images, Tensor::from_slice(&[3i64])).unwrap();
    let batch = split.batches(8, BatchOrder::Sequential).next().unwrap();
    let pixels = Vec::<f32>::try_from(&batch.images.flatten(0, -1).narrow(0, 0, 4)).unwrap();
    assert_eq!(pixels, vec![0.0, 0.2, 1.0, 128.0 / 255.0]);
}

#[test]
fn shuffled_batches_are_a_seeded_permutation() {
    let split = synthetic(50);
    let order = |seed, epoch| -> Vec<i64> {
        split
            .batches(7, BatchOrder::Shuffled { seed, epoch })
            .flat_map(|b| {
                // Labels travel with their images.
                let labels = Vec::<i64>::try_from(&b.labels).unwrap();
                let ids = ids(&b);
                assert!(ids.iter().zip(&labels).all(|(i, l)| i % 10 == *l));
                ids
            })
            .collect()
    };
    let first = order(1, 0);
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    assert_ne!(first, sorted);
    assert_eq!(first, order(1, 0));
    assert_ne!(first, order(2, 0));
    assert_ne!(first, order(1, 1));
    assert_eq!(
        BatchOrder::Shuffled { seed: 1, epoch: 0 }
            .permutation(50)
            .unwrap(),
        first
    );
}

#[test]
fn size_hint_counts_down() {
    let split = synthetic(9);
    let mut batches = split.batches(3, BatchOrder::Shuffled { seed: 0, epoch: 0 });
    for left in (0..3).rev() {
        batches.next().unwrap();
        assert_eq!(batches.len(), left);
    }
    assert!(batches.next().is_none());
}

#[test]
fn class_counts_and_pixel_statistics() {
    let split = synthetic(25);
    assert_eq!(split.class_counts(), [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]);
    let (mean, std) = split.pixel_mean_std();
    let pixels = split.images().to_kind(Kind::Double) / 255.0;
    let expected_mean = pixels.mean(Kind::Double).double_value(&[]);
    let expected_std = pixels.std(false).double_value(&[]);
    assert!(
        (mean - expected_mean).abs() < 1e-12,
        "{mean} vs {expected_mean}"
    );
    assert!((std - expected_std).abs() < 1e-9, "{std} vs {expected_std}");
}

#[test]
fn normalize_uses_the_training_statistics() {
    let x = Tensor::from_slice(&[PIXEL_MEAN as f32, (PIXEL_MEAN + PIXEL_STD) as f32]);
    let y = Vec::<f32>::try_from(&normalize(&x)).unwrap();
    assert!(y[0].abs() < 1e-6 && (y[1] - 1.0).abs() < 1e-6, "{y:?}");
}
