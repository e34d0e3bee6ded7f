"""Single-thread speed of the two dense product kernels on layer shapes.

``_gemm_ab`` (rows of C from rows of B, in vector tiles) against
``_gemm_abt`` (dot products with B transposed), both computing
C = relu(A B + b) for the (rows, K, n_cols) shapes below, in float32 and
float64; GFLOP/s are medians of 7 timings of a compiled loop of calls.
The shapes are layers of the benchmark networks and of prediction: 64-row
blocks and chunks, 50-row chunks of mnist, a batch of 32 for tiny, one row.

Usage::

    NUMBA_NUM_THREADS=1 python benchmarks/products.py
"""

import time

import numba
import numpy as np

import fastbp  # noqa: F401  (sets the CPU features before numba compiles)
from fastbp._kernels._config import RELU
from fastbp._kernels._extern import register
from fastbp._kernels.dense import _gemm_ab, _gemm_abt

SHAPES = [(64, 64, 100), (64, 100, 10), (64, 784, 512), (64, 512, 256),
          (64, 256, 10), (50, 784, 100), (32, 20, 32), (1, 784, 512)]


@numba.njit
def _repeat_ab(A, B, b, C, reps):
    for _ in range(reps):
        _gemm_ab(A, B, C, 0, A.shape[0], b, RELU)


@numba.njit
def _repeat_abt(A, BT, b, C, reps):
    for _ in range(reps):
        _gemm_abt(A, BT, C, 0, A.shape[0], b, RELU)


def main():
    rng = np.random.RandomState(0)
    for dtype in (np.float32, np.float64):
        register(dtype, ("activations", "dense"))
        for m, K, n in SHAPES:
            A = rng.randn(m, K).astype(dtype)
            B = rng.randn(K, n).astype(dtype)
            BT = np.ascontiguousarray(B.T)
            b = rng.randn(n).astype(dtype)
            C = np.empty((m, n), dtype)
            reps = max(1, int(1e8 / (m * K * n)))
            rates = []
            for repeat, operand in ((_repeat_ab, B), (_repeat_abt, BT)):
                repeat(A, operand, b, C, 1)
                times = []
                for _ in range(7):
                    t0 = time.perf_counter()
                    repeat(A, operand, b, C, reps)
                    times.append(time.perf_counter() - t0)
                rates.append(2 * m * K * n * reps / np.median(times) / 1e9)
            print(f"{np.dtype(dtype).name} {m} x {K} times {K} x {n}: "
                  f"_gemm_ab {rates[0]:.0f}, _gemm_abt {rates[1]:.0f} GFLOP/s",
                  flush=True)


if __name__ == "__main__":
    main()
