#!/usr/bin/env python3
"""Times our Rust harness against the PyTorch reference (bench/reference/train_reference.py)
on this machine, alternating the two, and writes reports/performance.md.

Run it through bench/compare.sh (it picks the venv's python), or `make bench`.

Figures, each as min / median / max over the alternating pairs:
  1. training epoch wall time, ours (`harness bench-epoch --mode full`) vs the reference
     at its best DataLoader num_workers among --workers (all measured in the same run);
  2. inference latency, batch 1 and the eval batch (median and p95 of 50 timed passes);
  3. peak RSS of a whole short trial (ru_maxrss from os.wait4 on each child);
  4. our full epoch vs our compute-only epoch (batches already on the device): the cost
     of our data path.
Ratios are reference / ours: above 1 means we are faster (or smaller).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This folder is sys.path[0]; none of its files may share a standard-library module's name
# (a bench/profile.py once broke `import torchvision` -> cProfile -> profile).
REFERENCE = os.path.join(ROOT, "bench", "reference", "train_reference.py")

# Our variants (names in configs/bench.ron) and the reference flags that build the same
# trial. Keep the two in step: channels 32, kernel 3, batch norm on, dropout 0.2, and
# "_aug" = horizontal flip + translation + random erasing.
VARIANTS = {
    "conv2": {"arch": "conv2", "augment": "none"},
    "conv2_aug": {"arch": "conv2", "augment": "all"},
    "conv4": {"arch": "conv4", "augment": "none"},
    "conv4_aug": {"arch": "conv4", "augment": "all"},
}
REFERENCE_COMMON = ["--channels", "32", "--kernel", "3", "--dropout", "0.2", "--batch-size", "256", "--eval-batch-size", "256"]


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------ children


class ChildFailed(RuntimeError):
    pass


# CPU time of other processes, in cores, while each child ran: (label, cores), in order.
OTHERS = []
# A run during which other processes used more than this many cores on average is flagged.
OTHERS_LIMIT = 0.25


def busy_seconds():
    """CPU time spent busy by the whole machine since boot (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def parse_json_lines(text_lines):
    lines = []
    for line in text_lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return lines


def run_child(cmd, label, stop=None):
    """Runs cmd to completion; returns (json lines, stderr text, peak RSS in MiB, wall s).
    The child is reaped with os.wait4 so its ru_maxrss (and that of any descendants it
    waited for, such as DataLoader workers: the largest one, not the sum) is exact. The CPU
    time other processes used meanwhile (the machine's busy time minus the child's own user
    and system time, which wait4 also gives) goes into OTHERS: a load check that does not
    count the bench's own work, as the load average does.

    `stop(json_lines)`, where given, is asked after every JSON line: once it returns true the
    child has printed all the bench needs and gets SIGTERM (our bf16 epoch runs: what follows
    their epochs is a latency measurement the bench does not use); its exit by that signal
    counts as success."""
    with tempfile.TemporaryFile() as err:
        busy_before = busy_seconds()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=ROOT)
        stopped = False
        try:
            raw = []
            for line in proc.stdout:
                raw.append(line.decode("utf-8", "replace"))
                if stop is not None and not stopped and raw[-1].lstrip().startswith("{") and stop(parse_json_lines(raw)):
                    proc.terminate()
                    stopped = True
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        own = usage.ru_utime + usage.ru_stime
        others = max(0.0, busy_seconds() - busy_before - own) / max(wall, 1e-9)
        OTHERS.append((label, others))
        if others > OTHERS_LIMIT:
            log(f"warning: other processes used {others:.2f} cores while `{label}` ran")
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if stopped:
        # `harness bench-epoch` keeps its scratch trial in $TMPDIR/harness-bench-<pid> and
        # removes it as it ends; a stopped run leaves it behind.
        shutil.rmtree(os.path.join(tempfile.gettempdir(), f"harness-bench-{proc.pid}"), ignore_errors=True)
    if proc.returncode != 0 and not (stopped and proc.returncode == -15):
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise ChildFailed(f"{label} exited with {proc.returncode}: {' '.join(cmd)}\n{tail}")
    return parse_json_lines(raw), stderr, usage.ru_maxrss / 1024.0, wall


def timed_epochs(lines, label, expect_images):
    """Median epoch_time_s of the non-warm-up epoch lines of one run."""
    epochs = [l for l in lines if l.get("kind") == "epoch" and not l.get("warmup")]
    if not epochs:
        raise ChildFailed(f"{label}: no timed epoch lines on stdout")
    for e in epochs:
        if e.get("images") != expect_images:
            log(f"warning: {label} epoch {e.get('epoch')} reports {e.get('images')} images, expected {expect_images}")
    return statistics.median(float(e["epoch_time_s"]) for e in epochs)


def latency_of(lines, label):
    lat = [l for l in lines if l.get("kind") == "latency"]
    if not lat:
        raise ChildFailed(f"{label}: no latency line on stdout")
    return lat[-1]


def ref_params(stderr):
    m = re.search(r"params=(\d+)", stderr)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- plan


