#!/usr/bin/env python
"""Seconds per training epoch with each hidden activation, beside relu's
(fastbp, float32, Adam, the benchmark shapes).

As ``option_costs.py``: each configuration runs in its own fresh process,
in turns, warms up on a slice, then times ``--repeats`` epochs
(``partial_fit`` over all rows); the table gives the median epoch and its
ratio to relu's. ``--baseline PATH`` adds relu run from another checkout
of fastbp (its directory, put first on ``sys.path``), to compare relu
before and after a change.

``--threads N`` sets ``NUMBA_NUM_THREADS`` in the children; ``--timer cpu``
times each epoch by the process's CPU time (``time.process_time``) instead
of the wall clock. On a shared machine whose other load comes and goes,
one thread timed by CPU time counts the epoch's own work only, not the
time it waited for a CPU, and moves much less between runs.

Usage (from the repository root)::

    python benchmarks/activation_costs.py --shapes mnist --rounds 3

Writes ``benchmarks/results/activation_costs.md`` (``--out`` for another
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

CHILD = """
import json, sys, time
sys.path.insert(0, {here!r})
from benchmarks.common import classes_of, make_data, make_estimator
import fastbp
X, _, y, _ = make_data({shape!r}, "float32")
est = make_estimator(fastbp, {shape!r}, dtype="float32")
est.set_params(**{params!r})
est.partial_fit(X[:512], y[:512], classes=classes_of({shape!r}))
clock = time.{clock}
times = []
for _ in range({repeats}):
    t0 = clock()
    est.partial_fit(X, y)
    times.append(clock() - t0)
print(json.dumps(times))
"""

ACTIVATIONS = ["relu", "identity", "logistic", "tanh", "leaky_relu", "elu",
               "gelu", "silu", "softplus"]
BASELINE = "relu (baseline)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["mnist"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--timer", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--name", default="activation_costs",
                        help="file name (without .md) of the table")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args(argv)

    configs = ACTIVATIONS + ([BASELINE] if args.baseline else [])
    samples = {(s, c): [] for s in args.shapes for c in configs}
    for _ in range(args.rounds):
        for shape in args.shapes:
            for config in configs:
                activation = "relu" if config == BASELINE else config
                code = CHILD.format(
                    here=HERE, shape=shape, params={"activation": activation},
                    repeats=args.repeats,
                    clock="perf_counter" if args.timer == "wall"
                    else "process_time")
                env = dict(os.environ)
                if args.threads:
                    env["NUMBA_NUM_THREADS"] = str(args.threads)
                if config == BASELINE:
                    env["PYTHONPATH"] = os.pathsep.join(
                        [args.baseline, env.get("PYTHONPATH", "")])
                out = subprocess.run([sys.executable, "-c", code], check=True,
                                     capture_output=True, text=True, env=env)
                samples[shape, config] += json.loads(out.stdout)
                print(f"{shape:6s} {config:16s} "
                      f"{statistics.median(samples[shape, config]):.4f} s",
                      flush=True)

    command = (f"python benchmarks/activation_costs.py --shapes "
               f"{' '.join(args.shapes)} --repeats {args.repeats} "
               f"--rounds {args.rounds}"
               + (f" --threads {args.threads}" if args.threads else "")
               + (f" --timer {args.timer}" if args.timer != "wall" else "")
               + (" --baseline <checkout>" if args.baseline else ""))
    clock = ("wall-clock seconds" if args.timer == "wall"
             else "CPU seconds (process time)")
    threads = (f"{args.threads} Numba thread(s)" if args.threads
               else "Numba's default threads")
    lines = [
        "# Hidden activations: seconds per epoch",
        "",
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
        f"Python {platform.python_version()}; {threads}; {clock}.",
        f"Command: `{command}`; median of {args.repeats * args.rounds} "
        f"epochs per cell, configurations in turns, each in a fresh "
        f"process.",
        "",
        "| shape | activation | s/epoch | vs relu |",
        "|---|---|---:|---:|",
    ]
    for shape in args.shapes:
        base = statistics.median(samples[shape, "relu"])
        for config in configs:
            median = statistics.median(samples[shape, config])
            lines.append(f"| {shape} | {config} | {median:.4f} | "
                         f"{median / base:.2f}x |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.name + ".md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
