"""Concurrency, odd-but-valid input, fuzzing and bounds-checked kernels."""

import json
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, MLPRegressor

from .engine import make_layout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def _fit(params, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(**params).fit(X, y)


def test_concurrent_fits_from_threads_equal_serial_fits(digits):
    X, y = digits
    configs = [dict(hidden_layer_sizes=(h,), max_iter=4, random_state=h,
                    batch_size=256) for h in (30, 40, 50, 60)]
    serial = [_fit(c, X, y) for c in configs]
    results = [None] * len(configs)
    errors = []

    def work(i):
        try:
            results[i] = _fit(configs[i], X, y)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for a, b in zip(serial, results):
        for ca, cb in zip(a.coefs_, b.coefs_):
            assert_array_equal(ca, cb)


@pytest.mark.parametrize("variant", ["fortran", "strided", "big_endian",
                                     "readonly", "int"])
def test_odd_but_valid_X_gives_same_model(digits, variant):
    X, y = digits
    X = X[:300]
    y = y[:300]
    Xi = np.round(X * 16).astype(np.int64)
    base = Xi.astype(np.float64)
    odd = {
        "fortran": np.asfortranarray(base),
        "strided": np.repeat(base, 2, axis=1)[:, ::2],
        "big_endian": base.astype(">f8"),
        "readonly": base.copy(),
        "int": Xi,
    }[variant]
    if variant == "readonly":
        odd.setflags(write=False)
    params = dict(max_iter=3, random_state=0, dtype="float64")
    ref = _fit(params, base, y)
    got = _fit(params, odd, y)
    for a, b in zip(ref.coefs_, got.coefs_):
        assert_array_equal(a, b)
    assert_array_equal(ref.predict_proba(base), got.predict_proba(odd))


def test_string_labels(digits):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six",
                       "seven", "eight", "nine"])[y]
    clf = _fit(dict(max_iter=3, random_state=0), X, labels)
    assert set(clf.predict(X)) <= set(labels)
    assert list(clf.classes_) == sorted(set(labels))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    n_samples=st.integers(1, 60),
    n_features=st.integers(1, 9),
    hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    batch_size=st.one_of(st.just("auto"), st.integers(1, 80)),
    activation=st.sampled_from(["identity", "logistic", "tanh", "relu"]),
    solver=st.sampled_from(["adam", "sgd", "lbfgs"]),
    dtype=st.sampled_from(["float32", "float64"]),
    n_classes=st.integers(1, 4),
    regression=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_fuzz_no_crash_finite_outputs_or_clean_error(
        n_samples, n_features, hidden, batch_size, activation, solver, dtype,
        n_classes, regression, seed):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    params = dict(hidden_layer_sizes=hidden, batch_size=batch_size,
                  activation=activation, solver=solver, dtype=dtype,
                  max_iter=3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if regression:
            y = rng.randn(n_samples)
            model = MLPRegressor(**params)
            model.fit(X, y)
            assert np.isfinite(model.predict(X)).all()
            return
        y = rng.randint(0, n_classes, n_samples)
        model = MLPClassifier(**params)
        if len(np.unique(y)) < 2 and n_samples > 0:
            # a single class: scikit-learn's behaviour is to fit anyway
            pass
        model.fit(X, y)
    proba = model.predict_proba(X)
    assert np.isfinite(proba).all()
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-4)
    assert set(model.predict(X)) <= set(y)


@pytest.mark.cold_compile
def test_kernels_pass_with_numba_boundscheck(tmp_path):
    """Run the kernel tests again with Numba's bounds checking compiled in:
    an out-of-bounds index then raises instead of corrupting memory."""
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1",
               NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
           os.path.join(ROOT, "tests", "test_kernels.py"),
           "-k", "float64 or epoch or batch_shapes"]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert " passed" in out.stdout


