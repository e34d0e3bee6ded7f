"""Estimator behaviour: accuracy, scikit-learn parity of the features around
the training loop, errors, persistence and ecosystem use."""

import functools
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.datasets import load_digits, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import fastbp
from fastbp import MLPClassifier, MLPRegressor

from .test_parity import _data, assert_same_model


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.25, random_state=0)


def _quiet():
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("ignore", ConvergenceWarning)
    return ctx


# ---------------------------------------------------------------- accuracy
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_default_parameters_reach_95_percent_on_digits(digits, dtype):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(random_state=0, dtype=dtype).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    assert clf.coefs_[0].dtype == np.dtype(dtype)
    proba = clf.predict_proba(X_test)
    assert proba.dtype == np.dtype(dtype)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_test))


def test_float32_tracks_float64(digits):
    X_train, _, y_train, _ = digits
    params = dict(max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c32 = MLPClassifier(**params).fit(X_train, y_train)
        c64 = MLPClassifier(dtype="float64", **params).fit(X_train, y_train)
    for a, b in zip(c32.coefs_, c64.coefs_):
        assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_fitted_attributes_match_sklearn_names(digits):
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(max_iter=2, random_state=0).fit(X_train, y_train)
        ref = sk.MLPClassifier(max_iter=2, random_state=0).fit(X_train, y_train)
    public = {k for k in vars(ref) if k.endswith("_") and not k.startswith("_")}
    assert public <= set(vars(ours))
    assert ours.n_layers_ == 3 and ours.n_outputs_ == 10
    assert ours.out_activation_ == "softmax"


def test_constructor_matches_sklearn_signature():
    import inspect
    for ours, ref in [(MLPClassifier, sk.MLPClassifier),
                      (MLPRegressor, sk.MLPRegressor)]:
        ours_params = inspect.signature(ours).parameters
        ref_params = inspect.signature(ref).parameters
        # scikit-learn's parameters first, in order; fastbp's own at the end.
        own = ["dtype", "scoring", "init", "warmup_iter", "weight_decay",
               "dropout", "max_grad_norm"]
        extra = (["class_weight"] + own + ["label_smoothing"]
                 if ours is MLPClassifier
                 else own + ["huber_delta", "quantile"])
        assert list(ours_params) == list(ref_params) + extra
        assert all(ours_params[name].kind == inspect.Parameter.KEYWORD_ONLY
                   for name in extra)
        for name, p in ref_params.items():
            assert ours_params[name].default == p.default
            assert ours_params[name].kind == p.kind
        assert ours_params["dtype"].default == "float32"
        if ours is MLPClassifier:
            assert ours_params["class_weight"].default is None
            assert ours_params["label_smoothing"].default == 0.0
        else:
            assert ours_params["huber_delta"].default == 1.0
            assert ours_params["quantile"].default is None


# ------------------------------------------- features around the epoch loop
def test_lbfgs_matches_sklearn():
    ours, ref, X = _fit_pair("multiclass", solver="lbfgs", max_iter=30,
                             hidden_layer_sizes=(10,), random_state=0)
    # L-BFGS amplifies rounding differences over iterations; the first steps
    # agree closely, so compare a short run tightly.
    for a, b in zip(ours.coefs_, ref.coefs_):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours.n_iter_ == ref.n_iter_
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)


def test_lbfgs_regression_poisson_matches_sklearn():
    X, y = _data("regression")
    y = np.exp(y)  # positive targets for the Poisson loss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(loss="poisson", solver="lbfgs", max_iter=20,
                            hidden_layer_sizes=(8,), random_state=0,
                            dtype="float64").fit(X, y)
        ref = sk.MLPRegressor(loss="poisson", solver="lbfgs", max_iter=20,
                              hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    assert ours.out_activation_ == "exp"
    assert ours.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-5)


