"""Single-thread speed of the dense product kernels on the networks' shapes.

- ``_gemm_ab``: C = relu(A B + b), a layer's forward pass (and, with B the
  transposed weights, its input error), for (rows, K, n_cols) shapes:
  64-row prediction blocks and training chunks, mnist's 50-row chunks,
  tiny's batch of 32, one row; given B^T, as training gives it, so that
  a row's last columns past its last full vector are dot products where
  that pays (``dense._dot_tail``);
  beside, where B has a panel of two vectors of columns and C eight
  rows or more (fewer are summed along B's rows), the same
  product on B packed in column panels (``dense.pack_panels``), as
  prediction reads the weights from PREDICT_PACK_ROWS_PER_THREAD rows per
  thread on; the packing itself is not timed;
- ``_gemm_atb``: C = A^T D over a batch, a layer's weight gradient, for
  (batch, fan_in, fan_out) shapes of wide, mnist and reg: all of C's rows
  in one call, and beside it ("in tasks") as training calls it, C's rows
  in tasks of ``backprop._block_rows`` rows for that layer of its
  network (8 for wide's first layer), each task reading all of D again.

Beside each, numpy's matmul of the same operands (OpenBLAS, limited to one
thread) as a reference for what this core reaches, and the ratio of the
two. GFLOP/s are medians of 7 timings of a compiled loop of calls (numpy:
of a Python loop). At the top: the CPU model and this core's single-thread
sgemm/dgemm roof, numpy's 2048 x 2048 x 2048 matmul on one thread.

Usage::

    NUMBA_NUM_THREADS=1 python benchmarks/products.py
    python benchmarks/products.py --quick   # one shape of each, a smoke run
"""

import os
import sys
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import fastbp  # noqa: F401  (sets the CPU features before numba compiles)
from fastbp._kernels import simd
from fastbp._kernels._config import RELU
from fastbp._kernels._extern import register
from fastbp._kernels.backprop import _block_rows
from fastbp._kernels.dense import _gemm_ab, _gemm_atb, pack_panels, panel_rows
from fastbp._network import Layout, aligned_empty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks.common import cpu_model  # noqa: E402

# (rows, K, n_cols); besides the layers' forward products: the output
# layers' 10 columns, one-row predictions of every wide layer, and
# wide's input error (256 columns times 512^T)
AB_SHAPES = [(64, 64, 100), (64, 100, 10), (64, 784, 512), (64, 512, 256),
             (64, 256, 10), (50, 784, 100), (32, 20, 32), (1, 784, 512),
             (1, 512, 256), (1, 256, 10), (1, 784, 100), (256, 256, 512),
             (256, 10, 256), (256, 784, 512), (64, 1024, 1024)]
# (batch, network's layer units, layer): every layer's weight gradient of
# wide, mnist (batch 200), reg and tiny, wide at batch 512 and a 1024-wide
# network's middle layer
_WIDE = (784, 512, 256, 10)
ATB_SHAPES = [(256, _WIDE, 0), (256, _WIDE, 1), (256, _WIDE, 2),
              (200, (784, 100, 10), 0), (200, (784, 100, 10), 1),
              (64, (50, 64, 64, 1), 0), (64, (50, 64, 64, 1), 1),
              (32, (20, 32, 10), 0), (32, (20, 32, 10), 1), (512, _WIDE, 0),
              (256, (784, 1024, 1024, 10), 1)]


@numba.njit
def _repeat_ab(A, B, b, C, reps, BT, BP):
    for _ in range(reps):
        _gemm_ab(A, B, C, 0, A.shape[0], b, RELU, BT, BP)


@numba.njit
def _pack(B, BP):
    pack_panels(B, BP)


@numba.njit
def _repeat_atb(A, D, C, reps, rows):
    """``reps`` times C = A^T D, C's rows ``rows`` at a time."""
    for _ in range(reps):
        for r0 in range(0, C.shape[0], rows):
            _gemm_atb(A, D, C, r0, min(r0 + rows, C.shape[0]), A.shape[0])


@numba.njit
def _task_rows(layers, layer, m):
    return _block_rows(layers, layer, False, m)


def _rate(flops, run, reps, repeats=7):
    run(1)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(reps)
        times.append(time.perf_counter() - t0)
    return flops * reps / np.median(times) / 1e9