SIMD_OUT_OF_BOUNDS = """
import json
import numpy as np
from numba import njit
from fastbp._kernels import simd


@njit
def first_lane_of_row(a, i, j, count):
    return simd.lane(simd.load(a, i, j, count), 0)


@njit
def first_lane_of_vector(a, j, count):
    return simd.lane(simd.load1(a, j, count), 0)


@njit
def store_ones(a, i, j, count):
    simd.store(a, i, j, count, simd.splat(a[0, 0]))


@njit
def broadcast(a, i, j):
    return simd.lane(simd.splat_at(a, i, j), 0)


a = np.ones((3, 4))
calls = {
    "row inside": lambda: first_lane_of_row(a, 2, 1, 3),
    "row past its end": lambda: first_lane_of_row(a, 2, 2, 3),
    "row below the array": lambda: first_lane_of_row(a, 3, 0, 1),
    "no lanes at the end": lambda: first_lane_of_row(a, 2, 4, 0),
    "vector past its end": lambda: first_lane_of_vector(a[0], 1, 4),
    "store past the row": lambda: store_ones(a, 0, 1, 4),
    "store inside": lambda: store_ones(a, 0, 0, 4),
    "broadcast outside": lambda: broadcast(a, 0, 4),
}
outcomes = {}
for name, call in calls.items():
    try:
        call()
        outcomes[name] = "ok"
    except IndexError:
        outcomes[name] = "IndexError"
print(json.dumps(outcomes))
"""


