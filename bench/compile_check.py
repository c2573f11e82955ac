#!/usr/bin/env python3
"""Does `torch.compile` help the reference on this CPU? Times PyTorch eager against
`torch.compile(model)` (inductor, default mode) on the reference's own networks
(`train_reference.build_model`), same process, same threads, interleaved: the training step
(forward, loss, backward, Adam) at batch 256 and the eval forward at batch 1 and 256. Prints
the compile time and the medians. Random inputs: this times the arithmetic, not the data.

    ~/.cache/fmnist-harness/torch-2.11.0/bin/python bench/compile_check.py --arch conv2
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import train_reference as ref  # noqa: E402


def timed(fn, rounds):
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="conv2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=20)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(256, 1, 28, 28)
    y = torch.randint(0, 10, (256,))
    models = {}
    for name in ("eager", "compiled"):
        torch.manual_seed(0)
        m = ref.build_model(a.arch, 32, 3, True, 0.2)
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        fwd = torch.compile(m) if name == "compiled" else m
        models[name] = (m, fwd, opt)

    def step(name):
        m, fwd, opt = models[name]
        m.train()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(fwd(x), y).backward()
        opt.step()

    start = time.perf_counter()
    step("compiled")
    print(f"{a.arch}: first compiled training step (compiling) {time.perf_counter() - start:.1f} s")
    step("eager")
    train = {"eager": [], "compiled": []}
    for i in range(a.rounds):
        for name in ("eager", "compiled") if i % 2 else ("compiled", "eager"):
            train[name] += timed(lambda: step(name), 1)
    for name, ts in train.items():
        print(f"{a.arch} {name}: training step, batch 256: {statistics.median(ts) * 1e3:.1f} ms")
    with torch.no_grad():
        for batch in (1, 256):
            xb = x[:batch]
            for name in models:
                models[name][0].eval()
                models[name][1](xb)  # compiles the eval graph for this shape
            res = {"eager": [], "compiled": []}
            for i in range(a.rounds * (10 if batch == 1 else 1)):
                for name in ("eager", "compiled") if i % 2 else ("compiled", "eager"):
                    res[name] += timed(lambda: models[name][1](xb), 1)
            for name, ts in res.items():
                print(f"{a.arch} {name}: eval forward, batch {batch}: {statistics.median(ts) * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
