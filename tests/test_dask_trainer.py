"""fastbp.dask: one network trained data-parallel on a LocalCluster.

The cluster has 2 worker processes with 1 thread each (a second one, with
1 worker, for the worker-count test). Data are small and cut into a few
blocks so that every test takes a second or two once Numba's cache is
warm.

What is checked: L-BFGS on blocks equals the in-memory L-BFGS fit up to
rounding; SGD/Adam give bitwise the same weights on 1 and on 2 workers and
after a worker dies mid-fit; predictions on dask arrays are lazy and equal
the in-memory ones; validation scores computed from per-block sums equal
in-memory scores; bad input fails before any training task runs.
"""

import os
import signal
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastbp

from .cluster import local_cluster

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
fastbp_dask = pytest.importorskip("fastbp.dask")

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

BLOCK_ROWS = 120
N_BLOCKS = 4


def _warm_up():
    """Load (or compile) the kernels the workers will use, in both dtypes,
    before the cluster starts: the workers then load them from the cache."""
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in ("float32", "float64"):
            for solver in ("adam", "lbfgs"):
                fastbp.MLPClassifier((4,), solver=solver, max_iter=2,
                                     dtype=dtype).fit(X[:50], y[:50])


@pytest.fixture(scope="module")
def client():
    _warm_up()
    with local_cluster(2, set_as_default=False) as client, \
            client.as_current():
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    n_train = N_BLOCKS * BLOCK_ROWS
    return X[:n_train] / 16, y[:n_train], X[n_train:n_train + 300] / 16, \
        y[n_train:n_train + 300]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=N_BLOCKS * BLOCK_ROWS + 200,
                           n_features=10, noise=1.0, random_state=0)
    n_train = N_BLOCKS * BLOCK_ROWS
    y = y / y.std()
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _blocks(X, y, rows=BLOCK_ROWS):
    return (da.from_array(X, chunks=(rows, X.shape[1])),
            da.from_array(y, chunks=rows))


def _small(**params):
    return dict(dict(hidden_layer_sizes=(16,), random_state=0, max_iter=8,
                     learning_rate_init=0.01), **params)


def _estimators(kind):
    if kind == "classifier":
        return fastbp.MLPClassifier, fastbp_dask.MLPClassifier
    return fastbp.MLPRegressor, fastbp_dask.MLPRegressor


def _assert_same_weights(a, b):
    for got, want in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(got, want)


def _task_names(tasks):
    return [str(t["key"]).split("-")[0].strip("('") for t in tasks.data]


# ---------------------------------------------------------------- L-BFGS
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_lbfgs_on_blocks_equals_in_memory_fit(client, kind, digits,
                                              regression):
    X, y, _, _ = digits if kind == "classifier" else regression
    in_memory, on_dask = _estimators(kind)
    params = _small(solver="lbfgs", max_iter=15, dtype="float64")
    expected = in_memory(**params).fit(X, y)
    with distributed.get_task_stream(client) as tasks:
        model = on_dask(**params).fit(*_blocks(X, y))

    # The same objective summed in another order: the same iterates up to
    # float64 rounding.
    assert model.n_iter_ == expected.n_iter_ == 15
    assert_allclose(model.loss_, expected.loss_, rtol=1e-10)
    for got, want in zip(model.coefs_ + model.intercepts_,
                         expected.coefs_ + expected.intercepts_):
        assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    # Every block's gradient ran as a task, on both workers.
    workers = {t["worker"] for t in tasks.data
               if "_loss_grad_task" in str(t["key"])}
    assert len(workers) == 2


# ---------------------------------------------------------------- SGD/Adam
@pytest.fixture(scope="module")
def one_worker_client(client):
    with local_cluster(1, set_as_default=False) as one:
        yield one


