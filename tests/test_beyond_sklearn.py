"""Features scikit-learn's MLP does not have: class_weight, validation loss
and user validation sets, callbacks, memory-bounded prediction. Each must
leave the defaults exactly as scikit-learn's."""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk
from sklearn.callback import ScoringMonitor
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

from fastbp import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def imbalanced():
    X, y = make_classification(n_samples=600, n_features=8, n_informative=5,
                               n_classes=3, weights=[0.8, 0.15, 0.05],
                               random_state=0)
    return X, y


def _small(**kw):
    params = dict(hidden_layer_sizes=(12,), max_iter=15, random_state=0,
                  dtype="float64", batch_size=50)
    params.update(kw)
    return params


def _assert_same_model(a, b):
    for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(x, y)


# ------------------------------------------------------------- class_weight
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("class_weight", [{0: 1.0, 1: 3.0, 2: 10.0},
                                          "balanced"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_class_weight_is_sample_weight_of_each_class(imbalanced, class_weight,
                                                     solver):
    X, y = imbalanced
    sw = np.random.RandomState(1).uniform(0.5, 2, len(y))
    weighted = MLPClassifier(**_small(solver=solver,
                                      class_weight=class_weight)).fit(
        X, y, sample_weight=sw)
    expected = sw * compute_sample_weight(class_weight, y)
    reference = MLPClassifier(**_small(solver=solver)).fit(
        X, y, sample_weight=expected)
    for a, b in zip(weighted.coefs_, reference.coefs_):
        assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_class_weight_none_is_scikit_learn(imbalanced):
    X, y = imbalanced
    ours = MLPClassifier(**_small(class_weight=None)).fit(X, y)
    params = _small()
    params.pop("dtype")
    ref = sk.MLPClassifier(**params).fit(X, y)
    for a, b in zip(ours.coefs_, ref.coefs_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_balanced_raises_minority_recall(imbalanced):
    X, y = imbalanced
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, stratify=y, random_state=0)
    recalls = {}
    for cw in (None, "balanced"):
        model = MLPClassifier((16,), max_iter=60, random_state=0,
                              class_weight=cw).fit(X_train, y_train)
        recalls[cw] = recall_score(y_test, model.predict(X_test),
                                   labels=[2], average="macro")
    assert recalls["balanced"] > recalls[None]


def test_class_weight_in_partial_fit(imbalanced):
    X, y = imbalanced
    cw = {0: 0.5, 1: 2.0, 2: 4.0}
    a = MLPClassifier(**_small(class_weight=cw))
    b = MLPClassifier(**_small())
    for chunk in np.array_split(np.arange(len(y)), 3):
        a.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
        b.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2],
                      sample_weight=compute_sample_weight(cw, y[chunk]))
    _assert_same_model(a, b)
    with pytest.raises(ValueError, match="'balanced' is not supported for "
                                         "partial_fit"):
        MLPClassifier(class_weight="balanced").partial_fit(X, y,
                                                           classes=[0, 1, 2])


def test_invalid_class_weight(imbalanced):
    X, y = imbalanced
    with pytest.raises(InvalidParameterError, match="class_weight"):
        MLPClassifier(class_weight="uniform").fit(X, y)


