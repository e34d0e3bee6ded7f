"""Parity with scikit-learn beyond the defaults.

Same data, same ``random_state``, ``dtype="float64"``: fastbp's fitted
model equals scikit-learn's (``assert_same_model``: weights to 1e-6
relative, the same ``n_iter_``, ``t_``, loss curve, validation scores,
best loss and learning rate) for

* every constructor parameter at a non-default value, one case each;
* every solver x hidden activation x kind of output (binary, multiclass
  and multilabel classification; regression with one and several outputs;
  the Poisson loss);
* training continued: the regressor's ``partial_fit`` over several calls,
  ``partial_fit`` after ``fit``, and ``warm_start``.

Every fit is small (at most 200 samples, a few epochs): the grid runs in
seconds.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn import neural_network as sk
from sklearn.datasets import (load_digits, make_multilabel_classification,
                              make_regression)

import fastbp

from .test_parity import assert_same_model

N_SAMPLES = 200


def _output_data(kind):
    """Small data for one kind of output.

    Parameters
    ----------
    kind : str
        "binary", "multiclass", "multilabel", "regression",
        "multioutput" or "poisson".

    Returns
    -------
    X, y : ndarray
        ``N_SAMPLES`` rows; y's shape and values suit the kind (labels, an
        indicator matrix, real targets or counts).
    """
    if kind in ("binary", "multiclass"):
        X, y = load_digits(return_X_y=True)
        X, y = X[:N_SAMPLES] / 16, y[:N_SAMPLES]
        return X, (y % 2 if kind == "binary" else y)
    if kind == "multilabel":
        X, Y = make_multilabel_classification(
            n_samples=N_SAMPLES, n_features=12, n_classes=4, random_state=0)
        return X / X.max(), Y
    if kind in ("regression", "multioutput"):
        X, y = make_regression(
            n_samples=N_SAMPLES, n_features=12, noise=1.0,
            n_targets=1 if kind == "regression" else 3, random_state=0)
        return X / 3, y / y.std(axis=0)
    if kind == "poisson":
        rng = np.random.RandomState(0)
        X = rng.uniform(-1, 1, (N_SAMPLES, 8))
        rate = np.exp(0.3 + X @ rng.uniform(-0.5, 0.5, 8))
        return X, rng.poisson(rate).astype(float)
    raise ValueError(kind)


def _estimator_name(kind):
    classifier = kind in ("binary", "multiclass", "multilabel")
    return "MLPClassifier" if classifier else "MLPRegressor"


def _kind_params(kind):
    return {"loss": "poisson"} if kind == "poisson" else {}


def _recorded(function, *args, **kwargs):
    """Call ``function(*args, **kwargs)``; return its result and the
    warnings it raised, as (category name, message) pairs in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, [(w.category.__name__, str(w.message)) for w in caught]


def _fit_both(kind, sample_weight=None, **params):
    """Fit fastbp (float64) and scikit-learn on the data of ``kind``.

    Parameters
    ----------
    kind : str
        The kind of output, see ``_output_data``.
    sample_weight : ndarray, optional
        Passed to both fits.
    **params
        Constructor parameters of both estimators.

    Returns
    -------
    ours, ref : fitted estimators
    X : ndarray
        The training data.

    Both fits must raise the same warnings, in the same order and with the
    same messages.
    """
    X, y = _output_data(kind)
    name = _estimator_name(kind)
    params = {**_kind_params(kind), **params}
    fit_params = {} if sample_weight is None else {
        "sample_weight": sample_weight}
    ours, ours_warnings = _recorded(
        getattr(fastbp, name)(dtype="float64", **params).fit, X, y,
        **fit_params)
    ref, ref_warnings = _recorded(getattr(sk, name)(**params).fit, X, y,
                                  **fit_params)
    assert ours_warnings == ref_warnings
    return ours, ref, X


# ------------------------------------------------ one parameter at a time
# Each case: (kind, parameters); BASE fills in what a case does not set.
BASE = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=6,
            batch_size=40, learning_rate_init=0.01)

