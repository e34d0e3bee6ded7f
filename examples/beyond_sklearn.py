"""Beyond scikit-learn: class weights, a validation set, callbacks
===============================================================

What fastbp adds to scikit-learn's MLP: class weights, a validation set of
your own with its loss curve, and callbacks that watch or stop training.

On an imbalanced three-class problem (80 % / 15 % / 5 %):

1. ``class_weight="balanced"`` against no weights: recall of the rarest class
   and balanced accuracy on a held-out test set.
2. ``fit(X, y, validation_data=(X_val, y_val))``: the model records
   ``validation_scores_`` and ``validation_loss_curve_`` on the set you give
   it, every epoch, without splitting off part of the training data.
3. A callback in scikit-learn 1.9's ``sklearn.callback`` protocol that stops
   training once the validation loss has not improved for a few epochs,
   and ``fastbp.callbacks.EpochProgressBar`` (shown when ``tqdm`` is
   installed) with the loss and validation score of every epoch.

Training and validation loss curves are saved to
``$FASTBP_EXAMPLES_OUT/validation_curves.png`` (default: the current
directory). Needs matplotlib; no window is opened.

Run from the repository root::

    python examples/beyond_sklearn.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and epochs).
"""

import importlib.util
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: draw into files only

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.callback import FitCallback  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import balanced_accuracy_score, recall_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0
N_SAMPLES = 3_000 if QUICK else 30_000
MAX_ITER = 20 if QUICK else 200


class StopWhenValidationLossRises(FitCallback):
    """Stop when ``validation_loss_curve_`` has not reached a new minimum for
    ``patience`` epochs. A ``FitCallback``: scikit-learn calls its hooks
    (those not written here do nothing, as the protocol class gives them)."""

    def __init__(self, patience=5):
        self.patience = patience

    def setup(self, estimator, context):
        self.best, self.since_best, self.stopped_at = np.inf, 0, None

    def on_fit_task_end(self, estimator, context):
        if context.parent is None:  # the end of the whole fit
            return False
        loss = estimator.validation_loss_curve_[-1]
        self.best, self.since_best = ((loss, 0) if loss < self.best
                                      else (self.best, self.since_best + 1))
        if self.since_best >= self.patience:
            self.stopped_at = estimator.n_iter_
            return True
        return False


def main():
    if QUICK:
        warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_classification(
        n_samples=N_SAMPLES, n_features=20, n_informative=8, n_classes=3,
        weights=[0.80, 0.15, 0.05], class_sep=0.8, random_state=SEED)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    X_train, X_val, y_train, y_val = train_test_split(
        X_train, y_train, test_size=0.2, stratify=y_train, random_state=SEED)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val, X_test = map(scaler.transform, (X_train, X_val, X_test))

    print(f"{'class_weight':<14}{'rare-class recall':>19}"
          f"{'balanced accuracy':>19}")
    for class_weight in (None, "balanced"):
        model = MLPClassifier((64,), max_iter=MAX_ITER, random_state=SEED,
                              class_weight=class_weight)
        model.fit(X_train, y_train)
        pred = model.predict(X_test)
        recall = recall_score(y_test, pred, labels=[2], average="macro")
        print(f"{str(class_weight):<14}{recall:>19.4f}"
              f"{balanced_accuracy_score(y_test, pred):>19.4f}")

    stopper = StopWhenValidationLossRises(patience=5)
    callbacks = [stopper]
    if importlib.util.find_spec("tqdm") is not None:
        from fastbp.callbacks import EpochProgressBar
        callbacks.append(EpochProgressBar())  # epochs, loss, val_score, ETA
    model = MLPClassifier((256, 128), max_iter=MAX_ITER, random_state=SEED,
                          learning_rate_init=0.003, class_weight="balanced")
    model.set_callbacks(*callbacks)
    model.fit(X_train, y_train, validation_data=(X_val, y_val))
    best = int(np.argmin(model.validation_loss_curve_))
    print(f"validation loss: lowest {model.validation_loss_curve_[best]:.4f} "
          f"at epoch {best + 1}; last {model.validation_loss_curve_[-1]:.4f}")
    stopped = ("stopped by the callback" if stopper.stopped_at
               else "ran all epochs")
    print(f"epochs run: {model.n_iter_} ({stopped})")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    epochs = np.arange(1, model.n_iter_ + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, model.loss_curve_, label="training loss (with L2 term)")
    ax.plot(epochs, model.validation_loss_curve_, label="validation loss")
    ax.axvline(best + 1, color="grey", linestyle=":", label="lowest")
    ax.set_xlabel("epoch")
    ax.set_ylabel("log-loss")
    ax.set_title("fastbp MLPClassifier, validation_data=(X_val, y_val)")
    ax.legend()
    fig.tight_layout()
    path = OUT_DIR / "validation_curves.png"
    fig.savefig(path, dpi=100)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
