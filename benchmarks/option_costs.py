#!/usr/bin/env python
"""Seconds per training epoch with each training option on, beside the same
epoch without it (fastbp, float32, Adam, relu, the benchmark shapes).

Each round is one fresh process per shape. It builds the data once, makes
one estimator per configuration (none, dropout, weight_decay, cosine,
max_grad_norm), warms each up on a slice, then times ``--repeats`` sweeps:
one epoch (``partial_fit`` over all rows) of every configuration, the
order rotated from sweep to sweep. An option's epoch and the plain epoch
of the same sweep ran seconds apart, so their ratio (the *paired ratio*)
holds up on a shared machine whose speed moves from minute to minute,
where medians of separate processes did not (ratios of 0.5-1.9 between
rounds of one run). The table gives, per configuration, the median epoch
over all sweeps, the median paired ratio to "none" and its quartiles.

The file also records the other processes' load during each process (CPU
time from ``/proc/stat`` minus the process's own, in cores) and the load
average at the start and end.

Usage (from the repository root)::

    python benchmarks/option_costs.py                    # mnist and wide
    python benchmarks/option_costs.py --shapes mnist --rounds 2
    python benchmarks/option_costs.py --threads 1 --out /tmp/one_thread

Writes ``benchmarks/results/option_costs.md`` (``--out`` for another
folder; ``--name`` for another file name).
"""

import argparse
import datetime
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
    # Two passes over the gradient tasks per batch whether or not a batch
    # is clipped: the cost does not depend on the bound.
    "max_grad_norm=1.0": {"max_grad_norm": 1.0},
}

CHILD = """
import json, os, sys, time
sys.path.insert(0, {here!r})
from benchmarks.common import classes_of, make_data, make_estimator
import fastbp

def busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")

options = {options!r}
X, _, y, _ = make_data({shape!r}, "float32")
models = {{}}
for name, params in options.items():
    est = make_estimator(fastbp, {shape!r}, dtype="float32")
    est.set_params(**params)
    est.partial_fit(X[:512], y[:512], classes=classes_of({shape!r}))
    models[name] = est
names = list(options)
times = {{name: [] for name in names}}
busy0, own0, wall0 = busy(), time.process_time(), time.perf_counter()
for r in range({repeats}):
    for name in names[r % len(names):] + names[:r % len(names)]:
        t0 = time.perf_counter()
        models[name].partial_fit(X, y)
        times[name].append(time.perf_counter() - t0)
wall = time.perf_counter() - wall0
others = (busy() - busy0 - (time.process_time() - own0)) / wall
print(json.dumps({{"times": times, "others": others}}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["mnist", "wide"])
    parser.add_argument("--repeats", type=int, default=5,
                        help="sweeps over the configurations per process")
    parser.add_argument("--rounds", type=int, default=3,
                        help="fresh processes per shape")
    parser.add_argument("--threads", type=int, default=None,
                        help="NUMBA_NUM_THREADS of the timed processes "
                             "(default: Numba's, one per CPU)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--name", default="option_costs.md")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.threads is not None:
        env["NUMBA_NUM_THREADS"] = str(args.threads)
    threads = env.get("NUMBA_NUM_THREADS", os.cpu_count())

    load_start = os.getloadavg()
    times = {(s, o): [] for s in args.shapes for o in OPTIONS}
    ratios = {(s, o): [] for s in args.shapes for o in OPTIONS}
    others = {s: [] for s in args.shapes}
    for _ in range(args.rounds):
        for shape in args.shapes:
            code = CHILD.format(here=HERE, shape=shape, options=OPTIONS,
                                repeats=args.repeats)
            out = subprocess.run([sys.executable, "-c", code], check=True,
                                 capture_output=True, text=True, env=env)
            result = json.loads(out.stdout)
            others[shape].append(result["others"])
            none = result["times"]["none"]
            for option in OPTIONS:
                sample = result["times"][option]
                times[shape, option] += sample
                ratios[shape, option] += [t / n for t, n in zip(sample, none)]
            print(f"{shape:6s} other processes {result['others']:.2f} "
                  "cores; " + ", ".join(
                      f"{o} {statistics.median(result['times'][o]):.4f}"
                      for o in OPTIONS), flush=True)
    load_end = os.getloadavg()

    lines = [
        "# Training options: seconds per epoch",
        "",
        f"Measured {datetime.date.today().isoformat()}. "
        f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs, "
        f"L2 {_l2_cache()}; Python {platform.python_version()}. Load "
        f"average (1, 5, 15 min) {_load(load_start)} at the start, "
        f"{_load(load_end)} at the end.",
        "",
        f"Command: `python benchmarks/option_costs.py --shapes "
        f"{' '.join(args.shapes)} --repeats {args.repeats} "
        f"--rounds {args.rounds}"
        f"{'' if args.threads is None else f' --threads {args.threads}'}`"
        f"; {threads} Numba threads. Per shape {args.rounds} fresh "
        f"processes of {args.repeats} sweeps (one epoch of each "
        "configuration, order rotated). s/epoch: median over all epochs; "
        "vs none: median of each epoch's ratio to the plain epoch of its "
        "sweep, with the quartiles of that ratio.",
        "",
        "Other processes' load during each process (cores): " + "; ".join(
            f"{s} " + ", ".join(f"{v:.2f}" for v in others[s])
            for s in args.shapes) + ".",
        "",
        "| shape | option | s/epoch | vs none | quartiles |",
        "|---|---|---:|---:|---:|",
    ]
    for shape in args.shapes:
        for option in OPTIONS:
            r = ratios[shape, option]
            q1, _, q3 = statistics.quantiles(r, n=4) if len(r) > 1 else r * 3
            lines.append(f"| {shape} | {option} | "
                         f"{statistics.median(times[shape, option]):.4f} | "
                         f"{statistics.median(r):.3f}x | "
                         f"{q1:.3f}-{q3:.3f} |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, args.name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written to {path}")


def _l2_cache():
    """lscpu's "L2 cache" field (e.g. "2 MiB (2 instances)"), or "?"."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    for line in out.splitlines():
        if line.startswith("L2 cache:"):
            return line.split(":", 1)[1].strip()
    return "?"


def _load(averages):
    return ", ".join(f"{a:.1f}" for a in averages)


if __name__ == "__main__":
    main()
