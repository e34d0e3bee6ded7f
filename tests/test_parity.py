"""Same data, same random_state, dtype="float64": fastbp's fitted parameters
and training history equal scikit-learn's (same initial draws, same shuffles,
same formulas) to floating-point rounding."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import neural_network as sk
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastbp

RTOL = 1e-6


def _data(task):
    if task == "regression":
        X, y = make_regression(n_samples=160, n_features=12, noise=1.0,
                               random_state=0)
        return X / 10, y / 100
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    if task == "binary":
        y = y % 2
    return X, y


def _fit_both(task, **params):
    X, y = _data(task)
    cls = "MLPRegressor" if task == "regression" else "MLPClassifier"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = getattr(fastbp, cls)(dtype="float64", **params).fit(X, y)
        ref = getattr(sk, cls)(**params).fit(X, y)
    return ours, ref, X


def assert_same_model(ours, ref, X, rtol=RTOL):
    """Assert that fastbp's fitted model ``ours`` is scikit-learn's ``ref``.

    Parameters
    ----------
    ours, ref : fitted MLPClassifier or MLPRegressor
        fastbp's (float64) and scikit-learn's model, fitted on the same data
        with the same parameters.
    X : array-like
        Data both models predict for the comparison of their outputs.
    rtol : float, default=RTOL
        Relative tolerance on weights, losses and scores; each weight array
        also gets ``rtol`` times its largest magnitude as absolute
        tolerance (weights near zero).

    Notes
    -----
    Compared: every weight and bias, ``n_iter_``, ``t_``, the output
    activation, ``loss_``, and where scikit-learn records them (the
    stochastic solvers) ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_`` and the optimizer's
    current learning rate (and Adam's step count); then the predictions.
    """
    assert len(ours.coefs_) == len(ref.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_,
                    ref.coefs_ + ref.intercepts_):
        assert a.shape == b.shape
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())
    assert ours.n_iter_ == ref.n_iter_
    assert ours.t_ == ref.t_
    assert ours.n_outputs_ == ref.n_outputs_
    assert ours.out_activation_ == ref.out_activation_
    assert_allclose(ours.loss_, ref.loss_, rtol=rtol)
    for name in ("loss_curve_", "best_loss_", "validation_scores_",
                 "best_validation_score_"):
        assert hasattr(ours, name) == hasattr(ref, name), name
        if not hasattr(ref, name):
            continue
        got, want = getattr(ours, name), getattr(ref, name)
        if want is None:
            assert got is None, name
        else:
            assert_allclose(got, want, rtol=rtol, err_msg=name)
    if hasattr(ref, "_optimizer"):
        assert_allclose(ours._optimizer.learning_rate,
                        ref._optimizer.learning_rate, rtol=rtol)
        if hasattr(ref._optimizer, "t"):
            assert ours._optimizer.t == ref._optimizer.t
    assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("hidden_layer_sizes", [(15,), (12, 8)])
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_five_epochs_match_sklearn(task, hidden_layer_sizes, activation, solver):
    ours, ref, X = _fit_both(task, hidden_layer_sizes=hidden_layer_sizes,
                             activation=activation, solver=solver, max_iter=5,
                             batch_size=32, learning_rate_init=0.01,
                             random_state=0)
    assert_same_model(ours, ref, X)


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
@pytest.mark.parametrize("nesterovs_momentum", [False, True])
def test_sgd_schedules_match_sklearn(learning_rate, nesterovs_momentum):
    # tol=0.5 makes 'adaptive' divide its learning rate during the fit.
    ours, ref, X = _fit_both("multiclass", hidden_layer_sizes=(10,),
                             solver="sgd", learning_rate=learning_rate,
                             nesterovs_momentum=nesterovs_momentum,
                             learning_rate_init=0.05, max_iter=30,
                             n_iter_no_change=2, tol=0.5, random_state=1)
    assert_same_model(ours, ref, X)
    assert ours._optimizer.learning_rate == pytest.approx(
        ref._optimizer.learning_rate, rel=1e-12)


@pytest.mark.parametrize("shuffle", [False, True])
def test_no_shuffle_and_stopping_match_sklearn(shuffle):
    # Large tol: training stops on n_iter_no_change, like scikit-learn.
    ours, ref, X = _fit_both("multiclass", hidden_layer_sizes=(10,),
                             shuffle=shuffle, tol=0.05, n_iter_no_change=3,
                             max_iter=100, random_state=3)
    assert ours.n_iter_ < 100
    assert_same_model(ours, ref, X)
    assert ours.best_loss_ == pytest.approx(ref.best_loss_, rel=RTOL)


def test_batch_size_larger_than_n_samples_warns_and_matches():
    X, y = _data("multiclass")
    msg = "Got `batch_size` less than 1 or larger than sample size"
    with pytest.warns(UserWarning, match=msg):
        ours = fastbp.MLPClassifier(dtype="float64", batch_size=1000,
                                    max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match=msg):
        ref = sk.MLPClassifier(batch_size=1000, max_iter=3,
                               random_state=0).fit(X, y)
    assert_same_model(ours, ref, X)


def test_batches_run_in_parallel_fit_as_sklearn():
    """A network large enough that both steps of a batch run in parallel
    (the thresholds in ``_kernels/_config``) fits as scikit-learn's does."""
    from fastbp._kernels._config import (CHUNK_PARALLEL_MIN_WORK,
                                         PARALLEL_MIN_WORK)

    X, y = load_digits(return_X_y=True)
    X = X / 16
    hidden, batch = (256, 128), 200
    work = batch * (64 * 256 + 256 * 128 + 128 * 10)
    assert work >= max(PARALLEL_MIN_WORK, CHUNK_PARALLEL_MIN_WORK)
    kwargs = dict(hidden_layer_sizes=hidden, batch_size=batch, max_iter=3,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = fastbp.MLPClassifier(dtype="float64", **kwargs).fit(X, y)
        ref = sk.MLPClassifier(**kwargs).fit(X, y)
    assert_same_model(ours, ref, X)


@pytest.mark.parametrize("n", [1, 2, 200, 1797])
def test_epoch_shuffle_draws_as_sklearn(n):
    # Each epoch shuffles the previous epoch's order with the model's random
    # state; sklearn.utils.shuffle is the reference for those draws.
    from sklearn.utils import shuffle
    from fastbp._mlp import _shuffled
    expected = got = np.arange(n, dtype=np.int64)
    rs_sk, rs_fastbp = np.random.RandomState(n), np.random.RandomState(n)
    for _ in range(3):
        expected = shuffle(expected, random_state=rs_sk)
        got = _shuffled(got, rs_fastbp)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
    assert rs_fastbp.randint(10**9) == rs_sk.randint(10**9)
