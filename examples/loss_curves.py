"""Training curves of fastbp and scikit-learn
==========================================

Training curves of fastbp and scikit-learn, plotted into one PNG.

fastbp's MLPClassifier (in float32 and in float64) and scikit-learn's are
trained with ``early_stopping=True`` and the same hyper-parameters and
``random_state`` on the standardised digits. Each keeps ``loss_curve_`` (the
training loss after every epoch) and ``validation_scores_`` (accuracy on the
10 % it held out); the figure shows both side by side, one line per model.
With the same ``random_state`` the three draw the same initial weights, the
same validation split and the same shuffles, so the curves lie on top of one
another: float64 follows scikit-learn to rounding, float32 to within float32
precision.

The figure is written to ``$FASTBP_EXAMPLES_OUT/loss_curves.png`` (default:
the current directory). Needs matplotlib; no window is opened.

Run from the repository root::

    python examples/loss_curves.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and epochs).
"""

import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: draw into files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0

PARAMS = dict(hidden_layer_sizes=(64,), solver="adam", early_stopping=True,
              validation_fraction=0.1, n_iter_no_change=10,
              max_iter=15 if QUICK else 300, random_state=SEED)
N_TRAIN = 400 if QUICK else None  # None: the whole training split


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

    models = {
        "fastbp float32": MLPClassifier(**PARAMS, dtype="float32"),
        "fastbp float64": MLPClassifier(**PARAMS, dtype="float64"),
        "scikit-learn": SkMLPClassifier(**PARAMS),
    }
    print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test samples"
          + (" (quick mode)" if QUICK else ""))
    print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in PARAMS.items()))
    print(f"\n{'':<16}{'epochs':>7}{'final loss':>12}"
          f"{'best val. accuracy':>20}{'test accuracy':>15}")
    for name, model in models.items():
        model.fit(X_train, y_train)
        print(f"{name:<16}{model.n_iter_:>7d}{model.loss_curve_[-1]:>12.5f}"
              f"{model.best_validation_score_:>20.4f}"
              f"{model.score(X_test, y_test):>15.4f}")

    reference = models["scikit-learn"]
    for name in ("fastbp float32", "fastbp float64"):
        model = models[name]
        n = min(len(model.loss_curve_), len(reference.loss_curve_))
        gap = np.max(np.abs(np.subtract(model.loss_curve_[:n],
                                        reference.loss_curve_[:n])))
        print(f"max |loss_curve_ difference| {name} vs scikit-learn over "
              f"the first {n} epochs: {gap:.2e}")

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"fastbp float32": dict(lw=2.5, alpha=0.6),
              "fastbp float64": dict(lw=1.5, ls="--"),
              "scikit-learn": dict(lw=1.0, color="black", ls=":")}
    for name, model in models.items():
        epochs = np.arange(1, model.n_iter_ + 1)
        ax_loss.plot(epochs, model.loss_curve_, label=name, **styles[name])
        ax_val.plot(epochs, model.validation_scores_, label=name,
                    **styles[name])
    ax_loss.set(xlabel="epoch", ylabel="training loss (log-loss + L2)",
                yscale="log", title="loss_curve_")
    ax_val.set(xlabel="epoch", ylabel="accuracy on the validation split",
               title="validation_scores_ (early_stopping=True)")
    for ax in (ax_loss, ax_val):
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("MLPClassifier on digits: fastbp vs scikit-learn, "
                 f"hidden_layer_sizes={PARAMS['hidden_layer_sizes']}, "
                 f"random_state={SEED}")
    fig.tight_layout()

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "loss_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"\nfigure written to {path.resolve()}")


if __name__ == "__main__":
    main()
