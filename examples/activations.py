"""Hidden activations compared on one problem
============================================

fastbp's hidden activations side by side: scikit-learn's four (identity,
logistic, tanh, relu), the five fastbp adds (leaky_relu, elu, gelu, silu,
softplus), and a list with one activation per hidden layer.

Each MLPClassifier has two hidden layers and is trained with Adam, the
same hyper-parameters and the same ``random_state`` on the standardised
digits; the script prints each one's final training loss, test accuracy
and fit time, and plots the training loss curves and the test accuracies
into one PNG. The number of epochs is the same for all, so the curves show
which activations learn fastest on this problem, and the fit times what
each costs.

The figure is written to ``$FASTBP_EXAMPLES_OUT/activations.png`` (default:
the current directory). Needs matplotlib; no window is opened.

Run from the repository root::

    python examples/activations.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and epochs).
"""

import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: draw into files only

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0

ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu",
               "gelu", "silu", "softplus", ["gelu", "relu"]]
PARAMS = dict(hidden_layer_sizes=(64, 32), solver="adam",
              max_iter=10 if QUICK else 60, random_state=SEED)
N_TRAIN = 400 if QUICK else None  # None: the whole training split


def label(activation):
    return activation if isinstance(activation, str) else " + ".join(activation)


def main():
    # A fixed number of epochs for every activation: some stop short of
    # convergence on purpose, so that the curves cover the same epochs.
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    if N_TRAIN is not None:
        X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples"
          + (" (quick mode)" if QUICK else ""))
    print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in PARAMS.items()))
    print(f"\n{'activation':<14}{'final loss':>12}{'test accuracy':>15}"
          f"{'fit time':>10}")
    curves, accuracies = {}, {}
    for activation in ACTIVATIONS:
        model = MLPClassifier(activation=activation, **PARAMS)
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - t0
        name = label(activation)
        curves[name] = model.loss_curve_
        accuracies[name] = model.score(X_test, y_test)
        print(f"{name:<14}{model.loss_curve_[-1]:>12.5f}"
              f"{accuracies[name]:>15.4f}{seconds:>8.2f} s")

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, curve in curves.items():
        ax_loss.plot(range(1, len(curve) + 1), curve, label=name)
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (loss_curve_)")
    ax_loss.legend(fontsize="small")
    names = list(accuracies)
    ax_acc.barh(names, [accuracies[n] for n in names])
    ax_acc.set_xlim(min(accuracies.values()) - 0.02, 1.0)
    ax_acc.invert_yaxis()
    ax_acc.set_xlabel("test accuracy")
    fig.suptitle("fastbp MLPClassifier (64, 32), Adam, on digits: "
                 "hidden activations")
    fig.tight_layout()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "activations.png"
    fig.savefig(path, dpi=100)
    print(f"\nfigure written to {path}")


if __name__ == "__main__":
    main()
