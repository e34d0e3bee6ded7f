"""Early stopping on the validation loss, dropout and weight decay
===============================================================

Training options of fastbp on a small-train-set digits problem (200
training images), plotted into one PNG.

Left: with ``early_stopping=True`` scikit-learn's MLP stops when the
validation *accuracy* has not improved for ``n_iter_no_change`` epochs. On
a validation set of 40 images accuracy moves in steps of 2.5 points and
stays flat for many epochs while the model still improves;
``scoring="loss"`` stops on the validation *loss* instead (as
``HistGradientBoostingClassifier(scoring="loss")`` does), which keeps
falling as long as the model gets better and stops when it no longer does.
The figure shows both validation curves and where each rule stopped; the
script prints the epochs run and the test log-loss and accuracy of both
models.

Right: train and test accuracy per epoch of plain Adam, Adam with dropout
of half the hidden units (``dropout=0.5``: inverted dropout while training,
every unit when predicting) and Adam with decoupled weight decay
(``weight_decay``, as AdamW) and a cosine learning-rate schedule
(``learning_rate="cosine"`` with ``warmup_iter``), on the same 200 images,
one ``partial_fit`` epoch at a time. In the full run all three end at 100%
on the 200 training images, and dropout and weight decay a little higher
than plain Adam on the 1597 test images (by 5 to 10 images; the script
prints the final accuracies).

The figure is written to ``$FASTBP_EXAMPLES_OUT/early_stopping_on_loss.png``
(default: the current directory). Needs matplotlib; no window is opened.

Run from the repository root::

    python examples/early_stopping_on_loss.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer epochs).
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
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0
MAX_ITER = 40 if QUICK else 300


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16, y, train_size=200, stratify=y, random_state=SEED)

    # 1. Early stopping by accuracy (scikit-learn's rule) and by loss.
    stopping = dict(hidden_layer_sizes=(256,), early_stopping=True,
                    validation_fraction=0.2, n_iter_no_change=10,
                    learning_rate_init=3e-3, max_iter=MAX_ITER,
                    random_state=SEED)
    print(f"{'early stopping on':<18} {'epochs':>6} {'test log-loss':>13} "
          f"{'test accuracy':>13}")
    models = {}
    for scoring in (None, "loss"):
        model = MLPClassifier(scoring=scoring, **stopping).fit(X_train,
                                                               y_train)
        models[scoring] = model
        name = "accuracy" if scoring is None else "loss"
        print(f"{name:<18} {model.n_iter_:>6} "
              f"{log_loss(y_test, model.predict_proba(X_test)):>13.4f} "
              f"{model.score(X_test, y_test):>13.4f}")

    # 2. Train and test accuracy per epoch, without and with dropout or
    # weight decay.
    curves = {}
    for label, extra in [
            ("adam", {}),
            ("adam + dropout=0.5", dict(dropout=0.5)),
            ("adam + weight_decay + cosine",
             dict(weight_decay=0.5, learning_rate="cosine", warmup_iter=5))]:
        # partial_fit runs one epoch per call; max_iter is the cosine
        # schedule's horizon.
        model = MLPClassifier(hidden_layer_sizes=(256,), max_iter=MAX_ITER,
                              learning_rate_init=3e-3, random_state=SEED,
                              **extra)
        train, test = [], []
        for _ in range(MAX_ITER):
            model.partial_fit(X_train, y_train, classes=np.arange(10))
            train.append(model.score(X_train, y_train))
            test.append(model.score(X_test, y_test))
        curves[label] = (train, test)
        print(f"{label:<30} final train {train[-1]:.4f}  test {test[-1]:.4f}")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    model = models["loss"]
    epochs = np.arange(1, model.n_iter_ + 1)
    left.plot(epochs, model.validation_loss_curve_, label="validation loss")
    left.set_xlabel("epoch")
    left.set_ylabel("validation log-loss")
    twin = left.twinx()
    accuracy = models[None]
    twin.plot(np.arange(1, accuracy.n_iter_ + 1), accuracy.validation_scores_,
              color="tab:orange", label="validation accuracy")
    twin.set_ylabel("validation accuracy")
    left.axvline(model.n_iter_, color="tab:blue", ls="--",
                 label="stop on loss")
    left.axvline(accuracy.n_iter_, color="tab:orange", ls="--",
                 label="stop on accuracy")
    handles = left.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    left.legend(handles[0] + more[0], handles[1] + more[1],
                loc="center right")
    left.set_title("early stopping: loss or accuracy")
    for label, (train, test) in curves.items():
        line, = right.plot(test, label=f"{label}: test")
        right.plot(train, ls=":", color=line.get_color(),
                   label=f"{label}: train")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_ylim(0.85, 1.005)  # the first epochs below; differences above
    right.set_title("200 training images")
    right.legend(fontsize=8)
    fig.tight_layout()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "early_stopping_on_loss.png"
    fig.savefig(path, dpi=100)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
