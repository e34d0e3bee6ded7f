"""Prediction intervals from quantile MLPs
========================================

Prediction intervals from two quantile MLPs, checked on held-out data.

scikit-learn's MLPRegressor fits the conditional mean only. fastbp's
``MLPRegressor(loss="quantile", quantile=q)`` minimises the pinball loss,
whose minimiser is the q-quantile of y given x: two such networks, at
q = 0.05 and q = 0.95, bound a 90 % prediction interval. The data here are
y = x sin(x) + noise whose standard deviation grows with x (from 0.2 to
2.0), so a good interval widens from left to right; a mean model with a
constant +-1.645 sigma band (sigma from its training residuals) is shown
for comparison.

The script prints the empirical coverage of both intervals on held-out
data, overall and in the low-noise and high-noise halves of x (the quantile
interval should cover about 90 % in each; the constant band over-covers
where the noise is low and under-covers where it is high), their mean
widths, and the pinball loss of each quantile model on the test data
(``sklearn.metrics.mean_pinball_loss``). The figure is written to
``$FASTBP_EXAMPLES_OUT/prediction_intervals.png`` (default: the current
directory). Needs matplotlib; no window is opened.

Run from the repository root::

    python examples/prediction_intervals.py

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
from sklearn.metrics import mean_pinball_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from fastbp import MLPRegressor  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0
N_SAMPLES = 2000 if QUICK else 6000
LOW, HIGH = 0.05, 0.95
MAX_ITER = 40 if QUICK else 300
# A fixed number of epochs: the pinball loss's gradient does not shrink
# near the optimum, so the epoch losses fluctuate and tol-based stopping
# would stop the quantile models at a random one.
PARAMS = dict(hidden_layer_sizes=(64, 64), learning_rate_init=0.003,
              batch_size=200, max_iter=MAX_ITER, tol=0.0,
              n_iter_no_change=MAX_ITER, random_state=SEED)


def make_data(n, rng):
    """x uniform on [0, 10]; y = x sin(x) + N(0, (0.2 + 0.18 x)^2)."""
    x = rng.uniform(0, 10, n)
    y = x * np.sin(x) + (0.2 + 0.18 * x) * rng.standard_normal(n)
    return x.reshape(-1, 1), y


def coverage(y, lower, upper):
    return float(np.mean((y >= lower) & (y <= upper)))


def main():
    # A fixed number of epochs on purpose (see PARAMS).
    warnings.simplefilter("ignore", ConvergenceWarning)
    rng = np.random.RandomState(SEED)
    X, y = make_data(N_SAMPLES, rng)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=SEED)
    # Inputs on a unit scale, as networks like them.
    scale = X_train.std()

    models = {
        "low": MLPRegressor(loss="quantile", quantile=LOW, **PARAMS),
        "high": MLPRegressor(loss="quantile", quantile=HIGH, **PARAMS),
        "mean": MLPRegressor(**PARAMS),
    }
    for model in models.values():
        model.fit(X_train / scale, y_train)
    pred = {name: m.predict(X_test / scale) for name, m in models.items()}
    sigma = np.std(y_train - models["mean"].predict(X_train / scale))
    z = 1.6449  # the standard normal's 0.95 quantile
    band = (pred["mean"] - z * sigma, pred["mean"] + z * sigma)
    interval = (pred["low"], pred["high"])

    print(f"{len(y_train)} training / {len(y_test)} test rows, noise sd "
          "0.2 + 0.18 x" + (" (quick mode)" if QUICK else ""))
    print(f"nominal coverage: {HIGH - LOW:.2f}")
    left = X_test[:, 0] < 5
    print(f"{'':<32}{'all':>8}{'x < 5':>8}{'x >= 5':>8}{'mean width':>12}")
    for name, (lower, upper) in (
            (f"quantile MLPs ({LOW}, {HIGH})", interval),
            ("mean MLP +- 1.645 sigma", band)):
        print(f"{name:<32}{coverage(y_test, lower, upper):>8.3f}"
              f"{coverage(y_test[left], lower[left], upper[left]):>8.3f}"
              f"{coverage(y_test[~left], lower[~left], upper[~left]):>8.3f}"
              f"{np.mean(upper - lower):>12.3f}")
    for q, name in ((LOW, "low"), (HIGH, "high")):
        print(f"pinball loss at q={q} on test data: "
              f"{mean_pinball_loss(y_test, pred[name], alpha=q):.4f} "
              f"(fraction below the prediction: "
              f"{np.mean(y_test <= pred[name]):.3f})")

    order = np.argsort(X_test[:, 0])
    xs = X_test[order, 0]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.scatter(X_test[:, 0], y_test, s=4, color="0.6", label="test data")
    ax.fill_between(xs, interval[0][order], interval[1][order], alpha=0.35,
                    color="tab:blue",
                    label=f"quantile MLPs, q = {LOW} and {HIGH}")
    ax.plot(xs, band[0][order], color="tab:red", ls="--", lw=1.2,
            label="mean MLP +- 1.645 sigma")
    ax.plot(xs, band[1][order], color="tab:red", ls="--", lw=1.2)
    ax.plot(xs, xs * np.sin(xs), color="black", lw=1, label="x sin(x)")
    ax.set(xlabel="x", ylabel="y",
           title="90 % prediction intervals: MLPRegressor(loss='quantile')")
    ax.legend(loc="lower left")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "prediction_intervals.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"figure written to {path.resolve()}")


if __name__ == "__main__":
    main()
