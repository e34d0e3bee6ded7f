"""fastbp on a real dask.distributed cluster: 2 worker processes, 1 thread
each.

Dask's own machinery does all the scheduling: joblib's "dask" backend runs
the fits of a GridSearchCV on the workers, and dask-ml's ``Incremental``
chains one ``partial_fit`` task per block of a dask array. The tests check
that the results equal the same computations done in this process, that the
worker processes load the compiled kernels from Numba's on-disk cache
instead of compiling them, and that a fit in a worker uses one Numba thread
rather than one per core (Dask starts workers with ``OMP_NUM_THREADS=1``,
which fastbp follows; see ``fastbp/_kernels/_threads.py``).

Functions run on the workers are defined at module level: the workers
import them from this module.
"""

import os
import warnings

import joblib
import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from fastbp import MLPClassifier
from fastbp._kernels import _threads

from .cluster import local_cluster

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

N_WORKERS = 2
BLOCK_ROWS = 100
N_BLOCKS = 6
N_PASSES = 4


def _small_fit():
    """Fit and predict a small float32 network; the kernels every test here
    uses (the epoch and the prediction) run once."""
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2,
                            random_state=0).fit(X[:100] / 16, y[:100])
    clf.predict(X[:10] / 16)


@pytest.fixture(scope="module")
def client():
    # Compile here first (or load from the cache), so that the cache holds
    # every kernel the workers will need before they start.
    _small_fit()
    with local_cluster(N_WORKERS) as client:
        yield client


def _worker_addresses(client):
    return sorted(client.nthreads())


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:450] / 16, y[:450]


def test_grid_search_on_dask_backend_equals_serial_search(client, digits):
    X, y = digits
    search = GridSearchCV(
        MLPClassifier(learning_rate_init=0.01, max_iter=30, random_state=0),
        {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(16,), (32,)]}, cv=3)
    serial = clone(search).fit(X, y)
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_backend("dask"):
            parallel = clone(search).fit(X, y)

    # The 12 fits ran as tasks, spread over both worker processes.
    assert {task["worker"] for task in tasks.data} == set(
        _worker_addresses(client))
    assert parallel.best_params_ == serial.best_params_
    for key in [f"split{i}_test_score" for i in range(3)] + [
            "mean_test_score", "rank_test_score"]:
        # Bitwise: a fit is deterministic and independent of thread count.
        assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key],
                           err_msg=key)
    assert serial.best_score_ > 0.85


def _incremental_data():
    X, y = make_classification(n_samples=N_BLOCKS * BLOCK_ROWS + 300,
                               n_features=20, n_informative=10,
                               random_state=0)
    n_train = N_BLOCKS * BLOCK_ROWS
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _partial_fits_in_process(estimator, X, y, order, classes):
    """What ``Incremental.partial_fit`` does N_PASSES times, done here."""
    model = clone(estimator)
    for _ in range(N_PASSES):
        for block in order:
            rows = slice(block * BLOCK_ROWS, (block + 1) * BLOCK_ROWS)
            model.partial_fit(X[rows], y[rows], classes=classes)
    return model


def test_incremental_on_dask_array_equals_in_process_partial_fits(client):
    X, y, X_test, y_test = _incremental_data()
    classes = np.unique(y)
    estimator = MLPClassifier(hidden_layer_sizes=(32,),
                              learning_rate_init=0.01, random_state=0)
    # One partial_fit task per block, chained: dask_ml._partial.fit. With
    # shuffle_blocks=True (the default) the block order is
    # check_random_state(random_state).shuffle(range(n_blocks)); an int
    # random_state gives the same order on every pass (None would not be
    # reproducible).
    incremental = wrappers.Incremental(estimator, scoring="accuracy",
                                       shuffle_blocks=True, random_state=0)
    X_blocks = da.from_array(X, chunks=(BLOCK_ROWS, X.shape[1]))
    y_blocks = da.from_array(y, chunks=BLOCK_ROWS)
    with distributed.get_task_stream(client) as tasks:
        for _ in range(N_PASSES):
            incremental.partial_fit(X_blocks, y_blocks, classes=classes)
    # Keys ("fit-<token>", i): block i's partial_fit; i = -1 holds the
    # unfitted model.
    fit_tasks = [t["key"] for t in tasks.data
                 if str(t["key"][0]).startswith("fit-") and t["key"][1] >= 0]
    assert len(fit_tasks) == N_PASSES * N_BLOCKS

    order = list(range(N_BLOCKS))
    np.random.RandomState(0).shuffle(order)
    assert order != sorted(order)
    expected = _partial_fits_in_process(estimator, X, y, order, classes)
    in_order = _partial_fits_in_process(estimator, X, y, sorted(order),
                                        classes)

    fitted = incremental.estimator_
    assert fitted.t_ == expected.t_ == N_PASSES * N_BLOCKS * BLOCK_ROWS
    for got, want, other in zip(fitted.coefs_ + fitted.intercepts_,
                                expected.coefs_ + expected.intercepts_,
                                in_order.coefs_ + in_order.intercepts_):
        assert_array_equal(got, want)
        # The comparison can tell the block order apart.
        assert not np.array_equal(got, other)
    accuracy = incremental.score(da.from_array(X_test, chunks=BLOCK_ROWS),
                                 da.from_array(y_test, chunks=BLOCK_ROWS))
    assert accuracy == expected.score(X_test, y_test)
    assert accuracy > 0.8