@pytest.mark.parametrize("activation", ["gelu", ["silu", "elu"]])
def test_activations_on_blocks_as_in_memory(client, one_worker_client,
                                            digits, activation):
    # The layer table carries the per-layer codes to the workers: L-BFGS on
    # blocks follows the in-memory fit, Adam gives one model whatever the
    # worker count.
    X, y, _, _ = digits
    params = _small(hidden_layer_sizes=(16, 12), activation=activation,
                    dtype="float64")
    lbfgs = dict(params, solver="lbfgs", max_iter=10)
    expected = fastbp.MLPClassifier(**lbfgs).fit(X, y)
    model = fastbp_dask.MLPClassifier(**lbfgs).fit(*_blocks(X, y))
    for got, want in zip(model.coefs_ + model.intercepts_,
                         expected.coefs_ + expected.intercepts_):
        assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    adam = dict(params, solver="adam", local_batches=1, max_iter=3)
    two = fastbp_dask.MLPClassifier(**adam).fit(*_blocks(X, y))
    with one_worker_client.as_current():
        one = fastbp_dask.MLPClassifier(**adam).fit(*_blocks(X, y))
    _assert_same_weights(two, one)


@pytest.mark.parametrize("solver, dropout", [("adam", 0.0), ("sgd", 0.0),
                                             ("adam", 0.3)])
def test_stochastic_fit_does_not_depend_on_worker_count(
        client, one_worker_client, digits, solver, dropout):
    X, y, _, _ = digits
    params = _small(solver=solver, local_batches=1, dropout=dropout)
    with distributed.get_task_stream(client) as tasks:
        on_two = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    with one_worker_client.as_current():
        on_one = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    _assert_same_weights(on_two, on_one)
    assert on_two.loss_curve_ == on_one.loss_curve_
    # One task per block and round, on both workers of the first cluster.
    rounds = [t for t in tasks.data if "_local_steps_task" in str(t["key"])]
    assert len(rounds) == params["max_iter"] * N_BLOCKS  # 1 batch per block
    assert {t["worker"] for t in rounds} == set(
        client.scheduler_info()["workers"])


@pytest.mark.parametrize("local_batches", [1, "epoch"])
def test_stochastic_fit_learns(client, digits, local_batches):
    X, y, X_test, y_test = digits
    model = fastbp_dask.MLPClassifier(
        **_small(max_iter=30, batch_size=40, local_batches=local_batches)
    ).fit(*_blocks(X, y))
    assert model.n_iter_ == 30
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    assert model.score(X_test, y_test) > 0.7  # 10 classes, 480 samples


def test_chunking_changes_the_stochastic_fit(client, digits):
    # The block is the unit of work: other blocks, another fit.
    X, y, _, _ = digits
    params = _small(max_iter=2)
    a = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    b = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y, rows=240))
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


class _EpochCallback:
    """A FitCallback that counts finished epochs (``seen``), calls
    ``epoch_ended()`` after each and stops training when it returns True."""

    seen = 0

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, **kwargs):
        pass

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.parent is None:
            return False
        self.seen += 1
        return self.epoch_ended()


class _KillWorkerAfterEpoch(_EpochCallback):
    """Kills one worker process at the end of epoch ``epoch``; its Nanny
    starts a new one."""

    def __init__(self, client, epoch):
        self.client, self.epoch = client, epoch

    def epoch_ended(self):
        if self.seen == self.epoch:
            nanny = next(iter(self.client.cluster.workers.values()))
            os.kill(nanny.process.process.pid, signal.SIGKILL)
        return False


