#!/usr/bin/env python
"""Seconds per training epoch with each training option on, beside the same
epoch without it (fastbp, float32, Adam, relu, the benchmark shapes).

Each configuration runs in its own fresh process, in turns (none, dropout,
weight_decay, cosine, none, dropout, ...) so that the machine's slow and
fast minutes fall on all of them; each process warms up on a slice, then
times ``--repeats`` epochs (``partial_fit`` over all rows). The table gives
the median epoch per configuration and its ratio to "none".

Usage (from the repository root)::

    python benchmarks/option_costs.py                    # mnist and wide
    python benchmarks/option_costs.py --shapes mnist --rounds 2

Writes ``benchmarks/results/option_costs.md`` (``--out`` for another
folder).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from benchmarks.common import cpu_model  # noqa: E402

OPTIONS = {
    "none": {},
    "dropout=0.2": {"dropout": 0.2},
    "dropout=0.5": {"dropout": 0.5},
    "weight_decay=1e-2": {"weight_decay": 1e-2},
    "cosine, warmup_iter=2": {"learning_rate": "cosine", "warmup_iter": 2},
}

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
from benchmarks.common import classes_of, make_data, make_estimator
import fastbp
X, _, y, _ = make_data({shape!r}, "float32")
est = make_estimator(fastbp, {shape!r}, dtype="float32")
est.set_params(**{params!r})
est.partial_fit(X[:512], y[:512], classes=classes_of({shape!r}))
times = []
for _ in range({repeats}):
    t0 = time.perf_counter()
    est.partial_fit(X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["mnist", "wide"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)

    samples = {(s, o): [] for s in args.shapes for o in OPTIONS}
    for _ in range(args.rounds):
        for shape in args.shapes:
            for option, params in OPTIONS.items():
                code = CHILD.format(here=HERE, shape=shape, params=params,
                                    repeats=args.repeats)
                out = subprocess.run([sys.executable, "-c", code], check=True,
                                     capture_output=True, text=True)
                samples[shape, option] += json.loads(out.stdout)
                print(f"{shape:6s} {option:22s} "
                      f"{statistics.median(samples[shape, option]):.4f} s",
                      flush=True)

    lines = [
        "# Training options: seconds per epoch",
        "",
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
        f"Python {platform.python_version()}.",
        f"Command: `python benchmarks/option_costs.py --shapes "
        f"{' '.join(args.shapes)} --repeats {args.repeats} "
        f"--rounds {args.rounds}`; median of "
        f"{args.repeats * args.rounds} epochs per cell, configurations in "
        f"turns, each in a fresh process.",
        "",
        "| shape | option | s/epoch | vs none |",
        "|---|---|---:|---:|",
    ]
    for shape in args.shapes:
        base = statistics.median(samples[shape, "none"])
        for option in OPTIONS:
            median = statistics.median(samples[shape, option])
            lines.append(f"| {shape} | {option} | {median:.4f} | "
                         f"{median / base:.2f}x |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "option_costs.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