def test_simd_loads_and_stores_are_bounds_checked_under_numba_boundscheck(
        tmp_path):
    """The explicit vector loads and stores (``simd.py``) check the first
    and the last entry they touch when Numba checks bounds."""
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", PYTHONPATH=ROOT,
               NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    out = subprocess.run([sys.executable, "-c", SIMD_OUT_OF_BOUNDS], env=env,
                         cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    outcomes = json.loads(out.stdout.strip().splitlines()[-1])
    assert outcomes == {
        "row inside": "ok", "row past its end": "IndexError",
        "row below the array": "IndexError", "no lanes at the end": "ok",
        "vector past its end": "IndexError",
        "store past the row": "IndexError", "store inside": "ok",
        "broadcast outside": "IndexError"}


def _epoch_arguments(n_samples=50, batch_size=16):
    from fastbp._kernels._state import OptimizerState
    from fastbp._kernels._config import N_HYPER, SGD
    from fastbp._network import Workspace, training_data

    rng = np.random.RandomState(0)
    layout = make_layout([5, 7, 3])
    workspace = Workspace(layout, batch_size, np.dtype(np.float64))
    return dict(
        X=training_data(rng.rand(n_samples, 5), np.float64),
        Y=training_data(rng.rand(n_samples, 3), np.float64), sw=np.empty(0),
        idx=np.arange(n_samples, dtype=np.int64), batch_size=batch_size,
        params=rng.rand(layout.n_params), layers=workspace.table,
        out=0, alpha=0.0, loss_param=0.0,
        optimizer=OptimizerState(SGD, np.zeros(N_HYPER),
                                 np.zeros((2, layout.n_params)),
                                 np.zeros(1, np.int64)),
        work=workspace.buffers())


@pytest.mark.parametrize("change", [
    "X with another feature count", "Y of another width", "Y too short",
    "sample weights too short", "an index past X", "a negative index",
    "batch larger than the workspace", "params too short",
    "a table for another capacity", "a workspace too small",
    "a CSR column index past X", "a row map past X", "a row map past Y",
    "sparse Y",
    "an optimizer state too small",
    "packed weights over the transposed ones", "packed weights past wt"])
def test_epoch_kernel_refuses_arguments_that_do_not_fit(change):
    """Shapes are checked in Python before the compiled epoch, which reads
    through vector loads that Numba's bounds checking does not cover."""
    from scipy.sparse import csr_matrix

    from fastbp._kernels import _run_epoch
    from fastbp._network import Workspace, training_data

    args = _epoch_arguments()
    n_params = args["params"].shape[0]
    if change == "X with another feature count":
        args["X"] = training_data(np.ones((50, 6)), np.float64)
    elif change == "Y of another width":
        args["Y"] = training_data(np.ones((50, 2)), np.float64)
    elif change == "Y too short":
        args["Y"] = training_data(np.ones((49, 3)), np.float64)
    elif change == "a row map past Y":
        args["Y"] = args["Y"]._replace(rows=np.arange(1, 51, dtype=np.int64))
    elif change == "sparse Y":
        args["Y"] = training_data(csr_matrix(np.ones((50, 3))), np.float64)
    elif change == "sample weights too short":
        args["sw"] = np.ones(49)
    elif change == "an index past X":
        args["idx"][7] = 50
    elif change == "a negative index":
        args["idx"][7] = -1
    elif change == "batch larger than the workspace":
        args["batch_size"] = 17
    elif change == "params too short":
        args["params"] = args["params"][:-1]
    elif change == "a table for another capacity":
        args["layers"] = make_layout([5, 7, 3]).table(32)
    elif change == "a workspace too small":
        args["work"] = Workspace(make_layout([5, 4, 3]), 16,
                                 np.dtype(np.float64)).buffers()
    elif change == "a CSR column index past X":
        X = training_data(csr_matrix(np.eye(50, 5)), np.float64)
        X.indices[3] = 5
        args["X"] = X
        args["work"] = Workspace(make_layout([5, 7, 3]), 16, np.dtype(np.float64),
                                 sparse=True).buffers()
    elif change == "a row map past X":
        args["X"] = args["X"]._replace(rows=np.arange(1, 51, dtype=np.int64))
    elif change.startswith("packed weights"):
        from fastbp._kernels._config import PACK_OFFSET
        args["layers"] = args["layers"].copy()
        args["layers"][1, PACK_OFFSET] = (
            0 if change.endswith("ones") else args["work"].wt.shape[0] + 1)
    elif change == "an optimizer state too small":
        args["optimizer"] = args["optimizer"]._replace(
            state=np.zeros((2, n_params - 1)))
    with pytest.raises(ValueError, match="compiled kernel arguments"):
        _run_epoch(**args)


def test_epoch_kernel_runs_on_arguments_that_fit():
    from fastbp._kernels import _run_epoch

    assert np.isfinite(_run_epoch(**_epoch_arguments()))


@pytest.mark.parametrize("change", ["X", "result", "params", "buffer"])
def test_prediction_kernel_refuses_arguments_that_do_not_fit(change):
    from fastbp._kernels import PREDICT_SLOTS, _predict_rows
    from fastbp._network import dense_kernel_input

    layout = make_layout([5, 7, 3])
    X = np.ones((10, 6 if change == "X" else 5))
    params = np.ones(layout.n_params - (change == "params"))
    scratch = PREDICT_SLOTS * 10 * 7 - (change == "buffer")
    result = np.empty((10, 2 if change == "result" else 3))
    with pytest.raises(ValueError, match="compiled kernel arguments"):
        _predict_rows(dense_kernel_input(X), params, layout.table_for_one,
                      0, 0, np.empty(scratch), np.empty(scratch), result)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_network_too_large_for_memory_raises_memory_error(solver):
    X = np.zeros((10, 3))
    y = np.arange(10) % 2
    model = MLPClassifier((10**6, 10**6), solver=solver, dtype="float64")
    with pytest.raises(MemoryError, match=r"needs at least [\d.]+ TiB .*"
                       r'dtype="float32"'):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_X_needs_no_dense_batch_buffer(monkeypatch, solver):
    # 2**20 hashed features: a dense copy of a batch's 200 rows would be
    # 800 MiB, against some 25 MiB for the parameters and their buffers.
    from scipy import sparse
    from fastbp import _network

    monkeypatch.setattr(_network, "physical_memory", lambda: 200 * 2**20)
    n_features = 2**20
    rng = np.random.RandomState(0)
    X = sparse.csr_matrix(
        (rng.rand(3000), (np.arange(3000) % 300,
                          rng.randint(0, n_features, 3000))),
        shape=(300, n_features))
    y = np.arange(300) % 2
    model = MLPClassifier((1,), solver=solver, max_iter=2)
    model.fit(X, y)  # MemoryError when the workspace copied batches
    assert np.isfinite(model.coefs_[0]).all()
    layout = model._layout
    with pytest.raises(MemoryError, match="needs at least"):
        layout.check_memory(200, 4)  # the same fit on dense X
    workspace = _network.Workspace(layout, 200, np.float32, sparse=True)
    assert workspace.xbuf.shape == (200, 0)


# ------------------------------------------------ bad input: sklearn's errors
def _bad_inputs():
    rng = np.random.RandomState(0)
    X = rng.rand(20, 3)
    y = np.arange(20) % 2
    nan_X = X.copy()
    nan_X[3, 1] = np.nan
    inf_X = X.copy()
    inf_X[0, 0] = np.inf
    nan_y = y.astype(float)
    nan_y[2] = np.nan
    return {
        "nan in X": (nan_X, y),
        "inf in X": (inf_X, y),
        "nan in y": (X, nan_y),
        "empty X": (np.empty((0, 3)), np.empty(0)),
        "1-D X": (X[:, 0], y),
        "3-D X": (X.reshape(20, 3, 1), y),
        "length mismatch": (X, y[:-1]),
        "complex X": (X + 1j, y),
        "string X": (np.array([["a", "b", "c"]] * 20), y),
        "no features": (np.empty((20, 0)), y),
    }


@pytest.mark.parametrize("estimator", ["MLPClassifier", "MLPRegressor"])
@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_raises_sklearns_error(estimator, case):
    """Same exception type and message as scikit-learn's MLP, raised before
    any compiled code runs."""
    from sklearn import neural_network as sk
    import fastbp
    X, y = _bad_inputs()[case]

    def error(cls, **params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                cls(max_iter=2, **params).fit(X, y)
            except Exception as exc:  # noqa: BLE001 - compared below
                return exc
        return None

    ref = error(getattr(sk, estimator))
    # In float64 the messages (which may name the dtype or print values)
    # are scikit-learn's word for word; float32 raises the same type.
    ours = error(getattr(fastbp, estimator), dtype="float64")
    ours32 = error(getattr(fastbp, estimator))
    if ref is None:  # scikit-learn accepts it (e.g. NaN labels for classes)
        assert ours is None and ours32 is None
        return
    assert type(ours) is type(ref), (ours, ref)
    assert str(ours) == str(ref)
    assert type(ours32) is type(ref), (ours32, ref)


def _sklearn_error(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except Exception as exc:  # noqa: BLE001 - compared by the caller
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize("sizes", [[2.5], [3.0], [np.float64(3)], [True],
                                   [[3]], (3, 2.0)])
def test_hidden_layer_sizes_that_are_not_integers_raise_type_error(sizes):
    from sklearn import neural_network as sk
    X = np.random.RandomState(0).rand(10, 3)
    y = np.arange(10) % 2
    ref = _sklearn_error(
        lambda: sk.MLPClassifier(sizes, max_iter=1).fit(X, y))
    with pytest.raises(TypeError) as ours:
        MLPClassifier(sizes, max_iter=1).fit(X, y)
    assert type(ours.value) is type(ref)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
@pytest.mark.parametrize("kind", ["str", "bytes", "list of str"])
def test_strings_of_numbers_raise_at_prediction_like_sklearn(method, kind):
    from sklearn import neural_network as sk
    rng = np.random.RandomState(0)
    X = rng.rand(10, 3)
    y = np.arange(10) % 2
    X_text = {"str": X.astype(str), "bytes": X.astype("S"),
              "list of str": X.astype(str).tolist()}[kind]
    args = (X_text, y) if method == "score" else (X_text,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref_model = sk.MLPClassifier((3,), max_iter=1).fit(X, y)
        model = MLPClassifier((3,), max_iter=1).fit(X, y)
    ref = _sklearn_error(lambda: getattr(ref_model, method)(*args))
    with pytest.raises(ValueError) as ours:
        getattr(model, method)(*args)
    assert str(ours.value) == str(ref)


def test_regressor_string_targets_raise_type_error():
    X = np.random.RandomState(0).rand(10, 3)
    model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1)
    with pytest.raises(TypeError, match="strings"):
        model.fit(X, np.arange(10).astype(str))


@pytest.mark.parametrize("n_samples, fraction, method", [
    (1, 0.1, "fit"),            # train set empty
    (10, 0.1, "fit"),           # validation set too small
    (10, 0.0, "fit"),           # test_size=0.0
    (10, 0.1, "partial_fit"),   # partial_fit with early stopping
    (10, 0.5, "fit"),           # the split works: the loss fails
])
def test_regressor_string_targets_with_early_stopping_fail_as_sklearn(
        n_samples, fraction, method):
    """scikit-learn splits off the validation set before its loss meets
    the strings: the split's errors come first."""
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor
    X = np.random.RandomState(0).rand(n_samples, 3)
    y = np.arange(n_samples).astype(str)
    params = dict(hidden_layer_sizes=(3,), max_iter=1, early_stopping=True,
                  validation_fraction=fraction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as theirs:
            getattr(SkMLPRegressor(**params), method)(X, y)
        with pytest.raises(Exception) as ours:
            getattr(MLPRegressor(**params), method)(X, y)
    if isinstance(theirs.value, TypeError):  # numpy's, from the loss
        assert type(ours.value) is TypeError
        assert "strings" in str(ours.value)
    else:
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value)


def test_fit_refusing_non_finite_X_leaves_the_model_as_it_was():
    from sklearn.exceptions import NotFittedError
    rng = np.random.RandomState(0)
    X = rng.rand(10, 3)
    y = np.arange(10) % 2
    bad = rng.rand(10, 5)
    bad[0, 0] = np.nan
    model = MLPClassifier((3,), max_iter=1)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y)
    with pytest.raises(NotFittedError):
        model.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y)
    assert model.n_features_in_ == 3
    assert model.predict(X).shape == (10,)


def test_predict_after_fit_refused_data_of_another_width_raises():
    """validate_data records the new width before the sample weights are
    refused: the kernel must not read 30 columns of a 1-column X."""
    rng = np.random.RandomState(0)
    X = rng.rand(12, 30)
    y = rng.rand(12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(X[:, :1], y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="input layer has 30"):
        model.predict(rng.rand(5000, 1))


def test_predict_after_partial_fit_refused_targets_of_another_width():
    """_fit records n_outputs_ before it refuses one target column for a
    network of three outputs: the result must still have three columns
    (a narrower one was written past, and the heap corrupted)."""
    rng = np.random.RandomState(0)
    X = rng.rand(12, 2)
    Y = rng.rand(12, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(3,), max_iter=1).fit(X, Y)
    with pytest.raises(ValueError, match="layer sizes changed"):
        model.partial_fit(X, Y[:, 0])
    assert model.predict(rng.rand(5000, 2)).shape == (5000, 3)


def test_wrong_n_features_at_predict_and_unfitted(digits):
    from sklearn import neural_network as sk
    from sklearn.exceptions import NotFittedError
    X, y = digits
    for ours, ref in [(MLPClassifier(max_iter=2), sk.MLPClassifier(max_iter=2))]:
        with pytest.raises(NotFittedError):
            ours.predict(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(X, y)
            ref.fit(X, y)
        with pytest.raises(ValueError) as ours_err:
            ours.predict(X[:, :10])
        with pytest.raises(ValueError) as ref_err:
            ref.predict(X[:, :10])
        assert str(ours_err.value) == str(ref_err.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_rows,row", [(1, 0), (20, 19), (5000, 2500),
                                        (5000, 4999)])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_X_at_predict_raises_sklearns_error(dtype, n_rows, row,
                                                       value):
    """X that needs no conversion is checked for NaN and infinity inside the
    prediction kernel, in parallel blocks: one bad value anywhere raises
    scikit-learn's error (word for word), in predict, predict_proba and
    score, unless ``assume_finite`` is set."""
    from sklearn import neural_network as sk
    from sklearn import config_context
    rng = np.random.RandomState(0)
    X_fit = rng.rand(30, 7)
    y_fit = np.arange(30) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier((5,), max_iter=2, dtype=dtype).fit(X_fit, y_fit)
        ref = sk.MLPClassifier((5,), max_iter=2).fit(X_fit, y_fit)
    X = rng.rand(n_rows, 7).astype(dtype)
    y = np.arange(n_rows) % 3
    X[row, 3] = value
    with pytest.raises(ValueError) as ref_err:
        ref.predict_proba(X.astype(np.float64))
    for method in (ours.predict, ours.predict_proba,
                   lambda X: ours.score(X, y)):
        with pytest.raises(ValueError) as ours_err:
            method(X)
        assert str(ours_err.value) == str(ref_err.value).replace(
            "float64", dtype)
    with config_context(assume_finite=True):
        assert ours.predict_proba(X).shape == (n_rows, 3)


def test_large_finite_X_whose_sum_overflows_predicts():
    """The kernel's check sums each block: finite values whose sum
    overflows are checked again exactly, and predicted."""
    rng = np.random.RandomState(0)
    X = rng.rand(300, 4).astype(np.float32)
    y = np.arange(300) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((5,), max_iter=2).fit(X, y)
    big = np.full((300, 4), np.finfo(np.float32).max / 2, dtype=np.float32)
    assert not np.isfinite(big.sum())
    expected = model.predict_proba(big.astype(np.float64)).astype(np.float32)
    assert_array_equal(model.predict_proba(big), expected)


def test_single_class_behaves_as_sklearn():
    from sklearn import neural_network as sk
    X = np.random.RandomState(0).rand(30, 4)
    y = np.zeros(30, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(max_iter=5, random_state=0).fit(X, y)
        ref = sk.MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    assert_array_equal(ours.predict(X), ref.predict(X))
    assert ours.predict_proba(X).shape == ref.predict_proba(X).shape


def test_fit_makes_no_full_copy_of_c_contiguous_float32_X():
    import tracemalloc
    rng = np.random.RandomState(0)
    X = rng.rand(40_000, 200).astype(np.float32)  # 30.5 MiB
    y = rng.randint(0, 3, len(X))
    model = MLPClassifier((16,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:300], y[:300])  # compile / load kernels outside the trace
        tracemalloc.start()
        MLPClassifier((16,), max_iter=1, random_state=0).fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # Labels, their one-hot encoding and the shuffled index are allocated;
    # a copy of X would add X.nbytes on top of them.
    assert peak < X.nbytes / 2, (peak / 2**20, X.nbytes / 2**20)


def test_prediction_kernel_refuses_a_packed_buffer_of_another_size():
    from fastbp._kernels import PREDICT_SLOTS, _predict_rows, packed_size
    from fastbp._network import dense_kernel_input

    layout = make_layout([5, 40, 3])
    X = np.ones((10, 5))
    params = np.ones(layout.n_params)
    scratch = np.empty(PREDICT_SLOTS * 10 * 40)
    size = packed_size(layout.table_for_one, np.float64, False)
    assert size == 5 * 32
    for wrong in (size - 1, size + 16):
        with pytest.raises(ValueError, match="packed-weights buffer"):
            _predict_rows(dense_kernel_input(X), params,
                          layout.table_for_one, 0, scratch, scratch.copy(),
                          np.empty((10, 3)), packed=np.empty(wrong))