def test_fit_survives_a_worker_dying(client, digits):
    X, y, _, _ = digits
    params = _small(max_iter=6)
    expected = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    model = fastbp_dask.MLPClassifier(**params)
    model.set_callbacks(_KillWorkerAfterEpoch(client, epoch=2))
    # Fresh arrays: Dask must recompute the blocks the dead worker held.
    model.fit(*_blocks(X.copy(), y.copy()))
    _assert_same_weights(model, expected)
    client.wait_for_workers(2, timeout=60)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_validation_scores_from_block_sums_equal_in_memory_scores(
        client, kind, digits, regression):
    X, y, X_val, y_val = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=3)).fit(
        *_blocks(X, y), validation_data=_blocks(X_val, y_val, rows=100))
    assert len(model.validation_scores_) == model.n_iter_ == 3
    # The last epoch's score is that of the final model.
    assert_allclose(model.validation_scores_[-1],
                    model.to_fastbp().score(X_val, y_val), rtol=1e-5)
    assert_allclose(model.validation_loss_curve_[-1],
                    model.to_fastbp()._validation_loss(
                        X_val.astype(np.float32),
                        model._label_binarizer.transform(y_val)
                        if kind == "classifier" else y_val.reshape(-1, 1),
                        None), rtol=1e-5)


def test_early_stopping_keeps_the_best_epoch(client, digits):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small(
        max_iter=40, early_stopping=True, n_iter_no_change=2, tol=0.5))
    model.fit(*_blocks(X, y))
    # No epoch improves on the first by tol = 0.5: stop after 1 + 2 + 1.
    assert model.n_iter_ == 4
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert_array_equal(model._params, model._best_params)


class _StopAfter(_EpochCallback):
    """Stops training after ``n_epochs`` epochs."""

    def __init__(self, n_epochs):
        self.n_epochs = n_epochs

    def epoch_ended(self):
        return self.seen == self.n_epochs


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callback_stops_training(client, digits, solver):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small(solver=solver, max_iter=20))
    model.set_callbacks(_StopAfter(3)).fit(*_blocks(X, y))
    assert model.n_iter_ == 3


# ---------------------------------------------------------------- prediction
@pytest.mark.parametrize("kind, method", [("classifier", "predict"),
                                          ("classifier", "predict_proba"),
                                          ("regressor", "predict")])
def test_predict_on_dask_is_lazy_and_equals_in_memory(client, kind, method,
                                                      digits, regression):
    X, y, X_test, _ = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=2)).fit(*_blocks(X, y))
    lazy = getattr(model, method)(da.from_array(X_test, chunks=70))
    assert isinstance(lazy, da.Array)
    expected = getattr(model.to_fastbp(), method)(X_test)
    assert lazy.shape == expected.shape
    # The forward pass may round a row differently in another block.
    assert_allclose(lazy.compute(), expected, rtol=1e-6)
    # In-memory input: in-memory output, as fastbp's.
    assert_array_equal(getattr(model, method)(X_test), expected)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_score_on_dask_equals_in_memory(client, kind, digits, regression):
    X, y, X_test, y_test = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=2)).fit(*_blocks(X, y))
    assert_allclose(model.score(*_blocks(X_test, y_test, rows=70)),
                    model.to_fastbp().score(X_test, y_test), rtol=1e-6)


def test_to_fastbp_gives_the_in_memory_estimator(client, digits):
    X, y, X_test, y_test = digits
    model = fastbp_dask.MLPClassifier(**_small(max_iter=2)).fit(*_blocks(X, y))
    plain = model.to_fastbp()
    assert type(plain) is fastbp.MLPClassifier
    assert "local_batches" not in plain.get_params()
    assert_array_equal(plain.predict_proba(X_test),
                       model.predict_proba(X_test))
    # It goes on training in memory from the averaged optimizer state.
    plain.partial_fit(X, y)
    assert plain.t_ == model.t_ + len(X)
    assert plain._optimizer.t > model._optimizer.t


# ---------------------------------------------------------------- bad input
def _unknown_chunks(X, y):
    X, y = _blocks(X, y)
    keep = da.from_array(np.ones(len(y), dtype=bool), chunks=BLOCK_ROWS)
    return X[keep], y[keep]


def _with_nan(X, y):
    X = X.copy()
    X[3, 5] = np.nan
    return _blocks(X, y)


