#!/usr/bin/env python3
"""Interleaved A/B of ReLU before vs after the 2x2 max-pool in 2 conv's inference pass, with
the libtorch operators the folded net calls (oneDNN's layout: mkldnn_convolution and
mkldnn_max_pool2d; channels-last: conv2d and max_pool2d), 2 threads. The outputs are checked
equal first (the two orders commute exactly). It decided that `FoldedNet` defers the ReLU
past the pool in oneDNN's layout only.

    ~/.cache/fmnist-harness/torch-2.11.0/bin/python bench/relu_pool_ab.py   # scripts/setup.sh --bench makes it
"""

import statistics
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)
F = torch.nn.functional
w1, b1 = torch.randn(32, 1, 3, 3), torch.randn(32)
w2, b2 = torch.randn(64, 32, 3, 3) * 0.1, torch.randn(64)


def layouts():
    def cl(x):
        return x.contiguous(memory_format=torch.channels_last)

    c1, c2 = cl(w1), cl(w2)
    conv = {1: lambda x: F.conv2d(x, c1, b1, padding=1), 2: lambda x: F.conv2d(x, c2, b2, padding=1)}
    yield "channels-last", cl, conv, lambda x: F.max_pool2d(x, 2), lambda y: y
    m1 = torch._C._nn.mkldnn_reorder_conv2d_weight(w1.to_mkldnn(), [1, 1], [1, 1], [1, 1], 1)
    m2 = torch._C._nn.mkldnn_reorder_conv2d_weight(w2.to_mkldnn(), [1, 1], [1, 1], [1, 1], 1)
    conv = {1: lambda x: torch.mkldnn_convolution(x, m1, b1, [1, 1], [1, 1], [1, 1], 1),
            2: lambda x: torch.mkldnn_convolution(x, m2, b2, [1, 1], [1, 1], [1, 1], 1)}
    yield "oneDNN", lambda x: x.to_mkldnn(), conv, lambda x: torch.mkldnn_max_pool2d(x, [2, 2], [2, 2]), \
        lambda y: y.to_dense()


def main():
    with torch.no_grad():
        for name, prepare, conv, pool, finish in layouts():
            def before(x):
                return finish(pool(conv[2](pool(conv[1](x).relu_())).relu_()))

            def after(x):
                return finish(pool(conv[2](pool(conv[1](x)).relu_())).relu_())

            for batch, rounds in [(1, 400), (256, 60)]:
                x = prepare(torch.randn(batch, 1, 28, 28))
                assert torch.equal(before(x), after(x))
                times = {before: [], after: []}
                for i in range(rounds):
                    for f in (before, after) if i % 2 else (after, before):
                        start = time.perf_counter()
                        f(x)
                        times[f].append(time.perf_counter() - start)
                mb, ma = statistics.median(times[before]), statistics.median(times[after])
                print(f"{name} batch {batch}: ReLU before the pool {mb * 1e3:.3f} ms, after {ma * 1e3:.3f} ms, "
                      f"after/before {ma / mb:.3f}")


if __name__ == "__main__":
    main()