def _fit_pair(task, fit_params=None, **params):
    X, y = _data(task)
    cls = "MLPRegressor" if task == "regression" else "MLPClassifier"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = getattr(fastbp, cls)(dtype="float64", **params).fit(
            X, y, **(fit_params or {}))
        ref = getattr(sk, cls)(**params).fit(X, y, **(fit_params or {}))
    return ours, ref, X


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_early_stopping_matches_sklearn(task):
    ours, ref, X = _fit_pair(task, early_stopping=True, max_iter=60,
                             hidden_layer_sizes=(10,), learning_rate_init=0.01,
                             random_state=0, n_iter_no_change=3)
    assert_same_model(ours, ref, X)
    assert_allclose(ours.validation_scores_, ref.validation_scores_, rtol=1e-6)
    assert ours.best_validation_score_ == pytest.approx(
        ref.best_validation_score_, rel=1e-6)
    assert ours.best_loss_ is None


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_sample_weight_matches_sklearn(task):
    X, _ = _data(task)
    sw = np.random.RandomState(0).uniform(0.1, 3, len(X))
    ours, ref, X = _fit_pair(task, fit_params=dict(sample_weight=sw),
                             max_iter=5, hidden_layer_sizes=(10,),
                             random_state=0)
    assert_same_model(ours, ref, X)


def test_sample_weight_with_early_stopping_matches_sklearn():
    X, _ = _data("multiclass")
    sw = np.random.RandomState(1).uniform(0.1, 3, len(X))
    ours, ref, X = _fit_pair("multiclass", fit_params=dict(sample_weight=sw),
                             early_stopping=True, max_iter=20,
                             hidden_layer_sizes=(10,), random_state=0)
    assert_same_model(ours, ref, X)
    assert_allclose(ours.validation_scores_, ref.validation_scores_)


def test_multilabel_matches_sklearn():
    X, Y = make_multilabel_classification(n_samples=120, n_features=8,
                                          n_classes=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(dtype="float64", max_iter=5, random_state=0).fit(X, Y)
        ref = sk.MLPClassifier(max_iter=5, random_state=0).fit(X, Y)
    assert ours.out_activation_ == "logistic"
    assert_same_model(ours, ref, X)
    assert_allclose(ours.predict_proba(X), ref.predict_proba(X), rtol=1e-6)


def test_multioutput_regression_matches_sklearn():
    X, y = _data("regression")
    Y = np.column_stack([y, -2 * y, y**2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(dtype="float64", max_iter=5, random_state=0).fit(X, Y)
        ref = sk.MLPRegressor(max_iter=5, random_state=0).fit(X, Y)
    assert ours.predict(X).shape == (len(X), 3)
    assert_same_model(ours, ref, X)


def test_warm_start_matches_sklearn():
    X, y = _data("multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(dtype="float64", warm_start=True, max_iter=3,
                             random_state=0)
        ref = sk.MLPClassifier(warm_start=True, max_iter=3, random_state=0)
        for _ in range(3):
            ours.fit(X, y)
            ref.fit(X, y)
    assert_same_model(ours, ref, X)


def test_partial_fit_matches_sklearn():
    X, y = _data("multiclass")
    ours = MLPClassifier(dtype="float64", random_state=0)
    ref = sk.MLPClassifier(random_state=0)
    classes = np.unique(y)
    for _ in range(4):
        ours.partial_fit(X, y, classes=classes)
        ref.partial_fit(X, y, classes=classes)
    assert ours.n_iter_ == ref.n_iter_ == 1
    assert ours.t_ == ref.t_ == 4 * len(X)
    assert len(ours.loss_curve_) == 4
    assert_same_model(ours, ref, X)


def test_partial_fit_after_fit_continues(digits):
    X_train, _, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=2, random_state=0).fit(X_train, y_train)
    before = clf.coefs_[0].copy()
    clf.partial_fit(X_train, y_train)
    assert clf.t_ == 3 * len(X_train)
    assert not np.array_equal(before, clf.coefs_[0])


def test_partial_fit_errors():
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match="classes must be passed on the first"):
        MLPClassifier().partial_fit(X, y)
    clf = MLPClassifier().partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="`y` has classes not in"):
        clf.partial_fit(X, y + 20)
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
        MLPClassifier(solver="lbfgs").partial_fit(X, y)


