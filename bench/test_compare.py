#!/usr/bin/env python3
"""Tests of bench/compare.py's pure parts (no torch, no timing): run by `make test`."""

import argparse
import contextlib
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 avx512f avx512bw
processor\t: 1
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
"""


class CpuIdentity(unittest.TestCase):
    def test_same_name_different_generations_are_told_apart(self):
        zen3 = ZEN4.replace("model\t\t: 17", "model\t\t: 1").replace(" avx512f avx512bw", "")
        self.assertEqual(compare.cpu_identity(ZEN4), "AMD EPYC (family 25 model 17, AVX-512)")
        self.assertEqual(compare.cpu_identity(zen3), "AMD EPYC (family 25 model 1, AVX2)")

    def test_a_bare_name_is_kept_as_it_is(self):
        self.assertEqual(compare.cpu_identity("model name : Some CPU\n"), "Some CPU")
        self.assertEqual(compare.cpu_identity(""), "unknown")


# processor 0 of three machines, as /proc/cpuinfo prints it (the fields isa_peak reads).
ZEN4_BF16 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
cpu MHz\t\t: 2596.132
siblings\t: 2
cpu cores\t: 2
flags\t\t: fpu sse2 fma avx avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni
processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 1000.000
"""

# A Sapphire Rapids Xeon with SMT: 4 logical CPUs on 2 cores, AMX.
INTEL_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8481C
cpu MHz\t\t: 2000.000
siblings\t: 4
cpu cores\t: 2
flags\t\t: fpu sse2 fma avx avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8
"""

# A Haswell-era Xeon: AVX2 and FMA, no AVX-512, no bf16.
INTEL_AVX2 = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 63
model name\t: Intel(R) Xeon(R) CPU E5-2680 v3
cpu MHz\t\t: 2500.000
flags\t\t: fpu sse2 fma avx avx2
"""


class IsaPeak(unittest.TestCase):
    def test_zen4_runs_avx512_at_half_width_and_doubles_in_bf16(self):
        isa = compare.isa_peak(ZEN4_BF16, threads=2)
        # 2 cores x 2.596132 GHz x 16 lanes x 2 (FMA) x 1 512-bit FMA per cycle (two 256-bit halves).
        self.assertEqual((isa["lanes"], isa["fma_units"], isa["fp32_flops_per_cycle"]), (16, 1, 32))
        self.assertAlmostEqual(isa["fp32_gflops"], 2 * 2.596132 * 32, places=6)
        self.assertEqual(isa["bf16"]["via"], "avx512_bf16")
        self.assertAlmostEqual(isa["bf16"]["gflops"], 2 * 2.596132 * 64, places=6)
        self.assertIn("cpu MHz", isa["clock_source"])  # processor 0's line, not processor 1's 1000 MHz
        self.assertIn("Zen 4", isa["rule"])

    def test_the_cpufreq_maximum_wins_over_the_cpu_mhz_line(self):
        isa = compare.isa_peak(ZEN4_BF16, threads=1, max_freq_khz=3_700_000)
        self.assertAlmostEqual(isa["clock_ghz"], 3.7)
        self.assertAlmostEqual(isa["fp32_gflops"], 3.7 * 32)
        self.assertIn("cpuinfo_max_freq", isa["clock_source"])

    def test_zen3_without_avx512_has_the_same_fp32_rate_and_no_bf16(self):
        zen3 = ZEN4_BF16.replace("model\t\t: 17", "model\t\t: 1").replace(
            " avx512f avx512dq avx512bw avx512vl avx512_bf16", "")
        isa = compare.isa_peak(zen3, threads=2)
        self.assertEqual((isa["lanes"], isa["fma_units"], isa["fp32_flops_per_cycle"]), (8, 2, 32))
        self.assertIsNone(isa["bf16"])

    def test_zen5_has_full_width_512_bit_pipes(self):
        zen5 = ZEN4_BF16.replace("cpu family\t: 25", "cpu family\t: 26")
        isa = compare.isa_peak(zen5, threads=2)
        self.assertEqual(isa["fp32_flops_per_cycle"], 64)
        self.assertEqual(isa["bf16"]["flops_per_cycle"], 128)

    def test_intel_avx512_counts_two_512_bit_units_and_amx_for_bf16(self):
        isa = compare.isa_peak(INTEL_AMX, threads=4)
        # SMT: 4 threads on 2 cores' FMA units.
        self.assertAlmostEqual(isa["cores"], 2.0)
        self.assertEqual((isa["lanes"], isa["fma_units"], isa["fp32_flops_per_cycle"]), (16, 2, 64))
        self.assertAlmostEqual(isa["fp32_gflops"], 2 * 2.0 * 64)
        self.assertEqual(isa["bf16"]["via"], "amx_bf16")
        self.assertAlmostEqual(isa["bf16"]["gflops"], 2 * 2.0 * 1024)

    def test_intel_avx2_only(self):
        isa = compare.isa_peak(INTEL_AVX2, threads=2)
        self.assertEqual((isa["isa"], isa["lanes"], isa["fma_units"], isa["fp32_flops_per_cycle"]),
                         ("AVX2 + FMA", 8, 2, 32))
        self.assertAlmostEqual(isa["fp32_gflops"], 2 * 2.5 * 32)
        self.assertIsNone(isa["bf16"])

    def test_no_clock_or_no_fma_vectors_gives_no_peak(self):
        self.assertIsNone(compare.isa_peak(INTEL_AVX2.replace("cpu MHz\t\t: 2500.000\n", ""), threads=2))
        self.assertIsNone(compare.isa_peak(INTEL_AVX2.replace(" fma avx avx2", " avx"), threads=2))
        self.assertIsNone(compare.isa_peak("", threads=2))