class Bench:
    def __init__(self, args):
        self.a = args
        self.harness = os.path.join(ROOT, args.harness)
        self.py = sys.executable
        # (variant, side) -> [per-pair seconds]; side: ours_full, ours_compute, ref_w{n} (fp32), and
        # with bf16 rows ours_bf16 (full data path) and ref_bf16_w{n} (PyTorch's CPU autocast)
        self.epoch = {}
        self.latency = {}  # (arch, side) -> [latency dicts]; side: ours, ref
        self.rss = {}  # (arch, side) -> [MiB]
        self.params = {}  # arch -> reference parameter count
        self.peak = []  # per pair: the practical fp32 peak (matrix multiply), GFLOP/s
        self.flops = {}  # variant -> forward FLOPs per image (from our start line)

    def add(self, table, key, value):
        table.setdefault(key, []).append(value)

    # ours
    def ours_epoch(self, variant, mode, precision="fp32"):
        cmd = [self.harness, "bench-epoch", self.a.config, "--variant", variant,
               "--set", f"data.train_limit={self.a.train_limit}", "--mode", mode,
               "--repeats", str(self.a.repeats), "--threads", str(self.a.threads)]
        stop = None
        if precision != "fp32":
            cmd += ["--set", f"precision={precision}"]
            # Only the epochs: the latency measurement that follows them is the fp32 run's.
            timed = self.a.repeats
            stop = lambda lines: sum(1 for l in lines if l.get("kind") == "epoch" and not l.get("warmup")) >= timed  # noqa: E731
        label = f"ours {variant} {mode}" + ("" if precision == "fp32" else f" {precision}")
        lines, _, _, _ = run_child(cmd, label, stop=stop)
        seconds = timed_epochs(lines, label, self.a.train_limit)
        for line in lines:
            if line.get("kind") == "start" and line.get("forward_flops") and precision == "fp32":
                self.flops[variant] = line["forward_flops"]
        side = "ours_full" if mode == "full" else "ours_compute"
        self.add(self.epoch, (variant, side if precision == "fp32" else f"ours_{precision}"), seconds)
        return lines, seconds

    def ours_trial(self, variant):
        out = tempfile.mkdtemp(prefix="bench-trial-")
        try:
            cmd = [self.harness, "train", self.a.config, "--variant", variant, "--seed", "0",
                   "--set", f"epochs={self.a.rss_epochs}", "--set", f"data.train_limit={self.a.rss_train_limit}",
                   "--set", f"data.test_limit={self.a.rss_test_limit}",
                   "--out", os.path.join(out, "trial"),  # `train --out` wants a new folder
                   "--threads", str(self.a.threads)]
            _, _, rss, _ = run_child(cmd, f"ours trial {variant}")
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return rss

    # reference
    def ref_cmd(self, variant, extra):
        v = VARIANTS[variant]
        cmd = [self.py, REFERENCE, "--arch", v["arch"], "--augment", v["augment"], *REFERENCE_COMMON,
               "--threads", str(self.a.threads), "--seed", "0"]
        if self.a.data_dir:
            cmd += ["--data-dir", self.a.data_dir]
        return cmd + extra

    def ref_epoch(self, variant, workers, precision="fp32"):
        cmd = self.ref_cmd(variant, ["--mode", "epochs", "--epochs", str(self.a.repeats),
                                     "--train-limit", str(self.a.train_limit), "--test-limit", "0",
                                     "--num-workers", str(workers), "--precision", precision])
        label = f"reference {variant} workers={workers}" + ("" if precision == "fp32" else f" {precision}")
        lines, stderr, _, _ = run_child(cmd, label)
        self.params[VARIANTS[variant]["arch"]] = ref_params(stderr)
        seconds = timed_epochs(lines, label, self.a.train_limit)
        self.add(self.epoch, (variant, f"ref_w{workers}" if precision == "fp32" else f"ref_{precision}_w{workers}"), seconds)
        return seconds

    def ref_latency(self, variant):
        lines, _, _, _ = run_child(self.ref_cmd(variant, ["--mode", "latency", "--engines"]),
                                   f"reference latency {variant}")
        self.add(self.latency, (VARIANTS[variant]["arch"], "ref"), latency_of(lines, f"reference latency {variant}"))

    def ref_trial(self, variant):
        cmd = self.ref_cmd(variant, ["--mode", "train", "--epochs", str(self.a.rss_epochs),
                                     "--train-limit", str(self.a.rss_train_limit),
                                     "--test-limit", str(self.a.rss_test_limit), "--num-workers", "0"])
        _, _, rss, _ = run_child(cmd, f"reference trial {variant}")
        return rss

    def ref_peak(self):
        lines, _, _, _ = run_child(self.ref_cmd("conv2", ["--mode", "peak"]), "matrix multiply peak")
        peak = [l for l in lines if l.get("kind") == "peak"]
        if not peak:
            raise ChildFailed("matrix multiply peak: no peak line on stdout")
        self.peak.append(peak[-1]["gflops"])
        return peak[-1]["gflops"]

    # one pair
    def pair(self, p):
        forward = p % 2 == 0  # even pairs: ours first; odd pairs: reference first
        ours = not self.a.reference_only
        if ours and not self.a.rss_only:
            log(f"pair {p + 1}/{self.a.pairs}: matrix multiply peak {self.ref_peak():.1f} GFLOP/s")
        latency_variant = {}
        for v in self.a.variants:
            latency_variant.setdefault(VARIANTS[v]["arch"], v)
        for v in ([] if self.a.rss_only else self.a.variants):
            workers = self.a.workers[p % len(self.a.workers):] + self.a.workers[:p % len(self.a.workers)]
            jobs = []
            if ours:
                jobs.append(("ours_full", None))
            if "bf16" in getattr(self.a, "precisions", ["fp32"]):
                # Beside our fp32 run: our bf16 epoch, then PyTorch's autocast epoch (reversed on
                # odd pairs with the rest, so neither side always runs first).
                if ours:
                    jobs.append(("ours_bf16", None))
                bw = self.a.bf16_workers
                jobs += [("ref_bf16", w) for w in bw[p % len(bw):] + bw[:p % len(bw)]]
            if latency_variant[VARIANTS[v]["arch"]] == v:
                jobs.append(("ref_latency", None))
            jobs += [("ref", w) for w in workers]
            if ours:
                jobs.append(("ours_compute", None))
            if not forward:
                jobs.reverse()
            parts = []
            for kind, w in jobs:
                if kind == "ours_full":
                    lines, s = self.ours_epoch(v, "full")
                    parts.append(f"ours {s:.3f}s")
                    if latency_variant[VARIANTS[v]["arch"]] == v:
                        self.add(self.latency, (VARIANTS[v]["arch"], "ours"), latency_of(lines, f"ours {v}"))
                elif kind == "ours_bf16":
                    _, s = self.ours_epoch(v, "full", "bf16")
                    parts.append(f"ours bf16 {s:.3f}s")
                elif kind == "ref_bf16":
                    s = self.ref_epoch(v, w, "bf16")
                    parts.append(f"ref bf16 w={w} {s:.3f}s")
                elif kind == "ours_compute":
                    _, s = self.ours_epoch(v, "compute-only")
                    parts.append(f"ours compute-only {s:.3f}s")
                elif kind == "ref_latency":
                    self.ref_latency(v)
                else:
                    s = self.ref_epoch(v, w)
                    parts.append(f"ref w={w} {s:.3f}s")
            log(f"pair {p + 1}/{self.a.pairs} {v}: " + ", ".join(parts))
        for arch, v in latency_variant.items():
            if p >= self.a.rss_pairs and not self.a.rss_only:
                break
            sides = (["ours"] if ours else []) + ["ref"]
            if not forward:
                sides.reverse()
            got = []
            for side in sides:
                rss = self.ours_trial(v) if side == "ours" else self.ref_trial(v)
                self.add(self.rss, (arch, side), rss)
                got.append(f"{side} {rss:.0f} MiB")
            log(f"pair {p + 1}/{self.a.pairs} peak RSS {arch}: " + ", ".join(got))


# ------------------------------------------------------------------------- report


def mmm(values, fmt="{:.3f}"):
    if not values:
        return "—"
    return " / ".join(fmt.format(x) for x in (min(values), statistics.median(values), max(values)))


def ratio_cell(ref, ours, higher_is_worse=True):
    """Median ratio reference/ours, with the per-pair range."""
    if not ref or not ours:
        return "—"
    n = min(len(ref), len(ours))
    per_pair = [r / o for r, o in zip(ref[:n], ours[:n]) if o > 0]
    if not per_pair:
        return "—"
    return f"**{statistics.median(per_pair):.2f}×** ({min(per_pair):.2f}–{max(per_pair):.2f})"


def cpu_fields(cpuinfo_text):
    """The first value of every `key : value` line of /proc/cpuinfo (that is, of processor 0)."""
    fields = {}
    for line in cpuinfo_text.splitlines():
        if ":" in line:
            key, value = (x.strip() for x in line.split(":", 1))
            fields.setdefault(key, value)
    return fields


def cpu_identity(cpuinfo_text):
    """The CPU a section is measured on: the model name, with the family, model and vector ISA.

    The name alone does not tell CPUs apart on cloud machines (every EPYC generation reports
    "AMD EPYC"), and a Zen 3 (AVX2) and a Zen 4 (AVX-512) differ by a quarter in peak GFLOP/s."""
    fields = cpu_fields(cpuinfo_text)
    name = fields.get("model name", "unknown")
    flags = fields.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else None
    details = []
    if "cpu family" in fields and "model" in fields:
        details.append(f"family {fields['cpu family']} model {fields['model']}")
    if isa:
        details.append(isa)
    return f"{name} ({', '.join(details)})" if details else name


MAX_FREQ_FILE = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"


def _int(text, default=None):
    try:
        return int(text, 0) if text.strip().lower().startswith("0x") else int(text)
    except (AttributeError, ValueError):
        return default