@pytest.mark.parametrize("labels", [
    np.array([3, 7]),                      # binary
    np.array([-2, 0, 5, 9]),               # multiclass, negative labels
    np.array([1, 2, 3], dtype=np.uint8),   # unsigned
])
def test_integer_label_fast_path_equals_label_binarizer(labels):
    from sklearn.preprocessing import LabelBinarizer
    rng = np.random.RandomState(0)
    y = rng.choice(labels, 500)
    clf = MLPClassifier(max_iter=1)
    clf._label_binarizer = LabelBinarizer().fit(y)
    fast = clf._binarize_known(y)
    assert fast is not None
    assert_array_equal(fast, clf._label_binarizer.transform(y).astype(bool))
    # Only some of the classes: still one column per class.
    part = y[y != labels[0]]
    assert_array_equal(clf._binarize_known(part),
                       clf._label_binarizer.transform(part).astype(bool))
    # Anything else goes through LabelBinarizer (and its errors).
    assert clf._binarize_known(np.append(y, labels.max() + 1)) is None
    assert clf._binarize_known(y.astype(float)) is None
    assert clf._binarize_known(y.astype(str)) is None


def test_partial_fit_integer_labels_equal_string_labels():
    X, y = _data("multiclass")
    names = np.array([f"c{v}" for v in y])
    a = MLPClassifier(random_state=0).partial_fit(X, y, classes=np.unique(y))
    b = MLPClassifier(random_state=0).partial_fit(X, names,
                                                  classes=np.unique(names))
    for _ in range(2):
        a.partial_fit(X, y)
        b.partial_fit(X, names)
    for ca, cb in zip(a.coefs_, b.coefs_):
        assert_array_equal(ca, cb)


def test_warm_start_needs_the_same_classes_as_sklearn():
    X, y = _data("multiclass")
    keep = y != y.max()
    msgs = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        clf = cls(warm_start=True, max_iter=1, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
            with pytest.raises(ValueError, match="warm_start can only be used") as err:
                clf.fit(X[keep], y[keep])
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]


def test_verbose_prints_sklearn_lines(capsys):
    X, y = _data("multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(verbose=True, max_iter=2, random_state=0).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert all(re.fullmatch(r"Iteration \d+, loss = \d+\.\d{8}", l) for l in lines)


def test_max_iter_warns_convergence():
    X, y = _data("multiclass")
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        MLPClassifier(max_iter=2).fit(X, y)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("params", [
    dict(activation="mish"), dict(activation=3), dict(solver="newton"),
    dict(alpha=-1.0),
    dict(batch_size=0), dict(learning_rate="exponential"), dict(max_iter=0),
    dict(dtype="float16"), dict(momentum=1.5), dict(hidden_layer_sizes=-3),
])
def test_invalid_parameters_raise_sklearn_errors(params):
    X, y = _data("multiclass")
    with pytest.raises(InvalidParameterError):
        MLPClassifier(**params).fit(X, y)


@pytest.mark.parametrize("sizes", [(0,), [10, 0], (5, -1)])
def test_non_positive_hidden_layer_sizes(sizes):
    X, y = _data("multiclass")
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier(hidden_layer_sizes=sizes).fit(X, y)


def test_invalid_regression_loss():
    X, y = _data("regression")
    # "huber" is a loss now (tests/test_losses.py); scikit-learn's HGBR
    # names gamma deviance "gamma", which MLPRegressor does not have.
    with pytest.raises(InvalidParameterError):
        MLPRegressor(loss="gamma").fit(X, y)


def test_predict_errors(digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=1).fit(X_train, y_train)
    with pytest.raises(ValueError, match="expecting 64 features"):
        clf.predict(X_train[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 64), np.nan))


