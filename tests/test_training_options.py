"""Training options beyond scikit-learn's MLP: ``init``, ``scoring``,
``learning_rate="cosine"`` with ``warmup_iter``, ``weight_decay`` and
``max_grad_norm`` (``dropout`` has test_dropout.py).

Each is checked against its definition (a plain-numpy draw or formula), in
memory and on ``fastbp.dask`` (both fits reach them through the one epoch
driver), and their bad values are refused. Defaults change nothing: the
parity tests with scikit-learn run with them.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, log_loss
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastbp
from fastbp import MLPClassifier, MLPRegressor
from fastbp._network import INIT_SCHEMES
from fastbp._solvers import cosine_rate

from . import reference

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:360] / 16, y[:360]


def _initial_coefs(init, layer_units, random_state):
    """The coefficients ``init`` draws, in numpy (float64): one draw per
    layer in order (``auto`` draws the intercepts too, as scikit-learn)."""
    rng = np.random.RandomState(random_state)
    coefs = []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        if init == "auto":  # relu: factor 6
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
            rng.uniform(-bound, bound, fan_out)
            continue
        fan = {"glorot_uniform": (fan_in + fan_out) / 2,
               "glorot_normal": (fan_in + fan_out) / 2}.get(init, fan_in)
        gain = 2.0 if init.startswith("he_") else 1.0
        if init.endswith("uniform"):
            limit = np.sqrt(3.0 * gain / fan)
            coefs.append(rng.uniform(-limit, limit, (fan_in, fan_out)))
        else:
            coefs.append(rng.normal(0.0, np.sqrt(gain / fan),
                                    (fan_in, fan_out)))
    return coefs


def _one_step(X, y, **params):
    """A float64 model after exactly one full-batch step, unshuffled."""
    return MLPClassifier(hidden_layer_sizes=(7,), batch_size=X.shape[0],
                         max_iter=1, shuffle=False, random_state=3,
                         dtype="float64", **params).fit(X, y)


# -- init ---------------------------------------------------------------
@pytest.mark.parametrize("init", sorted(INIT_SCHEMES))
def test_named_init_draws_its_distribution(digits, init):
    # A step of 1e-300 leaves the weights where they were drawn.
    X, y = digits
    model = _one_step(X, y, init=init, solver="sgd", momentum=0.0,
                      learning_rate_init=1e-300)
    expected = _initial_coefs(init, [64, 7, 10], 3)
    for coef, ref in zip(model.coefs_, expected):
        assert_allclose(coef, ref, rtol=1e-12)
    for intercept in model.intercepts_:
        assert_allclose(intercept, 0.0, atol=1e-250)


def test_init_auto_is_scikit_learns_draw(digits):
    X, y = digits
    model = _one_step(X, y, solver="sgd", momentum=0.0,
                      learning_rate_init=1e-300)
    for coef, ref in zip(model.coefs_, _initial_coefs("auto", [64, 7, 10], 3)):
        assert_allclose(coef, ref, rtol=1e-12)


@pytest.mark.parametrize("init, std", [
    ("he_normal", np.sqrt(2 / 400)), ("lecun_normal", np.sqrt(1 / 400)),
    ("glorot_normal", np.sqrt(2 / 700)),
    ("he_uniform", np.sqrt(2 / 400)), ("glorot_uniform", np.sqrt(2 / 700))])
def test_init_scale_on_a_wide_layer(init, std):
    # Var of U(-l, l) is l^2 / 3: every scheme's variance is gain / fan.
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 400), rng.randint(0, 2, 40)
    model = MLPClassifier(hidden_layer_sizes=(300,), init=init, max_iter=1,
                          learning_rate_init=1e-30, random_state=0,
                          dtype="float64").fit(X, y)
    assert model.coefs_[0].std() == pytest.approx(std, rel=0.01)


# -- scoring ------------------------------------------------------------
def test_scoring_loss_records_the_negative_validation_loss(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(16,), scoring="loss",
                          early_stopping=True, max_iter=30,
                          n_iter_no_change=3, random_state=0).fit(X, y)
    assert_array_equal(model.validation_scores_,
                       -np.asarray(model.validation_loss_curve_))
    assert model.best_validation_score_ == max(model.validation_scores_)


def _rows_accuracy(estimator, X, y, sample_weight=None):
    """A scorer of the user's own that reads X itself."""
    assert X.shape == (len(y), 64)
    return float(np.mean(estimator.predict(X) == y))


