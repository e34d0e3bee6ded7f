"""MNIST-1D: fastbp and scikit-learn
=================================

MNIST-1D: test accuracy and fit time of fastbp vs scikit-learn.

MNIST-1D (Greydanus, 2020) is a small 1-D analogue of MNIST: ten template
signals, randomly padded, translated, sheared, scaled and made noisy, giving
40-feature sequences with labels 0-9. It is hard enough that MLPs stay well
below CNNs (the paper reports about 68 % test accuracy for an MLP), yet small
enough to train in seconds.

The data are generated locally by the ``mnist1d`` package with
``mnist1d.data.make_dataset`` (seeded through its default arguments, seed
42): nothing is downloaded and no file is written. fastbp's MLPClassifier
(float32, the default) and scikit-learn's are then trained with the same
hyper-parameters and ``random_state``; the script prints each one's test
accuracy and fit time and fastbp's speed-up. A tiny fit first warms Numba's
compile cache, so compilation is not timed.

Needs ``pip install mnist1d`` (which also pulls in matplotlib; the Agg
backend is selected, so no window is opened).

Run from the repository root::

    python examples/mnist1d_benchmark.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (1,000 sequences, few
epochs).
"""

import os
import time
import warnings

import matplotlib

# mnist1d imports matplotlib.pyplot on import; stay headless.
matplotlib.use("Agg")

import numpy as np  # noqa: E402
from mnist1d.data import get_dataset_args, make_dataset  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402

from fastbp import MLPClassifier  # noqa: E402

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
SEED = 0

N_SEQUENCES = 1000 if QUICK else 5000  # mnist1d's default is 5000
PARAMS = dict(hidden_layer_sizes=(256, 128), solver="adam", alpha=1e-4,
              max_iter=10 if QUICK else 60, random_state=SEED)


def load_mnist1d(n_sequences):
    """Generate MNIST-1D in memory (no download, no file written).

    Returns X_train, X_test, y_train, y_test with mnist1d's own 80/20 split.
    Note that ``make_dataset`` reseeds numpy's and Python's global random
    generators (``mnist1d.utils.set_seed``).
    """
    args = get_dataset_args()  # an ObjectView: attribute access
    args.num_samples = n_sequences
    data = make_dataset(args)
    return data["x"], data["x_test"], data["y"], data["y_test"]


def main():
    # The fixed epoch budget stops the fits before tol would: the
    # ConvergenceWarning each would emit says only that.
    warnings.simplefilter("ignore", ConvergenceWarning)

    start = time.perf_counter()
    X_train, X_test, y_train, y_test = load_mnist1d(N_SEQUENCES)
    print(f"MNIST-1D generated locally in {time.perf_counter() - start:.2f} s: "
          f"{X_train.shape[0]} train / {X_test.shape[0]} test sequences of "
          f"length {X_train.shape[1]}, {len(np.unique(y_train))} classes"
          + (" (quick mode)" if QUICK else ""))
    print("parameters: " + ", ".join(f"{k}={v!r}" for k, v in PARAMS.items()))

    start = time.perf_counter()
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(
        X_train[:40], y_train[:40]).score(X_train[:40], y_train[:40])
    print(f"compile/warm-up: {time.perf_counter() - start:.2f} s "
          "(Numba compiles on first use, then loads its on-disk cache)")

    print(f"\n{'':<18}{'test accuracy':>14}{'train accuracy':>16}"
          f"{'fit time':>11}{'epochs':>8}")
    times = {}
    for name, model in (("fastbp (float32)", MLPClassifier(**PARAMS)),
                        ("scikit-learn", SkMLPClassifier(**PARAMS))):
        start = time.perf_counter()
        model.fit(X_train, y_train)
        times[name] = time.perf_counter() - start
        print(f"{name:<18}{model.score(X_test, y_test):>14.4f}"
              f"{model.score(X_train, y_train):>16.4f}"
              f"{times[name]:>9.2f} s{model.n_iter_:>8d}")
    print(f"\nspeed-up of fastbp over scikit-learn: "
          f"{times['scikit-learn'] / times['fastbp (float32)']:.2f}x")


if __name__ == "__main__":
    main()
