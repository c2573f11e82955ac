//! Throughput (images/s) of each augmentation, and of all three in a row, on a
//! 256-image 1 x 28 x 28 batch on the CPU.

use augmentation::{Augmentation, Pipeline};
use criterion::{BenchmarkId, Criterion, Throughput};
use tch::{Device, Kind, Tensor};

const BATCH: i64 = 256;

fn augment(c: &mut Criterion) {
    tch::manual_seed(0);
    let images = Tensor::rand([BATCH, 1, 28, 28], (Kind::Float, Device::Cpu));
    let cases = [
        ("flip", vec![Augmentation::DEFAULT_FLIP]),
        ("erasing", vec![Augmentation::DEFAULT_ERASING]),
        ("translation", vec![Augmentation::DEFAULT_TRANSLATION]),
        (
            "all_three",
            vec![
                Augmentation::DEFAULT_FLIP,
                Augmentation::DEFAULT_ERASING,
                Augmentation::DEFAULT_TRANSLATION,
            ],
        ),
    ];
    let mut group = c.benchmark_group("augment_cpu");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, augs) in cases {
        let mut pipeline = Pipeline::new(augs, 0);
        group.bench_function(BenchmarkId::new(name, BATCH), |b| {
            b.iter(|| pipeline.apply(&images))
        });
    }
    group.finish();
}

// Written out instead of `criterion_group!`/`criterion_main!`: the generated
// `pub fn benches` has no docs and `missing_docs` is denied under clippy.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    augment(&mut criterion);
    criterion.final_summary();
}
