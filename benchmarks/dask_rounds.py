#!/usr/bin/env python
"""Rounds of fastbp.dask on a LocalCluster: accuracy, time split, bytes, model.

On a ``LocalCluster`` of 2 worker processes x 1 thread:

1. Test accuracy of ``fastbp.dask`` against an in-memory fastbp fit with the
   same parameters, for 'adam' and 'lbfgs', on digits and on a synthetic
   set of 200,000 training rows.
2. The averaging period: 'adam' on both sets for several ``local_batches``
   (accuracy after a fixed number of epochs, time per epoch, rounds).
3. What a round costs: L-BFGS rounds (one loss-and-gradient task per block)
   for 2 to 16 blocks and for a small and a large network, split into the
   workers' compute time (from Dask's task stream: the busiest worker's
   compute per round) and the rest (communication and scheduling: wall time
   per round minus that), with the bytes a round moves.
4. From those figures, a model of the time per epoch on 8, 32 and 128
   workers (on paper; see the results file for its terms).

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

import numpy as np

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


def task_compute(tasks, name):
    """Per worker, the seconds spent computing tasks named ``name``; and
    the number of such tasks."""
    per_worker = {}
    n_tasks = 0
    for task in tasks.data:
        if name not in str(task["key"]):
            continue
        n_tasks += 1
        for phase in task["startstops"]:
            if phase["action"] == "compute":
                per_worker[task["worker"]] = per_worker.get(
                    task["worker"], 0.0) + phase["stop"] - phase["start"]
    return per_worker, n_tasks


def dask_fit(client, model, X, y, task_name):
    """Fit on the cluster; wall time, rounds, busiest worker's compute."""
    with distributed.get_task_stream(client) as tasks:
        wall = timed_fit(model, X, y)
    per_worker, n_tasks = task_compute(tasks, task_name)
    n_blocks = X.numblocks[0]
    return {"wall": wall, "rounds": n_tasks / n_blocks,
            "compute": max(per_worker.values()),
            "compute_total": sum(per_worker.values()),
            "workers": len(per_worker)}


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
            stats = dask_fit(client, dk, Xd, yd, "_task")
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
               "is the busiest worker's.\n")
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
            stats = dask_fit(client, model, Xd, yd, "_local_steps_task")
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


def _payload(n_params, itemsize, solver, n_blocks, n_workers):
    """Bytes of arrays a round moves: weights out to every worker, one
    result per block back to the client."""
    rows = {"lbfgs": 1, "sgd": 2, "adam": 3}[solver]
    out_bytes = rows * n_params * itemsize
    back = n_params * 8 if solver == "lbfgs" else rows * n_params * itemsize
    return out_bytes * n_workers, back * n_blocks


