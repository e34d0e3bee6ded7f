"""The activations beyond scikit-learn's four, and one activation per hidden
layer, through the estimators: every solver, partial_fit, warm_start, sparse
X, both dtypes; predictions against a numpy forward pass of ``coefs_``."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_regression

from fastbp import MLPClassifier, MLPRegressor

from . import reference

NEW = ["leaky_relu", "elu", "gelu", "silu", "softplus"]
LISTS = [["gelu", "relu"], ["silu", "tanh"], ["elu", "softplus"]]
TOL = {"float64": 1e-10, "float32": 1e-4}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16, y[:300]


def _numpy_proba(model, X):
    coefs = [c.astype(float) for c in model.coefs_]
    intercepts = [b.astype(float) for b in model.intercepts_]
    return reference.forward(coefs, intercepts, X, model.activation,
                             model.out_activation_)[-1]


@pytest.mark.parametrize("activation", NEW + LISTS,
                         ids=lambda a: a if isinstance(a, str) else "-".join(a))
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fit_predicts_as_numpy_forward_pass(digits, activation, solver, dtype):
    X, y = digits
    clf = MLPClassifier((12, 9), activation=activation, solver=solver,
                        max_iter=15, random_state=0, dtype=dtype,
                        learning_rate_init=0.1 if solver == "sgd" else 0.01
                        ).fit(X, y)
    assert np.isfinite(clf.loss_)
    assert clf.score(X, y) > 0.3  # chance: 0.1
    assert_allclose(clf.predict_proba(X), _numpy_proba(clf, X),
                    rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("activation", ["gelu", ["softplus", "silu"]])
def test_sparse_x_gives_the_dense_fit(digits, activation):
    X, y = digits
    params = dict(hidden_layer_sizes=(10, 8), activation=activation,
                  max_iter=5, random_state=0, dtype="float64")
    dense = MLPClassifier(**params).fit(X, y)
    sparse = MLPClassifier(**params).fit(sp.csr_matrix(X), y)
    for a, b in zip(dense.coefs_, sparse.coefs_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("activation", ["silu", ["gelu", "elu"]])
def test_partial_fit_and_warm_start_continue_the_fit(activation):
    X, y = make_regression(200, 6, random_state=0)
    y = y / 100
    params = dict(hidden_layer_sizes=(8, 7), activation=activation,
                  random_state=0, dtype="float64", shuffle=False,
                  solver="sgd", momentum=0.0)
    one = MLPRegressor(max_iter=4, **params).fit(X, y)
    warm = MLPRegressor(max_iter=2, warm_start=True, **params).fit(X, y)
    with pytest.warns(Warning):
        warm.fit(X, y)
    partial = MLPRegressor(**params)
    for _ in range(4):
        partial.partial_fit(X, y)
    for a, b, c in zip(one.coefs_, warm.coefs_, partial.coefs_):
        assert_array_equal(a, b)
        assert_array_equal(a, c)


@pytest.mark.parametrize("name", ["relu", "logistic", "gelu"])
def test_a_list_of_one_name_fits_as_the_name(digits, name):
    X, y = digits
    params = dict(hidden_layer_sizes=(10, 8), max_iter=3, random_state=0)
    single = MLPClassifier(activation=name, **params).fit(X, y)
    listed = MLPClassifier(activation=[name, name], **params).fit(X, y)
    for a, b in zip(single.coefs_, listed.coefs_):
        assert_array_equal(a, b)


def test_logistic_initialisation_factor_applies_per_layer():
    # scikit-learn's bound sqrt(factor / (fan_in + fan_out)): factor 2 for
    # logistic layers, 6 for others; the output layer's 2 only when every
    # hidden layer is logistic.
    X, y = make_regression(50, 30, random_state=0)
    model = MLPRegressor((40, 20), activation=["logistic", "relu"],
                         max_iter=1, random_state=0, dtype="float64",
                         learning_rate_init=1e-12)
    model._random_state = np.random.RandomState(0)
    model._initialize([30, 40, 20, 1], 50, np.float64)
    bounds = [np.abs(W).max() for W in model.coefs_]
    limits = [np.sqrt(2 / 70), np.sqrt(6 / 60), np.sqrt(6 / 21)]
    for bound, limit in zip(bounds, limits):
        assert 0.9 * limit < bound <= limit


@pytest.mark.parametrize("activation",
                         ["identity", "logistic", "tanh", "relu"])
def test_no_hidden_layer_draws_scikit_learns_initial_weights(activation):
    # With no hidden layer, scikit-learn's factor still follows the
    # estimator's activation (2 for "logistic", 6 for the others).
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    y = np.zeros((50, 1))
    ours = MLPRegressor((), activation=activation, dtype="float64")
    ours._random_state = np.random.RandomState(0)
    ours._initialize([30, 1], 50, np.float64)
    theirs = SkMLPRegressor((), activation=activation)
    theirs._random_state = np.random.RandomState(0)
    theirs._initialize(y, [30, 1], np.float64)
    assert_array_equal(ours.coefs_[0], theirs.coefs_[0])
    assert_array_equal(ours.intercepts_[0], theirs.intercepts_[0])


@pytest.mark.parametrize("activation, message", [
    (["relu"], "one such name per hidden layer \\(2\\)"),
    (["relu", "swish"], "one such name per hidden layer"),
    ("mish", "'activation' parameter"),
])
def test_bad_activation_is_refused(digits, activation, message):
    X, y = digits
    with pytest.raises(ValueError, match=message):
        MLPClassifier((5, 4), activation=activation, max_iter=1).fit(X, y)


def test_softplus_does_not_overflow():
    # log(1 + e^z) for z = 1e4 is z in float32, not inf (e^z overflows).
    X = np.array([[1.0], [-1.0]])
    model = MLPRegressor(hidden_layer_sizes=(1,), activation="softplus",
                         max_iter=1, dtype="float32").fit(X, [0.0, 1.0])
    model.coefs_[0][...] = 1e4
    model.intercepts_[0][...] = 0
    model.coefs_[1][...] = 1
    model.intercepts_[1][...] = 0
    assert_allclose(model.predict(X), [1e4, 0], atol=1e-3)
