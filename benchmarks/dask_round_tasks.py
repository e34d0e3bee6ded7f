#!/usr/bin/env python
"""How many tasks a fastbp.dask round should have: fit time by task rule.

A round runs one task per worker thread, each a contiguous share of the
blocks that adds up its blocks' results itself, and merges the shares'
partial sums in a tree of tasks (``fastbp.dask._trainer._shares``,
``_round_total``). This script times whole fits with that rule against
the one before it (a task per aligned run of ``_group_size`` blocks: one
or two tasks per thread, then a tree of adds), alternating the two, 3
times each, medians. The fits are bitwise the same either way (the sums'
tree is the block order's); only the time differs. Rounds run as tasks
here, as on clusters of more than ``_ACTOR_SHARES`` worker threads.

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

# Rounds as tasks, whose count this script compares: on up to
# _ACTOR_SHARES worker threads the trainer calls actors instead (their cost
# against the tasks': dask_blocks.py, section 4).
_trainer._ACTOR_SHARES = 0
CURRENT_RULE = _trainer._shares
COLOCATED = _trainer._colocated


def rule_before(n_blocks, n_slots):
    """The rule this one replaced: a task per aligned run of blocks."""
    g = _trainer._group_size(n_blocks, n_slots)
    return [range(start, min(start + g, n_blocks))
            for start in range(0, n_blocks, g)]


def colocated_by_shares(client, train, n_slots):
    """The blocks placed by the current rule's shares under either rule,
    as both placed them: a contiguous share per worker thread."""
    rule = _trainer._shares
    _trainer._shares = CURRENT_RULE
    try:
        return COLOCATED(client, train, n_slots)
    finally:
        _trainer._shares = rule


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
    _trainer._colocated = colocated_by_shares
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
                    _trainer._shares = rule
                    if network == "small":
                        seconds[name].append(dask_blocks.dask_fit(
                            sets["classification"], "classification", 15,
                            n_blocks, "final-8x10")[2])
                    else:
                        seconds[name].append(wide_fit(X_wide, y_wide,
                                                      n_blocks))
            _trainer._shares = CURRENT_RULE
            before, current = (statistics.median(seconds[n])
                               for n in ("before", "current"))
            runs = ", ".join(f"{s:.1f}" for s in seconds["current"])
            print(f"| {network} | {n_blocks} | {before:.2f} | {current:.2f} "
                  f"({runs}) | {current / before:.2f} |", flush=True)


if __name__ == "__main__":
    main()
