#!/usr/bin/env python3
"""Tests of bench/compare.py's pure parts (no torch, no timing): run by `make test`."""

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


if __name__ == "__main__":
    unittest.main()
