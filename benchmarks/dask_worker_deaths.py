"""fastbp.dask: worker deaths during fits, repeated, optionally under load.

Not a speed benchmark: a stress run of what ``tests/test_dask_trainer.py``
checks once per case. A 2-worker LocalCluster (1 thread each) fits digits
(480 rows in 4 blocks of 120, Adam, network (16,), 12 epochs) once unharmed,
then ``--runs`` times with one worker process killed (SIGKILL; its Nanny
starts a new one): at the end of epoch 2 (``--when epoch``) or at a random
time within the next three epochs (``--when any``, mostly while a round is
out). With ``--shares block`` each block is a share of its own (4 actors
on 2 workers, passing each round on in a tree: actors call actors), else
one share per worker thread. ``--hogs`` CPU-bound processes load the cores
meanwhile.

Each run prints whether the fit equals the unharmed fit bitwise, how many
of its rounds the actors gave up, and how long the cluster took to count 2
workers again. Every run of the results file's first table met all three.

The cluster's ``distributed.deploy.lost-worker-timeout`` is an hour unless
``--lost-worker-timeout`` says otherwise: with distributed's 15 s, the
cluster closes a lost worker's Nanny for good if, 15 s after the loss, no
worker of its name is registered, which a second death of the same worker
within those 15 s can arrange (the runs then stop at "1 worker").

    python benchmarks/dask_worker_deaths.py                  # writes results
    python benchmarks/dask_worker_deaths.py --runs 1 --hogs 0 --no-write
"""

import argparse
import contextlib
import datetime
import logging
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
from benchmarks.common import cpu_model  # noqa: E402
from sklearn.callback import FitCallback  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastbp.dask  # noqa: E402
from fastbp.dask import _trainer  # noqa: E402

ROWS, BLOCK_ROWS, EPOCHS, KILL_EPOCH = 480, 120, 12, 2
PARAMS = dict(hidden_layer_sizes=(16,), random_state=0, max_iter=EPOCHS,
              learning_rate_init=0.01)
HOG = "import time\nwhile True: sum(range(100000))"


class _KillWorker(FitCallback):
    """A fit callback that kills the first worker at the end of epoch
    ``KILL_EPOCH``, or ``delay`` seconds later (from a timer thread)."""

    def __init__(self, client, delay=None):
        self.client, self.delay = client, delay
        self.seen, self.killed = 0, None

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.parent is None:
            return False
        self.seen += 1
        if self.seen == KILL_EPOCH:
            nanny = next(iter(self.client.cluster.workers.values()))
            self.killed = nanny.worker_address
            pid = nanny.process.process.pid
            if self.delay is None:
                os.kill(pid, signal.SIGKILL)
            else:
                threading.Timer(self.delay, os.kill,
                                (pid, signal.SIGKILL)).start()
        return False

    def wait_for_the_new_worker(self, timeout):
        """Seconds until the scheduler has dropped the killed worker and
        counts two; None if it does not within ``timeout``."""
        start = time.monotonic()
        while time.monotonic() < start + timeout:
            workers = self.client.nthreads()
            if len(workers) == 2 and self.killed not in workers:
                return time.monotonic() - start
            time.sleep(0.05)
        return None


@contextlib.contextmanager
def _rounds_counted(shares):
    """Per round, whether the actors carried it (False: given up);
    ``shares`` "block": a share (an actor) per block."""
    carried = []
    total, made = _trainer._ShareActors.total, _trainer._shares

    def counted(self, *args):
        outcome = total(self, *args)
        carried.append(outcome is not None)
        return outcome

    _trainer._ShareActors.total = counted
    if shares == "block":
        _trainer._shares = lambda n_blocks, n_slots: [
            range(b, b + 1) for b in range(n_blocks)]
    try:
        yield carried
    finally:
        _trainer._ShareActors.total, _trainer._shares = total, made


