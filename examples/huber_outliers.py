"""Huber loss against gross outliers in y
=======================================

Huber loss against the squared error when 5 % of the targets are gross
outliers.

The targets are a smooth function of two inputs plus small noise, and 5 %
of the training targets get gross errors added (+-15 to 30, the clean
target ranging from -1.5 to 2.5). Both networks are trained on these
corrupted targets with the same architecture and ``random_state``:
scikit-learn's only choice, the squared error, and fastbp's
``MLPRegressor(loss="huber", huber_delta=...)`` (PyTorch's ``HuberLoss``),
quadratic for residuals within delta and linear beyond, so that an
outlier's pull on the weights is bounded by delta. The script prints each
model's error against the *clean* target on held-out data (RMSE and MAE)
and the same for a squared-error model trained on clean targets, the best
one could hope for.

The figure (``$FASTBP_EXAMPLES_OUT/huber_outliers.png``, default the
current directory; needs matplotlib, no window is opened) shows the
predictions along one input with the other fixed, and each model's test
residuals against the clean target.

Run from the repository root::

    python examples/huber_outliers.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and
epochs).
"""

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: draw into files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastbp import MLPRegressor  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0
N_TRAIN = 2000 if QUICK else 5000
N_TEST = 2000
OUTLIER_FRACTION = 0.05
PARAMS = dict(hidden_layer_sizes=(64, 64), learning_rate_init=0.003,
              batch_size=64, max_iter=40 if QUICK else 200,
              random_state=SEED)


def clean_target(X):
    return np.sin(2 * X[:, 0]) + 0.5 * X[:, 1] ** 2 - 0.5


def main():
    if QUICK:
        # Few epochs on purpose: the reduced run is a smoke test.
        warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(SEED)
    X = rng.uniform(-2, 2, (N_TRAIN + N_TEST, 2))
    clean = clean_target(X)
    y = clean + 0.1 * rng.standard_normal(len(X))
    X_train, X_test = X[:N_TRAIN], X[N_TRAIN:]
    y_train, clean_test = y[:N_TRAIN].copy(), clean[N_TRAIN:]
    outliers = rng.rand(N_TRAIN) < OUTLIER_FRACTION
    y_train[outliers] += (rng.choice([-1, 1], outliers.sum())
                          * rng.uniform(15, 30, outliers.sum()))

    models = {
        "squared error": (MLPRegressor(**PARAMS), y_train),
        "huber, delta=0.5": (MLPRegressor(loss="huber", huber_delta=0.5,
                                          **PARAMS), y_train),
        "squared error, clean y": (MLPRegressor(**PARAMS), y[:N_TRAIN]),
    }
    print(f"{N_TRAIN} training rows, {outliers.sum()} of them with gross "
          f"errors in y; {N_TEST} clean test rows"
          + (" (quick mode)" if QUICK else ""))
    print(f"{'model':<26}{'RMSE':>8}{'MAE':>8}   (test, against the clean "
          "target)")
    predictions = {}
    for name, (model, target) in models.items():
        model.fit(X_train, target)
        predictions[name] = model.predict(X_test)
        error = predictions[name] - clean_test
        print(f"{name:<26}{np.sqrt(np.mean(error ** 2)):>8.4f}"
              f"{np.mean(np.abs(error)):>8.4f}")
    ratio = (np.sqrt(np.mean((predictions["squared error"] - clean_test) ** 2))
             / np.sqrt(np.mean((predictions["huber, delta=0.5"]
                                - clean_test) ** 2)))
    print(f"RMSE ratio squared error / huber: {ratio:.2f}")

    fig, (ax_curve, ax_res) = plt.subplots(1, 2, figsize=(11, 4.2))
    grid = np.column_stack([np.linspace(-2, 2, 200), np.zeros(200)])
    ax_curve.plot(grid[:, 0], clean_target(grid), color="black", lw=1.5,
                  label="clean target")
    styles = {"squared error": dict(color="tab:red"),
              "huber, delta=0.5": dict(color="tab:blue"),
              "squared error, clean y": dict(color="0.5", ls=":")}
    for name, (model, _) in models.items():
        ax_curve.plot(grid[:, 0], model.predict(grid), label=name,
                      **styles[name])
        ax_res.hist(predictions[name] - clean_test, bins=60,
                    range=(-1, 1), histtype="step", label=name,
                    **{k: v for k, v in styles[name].items() if k != "ls"})
    ax_curve.set(xlabel="x0 (x1 = 0)", ylabel="prediction",
                 title="predictions along x0")
    ax_res.set(xlabel="prediction - clean target", ylabel="test rows",
               title="test residuals")
    for ax in (ax_curve, ax_res):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"{OUTLIER_FRACTION:.0%} gross outliers in y: "
                 "MLPRegressor(loss='huber') vs the squared error")
    fig.tight_layout()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "huber_outliers.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path.resolve()}")


if __name__ == "__main__":
    main()