PARAMETER_CASES = {
    # Architecture and regularisation.
    "hidden_layer_sizes=(6,5)": ("multiclass",
                                 dict(hidden_layer_sizes=(6, 5))),
    "hidden_layer_sizes=7 (an int)": ("binary", dict(hidden_layer_sizes=7)),
    "hidden_layer_sizes=() (no hidden layer)": (
        "multiclass", dict(hidden_layer_sizes=())),
    "hidden_layer_sizes=()-lbfgs": ("binary", dict(hidden_layer_sizes=(),
                                                   solver="lbfgs",
                                                   max_iter=10)),
    "alpha=0.5": ("multiclass", dict(alpha=0.5)),
    "alpha=0": ("regression", dict(alpha=0.0)),
    "alpha=0.5-lbfgs": ("regression",
                        dict(solver="lbfgs", alpha=0.5, max_iter=15)),
    # Mini-batches and their order.
    "batch_size=1-sgd": ("binary", dict(solver="sgd", batch_size=1,
                                        max_iter=2, learning_rate_init=0.001)),
    "batch_size=37 (last batch short)": ("multiclass", dict(batch_size=37)),
    "batch_size=auto (all 200)": ("regression", dict(batch_size="auto")),
    "shuffle=False-adam": ("multiclass", dict(shuffle=False)),
    "shuffle=False-sgd": ("regression", dict(solver="sgd", shuffle=False)),
    "random_state=7": ("multiclass", dict(random_state=7)),
    # Learning rates and schedules.
    "learning_rate_init=0.1-adam": ("multiclass",
                                    dict(learning_rate_init=0.1)),
    "learning_rate_init=0.001-sgd": ("regression",
                                     dict(solver="sgd",
                                          learning_rate_init=0.001)),
    "learning_rate=invscaling-power_t=0.25": (
        "multiclass", dict(solver="sgd", learning_rate="invscaling",
                           power_t=0.25, learning_rate_init=0.1)),
    "learning_rate=invscaling-power_t=0": (
        "regression", dict(solver="sgd", learning_rate="invscaling",
                           power_t=0.0)),
    "power_t=0.1 unused by constant": ("regression",
                                       dict(solver="sgd", power_t=0.1)),
    "learning_rate=adaptive": (
        # tol large: the rate is divided by 5 several times.
        "multiclass", dict(solver="sgd", learning_rate="adaptive", tol=0.5,
                           n_iter_no_change=1, max_iter=12)),
    "learning_rate=adaptive-stops-when-tiny": (
        "regression", dict(solver="sgd", learning_rate="adaptive", tol=10.0,
                           n_iter_no_change=1, learning_rate_init=1e-4,
                           max_iter=30)),
    # SGD's momentum.
    "momentum=0.5": ("multiclass", dict(solver="sgd", momentum=0.5)),
    "momentum=0": ("regression", dict(solver="sgd", momentum=0.0)),
    "momentum=0.99": ("binary", dict(solver="sgd", momentum=0.99,
                                     learning_rate_init=0.001)),
    "nesterovs_momentum=False": ("multiclass",
                                 dict(solver="sgd", nesterovs_momentum=False)),
    "nesterovs_momentum=False-momentum=0.7": (
        "regression", dict(solver="sgd", nesterovs_momentum=False,
                           momentum=0.7)),
    # Adam.
    "beta_1=0.5": ("multiclass", dict(beta_1=0.5)),
    "beta_1=0": ("regression", dict(beta_1=0.0)),
    "beta_2=0.9": ("multiclass", dict(beta_2=0.9)),
    # (beta_2=0 makes steps of m / |g|: training diverges and amplifies
    # rounding differences beyond any tolerance; not a useful case.)
    "beta_2=0.5": ("binary", dict(beta_2=0.5)),
    "epsilon=1e-3": ("multiclass", dict(epsilon=1e-3)),
    "epsilon=1": ("regression", dict(epsilon=1.0)),
    # Stopping.
    "max_iter=1": ("multiclass", dict(max_iter=1)),
    "tol=0": ("regression", dict(tol=0.0, max_iter=10)),
    "tol=0.05-n_iter_no_change=2 (stops)": (
        "multiclass", dict(tol=0.05, n_iter_no_change=2, max_iter=50)),
    "n_iter_no_change=1": ("regression", dict(tol=0.02, n_iter_no_change=1,
                                              max_iter=50)),
    "n_iter_no_change=inf": (
        # tol so large that no epoch improves: only max_iter stops.
        "multiclass", dict(tol=10.0, n_iter_no_change=np.inf, max_iter=12)),
    "n_iter_no_change=inf-adaptive": (
        "regression", dict(solver="sgd", learning_rate="adaptive", tol=10.0,
                           n_iter_no_change=np.inf, max_iter=12)),
    "n_iter_no_change=inf-early_stopping": (
        "multiclass", dict(early_stopping=True, tol=10.0,
                           n_iter_no_change=np.inf, max_iter=12)),
    # Early stopping and its validation split.
    "early_stopping-binary": ("binary", dict(early_stopping=True,
                                             max_iter=30)),
    "early_stopping-multiclass-sgd": ("multiclass",
                                      dict(solver="sgd", early_stopping=True,
                                           max_iter=30)),
    "early_stopping-multilabel (not stratified)": (
        "multilabel", dict(early_stopping=True, max_iter=30)),
    "early_stopping-regression": ("regression",
                                  dict(early_stopping=True, max_iter=30)),
    "early_stopping-multioutput": ("multioutput",
                                   dict(early_stopping=True, max_iter=30)),
    "early_stopping-poisson": ("poisson",
                               dict(early_stopping=True, max_iter=30)),
    "early_stopping-stops-tol=0.1": (
        "multiclass", dict(early_stopping=True, tol=0.1, n_iter_no_change=2,
                           max_iter=50)),
    "validation_fraction=0.3": ("multiclass",
                                dict(early_stopping=True,
                                     validation_fraction=0.3, max_iter=20)),
    "validation_fraction=0.05-regression": (
        "regression", dict(early_stopping=True, validation_fraction=0.05,
                           max_iter=20)),
    "validation_fraction=0.3 unused without early_stopping": (
        "multiclass", dict(validation_fraction=0.3)),
    # L-BFGS.
    "lbfgs-max_iter=5": ("multiclass", dict(solver="lbfgs", max_iter=5)),
    "lbfgs-max_fun=12 (stops before max_iter)": (
        "multiclass", dict(solver="lbfgs", max_fun=12, max_iter=200)),
    "lbfgs-max_fun=1": ("regression", dict(solver="lbfgs", max_fun=1,
                                           max_iter=200)),
    "lbfgs-tol=1e-2 (stops on the gradient)": (
        "regression", dict(solver="lbfgs", tol=1e-2, max_iter=500)),
    "lbfgs-batch_size-and-learning_rate unused": (
        "binary", dict(solver="lbfgs", max_iter=10, batch_size=7,
                       learning_rate_init=0.5, shuffle=False)),
}