def _blocks(X, y):
    return (da.from_array(X.copy(), chunks=(BLOCK_ROWS, X.shape[1])),
            da.from_array(y.copy(), chunks=BLOCK_ROWS))


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in
               zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_))


def run(client, when, shares, runs, rng, X, y):
    """``runs`` fits with a kill each; one result row per run."""
    rows = []
    with _rounds_counted(shares) as carried:
        start = time.monotonic()
        unharmed = fastbp.dask.MLPClassifier(**PARAMS).fit(*_blocks(X, y))
        epoch = (time.monotonic() - start) / EPOCHS
        for i in range(runs):
            delay = None if when == "epoch" else rng.uniform(0, 3 * epoch)
            kill = _KillWorker(client, delay)
            model = fastbp.dask.MLPClassifier(**PARAMS)
            model.set_callbacks(kill)
            carried.clear()
            try:
                model.fit(*_blocks(X, y))
                outcome = "same" if _same(model, unharmed) else "DIFFERENT"
            except Exception as error:  # reported, not raised: a finding
                outcome = f"FAILED ({type(error).__name__}: {error})"
            back = kill.wait_for_the_new_worker(timeout=120)
            rows.append((when, shares, i, delay, epoch, outcome,
                         carried.count(False), len(carried), back))
            print(_row(rows[-1]), flush=True)
            if back is None:
                break
    return rows


def _row(row):
    when, shares, i, delay, epoch, outcome, given_up, rounds, back = row
    at = ("epoch 2's end" if delay is None
          else f"{1e3 * delay:.0f} ms after it (epoch {1e3 * epoch:.0f} ms)")
    recovered = "1 worker after 120 s" if back is None else f"{back:.1f} s"
    return (f"| {when} | {shares} | {i} | {at} | {outcome} | "
            f"{given_up} of {rounds} | {recovered} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--when", nargs="+", default=["epoch", "any"],
                        choices=["epoch", "any"])
    parser.add_argument("--shares", nargs="+", default=["block", "worker"],
                        choices=["block", "worker"])
    parser.add_argument("--hogs", type=int, default=2)
    parser.add_argument("--lost-worker-timeout", default="1h")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", default=os.path.join(
        HERE, "results", "dask_worker_deaths.md"))
    args = parser.parse_args()

    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X, y = X[:ROWS], y[:ROWS]
    fastbp.MLPClassifier((4,), max_iter=2).fit(X[:50], y[:50])  # kernels
    hogs = [subprocess.Popen([sys.executable, "-c", HOG])
            for _ in range(args.hogs)]
    rng = np.random.RandomState(0)
    rows = []
    try:
        with dask.config.set({"distributed.deploy.lost-worker-timeout":
                              args.lost_worker_timeout}), \
                distributed.LocalCluster(
                    n_workers=2, threads_per_worker=1, processes=True,
                    dashboard_address=None,
                    silence_logs=logging.CRITICAL) as cluster, \
                distributed.Client(cluster) as client:
            print("| kill | shares | run | at | fit | rounds given up | "
                  "2 workers again after |", flush=True)
            for shares in args.shares:
                for when in args.when:
                    rows += run(client, when, shares, args.runs, rng, X, y)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    if args.no_write:
        return
    command = "python benchmarks/dask_worker_deaths.py " + " ".join(
        sys.argv[1:])
    out = [
        "# fastbp.dask: worker deaths during fits\n",
        f"Command: `{command.strip()}`; {datetime.date.today()}; "
        f"{cpu_model()}, {os.cpu_count()} cores, {args.hogs} CPU-bound "
        f"processes beside the cluster; Python {platform.python_version()}, "
        f"dask {dask.__version__}, distributed {distributed.__version__}; "
        f"lost-worker-timeout {args.lost_worker_timeout}. What each run "
        "does: the script's docstring.\n",
        "| kill | shares | run | at | fit | rounds given up | "
        "2 workers again after |",
        "|---|---|---|---|---|---|---|",
        *(_row(row) for row in rows), ""]
    with open(args.output, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
