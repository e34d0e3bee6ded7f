"""Regression on the diabetes data
===============================

MLPRegressor on the diabetes data: fastbp next to scikit-learn.

scikit-learn's diabetes data (442 patients, 10 features, a disease
progression score) is split 75/25. X is standardised in a Pipeline and y
through TransformedTargetRegressor, both fitted on the training split only,
so the networks see unit-scale inputs and targets while R^2 is measured on
the original target. fastbp's and scikit-learn's MLPRegressor get the same
hyper-parameters and ``random_state``, once with the 'lbfgs' solver and once
with 'adam'; the script prints test R^2, fit time and iterations of each,
next to an ordinary least-squares baseline.

Run from the repository root::

    python examples/regression_diabetes.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer iterations).
"""

import os
import time
import warnings

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import MLPRegressor

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0

# Strong L2 regularisation: 331 training samples are few for a network
# (alpha=1 overfits to a test R^2 near 0 with lbfgs, 0.26 with adam).
SOLVER_PARAMS = {
    "lbfgs": dict(solver="lbfgs", alpha=30.0, max_iter=20 if QUICK else 2000),
    "adam": dict(solver="adam", alpha=30.0, max_iter=20 if QUICK else 2000),
}
HIDDEN_LAYER_SIZES = (32,)


def scaled(regressor):
    """``regressor`` with standardised inputs and targets."""
    return TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), regressor),
        transformer=StandardScaler())


def warm_up(X, y):
    """Compile (or load from Numba's cache) fastbp's kernels for both
    solvers; return the time taken in seconds."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for solver in SOLVER_PARAMS:
            tiny = MLPRegressor(hidden_layer_sizes=(4,), solver=solver,
                                max_iter=2, random_state=SEED)
            tiny.fit(X[:40], y[:40]).score(X[:40], y[:40])
    return time.perf_counter() - start


def main():
    if QUICK:
        # Few iterations on purpose: the reduced run is a smoke test.
        warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=SEED)
    print(f"diabetes: {X_train.shape[0]} train / {X_test.shape[0]} test "
          f"samples, {X_train.shape[1]} features"
          + (" (quick mode)" if QUICK else ""))
    print(f"compile/warm-up: {warm_up(X_train, y_train):.2f} s "
          "(Numba compiles on first use, then loads its on-disk cache)")

    baseline = scaled(LinearRegression()).fit(X_train, y_train)
    print(f"\nlinear least squares baseline: test R^2 = "
          f"{baseline.score(X_test, y_test):.4f}")

    print(f"\nhidden_layer_sizes={HIDDEN_LAYER_SIZES}, random_state={SEED}")
    print(f"{'solver':<7}{'alpha':>6}  {'implementation':<17}{'test R^2':>9}"
          f"{'fit time':>11}{'iterations':>12}")
    for solver, params in SOLVER_PARAMS.items():
        for name, mlp_class in (("fastbp (float32)", MLPRegressor),
                                ("scikit-learn", SkMLPRegressor)):
            model = scaled(mlp_class(hidden_layer_sizes=HIDDEN_LAYER_SIZES,
                                     random_state=SEED, **params))
            start = time.perf_counter()
            model.fit(X_train, y_train)
            elapsed = time.perf_counter() - start
            mlp = model.regressor_[-1]
            print(f"{solver:<7}{params['alpha']:>6g}  {name:<17}"
                  f"{model.score(X_test, y_test):>9.4f}{elapsed:>9.3f} s"
                  f"{mlp.n_iter_:>12d}")


if __name__ == "__main__":
    main()