class Precisions(unittest.TestCase):
    def test_auto_adds_bf16_only_with_native_bf16(self):
        self.assertEqual(compare.parse_precisions("auto", ZEN4_BF16)[0], ["fp32", "bf16"])
        self.assertEqual(compare.parse_precisions("auto", INTEL_AMX)[0], ["fp32", "bf16"])
        chosen, why = compare.parse_precisions("auto", INTEL_AVX2)
        self.assertEqual(chosen, ["fp32"])
        self.assertIn("neither avx512_bf16 nor amx_bf16", why)

    def test_an_explicit_list_is_kept_in_order_and_says_when_bf16_is_emulated(self):
        self.assertEqual(compare.parse_precisions("bf16, fp32", ZEN4_BF16)[0], ["fp32", "bf16"])
        self.assertEqual(compare.parse_precisions("fp32", ZEN4_BF16)[0], ["fp32"])
        chosen, why = compare.parse_precisions("fp32,bf16", INTEL_AVX2)
        self.assertEqual(chosen, ["fp32", "bf16"])
        self.assertIn("emulates", why)

    def test_bad_lists_are_refused(self):
        for bad in ("bf16", "fp32,fp16", "", " , "):
            with self.assertRaises(ValueError, msg=bad):
                compare.parse_precisions(bad, ZEN4_BF16)

    def test_the_command_line_flags(self):
        a = compare.parse_args(["--precisions", "fp32", "--bf16-workers", "0,2"])
        self.assertEqual((a.precisions, a.bf16_workers), (["fp32"], [0, 2]))
        for argv in (["--precisions", "bf16"], ["--bf16-workers", "-1"], ["--bf16-workers", "x"]):
            with self.assertRaises(SystemExit, msg=argv), contextlib.redirect_stderr(io.StringIO()):
                compare.parse_args(argv)


def fake_bench(epoch):
    bench = compare.Bench.__new__(compare.Bench)
    bench.epoch, bench.flops, bench.peak = epoch, {"conv4": 100e6}, [200.0, 100.0]
    bench.latency, bench.rss = {}, {}
    return bench


class Bf16Ratios(unittest.TestCase):
    EPOCH = {
        ("conv4", "ours_full"): [4.0, 6.0],
        ("conv4", "ours_bf16"): [2.0, 2.0],
        ("conv4", "ref_w0"): [6.0, 6.0],
        ("conv4", "ref_bf16_w0"): [3.0, 5.0],
        ("conv4", "ref_bf16_w2"): [4.0, 4.5],
    }

    def test_per_pair_ratios_against_our_fp32_and_the_best_autocast_workers(self):
        r = compare.bf16_ratios(fake_bench(dict(self.EPOCH)), "conv4", [0, 2])
        self.assertEqual(r["vs_fp32"], [2.0, 3.0])
        # w=0's median (4.0) beats w=2's (4.25): ratios against w=0, pair by pair.
        self.assertEqual(r["ref_workers"], 0)
        self.assertEqual(r["vs_ref"], [1.5, 2.5])
        self.assertEqual(r["ref_self"], [2.0, 1.2])

    def test_targets_judge_the_median_and_skip_what_was_not_measured(self):
        a = argparse.Namespace(variants=["conv4"], workers=[0], bf16_workers=[0], train_limit=2048)
        rows = {(what, name): (target, measured, met) for what, name, target, measured, met
                in compare.target_rows(fake_bench(dict(self.EPOCH)), a)}
        self.assertEqual(rows[("bf16 epoch vs our fp32 epoch", "conv4")], ("≥ 1.7× faster", "2.50× (2.00–3.00)", True))
        self.assertEqual(rows[("bf16 epoch vs PyTorch CPU autocast bf16", "conv4")],
                         ("≥ 1.25× faster", "2.00× (1.50–2.50)", True))
        slow = {**self.EPOCH, ("conv4", "ours_bf16"): [3.0, 4.0]}
        rows = {what: met for what, _, _, _, met in compare.target_rows(fake_bench(slow), a)}
        self.assertFalse(rows["bf16 epoch vs our fp32 epoch"])  # 1.33x and 1.5x: median 1.42x < 1.7x
        fp32_only = {k: v for k, v in self.EPOCH.items() if "bf16" not in k[1]}
        whats = [what for what, *_ in compare.target_rows(fake_bench(fp32_only), a)]
        self.assertFalse([w for w in whats if "bf16" in w])

    def test_isa_shares_use_the_peak_of_each_precision(self):
        bench = fake_bench(dict(self.EPOCH))
        a = argparse.Namespace(train_limit=2000)
        isa = {"fp32_gflops": 300.0, "bf16": {"gflops": 600.0}}
        # fp32: 2000 images / 4 s x 3 x 100 MFLOP = 150 GFLOP/s -> 50 % of 300; bf16: 300 GFLOP/s -> 50 % of 600.
        self.assertEqual(compare.isa_shares(bench, a, "conv4", isa)[0], 50.0)
        self.assertEqual(compare.isa_shares(bench, a, "conv4", isa, "ours_bf16"), [50.0, 50.0])
        self.assertEqual(compare.roofline_shares(bench, a, "conv4", "ours_bf16"), [150.0, 300.0])
        self.assertEqual(compare.isa_shares(bench, a, "conv4", {"fp32_gflops": 300.0, "bf16": None}, "ours_bf16"), [])
        self.assertEqual(compare.isa_shares(bench, a, "conv4", None), [])


if __name__ == "__main__":
    unittest.main()
