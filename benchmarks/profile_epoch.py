"""Split one fastbp epoch into batch gradients and optimizer steps.

Times, over 60000 random samples in float32, three times each:

- the batch gradients alone: ``_train`` with ``solver=FULL_BATCH`` and the
  epoch's batch size runs forward, backward and weight gradients of every
  mini-batch (and adds each batch's gradient to the sum, one pass over the
  parameters per batch) without an optimizer step;
- a whole Adam epoch (``_run_epoch``); the difference is about what the
  optimizer steps (L2 term, Adam update, transposed weight copy) cost.

Usage::

    python benchmarks/profile_epoch.py wide      # or tiny, mnist, reg
"""

import sys
import time
import warnings

import numpy as np

from fastbp import MLPClassifier
from fastbp._kernels import _run_epoch, _train
from fastbp._kernels._config import FULL_BATCH
from fastbp._network import Workspace, training_data
from fastbp._solvers import AdamOptimizer

SHAPES = {  # n_features, hidden layers, classes, batch
    "tiny": (20, (32,), 2, 32),
    "mnist": (784, (100,), 10, 200),
    "wide": (784, (512, 256), 10, 256),
    "reg": (50, (64, 64), 2, 64),
}


def main(shape):
    warnings.simplefilter("ignore")
    d, hidden, k, b = SHAPES[shape]
    n = 60000
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.randint(0, k, n)
    model = MLPClassifier(hidden, batch_size=b, random_state=0).partial_fit(
        X[:512], y[:512], classes=np.arange(k))
    out = 2 if k > 2 else 1  # softmax or logistic output code
    Y = np.ascontiguousarray(model._label_binarizer.transform(y),
                             dtype=np.float32)
    workspace = Workspace(model._layout, b, np.float32, full_batch=True)
    params, work = model._params, workspace.buffers()
    Xk, sw = training_data(X, np.float32), np.empty(0, np.float32)
    idx = np.arange(n, dtype=np.int64)
    adam = AdamOptimizer(model._layout.n_params, np.float32, 1e-3, 0.9,
                         0.999, 1e-8)
    flops = 2 * n * sum(a * c for a, c in zip(model._layout.layer_units[:-1],
                                              model._layout.layer_units[1:]))
    print(f"{shape}: forward products {flops / 1e9:.1f} GFLOP per epoch; "
          f"backward about twice that")
    args = (Xk, training_data(Y, np.float32), sw, idx)
    for _ in range(3):
        t0 = time.perf_counter()
        _train(*args, 0, n, b, params, workspace.table, out,
               np.float32(1e-4), 1e-7,
               adam.kernel_state()._replace(solver=FULL_BATCH), work)
        t1 = time.perf_counter()
        _run_epoch(*args, b, params, workspace.table, out,
                   np.float32(1e-4), 1e-7, adam.kernel_state(), work)
        t2 = time.perf_counter()
        print(f"  batch gradients {t1 - t0:.3f} s, whole epoch "
              f"{t2 - t1:.3f} s, optimizer steps about "
              f"{(t2 - t1) - (t1 - t0):.3f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "wide")