BAD_INPUT = {
    "mismatched chunks": (
        lambda X, y: (_blocks(X, y)[0], _blocks(X, y, rows=100)[1]),
        "same row blocks"),
    "unknown chunk sizes": (_unknown_chunks, "unknown chunk sizes"),
    "NaN in X": (_with_nan, "Input X contains NaN"),
    "1-d X": (lambda X, y: (_blocks(X, y)[0][:, 0], _blocks(X, y)[1]),
              "X must have 2 dimensions"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_raises_before_training(client, digits, case):
    X, y, _, _ = digits
    make, match = BAD_INPUT[case]
    with distributed.get_task_stream(client) as tasks:
        with pytest.raises(ValueError, match=match):
            fastbp_dask.MLPClassifier(**_small()).fit(*make(X, y))
    assert not any("_local_steps_task" in str(t["key"]) for t in tasks.data)


def test_nan_in_regression_targets_raises(client, regression):
    X, y, _, _ = regression
    y = y.copy()
    y[7] = np.inf
    with pytest.raises(ValueError, match="Input y contains NaN"):
        fastbp_dask.MLPRegressor(**_small()).fit(*_blocks(X, y))


@pytest.mark.parametrize("local_batches", [0, "batch", 1.5])
def test_local_batches_is_validated(client, digits, local_batches):
    X, y, _, _ = digits
    with pytest.raises(InvalidParameterError, match="local_batches"):
        fastbp_dask.MLPClassifier(local_batches=local_batches).fit(
            *_blocks(X, y))


def test_fit_without_client_says_so(monkeypatch, digits):
    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="current dask.distributed Client"):
        fastbp_dask.MLPClassifier().fit(*_blocks(X, y))


def test_import_fastbp_does_not_import_dask():
    import subprocess
    import sys

    code = ("import sys, fastbp; "
            "print(any(m.split('.')[0] in ('dask', 'distributed') "
            "for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- partial_fit
def test_partial_fit_on_blocks_is_one_fit_epoch(client, digits):
    X, y, _, _ = digits
    params = _small(solver="adam", local_batches=1, max_iter=1)
    fitted = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    partial = fastbp_dask.MLPClassifier(**params)
    partial.partial_fit(*_blocks(X, y), classes=np.unique(y))
    _assert_same_weights(fitted, partial)
    assert partial.n_iter_ == 1 and partial.t_ == len(y)
    step = partial._optimizer.t
    partial.partial_fit(*_blocks(X, y))
    # The optimizer goes on: its step count grows, t_ adds up.
    assert partial._optimizer.t == 2 * step and partial.t_ == 2 * len(y)


def test_partial_fit_on_blocks_regressor_and_errors(client, digits,
                                                    regression):
    X, y, _, _ = regression
    model = fastbp_dask.MLPRegressor(**_small(solver="sgd"))
    for _ in range(3):
        model.partial_fit(*_blocks(X, y))
    assert model.n_iter_ == 1 and model.t_ == 3 * len(y)
    assert np.isfinite(model.loss_)

    X, y, _, _ = digits
    fresh = fastbp_dask.MLPClassifier(**_small())
    with pytest.raises(ValueError, match="classes must be passed"):
        fresh.partial_fit(*_blocks(X, y))
    fresh.partial_fit(*_blocks(X[y < 5], y[y < 5]), classes=np.arange(10))
    assert_array_equal(fresh.classes_, np.arange(10))
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        fresh.partial_fit(*_blocks(X, y + 10))
    with pytest.raises(ValueError, match="early_stopping"):
        fastbp_dask.MLPClassifier(early_stopping=True).partial_fit(
            *_blocks(X, y), classes=np.arange(10))
    with pytest.raises(AttributeError, match="partial_fit"):
        fastbp_dask.MLPClassifier(solver="lbfgs").partial_fit


def test_partial_fit_with_numpy_input_stays_in_memory(client, digits):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small())
    model.partial_fit(X, y, classes=np.unique(y))
    reference = fastbp.MLPClassifier(**_small()).partial_fit(
        X, y, classes=np.unique(y))
    _assert_same_weights(model, reference)