def isa_peak(cpuinfo_text, threads, max_freq_khz=None):
    """The CPU's peak from its instruction set: cores x clock x fp32 lanes per vector x 2 (an
    FMA is two FLOPs) x vector FMA units per core, and a bf16 peak where the CPU has native
    bf16. A dict (see the keys below; the report prints `rule`, `clock_source` and
    `cores_note` as the assumptions), or None where /proc/cpuinfo says too little (no clock,
    or no FMA vectors: the report then prints no ISA peak).

    `threads` is the bench's thread count, one per usable logical CPU; where /proc/cpuinfo
    shows SMT (`siblings` > `cpu cores`), two logical CPUs share one core's FMA units, so
    the cores are threads x cpu cores / siblings. The clock is `max_freq_khz` (cpufreq's
    `cpuinfo_max_freq`, the highest boost clock) where given, else the `cpu MHz` line (what
    a VM reports: often the nominal clock, below the boost the cores run at).

    Lanes: avx512f -> 16 fp32 lanes per vector, avx2 + fma -> 8. FMA units per core, counted
    in vectors of that width (the one documented rule; vendor_id, cpu family and model, never
    the model name, which cloud VMs make "AMD EPYC" for every generation):
      - AMD family 25 with AVX-512 (Zen 4): 1; it executes a 512-bit FMA as two 256-bit
        halves on its two 256-bit FMA pipes, so 32 fp32 FLOPs per cycle, like Zen 3's AVX2;
      - AMD family 23 below model 0x30 (Zen, Zen+): 1; two 128-bit pipes run a 256-bit FMA
        in halves;
      - every other AVX2 or AVX-512 core: 2. Zen 2 and Zen 3 (two 256-bit pipes), Zen 5
        (family 26: two 512-bit pipes on server and desktop parts; mobile Zen 5 has 256-bit
        ones and is over-counted 2x), Intel cores from Haswell on (two 256-bit FMA units) and
        Intel AVX-512 Xeons with two 512-bit FMA units (Gold and Platinum; the Silver and
        Bronze parts with one are over-counted 2x).
    bf16: `amx_bf16` -> 1024 FLOPs per cycle per core (AMX's TDPBF16PS: 16 x 16 x 32 multiply-
    adds in 16 cycles); `avx512_bf16` -> 2x the fp32 FLOPs per cycle (VDPBF16PS: 32 bf16 pairs
    multiplied and added into 16 fp32 lanes per 512-bit instruction, twice an fp32 FMA's
    work, at the FMA's issue rate)."""
    fields = cpu_fields(cpuinfo_text)
    flags = set(fields.get("flags", "").split())
    vendor = fields.get("vendor_id", "unknown")
    family = _int(fields.get("cpu family", ""))
    model = _int(fields.get("model", ""))
    if max_freq_khz:
        ghz, clock_source = max_freq_khz / 1e6, f"cpufreq's cpuinfo_max_freq ({max_freq_khz} kHz)"
    else:
        try:
            mhz = float(fields.get("cpu MHz", ""))
        except ValueError:
            return None
        ghz = mhz / 1e3
        clock_source = (f"the `cpu MHz` line of /proc/cpuinfo ({mhz:.0f} MHz; no {MAX_FREQ_FILE}: in a VM "
                        "usually the nominal clock, which boost can exceed)")
    if ghz <= 0:
        return None
    if "avx512f" in flags:
        isa, lanes = "AVX-512", 16
    elif "avx2" in flags and "fma" in flags:
        isa, lanes = "AVX2 + FMA", 8
    else:
        return None
    width = lanes * 32
    if vendor == "AuthenticAMD" and family == 25 and lanes == 16:
        units = 1
        rule = ("AMD family 25 with AVX-512 (Zen 4) executes a 512-bit FMA as two 256-bit halves on its two "
                "256-bit FMA pipes: 1 512-bit FMA per cycle")
    elif vendor == "AuthenticAMD" and family == 23 and model is not None and model < 0x30:
        units = 1
        rule = "AMD family 23 below model 0x30 (Zen, Zen+) runs a 256-bit FMA as two 128-bit halves: 1 per cycle"
    elif vendor == "AuthenticAMD":
        units = 2
        rule = (f"AMD family {family} with {isa}: 2 {width}-bit FMA pipes per core (Zen 2/3: 256-bit; Zen 5, "
                "family 26: 512-bit on server and desktop parts, mobile ones have half)")
    elif vendor == "GenuineIntel":
        units = 2
        rule = (f"Intel with {isa}: 2 {width}-bit FMA units per core"
                + (" (Xeon Gold/Platinum and later; parts with one 512-bit unit have half)" if lanes == 16 else ""))
    else:
        units = 2
        rule = f"vendor {vendor}: 2 {width}-bit FMA units per core assumed"
    fp32_per_cycle = lanes * 2 * units
    logical = max(1, threads)
    siblings, physical = _int(fields.get("siblings", "")), _int(fields.get("cpu cores", ""))
    if siblings and physical and siblings > physical:
        cores = logical * physical / siblings
        cores_note = (f"{logical} threads on logical CPUs with SMT ({siblings} siblings per {physical} cores): "
                      f"{cores:g} cores' FMA units")
    else:
        cores = float(logical)
        cores_note = f"{logical} threads, one per usable logical CPU, counted as {logical} cores (no SMT shown)"
    bf16 = None
    if "amx_bf16" in flags:
        bf16 = {"via": "amx_bf16", "flops_per_cycle": 1024,
                "rule": "AMX (amx_bf16): TDPBF16PS, 1024 bf16 FLOPs per cycle per core"}
    elif "avx512_bf16" in flags and lanes == 16:
        bf16 = {"via": "avx512_bf16", "flops_per_cycle": 2 * fp32_per_cycle,
                "rule": "avx512_bf16: VDPBF16PS, 32 bf16 pairs per 512-bit instruction, 2x an fp32 FMA's FLOPs"}
    if bf16:
        bf16["gflops"] = cores * ghz * bf16["flops_per_cycle"]
    return {"vendor": vendor, "family": family, "model": model, "isa": isa, "lanes": lanes, "fma_units": units,
            "rule": rule, "clock_ghz": ghz, "clock_source": clock_source, "cores": cores, "cores_note": cores_note,
            "fp32_flops_per_cycle": fp32_per_cycle, "fp32_gflops": cores * ghz * fp32_per_cycle, "bf16": bf16}


def read_max_freq_khz(path=MAX_FREQ_FILE):
    try:
        with open(path) as f:
            return int(f.read().strip()) or None
    except (OSError, ValueError):
        return None


