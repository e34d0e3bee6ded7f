"""Split one fastbp epoch into its two compiled phases.

Times, over 60000 random samples in float32, the batch gradients
(``_batch_gradient``: forward, backward and weight gradients of every
mini-batch) and the optimizer steps (``_normalise_and_step``: L2 term,
Adam update and the transposed weight copy), each called once per batch
from Python, three times. Usage::

    python benchmarks/profile_epoch.py wide      # or tiny, mnist, reg

For small networks the per-call Python overhead (a few microseconds)
dominates; inside ``_run_epoch`` the same calls are made from compiled code.
"""

import sys
import time
import warnings

import numpy as np

from fastbp import MLPClassifier
from fastbp._kernels.backprop import _batch_gradient, _transpose_weights
from fastbp._kernels.optimizers import _normalise_and_step
from fastbp._mlp import _kernel_input
from fastbp._network import Workspace
from fastbp._solvers import AdamOptimizer

SHAPES = {  # n_features, hidden layers, classes, batch
    "tiny": (20, (32,), 2, 32),
    "mnist": (784, (100,), 10, 200),
    "wide": (784, (512, 256), 10, 256),
    "reg": (50, (64, 64), 2, 64),
}
RELU, SOFTMAX_OR_LOGISTIC = 3, 2


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
    workspace = Workspace(model._layout, b, np.float32)
    params, work = model._params, workspace.buffers()
    Xk, idx, sw = _kernel_input(X, np.float32), np.arange(n), np.empty(0, np.float32)
    adam = AdamOptimizer(model._layout.n_params, np.float32, 1e-3, 0.9,
                         0.999, 1e-8)
    _transpose_weights(params, work[0], workspace.table)
    grad = work[6]
    flops = 2 * n * sum(a * c for a, c in zip(model._layout.layer_units[:-1],
                                              model._layout.layer_units[1:]))
    print(f"{shape}: forward products {flops / 1e9:.1f} GFLOP per epoch; "
          f"backward about twice that")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n // b):
            _batch_gradient(Xk, Y, sw, idx, i * b, b, params, work[0], grad,
                            workspace.table, RELU, out, 1e-7, work)
        t1 = time.perf_counter()
        for i in range(n // b):
            _normalise_and_step(params, grad, np.float32(1e-4), np.float32(b),
                                adam.code, adam.hyper, adam.state, i + 1,
                                work[0], workspace.table, work[8])
        t2 = time.perf_counter()
        print(f"  batch gradients {t1 - t0:.3f} s, optimizer steps "
              f"{t2 - t1:.3f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "wide")
