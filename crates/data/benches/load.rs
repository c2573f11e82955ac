//! Loading benchmarks on the real files in `/usr/share/datasets/fashion-mnist`:
//! the whole strict, verified load; the training images alone; and its two
//! costly parts, gzip decoding and SHA-256 of 47 MB.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput};
use data::{FashionMnist, FileKind, SYSTEM_DIR, idx, sha256_hex};

fn benches(c: &mut Criterion) {
    let dir = Path::new(SYSTEM_DIR);
    let kind = FileKind::TrainImages;
    let gz_path = dir.join(kind.gz_name());
    let gz = std::fs::read(&gz_path).expect("the real Fashion-MNIST files");
    let raw = idx::decode(&gz_path, &gz, kind.expected_len()).unwrap();

    let mut group = c.benchmark_group("load");
    group.bench_function("fashion_mnist_load_verify_all_four_gz", |b| {
        b.iter(|| black_box(FashionMnist::load(dir, true).unwrap()))
    });
    group.bench_function("train_images_read_check_hash_gz", |b| {
        b.iter(|| {
            let file = idx::read_file(&gz_path, kind).unwrap();
            black_box(sha256_hex(&file.bytes))
        })
    });
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("gzip_decode_train_images_47MB", |b| {
        b.iter(|| black_box(idx::decode(&gz_path, &gz, kind.expected_len()).unwrap()))
    });
    group.bench_function("sha256_47MB", |b| b.iter(|| black_box(sha256_hex(&raw))));
    group.finish();
}

// Written out instead of `criterion_group!`/`criterion_main!`, whose
// generated public function has no docs (`missing_docs` is denied).
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
