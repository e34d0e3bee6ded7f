"""Concurrency, odd-but-valid input, fuzzing and bounds-checked kernels."""

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


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_network_too_large_for_memory_raises_memory_error(solver):
    X = np.zeros((10, 3))
    y = np.arange(10) % 2
    model = MLPClassifier((10**6, 10**6), solver=solver, dtype="float64")
    with pytest.raises(MemoryError, match=r"needs at least [\d.]+ TiB .*"
                       r'dtype="float32"'):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")