@pytest.mark.parametrize("kind, params", list(PARAMETER_CASES.values()),
                         ids=list(PARAMETER_CASES))
def test_parameter_at_non_default_value_matches_sklearn(kind, params):
    ours, ref, X = _fit_both(kind, **{**BASE, **params})
    assert_same_model(ours, ref, X)


def test_the_table_reaches_every_stopping_rule():
    """The cases above stop by n_iter_no_change, by max_fun and by L-BFGS's
    gradient tolerance, and n_iter_no_change=inf never stops: check that
    they do so (in scikit-learn), or their parity would prove less."""
    def n_iter(case):
        kind, params = PARAMETER_CASES[case]
        _, ref, _ = _fit_both(kind, **{**BASE, **params})
        return ref.n_iter_, params["max_iter"]

    for case in ["tol=0.05-n_iter_no_change=2 (stops)", "n_iter_no_change=1",
                 "early_stopping-stops-tol=0.1",
                 "lbfgs-max_fun=12 (stops before max_iter)",
                 "lbfgs-tol=1e-2 (stops on the gradient)",
                 "learning_rate=adaptive-stops-when-tiny"]:
        done, limit = n_iter(case)
        assert done < limit, case
    for case in ["n_iter_no_change=inf", "n_iter_no_change=inf-adaptive",
                 "n_iter_no_change=inf-early_stopping"]:
        done, limit = n_iter(case)
        assert done == limit, case


