"""Benchmark shapes and their synthetic data, shared by the asv suite
(``mlp.py``) and ``../compare_peers.py``.

The data has learnable structure: inputs are standard normal, targets come
from a small random "teacher" network (tanh hidden layer), so test scores
mean something. Everything is drawn from ``np.random.RandomState(seed)``:
the same shape, dtype and seed always give the same arrays.
"""

from collections import namedtuple

import numpy as np
from threadpoolctl import threadpool_limits

Shape = namedtuple(
    "Shape", "n_samples n_features hidden_layer_sizes n_outputs batch_size task")

# n_outputs: number of classes for classification, 1 for regression.
SHAPES = {
    "tiny": Shape(20_000, 20, (32,), 2, 32, "classification"),
    "mnist": Shape(60_000, 784, (100,), 10, 200, "classification"),
    "wide": Shape(60_000, 784, (512, 256), 10, 256, "classification"),
    "reg": Shape(50_000, 50, (64, 64), 1, 64, "regression"),
}

# More shapes for ``../compare_peers.py --shapes`` (not in the asv suite):
# a deeper network, a very small one, and mnist's network with batches of
# 16 and of 512; one wide hidden layer, a hundred classes, a narrow deep
# network, wide's network with small batches, tiny's with large ones and a
# one-layer regression.
EXTRA_SHAPES = {
    "deep": Shape(30_000, 100, (256, 256, 256, 256), 10, 128,
                  "classification"),
    "micro": Shape(20_000, 8, (8,), 2, 32, "classification"),
    "batch16": Shape(20_000, 784, (100,), 10, 16, "classification"),
    "batch512": Shape(60_000, 784, (100,), 10, 512, "classification"),
    "h1024": Shape(30_000, 784, (1024,), 10, 128, "classification"),
    "k100": Shape(30_000, 100, (256,), 100, 200, "classification"),
    "narrow5": Shape(20_000, 20, (16, 16, 16, 16, 16), 2, 32,
                     "classification"),
    "wide64": Shape(20_000, 784, (512, 256), 10, 64, "classification"),
    "tiny512": Shape(50_000, 20, (32,), 2, 512, "classification"),
    "reg512": Shape(30_000, 300, (512,), 1, 128, "regression"),
}
ALL_SHAPES = {**SHAPES, **EXTRA_SHAPES}

# Held-out samples drawn after the training samples (for predict and score).
N_TEST = 10_000

# Width of the teacher network's hidden layer.
_TEACHER_UNITS = 16

# Rows drawn per block, so generating X never holds a float64 copy of it.
_BLOCK_ROWS = 4096


def make_data(shape, dtype="float32", seed=0, n_samples=None, n_test=N_TEST):
    """Synthetic train/test data for one of ``SHAPES``.

    Parameters
    ----------
    shape : str or Shape
        A key of ``SHAPES`` or a ``Shape``.
    dtype : {"float32", "float64"}
        dtype of ``X`` (and of ``y`` for regression).
    seed : int
        Seed of the ``np.random.RandomState`` everything is drawn from.
    n_samples : int, default=None
        Training samples; ``shape.n_samples`` if None (smaller for smoke runs).
    n_test : int
        Held-out samples.

    Returns
    -------
    X_train : ndarray of shape (n_samples, n_features)
    X_test : ndarray of shape (n_test, n_features)
    y_train : ndarray of shape (n_samples,)
        int64 class labels in ``range(n_outputs)``, or ``dtype`` targets with
        zero mean and unit variance for regression.
    y_test : ndarray of shape (n_test,)
    """
    spec = ALL_SHAPES[shape] if isinstance(shape, str) else shape
    n_train = spec.n_samples if n_samples is None else int(n_samples)
    n_total = n_train + n_test
    rng = np.random.RandomState(seed)

    # teacher: h = tanh(X @ W1) with W1 ~ N(0, 1/n_features), computed in
    # float64 from the unrounded draws so both dtypes get the same targets
    W1 = rng.standard_normal((spec.n_features, _TEACHER_UNITS))
    W1 /= np.sqrt(spec.n_features)
    W2 = rng.standard_normal((_TEACHER_UNITS, spec.n_outputs))
    X = np.empty((n_total, spec.n_features), dtype=dtype)
    h = np.empty((n_total, _TEACHER_UNITS))
    # One BLAS thread: OpenBLAS threads woken here would keep spinning and
    # slow down the Numba threads timed right after (PERF_NOTES pitfall 9).
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n_total, _BLOCK_ROWS):
            stop = min(start + _BLOCK_ROWS, n_total)
            block = rng.standard_normal((stop - start, spec.n_features))
            X[start:stop] = block
            h[start:stop] = np.tanh(block @ W1)
        scores = h @ W2

    if spec.task == "classification":
        # y = argmax(h @ W2)
        y = np.argmax(scores, axis=1).astype(np.int64)
    else:
        # y = h @ W2 + 0.1 * noise, standardised
        y = scores[:, 0] + 0.1 * rng.standard_normal(n_total)
        y = ((y - y.mean()) / y.std()).astype(dtype)

    return X[:n_train], X[n_train:], y[:n_train], y[n_train:]


def make_estimator(module, shape, dtype=None, random_state=0):
    """The benchmark's MLP (Adam, relu) from ``module``.

    Parameters
    ----------
    module : module
        ``fastbp`` or ``sklearn.neural_network``.
    shape : str
        A key of ``SHAPES``.
    dtype : str, default=None
        Passed as ``dtype=`` (fastbp only; scikit-learn follows its input).
    random_state : int
        Seed of the weight initialisation and shuffling.
    """
    spec = ALL_SHAPES[shape]
    cls = (module.MLPClassifier if spec.task == "classification"
           else module.MLPRegressor)
    kwargs = {} if dtype is None else {"dtype": dtype}
    return cls(hidden_layer_sizes=spec.hidden_layer_sizes, activation="relu",
               solver="adam", batch_size=spec.batch_size,
               random_state=random_state, **kwargs)


def classes_of(shape):
    """``classes`` argument for a first ``partial_fit`` (None: regression)."""
    spec = ALL_SHAPES[shape]
    if spec.task == "classification":
        return np.arange(spec.n_outputs)
    return None


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``) with its family and model
    numbers, LLVM's name for its microarchitecture and its L2 cache per
    core, for every result file: a cloud "AMD EPYC" or "Intel Xeon" names
    several generations, whose speeds differ by a factor of two."""
    import platform
    name = platform.processor() or "unknown CPU"
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not key.strip():  # the first CPU's fields end here
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name", name)
    details = []
    if "cpu family" in fields:  # e.g. AMD's 25 is Zen 3/4, 26 is Zen 5
        details.append(f"family {fields['cpu family']} "
                       f"model {fields.get('model', '?')}")
    try:
        import llvmlite.binding as llvm
        details.append(llvm.get_host_cpu_name())
    except Exception:  # llvmlite missing or too old: the name alone
        pass
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            details.append(f"L2 {f.read().strip()} per core")
    except OSError:
        pass
    return f"{name} ({', '.join(details)})" if details else name