@pytest.mark.parametrize("scoring", ["neg_log_loss", "balanced_accuracy",
                                     "make_scorer", "function"])
@pytest.mark.parametrize("n_classes", [2, 10])
def test_scoring_scorer_on_validation_data(digits, scoring, n_classes):
    """A scorer scores the validation rows as it scores the model on them:
    scikit-learn's scorers through their outputs computed in blocks (a
    binary one through predict_proba's positive column), a function of the
    user's on the rows themselves."""
    X, y = digits
    y = y % n_classes
    scorer = {"make_scorer": get_scorer("f1_macro"),
              "function": _rows_accuracy}.get(scoring, scoring)
    model = MLPClassifier(hidden_layer_sizes=(16,), scoring=scorer,
                          max_iter=1, random_state=0, dtype="float64")
    model.fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    expected = get_scorer(scorer)(model, X[300:], y[300:]) \
        if isinstance(scorer, str) else scorer(model, X[300:], y[300:])
    assert model.validation_scores_ == [pytest.approx(expected, rel=1e-12)]


@pytest.mark.parametrize("scoring", ["roc_auc", "average_precision",
                                     "neg_brier_score"])
def test_binary_probability_scorers_on_validation_data(digits, scoring):
    X, y = digits
    y = y % 2
    model = MLPClassifier(hidden_layer_sizes=(16,), scoring=scoring,
                          max_iter=1, random_state=0, dtype="float64")
    model.fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    expected = get_scorer(scoring)(model, X[300:], y[300:])
    assert model.validation_scores_ == [pytest.approx(expected, rel=1e-12)]


@pytest.mark.parametrize("scoring", ["r2", "neg_mean_absolute_error"])
def test_regression_scorers_on_validation_data(scoring):
    X, y = make_regression(n_samples=400, n_features=8, n_targets=2,
                           random_state=0)
    model = MLPRegressor(hidden_layer_sizes=(16,), scoring=scoring,
                         max_iter=1, random_state=0, dtype="float64")
    model.fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    expected = get_scorer(scoring)(model, X[300:], y[300:])
    assert model.validation_scores_ == [pytest.approx(expected, rel=1e-12)]


def test_scoring_default_is_the_estimators_score(digits):
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2,
                          random_state=0, dtype="float64")
    model.fit(X[:300], y[:300], validation_data=(X[300:], y[300:]))
    assert model.validation_scores_[-1] == model.score(X[300:], y[300:])
    assert model.validation_loss_curve_[-1] == pytest.approx(
        log_loss(y[300:], model.predict_proba(X[300:])), rel=1e-10)


def test_scoring_loss_stops_on_the_validation_loss():
    # 200 units on 60 noisy rows: the validation loss reaches its lowest
    # point and rises again.
    X, y = make_regression(n_samples=80, n_features=30, noise=30.0,
                           random_state=0)
    y = y / y.std()
    kwargs = dict(hidden_layer_sizes=(200,), early_stopping=True,
                  validation_fraction=0.25, max_iter=300, n_iter_no_change=5,
                  learning_rate_init=0.01, random_state=0)
    by_loss = MLPRegressor(scoring="loss", **kwargs).fit(X, y)
    best = int(np.argmin(by_loss.validation_loss_curve_))
    # Stopped n_iter_no_change + 1 epochs after its best validation loss.
    assert by_loss.n_iter_ == best + 1 + 5 + 1 or (
        by_loss.n_iter_ == kwargs["max_iter"])
    assert by_loss.best_validation_score_ == pytest.approx(
        -min(by_loss.validation_loss_curve_))