@pytest.mark.parametrize("validation_fraction, message", [
    (0.0, "test_size=0.0 should be either positive"),
    (0.005, "The validation set is too small"),
])
def test_too_small_validation_set_raises_as_sklearn(validation_fraction,
                                                    message):
    X, y = _output_data("regression")
    params = {**BASE, "early_stopping": True,
              "validation_fraction": validation_fraction}
    with pytest.raises(ValueError) as ours:
        fastbp.MLPRegressor(dtype="float64", **params).fit(X, y)
    with pytest.raises(ValueError) as ref:
        sk.MLPRegressor(**params).fit(X, y)
    assert message in str(ref.value)
    assert str(ours.value) == str(ref.value)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_random_state_instance_matches_sklearn(solver):
    """A RandomState instance is used, not copied: both libraries draw the
    same numbers from it and leave it in the same state."""
    ours_rs, ref_rs = np.random.RandomState(5), np.random.RandomState(5)
    X, y = _output_data("multiclass")
    params = {**BASE, "solver": solver, "early_stopping": solver != "lbfgs"}
    params.pop("random_state")
    ours, ours_warnings = _recorded(fastbp.MLPClassifier(
        dtype="float64", random_state=ours_rs, **params).fit, X, y)
    ref, ref_warnings = _recorded(sk.MLPClassifier(
        random_state=ref_rs, **params).fit, X, y)
    assert ours_warnings == ref_warnings
    assert_same_model(ours, ref, X)
    assert ours_rs.randint(10**9) == ref_rs.randint(10**9)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_sample_weight_with_non_default_parameters_matches_sklearn(solver):
    """Sample weights with early stopping, no shuffling and a short last
    batch: the weights follow the rows through the split and the batches."""
    X, _ = _output_data("multiclass")
    sw = np.random.RandomState(3).uniform(0.2, 3.0, len(X))
    ours, ref, X = _fit_both(
        "multiclass", sample_weight=sw,
        **{**BASE, "solver": solver, "early_stopping": True,
           "validation_fraction": 0.2, "shuffle": False, "batch_size": 33,
           "max_iter": 10})
    assert_same_model(ours, ref, X)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_verbose_output_matches_sklearn(solver, capfd):
    """verbose=True prints what scikit-learn prints: the loss per epoch,
    validation scores, the adaptive rate's changes and the stopping message
    (stochastic solvers), or scipy's L-BFGS-B report."""
    kind, params = "multiclass", {**BASE, "verbose": True, "solver": solver}
    if solver == "adam":
        params.update(early_stopping=True, tol=0.05, n_iter_no_change=2,
                      max_iter=30)
    elif solver == "sgd":
        params.update(learning_rate="adaptive", tol=0.5, n_iter_no_change=1,
                      max_iter=8)
    X, y = _output_data(kind)
    printed = []
    for model in (fastbp.MLPClassifier(dtype="float64", **params),
                  sk.MLPClassifier(**params)):
        _recorded(model.fit, X, y)
        printed.append(capfd.readouterr().out)
    ours, ref = printed
    if solver == "lbfgs":
        # scipy >= 1.15 ignores iprint: L-BFGS-B prints nothing, in either.
        assert ours == ref
        return
    assert ref.strip()  # scikit-learn printed something to compare with
    if solver == "adam":
        assert "Validation score" in ref and "Stopping." in ref
    elif solver == "sgd":
        assert "Setting learning rate to" in ref
    assert ours == ref


# --------------------------------- solver x activation x kind of output
OUTPUT_KINDS = ["binary", "multiclass", "multilabel", "regression",
                "multioutput", "poisson"]
GRID_BASE = dict(hidden_layer_sizes=(6, 5), random_state=0, batch_size=50,
                 learning_rate_init=0.01)
GRID_ITERATIONS = {"adam": 4, "sgd": 4, "lbfgs": 12}


