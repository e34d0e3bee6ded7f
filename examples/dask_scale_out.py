"""Grid search and incremental fits on a Dask cluster
==================================================

fastbp on a Dask cluster: a grid search and an incremental fit on workers.

A ``dask.distributed.LocalCluster`` of 2 worker processes with 1 thread
each is started on this machine; nothing here schedules work itself, Dask
does:

1. ``GridSearchCV`` over ``fastbp.MLPClassifier`` on scikit-learn's digits,
   run once in this process and once inside
   ``joblib.parallel_backend("dask")``, which sends every cross-validation
   fit to the workers. A fit is deterministic for a given ``random_state``
   whatever its thread count, so both searches give the same
   ``cv_results_``.
2. ``dask_ml.wrappers.Incremental(fastbp.MLPClassifier(...))`` trained on a
   dask array cut into blocks of rows and kept in the workers' memory
   (``persist``). Each ``partial_fit`` of the wrapper is one pass over the
   data: one ``partial_fit`` task per block, run one after the other, the
   model travelling from task to task. ``shuffle_blocks`` (the default)
   visits the blocks in an order drawn from ``random_state``; an int makes
   it the same on every pass and the result reproducible.

The first fit in a worker process loads fastbp's compiled kernels from
Numba's on-disk cache instead of compiling them ("worker warm-up"). Dask
starts its workers with ``OMP_NUM_THREADS=1``; fastbp follows it, so each
fit in a worker uses one Numba thread and the two workers share the
machine's cores without oversubscribing them.

Run from the repository root (needs ``pip install ".[dask]"``)::

    python examples/dask_scale_out.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (a 2 x 2 grid, fewer
samples, epochs and passes).
"""

import os
import time
import warnings

import dask.array as da
import joblib
import numpy as np
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split

from fastbp import MLPClassifier

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0
N_WORKERS = 2

if QUICK:
    PARAM_GRID = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(16,), (32,)]}
    MAX_ITER = 20
    N_TRAIN = 450
    N_PASSES = 3
else:
    PARAM_GRID = {"alpha": [1e-4, 1e-2, 1.0],
                  "hidden_layer_sizes": [(32,), (64,), (128,)]}
    MAX_ITER = 100
    N_TRAIN = None  # the whole training split
    N_PASSES = 20
BLOCK_ROWS = 150


def warm_up():
    """Run a tiny fit: its first call in a process loads the kernels (from
    Numba's cache when it is warm). Returns the time taken in seconds.

    (A worker has imported fastbp before: a spawned process imports the
    main script, and with it this file's imports.)
    """
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(
            X[:40] / 16, y[:40]).predict(X[:4] / 16)
    return time.perf_counter() - start


def grid_search(client, X, y):
    """The same search serially and on the cluster; prints both."""
    search = GridSearchCV(
        MLPClassifier(learning_rate_init=0.01, max_iter=MAX_ITER,
                      random_state=SEED),
        PARAM_GRID, cv=3, scoring="accuracy")
    n_fits = 3 * len(PARAM_GRID["alpha"]) * len(
        PARAM_GRID["hidden_layer_sizes"])

    start = time.perf_counter()
    serial = clone(search).fit(X, y)
    serial_time = time.perf_counter() - start
    start = time.perf_counter()
    with joblib.parallel_backend("dask"):
        on_dask = clone(search).fit(X, y)
    dask_time = time.perf_counter() - start

    print(f"grid search: {n_fits} fits + 1 refit, serial {serial_time:.2f} s,"
          f" dask {dask_time:.2f} s")
    print(f"best params: {on_dask.best_params_}")
    print(f"best CV accuracy: {on_dask.best_score_:.4f}")
    same = all(np.array_equal(serial.cv_results_[key],
                              on_dask.cv_results_[key])
               for key in ("mean_test_score", "std_test_score"))
    print(f"dask and serial cv_results_ scores identical: {same}")


def incremental_fit(X_train, y_train, X_test, y_test):
    """Incremental on persisted dask arrays; prints time and accuracy."""
    X_blocks = da.from_array(X_train, chunks=(BLOCK_ROWS, X_train.shape[1]))
    y_blocks = da.from_array(y_train, chunks=BLOCK_ROWS)
    X_blocks, y_blocks = X_blocks.persist(), y_blocks.persist()
    model = Incremental(
        MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.01,
                      random_state=SEED),
        scoring="accuracy", shuffle_blocks=True, random_state=SEED)
    classes = np.unique(y_train)

    start = time.perf_counter()
    for _ in range(N_PASSES):
        model.partial_fit(X_blocks, y_blocks, classes=classes)
    elapsed = time.perf_counter() - start
    accuracy = model.score(da.from_array(X_test, chunks=BLOCK_ROWS),
                           da.from_array(y_test, chunks=BLOCK_ROWS))
    print(f"incremental: {N_PASSES} passes x {X_blocks.numblocks[0]} blocks "
          f"of up to {BLOCK_ROWS} rows in {elapsed:.2f} s")
    print(f"incremental test accuracy: {accuracy:.4f} "
          f"({model.estimator_.t_} samples seen)")


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    if N_TRAIN is not None:
        X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples"
          + (" (quick mode)" if QUICK else ""))
    print(f"compile/warm-up in this process: {warm_up():.2f} s")

    start = time.perf_counter()
    with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1,
                      processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        print(f"cluster: {N_WORKERS} worker processes x 1 thread, started in "
              f"{time.perf_counter() - start:.2f} s")
        warm = client.run(warm_up)
        print(f"worker warm-up (first fit, kernels from Numba's cache): "
              f"{max(warm.values()):.2f} s")
        omp = set(client.run(os.environ.get, "OMP_NUM_THREADS").values())
        print(f"OMP_NUM_THREADS in the workers: {', '.join(sorted(omp))} "
              "(a fastbp fit there uses that many Numba threads)")
        grid_search(client, X_train, y_train)
        incremental_fit(X_train, y_train, X_test, y_test)


if __name__ == "__main__":
    main()
