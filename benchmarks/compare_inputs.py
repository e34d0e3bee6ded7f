#!/usr/bin/env python
"""Seconds of a float32 fit on X of several types and orders, fastbp from
two checkouts, in alternating fresh processes.

Each process imports fastbp from its checkout, builds the ``mnist`` data of
``benchmarks/common.py`` (60,000 x 784, network (100,), batch 200), warms
up on 512 rows, then times ``fit`` with ``max_iter=3`` (three Adam epochs,
float32, conversion of X included) on X as float32 (C order), float64 (C
and Fortran order) and uint8. The table gives medians over the rounds and
the ratio B/A.

Usage (each checkout's kernels compiled)::

    python benchmarks/compare_inputs.py --rounds 3 /path/to/A /path/to/B
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from benchmarks.common import cpu_model  # noqa: E402

KINDS = ("float32", "float64", "float64-F", "uint8")

CHILD = r"""
import sys, time, json, warnings
sys.path.insert(0, {tree!r}); sys.path.insert(1, {bench!r})
import numpy as np
from benchmarks.common import make_data, make_estimator
import fastbp
X, _, y, _ = make_data("mnist", "float64")
inputs = {{
    "float32": X.astype(np.float32),
    "float64": X,
    "float64-F": np.asfortranarray(X),
    "uint8": np.clip(X * 40 + 128, 0, 255).astype(np.uint8),
}}
warnings.simplefilter("ignore")
out = {{}}
for kind, Xk in inputs.items():
    est = make_estimator(fastbp, "mnist", dtype="float32")
    est.set_params(max_iter=3)
    est.fit(Xk[:512], y[:512])
    t0 = time.perf_counter(); est.fit(Xk, y); out[kind] = time.perf_counter() - t0
print(json.dumps(out))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("trees", nargs=2, help="checkouts A and B")
    args = parser.parse_args(argv)
    trees = [os.path.abspath(t) for t in args.trees]
    res = {t: {k: [] for k in KINDS} for t in trees}
    for _ in range(args.rounds):
        for t in trees:
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(tree=t, bench=HERE)],
                capture_output=True, text=True, check=True)
            for kind, seconds in json.loads(
                    out.stdout.splitlines()[-1]).items():
                res[t][kind].append(seconds)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
          f"A = {trees[0]}, B = {trees[1]}; medians of {args.rounds} "
          "rounds, fit with max_iter=3 (mnist, float32 model)\n")
    print("| X | A (s) | B (s) | B / A |")
    print("|---|---:|---:|---:|")
    for kind in KINDS:
        a, b = (statistics.median(res[t][kind]) for t in trees)
        print(f"| {kind} | {a:.3f} | {b:.3f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