def _error_of(call):
    try:
        call()
    except ValueError as error:
        return str(error)
    return None


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_training_data_fails_as_in_sklearn(name, sparse, bad):
    """fit and partial_fit test X for NaN and infinity with column sums
    (``_validate_training_data``), and raise scikit-learn's error, word
    for word, wherever the value sits (in float64: the message names the
    dtype X was converted to); the model a failed partial_fit leaves is
    unchanged."""
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    X = rng.rand(40, 7)
    y = rng.randint(0, 3, 40)
    ours, theirs = getattr(fastbp, name), getattr(sk, name)
    for row, col in [(0, 0), (39, 6), (17, 3)]:
        X_bad = X.copy()
        X_bad[row, col] = bad
        if sparse:
            X_bad = sp.csr_matrix(X_bad)
        expected = _error_of(lambda: theirs(max_iter=2).fit(X_bad, y))
        assert expected is not None and "X" in expected
        assert _error_of(
            lambda: ours(max_iter=2, dtype="float64").fit(X_bad, y)) == expected
        assert _error_of(
            lambda: ours(max_iter=2).fit(X_bad, y)).startswith("Input X contains")

        model = ours(max_iter=2, random_state=0, dtype="float64")
        kwargs = {"classes": np.arange(3)} if name == "MLPClassifier" else {}
        model.partial_fit(X, y, **kwargs)
        before = [c.copy() for c in model.coefs_]
        reference = theirs(max_iter=2, random_state=0)
        reference.partial_fit(X, y, **kwargs)
        assert _error_of(lambda: model.partial_fit(X_bad, y)) == _error_of(
            lambda: reference.partial_fit(X_bad, y))
        for a, b in zip(model.coefs_, before):
            assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_refused_partial_fit_leaves_no_trace(solver, bad):
    """partial_fit on a fitted model tests X during the epoch and, when it
    finds a non-finite value, puts back weights, optimizer state, n_iter_
    and the random state: the next calls continue as if the refused one
    had never been made (the random state here is an instance, which every
    call draws its shuffle from)."""
    rng = np.random.RandomState(0)
    X = rng.rand(300, 20)
    y = rng.randint(0, 3, 300)
    X_bad = X.copy()
    X_bad[250, 5] = bad  # in one of the later batches, most likely

    def run(refused):
        model = MLPClassifier((16,), solver=solver, batch_size=32,
                              random_state=np.random.RandomState(1))
        model.partial_fit(X, y, classes=np.arange(3))
        if refused:
            with pytest.raises(ValueError, match="Input X contains"):
                model.partial_fit(X_bad, y)
        model.partial_fit(X, y)
        model.partial_fit(X, y)
        return model

    clean, refused = run(False), run(True)
    for a, b in zip(clean.coefs_ + clean.intercepts_,
                    refused.coefs_ + refused.intercepts_):
        assert_array_equal(a, b)
    assert clean.loss_curve_ == refused.loss_curve_
    assert (clean.n_iter_, clean.t_) == (refused.n_iter_, refused.t_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_partial_fit_refuses_an_infinity_that_relu_hides(dtype):
    """The epoch tests the rows it gathers, not only the loss: an infinity
    in a feature whose first-layer weights are all negative leaves every
    relu at 0 and the loss finite, yet partial_fit refuses X with
    scikit-learn's error and leaves the model as it was."""
    rng = np.random.RandomState(0)
    X = rng.rand(500, 20)
    y = rng.randint(0, 3, 500)
    model = MLPClassifier((4,), batch_size=500, random_state=0, dtype=dtype)
    model.partial_fit(X, y, classes=np.arange(3))
    model.coefs_[0][4, :] = -1.0  # a view into the model's parameters
    before = [c.copy() for c in model.coefs_ + model.intercepts_]
    X_bad = X.copy()
    X_bad[123, 4] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        model.partial_fit(X_bad, y)
    for a, b in zip(model.coefs_ + model.intercepts_, before):
        assert_array_equal(a, b)


def test_partial_fit_with_diverging_weights_is_not_refused():
    """A NaN loss from finite X (weights diverging) is not an input error:
    partial_fit trains and fails on the weights, as scikit-learn's does."""
    X, y = _data("regression")
    X = X * 1e3
    ours = MLPRegressor(activation="identity", solver="sgd",
                        learning_rate_init=10.0, random_state=0,
                        dtype="float64")
    theirs = sk.MLPRegressor(activation="identity", solver="sgd",
                             learning_rate_init=10.0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors = [(_error_of(lambda: ours.partial_fit(X, y)),
                   _error_of(lambda: theirs.partial_fit(X, y)))
                  for _ in range(6)]
    assert all(a == b for a, b in errors)
    assert errors[-1][0].startswith("Solver produced non-finite")


def test_finite_values_whose_sums_overflow_are_accepted():
    """Column sums of large finite values can overflow; that alarm goes to
    scikit-learn's check, which accepts them as it would have anyway."""
    X = np.full((20, 3), np.finfo(np.float64).max / 4)
    y = np.arange(20) % 2
    assert not np.isfinite(X.sum(axis=0)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _error_of(lambda: MLPClassifier(
            max_iter=1, dtype="float64", random_state=0).fit(X, y))
        theirs = _error_of(
            lambda: sk.MLPClassifier(max_iter=1, random_state=0).fit(X, y))
    # Both train, and their weights overflow: the gradient of a hidden unit
    # whose activation exceeds max / 10 is inf. A fixed seed, as a random
    # draw has no such unit about once in a hundred fits.
    assert ours == theirs and ours.startswith("Solver produced non-finite")


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_is_fitted_answers_as_sklearns_attribute_scan(digits, cls):
    """``__sklearn_is_fitted__`` (a shortcut for check_is_fitted) gives the
    answer of scikit-learn's generic test: some attribute ends with "_"."""
    X_train, _, y_train, _ = digits

    def generic(estimator):
        return any(v.endswith("_") and not v.startswith("__")
                   for v in vars(estimator))

    unfitted = cls(max_iter=1)
    partly = cls(max_iter=1)
    partly.n_features_in_ = 64  # as if a fit stopped early
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = cls(max_iter=1).fit(X_train, y_train)
    for estimator, expected in ((unfitted, False), (partly, True),
                                (fitted, True)):
        assert estimator.__sklearn_is_fitted__() is expected
        assert generic(estimator) is expected
    with pytest.raises(NotFittedError):
        unfitted.predict(X_train)


@pytest.mark.parametrize("target", ["multiclass", "binary", "strings",
                                    "multilabel", "one class"])
def test_predict_decodes_labels_as_label_binarizer(target):
    """predict's label decoding gives exactly what LabelBinarizer's
    inverse_transform (which scikit-learn's MLP calls) gives: values, dtype
    and shape, ties (equal probabilities) included."""
    rng = np.random.RandomState(0)
    X = rng.rand(60, 5)
    y = {"multiclass": np.arange(60) % 4,
         "binary": np.arange(60) % 2 + 3,
         "strings": np.array(["b", "a", "c"])[np.arange(60) % 3],
         "multilabel": rng.randint(0, 2, (60, 3)),
         "one class": np.zeros(60, dtype=int)}[target]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    outputs = model._forward_pass_fast(X)
    outputs[:5] = 0.5  # ties, and values at the threshold
    if model.n_outputs_ == 1:
        outputs = outputs.ravel()
    expected = model._label_binarizer.inverse_transform(outputs)
    got = model._decode(outputs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_array_equal(got, expected)
    assert_array_equal(model.predict(X),
                       model._label_binarizer.inverse_transform(
                           model._forward_pass_fast(X).reshape(
                               (len(X),) if model.n_outputs_ == 1 else
                               (len(X), -1))))


def test_warm_start_with_changed_layers_raises():
    X, y = _data("multiclass")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(warm_start=True, max_iter=1).fit(X, y)
        clf.set_params(hidden_layer_sizes=(7,))
        with pytest.raises(ValueError, match="layer sizes changed"):
            clf.fit(X, y)


def test_nonfinite_weights_raise_like_sklearn():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    msg = "Solver produced non-finite parameter weights"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=msg):
            MLPRegressor(dtype="float64").fit(X, y)


def test_diverging_loss_with_early_stopping_keeps_best_weights():
    # scikit-learn 1.9's test_mlp_diverging_loss: no error, NaN score recorded.
    X, y = _data("multiclass")
    mlp = MLPRegressor(hidden_layer_sizes=100, activation="identity",
                       solver="sgd", learning_rate_init=1, max_iter=20,
                       early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp.fit(X, y)
    assert str(mlp.validation_scores_[-1]) == str(np.nan)
    assert isinstance(mlp.validation_scores_[-1], float)
    assert np.isfinite(mlp.predict(X)).all()
    # Training stopped at the first epoch whose loss was not finite.
    assert not np.isfinite(mlp.loss_curve_[-1])
    assert np.isfinite(mlp.loss_curve_[:-1]).all()
    assert mlp.n_iter_ < 20


def test_divergence_stops_at_once_and_raises():
    X, y = _data("multiclass")
    mlp = MLPRegressor(hidden_layer_sizes=100, activation="identity",
                       solver="sgd", learning_rate_init=1, max_iter=200,
                       random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            mlp.fit(X, y)
    assert len(mlp.loss_curve_) < 200
    assert not np.isfinite(mlp.loss_curve_[-1])


# ------------------------------------------------- persistence, ecosystem
def test_pickle_round_trip_bit_identical(digits):
    X_train, X_test, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=3, random_state=0).fit(X_train, y_train)
    clone_ = pickle.loads(pickle.dumps(clf))
    assert_array_equal(clone_.predict_proba(X_test), clf.predict_proba(X_test))
    # the unpickled model keeps training from where it was
    clone_.partial_fit(X_train, y_train)
    clf.partial_fit(X_train, y_train)
    assert_array_equal(clone_.coefs_[0], clf.coefs_[0])


def test_assigned_coefs_are_used(digits):
    X_train, X_test, y_train, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=1, random_state=0).fit(X_train, y_train)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    assert_allclose(clf.predict_proba(X_test), 0.1, rtol=1e-6)


def test_clone_pipeline_and_grid_search(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    assert search.score(X_test, y_test) > 0.9
    est = clone(MLPClassifier(dtype="float64", alpha=0.5))
    assert est.get_params()["dtype"] == "float64"
    assert est.set_params(alpha=0.1).alpha == 0.1


def test_feature_names_in_with_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _data("multiclass")
    df = pd.DataFrame(X[:, :5], columns=[f"f{i}" for i in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=2).fit(df, y)
    assert_array_equal(clf.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X[:, :5])


# ------------------------------------------------------------------ sparse
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_sparse_X_gives_the_dense_model(fmt, solver):
    import scipy.sparse as sp
    X, y = _data("multiclass")
    X = X * (np.random.RandomState(0).rand(*X.shape) < 0.3)  # mostly zeros
    Xs = getattr(sp, f"{fmt}_matrix")(X)
    params = dict(solver=solver, max_iter=5, hidden_layer_sizes=(20, 7),
                  random_state=0, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**params).fit(X, y)
        sparse = MLPClassifier(**params).fit(Xs, y)
        ref = sk.MLPClassifier(**{k: v for k, v in params.items()
                                  if k != "dtype"}).fit(Xs, y)
    for a, b, c in zip(sparse.coefs_, dense.coefs_, ref.coefs_):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert_allclose(a, c, rtol=1e-6, atol=1e-8)
    assert_allclose(sparse.predict_proba(Xs), dense.predict_proba(X),
                    rtol=1e-10)


def test_sparse_regression_with_early_stopping():
    import scipy.sparse as sp
    X, y = _data("regression")
    X = X * (np.random.RandomState(1).rand(*X.shape) < 0.5)
    params = dict(early_stopping=True, max_iter=20, random_state=0,
                  dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPRegressor(**params).fit(X, y)
        sparse = MLPRegressor(**params).fit(sp.csr_matrix(X), y)
    assert_allclose(sparse.validation_scores_, dense.validation_scores_,
                    rtol=1e-10)
    assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X),
                    rtol=1e-9)


def test_pickling_leaves_the_fitted_model_untouched():
    X, y = load_digits(return_X_y=True)
    model = MLPClassifier((8,), max_iter=2).fit(X, y)
    params = model._params
    pickle.dumps(model)
    # The flat vector and its views survive: coefs_ still alias it.
    assert model._params is params
    assert np.may_share_memory(model.coefs_[0], model._params)


@pytest.mark.parametrize("classes", [[0, 1], [0, 1, 2, 3], [1, 2, 3], [0, 2, 5],
                                     [-1, 0, 1]])
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_known_labels_binarize_as_label_binarizer(classes, label_dtype):
    # partial_fit's one-hot targets without LabelBinarizer (classes 0..k-1
    # take their own columns, others a search); labels outside classes_ go
    # to LabelBinarizer's path (None here), which raises its error.
    classes = np.array(classes)
    if label_dtype == np.uint8 and classes.min() < 0:
        pytest.skip("negative classes")
    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = classes[np.arange(40) % len(classes)].astype(label_dtype)
    model = MLPClassifier((3,), max_iter=1).partial_fit(X, y, classes=classes)
    for labels in (y, y[::-1], y[:1]):
        expected = model._label_binarizer.transform(labels).astype(bool)
        np.testing.assert_array_equal(model._binarize_known(labels), expected)
    for unknown in (classes.max() + 1, 3 if 3 not in classes else 4):
        assert model._binarize_known(np.array([classes[0], unknown])) is None
    if -1 not in classes:
        assert model._binarize_known(np.array([-1, classes[0]])) is None
    with pytest.raises(ValueError):
        model.partial_fit(X[:2], np.array([classes[0], classes.max() + 1]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="sgd", nesterovs_momentum=True, max_grad_norm=0.5,
         dropout=0.2),
    dict(solver="lbfgs"),
], ids=["adam", "sgd-clip-dropout", "lbfgs"])
@pytest.mark.parametrize("sparse", [False, True])
def test_fits_with_packed_weights_equal_those_without(monkeypatch, dtype,
                                                      params, sparse):
    """Training reads the W of layers larger than a core's L1 data cache
    packed in column panels (``_network.packed_training_layers``), which
    the optimizer keeps up to date: the same products in the same order, so
    the same fit as with every W read in place; forced here on for every
    layer of at least one panel (none for a sparse X's first layer), and
    off."""
    from scipy.sparse import csr_matrix

    import fastbp._network
    from fastbp._kernels._config import PACK_OFFSET

    rng = np.random.RandomState(0)
    X = rng.randn(300, 50).astype(dtype)
    X[X < 0.5] = 0
    y = rng.randint(0, 3, len(X))
    if sparse:
        X = csr_matrix(X)
    tables = []
    workspace = fastbp._network.Workspace

    def spy(*args, **kwargs):
        ws = workspace(*args, **kwargs)
        tables.append(ws.table)
        return ws

    monkeypatch.setattr(fastbp._network, "Workspace", spy)
    monkeypatch.setattr(fastbp._mlp, "Workspace", spy, raising=False)
    fits = {}
    for pack in (True, False):
        monkeypatch.setattr(fastbp._network, "l1_data_cache_bytes",
                            lambda: 0 if pack else 1 << 40)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits[pack] = MLPClassifier((64, 70, 20), max_iter=3, dtype=dtype,
                                       batch_size=128, random_state=0,
                                       **params).fit(X, y)
        # Panels of 32 float32 or 16 float64 columns: the first layer's
        # (dense X only), the second's, in float64 the third's.
        expected = [pack and not sparse, pack,
                    pack and dtype == "float64", False]
        assert list(tables[-1][:, PACK_OFFSET] >= 0) == expected
    for a, b in zip(fits[True].coefs_ + fits[True].intercepts_,
                    fits[False].coefs_ + fits[False].intercepts_):
        assert_array_equal(a, b)
    assert fits[True].loss_ == fits[False].loss_


def test_packed_training_layers_rule():
    """Which layers training packs: W larger than the L1 data cache and at
    least one two-vector panel wide (16 float32, 8 float64 columns per
    vector), batches of TRAIN_PACK_MIN_ROWS rows or more, never a sparse
    X's first layer."""
    from fastbp._kernels._config import TRAIN_PACK_MIN_ROWS
    from fastbp._network import l1_data_cache_bytes, packed_training_layers

    assert l1_data_cache_bytes() >= 16 * 1024
    rule = functools.partial(packed_training_layers, l1_bytes=32768)
    wide = [784, 512, 256, 10]
    assert rule(wide, 4, 256) == [0, 1]
    assert rule(wide, 4, 256, True) == [1]
    assert rule(wide, 8, 256) == [0, 1]
    # Batches too small to repay the copy.
    assert rule(wide, 4, TRAIN_PACK_MIN_ROWS - 1) == []
    assert rule(wide, 4, TRAIN_PACK_MIN_ROWS) == [0, 1]
    # 100 x 64 float32 (25 KiB) fits a 32 KiB L1, in float64 it does not;
    # 64 x 64 float64 fills it exactly.
    assert rule([100, 64, 64, 1], 4, 256) == []
    assert rule([100, 64, 64, 1], 8, 256) == [0]
    # 31 float32 columns: no whole panel.
    assert packed_training_layers([2000, 31, 3], 4, 256, l1_bytes=0) == []
    assert packed_training_layers([2000, 31, 3], 8, 256, l1_bytes=0) == [0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sparse", [False, True])
def test_predictions_with_packed_weights_equal_those_without(
        monkeypatch, dtype, sparse):
    """From PREDICT_PACK_ROWS_PER_THREAD rows per thread on, prediction
    reads each layer's weights packed in column panels: the same products
    in the same order, so the same predictions as in slices too small to
    pack, for layers whose widths are whole panels, panels and a rest, and
    less than a panel; for sparse X the first layer is not packed."""
    from scipy.sparse import csr_matrix

    import fastbp._mlp
    from fastbp._kernels import _predict_rows

    rng = np.random.RandomState(0)
    X = rng.randn(700, 50).astype(dtype)
    X[X < 0.5] = 0
    y = rng.randint(0, 3, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((64, 70, 20), max_iter=2, dtype=dtype,
                              random_state=0).fit(X, y)
    if sparse:
        X = csr_matrix(X)
    sliced = np.vstack([model.predict_proba(X[i:i + 100])
                        for i in range(0, 700, 100)])
    packed_sizes = []

    def spy(*args, packed=None, **kwargs):
        packed_sizes.append(None if packed is None else packed.shape[0])
        return _predict_rows(*args, packed=packed, **kwargs)

    monkeypatch.setattr(fastbp._mlp, "PREDICT_PACK_ROWS_PER_THREAD", 300)
    monkeypatch.setattr(fastbp._mlp, "_predict_rows", spy)
    assert_array_equal(model.predict_proba(X), sliced)
    # Panels of 2 x 64 bytes, 32 float32 or 16 float64 columns: packed,
    # the first layer's 64 columns (dense X only), the second's 64 of 70,
    # in float64 the third's 16 of 20.
    expected = (0 if sparse else 50 * 64) + 64 * 64 + (
        0 if dtype == "float32" else 70 * 16)
    assert packed_sizes[-1] == expected
    model.predict_proba(X[:100])
    assert packed_sizes[-1] is None
