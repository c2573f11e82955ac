#!/usr/bin/env python3
"""Where a training epoch's CPU time goes, ours against the PyTorch reference: `perf record`
on each (one warm-up and one timed epoch of the same subset), then the share of samples per
group of code, the page faults (`perf stat`) and the timed epoch.

Three runs of the same trial (--variant, conv4 by default), one after the other:
  ours                 target/release/harness bench-epoch --mode full
  ours, pages returned the same with MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0, i.e. jemalloc
                       hands freed pages back to the kernel at once, as glibc malloc does for
                       these large blocks: the allocator's share, measured rather than guessed
  reference            bench/reference/train_reference.py --num-workers 0

Writes reports/profile.md (or --out). Needs `perf` (Debian: linux-perf) and the venv of
scripts/setup.sh --bench; run it through `bench/profile.sh`.
"""

import argparse
import collections
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Groups of code, by the DSO perf attributes a sample to (first match wins).
GROUPS = [
    ("kernel (page faults, scheduling, syscalls)", re.compile(r"\[kernel")),
    ("oneDNN JIT kernels (convolutions)", re.compile(r"\[JIT\]|^\[unknown\]$")),
    ("libtorch (ATen ops, autograd, BN, pooling)", re.compile(r"libtorch|libc10")),
    ("OpenMP runtime (thread pool)", re.compile(r"libgomp|libiomp")),
    ("Python interpreter and extensions", re.compile(r"python|\.cpython|libpython|_imaging|numpy|libz")),
    ("C library (malloc, memcpy)", re.compile(r"libc\.so|libm\.so|ld-linux")),
    ("our binary (harness, jemalloc)", re.compile(r"harness")),
]

# The largest activations at batch 256 in fp32 (256 x C x H x W x 4 bytes; shapes in
# docs/models.md): conv2 [32, 28, 28] and [64, 14, 14], conv4 [32, 28, 28] and [64, 28, 28].
ACTIVATION_MB = {"conv2": "13-26", "conv4": "25-51"}


def run(cmd, env=None):
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def epoch_time(stdout):
    times = [json.loads(l)["epoch_time_s"] for l in stdout.splitlines()
             if l.startswith("{") and '"epoch_time_s"' in l and '"warmup": true' not in l and '"warmup":true' not in l]
    return times[-1] if times else None


