"""Fitted parameters do not depend on the number of threads, nor on the run,
nor on whether the kernels were just compiled or loaded from the cache."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import hashlib, warnings
import numpy as np
from sklearn.datasets import load_digits
from fastbp import MLPClassifier, MLPRegressor
warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)
X = X / 16
models = [
    # Large enough that both steps of a batch run in parallel (300 x 33,800
    # multiply-adds; thresholds in fastbp/_kernels/_config.py).
    MLPClassifier(hidden_layer_sizes=(200, 100), batch_size=300, max_iter=3,
                  random_state=0, dtype="{dtype}"),
    MLPClassifier(hidden_layer_sizes=(40, 20), batch_size=300, max_iter=3,
                  random_state=0, dtype="{dtype}"),
    MLPClassifier(solver="lbfgs", max_iter=10, random_state=0, dtype="{dtype}"),
    MLPRegressor(solver="sgd", max_iter=3, random_state=0, dtype="{dtype}"),
    # Dropout: masks keyed on rows, not on threads.
    MLPClassifier(hidden_layer_sizes=(200, 100), batch_size=300, max_iter=3,
                  dropout=[0.3, 0.1], random_state=0, dtype="{dtype}"),
    MLPRegressor(hidden_layer_sizes=(60,), activation="tanh", solver="sgd",
                 dropout=0.2, max_iter=3, random_state=0, dtype="{dtype}"),
    # max_grad_norm: the batch gradient's norm summed over tasks in task
    # order, both passes over the tasks in parallel; a bound that clips.
    MLPClassifier(hidden_layer_sizes=(200, 100), batch_size=300, max_iter=3,
                  max_grad_norm=0.05, random_state=0, dtype="{dtype}"),
    MLPRegressor(hidden_layer_sizes=(200,), solver="sgd", batch_size=300,
                 max_grad_norm=0.5, max_iter=3, random_state=0,
                 dtype="{dtype}"),
]
digest = hashlib.sha256()
for model in models:
    model.fit(X, y)
    for a in model.coefs_ + model.intercepts_:
        digest.update(np.ascontiguousarray(a).tobytes())
    digest.update(model.predict(X).tobytes())
print(digest.hexdigest())
"""


def _digest(threads, dtype, cache_dir=None):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(dtype=dtype)],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.cold_compile
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_identical_across_thread_counts_and_runs(dtype, tmp_path):
    # The first process compiles every kernel into an empty cache and runs
    # the code just compiled; the others run code loaded from a cache.
    digests = [_digest(1, dtype, cache_dir=tmp_path)]
    digests += [_digest(threads, dtype) for threads in (2, 4)]
    digests.append(_digest(2, dtype, cache_dir=tmp_path))
    assert len(digests[0]) == 64
    assert len(set(digests)) == 1, digests
