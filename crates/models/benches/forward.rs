//! Eval-mode, no-grad forward latency of each architecture (study baseline:
//! w 32, k 3, batch norm, dropout 0.2) on the CPU, at batch 1 and batch 256.

use criterion::{BenchmarkId, Criterion, Throughput};
use models::{Architecture, ModelConfig, Net};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

fn forward(c: &mut Criterion) {
    tch::manual_seed(0);
    let mut group = c.benchmark_group("forward_eval");
    for architecture in Architecture::ALL {
        let cfg = ModelConfig {
            architecture,
            ..ModelConfig::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &cfg);
        for batch in [1_i64, 256] {
            let xs = Tensor::randn([batch, 1, 28, 28], (Kind::Float, Device::Cpu));
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(architecture.name(), batch),
                &xs,
                |b, xs| {
                    b.iter(|| tch::no_grad(|| net.forward_t(xs, false)));
                },
            );
        }
    }
    group.finish();
}

// Written out instead of `criterion_group!`/`criterion_main!`: the generated
// `pub fn benches` has no docs and `missing_docs` is denied under clippy.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    forward(&mut criterion);
    criterion.final_summary();
}