# -- learning_rate="cosine" ---------------------------------------------
@pytest.mark.parametrize("warmup_iter", [0, 2])
def test_cosine_rate_shape(warmup_iter):
    rates = [cosine_rate(0.1, e, warmup_iter, 10) for e in range(12)]
    if warmup_iter:
        assert rates[:2] == [0.05, 0.1]
    assert rates[warmup_iter] == 0.1
    assert all(a > b for a, b in zip(rates[warmup_iter:9],
                                     rates[warmup_iter + 1:10]))
    assert rates[9] > 0 and rates[10] == rates[11] == 0


@pytest.mark.parametrize("warmup_iter", [0, 2])
def test_cosine_sgd_is_a_chain_of_constant_epochs(digits, warmup_iter):
    # Without momentum an SGD epoch depends on the weights and its rate
    # only: the cosine fit equals one-epoch fits at the scheduled rates.
    X, y = digits
    common = dict(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0,
                  batch_size=64, random_state=0, dtype="float64",
                  shuffle=False)
    cosine = MLPClassifier(learning_rate="cosine", learning_rate_init=0.2,
                           warmup_iter=warmup_iter, max_iter=6,
                           n_iter_no_change=100, **common).fit(X, y)
    chained = MLPClassifier(max_iter=1, warm_start=True, **common)
    for epoch in range(6):
        chained.set_params(
            learning_rate_init=cosine_rate(0.2, epoch, warmup_iter, 6))
        chained.fit(X, y)
    for a, b in zip(cosine.coefs_ + cosine.intercepts_,
                    chained.coefs_ + chained.intercepts_):
        assert_array_equal(a, b)


def _rates_seen(monkeypatch, module, name):
    """Record the hyper-parameter vector of every epoch's optimizer."""
    from fastbp._kernels._config import LEARNING_RATE
    seen = []
    original = getattr(module, name)

    def recording(*args):
        state = next(a for a in args if hasattr(a, "hyper"))
        seen.append(float(state.hyper[LEARNING_RATE]))
        return original(*args)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_cosine_adam_scales_the_step_size(digits, monkeypatch):
    import fastbp._mlp
    seen = _rates_seen(monkeypatch, fastbp._mlp, "_run_epoch")
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(8,), learning_rate="cosine",
                          warmup_iter=1, learning_rate_init=0.01,
                          max_iter=5, random_state=0,
                          dtype="float64").fit(X, y)
    assert seen == [pytest.approx(cosine_rate(0.01, e, 1, 5), rel=1e-15)
                    for e in range(5)]
    t = model._optimizer.t
    assert model._optimizer.learning_rate == pytest.approx(
        cosine_rate(0.01, 4, 1, 5) * np.sqrt(1 - 0.999 ** t)
        / (1 - 0.9 ** t))


def test_cosine_schedule_goes_on_over_partial_fit(digits, monkeypatch):
    import fastbp._mlp
    seen = _rates_seen(monkeypatch, fastbp._mlp, "_run_epoch")
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(8,), learning_rate="cosine",
                          learning_rate_init=0.01, max_iter=4,
                          random_state=0)
    for _ in range(5):
        model.partial_fit(X, y, classes=np.arange(10))
    assert seen == [pytest.approx(cosine_rate(0.01, e, 0, 4), rel=1e-6)
                    for e in range(5)]


# -- weight_decay -------------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_weight_decay_is_decoupled(digits, solver):
    # One step: W1 = W0 (1 - lr wd) + u with the same update u as without
    # decay (the gradient, L2 term included, is taken at W0).
    X, y = digits
    lr, wd = 0.05, 0.3
    kwargs = dict(solver=solver, learning_rate_init=lr, alpha=1e-3,
                  momentum=0.0)
    decayed = _one_step(X, y, weight_decay=wd, **kwargs)
    plain = _one_step(X, y, **kwargs)
    W0 = _initial_coefs("auto", [64, 7, 10], 3)
    for a, b, w0 in zip(decayed.coefs_, plain.coefs_, W0):
        assert_allclose(a - b, -lr * wd * w0, rtol=1e-9, atol=1e-14)
    for a, b in zip(decayed.intercepts_, plain.intercepts_):
        assert_array_equal(a, b)