PRECISIONS = ("fp32", "bf16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16(cpuinfo_text):
    """The flags of /proc/cpuinfo that give this CPU native bf16 arithmetic (may be empty)."""
    flags = set(cpu_fields(cpuinfo_text).get("flags", "").split())
    return [f for f in NATIVE_BF16_FLAGS if f in flags]


def parse_precisions(value, cpuinfo_text):
    """`--precisions`: (list of precisions, the line that says why), or ValueError.

    "auto" (the default) is fp32 and bf16 where /proc/cpuinfo shows avx512_bf16 or amx_bf16,
    else fp32 alone. fp32 is always measured: the bf16 rows are judged against it."""
    native = native_bf16(cpuinfo_text)
    if value.strip() == "auto":
        if native:
            return ["fp32", "bf16"], f"bf16 rows measured: /proc/cpuinfo shows {' and '.join(native)} (native bf16)"
        return ["fp32"], ("bf16 rows left out: /proc/cpuinfo shows neither avx512_bf16 nor amx_bf16, so libtorch "
                          "would emulate bf16 and the rows would say nothing about bf16 kernels "
                          "(`--precisions fp32,bf16` measures them anyway)")
    asked = [x.strip() for x in value.split(",") if x.strip()]
    bad = [x for x in asked if x not in PRECISIONS]
    if bad or not asked:
        raise ValueError(f"unknown {bad}; a comma list of {', '.join(PRECISIONS)}, or auto")
    if "fp32" not in asked:
        raise ValueError("fp32 is always measured (the bf16 rows are judged against it): fp32 or fp32,bf16")
    chosen = [p for p in PRECISIONS if p in asked]
    if "bf16" not in chosen:
        return chosen, "bf16 rows left out: `--precisions fp32`"
    if native:
        return chosen, f"bf16 rows measured (`--precisions`): /proc/cpuinfo shows {' and '.join(native)} (native bf16)"
    return chosen, ("bf16 rows measured as asked (`--precisions`), but /proc/cpuinfo shows neither avx512_bf16 nor "
                    "amx_bf16: libtorch emulates bf16 here")


def read_cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def machine_info(args):
    cpuinfo = read_cpuinfo()
    cpu = cpu_identity(cpuinfo)
    # Asked of a child, never imported here: a child's ru_maxrss includes the peak of the
    # memory it was forked from (the kernel records the old mm's high-water mark at exec),
    # so a parent holding torch would put a ~600 MiB floor under every peak-RSS figure.
    probe = subprocess.run([sys.executable, "-c", "import torch, torchvision; print(torch.__version__); "
                            "print(torchvision.__version__)"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        raise SystemExit(f"bench: cannot import torch and torchvision with {sys.executable}:\n{probe.stderr[-2000:]}")
    torch_version, tv = probe.stdout.split()[:2]
    harness_version = "—"
    if not args.reference_only:
        try:
            harness_version = subprocess.run([os.path.join(ROOT, args.harness), "--version"], capture_output=True,
                                             text=True, timeout=60).stdout.strip() or "—"
        except (OSError, subprocess.SubprocessError):
            harness_version = "unavailable"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "torch": torch_version,
        "torchvision": tv,
        "python": platform.python_version(),
        "harness": harness_version,
        "kernel": platform.release(),
        # The instruction set's peaks for the roofline (None where /proc/cpuinfo says too little).
        "isa_peak": isa_peak(cpuinfo, args.threads, read_max_freq_khz()),
    }


def best_workers(bench, variant, workers, side="ref_w"):
    """The reference's fastest num_workers (by median epoch) among `workers`, and every median;
    `side` "ref_bf16_w" looks at its autocast bf16 epochs."""
    meds = {w: statistics.median(bench.epoch[(variant, f"{side}{w}")]) for w in workers if bench.epoch.get((variant, f"{side}{w}"))}
    return (min(meds, key=meds.get) if meds else None), meds


def bf16_ratios(bench, variant, bf16_workers):
    """The bf16 rows' per-pair ratios on `variant` (above 1: ours bf16 is faster):
      vs_fp32: our fp32 epoch / our bf16 epoch (what bf16 gains us);
      vs_ref: PyTorch's autocast bf16 epoch (at its best num_workers among `bf16_workers`) / ours bf16;
      ref_self: PyTorch's fp32 epoch / its autocast epoch at that num_workers (what autocast
        gains PyTorch; empty where the fp32 reference did not run with those workers);
    and ref_workers, that num_workers (None when no autocast epoch was measured)."""
    mine = bench.epoch.get((variant, "ours_bf16"), [])
    bw, _ = best_workers(bench, variant, bf16_workers, "ref_bf16_w")
    ref = bench.epoch.get((variant, f"ref_bf16_w{bw}"), []) if bw is not None else []
    ref_fp32 = bench.epoch.get((variant, f"ref_w{bw}"), []) if bw is not None else []
    return {"vs_fp32": per_pair(bench.epoch.get((variant, "ours_full"), []), mine),
            "vs_ref": per_pair(ref, mine), "ref_self": per_pair(ref_fp32, ref), "ref_workers": bw}


# The targets of the performance issues (#15 raised conv4 to 1.25x, conv2_aug to 2x and conv4
# latency to 1.5x at batch 1 and 1.2x at the eval batch), on 2-core CPUs: (what, variant or arch,
# kind, threshold). Every CPU's section is judged against these, whenever it was measured.
# kind "speed": median per-pair ratio reference/ours >= threshold; "overhead": median
# full/compute-only - 1 <= threshold (percent).
TARGETS = [
    ("epoch, no augmentation", "conv2", "epoch", 1.1),
    ("epoch, flip + translation + erasing", "conv2_aug", "epoch", 2.0),
    ("epoch, no augmentation", "conv4", "epoch", 1.25),
    ("epoch, flip + translation + erasing", "conv4_aug", "epoch", 1.25),
    ("latency batch 1 (median)", "conv2", "latency1", 1.0),
    ("latency eval batch (median)", "conv2", "latency_eval", 1.0),
    ("latency batch 1 (median)", "conv4", "latency1", 1.5),
    ("latency eval batch (median)", "conv4", "latency_eval", 1.2),
    # Against what a user would deploy (#23): ONNX Runtime, same threads, same run.
    ("latency batch 1 vs ONNX Runtime", "conv2", "ort1", 1.0),
    ("latency eval batch vs ONNX Runtime", "conv2", "ort_eval", 1.0),
    ("latency batch 1 vs ONNX Runtime", "conv4", "ort1", 1.0),
    ("latency eval batch vs ONNX Runtime", "conv4", "ort_eval", 1.0),
    # bf16 (#37 §3), on CPUs with native bf16 (avx512_bf16 or AMX): our bf16 epoch against our
    # own fp32 epoch and against PyTorch's CPU autocast, both measured in the same pairs.
    ("bf16 epoch vs our fp32 epoch", "conv4", "bf16_fp32", 1.7),
    ("bf16 epoch vs PyTorch CPU autocast bf16", "conv4", "bf16_ref", 1.25),
    # Training throughput (3 x forward FLOPs per image) as a share of the matrix-multiply peak.
    ("training share of the fp32 sgemm peak", "conv2", "roofline", 55.0),
    ("training share of the fp32 sgemm peak", "conv4", "roofline", 78.0),
    ("peak RSS of a short trial", "conv2", "rss", 2.0),
    ("peak RSS of a short trial", "conv4", "rss", 2.0),
    ("data-path overhead", "conv2", "overhead", 3.0),
    ("data-path overhead", "conv2_aug", "overhead", 3.0),
    ("data-path overhead", "conv4", "overhead", 3.0),
    ("data-path overhead", "conv4_aug", "overhead", 3.0),
]


def per_pair(ref, ours):
    n = min(len(ref), len(ours))
    return [r / o for r, o in zip(ref[:n], ours[:n]) if o > 0]


def engine_medians(ref_latencies, engine, key, stat="median_ms"):
    """Per pair, `engine`'s figure from the reference's latency lines (runs made before the
    engines were timed have none)."""
    return [x["engines"][engine][key][stat] for x in ref_latencies if engine in x.get("engines", {})]


def training_gflops(bench, a, variant, side="ours_full"):
    """Per pair, our training GFLOP/s on `variant`: images/s x 3 x forward FLOPs (`side`
    "ours_bf16": of the bf16 epochs, the same FLOPs done in bf16)."""
    flops = getattr(bench, "flops", {}).get(variant)
    if not flops:
        return []
    return [a.train_limit / s * 3.0 * flops / 1e9 for s in bench.epoch.get((variant, side), []) if s > 0]


def roofline_shares(bench, a, variant, side="ours_full"):
    """Per pair, our training GFLOP/s on `variant` as a percentage of that pair's measured
    matrix-multiply (sgemm) peak."""
    peaks = getattr(bench, "peak", [])
    return [100.0 * g / p for g, p in zip(training_gflops(bench, a, variant, side), peaks) if p > 0]


def isa_shares(bench, a, variant, isa, side="ours_full"):
    """Per pair, our training GFLOP/s on `variant` as a percentage of the ISA peak (`isa` from
    isa_peak; the bf16 one for side "ours_bf16"); empty where that peak is unknown."""
    if not isa:
        return []
    peak = isa["fp32_gflops"] if side != "ours_bf16" else (isa.get("bf16") or {}).get("gflops")
    if not peak:
        return []
    return [100.0 * g / peak for g in training_gflops(bench, a, variant, side)]


def target_rows(bench, a):
    """(what, variant, target text, measured text, met) for each target the run measured."""
    rows = []
    for what, name, kind, threshold in TARGETS:
        if kind == "overhead":
            full = bench.epoch.get((name, "ours_full"), [])
            comp = bench.epoch.get((name, "ours_compute"), [])
            over = [(f / c - 1.0) * 100.0 for f, c in zip(full, comp) if c > 0]
            if not over:
                continue
            med = statistics.median(over)
            rows.append((what, name, f"≤ {threshold:.0f} %", f"{med:+.1f} % ({min(over):+.1f} … {max(over):+.1f})",
                         med <= threshold))
            continue
        if kind == "roofline":
            shares = roofline_shares(bench, a, name)
            if not shares:
                continue
            med = statistics.median(shares)
            rows.append((what, name, f"≥ {threshold:.0f} %", f"{med:.0f} % ({min(shares):.0f} … {max(shares):.0f})",
                         med >= threshold))
            continue
        if kind in ("bf16_fp32", "bf16_ref"):
            ratios = bf16_ratios(bench, name, getattr(a, "bf16_workers", [0]))["vs_fp32" if kind == "bf16_fp32" else "vs_ref"]
        elif kind == "epoch":
            if name not in a.variants:
                continue
            bw, _ = best_workers(bench, name, a.workers)
            if bw is None:
                continue
            ratios = per_pair(bench.epoch.get((name, f"ref_w{bw}"), []), bench.epoch.get((name, "ours_full"), []))
        elif kind == "rss":
            ratios = per_pair(bench.rss.get((name, "ref"), []), bench.rss.get((name, "ours"), []))
        elif kind in ("ort1", "ort_eval"):
            key = "batch1" if kind == "ort1" else "eval"
            ratios = per_pair(engine_medians(bench.latency.get((name, "ref"), []), "onnxruntime", key),
                              [x[key]["median_ms"] for x in bench.latency.get((name, "ours"), [])])
        else:
            key = "batch1" if kind == "latency1" else "eval"
            ratios = per_pair([x[key]["median_ms"] for x in bench.latency.get((name, "ref"), [])],
                              [x[key]["median_ms"] for x in bench.latency.get((name, "ours"), [])])
        if not ratios:
            continue
        med = statistics.median(ratios)
        better = "smaller" if kind == "rss" else "faster"
        rows.append((what, name, f"≥ {threshold:g}× {better}", f"{med:.2f}× ({min(ratios):.2f}–{max(ratios):.2f})",
                     med >= threshold))
    return rows


def render_targets(bench, a):
    rows = target_rows(bench, a)
    out = ["| what | variant | target | measured: median (per-pair range) | met |", "|---|---|---|---|---|"]
    out += [f"| {what} | {name} | {target} | {measured} | {'yes' if met else '**no**'} |"
            for what, name, target, measured, met in rows]
    return out


# The 1-minute load average above which a run is flagged as measured on a busy machine.
LOAD_PER_CORE_LIMIT = 0.5


def load_limit(cores):
    return LOAD_PER_CORE_LIMIT * max(1, cores)


def others_summary(others):
    """(median cores, highest cores, label of the run with the highest) of OTHERS-like pairs."""
    if not others:
        return None
    cores = [c for _, c in others]
    label, top = max(others, key=lambda x: x[1])
    return {"median": statistics.median(cores), "max": top, "max_label": label}


def busy_note(raw):
    """What the README says about other work during a run: from the other processes' CPU
    time where the run measured it, else (older runs) from the load average."""
    info = raw["info"]
    others = raw.get("others")
    if others:
        if others["max"] > OTHERS_LIMIT:
            return (f"; ⚠ other processes used up to {others['max']:.2f} cores during a run "
                    f"(median {others['median']:.2f}), figures are noisy")
        return f"; other processes used at most {others['max']:.2f} cores during any run"
    load = max(x for x in (raw["load_before"], raw["load_after"], raw.get("load_max")) if x is not None)
    if load > load_limit(info["usable_cores"]):
        return f"; ⚠ load average up to {load:.2f} on {info['usable_cores']} cores, figures are noisy"
    return f"; load average up to {load:.2f}"


def render_document(runs):
    """The whole report: one section per CPU model in `runs` ({cpu: raw run}), by name."""
    out = ["# Performance: our harness vs the PyTorch reference", "",
           "Generated by `make bench` (`bench/compare.sh`); do not edit by hand. See `bench/README.md` for what is",
           "measured and how to read the ratios. One section per CPU (name, family, model, ISA): a run on a CPU not listed adds its",
           "section, a rerun on a listed CPU replaces that CPU's section (the raw figures of every section are",
           "kept in the JSON file beside this report; `--render-from` rebuilds the report from them).", ""]
    cpus = sorted(runs)
    if len(cpus) > 1:
        out += ["CPUs: " + ", ".join(f"[{cpu}](#{anchor(cpu)})" for cpu in cpus) + ".", ""]
    for cpu in cpus:
        bench, a = from_raw(runs[cpu])
        raw = runs[cpu]
        out.append(render(bench, a, raw["info"], raw["started"], raw["finished"], raw["load_before"],
                          raw["load_after"], raw.get("load_max"), raw.get("others")))
    return "\n".join(out)


def anchor(cpu):
    """GitHub's heading anchor for a CPU section's title."""
    return re.sub(r"[^\w\- ]", "", cpu.lower()).replace(" ", "-")


def render(bench, args, info, started, finished, load_before, load_after, load_max=None, others=None):
    """The section of one CPU model (level-2 title, level-3 subsections)."""
    a = args
    ours = not a.reference_only
    out = []
    w = out.append
    w(f"## {info['cpu']}")
    w("")
    if a.quick:
        w("> **Quick smoke run** (`--quick`): tiny sizes and few pairs; these numbers show that the")
        w("> comparison works, not how fast anything is.")
        w("")
    if a.reference_only:
        w("> **Reference only** (`--reference-only`): our harness was not run.")
        w("")
    w("### Machine")
    w("")
    w(f"- CPU: {info['cpu']} ({info['cores']} logical cores, {info['usable_cores']} usable by this process)")
    w(f"- threads: {a.threads} (`--threads` for both sides; DataLoader workers are extra processes)")
    w(f"- PyTorch reference: torch {info['torch']}, torchvision {info['torchvision']}, Python {info['python']}")
    w(f"- ours: `{info['harness']}`, the same libtorch; jemalloc as the process allocator with freed pages kept "
      "(the reference runs on glibc malloc, as `python` does unless the user preloads another allocator); "
      "libtorch's CUDA half is opened only where an NVIDIA driver is present")
    w(f"- Linux {info['kernel']}; run {started} → {finished} (UTC)")
    loads = [x for x in (load_before, load_after, load_max) if x is not None]
    limit = load_limit(info["usable_cores"])
    if others:
        w(f"- other processes' CPU while each run ran (the machine's busy time from `/proc/stat` minus the run's own "
          f"CPU time from `wait4`): median {others['median']:.2f} cores, highest {others['max']:.2f} "
          f"(`{others['max_label']}`)"
          + (f"  ⚠ above {OTHERS_LIMIT} cores: other work was running, figures are noisy"
             if others["max"] > OTHERS_LIMIT else ""))
        w(f"- load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} (it counts the bench's own "
          "runs too, so it is not the check)")
    else:
        w(f"- load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}"
          + (f" (highest at the start of a pair: {load_max:.2f})" if load_max is not None else "")
          + (f"  ⚠ above {LOAD_PER_CORE_LIMIT} per core ({limit:.1f}): other work was running, figures are noisy"
             if max(loads) > limit else ""))
    if getattr(a, "rss_only", False):
        w(f"- {a.pairs} alternating pairs (even pairs ours first, odd pairs reference first); "
          "peak RSS only: no epoch is timed (the trial's subset is in section 3)")
    else:
        w(f"- {a.pairs} alternating pairs (even pairs ours first, odd pairs reference first); "
          f"train subset {a.train_limit:,} images, batch 256; {a.repeats} timed epoch(s) per run after 1 warm-up")
    if getattr(a, "precision_note", None):
        w(f"- precisions: {', '.join(getattr(a, 'precisions', ['fp32']))}; {a.precision_note}")
    for note in getattr(a, "notes", []):
        w(f"- note: {note}")
    w("")

    w("### Targets")
    w("")
    w("Ratios are reference / ours (above 1: we are faster or smaller), each the median of the per-pair ratios.")
    w("")
    for line in render_targets(bench, a):
        w(line)
    w("")

    w("### 1. Training epoch wall time")
    w("")
    w("Seconds for one pass over the training subset (data loading, augmentation, forward, backward, step),")
    w("min / median / max over the pairs. The reference is shown at its best `num_workers`; all measured")
    w("worker counts are listed. Ratio = reference / ours (per-pair range in brackets); above 1 = we are faster.")
    w("")
    w("| variant | ours (s) | ours img/s | reference best (s) | best num_workers | ratio | " + " | ".join(f"ref w={x} median (s)" for x in a.workers) + " |")
    w("|---|---|---|---|---|---|" + "---|" * len(a.workers))
    for v in a.variants:
        bw, meds = best_workers(bench, v, a.workers)
        ref = bench.epoch.get((v, f"ref_w{bw}"), []) if bw is not None else []
        mine = bench.epoch.get((v, "ours_full"), [])
        bw = "—" if bw is None else bw
        ips = f"{a.train_limit / statistics.median(mine):,.0f}" if mine else "—"
        cells = " | ".join(f"{meds[x]:.3f}" if x in meds else "—" for x in a.workers)
        w(f"| {v} | {mmm(mine)} | {ips} | {mmm(ref)} | {bw} | {ratio_cell(ref, mine)} | {cells} |")
    w("")

    if any(bench.epoch.get((v, "ours_bf16")) or any(k == (v, f"ref_bf16_w{x}") for k in bench.epoch
                                                    for x in getattr(a, "bf16_workers", [0])) for v in a.variants):
        render_bf16(bench, a, w)

    w("### 2. Inference latency")
    w("")
    if getattr(a, "ours_latency", None) == "folded_fastest":
        w("The first test images normalised; 10 warm-up then 50 timed forward passes per run. The reference times")
        w("`model.eval()` under `torch.no_grad()`; ours times the trained net's deployed form (batch norm folded into")
        w("the convolutions, no autograd; equal outputs within float tolerance, tested) in the faster of two layouts")
        w("for each batch size, picked by 10 timed passes of each: oneDNN's own layout with the weights reordered")
        w("once, or channels-last. Cells: min / median / max over the pairs of each run's median (or p95), in ms.")
    elif getattr(a, "ours_latency", None) == "folded":
        w("The first test images normalised; 10 warm-up then 50 timed forward passes per run. The reference times")
        w("`model.eval()` under `torch.no_grad()`; ours times the trained net's folded inference copy (batch norm")
        w("folded into the convolutions, no autograd, oneDNN layout with the weights reordered once; equal outputs")
        w("within float tolerance, tested). Cells: min / median / max over the pairs of each run's median (or p95), in ms.")
    else:
        w("`model.eval()`, no gradients, the first test images normalised; 10 warm-up then 50 timed forward passes")
        w("per run (ours: the net itself, as measured before the folded copy). Cells: min / median / max over the")
        w("pairs of each run's median (or p95), in ms.")
    w("")
    engines = any(x.get("engines") for (_, side), xs in bench.latency.items() if side == "ref" for x in xs)
    if engines:
        w("")
        w("What a user would deploy instead of eager PyTorch, timed the same way by the reference right after its")
        w("eager passes, in the same process and with the same threads: **TorchScript frozen**")
        w("(`optimize_for_inference(freeze(script(model)))`: batch norm folded, weights prepacked for oneDNN) and")
        w("**ONNX Runtime** (CPU provider, all graph optimisations, on `torch.onnx.export(..., dynamo=False)`'s")
        w("opset-17 file of the same architecture; `harness export onnx` writes the same graph for a trained trial).")
        w("Ratios are other / ours: above 1 means ours is faster.")
        w("")
        w("| arch | batch | statistic | ours (ms) | PyTorch eager (ms) | eager / ours | TorchScript frozen (ms) "
          "| frozen / ours | ONNX Runtime (ms) | ORT / ours |")
        w("|---|---|---|---|---|---|---|---|---|---|")
    else:
        w("| arch | batch | statistic | ours (ms) | reference (ms) | ratio |")
        w("|---|---|---|---|---|---|")
    for arch in dict.fromkeys(VARIANTS[v]["arch"] for v in a.variants):
        o = bench.latency.get((arch, "ours"), [])
        r = bench.latency.get((arch, "ref"), [])
        for key, label in (("batch1", "1"), ("eval", None)):
            size = label or str((r or o or [{}])[0].get("eval", {}).get("batch", 256))
            for stat in ("median_ms", "p95_ms"):
                ov = [x[key][stat] for x in o]
                rv = [x[key][stat] for x in r]
                row = f"| {arch} | {size} | {stat.replace('_ms', '')} | {mmm(ov)} | {mmm(rv)} | {ratio_cell(rv, ov)} |"
                if engines:
                    for engine in ("torchscript_frozen", "onnxruntime"):
                        ev = engine_medians(r, engine, key, stat)
                        row += f" {mmm(ev)} | {ratio_cell(ev, ov)} |"
                w(row)
    w("")

    isa = info.get("isa_peak")
    if getattr(bench, "peak", None) and getattr(bench, "flops", None) and isa:
        render_roofline(bench, a, isa, w)
    elif getattr(bench, "peak", None) and getattr(bench, "flops", None):
        # Sections measured before the ISA peak (#37) keep their table as it was.
        w("### 2b. Roofline: training against the machine's fp32 peak")
        w("")
        stat = "the fastest" if getattr(a, "peak_stat", "median") == "best" else "the median"
        w(f"The practical peak: a {2048}×{2048} fp32 matrix multiply in the same libtorch with the same threads, timed at")
        w(f"the start of every pair ({stat} of 15 calls). Training GFLOP/s: our full-epoch images/s × 3 × the network's")
        w("forward FLOPs per image (`models::forward_flops`: multiply-adds of the convolutions and the classifier, ×2;")
        w("the backward pass counted as two more forward passes). Min / median / max over the pairs.")
        w("The peak is MKL's sgemm, which on AMD CPUs does not take its fastest paths, so oneDNN's convolutions can")
        w("beat it and the share can pass 100 %.")
        w("")
        w("| variant | forward MFLOP/image | ours images/s | training GFLOP/s | peak GFLOP/s | share of peak |")
        w("|---|---|---|---|---|---|")
        for v in a.variants:
            g = training_gflops(bench, a, v)
            if not g:
                continue
            ips = [a.train_limit / s for s in bench.epoch.get((v, "ours_full"), []) if s > 0]
            w(f"| {v} | {bench.flops[v] / 1e6:.1f} | {mmm(ips, '{:.0f}')} | {mmm(g, '{:.1f}')} | "
              f"{mmm(bench.peak, '{:.1f}')} | {mmm(roofline_shares(bench, a, v), '{:.0f} %')} |")
        w("")

    w("### 3. Peak memory of a whole short trial")
    w("")
    w(f"Peak resident set size (`ru_maxrss` from `os.wait4`) of one process running a whole trial: "
      f"{a.rss_epochs} epoch(s) on {a.rss_train_limit:,} training images, evaluation on {a.rss_test_limit:,} test images "
      "(the reference also runs its latency measurement). The reference runs with `num_workers=0`, i.e. one process;")
    w("with workers, each worker is a further process of similar size. MiB, min / median / max.")
    w("")
    w("| arch | ours (MiB) | reference (MiB) | ratio |")
    w("|---|---|---|---|")
    for arch in dict.fromkeys(VARIANTS[v]["arch"] for v in a.variants):
        o = bench.rss.get((arch, "ours"), [])
        r = bench.rss.get((arch, "ref"), [])
        w(f"| {arch} | {mmm(o, '{:.0f}')} | {mmm(r, '{:.0f}')} | {ratio_cell(r, o)} |")
    w("")

    w("### 4. Our data-path overhead")
    w("")
    w("Our full epoch against the same batches already materialised on the device (`--mode compute-only`).")
    w("Overhead = full / compute-only − 1, median over pairs (per-pair range).")
    w("")
    w("| variant | full (s) | compute-only (s) | overhead |")
    w("|---|---|---|---|")
    for v in a.variants:
        full = bench.epoch.get((v, "ours_full"), [])
        comp = bench.epoch.get((v, "ours_compute"), [])
        n = min(len(full), len(comp))
        over = [(f / c - 1.0) * 100.0 for f, c in zip(full[:n], comp[:n]) if c > 0]
        cell = f"{statistics.median(over):+.1f} % ({min(over):+.1f} … {max(over):+.1f})" if over else "—"
        w(f"| {v} | {mmm(full)} | {mmm(comp)} | {cell} |")
    w("")

    w("### Reference configuration")
    w("")
    w("`bench/reference/train_reference.py`: PIL images through `transforms.Compose`, `DataLoader(shuffle=True,")
    w("pin_memory=False)`, Adam lr 0.01, CrossEntropyLoss, StepLR(10, 0.1); `_aug` variants use")
    w("RandomHorizontalFlip(0.5), RandomAffine(translate=(0.1, 0.1)), RandomErasing(0.5, value=0) before Normalize.")
    counts = ", ".join(f"{arch} {n:,}" for arch, n in bench.params.items() if n)
    if counts:
        w(f"Parameter counts of the reference models: {counts}.")
    w("")
    return "\n".join(out)


def render_bf16(bench, a, w):
    """Section 1b: our bf16 epoch against our fp32 epoch and PyTorch's CPU autocast."""
    bw_all = getattr(a, "bf16_workers", [0])
    w("### 1b. bf16 training epoch")
    w("")
    w("Our trainer with `--set precision=bf16` (mixed precision as PyTorch's autocast does it: convolutions and")
    w("the classifier in bf16, batch norm, the loss, the weights and Adam in fp32) against our fp32 epoch of the")
    w("same pair (section 1) and against PyTorch's CPU autocast (the reference's `--precision bf16`:")
    w("`torch.autocast(\"cpu\", dtype=torch.bfloat16)` around the forward pass and the loss) with DataLoader")
    w(f"`num_workers` {', '.join(map(str, bw_all))} (the best shown), measured in the same alternating pairs (our bf16 run, then the")
    w("reference's, reversed on odd pairs). Our bf16 runs stop after their epochs: the latency measurement that")
    w("follows belongs to the fp32 run. Seconds min / median / max over the pairs; images/s from the median; ratios")
    w("are the median of the per-pair ratios (range), above 1 = ours bf16 is faster.")
    w("")
    w("| variant | ours fp32 (s) | ours bf16 (s) | ours bf16 img/s | PyTorch autocast bf16 (s) | autocast img/s "
      "| best num_workers | ours bf16 vs ours fp32 | ours bf16 vs autocast | autocast vs PyTorch fp32 |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for v in a.variants:
        r = bf16_ratios(bench, v, bw_all)
        mine = bench.epoch.get((v, "ours_bf16"), [])
        ref = bench.epoch.get((v, f"ref_bf16_w{r['ref_workers']}"), []) if r["ref_workers"] is not None else []
        if not mine and not ref:
            continue
        cell = lambda xs: (f"**{statistics.median(xs):.2f}×** ({min(xs):.2f}–{max(xs):.2f})" if xs else "—")  # noqa: E731
        ips = lambda xs: f"{a.train_limit / statistics.median(xs):,.0f}" if xs else "—"  # noqa: E731
        w(f"| {v} | {mmm(bench.epoch.get((v, 'ours_full'), []))} | {mmm(mine)} | {ips(mine)} | {mmm(ref)} | {ips(ref)} "
          f"| {'—' if r['ref_workers'] is None else r['ref_workers']} | {cell(r['vs_fp32'])} | {cell(r['vs_ref'])} "
          f"| {cell(r['ref_self'])} |")
    w("")
    judged = [(what, name, thr) for what, name, kind, thr in TARGETS if kind.startswith("bf16_")]
    w("Targets on a CPU with native bf16: " + "; ".join(f"{name} {what} ≥ {thr:g}×" for what, name, thr in judged)
      + " (the Targets table above says whether this run met them).")
    w("")


def render_roofline(bench, a, isa, w):
    """Section 2b with the ISA peak (runs since #37): each row's share of the measured sgemm
    peak (the old column) and of the ISA peak of its precision."""
    w("### 2b. Roofline: training against the machine's peaks")
    w("")
    stat = "the fastest" if getattr(a, "peak_stat", "median") == "best" else "the median"
    w(f"Two denominators. **sgemm**: a 2048×2048 fp32 matrix multiply in the same libtorch with the same threads, timed at")
    w(f"the start of every pair ({stat} of 15 calls): MKL's, which on AMD CPUs does not take its fastest paths, so oneDNN's")
    w("convolutions can beat it and the share can pass 100 %. **ISA**: what the instruction set allows, cores × clock ×")
    w("fp32 lanes per vector × 2 (an FMA is two FLOPs) × vector FMA units per core, from `/proc/cpuinfo`:")
    w("")
    w(f"- cores: {isa['cores_note']}")
    w(f"- clock: {isa['clock_ghz']:.3f} GHz, from {isa['clock_source']}")
    w(f"- lanes: {isa['lanes']} fp32 per {isa['lanes'] * 32}-bit vector ({isa['isa']}); FMA units: {isa['fma_units']} "
      f"({isa['rule']}); {isa['fp32_flops_per_cycle']} fp32 FLOPs per cycle per core")
    w(f"- **fp32 ISA peak: {isa['fp32_gflops']:.1f} GFLOP/s**")
    if isa.get("bf16"):
        b = isa["bf16"]
        w(f"- **bf16 ISA peak: {b['gflops']:.1f} GFLOP/s** ({b['rule']}: {b['flops_per_cycle']} FLOPs per cycle per core)")
    else:
        w("- bf16 ISA peak: none (neither avx512_bf16 nor amx_bf16 in /proc/cpuinfo)")
    sgemm = statistics.median(bench.peak) if bench.peak else None
    if sgemm and sgemm > isa["fp32_gflops"]:
        implied = sgemm / (isa["cores"] * isa["fp32_flops_per_cycle"])
        w(f"- the measured sgemm ({sgemm:.1f} GFLOP/s, median) exceeds the fp32 ISA peak: under the rule above it "
          f"implies a clock of at least {implied:.2f} GHz, above the {isa['clock_ghz']:.2f} GHz used, so the cores run "
          "faster than that clock (boost) and every share of the ISA peak below reads high by at least "
          f"{implied / isa['clock_ghz']:.2f}×")
    w("")
    w("Training GFLOP/s: our full-epoch images/s × 3 × the network's forward FLOPs per image (`models::forward_flops`:")
    w("multiply-adds of the convolutions and the classifier, ×2; the backward pass counted as two more forward passes);")
    w("bf16 rows count the same FLOPs. Each row's ISA share is against the peak of its precision. Min / median / max")
    w("over the pairs.")
    w("")
    w("| variant | precision | forward MFLOP/image | ours images/s | training GFLOP/s | sgemm peak GFLOP/s "
      "| share of sgemm peak | ISA peak GFLOP/s | share of ISA peak |")
    w("|---|---|---|---|---|---|---|---|---|")
    for v in a.variants:
        for side, precision in (("ours_full", "fp32"), ("ours_bf16", "bf16")):
            g = training_gflops(bench, a, v, side)
            if not g:
                continue
            ips = [a.train_limit / s for s in bench.epoch.get((v, side), []) if s > 0]
            peak = isa["fp32_gflops"] if precision == "fp32" else (isa.get("bf16") or {}).get("gflops")
            w(f"| {v} | {precision} | {bench.flops[v] / 1e6:.1f} | {mmm(ips, '{:.0f}')} | {mmm(g, '{:.1f}')} | "
              f"{mmm(bench.peak, '{:.1f}')} | {mmm(roofline_shares(bench, a, v, side), '{:.0f} %')} | "
              f"{'—' if not peak else f'{peak:.1f}'} | {mmm(isa_shares(bench, a, v, isa, side), '{:.0f} %')} |")
    w("")


def write_atomic(path, text):
    path = os.path.join(ROOT, path) if not os.path.isabs(path) else path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".performance-", suffix=".tmp", dir=os.path.dirname(path))
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def raw_results(bench, a, info, started, finished, load_before, load_after, load_max=None, others=None):
    """Everything render() needs, as JSON: `--render-from` rebuilds the report from it."""
    table = lambda t: [[*k, v] for k, v in t.items()]  # noqa: E731
    args = {k: v for k, v in vars(a).items() if isinstance(v, (int, float, str, bool, list, type(None)))}
    # How the reference reports its matrix-multiply peak (runs before 2026-12-03 16:20 took the median).
    args["peak_stat"] = "best"
    return {"args": args, "info": info, "started": started, "finished": finished,
            "load_before": load_before, "load_after": load_after, "load_max": load_max,
            "others": others, "epoch": table(bench.epoch),
            "latency": table(bench.latency), "rss": table(bench.rss), "params": bench.params,
            "peak": bench.peak, "flops": bench.flops, "notes": list(getattr(a, "note", None) or [])}


def from_raw(raw):
    a = argparse.Namespace(**raw["args"])
    bench = Bench.__new__(Bench)
    bench.a = a
    bench.epoch = {(k0, k1): v for k0, k1, v in raw["epoch"]}
    bench.latency = {(k0, k1): v for k0, k1, v in raw["latency"]}
    bench.rss = {(k0, k1): v for k0, k1, v in raw["rss"]}
    bench.params = raw["params"]
    bench.peak = raw.get("peak", [])
    bench.flops = raw.get("flops", {})
    a.notes = raw.get("notes", [])
    return bench, a


README_BEGIN, README_END = "<!-- performance:begin -->", "<!-- performance:end -->"


def readme_block(runs, out, readme=None):
    """The README summary: the targets table of every CPU in `runs`, each with its date and machine.
    The link to the full report is relative to the README's folder (`readme`, repository-relative)."""
    link = os.path.relpath(out, os.path.dirname(readme)) if readme and not os.path.isabs(out) else out
    lines = [README_BEGIN]
    for cpu in sorted(runs):
        raw = runs[cpu]
        bench, a = from_raw(raw)
        info = raw["info"]
        busy = busy_note(raw)
        lines += [f"**{cpu}**: measured {raw['started']} (UTC), {info['usable_cores']} cores, `{info['harness']}`, "
                  f"{a.threads} threads, {a.pairs} alternating pairs, {a.train_limit:,}-image epochs, reference at its "
                  f"best `num_workers` of {a.workers}{busy} (full tables: [{out}](" + link + "#" + anchor(cpu) + ")):",
                  ""]
        lines += render_targets(bench, a)
        lines.append("")
    lines.append(README_END)
    return "\n".join(lines)


def splice_readme(path, block):
    """Replaces the text between the performance markers of the README, if it has them."""
    full = os.path.join(ROOT, path)
    try:
        with open(full) as f:
            text = f.read()
    except OSError:
        return False
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        return False
    write_atomic(full, text[:begin] + block + text[end + len(README_END):])
    return True


# --------------------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=None, help="alternating ours/reference pairs (default 5; --quick: 2)")
    p.add_argument("--train-limit", type=int, default=None, help="training images per epoch (default 4096; --quick: 512)")
    p.add_argument("--repeats", type=int, default=1, help="timed epochs per run, after 1 warm-up (the run's value is their median)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="intra-op threads for both sides (default: usable cores)")
    p.add_argument("--workers", default="0,1,2", help="reference DataLoader num_workers to try (comma list)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS))
    p.add_argument("--rss-epochs", type=int, default=None, help="epochs of the peak-RSS trial (default 1)")
    p.add_argument("--rss-train-limit", type=int, default=None, help="training images of the peak-RSS trial (default 2048; --quick: 512)")
    p.add_argument("--rss-test-limit", type=int, default=None, help="test images of the peak-RSS trial (default 1024; --quick: 256)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 2 pairs, 512 images")
    p.add_argument("--rss-pairs", type=int, default=3,
                   help="measure peak RSS in the first N pairs only (it barely varies; default 3)")
    p.add_argument("--reference-only", action="store_true", help="run only the reference half (ours is not needed)")
    p.add_argument("--rss-only", action="store_true",
                   help="measure only the peak RSS of the short trials (section 3); writes reports/performance-rss.md")
    p.add_argument("--harness", default=os.environ.get("BENCH_HARNESS", "target/release/harness"),
                   help="our binary, absolute or relative to the repository root (default: $BENCH_HARNESS, else "
                        "target/release/harness); a copy outside target/ keeps a rebuild from replacing it mid-run")
    p.add_argument("--note", action="append", default=[], metavar="TEXT",
                   help="a line for the report's machine list, e.g. what else ran on the machine (repeatable)")
    p.add_argument("--precisions", default="auto",
                   help="fp32, or fp32,bf16 to add the bf16 rows (ours bf16 vs ours fp32 vs PyTorch's CPU autocast); "
                        "default auto: fp32,bf16 where /proc/cpuinfo shows avx512_bf16 or amx_bf16, else fp32")
    p.add_argument("--bf16-workers", default="0",
                   help="DataLoader num_workers of the reference's autocast bf16 epochs (comma list; default 0, the "
                        "fp32 reference's best count in every run recorded on 2 cores)")
    p.add_argument("--config", default="configs/bench.ron")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder for the reference (default: its own search)")
    p.add_argument("--out", default=None,
                   help="report path (default reports/performance.md; reports/performance-quick.md with --quick, "
                        "reports/performance-reference.md with --reference-only, so smoke runs never replace a real report)")
    p.add_argument("--readme", default="docs/performance.md",
                   help="README whose performance markers get the targets table (full runs only; '' for none)")
    p.add_argument("--render-from", default=None, metavar="JSON",
                   help="measure nothing: rebuild the report and README summary from the JSON a full run saved "
                        "beside its report (reports/performance.json)")
    a = p.parse_args(argv)
    a.out_given = a.out is not None
    # What our latency figures time (kept with each run, so older sections keep their text):
    # the folded inference copy of the net since issue #15 ("folded", oneDNN's layout), in the
    # faster of oneDNN's layout and channels-last per batch size since issue #23.
    a.ours_latency = "folded_fastest"
    a.pairs = a.pairs if a.pairs is not None else (2 if a.quick else 5)
    a.train_limit = a.train_limit if a.train_limit is not None else (512 if a.quick else 4096)
    a.rss_epochs = a.rss_epochs if a.rss_epochs is not None else 1
    a.rss_train_limit = a.rss_train_limit if a.rss_train_limit is not None else (512 if a.quick else 2048)
    a.rss_test_limit = a.rss_test_limit if a.rss_test_limit is not None else (256 if a.quick else 1024)
    if a.out is None:
        a.out = ("reports/performance-quick.md" if a.quick
                 else "reports/performance-reference.md" if a.reference_only
                 else "reports/performance-rss.md" if a.rss_only else "reports/performance.md")
    try:
        a.workers = [int(x) for x in a.workers.split(",") if x.strip()]
    except ValueError:
        p.error("--workers: comma list of integers")
    if not a.workers or min(a.workers) < 0:
        p.error("--workers: at least one count, each >= 0")
    try:
        a.bf16_workers = parse_workers(a.bf16_workers)
    except ValueError as e:
        p.error(f"--bf16-workers: {e}")
    try:
        a.precisions, a.precision_note = parse_precisions(a.precisions, read_cpuinfo())
    except ValueError as e:
        p.error(f"--precisions: {e}")
    a.variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    bad = [v for v in a.variants if v not in VARIANTS]
    if bad or not a.variants:
        p.error(f"--variants: unknown {bad}; choose from {', '.join(VARIANTS)}")
    for name in ("pairs", "train_limit", "repeats", "threads", "rss_epochs", "rss_train_limit"):
        if getattr(a, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 1 <= a.train_limit <= 60000 or not 1 <= a.rss_train_limit <= 60000 or not 0 <= a.rss_test_limit <= 10000:
        p.error("image limits: train 1..=60000, test 0..=10000")
    if a.pairs < 5 and not a.quick:
        log(f"note: {a.pairs} pairs; the report's min/median/max are meant to cover at least 5")
    return a


def parse_workers(text):
    """A comma list of DataLoader num_workers (each >= 0, at least one), or ValueError."""
    try:
        workers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError("comma list of integers") from None
    if not workers or min(workers) < 0:
        raise ValueError("at least one count, each >= 0")
    return workers


def check_harness(a):
    path = os.path.join(ROOT, a.harness)
    if not os.access(path, os.X_OK):
        raise SystemExit(f"bench: {a.harness} not found; build it (cargo build --release -p harness) or pass --reference-only")
    help_text = subprocess.run([path, "--help"], capture_output=True, text=True).stdout
    if "bench-epoch" not in help_text:
        raise SystemExit(f"bench: {a.harness} has no `bench-epoch` subcommand yet; pass --reference-only to run the reference half")
    if not os.path.exists(os.path.join(ROOT, a.config)):
        raise SystemExit(f"bench: {a.config} does not exist")


def main(argv=None):
    a = parse_args(argv)
    if a.render_from:
        return render_from(a.render_from, a)
    if not a.reference_only:
        check_harness(a)
    if a.quick:
        log("quick smoke run: tiny sizes, the figures mean nothing")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()[0]
    log(f"{a.pairs} pairs × {', '.join(a.variants)}; {a.train_limit} training images; threads {a.threads}; "
        f"reference workers {a.workers}; load {load_before:.2f}")
    log(f"precisions {', '.join(a.precisions)}: {a.precision_note}")
    busy_before, t_before = busy_seconds(), time.perf_counter()
    time.sleep(2.0)
    others_now = (busy_seconds() - busy_before) / (time.perf_counter() - t_before)
    if others_now > OTHERS_LIMIT:
        log(f"warning: other processes are using {others_now:.2f} cores before the start: the figures will be "
            "noisy; the report will say so")
    info = machine_info(a)  # before measuring: a broken environment fails now, not after 40 minutes
    bench = Bench(a)
    t0 = time.perf_counter()
    try:
        load_max = load_before
        for p in range(a.pairs):
            load_max = max(load_max, os.getloadavg()[0])
            bench.pair(p)
    except ChildFailed as e:
        log(str(e))
        return 1
    except KeyboardInterrupt:
        log("interrupted; no report written")
        return 130
    load_after = os.getloadavg()[0]
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    log(f"measured in {time.perf_counter() - t0:.0f}s")
    # The measurements first, so that nothing after this point can lose them.
    raw = raw_results(bench, a, info, started, finished, load_before, load_after, max(load_max, load_after),
                      others_summary(OTHERS))
    json_path = os.path.splitext(a.out)[0] + ".json"
    runs = load_runs(json_path)
    if info["cpu"] in runs:
        log(f"replacing the section of {info['cpu']} measured {runs[info['cpu']]['started']}")
    runs[info["cpu"]] = raw
    write_atomic(json_path, json.dumps({"format": 2, "runs": runs}, indent=1) + "\n")
    return publish(runs, a)


def load_runs(path):
    """{cpu: raw run} from a report's JSON file: format 2 keeps one run per CPU model; the older
    format (one run at the top level) becomes its CPU's entry. A missing file is no runs."""
    path = os.path.join(ROOT, path) if not os.path.isabs(path) else path
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    if "runs" in data:
        return data["runs"]
    return {data["info"]["cpu"]: data}


def publish(runs, a):
    """Writes the report of every CPU in `runs` (and the README summary for a full run) and
    prints it."""
    text = render_document(runs)
    path = write_atomic(a.out, text + "\n")
    print(text)
    rel = os.path.relpath(path, ROOT)
    log(f"wrote {path if rel.startswith('..') else rel}")
    if a.readme and not a.quick and not a.reference_only and not getattr(a, "rss_only", False):
        if splice_readme(a.readme, readme_block(runs, a.out, a.readme)):
            log(f"updated the performance summary in {a.readme}")
        else:
            log(f"{a.readme} has no {README_BEGIN} ... {README_END} markers; summary not written")
    return 0


def render_from(path, a):
    """Rebuilds the report (and README summary) from a saved performance JSON, every CPU's section."""
    runs = load_runs(path)
    if not runs:
        raise SystemExit(f"bench: {path} does not exist")
    newest = max(runs.values(), key=lambda r: r["started"])
    _, saved = from_raw(newest)
    saved.readme = a.readme
    if a.out_given:
        saved.out = a.out
    return publish(runs, saved)


if __name__ == "__main__":
    sys.exit(main())