def _numpy(reps, left, right):
    for _ in range(reps):
        left @ right


def _roof(dtype, n=2048):
    """This core's GEMM roof: numpy's n^3 matmul on one thread, GFLOP/s
    (median of 5)."""
    rng = np.random.RandomState(1)
    A = rng.randn(n, n).astype(dtype)
    B = rng.randn(n, n).astype(dtype)
    return _rate(2 * n ** 3, lambda r: _numpy(r, A, B), 1, repeats=5)


def main(quick=False):
    """Every shape; ``quick``: the first forward and weight-gradient shape
    of each dtype, a smaller roof, to check that the script runs."""
    rng = np.random.RandomState(0)
    ab_shapes = AB_SHAPES[2:3] if quick else AB_SHAPES
    atb_shapes = ATB_SHAPES[:1] if quick else ATB_SHAPES
    print(f"CPU: {cpu_model()}; Numba threads {numba.get_num_threads()}",
          flush=True)
    with threadpool_limits(1):
        n_roof = 256 if quick else 2048
        roofs = {dtype: _roof(dtype, n_roof)
                 for dtype in (np.float32, np.float64)}
        print(f"single-thread roof (numpy {n_roof}^3): sgemm "
              f"{roofs[np.float32]:.0f}, dgemm {roofs[np.float64]:.0f} "
              f"GFLOP/s", flush=True)
        for dtype in (np.float32, np.float64):
            name = np.dtype(dtype).name
            register(dtype, ("activations", "dense"))
            for m, K, n in ab_shapes:
                A = rng.randn(m, K).astype(dtype)
                B = rng.randn(K, n).astype(dtype)
                b = rng.randn(n).astype(dtype)
                C = np.empty((m, n), dtype)
                reps = max(1, int(1e8 / (m * K * n)))
                flops = 2 * m * K * n
                BT = np.ascontiguousarray(B.T)
                ours = _rate(flops, lambda r: _repeat_ab(A, B, b, C, r, BT,
                                                         BT[:0]), reps)
                # B's column panels packed once, as prediction packs the
                # weights for many rows (not timed: one pass over B).
                L = simd.VECTOR_BYTES // B.itemsize
                BP = aligned_empty((panel_rows(K, n, L), 2 * L), dtype)
                _pack(B, BP)
                blas = _rate(flops, lambda r: _numpy(r, A, B), reps)
                packed = ""
                if BP.shape[0] and m >= 8:  # fewer rows: B's rows as they lie
                    rate = _rate(flops, lambda r: _repeat_ab(A, B, b, C, r,
                                                             BT, BP), reps)
                    packed = f", packed {rate:.0f} ({rate / blas:.2f}x)"
                print(f"{name} _gemm_ab  {m} x {K} times {K} x {n}: "
                      f"{ours:.0f} GFLOP/s{packed} (numpy {blas:.0f}, "
                      f"{ours / blas:.2f}x; roof {ours / roofs[dtype]:.0%})",
                      flush=True)
            for m, units, layer in atb_shapes:
                fan_in, fan_out = units[layer], units[layer + 1]
                layers = Layout(units, [RELU] * (len(units) - 2)).table(m)
                rows = int(_task_rows(layers, layer, m))
                A = rng.randn(m, fan_in).astype(dtype)
                D = rng.randn(m, fan_out).astype(dtype)
                C = np.empty((fan_in, fan_out), dtype)
                reps = max(1, int(1e8 / (m * fan_in * fan_out)))
                flops = 2 * m * fan_in * fan_out
                ours = _rate(flops, lambda r: _repeat_atb(A, D, C, r,
                                                          fan_in), reps)
                tasks = _rate(flops, lambda r: _repeat_atb(A, D, C, r, rows),
                              reps)
                blas = _rate(flops, lambda r: _numpy(r, A.T, D), reps)
                print(f"{name} _gemm_atb ({m} x {fan_in})^T times {m} x "
                      f"{fan_out}: {ours:.0f} GFLOP/s, in tasks of {rows} "
                      f"rows {tasks:.0f} ({tasks / blas:.2f}x) (numpy "
                      f"{blas:.0f}, {ours / blas:.2f}x; roof "
                      f"{ours / roofs[dtype]:.0%})", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
