//! Batch assembly benchmarks on the real training set (CPU): one epoch's worth of
//! shuffled batches of 256 gathered from the uint8 split and scaled to `[0, 1]`, and the
//! normalisation applied to each batch before the forward pass. Throughput is images/s.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, Throughput};
use data::{BatchOrder, FashionMnist, SYSTEM_DIR, normalize};

const BATCH: usize = 256;
const IMAGES: usize = 10_240;

fn benches(c: &mut Criterion) {
    let dataset =
        FashionMnist::load(Path::new(SYSTEM_DIR), true).expect("the real Fashion-MNIST files");
    let train = dataset.train.take(IMAGES);
    let order = BatchOrder::Shuffled { seed: 0, epoch: 0 };

    let mut group = c.benchmark_group("batch_cpu");
    group.throughput(Throughput::Elements(IMAGES as u64));
    group.bench_function(BenchmarkId::new("assemble_shuffled_epoch", IMAGES), |b| {
        b.iter(|| {
            for batch in train.batches(BATCH, order) {
                black_box(batch);
            }
        })
    });
    group.bench_function(
        BenchmarkId::new("assemble_and_normalise_epoch", IMAGES),
        |b| {
            b.iter(|| {
                for batch in train.batches(BATCH, order) {
                    let _ = black_box(normalize(&batch.images));
                }
            })
        },
    );
    group.throughput(Throughput::Elements(BATCH as u64));
    let one = train.batches(BATCH, order).next().expect("a batch").images;
    group.bench_function(BenchmarkId::new("normalise_batch", BATCH), |b| {
        b.iter(|| black_box(normalize(&one)))
    });
    group.finish();
}

// Written out instead of `criterion_group!`/`criterion_main!`, whose
// generated public function has no docs (`missing_docs` is denied).
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
