"""Training losses scikit-learn's MLP does not have: MLPRegressor's 'huber',
'absolute_error' and 'quantile' losses, and MLPClassifier's
label_smoothing. Each changes training only (the fitted model is a plain
MLP), and each default trains exactly as before."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.callback import FitCallback
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss, mean_absolute_error, mean_pinball_loss
from sklearn.utils._param_validation import InvalidParameterError

from fastbp import MLPClassifier, MLPRegressor

from . import reference

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

DTYPES = ["float32", "float64"]
ROBUST = [dict(loss="huber"), dict(loss="huber", huber_delta=0.3),
          dict(loss="absolute_error"), dict(loss="quantile", quantile=0.8)]


@pytest.fixture(scope="module")
def heteroscedastic():
    """y = x sin(x) + noise whose scale grows with x; 600 rows."""
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 6, 600)
    y = x * np.sin(x) + (0.1 + 0.3 * x) * rng.randn(600)
    return x.reshape(-1, 1), y


@pytest.fixture(scope="module")
def classes():
    return make_classification(n_samples=300, n_features=6, n_informative=4,
                               n_classes=3, random_state=0)


def _small(**kw):
    params = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0,
                  batch_size=50, learning_rate_init=0.01)
    params.update(kw)
    return params


def _assert_same_model(a, b):
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(x, y)


# ------------------------------------------------------------- validation
BAD = [
    (MLPRegressor, dict(loss="pinball"), InvalidParameterError, "loss"),
    (MLPRegressor, dict(loss="huber", huber_delta=0), InvalidParameterError,
     "huber_delta"),
    (MLPRegressor, dict(loss="huber", huber_delta=-1.0),
     InvalidParameterError, "huber_delta"),
    (MLPRegressor, dict(loss="huber", huber_delta="1"),
     InvalidParameterError, "huber_delta"),
    (MLPRegressor, dict(loss="quantile", quantile=0.0),
     InvalidParameterError, "quantile"),
    (MLPRegressor, dict(loss="quantile", quantile=1.0),
     InvalidParameterError, "quantile"),
    (MLPRegressor, dict(loss="quantile", quantile=1.5),
     InvalidParameterError, "quantile"),
    (MLPRegressor, dict(loss="quantile", quantile="0.5"),
     InvalidParameterError, "quantile"),
    (MLPRegressor, dict(loss="quantile"), ValueError,
     "loss='quantile' needs the quantile"),
    (MLPRegressor, dict(loss="absolute_error", solver="lbfgs"), ValueError,
     "not differentiable.*solver='adam'"),
    (MLPRegressor, dict(loss="quantile", quantile=0.5, solver="lbfgs"),
     ValueError, "not differentiable"),
    (MLPClassifier, dict(label_smoothing=1.0), InvalidParameterError,
     "label_smoothing"),
    (MLPClassifier, dict(label_smoothing=-0.1), InvalidParameterError,
     "label_smoothing"),
    (MLPClassifier, dict(label_smoothing=None), InvalidParameterError,
     "label_smoothing"),
    (MLPClassifier, dict(label_smoothing="0.1"), InvalidParameterError,
     "label_smoothing"),
]


@pytest.mark.parametrize("estimator,params,error,match", BAD,
                         ids=[str(p) for _, p, _, _ in BAD])
def test_bad_values_are_rejected(classes, estimator, params, error, match):
    X, y = classes
    with pytest.raises(error, match=match):
        estimator(**_small(**params)).fit(X, y)


def test_quantile_is_required_by_partial_fit_too(classes):
    X, y = classes
    with pytest.raises(ValueError, match="needs the quantile"):
        MLPRegressor(loss="quantile").partial_fit(X, y)


# --------------------------------------------------- defaults and limits
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_huber_within_delta_trains_as_squared_error(heteroscedastic, dtype,
                                                    solver, n_outputs):
    # Within delta Huber's loss is the half squared error and its output
    # error p - y: the same stochastic steps, bit for bit. The loss values
    # agree to rounding (float32: the compiler may evaluate the two
    # losses' float64 terms differently, ~1e-9 apart), and L-BFGS's line
    # search, which reads them, to rounding too.
    X, y = heteroscedastic
    Y = y if n_outputs == 1 else np.column_stack(
        [y * (k + 1) for k in range(n_outputs)])
    params = _small(solver=solver, dtype=dtype)
    squared = MLPRegressor(**params).fit(X, Y)
    huber = MLPRegressor(loss="huber", huber_delta=1e30, **params).fit(X, Y)
    if solver == "lbfgs":
        for a, b in zip(huber.coefs_ + huber.intercepts_,
                        squared.coefs_ + squared.intercepts_):
            assert_allclose(a, b, rtol=1e-3 if dtype == "float32" else 1e-9,
                            atol=1e-5 if dtype == "float32" else 1e-12)
    else:
        _assert_same_model(huber, squared)
    assert_allclose(huber.loss_, squared.loss_,
                    rtol=1e-5 if dtype == "float32" else 1e-9)
    assert huber.n_iter_ == squared.n_iter_


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_label_smoothing_zero_is_the_default(classes, solver):
    X, y = classes
    _assert_same_model(
        MLPClassifier(**_small(solver=solver, label_smoothing=0.0)).fit(X, y),
        MLPClassifier(**_small(solver=solver)).fit(X, y))


@pytest.mark.parametrize("params", ROBUST + [dict(label_smoothing=0.2)],
                         ids=str)
def test_the_fitted_model_is_a_plain_mlp(classes, params):
    X, y = classes
    estimator = MLPClassifier if "label_smoothing" in params else MLPRegressor
    model = estimator(**_small(**params)).fit(X, y)
    assert model.out_activation_ == ("softmax" if estimator is MLPClassifier
                                     else "identity")
    # Prediction is the plain forward pass.
    acts = reference.forward([c.astype(float) for c in model.coefs_],
                             [b.astype(float) for b in model.intercepts_],
                             X, "relu", model.out_activation_)
    expected = acts[-1] if estimator is MLPClassifier else acts[-1].ravel()
    got = (model.predict_proba(X) if estimator is MLPClassifier
           else model.predict(X))
    assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------- what they learn
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
def test_quantile_model_has_its_coverage(heteroscedastic, dtype, quantile):
    X, y = heteroscedastic
    model = MLPRegressor(**_small(
        loss="quantile", quantile=quantile, hidden_layer_sizes=(32,),
        max_iter=200, dtype=dtype)).fit(X, y)
    coverage = np.mean(y <= model.predict(X))
    assert abs(coverage - quantile) < 0.05


def test_absolute_error_fits_the_median():
    # Skewed noise: its median is log 2 = 0.69, its mean 1.
    rng = np.random.RandomState(1)
    X = rng.uniform(-2, 2, (800, 1))
    y = X[:, 0] + rng.exponential(1.0, 800)
    params = _small(hidden_layer_sizes=(16,), max_iter=200)
    median = MLPRegressor(loss="absolute_error", **params).fit(X, y)
    mean = MLPRegressor(**params).fit(X, y)
    grid = np.linspace(-1.5, 1.5, 50).reshape(-1, 1)
    assert np.abs(median.predict(grid) - grid[:, 0] - np.log(2)).mean() < 0.1
    assert np.abs(mean.predict(grid) - grid[:, 0] - 1.0).mean() < 0.1


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_huber_resists_gross_outliers(solver):
    rng = np.random.RandomState(2)
    X = rng.uniform(-3, 3, (600, 1))
    clean = np.sin(X[:, 0])
    y = clean + 0.1 * rng.randn(600)
    outliers = rng.rand(600) < 0.05
    y[outliers] += rng.choice([-1, 1], outliers.sum()) * 20
    params = _small(hidden_layer_sizes=(32,), max_iter=300, solver=solver)
    huber = MLPRegressor(loss="huber", huber_delta=0.5, **params).fit(X, y)
    squared = MLPRegressor(**params).fit(X, y)
    err_huber = np.sqrt(np.mean((huber.predict(X) - clean) ** 2))
    err_squared = np.sqrt(np.mean((squared.predict(X) - clean) ** 2))
    assert err_huber < 0.5 * err_squared


@pytest.mark.parametrize("out,y_kind,n_classes", [
    ("softmax", "multiclass", 3), ("logistic", "binary", 2),
    ("logistic", "multilabel", 2)])
def test_label_smoothing_probabilities_approach_the_soft_targets(
        out, y_kind, n_classes):
    # Separable classes, a flexible network, L-BFGS to convergence: the
    # predicted probability of the true class tends to 1 - e + e / K.
    rng = np.random.RandomState(0)
    X = rng.randn(300, 2)
    if y_kind == "multiclass":
        y = np.digitize(X[:, 0], [-0.5, 0.5])
    elif y_kind == "binary":
        y = (X[:, 0] > 0).astype(int)
    else:
        y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    e = 0.3
    model = MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs",
                          max_iter=1000, alpha=0, tol=1e-10, random_state=0,
                          dtype="float64", label_smoothing=e).fit(X, y)
    assert model.out_activation_ == out
    proba = model.predict_proba(X)
    if y_kind == "multiclass":
        true = proba[np.arange(len(y)), y]
    elif y_kind == "binary":
        true = proba[np.arange(len(y)), y]
    else:
        true = np.where(y == 1, proba, 1 - proba)
    # Far from the class boundaries.
    far = (np.abs(X[:, 0] - 0.5) > 0.3) & (np.abs(X[:, 0] + 0.5) > 0.3)
    if y_kind != "multiclass":
        far = np.abs(X[:, 0]) > 0.3
    if y_kind == "multilabel":
        true, far = true[:, 0], far
    assert_allclose(np.median(true[far]), 1 - e + e / n_classes, atol=0.02)
    # The training loss is the cross-entropy of the soft targets: at least
    # their entropy.
    soft = np.array([1 - e + e / n_classes] + [e / n_classes] * (n_classes - 1))
    entropy = -(soft * np.log(soft)).sum() * (2 if y_kind == "multilabel"
                                              else 1)
    assert model.loss_ >= entropy


# ------------------------------------------------- loss values (loss_ etc.)
def _numpy_loss(params, y, p):
    if params["loss"] == "huber":
        return reference.output_loss("huber", y.reshape(len(y), -1),
                                     p.reshape(len(y), -1), None,
                                     params.get("huber_delta", 1.0))
    if params["loss"] == "absolute_error":
        return mean_absolute_error(y, p)
    return mean_pinball_loss(y, p, alpha=params["quantile"])


@pytest.mark.parametrize("params", ROBUST, ids=str)
def test_validation_loss_is_the_mean_loss(heteroscedastic, params):
    X, y = heteroscedastic
    model = MLPRegressor(**_small(dtype="float64", **params)).fit(
        X[:400], y[:400], validation_data=(X[400:], y[400:]))
    assert_allclose(model.validation_loss_curve_[-1],
                    _numpy_loss(params, y[400:], model.predict(X[400:])),
                    rtol=1e-10)


@pytest.mark.parametrize("huber_delta", [0.3, 1.0])
def test_lbfgs_huber_loss_is_mean_huber_plus_l2(heteroscedastic, huber_delta):
    X, y = heteroscedastic
    sw = np.random.RandomState(0).uniform(0.5, 2, len(y))
    model = MLPRegressor(**_small(solver="lbfgs", dtype="float64",
                                  loss="huber", huber_delta=huber_delta,
                                  alpha=0.01)).fit(X, y, sample_weight=sw)
    data = reference.output_loss("huber", y[:, None],
                                 model.predict(X)[:, None], sw, huber_delta)
    l2 = 0.5 * 0.01 * sum((W ** 2).sum() for W in model.coefs_) / sw.sum()
    assert_allclose(model.loss_, data + l2, rtol=1e-8)


def test_label_smoothing_validation_uses_the_true_labels(classes):
    X, y = classes
    model = MLPClassifier(**_small(dtype="float64", label_smoothing=0.2)).fit(
        X[:200], y[:200], validation_data=(X[200:], y[200:]))
    assert_allclose(model.validation_loss_curve_[-1],
                    log_loss(y[200:], model.predict_proba(X[200:])),
                    rtol=1e-10)


# ------------------------------------------- with the estimators' options
def _estimator_and_data(params, classes, heteroscedastic):
    if "label_smoothing" in params:
        return MLPClassifier, classes
    return MLPRegressor, heteroscedastic


OPTIONS = ROBUST + [dict(label_smoothing=0.1)]


@pytest.mark.parametrize("params", OPTIONS, ids=str)
def test_sparse_x_gives_the_dense_fit(classes, heteroscedastic, params):
    estimator, (X, y) = _estimator_and_data(params, classes, heteroscedastic)
    X = np.column_stack([X, np.zeros((len(X), 3))])
    dense = estimator(**_small(dtype="float64", **params)).fit(X, y)
    sparse = estimator(**_small(dtype="float64", **params)).fit(
        sp.csr_matrix(X), y)
    for a, b in zip(dense.coefs_, sparse.coefs_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("params", [dict(loss="huber"),
                                    dict(label_smoothing=0.2)], ids=str)
def test_sample_weight_is_repetition(classes, heteroscedastic, params):
    # L-BFGS: the same full-batch objective.
    estimator, (X, y) = _estimator_and_data(params, classes, heteroscedastic)
    X, y = X[:100], y[:100]
    sw = np.random.RandomState(0).randint(1, 3, len(y))
    settings = _small(dtype="float64", solver="lbfgs", max_iter=30, **params)
    weighted = estimator(**settings).fit(X, y, sample_weight=sw)
    repeated = estimator(**settings).fit(np.repeat(X, sw, axis=0),
                                         np.repeat(y, sw, axis=0))
    for a, b in zip(weighted.coefs_, repeated.coefs_):
        assert_allclose(a, b, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", OPTIONS, ids=str)
def test_partial_fit_and_warm_start(classes, heteroscedastic, params, dtype):
    estimator, (X, y) = _estimator_and_data(params, classes, heteroscedastic)
    settings = _small(dtype=dtype, max_iter=3, shuffle=False, **params)
    # Without shuffling, three partial_fit epochs are a three-epoch fit.
    incremental = estimator(**settings)
    extra = {"classes": np.unique(y)} if estimator is MLPClassifier else {}
    for _ in range(3):
        incremental.partial_fit(X, y, **extra)
    _assert_same_model(incremental, estimator(**settings).fit(X, y))
    # warm_start goes on from the fitted weights.
    warm = estimator(**dict(settings, warm_start=True)).fit(X, y)
    warm.fit(X, y)
    assert len(warm.loss_curve_) == 6
    assert warm.loss_curve_[3] < warm.loss_curve_[0]


class _StopAfter(FitCallback):
    """A FitCallback that stops training after ``n_epochs`` epochs."""

    def __init__(self, n_epochs):
        self.n_epochs, self.seen = n_epochs, 0

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.parent is None:
            return False
        self.seen += 1
        return self.seen == self.n_epochs


@pytest.mark.parametrize("params", OPTIONS, ids=str)
def test_early_stopping_and_callbacks(classes, heteroscedastic, params):
    estimator, (X, y) = _estimator_and_data(params, classes, heteroscedastic)
    model = estimator(**_small(early_stopping=True, max_iter=30, **params))
    model.set_callbacks(_StopAfter(5)).fit(X, y)
    assert model.n_iter_ == 5
    assert len(model.validation_loss_curve_) == 5
    assert np.isfinite(model.validation_loss_curve_).all()
