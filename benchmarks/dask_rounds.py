#!/usr/bin/env python
"""Rounds of fastbp.dask on a LocalCluster: accuracy and averaging period.

On a ``LocalCluster`` of 2 worker processes x 1 thread:

1. Test accuracy of ``fastbp.dask`` against an in-memory fastbp fit with the
   same parameters, for 'adam' and 'lbfgs', on digits and on a synthetic
   set of 200,000 training rows.
2. The averaging period: 'adam' on both sets for several ``local_batches``
   (accuracy after a fixed number of epochs, time per epoch, rounds, and
   per round the busiest worker's CPU time, whether the rounds run as
   actor calls or as tasks, and the rest).

What a round costs against the blocks, the tasks and the workers, and the
model of a round on more workers fitted on it: ``dask_blocks.py``,
sections 4 and 5 (this script's L-BFGS round costs and its on-paper model
for more workers assumed a task per block, which rounds no longer run).

Usage (from the repository root, nothing else running)::

    python benchmarks/dask_rounds.py            # writes results/dask_rounds.md
    python benchmarks/dask_rounds.py --quick    # smoke test, prints only
"""

import argparse
import datetime
import math
import os
import platform
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
from sklearn.datasets import load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import fastbp  # noqa: E402
import fastbp.dask  # noqa: E402

N_WORKERS = 2
SEED = 0


def datasets(quick):
    X, y = load_digits(return_X_y=True)
    digits = train_test_split(X / 16, y, test_size=0.25, stratify=y,
                              random_state=SEED)
    n_train = 20_000 if quick else 200_000
    X, y = make_classification(n_samples=n_train + 50_000, n_features=32,
                               n_informative=16, n_classes=2,
                               flip_y=0.02, random_state=SEED)
    synthetic = (X[:n_train], X[n_train:], y[:n_train], y[n_train:])
    return {"digits": (digits, 4), "synthetic": (synthetic, 4)}


def as_blocks(X, y, n_blocks):
    rows = math.ceil(len(X) / n_blocks)
    return (da.from_array(X, chunks=(rows, X.shape[1])).persist(),
            da.from_array(y, chunks=rows).persist())


def timed_fit(model, *args):
    start = time.perf_counter()
    model.fit(*args)
    return time.perf_counter() - start


def dask_fit(client, model, X, y):
    """Fit on the cluster; wall time, rounds (calls of the trainer's
    ``_round_total``), busiest worker's CPU seconds."""
    trainer = fastbp.dask._trainer
    round_total = trainer._round_total
    rounds = []

    def counted(*args, **kwargs):
        rounds.append(None)
        return round_total(*args, **kwargs)

    before = client.run(time.process_time)
    trainer._round_total = counted
    try:
        wall = timed_fit(model, X, y)
    finally:
        trainer._round_total = round_total
    after = client.run(time.process_time)
    per_worker = [after[w] - before[w] for w in after if w in before]
    return {"wall": wall, "rounds": len(rounds),
            "compute": max(per_worker, default=0.0),
            "compute_total": sum(per_worker), "workers": len(per_worker)}


def accuracy_table(client, data, quick, out):
    out.append("## 1. Test accuracy, in memory vs on the cluster\n")
    out.append("| data | solver | in-memory acc | dask acc | difference "
               "(points) | in-memory epochs/iters | dask epochs/iters | "
               "dask fit s |")
    out.append("|---|---|---|---|---|---|---|---|")
    for name, ((X_tr, X_te, y_tr, y_te), n_blocks) in data.items():
        Xd, yd = as_blocks(X_tr, y_tr, n_blocks)
        for solver in ("adam", "lbfgs"):
            params = dict(hidden_layer_sizes=(64,), solver=solver,
                          random_state=SEED)
            if name == "synthetic":
                params["max_iter"] = (3 if quick else 20) if solver == "adam" \
                    else (10 if quick else 100)
            elif quick:
                params["max_iter"] = 20
            mem = fastbp.MLPClassifier(**params)
            timed_fit(mem, X_tr, y_tr)
            dk = fastbp.dask.MLPClassifier(**params)
            stats = dask_fit(client, dk, Xd, yd)
            a, b = mem.score(X_te, y_te), dk.score(X_te, y_te)
            out.append(f"| {name} ({len(X_tr)} rows, {n_blocks} blocks) | "
                       f"{solver} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f}"
                       f" | {mem.n_iter_} | {dk.n_iter_} | "
                       f"{stats['wall']:.2f} |")
            print(out[-1], flush=True)
    out.append("")