@pytest.mark.parametrize("kind", OUTPUT_KINDS)
@pytest.mark.parametrize("activation",
                         ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_solver_activation_output_matches_sklearn(solver, activation, kind):
    ours, ref, X = _fit_both(kind, solver=solver, activation=activation,
                             max_iter=GRID_ITERATIONS[solver], **GRID_BASE)
    expected_output = {"binary": "logistic", "multiclass": "softmax",
                       "multilabel": "logistic", "regression": "identity",
                       "multioutput": "identity", "poisson": "exp"}[kind]
    assert ours.out_activation_ == expected_output
    assert_same_model(ours, ref, X)
    if kind in ("binary", "multiclass", "multilabel"):
        assert_allclose(ours.predict_proba(X), ref.predict_proba(X),
                        rtol=1e-6, atol=1e-12)


# ---------------------------------------------------- continued training
CHUNKS = [slice(0, 80), slice(80, 160), slice(160, 200), slice(0, 200)]


@pytest.mark.parametrize("kind", ["regression", "multioutput", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regressor_partial_fit_matches_sklearn(solver, kind):
    """Several partial_fit calls on different rows (one with sample
    weights): the same model after every call."""
    X, y = _output_data(kind)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    params = dict(_kind_params(kind), solver=solver, **GRID_BASE)
    ours = fastbp.MLPRegressor(dtype="float64", **params)
    ref = sk.MLPRegressor(**params)
    for i, rows in enumerate(CHUNKS):
        # The third chunk (40 rows) is smaller than a batch: both warn.
        fit_params = {"sample_weight": sw[rows]} if i == 2 else {}
        _, ours_warnings = _recorded(ours.partial_fit, X[rows], y[rows],
                                     **fit_params)
        _, ref_warnings = _recorded(ref.partial_fit, X[rows], y[rows],
                                    **fit_params)
        assert ours_warnings == ref_warnings
        assert_same_model(ours, ref, X)
    assert ours.n_iter_ == 1
    assert len(ours.loss_curve_) == len(CHUNKS)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_regressor_partial_fit_after_fit_matches_sklearn(solver):
    X, y = _output_data("regression")
    params = dict(solver=solver, max_iter=3, **GRID_BASE)
    ours, ours_warnings = _recorded(
        fastbp.MLPRegressor(dtype="float64", **params).fit, X, y)
    ref, ref_warnings = _recorded(sk.MLPRegressor(**params).fit, X, y)
    assert ours_warnings == ref_warnings
    for rows in CHUNKS[:2]:
        ours.partial_fit(X[rows], y[rows])
        ref.partial_fit(X[rows], y[rows])
        assert_same_model(ours, ref, X)
    assert len(ours.loss_curve_) == 5


def test_regressor_partial_fit_with_lbfgs_matches_sklearn():
    """scikit-learn's MLPRegressor offers partial_fit whatever the solver
    (its availability test is never called); with 'lbfgs' a call runs
    L-BFGS from the current weights. fastbp does the same."""
    X, y = _output_data("regression")
    params = dict(solver="lbfgs", max_iter=5, **GRID_BASE)
    ours = fastbp.MLPRegressor(dtype="float64", **params)
    ref = sk.MLPRegressor(**params)
    for rows in CHUNKS[:2]:
        _, ours_warnings = _recorded(ours.partial_fit, X[rows], y[rows])
        _, ref_warnings = _recorded(ref.partial_fit, X[rows], y[rows])
        assert ours_warnings == ref_warnings
        assert_same_model(ours, ref, X)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "regression",
                                  "multioutput", "poisson"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd", "adam"])
def test_warm_start_matches_sklearn(solver, kind):
    """A second fit with warm_start=True starts from the first one's
    weights (on other rows, with more iterations): the same model after
    both fits."""
    X, y = _output_data(kind)
    name = _estimator_name(kind)
    params = dict(_kind_params(kind), solver=solver, warm_start=True,
                  max_iter=GRID_ITERATIONS[solver], **GRID_BASE)
    ours = getattr(fastbp, name)(dtype="float64", **params)
    ref = getattr(sk, name)(**params)
    for rows, max_iter in [(slice(0, 150), params["max_iter"]),
                           (slice(50, 200), params["max_iter"] + 2)]:
        ours.set_params(max_iter=max_iter)
        ref.set_params(max_iter=max_iter)
        _, ours_warnings = _recorded(ours.fit, X[rows], y[rows])
        _, ref_warnings = _recorded(ref.fit, X[rows], y[rows])
        assert ours_warnings == ref_warnings
        assert_same_model(ours, ref, X)
    if solver != "lbfgs":
        # The loss curve goes on across the fits; n_iter_ counts the last.
        assert len(ours.loss_curve_) == 2 * params["max_iter"] + 2
        assert ours.n_iter_ == params["max_iter"] + 2