def round_costs(client, data, quick, out):
    out.append("## 3. What a round costs (L-BFGS rounds on digits)\n")
    out.append("One round: the parameters go to the workers (a task "
               "returning them; the other worker fetches them from the "
               "first), one loss-and-gradient task per block, the float64 "
               "gradients come back and are added on the client. Bytes are "
               "the arrays' sizes (`out`: one copy per worker; `back`: one "
               "gradient per block).\n")
    out.append("| network | n_params | blocks | rounds | wall ms/round | "
               "compute ms/round | other ms/round | bytes out/round | "
               "bytes back/round |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    (X_tr, _, y_tr, _), _ = data["digits"]
    rows = []
    cases = [((64,), 2), ((64,), 4), ((64,), 8), ((64,), 16),
             ((1024, 1024), 4)]
    for hidden, n_blocks in cases:
        Xd, yd = as_blocks(X_tr, y_tr, n_blocks)
        model = fastbp.dask.MLPClassifier(
            hidden_layer_sizes=hidden, solver="lbfgs", random_state=SEED,
            max_iter=5 if quick else 20)
        stats = dask_fit(client, model, Xd, yd, "_loss_grad_task")
        n_params = model._layout.n_params
        out_b, back_b = _payload(n_params, 4, "lbfgs", n_blocks, N_WORKERS)
        wall_ms = 1e3 * stats["wall"] / stats["rounds"]
        compute_ms = 1e3 * stats["compute"] / stats["rounds"]
        rows.append(dict(n_params=n_params, blocks=n_blocks,
                         other=(wall_ms - compute_ms) / 1e3,
                         bytes=out_b + back_b))
        out.append(f"| {hidden} | {n_params} | {n_blocks} | "
                   f"{stats['rounds']:.0f} | {wall_ms:.2f} | {compute_ms:.2f}"
                   f" | {wall_ms - compute_ms:.2f} | {out_b} | {back_b} |")
        print(out[-1], flush=True)
    out.append("")
    # other = a + c * blocks + b * bytes, least squares over the cases.
    A = np.array([[1.0, r["blocks"], r["bytes"]] for r in rows])
    a, c, b = np.linalg.lstsq(A, np.array([r["other"] for r in rows]),
                              rcond=None)[0]
    out.append(f"Least-squares fit of the non-compute time per round: "
               f"**{1e3 * a:.2f} ms fixed + {1e3 * c:.3f} ms per block task "
               f"+ {1e9 * b:.3f} ms per MB moved** (effective "
               f"{1e-6 / b if b > 0 else float('inf'):.0f} MB/s).\n")
    return a, c, b


def scaling_model(sweep, costs, out):
    a, c, b = costs
    periods = [p for (name, p) in sweep if name == "synthetic"]
    first = sweep["synthetic", periods[0]]
    n_rows, n_params = first["n_rows"], first["n_params"]
    batch = 200
    # Compute per row, one thread: the workers' total compute per epoch
    # over the rows they trained on (section 2, averaged over the periods).
    t_row = np.mean([sweep["synthetic", p]["compute_total"]
                     / (sweep["synthetic", p]["epochs"] * n_rows)
                     for p in periods])
    out.append("## 4. Time per epoch on more workers (model, on paper)\n")
    out.append(
        f"The {n_rows}-row synthetic set, adam, batch 200, one block per "
        "worker (strong scaling), each worker one thread. Terms, all "
        f"measured above: compute {1e6 * t_row:.2f} us per row (section 2); "
        f"per round {1e3 * a:.2f} ms + {1e3 * c:.3f} ms per task + "
        f"{1e9 * b:.3f} ms per MB (section 3). A round moves the weights "
        "(params and Adam's two moments, float32) to every worker and one "
        "copy per block back to the client, which averages them: the "
        "bytes grow with P. Epoch time = rows per block x compute per row "
        "+ rounds x (fixed + P x per task + bytes x per MB). The model "
        "ignores stragglers and the scheduler's own limits (one scheduler "
        "hands out P tasks per round).\n")
    out.append("| local_batches | workers P | rows per block | rounds/epoch | "
               "compute s/epoch | communication s/epoch | epoch s | "
               "speed-up over 1 worker |")
    out.append("|---|---|---|---|---|---|---|---|")
    for period in periods:
        single = None
        for P in (1, 2, 8, 32, 128):
            rows = n_rows / P
            per_round = (rows if period == "epoch"
                         else min(rows, period * batch))
            rounds = math.ceil(rows / per_round)
            out_b, back_b = _payload(n_params, 4, "adam", P, P)
            comm = rounds * (a + c * P + b * (out_b + back_b))
            compute = rows * t_row
            total = compute + comm
            single = single or total
            if P > 1:
                out.append(f"| {period} | {P} | {rows:.0f} | {rounds} | "
                           f"{compute:.3f} | {comm:.3f} | {total:.3f} | "
                           f"{single / total:.1f}x |")
    out.append("")


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
        sweep = period_sweep(client, data, args.quick, out)
        costs = round_costs(client, data, args.quick, out)
    os.environ.clear()
    os.environ.update(environ)
    scaling_model(sweep, costs, out)
    text = "\n".join(out)
    print(text)
    if not args.quick:
        path = os.path.join(HERE, "results", "dask_rounds.md")
        with open(path, "w") as f:
            f.write(text)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