def period_sweep(client, data, quick, out):
    out.append("## 2. The averaging period (`local_batches`), adam\n")
    out.append("Same epochs for every period (`tol=0`, so none stops "
               "early); time per epoch on the cluster; a round's compute "
               "is the busiest worker's CPU time over the fit's rounds.\n")
    out.append("| data | local_batches | epochs | test acc | final loss | "
               "s/epoch | rounds/epoch | compute ms/round | "
               "other ms/round |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    periods = {"digits": [1, 2, "epoch"],
               "synthetic": [1, 4, 16, 64, "epoch"]}
    epochs = {"digits": 10 if quick else 100, "synthetic": 2 if quick else 5}
    results = {}
    for name, ((X_tr, X_te, y_tr, y_te), n_blocks) in data.items():
        Xd, yd = as_blocks(X_tr, y_tr, n_blocks)
        for period in periods[name]:
            model = fastbp.dask.MLPClassifier(
                hidden_layer_sizes=(64,), random_state=SEED,
                max_iter=epochs[name], tol=0.0, local_batches=period)
            stats = dask_fit(client, model, Xd, yd)
            rounds = stats["rounds"]
            compute_ms = 1e3 * stats["compute"] / rounds
            other_ms = 1e3 * stats["wall"] / rounds - compute_ms
            results[name, period] = dict(
                stats, acc=model.score(X_te, y_te), epochs=model.n_iter_,
                n_rows=len(X_tr), n_params=model._layout.n_params)
            out.append(
                f"| {name} | {period} | {model.n_iter_} | "
                f"{results[name, period]['acc']:.4f} | {model.loss_:.4f} | "
                f"{stats['wall'] / model.n_iter_:.3f} | "
                f"{rounds / model.n_iter_:.0f} | {compute_ms:.2f} | "
                f"{other_ms:.2f} |")
            print(out[-1], flush=True)
    out.append("")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    data = datasets(args.quick)
    command = "python benchmarks/dask_rounds.py" + (
        " --quick" if args.quick else "")
    out = ["# fastbp.dask rounds on a 2-worker LocalCluster\n",
           f"Command: `{command}`; {datetime.date.today()}; "
           f"{platform.processor() or platform.machine()}, "
           f"{os.cpu_count()} cores; Python {platform.python_version()}, "
           f"dask {dask.__version__}, distributed {distributed.__version__}."
           f" Cluster: LocalCluster(n_workers={N_WORKERS}, "
           "threads_per_worker=1, processes=True). Network (64,) relu, "
           "float32, batch 200 unless said otherwise. In-memory fits run "
           "in the client process with its own Numba threads.\n"]
    environ = dict(os.environ)
    with distributed.LocalCluster(
            n_workers=N_WORKERS, threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        # Load the kernels in the workers before anything is timed.
        small = data["digits"][0]
        fastbp.dask.MLPClassifier((8,), max_iter=1).fit(
            *as_blocks(small[0], small[2], 4))
        fastbp.dask.MLPClassifier((8,), solver="lbfgs", max_iter=1).fit(
            *as_blocks(small[0], small[2], 4))
        accuracy_table(client, data, args.quick, out)
        period_sweep(client, data, args.quick, out)
    os.environ.clear()
    os.environ.update(environ)
    text = "\n".join(out)
    print(text)
    if not args.quick:
        path = os.path.join(HERE, "results", "dask_rounds.md")
        with open(path, "w") as f:
            f.write(text)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
