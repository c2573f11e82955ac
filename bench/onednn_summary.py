#!/usr/bin/env python3
"""Where oneDNN's time goes in a run made with `ONEDNN_VERBOSE=1`: the executed primitives'
times summed by kind (convolution; reorders of activations, of weights, other), then the top
primitives with their implementation, memory formats and problem size. Batch-1 passes are left
out of the kind totals, so a training run's figures are its training steps.

  ONEDNN_VERBOSE=1 target/release/harness bench-epoch configs/bench.ron --variant conv4 \\
      --set data.train_limit=512 --mode compute-only --repeats 1 > ours.log
  ONEDNN_VERBOSE=1 python bench/reference/train_reference.py --arch conv4 ... > reference.log
  bench/onednn_summary.py ours.log reference.log

The memory formats tell the layout: `abcd` is NCHW, `acdb` NHWC (channels last), `aBcd16b`
oneDNN's blocked format; a reorder from `abcd` to `aBcd16b` and back around every convolution
is the cost that channels-last activations avoid.
"""

import collections
import sys


def kind_of(fields):
    kind, problem = fields[5], fields[11]
    if kind != "reorder":
        return kind
    dims = problem.split("x")
    if len(dims) == 4 and dims[2:] == ["3", "3"]:
        return "reorder (weights)"
    if len(dims) == 4:
        return "reorder (activations)"
    return "reorder (other)"


def summarise(path, top):
    by_kind, calls = collections.Counter(), collections.Counter()
    by_primitive, primitive_calls = collections.Counter(), collections.Counter()
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("onednn_verbose") or ",exec," not in line:
                continue
            fields = line.strip().split(",")
            if len(fields) < 13:
                continue
            try:
                ms = float(fields[-1])
            except ValueError:
                continue
            key = (fields[5], fields[6], fields[7], fields[8][:100], fields[11][:70])
            by_primitive[key] += ms
            primitive_calls[key] += 1
            if "mb1_" in fields[11] or fields[11].startswith("1x"):
                continue
            kind = kind_of(fields)
            by_kind[kind] += ms
            calls[kind] += 1
    total = sum(by_kind.values())
    print(f"{path}: {total:.0f} ms in oneDNN primitives (batch-1 passes left out)")
    for kind, ms in by_kind.most_common():
        print(f"  {kind:24} {ms:9.0f} ms {100 * ms / max(total, 1e-9):5.1f} %  {calls[kind]} calls")
    print(f"  top {top} primitives (all batch sizes):")
    for key, ms in by_primitive.most_common(top):
        print(f"  {ms:9.1f} ms {primitive_calls[key]:5d}x  " + " | ".join(key))
    print()


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    for path in argv:
        summarise(path, 12)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
