"""One model trained on a Dask cluster
===================================

One network trained across a Dask cluster's workers with fastbp.dask.

A ``LocalCluster`` of 2 worker processes with 1 thread each holds the
training data as a dask array cut into blocks of rows. ``fastbp.dask``'s
``MLPClassifier`` trains one network on all of it: every round runs one
call per worker thread (to a Dask actor holding that thread's share of the
blocks) with the compiled kernels; only the weights and a few partial sums
travel.

1. ``solver="lbfgs"``: the exact full-batch loss and gradient, summed over
   the blocks. The fitted model equals the in-memory fastbp fit up to
   rounding, so their test accuracies agree.
2. ``solver="adam"``: each block runs ``local_batches`` mini-batches from
   the same weights; the workers add up weights and Adam's moments, and
   the client moves the model by a momentum step on their averaged change;
   the first epoch's rounds grow from one mini-batch to ``local_batches``
   (the initial rounds), and the last epochs average more often, with less
   momentum, each ending at the mean of its rounds' models (the final
   phase).
   Every epoch makes fewer sequential updates than in memory (the blocks'
   steps are averaged, not chained), so it may need more epochs.
3. Predictions on a dask array come back as a dask array (one task per
   block); ``to_fastbp()`` gives an ordinary in-memory estimator.

Run from the repository root (needs ``pip install ".[dask]"``)::

    python examples/dask_one_model.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (digits, few iterations).
"""

import os
import time
import warnings

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import fastbp
import fastbp.dask

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0
N_WORKERS = 2

if QUICK:
    LBFGS_ITER = 30
    ADAM_EPOCHS = 30
else:
    LBFGS_ITER = 200
    ADAM_EPOCHS = 200


def load_data():
    """Digits in quick mode, otherwise a synthetic set of 200,000 training
    rows; (X_train, X_test, y_train, y_test) and the rows per block."""
    if QUICK:
        X, y = load_digits(return_X_y=True)
        return train_test_split(X / 16, y, test_size=0.25, stratify=y,
                                random_state=SEED), 350
    X, y = make_classification(n_samples=250_000, n_features=32,
                               n_informative=16, flip_y=0.02,
                               random_state=SEED)
    return train_test_split(X, y, train_size=200_000,
                            random_state=SEED), 50_000


def compare(solver, max_iter, X_blocks, y_blocks, X_train, y_train, X_test,
            y_test):
    """Fit in memory and on the cluster; print both accuracies."""
    params = dict(hidden_layer_sizes=(64,), solver=solver, max_iter=max_iter,
                  random_state=SEED)
    start = time.perf_counter()
    in_memory = fastbp.MLPClassifier(**params).fit(X_train, y_train)
    memory_time = time.perf_counter() - start
    start = time.perf_counter()
    on_dask = fastbp.dask.MLPClassifier(**params).fit(X_blocks, y_blocks)
    dask_time = time.perf_counter() - start
    print(f"{solver:<6} in memory {in_memory.score(X_test, y_test):.4f} "
          f"({in_memory.n_iter_} iterations, {memory_time:.2f} s)   "
          f"on dask {on_dask.score(X_test, y_test):.4f} "
          f"({on_dask.n_iter_} iterations, {dask_time:.2f} s)")
    return in_memory, on_dask


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    (X_train, X_test, y_train, y_test), rows = load_data()
    with LocalCluster(n_workers=N_WORKERS, threads_per_worker=1,
                      processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        X_blocks = da.from_array(X_train, chunks=(rows, -1)).persist()
        y_blocks = da.from_array(y_train, chunks=rows).persist()
        print(f"training data: {X_train.shape[0]} rows in "
              f"{X_blocks.numblocks[0]} blocks on {N_WORKERS} workers x 1 "
              "thread" + (" (quick mode)" if QUICK else ""))

        lbfgs_memory, lbfgs_dask = compare(
            "lbfgs", LBFGS_ITER, X_blocks, y_blocks, X_train, y_train,
            X_test, y_test)
        gap = max(np.abs(a - b).max() for a, b in zip(lbfgs_memory.coefs_,
                                                       lbfgs_dask.coefs_))
        print(f"lbfgs: largest weight difference dask vs in memory: "
              f"{gap:.1e}")
        compare("adam", ADAM_EPOCHS, X_blocks, y_blocks, X_train, y_train,
                X_test, y_test)

        lazy = lbfgs_dask.predict(da.from_array(X_test, chunks=rows))
        print(f"predict on a dask array: {type(lazy).__name__} of "
              f"{lazy.numblocks[0]} blocks; equal to in-memory predictions: "
              f"{bool((lazy.compute() == lbfgs_dask.predict(X_test)).all())}")
        plain = lbfgs_dask.to_fastbp()
        print(f"to_fastbp(): {type(plain).__module__.split('.')[0]}."
              f"{type(plain).__name__}, test accuracy "
              f"{plain.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
