"""A Pipeline tuned by GridSearchCV
================================

fastbp's MLPClassifier inside a Pipeline tuned by GridSearchCV.

``Pipeline(StandardScaler(), fastbp.MLPClassifier())`` is tuned over a small
grid of ``alpha`` x ``hidden_layer_sizes`` by stratified 3-fold
cross-validation on scikit-learn's breast-cancer data (a binary problem, so
the network has one logistic output unit). The best pipeline, refitted on
the whole training split, is scored on held-out test data.

This shows that the estimator is an ordinary scikit-learn estimator: it is
cloned for every fold, its parameters are set through the pipeline's
``mlp__`` names, and the scaler is fitted inside each fold only. The same
search is then run with scikit-learn's MLPClassifier for comparison.

Run from the repository root::

    python examples/grid_search_pipeline.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (a 2 x 2 grid, fewer
samples and epochs).
"""

import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import MLPClassifier

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0

if QUICK:
    PARAM_GRID = {"mlp__alpha": [1e-4, 1.0],
                  "mlp__hidden_layer_sizes": [(16,), (32, 16)]}
    MAX_ITER = 20
    N_TRAIN = 200
else:
    PARAM_GRID = {"mlp__alpha": [1e-4, 1e-2, 1.0, 10.0],
                  "mlp__hidden_layer_sizes": [(16,), (64,), (64, 32)]}
    MAX_ITER = 500
    N_TRAIN = None  # the whole training split


def grid_search(mlp_class, X, y):
    """Run the grid search with ``mlp_class`` as the pipeline's last step.

    Returns the fitted GridSearchCV and its wall-clock time in seconds.
    """
    pipeline = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", mlp_class(solver="adam", learning_rate_init=0.01,
                          max_iter=MAX_ITER, random_state=SEED)),
    ])
    search = GridSearchCV(pipeline, PARAM_GRID, cv=3, scoring="accuracy")
    start = time.perf_counter()
    search.fit(X, y)
    return search, time.perf_counter() - start


def main():
    if QUICK:
        # Few epochs on purpose: the reduced run is a smoke test.
        warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    if N_TRAIN is not None:
        X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    print(f"breast cancer: {X_train.shape[0]} train / {X_test.shape[0]} test "
          f"samples, {X_train.shape[1]} features, classes {np.unique(y)}"
          + (" (quick mode)" if QUICK else ""))

    n_fits = 3 * len(PARAM_GRID["mlp__alpha"]) * len(
        PARAM_GRID["mlp__hidden_layer_sizes"])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(
            X_train[:40], y_train[:40]).score(X_train[:40], y_train[:40])
    print(f"compile/warm-up: {time.perf_counter() - start:.2f} s "
          "(Numba compiles on first use, then loads its on-disk cache)")
    search, elapsed = grid_search(MLPClassifier, X_train, y_train)
    print(f"grid search: {n_fits} fits + 1 refit in {elapsed:.2f} s")

    print(f"\n{'alpha':>8}  {'hidden_layer_sizes':<20}{'CV accuracy':>12}"
          f"{'+/-':>8}{'rank':>6}")
    results = search.cv_results_
    for i, params in enumerate(results["params"]):
        print(f"{params['mlp__alpha']:>8g}  "
              f"{str(params['mlp__hidden_layer_sizes']):<20}"
              f"{results['mean_test_score'][i]:>12.4f}"
              f"{results['std_test_score'][i]:>8.4f}"
              f"{results['rank_test_score'][i]:>6d}")

    best_mlp = search.best_estimator_.named_steps["mlp"]
    print(f"\nbest params: {search.best_params_}")
    print(f"best CV accuracy: {search.best_score_:.4f}")
    print(f"test accuracy of the refitted best pipeline: "
          f"{search.score(X_test, y_test):.4f} "
          f"({best_mlp.n_iter_} epochs, out_activation_="
          f"{best_mlp.out_activation_!r})")

    sk_search, sk_elapsed = grid_search(SkMLPClassifier, X_train, y_train)
    print(f"\nthe same search with scikit-learn's MLPClassifier: "
          f"{sk_elapsed:.2f} s")
    print(f"scikit-learn best params: {sk_search.best_params_}")
    print(f"scikit-learn best CV accuracy: {sk_search.best_score_:.4f}, "
          f"test accuracy: {sk_search.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