def profile(label, cmd, env_extra, tmp):
    env = dict(os.environ, **env_extra)
    data = os.path.join(tmp, re.sub(r"\W+", "_", label) + ".data")
    rec = run(["perf", "record", "-F", "499", "-o", data, "--", *cmd], env)
    if rec.returncode != 0:
        raise SystemExit(f"profile: {label} failed ({rec.returncode}):\n{rec.stderr[-2000:]}")
    seconds = epoch_time(rec.stdout)
    rep = run(["perf", "report", "-i", data, "--no-children", "--sort", "dso", "-g", "none", "--stdio"])
    shares = collections.Counter()
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.+?)\s*$", line)
        if not m:
            continue
        pct, dso = float(m.group(1)), m.group(2)
        group = next((name for name, rx in GROUPS if rx.search(dso)), "other")
        shares[group] += pct
    stat = run(["perf", "stat", "-x", ",", "-e", "page-faults,task-clock", "--", *cmd], env)
    faults = clock = None
    for line in stat.stderr.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[2].startswith("page-faults"):
            faults = int(float(parts[0]))
        if len(parts) > 2 and parts[2].startswith("task-clock"):
            clock = float(parts[0]) / 1000.0
    print(f"profile: {label}: epoch {seconds}s, {faults} page faults", file=sys.stderr, flush=True)
    return {"label": label, "seconds": seconds, "shares": shares, "faults": faults, "cpu_s": clock}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="conv4", choices=["conv2", "conv4", "conv2_aug", "conv4_aug"])
    p.add_argument("--train-limit", type=int, default=2048)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--harness", default="target/release/harness")
    p.add_argument("--out", default="reports/profile.md")
    a = p.parse_args(argv)
    arch, augment = (a.variant.split("_") + ["none"])[:2]
    augment = "all" if augment == "aug" else "none"
    ours = [os.path.join(ROOT, a.harness), "bench-epoch", "configs/bench.ron", "--variant", a.variant,
            "--set", f"data.train_limit={a.train_limit}", "--mode", "full", "--repeats", "1",
            "--threads", str(a.threads)]
    ref = [sys.executable, "bench/reference/train_reference.py", "--arch", arch, "--augment", augment,
           "--channels", "32", "--kernel", "3", "--dropout", "0.2", "--mode", "epochs", "--epochs", "1",
           "--train-limit", str(a.train_limit), "--test-limit", "0", "--threads", str(a.threads),
           "--num-workers", "0"]
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [
            profile("ours", ours, {}, tmp),
            profile("ours, pages returned", ours, {"MALLOC_CONF": "dirty_decay_ms:0,muzzy_decay_ms:0"}, tmp),
            profile("reference (num_workers=0)", ref, {}, tmp),
        ]
    names = [name for name, _ in GROUPS] + ["other"]
    ours_faults, ref_faults = runs[0]["faults"], runs[2]["faults"]
    if ours_faults and ref_faults and ref_faults >= 2 * ours_faults:
        faults = (f"takes about 1/{round(ref_faults / ours_faults)} of the reference's page faults "
                  f"({ours_faults:,} against {ref_faults:,})")
    elif ours_faults is not None and ref_faults is not None:
        faults = f"takes {ours_faults:,} page faults against the reference's {ref_faults:,}"
    else:
        faults = "keeps its page faults down"
    activation = (f"; a {arch} activation at batch 256 is {ACTIVATION_MB[arch]} MB"
                  if arch in ACTIVATION_MB else "")
    out = [
        "# Profile: where a training epoch's CPU time goes",
        "",
        "Generated by `bench/profile.sh` (`bench/perf_profile.py`); do not edit by hand.",
        f"{a.variant}, {a.train_limit:,} training images, batch 256, {a.threads} threads, run {started} (UTC); "
        "`perf record -F 499` over the whole process (start-up, data loading, one warm-up and one timed epoch), "
        "`perf stat` for page faults. CPU time is the whole process on all threads; ours also runs its latency measurement after the epochs (10 + 50 forward passes at batch 1 and at 256), the reference in this mode does not. One run each: shares, not timings to quote.",
        "",
        "| | " + " | ".join(r["label"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
        "| timed epoch (s) | " + " | ".join(f"{r['seconds']:.2f}" if r["seconds"] else "—" for r in runs) + " |",
        "| page faults | " + " | ".join(f"{r['faults']:,}" if r["faults"] is not None else "—" for r in runs) + " |",
        "| CPU time (s) | " + " | ".join(f"{r['cpu_s']:.1f}" if r["cpu_s"] else "—" for r in runs) + " |",
    ]
    for name in names:
        if any(r["shares"].get(name) for r in runs):
            out.append(f"| {name} | " + " | ".join(f"{r['shares'].get(name, 0.0):.1f} %" for r in runs) + " |")
    out += [
        "",
        "Reading it: the convolutions are the same oneDNN kernels on both sides. The kernel's share is",
        "mostly page faults: a buffer freed after one batch and allocated again for the next costs fresh,",
        "zeroed pages whenever the allocator hands it back to the system in between. The middle column does",
        "that for every freed block, so it is the worst case; glibc malloc, under the reference, does it for",
        f"blocks above its mmap threshold (at most 32 MiB{activation}). Ours",
        f"keeps freed pages (jemalloc, decay off) and {faults}.",
        "",
    ]
    path = os.path.join(ROOT, a.out)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(out))
    os.replace(path + ".tmp", path)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
