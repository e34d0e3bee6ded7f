"""Dropout (``dropout=``): the masks against a plain-numpy hash, the
gradient against central differences with the masks held fixed, and the
estimator-level contract (defaults unchanged, bad values refused,
prediction without dropout). Thread-count and worker-count independence
are in test_determinism.py and test_dask_trainer.py."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits

from fastbp import MLPClassifier, MLPRegressor
from fastbp._kernels import OUTPUT_CODES
from fastbp._kernels._config import FULL_BATCH, N_HYPER
from fastbp._kernels._state import Dropout, OptimizerState
from fastbp._kernels.dropout import DROPOUT_BITS
from fastbp._kernels.epoch import _train
from fastbp._network import Workspace, training_data

from . import reference
from .engine import make_layout, make_targets, random_network

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

SEED, T, OFFSET = 1234, 5000, 17


def _dropout_loss_grad(coefs, intercepts, X, Y, hidden, out, alpha, rates):
    """The compiled full-batch loss and gradient with the units ``rates``
    say dropped out (key SEED, T, rows OFFSET...)."""
    units = [X.shape[1]] + [W.shape[1] for W in coefs]
    layout = make_layout(units, hidden)
    params = layout.pack(coefs, intercepts, np.float64)
    workspace = Workspace(layout, len(X), np.float64, full_batch=True)
    threshold = np.zeros(len(coefs), dtype=np.int64)
    threshold[:-1] = np.round(np.asarray(rates) * 2.0 ** DROPOUT_BITS)
    dropout = Dropout(threshold, np.array([SEED, T, OFFSET]))
    no_step = OptimizerState(FULL_BATCH, np.zeros(N_HYPER), np.zeros((2, 0)),
                             np.zeros(1, np.int64))
    idx = np.arange(len(X), dtype=np.int64)
    loss = _train(training_data(X, np.dtype(np.float64)),
                  training_data(Y, np.dtype(np.float64)), np.empty(0), idx,
                  0, len(X), len(X), params, workspace.table,
                  OUTPUT_CODES[out], alpha,
                  float(np.finfo(float).eps), no_step, workspace.buffers(),
                  dropout)
    return loss, workspace.grad.copy(), layout, params


def _keep(rates, units, n_rows):
    rows = OFFSET + np.arange(n_rows)
    return [reference.dropout_keep(SEED, T, rows, l, units[l + 1], rate)
            for l, rate in enumerate(rates)]


CASES = [("relu", [0.5]), ("tanh", [0.3, 0.0]), ("logistic", [0.2, 0.4]),
         ("identity", [0.0, 0.6]), ("gelu", [0.4]), ("silu", [0.3, 0.2]),
         ("softplus", [0.5]), ("elu", [0.2, 0.0]), ("leaky_relu", [0.3]),
         (["gelu", "relu"], [0.3, 0.5]), (["tanh", "silu"], [0.0, 0.4])]


@pytest.mark.parametrize("hidden, rates", CASES)
@pytest.mark.parametrize("out", ["softmax", "identity"])
def test_loss_matches_numpy_with_the_same_masks(rng, hidden, rates, out):
    units = [6] + [9] * len(rates) + [3]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(37, 6)
    Y = make_targets(rng, out, 37, 3)
    loss = _dropout_loss_grad(coefs, intercepts, X, Y, hidden, out, 0.1,
                              rates)[0]
    expected = reference.dropout_loss(coefs, intercepts, X, Y, hidden, out,
                                      0.1, rates, _keep(rates, units, 37))
    assert loss == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("hidden, rates", CASES)
def test_gradient_matches_central_differences(rng, hidden, rates):
    units = [5] + [7] * len(rates) + [3]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(23, 5)
    Y = make_targets(rng, "softmax", 23, 3)
    _, grad, layout, params = _dropout_loss_grad(
        coefs, intercepts, X, Y, hidden, "softmax", 0.05, rates)
    def loss_at(vector):
        c, b = layout.views(vector)
        return _dropout_loss_grad(c, b, X, Y, hidden, "softmax", 0.05,
                                  rates)[0]

    h = 1e-6
    numeric = np.empty_like(params)
    for p in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[p] += h
        minus[p] -= h
        numeric[p] = (loss_at(plus) - loss_at(minus)) / (2 * h)
    assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_masks_drop_the_rate_of_units():
    keep = reference.dropout_keep(SEED, T, np.arange(2000), 0, 300, 0.3)
    assert keep.mean() == pytest.approx(0.7, abs=0.005)
    # Each epoch (t), row and unit has its own draw.
    other = reference.dropout_keep(SEED, T + 1, np.arange(2000), 0, 300, 0.3)
    assert 0.3 < (keep == other).mean() < 0.7


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16, y[:400]


def _weights(model):
    return model.coefs_ + model.intercepts_


@pytest.mark.parametrize("zero", [0.0, [0.0, 0.0], (0, 0)])
def test_zero_dropout_is_no_dropout(digits, zero):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(20, 10), max_iter=5, random_state=0)
    plain = MLPClassifier(**kwargs).fit(X, y)
    zeroed = MLPClassifier(dropout=zero, **kwargs).fit(X, y)
    for a, b in zip(_weights(plain), _weights(zeroed)):
        assert_array_equal(a, b)


def test_dropout_trains_and_predicts_with_every_unit(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(64,), dropout=0.5, max_iter=30,
                          random_state=0, dtype="float64").fit(X, y)
    plain = MLPClassifier(hidden_layer_sizes=(64,), max_iter=30,
                          random_state=0, dtype="float64").fit(X, y)
    # The training loss is measured with units dropped.
    assert model.loss_ > plain.loss_
    proba = reference.forward(model.coefs_, model.intercepts_, X, "relu",
                              "softmax")[-1]
    assert_allclose(model.predict_proba(X), proba, rtol=1e-10)
    assert model.score(X, y) > 0.8  # it learns


def test_dropout_with_sparse_X_equals_dense(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(16,), dropout=0.3, max_iter=3,
                  random_state=0, dtype="float64")
    dense = MLPClassifier(**kwargs).fit(X, y)
    sparse = MLPClassifier(**kwargs).fit(sp.csr_matrix(X), y)
    for a, b in zip(_weights(dense), _weights(sparse)):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_dropout_masks_change_between_partial_fits(digits):
    # t_ keys the masks: the second call does not repeat the first's.
    X, y = digits
    model = MLPRegressor(hidden_layer_sizes=(16,), dropout=0.5, solver="sgd",
                         momentum=0.0, learning_rate_init=1e-12,
                         random_state=0, dtype="float64")
    model.partial_fit(X, y)
    first = model.loss_
    model.partial_fit(X, y)
    assert model.loss_ != pytest.approx(first, rel=1e-6)


def test_dropout_with_early_stopping_and_warm_start(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(32,), dropout=[0.2],
                          early_stopping=True, warm_start=True, max_iter=5,
                          random_state=0).fit(X, y)
    n_seen = model.t_
    model.fit(X, y)
    assert model.t_ > n_seen and len(model.validation_scores_) == 10


@pytest.mark.parametrize("params, match", [
    ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"),
    ({"dropout": [0.5]}, "one such rate per hidden layer \\(2\\)"),
    ({"dropout": [0.5, 1.0]}, "one such rate per hidden layer"),
    ({"dropout": "half"}, "dropout"),
    ({"dropout": 0.5, "solver": "lbfgs"}, "dropout is applied"),
])
def test_bad_dropout_is_refused(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        MLPClassifier(hidden_layer_sizes=(8, 4), max_iter=1,
                      **params).fit(X, y)