def _kernel_cache_stats():
    """Fit in this (worker) process; Numba's cache statistics of the
    kernels that ran, counted since the process started."""
    from fastbp import _kernels

    _small_fit()
    return {name: (sum(kernel.stats.cache_hits.values()),
                   sum(kernel.stats.cache_misses.values()))
            for name, kernel in [("_train", _kernels._train_kernel),
                                 ("_predict", _kernels._predict_kernel)]}


def test_workers_load_kernels_from_numba_cache(client):
    stats = client.run(_kernel_cache_stats)
    assert sorted(stats) == _worker_addresses(client)
    for worker, kernels in stats.items():
        for name, (hits, misses) in kernels.items():
            # A miss means the worker compiled the kernel itself.
            assert (hits >= 1, misses) == (True, 0), (worker, name)


def _numba_threads_around_fit():
    """Numba's thread count on this task thread before, during (as seen by
    the compiled epoch's caller) and after a fit."""
    import fastbp._mlp as mlp

    seen = []
    run_epoch = mlp._run_epoch

    def recording_run_epoch(*args):
        seen.append(numba.get_num_threads())
        return run_epoch(*args)

    before = numba.get_num_threads()
    mlp._run_epoch = recording_run_epoch
    try:
        _small_fit()
    finally:
        mlp._run_epoch = run_epoch
    return {"cores": numba.config.NUMBA_DEFAULT_NUM_THREADS,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
            "before": before, "during": sorted(set(seen)),
            "after": numba.get_num_threads()}


def test_fit_in_worker_uses_one_numba_thread(client):
    futures = [client.submit(_numba_threads_around_fit, pure=False,
                             workers=[address])
               for address in _worker_addresses(client)]
    for report in client.gather(futures):
        # Dask's Nanny sets OMP_NUM_THREADS=1 but not NUMBA_NUM_THREADS:
        # Numba alone would run one thread per core in each worker.
        assert report["OMP_NUM_THREADS"] == "1", report
        assert report["NUMBA_NUM_THREADS"] is None, report
        assert report["before"] == report["cores"], report
        assert report["during"] == [1], report
        assert report["after"] == report["before"], report


def test_client_process_keeps_its_numba_threads(client):
    if _threads._ENVIRON or (numba.config.NUMBA_NUM_THREADS
                             != numba.config.NUMBA_DEFAULT_NUM_THREADS):
        pytest.skip("thread counts configured for this run")
    # Starting the cluster wrote OMP_NUM_THREADS=1 into this process's
    # environment; fastbp read its environment at import and ignores that.
    assert os.environ.get("OMP_NUM_THREADS") == "1"
    with _threads.fit_threads() as n_threads:
        assert n_threads == numba.config.NUMBA_NUM_THREADS


def test_numba_num_threads_given_to_workers_wins(client):
    n_threads = numba.config.NUMBA_DEFAULT_NUM_THREADS
    if n_threads < 2 or "NUMBA_NUM_THREADS" in os.environ:
        pytest.skip("needs 2 cores and NUMBA_NUM_THREADS unset")
    # pre-spawn-environ reaches the worker before it imports anything;
    # LocalCluster(env=...) is applied later, after a worker has imported
    # the main script (and, through it, Numba and fastbp).
    key = "distributed.nanny.pre-spawn-environ.NUMBA_NUM_THREADS"
    with dask.config.set({key: n_threads}), local_cluster(1) as own_client:
        report = own_client.submit(_numba_threads_around_fit,
                                   pure=False).result()
    assert report["NUMBA_NUM_THREADS"] == str(n_threads), report
    assert report["OMP_NUM_THREADS"] == "1", report
    assert report["during"] == [n_threads], report