# ------------------------------------------------- validation loss and data
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_defaults_record_no_validation(imbalanced):
    X, y = imbalanced
    model = MLPClassifier(**_small()).fit(X, y)
    assert model.validation_scores_ is None
    assert model.validation_loss_curve_ is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_early_stopping_records_validation_loss_and_matches_sklearn(
        imbalanced):
    X, y = imbalanced
    ours = MLPClassifier(**_small(early_stopping=True, max_iter=30)).fit(X, y)
    params = _small(early_stopping=True, max_iter=30)
    params.pop("dtype")
    ref = sk.MLPClassifier(**params).fit(X, y)
    # Recording the loss changes nothing scikit-learn has.
    assert ours.n_iter_ == ref.n_iter_
    assert_allclose(ours.validation_scores_, ref.validation_scores_)
    for a, b in zip(ours.coefs_, ref.coefs_):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert len(ours.validation_loss_curve_) == ours.n_iter_
    assert np.all(np.isfinite(ours.validation_loss_curve_))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_validation_data_monitors_without_changing_training(imbalanced):
    X, y = imbalanced
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    plain = MLPClassifier(**_small()).fit(X_train, y_train)
    monitored = MLPClassifier(**_small()).fit(
        X_train, y_train, validation_data=(X_val, y_val))
    _assert_same_model(plain, monitored)
    assert len(monitored.validation_scores_) == monitored.n_iter_
    # The last entries describe the final model.
    assert monitored.validation_scores_[-1] == monitored.score(X_val, y_val)
    assert monitored.validation_loss_curve_[-1] == pytest.approx(
        log_loss(y_val, monitored.predict_proba(X_val)), rel=1e-10)
    assert monitored.best_validation_score_ == max(
        monitored.validation_scores_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_validation_data_drives_early_stopping_and_keeps_best(imbalanced):
    X, y = imbalanced
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    model = MLPClassifier(**_small(early_stopping=True, max_iter=100,
                                   n_iter_no_change=3)).fit(
        X_train, y_train, validation_data=(X_val, y_val))
    assert model.n_iter_ < 100
    assert model.score(X_val, y_val) == model.best_validation_score_
    # The whole training set was used: nothing was split off internally.
    assert model.t_ == model.n_iter_ * len(y_train)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_regressor_validation_loss_is_half_mse():
    X, y = make_regression(n_samples=300, n_features=5, noise=1.0,
                           random_state=0)
    y = y / y.std()
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
    sw_val = np.random.RandomState(0).uniform(0.5, 2, len(y_val))
    model = MLPRegressor(**_small()).fit(
        X_train, y_train, validation_data=(X_val, y_val, sw_val))
    residual = y_val - model.predict(X_val)
    expected = np.average(residual ** 2, weights=sw_val) / 2
    assert model.validation_loss_curve_[-1] == pytest.approx(expected,
                                                             rel=1e-10)
    assert model.validation_scores_[-1] == pytest.approx(
        model.score(X_val, y_val, sample_weight=sw_val), rel=1e-12)


def test_validation_data_in_a_pipeline(imbalanced):
    X, y = imbalanced
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y, mlpclassifier__validation_data=(X[:50], y[:50]))
    assert len(pipe[-1].validation_scores_) == 5


@pytest.mark.parametrize("validation_data, kwargs, match", [
    ("not a tuple", {}, "validation_data must be a tuple"),
    (("X",), {}, "validation_data must be a tuple"),
    (None, {"solver": "lbfgs"}, "only used by the stochastic solvers"),
    ("wrong_features", {}, "features"),
    ("unseen_class", {}, "classes"),
    ("wrong_length", {}, "inconsistent numbers of samples"),
])
def test_bad_validation_data(imbalanced, validation_data, kwargs, match):
    X, y = imbalanced
    data = {
        None: (X[:10], y[:10]),
        "wrong_features": (X[:10, :3], y[:10]),
        "unseen_class": (X[:10], np.full(10, 7)),
        "wrong_length": (X[:10], y[:9]),
    }.get(validation_data, validation_data)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(max_iter=2, **kwargs).fit(X, y, validation_data=data)