def test_weight_decay_shrinks_weights(digits):
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0)
    plain = MLPClassifier(**kwargs).fit(X, y)
    decayed = MLPClassifier(weight_decay=10.0, **kwargs).fit(X, y)
    norm = lambda m: sum(float((c ** 2).sum()) for c in m.coefs_)  # noqa: E731
    assert norm(decayed) < 0.8 * norm(plain)


# -- max_grad_norm ------------------------------------------------------
def _clip_fit(X, y, hidden, **params):
    """A float64 model after one full-batch step from the he_normal draw
    (zero intercepts), unshuffled."""
    return MLPClassifier(hidden_layer_sizes=hidden, batch_size=X.shape[0],
                         max_iter=1, shuffle=False, random_state=3,
                         init="he_normal", dtype="float64", **params).fit(X, y)


def _clipped_step(X, y, hidden, solver, lr, alpha, max_grad_norm,
                  l2_in_norm=True):
    """That step in numpy: scikit-learn's gradient (L2 term included),
    clipped as torch.nn.utils.clip_grad_norm_, then SGD (Nesterov, momentum
    0.9, from zero velocity) or Adam (t = 1). ``l2_in_norm=False`` clips the
    data term alone and adds the L2 term after (the alternative not taken).

    Returns (coefs, intercepts, norm before clipping).
    """
    units = [X.shape[1], *hidden, 10]
    coefs = _initial_coefs("he_normal", units, 3)
    intercepts = [np.zeros(n) for n in units[1:]]
    Y = np.eye(10)[y]
    _, gW, gb = reference.loss_and_grads(coefs, intercepts, X, Y, "relu",
                                         "softmax", alpha)
    if not l2_in_norm:
        gW = [g - alpha * W / len(X) for g, W in zip(gW, coefs)]
    grads, norm = reference.clip_grad_norm(gW + gb, max_grad_norm)
    if not l2_in_norm:
        grads = [g + alpha * W / len(X) for g, W in zip(grads, coefs)] + \
            grads[len(coefs):]
    params = coefs + intercepts
    if solver == "sgd":
        new = [reference.sgd_step(p, g, 0.0, lr, 0.9, True)[0]
               for p, g in zip(params, grads)]
    else:
        new = [reference.adam_step(p, g, 0.0, 0.0, 1, lr, 0.9, 0.999, 1e-8)[0]
               for p, g in zip(params, grads)]
    return new[:len(coefs)], new[len(coefs):], norm


