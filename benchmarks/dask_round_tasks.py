#!/usr/bin/env python
"""How many tasks a fastbp.dask round should have: fit time by grouping rule.

A round runs its blocks in tasks of aligned runs of blocks
(``fastbp.dask._trainer._group_size``). This script times whole fits with
the current rule (runs as large as leave every worker thread at most 1.25
times its even share of the blocks: one or two tasks per thread) against
the rule before it (a task per block below 8 blocks per worker, then runs
leaving 4 to 8 tasks per worker), alternating the two, 3 times each,
medians. The fits are bitwise the same either way (the sums' tree is the
block order's); only the time differs.

Cases: the small network of ``dask_blocks.py`` (50,000 x 40 rows, 4
classes, (64,), adam, batch 200, 15 epochs, the estimators' defaults) on 4,
10 and 64 blocks, and a wide one ((512, 256) on 12,800 x 784 rows, 10
classes, batch 256, ``local_batches=4``, 2 epochs) on 10 and 12 blocks,
where a round's compute counts for more.

Usage (from the repository root, nothing else running)::

    python benchmarks/dask_round_tasks.py --workers 2
    python benchmarks/dask_round_tasks.py --workers 1
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import dask
import distributed
import numpy as np
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import fastbp.dask
from fastbp.dask import _trainer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dask_blocks  # noqa: E402  (data, blocks and fits of that script)

CURRENT_RULE = _trainer._group_size


def rule_before(n_blocks, n_workers, tasks_per_worker=4):
    """The grouping rule this one replaced."""
    g = 1
    while n_blocks >= 2 * g * tasks_per_worker * max(n_workers, 1):
        g *= 2
    return g


def wide_fit(X, y, n_blocks):
    Xd, yd = dask_blocks.as_blocks(X, y, n_blocks)
    model = fastbp.dask.MLPClassifier(
        (512, 256), batch_size=256, max_iter=2, tol=0.0, random_state=0,
        local_batches=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(Xd, yd)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    dask.config.set({"distributed.worker.daemon": False})
    sets = dask_blocks.datasets()
    X_wide, y_wide = make_classification(12800, 784, n_informative=50,
                                         n_classes=10, random_state=0)
    X_wide = X_wide.astype(np.float32)
    print(f"{dask_blocks.cpu_model()}; LocalCluster(n_workers="
          f"{args.workers}, threads_per_worker=1); fit seconds, median of "
          f"{args.repeats} (each run)\n")
    print("| network | blocks | rule before | current rule | current / "
          "before |")
    print("|---|---|---|---|---|")
    rules = (("before", rule_before), ("current", CURRENT_RULE))
    with distributed.LocalCluster(n_workers=args.workers,
                                  threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        for network, n_blocks in (("small", 4), ("small", 10), ("small", 64),
                                  ("wide", 10), ("wide", 12)):
            seconds = {name: [] for name, _ in rules}
            for _ in range(args.repeats):
                for name, rule in rules:
                    _trainer._group_size = rule
                    if network == "small":
                        seconds[name].append(dask_blocks.dask_fit(
                            sets["classification"], "classification", 15,
                            n_blocks, "final-8x10")[2])
                    else:
                        seconds[name].append(wide_fit(X_wide, y_wide,
                                                      n_blocks))
            _trainer._group_size = CURRENT_RULE
            before, current = (statistics.median(seconds[n])
                               for n in ("before", "current"))
            runs = ", ".join(f"{s:.1f}" for s in seconds["current"])
            print(f"| {network} | {n_blocks} | {before:.2f} | {current:.2f} "
                  f"({runs}) | {current / before:.2f} |", flush=True)


if __name__ == "__main__":
    main()