# ---------------------------------------------------------------- callbacks
class Recorder:
    """A FitCallback that logs every hook and stops after ``stop_at`` ends
    of subtasks."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.events = []
        self.predictions = []

    def setup(self, estimator, context):
        self.events.append("setup")

    def teardown(self, estimator, context):
        self.events.append("teardown")

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None):
        self.events.append(("begin", context.task_name))

    def on_fit_task_end(self, estimator, context, *, X=None,
                        fitted_estimator=None):
        self.events.append(("end", context.task_name))
        if context.parent is None or fitted_estimator is None:
            return False  # the whole fit, or L-BFGS's last, empty, iteration
        self.predictions.append(fitted_estimator.predict_proba(X[:5]))
        return len(self.predictions) == self.stop_at


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_callback_sees_every_epoch_and_a_model_per_epoch(imbalanced):
    X, y = imbalanced
    recorder = Recorder()
    model = MLPClassifier(**_small(max_iter=4)).set_callbacks(recorder)
    model.fit(X, y)
    assert recorder.events == (
        ["setup", ("begin", "fit")]
        + [("begin", "epoch"), ("end", "epoch")] * 4
        + [("end", "fit"), "teardown"])
    # Each epoch's fitted_estimator is the model at that epoch: the last one
    # is the final model; earlier ones differ.
    assert_array_equal(recorder.predictions[-1], model.predict_proba(X[:5]))
    assert not np.array_equal(recorder.predictions[0],
                              recorder.predictions[-1])
    # Callbacks observe: the fitted model is the one trained without them.
    _assert_same_model(model, MLPClassifier(**_small(max_iter=4)).fit(X, y))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_callback_stops_training(imbalanced, solver):
    X, y = imbalanced
    model = MLPClassifier(**_small(solver=solver, max_iter=50))
    model.set_callbacks(Recorder(stop_at=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # asked to stop
        model.fit(X, y)
    assert model.n_iter_ == 3
    if solver != "lbfgs":
        assert len(model.loss_curve_) == 3


def test_scoring_monitor_and_pickle(imbalanced):
    X, y = imbalanced
    monitor = ScoringMonitor(scoring="accuracy")
    model = MLPClassifier(**_small(max_iter=3)).set_callbacks(monitor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    logs = monitor.get_logs()
    rows = logs.data if hasattr(logs, "data") else logs[0].data
    scores = [row["accuracy"] for row in rows if row["task_name"] == "epoch"]
    assert len(scores) == 3
    assert scores[-1] == model.score(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize("max_iter, stop_early", [(3, False), (20, True)],
                         ids=["runs max_iter", "stops early"])
def test_progress_bar_advances_once_per_epoch(imbalanced, capsys, max_iter,
                                              stop_early):
    pytest.importorskip("rich")
    from unittest import mock

    from sklearn.callback import ProgressBar
    from sklearn.callback._progressbar import RichProgressMonitor

    X, y = imbalanced
    progress = []
    on_task_end = RichProgressMonitor._on_task_end

    def recording_on_task_end(self, task_info):
        on_task_end(self, task_info)
        progress.append(self.root_rich_task.progress)

    # tol so large that no epoch improves: stops after 1 + 1 + 1 epochs.
    params = dict(tol=10.0, n_iter_no_change=1) if stop_early else {}
    model = MLPClassifier(**_small(max_iter=max_iter, **params))
    with mock.patch.object(RichProgressMonitor, "_on_task_end",
                           recording_on_task_end), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_callbacks(ProgressBar()).fit(X, y)
    assert model.n_iter_ == (3 if stop_early else max_iter)
    # One step of 1 / max_iter per epoch, then the finished fit.
    assert_allclose(progress, [(i + 1) / max_iter
                               for i in range(model.n_iter_)] + [1.0])
    drawn = capsys.readouterr().out
    assert "MLPClassifier - fit" in drawn
    assert "100%" in drawn


# ---------------------------------------------------- memory-bounded predict
def _predict_proba_peak(model, X):
    """``model.predict_proba(X)`` and the peak of the memory allocated
    meanwhile (tracemalloc: numpy's arrays; the prediction kernel keeps its
    own variables on the stack)."""
    tracemalloc.start()
    try:
        proba = model.predict_proba(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return proba, peak


def test_predict_memory_does_not_grow_with_hidden_activations():
    from fastbp._kernels import PREDICT_BLOCK, PREDICT_SLOTS

    rng = np.random.RandomState(0)
    X = rng.rand(100_000, 10).astype(np.float32)
    y = rng.randint(0, 2, len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((256,), max_iter=1, random_state=0).fit(
            X[:500], y[:500])
    model.predict_proba(X[:10])  # first-call set-up out of the measurement
    # Beyond its result, prediction takes two scratch areas of
    # PREDICT_SLOTS x PREDICT_BLOCK rows of the widest layer.
    scratch = 2 * PREDICT_SLOTS * PREDICT_BLOCK * 256 * 4
    small, small_peak = _predict_proba_peak(model, X[:20_000])
    proba, peak = _predict_proba_peak(model, X)
    assert peak < scratch + 2**20 + 64 * len(X), peak / 2**20
    # 80,000 more rows cost their outputs (a few floats each), not their
    # 256 hidden activations (1 KiB a row): one pass over all rows at once
    # would hold 2 x 100,000 x 256 float32, 195 MiB.
    assert (peak - small_peak) / 80_000 < 64
    # The blocks do not change the result: all rows at once, in slices of
    # 777 and row by row give the same probabilities.
    assert_array_equal(proba[:20_000], small)
    assert_array_equal(proba, np.vstack([
        model.predict_proba(X[i:i + 777]) for i in range(0, len(X), 777)]))
    assert_array_equal(proba[:500], np.vstack([
        model.predict_proba(X[i:i + 1]) for i in range(500)]))


@pytest.mark.parametrize("solver, early_stopping", [("adam", True),
                                                    ("sgd", False),
                                                    ("lbfgs", False)])
def test_epoch_progress_bar_shows_epochs_loss_and_score(imbalanced, solver,
                                                        early_stopping):
    pytest.importorskip("tqdm")
    import io
    from fastbp.callbacks import EpochProgressBar
    X, y = imbalanced
    out = io.StringIO()
    model = MLPClassifier(**_small(solver=solver, max_iter=4,
                                   early_stopping=early_stopping))
    model.set_callbacks(EpochProgressBar(file=out, mininterval=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    final = out.getvalue().strip().split("\r")[-1]
    assert f"{model.n_iter_}/4" in final
    if solver != "lbfgs":
        assert f"loss={model.loss_:.5g}" in final
    if early_stopping:
        assert f"val_score={model.validation_scores_[-1]:.4f}" in final
    # Observing changes nothing.
    _assert_same_model(model, MLPClassifier(**_small(
        solver=solver, max_iter=4, early_stopping=early_stopping)).fit(X, y))