# (7,): every task runs in turn; (200,): 360 x 14,800 multiply-adds, both
# steps of the batch in parallel (thresholds in fastbp/_kernels/_config.py).
@pytest.mark.parametrize("hidden", [(7,), (200,)])
@pytest.mark.parametrize("solver, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_max_grad_norm_matches_numpy(digits, hidden, solver, lr):
    X, y = digits
    alpha = 1e-2
    _, _, norm = _clipped_step(X, y, hidden, solver, lr, alpha, np.inf)
    bound = 0.3 * norm  # clips: c is about 0.3
    coefs, intercepts, _ = _clipped_step(X, y, hidden, solver, lr, alpha,
                                         bound)
    model = _clip_fit(X, y, hidden, solver=solver, learning_rate_init=lr,
                      alpha=alpha, max_grad_norm=bound)
    for got, ref in zip(model.coefs_ + model.intercepts_, coefs + intercepts):
        assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    plain = _clip_fit(X, y, hidden, solver=solver, learning_rate_init=lr,
                      alpha=alpha)
    assert not np.allclose(plain.coefs_[0], model.coefs_[0], rtol=1e-6)
    # The loss is the batch's, taken before the step.
    assert model.loss_ == pytest.approx(plain.loss_, rel=1e-12)


@pytest.mark.parametrize("solver, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_max_grad_norm_includes_the_l2_term(digits, solver, lr):
    # The norm is that of the gradient the step takes, alpha W / n
    # included (alpha is part of scikit-learn's loss), as clipping the
    # gradient of a PyTorch loss with its L2 penalty does.
    X, y = digits
    alpha, bound = 20.0, 0.05
    kwargs = dict(solver=solver, lr=lr, alpha=alpha, max_grad_norm=bound)
    included = _clipped_step(X, y, (7,), **kwargs)
    excluded = _clipped_step(X, y, (7,), l2_in_norm=False, **kwargs)
    assert not np.allclose(included[0][0], excluded[0][0], rtol=1e-4)
    model = _clip_fit(X, y, (7,), solver=solver, learning_rate_init=lr,
                      alpha=alpha, max_grad_norm=bound)
    assert_allclose(model.coefs_[0], included[0][0], rtol=1e-10, atol=1e-13)


def test_reference_clipping_is_torchs():
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(0)
    grads = [rng.randn(5, 3), rng.randn(3)]
    for max_norm in (0.5, 100.0):
        tensors = [torch.zeros(g.shape, dtype=torch.float64,
                               requires_grad=True) for g in grads]
        for t, g in zip(tensors, grads):
            t.grad = torch.from_numpy(g.copy())
        norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        ours, our_norm = reference.clip_grad_norm(grads, max_norm)
        assert our_norm == pytest.approx(float(norm), rel=1e-14)
        for t, g in zip(tensors, ours):
            assert_allclose(t.grad.numpy(), g, rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_grad_norm_never_reached_is_no_clipping(digits, solver, dtype):
    # The two-pass step with a bound no batch reaches: the same weights,
    # bit for bit, as the one-pass step without clipping.
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(200,), solver=solver, batch_size=100,
                  max_iter=3, random_state=0, dtype=dtype)
    plain = MLPClassifier(**kwargs).fit(X, y)
    huge = MLPClassifier(max_grad_norm=1e30, **kwargs).fit(X, y)
    for a, b in zip(plain.coefs_ + plain.intercepts_,
                    huge.coefs_ + huge.intercepts_):
        assert_array_equal(a, b)
    assert plain.loss_curve_ == huge.loss_curve_


def test_clipped_sgd_steps_have_the_bound_as_length(digits):
    # Plain SGD, one batch per partial_fit: each step is -lr * g, g clipped
    # to norm max_grad_norm (* ||g|| / (||g|| + 1e-6)) when it was longer.
    X, y = digits
    lr, bound = 0.5, 0.01
    model = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd",
                         momentum=0.0, learning_rate_init=lr,
                         batch_size=len(X), max_grad_norm=bound,
                         random_state=0, dtype="float64")
    flat = lambda m: np.concatenate(  # noqa: E731
        [a.ravel() for a in m.coefs_ + m.intercepts_])
    model.partial_fit(X, y.astype(float))
    for _ in range(3):
        before = flat(model)
        model.partial_fit(X, y.astype(float))
        assert np.linalg.norm(flat(model) - before) == pytest.approx(
            lr * bound, rel=1e-6)


def test_max_grad_norm_with_sparse_X_equals_dense(digits):
    import scipy.sparse as sp
    X, y = digits
    kwargs = dict(hidden_layer_sizes=(16,), max_grad_norm=0.5, max_iter=3,
                  random_state=0, dtype="float64")
    dense = MLPClassifier(**kwargs).fit(X, y)
    sparse = MLPClassifier(**kwargs).fit(sp.csr_matrix(X), y)
    for a, b in zip(dense.coefs_ + dense.intercepts_,
                    sparse.coefs_ + sparse.intercepts_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- bad values ---------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    ({"scoring": 3}, "scoring"),
    ({"scoring": "no_such_scorer"}, "no_such_scorer"),
    ({"init": "xavier"}, "init"),
    ({"warmup_iter": -1}, "warmup_iter"),
    ({"warmup_iter": 1.5}, "warmup_iter"),
    ({"warmup_iter": 2}, "warmup_iter is the linear warm-up"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"weight_decay": 0.1, "solver": "lbfgs"}, "weight_decay is applied"),
    ({"learning_rate": "exponential"}, "learning_rate"),
    ({"max_grad_norm": 0.0}, "max_grad_norm"),
    ({"max_grad_norm": -1.0}, "max_grad_norm"),
    ({"max_grad_norm": "1"}, "max_grad_norm"),
    ({"max_grad_norm": 1.0, "solver": "lbfgs"}, "max_grad_norm clips"),
])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_bad_values_are_refused(digits, Estimator, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        Estimator(max_iter=1, **params).fit(X, y)


# -- the estimator contract with the options set -------------------------
DROPOUT_MASKS = (
    "dropout draws a mask per training row: a row repeated twice gets two "
    "masks, a row weighted 2 one, so the fits differ by design")


def _expected_failures(estimator):
    if estimator.dropout:
        return {"check_sample_weight_equivalence_on_dense_data":
                DROPOUT_MASKS,
                "check_sample_weight_equivalence_on_sparse_data":
                DROPOUT_MASKS}
    return {}


@parametrize_with_checks(
    [MLPClassifier(max_iter=100, init="he_uniform", learning_rate="cosine",
                   warmup_iter=1, weight_decay=1e-4, dtype="float64"),
     MLPClassifier(max_iter=100, dropout=0.2, dtype="float64"),
     MLPRegressor(max_iter=100, init="glorot_normal", solver="sgd",
                  learning_rate="cosine", weight_decay=1e-3,
                  max_grad_norm=1.0, scoring="loss", dtype="float64")],
    expected_failed_checks=_expected_failures)
def test_sklearn_compatible_with_options(estimator, check):
    check(estimator)


# -- the same options on fastbp.dask ---------------------------------------
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed")
    from .cluster import local_cluster
    with local_cluster(2, set_as_default=False) as client, \
            client.as_current():
        yield client


def _dask_digits(digits, rows=90):
    import dask.array as da
    X, y = digits
    return (da.from_array(X[:300], chunks=(rows, -1)),
            da.from_array(y[:300], chunks=rows),
            da.from_array(X[300:], chunks=(rows, -1)),
            da.from_array(y[300:], chunks=rows))


def test_dask_init_and_weight_decay(client, digits):
    import fastbp.dask
    X, y = digits
    Xd, yd, _, _ = _dask_digits(digits, rows=300)
    kwargs = dict(hidden_layer_sizes=(7,), batch_size=300, max_iter=1,
                  shuffle=False, random_state=3, dtype="float64",
                  solver="sgd", momentum=0.0, learning_rate_init=0.05,
                  init="he_normal")
    decayed = fastbp.dask.MLPClassifier(weight_decay=0.3, **kwargs)
    plain = fastbp.dask.MLPClassifier(**kwargs)
    decayed.fit(Xd, yd)
    plain.fit(Xd, yd)
    # Same data in one block, one step: the in-memory fit's weights.
    memory = _one_step(X[:300], y[:300], weight_decay=0.3, solver="sgd",
                       momentum=0.0, learning_rate_init=0.05,
                       init="he_normal")
    for a, b in zip(decayed.coefs_, memory.coefs_):
        assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    W0 = _initial_coefs("he_normal", [64, 7, 10], 3)
    for a, b, w0 in zip(decayed.coefs_, plain.coefs_, W0):
        assert_allclose(a - b, -0.05 * 0.3 * w0, rtol=1e-9, atol=1e-14)
    assert decayed.to_fastbp().get_params()["weight_decay"] == 0.3


@pytest.mark.parametrize("solver, lr", [("sgd", 0.1), ("adam", 0.01)])
def test_dask_max_grad_norm(client, digits, solver, lr):
    # Each block's local steps clip as the in-memory steps do: one block,
    # one step, the numpy reference's weights.
    import fastbp.dask
    X, y = digits
    Xd, yd, _, _ = _dask_digits(digits, rows=300)
    _, _, norm = _clipped_step(X[:300], y[:300], (7,), solver, lr, 1e-2,
                               np.inf)
    bound = 0.3 * norm
    model = fastbp.dask.MLPClassifier(
        hidden_layer_sizes=(7,), batch_size=300, max_iter=1, shuffle=False,
        random_state=3, init="he_normal", dtype="float64", solver=solver,
        learning_rate_init=lr, alpha=1e-2, max_grad_norm=bound)
    model.fit(Xd, yd)
    coefs, intercepts, _ = _clipped_step(X[:300], y[:300], (7,), solver, lr,
                                         1e-2, bound)
    for got, ref in zip(model.coefs_ + model.intercepts_, coefs + intercepts):
        assert_allclose(got, ref, rtol=1e-10, atol=1e-13)
    assert model.to_fastbp().get_params()["max_grad_norm"] == bound


def test_dask_max_grad_norm_refused_with_lbfgs(client, digits):
    import fastbp.dask
    Xd, yd, _, _ = _dask_digits(digits)
    with pytest.raises(ValueError, match="max_grad_norm clips"):
        fastbp.dask.MLPClassifier(solver="lbfgs", max_grad_norm=1.0,
                                  max_iter=1).fit(Xd, yd)


@pytest.mark.parametrize("scoring", ["loss", "neg_log_loss", "function"])
def test_dask_scoring(client, digits, scoring):
    """On dask arrays too: a scorer name's scorer reads the validation rows'
    outputs gathered from the workers, a function of the user's the rows."""
    import fastbp.dask
    X, y = digits
    Xd, yd, Xv, yv = _dask_digits(digits)
    scorer = _rows_accuracy if scoring == "function" else scoring
    model = fastbp.dask.MLPClassifier(hidden_layer_sizes=(8,), max_iter=2,
                                      scoring=scorer, random_state=0,
                                      dtype="float64", local_batches=1)
    model.fit(Xd, yd, validation_data=(Xv, yv))
    if scoring == "loss":
        assert_array_equal(model.validation_scores_,
                           -np.asarray(model.validation_loss_curve_))
    else:
        assert model.validation_scores_[-1] == pytest.approx(
            get_scorer(scorer)(model.to_fastbp(), X[300:], y[300:]),
            rel=1e-12)


def test_dask_cosine_schedule(client, digits, monkeypatch):
    import fastbp.dask._trainer as trainer
    seen = []
    settings = trainer.optimizer_settings

    def recording(optimizer):
        from fastbp._kernels._config import LEARNING_RATE
        code, hyper = settings(optimizer)
        seen.append(float(hyper[LEARNING_RATE]))
        return code, hyper

    monkeypatch.setattr(trainer, "optimizer_settings", recording)
    Xd, yd, _, _ = _dask_digits(digits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trainer.MLPClassifier(hidden_layer_sizes=(8,), max_iter=4,
                              learning_rate="cosine", warmup_iter=1,
                              learning_rate_init=0.01, random_state=0,
                              dtype="float64").fit(Xd, yd)
    assert seen == [pytest.approx(cosine_rate(0.01, e, 1, 4), rel=1e-15)
                    for e in range(4)]


# -- the fitted model stays a plain MLP --------------------------------------
def test_onnx_round_trip_after_options(digits):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    import onnxruntime as ort
    from fastbp.onnx import to_onnx
    X, y = digits
    model = MLPClassifier(hidden_layer_sizes=(12,), init="he_normal",
                          learning_rate="cosine", warmup_iter=2,
                          weight_decay=1e-3, scoring="loss", dropout=0.2,
                          max_grad_norm=1.0, early_stopping=True, max_iter=20,
                          random_state=0).fit(X, y)
    onx = to_onnx(model, options={"zipmap": False})
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, {"X": X.astype(np.float32)})))
    assert_array_equal(out["label"], model.predict(X))
    assert_allclose(out["probabilities"], model.predict_proba(X), rtol=1e-4,
                    atol=1e-6)


def test_defaults_are_scikit_learns_names():
    assert fastbp.MLPClassifier().get_params()["init"] == "auto"
    for name, value in [("scoring", None), ("warmup_iter", 0),
                        ("weight_decay", 0.0), ("max_grad_norm", None)]:
        assert fastbp.MLPRegressor().get_params()[name] == value
