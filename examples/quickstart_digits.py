"""Quick start: digits, fastbp beside scikit-learn
===============================================

Quick start: fastbp's MLPClassifier next to scikit-learn's, on the digits.

Both classifiers get the same hyper-parameters and ``random_state`` and are
trained on scikit-learn's 8x8 digits (a stratified 75/25 train/test split,
standardised with statistics of the training part). The script prints each
one's test accuracy and fit time side by side, and fastbp's speed-up.

fastbp's kernels are compiled for this machine while ``pip install .``
builds the package, and a new process loads them from Numba's on-disk
cache (where they are missing, as in an editable install, Numba compiles
them on first use, in a few seconds per dtype). A tiny fit in each dtype
loads them before anything is timed; its duration is printed as
"compile/warm-up". Fit times are the best of a few repeats.

Run from the repository root::

    python examples/quickstart_digits.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and epochs).
"""

import os
import time
import warnings

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler

import fastbp
from fastbp import MLPClassifier

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0

PARAMS = dict(hidden_layer_sizes=(100,), solver="adam",
              max_iter=15 if QUICK else 300, random_state=SEED)
N_TRAIN = 400 if QUICK else None  # None: the whole training split
REPEATS = 1 if QUICK else 3


def best_fit_time(estimator, X, y, repeats):
    """Fit ``repeats`` times; return the best wall-clock time in seconds."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        estimator.fit(X, y)
        best = min(best, time.perf_counter() - start)
    return best


def warm_up(X, y):
    """Compile (or load from Numba's cache) fastbp's kernels in both dtypes.

    Returns the time taken in seconds.
    """
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in ("float32", "float64"):
            tiny = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2,
                                 random_state=SEED, dtype=dtype)
            tiny.fit(X[:40], y[:40]).score(X[:40], y[:40])
    return time.perf_counter() - start


def main():
    if QUICK:
        # Few epochs on purpose: the reduced run is a smoke test.
        warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    if N_TRAIN is not None:
        X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    print(f"fastbp {fastbp.__version__}, scikit-learn {sklearn.__version__}"
          + (" (quick mode)" if QUICK else ""))
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test "
          f"samples, {X_train.shape[1]} features, {len(np.unique(y))} classes")
    print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in PARAMS.items()))
    print(f"compile/warm-up: {warm_up(X_train, y_train):.2f} s "
          "(both dtypes; kernels loaded from Numba's cache, or compiled if "
          "missing)")

    rows = [
        ("fastbp (float32)", MLPClassifier(**PARAMS, dtype="float32")),
        ("fastbp (float64)", MLPClassifier(**PARAMS, dtype="float64")),
        ("scikit-learn", SkMLPClassifier(**PARAMS)),
    ]
    print(f"\nfit time: best of {REPEATS}")
    print(f"{'':<18}{'test accuracy':>14}{'fit time':>11}{'epochs':>8}")
    times = {}
    for name, estimator in rows:
        times[name] = best_fit_time(estimator, X_train, y_train, REPEATS)
        accuracy = estimator.score(X_test, y_test)
        print(f"{name:<18}{accuracy:>14.4f}{times[name]:>9.3f} s"
              f"{estimator.n_iter_:>8d}")

    baseline = times["scikit-learn"]
    print()
    for name in ("fastbp (float32)", "fastbp (float64)"):
        print(f"speed-up of {name} over scikit-learn: "
              f"{baseline / times[name]:.2f}x")


if __name__ == "__main__":
    main()
