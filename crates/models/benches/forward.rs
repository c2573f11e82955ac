//! Eval-mode, no-grad forward latency of each architecture (study baseline:
//! w 32, k 3, batch norm, dropout 0.2) on the CPU, at batch 1 and batch 256: the net
//! itself (`net`) and its folded inference copies (`folded_<layout>`: batch norm folded
//! into the convolutions, see `models::net::FoldedNet`), which the latency measurement
//! times. `cargo bench -p models -- conv4` runs one architecture.

use criterion::{BenchmarkId, Criterion, Throughput};
use models::net::Layout;
use models::{Architecture, ModelConfig, Net};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

fn forward(c: &mut Criterion) {
    tch::manual_seed(0);
    for architecture in Architecture::ALL {
        let cfg = ModelConfig {
            architecture,
            ..ModelConfig::default()
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), &cfg);
        let layouts = [
            ("folded_contiguous", Layout::Contiguous),
            ("folded_channels_last", Layout::ChannelsLast),
            ("folded_mkldnn", Layout::Mkldnn),
        ];
        let folded: Vec<_> = layouts
            .iter()
            .map(|(name, layout)| (*name, net.folded(*layout)))
            .collect();
        let mut group = c.benchmark_group(format!("forward_eval/{}", architecture.name()));
        for batch in [1_i64, 256] {
            let xs = Tensor::randn([batch, 1, 28, 28], (Kind::Float, Device::Cpu));
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::new("net", batch), &xs, |b, xs| {
                b.iter(|| tch::no_grad(|| net.forward_t(xs, false)));
            });
            for (name, copy) in &folded {
                group.bench_with_input(BenchmarkId::new(*name, batch), &xs, |b, xs| {
                    b.iter(|| copy.forward(xs));
                });
            }
        }
        group.finish();
    }
}

// Written out instead of `criterion_group!`/`criterion_main!`: the generated
// `pub fn benches` has no docs and `missing_docs` is denied under clippy.
fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    forward(&mut criterion);
    criterion.final_summary();
}
