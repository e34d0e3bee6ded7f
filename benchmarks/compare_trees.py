#!/usr/bin/env python
"""Seconds per training epoch and per ``predict_proba`` call of fastbp from two
checkouts (say, before and after a change), in alternating fresh processes.

Each round runs one process per checkout; a process imports fastbp from its
checkout (first on ``sys.path``), builds the ``mnist`` and ``wide`` data of
``benchmarks/common.py``, warms up on 512 rows, then times 3 Adam epochs
(``partial_fit``, float32) and 5 ``predict_proba`` calls on the held-out
rows. The table gives medians over all rounds and the ratio B/A.

Usage (from the repository root; each checkout's kernels compiled)::

    python benchmarks/compare_trees.py --rounds 3 /path/to/before /path/to/after

Writes ``benchmarks/results/compare_trees.md``.
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

CHILD = r"""
import sys, time, json
sys.path.insert(0, {tree!r}); sys.path.insert(1, {bench!r})
from benchmarks.common import classes_of, make_data, make_estimator
import fastbp
out = {{}}
for shape in ("mnist", "wide"):
    X, Xt, y, yt = make_data(shape, "float32")
    est = make_estimator(fastbp, shape, dtype="float32")
    est.partial_fit(X[:512], y[:512], classes=classes_of(shape))
    ep = []
    for _ in range(3):
        t0 = time.perf_counter(); est.partial_fit(X, y); ep.append(time.perf_counter() - t0)
    Xp = Xt[:20000] if len(Xt) >= 20000 else Xt
    est.predict_proba(Xp[:100])
    pr = []
    for _ in range(5):
        t0 = time.perf_counter(); est.predict_proba(Xp); pr.append(time.perf_counter() - t0)
    out[shape] = (ep, pr, len(Xp))
print(json.dumps(out))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("trees", nargs=2, help="checkouts A and B")
    args = parser.parse_args(argv)
    trees = [os.path.abspath(t) for t in args.trees]
    res = {t: {} for t in trees}
    for _ in range(args.rounds):
        for t in trees:
            code = CHILD.format(tree=t, bench=HERE)
            out = subprocess.run([sys.executable, "-c", code],
                                 capture_output=True, text=True, check=True)
            for shape, (ep, pr, n) in json.loads(
                    out.stdout.splitlines()[-1]).items():
                d = res[t].setdefault(shape, {"epoch": [], "predict": [],
                                              "rows": n})
                d["epoch"] += ep
                d["predict"] += pr
    lines = ["# fastbp from two checkouts: epoch and predict_proba", "",
             f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs. "
             f"Command: `python benchmarks/compare_trees.py --rounds "
             f"{args.rounds} A B` with A = `{trees[0]}`, B = `{trees[1]}`; "
             "medians over all rounds, float32, Adam.", "",
             "| shape | what | A (s) | B (s) | B / A |", "|---|---|---:|---:|---:|"]
    for shape in ("mnist", "wide"):
        a, b = (res[t][shape] for t in trees)
        for k in ("epoch", "predict"):
            ma, mb = statistics.median(a[k]), statistics.median(b[k])
            what = "epoch" if k == "epoch" else f"predict_proba, {a['rows']} rows"
            lines.append(f"| {shape} | {what} | {ma:.4f} | {mb:.4f} | "
                         f"{mb / ma:.3f} |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "compare_trees.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
