"""ONNX export: onnxruntime on the converted graph predicts as fastbp does.

Each test fits a tiny network for a few epochs, converts it with
``fastbp.onnx`` or with skl2onnx after ``register_onnx_converters()``, runs
the graph in onnxruntime and compares with ``predict`` / ``predict_proba``:
labels exactly, numbers to the rounding of the graph's type (float graphs
~1e-7 here, checked at 1e-5; double graphs ~1e-16, checked at 1e-12).
"""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import MLPClassifier, MLPRegressor

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from fastbp import onnx as fastbp_onnx  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
DTYPES = ["float32", "float64"]
# By the type the graph computes in (the input's).
TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6),
             "float64": dict(rtol=1e-12, atol=1e-12)}
N_SAMPLES, N_FEATURES = 30, 4


@pytest.fixture
def X(rng):
    return rng.randn(N_SAMPLES, N_FEATURES)


def _small(**kw):
    params = dict(hidden_layer_sizes=(5, 3), max_iter=3, random_state=0)
    params.update(kw)
    return params


def _run(onx, X):
    """onnxruntime's outputs for ``X``, keyed by output name."""
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X})))


def _targets(kind, X):
    if kind == "binary":
        return (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "multiclass-str":
        return np.array(["low", "mid", "high"])[np.digitize(X[:, 0],
                                                            [-0.5, 0.5])]
    if kind == "multilabel":
        return (X[:, :3] > 0).astype(int)
    raise ValueError(kind)


def test_import_fastbp_does_not_import_skl2onnx():
    code = ("import sys, fastbp, fastbp.onnx; "
            "assert 'skl2onnx' not in sys.modules, 'skl2onnx imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_skl2onnx_says_how_to_install(monkeypatch, X):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import fails
    clf = MLPClassifier(**_small()).fit(X, _targets("binary", X))
    with pytest.raises(ImportError, match=r'pip install "fastbp\[onnx\]"'):
        fastbp_onnx.to_onnx(clf)


def test_unfitted_estimator_is_refused():
    with pytest.raises(NotFittedError):
        fastbp_onnx.to_onnx(MLPRegressor())


def test_register_is_idempotent_and_leaves_sklearn_alone():
    from skl2onnx._supported_operators import sklearn_operator_name_map

    fastbp_onnx.register_onnx_converters()
    fastbp_onnx.register_onnx_converters()
    assert sklearn_operator_name_map[MLPClassifier] == "FastbpMLPClassifier"
    assert sklearn_operator_name_map[MLPRegressor] == "FastbpMLPRegressor"
    assert (sklearn_operator_name_map[sk.MLPClassifier]
            == "SklearnMLPClassifier")
    assert sklearn_operator_name_map[sk.MLPRegressor] == "SklearnMLPRegressor"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("kind", ["binary", "multiclass-str"])
def test_classifier(X, kind, activation, dtype):
    _check_classifier(X, kind, activation, dtype, TOLERANCE[dtype])


def _check_classifier(X, kind, activation, dtype, tolerance):
    y = _targets(kind, X)
    clf = MLPClassifier(**_small(activation=activation, dtype=dtype)).fit(X, y)
    # The graph computes in the model's dtype; ZipMap takes float only.
    onx = fastbp_onnx.to_onnx(clf, options={"zipmap": False})

    out = _run(onx, X.astype(dtype))

    assert_array_equal(out["label"], clf.predict(X))
    assert out["probabilities"].dtype == dtype
    assert_allclose(out["probabilities"], clf.predict_proba(X), **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel_classifier_with_float_input(X, dtype):
    y = _targets("multilabel", X)
    clf = MLPClassifier(**_small(dtype=dtype)).fit(X, y)
    onx = fastbp_onnx.to_onnx(clf, X[:1].astype(np.float32),
                              options={"zipmap": False})

    out = _run(onx, X.astype(np.float32))

    assert out["label"].shape == (N_SAMPLES, 3)
    assert_array_equal(out["label"], clf.predict(X))
    assert_allclose(out["probabilities"], clf.predict_proba(X),
                    **TOLERANCE["float32"])


def test_multilabel_double_graph_is_not_run_by_onnxruntime(X):
    # The graph is valid ONNX-ML, but onnxruntime has no double Binarizer.
    y = _targets("multilabel", X)
    clf = MLPClassifier(**_small(dtype="float64")).fit(X, y)
    onx = fastbp_onnx.to_onnx(clf, options={"zipmap": False})
    with pytest.raises(Exception, match="Binarizer"):
        _run(onx, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor(X, n_outputs, activation, dtype):
    _check_regressor(X, n_outputs, activation, dtype, TOLERANCE[dtype])


def _check_regressor(X, n_outputs, activation, dtype, tolerance):
    y = X[:, :n_outputs] * 2 - X[:, -1:]
    if n_outputs == 1:
        y = y.ravel()
    reg = MLPRegressor(**_small(activation=activation, dtype=dtype)).fit(X, y)
    onx = fastbp_onnx.to_onnx(reg)

    out = _run(onx, X.astype(dtype))["variable"]

    assert out.shape == (N_SAMPLES, n_outputs)
    assert out.dtype == dtype
    assert_allclose(out, reg.predict(X).reshape(N_SAMPLES, n_outputs),
                    **tolerance)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_poisson_regressor_ends_in_exp(X, n_outputs, dtype):
    y = np.exp(X[:, :n_outputs] / 2)
    if n_outputs == 1:
        y = y.ravel()
    reg = MLPRegressor(**_small(loss="poisson", dtype=dtype)).fit(X, y)
    onx = fastbp_onnx.to_onnx(reg)

    out = _run(onx, X.astype(dtype))["variable"]

    assert out.shape == (N_SAMPLES, n_outputs)
    assert_allclose(out, reg.predict(X).reshape(N_SAMPLES, n_outputs),
                    **TOLERANCE[dtype])


@pytest.mark.parametrize("input_dtype", DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_with_scaler_through_skl2onnx(X, dtype, input_dtype):
    X = X * [1.0, 10.0, 0.1, 5.0] + 3.0
    y = _targets("multiclass-str", (X - X.mean(0)) / X.std(0))
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(**_small(dtype=dtype))).fit(X, y)
    fastbp_onnx.register_onnx_converters()
    onx = skl2onnx.to_onnx(pipe, X[:1].astype(input_dtype),
                           options={"zipmap": False})

    out = _run(onx, X.astype(input_dtype))

    assert_array_equal(out["label"], pipe.predict(X))
    # A graph computes in its input's type, so the coarser one decides.
    coarser = "float64" if dtype == input_dtype == "float64" else "float32"
    assert_allclose(out["probabilities"], pipe.predict_proba(X),
                    **TOLERANCE[coarser])


@pytest.mark.parametrize("input_dtype", DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_regressor_pipeline_through_convert_sklearn(X, dtype, input_dtype):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor_type = {"float32": FloatTensorType,
                   "float64": DoubleTensorType}[input_dtype]
    pipe = make_pipeline(StandardScaler(), MLPRegressor(**_small(dtype=dtype)))
    pipe.fit(X * 4 - 1, X[:, 0] - X[:, 1])
    fastbp_onnx.register_onnx_converters()
    onx = skl2onnx.convert_sklearn(
        pipe, initial_types=[("X", tensor_type([None, N_FEATURES]))])

    out = _run(onx, (X * 4 - 1).astype(input_dtype))["variable"]

    coarser = "float64" if dtype == input_dtype == "float64" else "float32"
    assert_allclose(out.ravel(), pipe.predict(X * 4 - 1), **TOLERANCE[coarser])


def test_zipmap_gives_one_dict_per_sample(X):
    y = _targets("multiclass-str", X)
    clf = MLPClassifier(**_small()).fit(X, y)
    onx = fastbp_onnx.to_onnx(clf)  # float32 graph, skl2onnx's default zipmap

    out = _run(onx, X.astype(np.float32))

    proba = np.array([[row[c] for c in clf.classes_]
                      for row in out["output_probability"]])
    assert_array_equal(out["output_label"], clf.predict(X))
    assert_allclose(proba, clf.predict_proba(X), **TOLERANCE["float32"])


def test_zipmap_with_double_input_raises(X):
    y = _targets("binary", X)
    clf = MLPClassifier(**_small(dtype="float64")).fit(X, y)
    with pytest.raises(ValueError, match="zipmap': False"):
        fastbp_onnx.to_onnx(clf)


def test_classifier_option_output_class_labels(X):
    y = _targets("multiclass-str", X)
    clf = MLPClassifier(**_small()).fit(X, y)
    onx = fastbp_onnx.to_onnx(
        clf, options={"zipmap": False, "output_class_labels": True})

    out = _run(onx, X.astype(np.float32))

    assert_array_equal(out["class_labels"], clf.classes_)


@pytest.mark.parametrize("dtype", DTYPES)
def test_to_onnx_without_X_takes_the_model_dtype(X, dtype):
    reg = MLPRegressor(**_small(dtype=dtype)).fit(X, X[:, 0])
    onx = fastbp_onnx.to_onnx(reg)
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    expected = {"float32": "tensor(float)", "float64": "tensor(double)"}
    assert session.get_inputs()[0].type == expected[dtype]
    assert session.get_inputs()[0].shape[1] == N_FEATURES


@pytest.mark.parametrize("target_opset", [15, 21])
def test_target_opset(X, target_opset):
    clf = MLPClassifier(**_small()).fit(X, _targets("binary", X))
    onx = fastbp_onnx.to_onnx(clf, options={"zipmap": False},
                              target_opset=target_opset)

    out = _run(onx, X.astype(np.float32))

    domains = {op.domain: op.version for op in onx.opset_import}
    assert domains[""] <= target_opset
    assert_array_equal(out["label"], clf.predict(X))


# fastbp's activations skl2onnx does not know, and per-layer lists: the
# hidden layers are written by fastbp.onnx.
NEW_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu", "softplus",
                   ["gelu", "tanh"], ["relu", "silu"]]


def _activation_id(activation):
    return activation if isinstance(activation, str) else "-".join(activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS, ids=_activation_id)
@pytest.mark.parametrize("kind", ["binary", "multiclass-str"])
def test_classifier_with_fastbp_activations(X, kind, activation, dtype):
    _check_classifier(X, kind, activation, dtype, _tolerance(activation, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS, ids=_activation_id)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_with_fastbp_activations(X, n_outputs, activation, dtype):
    _check_regressor(X, n_outputs, activation, dtype,
                     _tolerance(activation, dtype))


def _tolerance(activation, dtype):
    """A double graph computes gelu's erf in float (onnxruntime has no
    double Erf)."""
    uses_gelu = "gelu" in ([activation] if isinstance(activation, str)
                           else activation)
    return TOLERANCE["float32" if uses_gelu else dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("target_opset, operator", [(19, "Erf"),
                                                    (20, "Gelu")])
def test_gelu_from_erf_before_opset_20(X, dtype, target_opset, operator):
    reg = MLPRegressor(**_small(activation="gelu", dtype=dtype)).fit(
        X, X[:, 0])
    onx = fastbp_onnx.to_onnx(reg, target_opset=target_opset)
    # onnxruntime expands Gelu into Erf, which it has for float only.
    expected = operator if dtype == "float32" else "Erf"
    assert expected in {node.op_type for node in onx.graph.node}
    # Large pre-activations: gelu's tails.
    X_far = 30 * X
    out = _run(onx, X_far.astype(dtype))["variable"]
    assert_allclose(out.ravel(), reg.predict(X_far),
                    **_tolerance("gelu", dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_graph_does_not_overflow(X, dtype):
    reg = MLPRegressor(**_small(activation="softplus", dtype=dtype)).fit(
        X, X[:, 0])
    X_far = 1e3 * X
    out = _run(fastbp_onnx.to_onnx(reg), X_far.astype(dtype))["variable"]
    assert np.isfinite(out).all()
    assert_allclose(out.ravel(), reg.predict(X_far), **TOLERANCE[dtype])


def test_sklearn_activations_convert_as_before(X):
    # One of scikit-learn's four: skl2onnx's converter writes every layer.
    clf = MLPClassifier(**_small(activation="tanh")).fit(X, _targets("binary", X))
    onx = fastbp_onnx.to_onnx(clf, options={"zipmap": False})
    reference = skl2onnx.to_onnx(
        _as_sklearn(clf), X[:1].astype(np.float32),
        options={"zipmap": False})
    assert ([n.op_type for n in onx.graph.node]
            == [n.op_type for n in reference.graph.node])


def _as_sklearn(model):
    theirs = sk.MLPClassifier(**_small(activation=model.activation))
    for name in ("coefs_", "intercepts_", "n_layers_", "n_outputs_",
                 "out_activation_", "classes_", "_label_binarizer",
                 "n_features_in_"):
        setattr(theirs, name, getattr(model, name))
    return theirs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", [
    dict(loss="huber", huber_delta=0.5), dict(loss="absolute_error"),
    dict(loss="quantile", quantile=0.9)], ids=str)
def test_regressor_trained_on_fastbp_losses(X, params, dtype):
    # The training loss changes the weights only: a plain identity-output
    # MLP to export.
    y = X[:, 0] * 2 - X[:, -1]
    reg = MLPRegressor(**_small(dtype=dtype, **params)).fit(X, y)
    onx = fastbp_onnx.to_onnx(reg)

    out = _run(onx, X.astype(dtype))["variable"]

    assert_allclose(out.ravel(), reg.predict(X), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["binary", "multiclass-str"])
def test_classifier_trained_with_label_smoothing(X, kind, dtype):
    y = _targets(kind, X)
    clf = MLPClassifier(**_small(dtype=dtype, label_smoothing=0.2)).fit(X, y)
    onx = fastbp_onnx.to_onnx(clf, options={"zipmap": False})

    out = _run(onx, X.astype(dtype))

    assert_array_equal(out["label"], clf.predict(X))
    assert_allclose(out["probabilities"], clf.predict_proba(X),
                    **TOLERANCE[dtype])
