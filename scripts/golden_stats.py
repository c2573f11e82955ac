#!/usr/bin/env python3
"""Golden values for experiment::stats, experiment::power and experiment::seeding.

Computed with SciPy and statsmodels; the output is committed as
crates/statistics/tests/golden/stats.json and read by
crates/statistics/tests/golden.rs (no Python at test time).

    ~/.cache/fmnist-harness/torch-2.11.0/bin/pip install scipy statsmodels
    ~/.cache/fmnist-harness/torch-2.11.0/bin/python scripts/golden_stats.py \
        > crates/statistics/tests/golden/stats.json
"""

import json
import math
import sys

import numpy as np
import scipy
import scipy.stats as st
import statsmodels
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower


def holm_cases():
    cases = [
        [0.01, 0.04, 0.03, 0.005],
        [0.2, 0.01, 0.5, 0.04, 0.03, 0.8, 0.001, 0.049],
        [0.04],
        [0.5, 0.5, 0.5],
        [0.001, 0.0011, 0.3, 0.9],
        [0.03, 0.03, 0.02],
    ]
    return [{"p": p, "adjusted": list(multipletests(p, method="holm")[1])} for p in cases]


def prob(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    return float(((b[:, None] > a[None, :]) + 0.5 * (b[:, None] == a[None, :])).mean())


PAIRS = [
    ([93.1, 92.8, 93.4, 92.9, 93.0], [93.5, 93.3, 93.6, 93.2, 93.4]),
    ([1.0, 2.0, 2.0, 3.0], [2.0, 2.0, 3.0, 3.0, 4.0]),
    ([5.0, 5.0], [5.0, 5.0]),
    ([84.1], [85.2]),
    ([84.1, 84.5, 83.9], [83.0]),
    ([90.1, 90.4, 89.8, 90.0, 90.6, 90.2, 89.9, 90.3],
     [90.5, 90.2, 90.9, 90.1, 90.7, 90.4, 91.0, 90.0]),
]


def mann_whitney_cases():
    out = []
    for a, b in PAIRS:
        u = st.mannwhitneyu(b, a, alternative="two-sided").statistic
        out.append({"a": a, "b": b, "prob": float(u) / (len(a) * len(b)), "check": prob(a, b)})
    return out


def bootstrap_cases():
    out = []
    for a, b in [PAIRS[0], PAIRS[5], PAIRS[1]]:
        res = st.bootstrap(
            (np.asarray(a), np.asarray(b)),
            lambda x, y: prob(x, y),
            vectorized=False,
            paired=False,
            method="percentile",
            confidence_level=0.95,
            n_resamples=20000,
            rng=np.random.default_rng(12345),
        )
        ci = res.confidence_interval
        out.append({"a": a, "b": b, "low": float(ci.low), "high": float(ci.high)})
    return out


def nct_cases():
    out = []
    for df in [1.0, 3.0, 8.0, 30.0, 200.0]:
        for nc in [-2.0, 0.0, 0.5, 1.0, 2.5, 5.0, 10.0]:
            for t in [-3.0, -1.0, 0.0, 0.5, 1.5, 2.3, 4.0, 8.0]:
                cdf = float(st.nct.cdf(t, df, nc))
                if math.isfinite(cdf):  # SciPy returns NaN in a few far tails
                    out.append({"t": t, "df": df, "nc": nc, "cdf": cdf})
    return out


def power_cases():
    p = TTestIndPower()
    out = []
    for d in [0.5, 1.0, 2.0, 3.0]:
        for n in [2, 3, 5, 10, 30]:
            for alpha in [0.05, 0.05 / 7]:
                out.append({
                    "effect": d, "n_a": n, "n_b": n, "alpha": alpha,
                    "power": float(p.power(effect_size=d, nobs1=n, alpha=alpha, ratio=1.0)),
                })
    for n_a, n_b in [(5, 3), (10, 4)]:
        out.append({
            "effect": 1.5, "n_a": n_a, "n_b": n_b, "alpha": 0.05,
            "power": float(p.power(effect_size=1.5, nobs1=n_a, alpha=0.05, ratio=n_b / n_a)),
        })
    # statsmodels returns NaN where the power is 1 to double precision.
    return [c for c in out if math.isfinite(c["power"])]


def mde_cases():
    p = TTestIndPower()
    out = []
    for n_a, n_b in [(2, 2), (3, 3), (5, 5), (10, 10), (20, 20), (5, 3), (8, 4)]:
        for alpha in [0.05, 0.05 / 4]:
            d = p.solve_power(effect_size=None, nobs1=n_a, alpha=alpha, power=0.8,
                              ratio=n_b / n_a)
            d = float(np.asarray(d).item())
            # Check the solver converged: its power must be 0.8.
            back = p.power(effect_size=d, nobs1=n_a, alpha=alpha, ratio=n_b / n_a)
            if abs(back - 0.8) > 1e-6:
                print(f"mde solver did not converge for {n_a},{n_b},{alpha}", file=sys.stderr)
                continue
            out.append({"n_a": n_a, "n_b": n_b, "alpha": alpha, "power": 0.8, "effect": d})
    return out


def sample_size_cases():
    p = TTestIndPower()
    out = []
    for d in [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]:
        for alpha in [0.05, 0.05 / 3, 0.05 / 8]:
            for power in [0.8, 0.9]:
                n = p.solve_power(effect_size=d, nobs1=None, alpha=alpha, power=power, ratio=1.0)
                n = float(np.asarray(n).item())
                n_int = max(2, math.ceil(n - 1e-9))
                # The smallest integer with power >= target (statsmodels' n is fractional).
                while n_int > 2 and p.power(effect_size=d, nobs1=n_int - 1, alpha=alpha) >= power:
                    n_int -= 1
                while p.power(effect_size=d, nobs1=n_int, alpha=alpha) < power:
                    n_int += 1
                out.append({"effect": d, "alpha": alpha, "power": power,
                            "n_fractional": n, "n": n_int})
    return out


def stein_cases():
    out = []
    for pilot, w, alpha in [
        ([90.1, 90.4, 89.8, 90.0, 90.6], 0.1, 0.05),
        ([90.1, 90.4, 89.8, 90.0, 90.6], 0.5, 0.05),
        ([84.0, 85.5, 83.1], 0.25, 0.05),
        ([84.0, 85.5, 83.1], 1.0, 0.1),
        ([70.0, 70.0, 70.0], 0.1, 0.05),
        ([88.2, 88.9], 0.3, 0.05),
    ]:
        n0 = len(pilot)
        s = float(np.std(pilot, ddof=1))
        t = float(st.t.ppf(1 - alpha / 2, n0 - 1))
        n = max(n0, math.floor((t * s / w) ** 2) + 1)
        out.append({"pilot": pilot, "halfwidth": w, "alpha": alpha, "sd": s, "t": t, "n": n})
    return out


def chi2_cases():
    out = []
    for sd, n in [(0.3, 5), (0.3, 2), (1.2, 10), (0.05, 30), (2.0, 3)]:
        df = n - 1
        lo = math.sqrt(df * sd * sd / st.chi2.ppf(0.975, df))
        hi = math.sqrt(df * sd * sd / st.chi2.ppf(0.025, df))
        out.append({"sd": sd, "n": n, "low": lo, "high": hi})
    return out


def main():
    doc = {
        "generator": "scripts/golden_stats.py",
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "numpy": np.__version__,
        "holm": holm_cases(),
        "mann_whitney": mann_whitney_cases(),
        "bootstrap": bootstrap_cases(),
        "nct_cdf": nct_cases(),
        "power": power_cases(),
        "mde": mde_cases(),
        "sample_size": sample_size_cases(),
        "stein": stein_cases(),
        "chi2_sd": chi2_cases(),
    }
    json.dump(doc, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
