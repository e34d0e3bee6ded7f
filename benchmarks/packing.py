"""Would packing operands pay in the dense products? (issue 27)

Measures, one thread, the two product kernels (``fastbp._kernels.dense``)
against variants that copy the operand they walk with a stride into a
contiguous, 64-byte aligned buffer first, as BLIS and OpenBLAS do (Goto &
van de Geijn). The variants below run the kernels' own register tiles
(eight rows of C by two vectors) on the packed panel, so every entry is
the same sum of the same fused multiply-adds in the same order: each
variant's result is checked to be bitwise equal to the kernel's.

1. Row strides (cache-set aliasing): the kernels on operands whose rows
   are one cache line longer than a power of two (1024 + one vector
   columns), beside the power-of-two shape. If the padded shape runs
   faster per multiply-add, the rows' stride is what costs.
2. ``_gemm_ab`` (C = relu(A B + b), 64- and 256-row chunks): the panel of
   B (K rows x 2 vectors) copied before the row tiles run over it.
3. ``_gemm_atb`` (C = A^T D, a weight gradient): the panel of D (m rows x
   2 vectors) copied, (a) per call with all rows of C in one call; (b) per
   call in the row blocks that training's tasks use
   (``backprop._block_rows``: 8 rows for the widest layers); (c) D copied
   once, panel after panel, before the same row blocks run on it.

4. Placement: ``_gemm_ab`` 64 x 1024 x 1024 on 12 fresh allocations of
   its operands (the heap shifted by a random amount before each), unpacked
   and packed: the spread shows whether speed depends on where the
   operands happen to lie relative to each other.

5. K blocks, no copy: ``_gemm_ab`` with each panel's K cut into blocks
   of kc rows (``_ab_kblocked``), so that only kc rows of B's panel must
   stay in the L2 between row tiles, for the kc that a rule computes from
   the L2's size and ways and B's row stride (``kc_rule``) and for fixed
   kc; 50-row chunks (mnist's) run their last rows as a tile of their own.

The cache facts the rule would read are printed at the top (sysfs).

Usage::

    NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/packing.py
    NUMBA_NUM_THREADS=1 python benchmarks/packing.py --kblocks  # section 5 only
"""

import glob
import math
import os
import sys

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import fastbp  # noqa: F401  (sets the CPU features before numba compiles)
from fastbp._kernels import simd
from fastbp._kernels._config import RELU, TASK_MACS, jit
from fastbp._kernels._extern import register
from fastbp._kernels._minmax import minimum
from fastbp._kernels.dense import _gemm_ab, _gemm_atb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchmarks.common import cpu_model  # noqa: E402
from products import _numpy, _rate  # noqa: E402  (the same timings)

AB_SHAPES = [(64, 1024, 1024), (64, 784, 512), (64, 512, 256),
             (64, 512, 512), (64, 1024, 512), (256, 784, 512)]
ATB_SHAPES = [(256, 1024, 1024), (256, 784, 512), (256, 512, 256),
              (256, 512, 512), (256, 1024, 512), (512, 784, 512)]


def cache_facts():
    """(level, type, size, ways, line) of cpu0's caches, from sysfs."""
    facts = []
    for d in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            def read(name, d=d):
                with open(os.path.join(d, name)) as f:
                    return f.read().strip()
            facts.append((read("level"), read("type"), read("size"),
                          read("ways_of_associativity"),
                          read("coherency_line_size")))
        except OSError:
            pass
    return facts


@jit
def _tile(A, P, p0, C, r, j, m, L, c):
    """One tile of _gemm_atb's two-vector panels, D's panel read from P's
    rows p0..p0 + m (a copy of D[:m, j:j + 2 L])."""
    c00 = c; c01 = c; c10 = c; c11 = c; c20 = c; c21 = c; c30 = c; c31 = c
    c40 = c; c41 = c; c50 = c; c51 = c; c60 = c; c61 = c; c70 = c; c71 = c
    for s in range(m):
        d0 = simd.load(P, p0 + s, 0, L); d1 = simd.load(P, p0 + s, L, L)
        a = simd.splat_at(A, s, r)
        c00 = simd.fma(a, d0, c00); c01 = simd.fma(a, d1, c01)
        a = simd.splat_at(A, s, r + 1)
        c10 = simd.fma(a, d0, c10); c11 = simd.fma(a, d1, c11)
        a = simd.splat_at(A, s, r + 2)
        c20 = simd.fma(a, d0, c20); c21 = simd.fma(a, d1, c21)
        a = simd.splat_at(A, s, r + 3)
        c30 = simd.fma(a, d0, c30); c31 = simd.fma(a, d1, c31)
        a = simd.splat_at(A, s, r + 4)
        c40 = simd.fma(a, d0, c40); c41 = simd.fma(a, d1, c41)
        a = simd.splat_at(A, s, r + 5)
        c50 = simd.fma(a, d0, c50); c51 = simd.fma(a, d1, c51)
        a = simd.splat_at(A, s, r + 6)
        c60 = simd.fma(a, d0, c60); c61 = simd.fma(a, d1, c61)
        a = simd.splat_at(A, s, r + 7)
        c70 = simd.fma(a, d0, c70); c71 = simd.fma(a, d1, c71)
    simd.store(C, r, j, L, c00); simd.store(C, r, j + L, L, c01)
    simd.store(C, r + 1, j, L, c10); simd.store(C, r + 1, j + L, L, c11)
    simd.store(C, r + 2, j, L, c20); simd.store(C, r + 2, j + L, L, c21)
    simd.store(C, r + 3, j, L, c30); simd.store(C, r + 3, j + L, L, c31)
    simd.store(C, r + 4, j, L, c40); simd.store(C, r + 4, j + L, L, c41)
    simd.store(C, r + 5, j, L, c50); simd.store(C, r + 5, j + L, L, c51)
    simd.store(C, r + 6, j, L, c60); simd.store(C, r + 6, j + L, L, c61)
    simd.store(C, r + 7, j, L, c70); simd.store(C, r + 7, j + L, L, c71)


@jit
def _pack_panels(D, m, P, j0, j1):
    """Panels j0 <= j < j1 (steps of 2 vectors) of D[:m] into P, panel
    after panel: panel p at rows (p - j0 / 2 L) m ... of P."""
    L = simd.lanes(P)
    for j in range(j0, j1, 2 * L):
        p0 = (j - j0) // (2 * L) * m
        for s in range(m):
            simd.store(P, p0 + s, 0, L, simd.load(D, s, j, L))
            simd.store(P, p0 + s, L, L, simd.load(D, s, j + L, L))


@jit
def _atb_packed(A, D, C, r0, r1, m, P, packed):
    """_gemm_atb for n_cols a multiple of 2 vectors, D's panels copied into
    P per panel (``packed`` false) or read from P as ``_pack_panels``
    left them for all of D (``packed`` true)."""
    n_cols = D.shape[1]
    L = simd.lanes(C)
    zero = simd.splat(C.dtype.type(0))
    for j in range(0, n_cols, 2 * L):
        p0 = 0
        if packed:
            p0 = j // (2 * L) * m
        else:
            _pack_panels(D, m, P, j, j + 2 * L)
        r = r0
        while r < r1:
            r = minimum(r, r1 - 8)
            _tile(A, P, p0, C, r, j, m, L, zero)
            r += 8


@jit
def _ab_tile(A, B, kb, jb, C, jc, r, k0, k1, first, last, b0, b1):
    """Eight rows r.. of C's two vectors at column jc, summed over
    k0 <= k < k1 from A's columns k and B's rows kb + k at column jb: relu(bias + sum) when ``first`` and ``last``; else the
    sum so far is read from C (not ``first``) and relu waits for ``last``.
    The same fused multiply-adds in the same order however K is cut."""
    L = simd.lanes(C)
    if first:
        c00 = b0; c01 = b1; c10 = b0; c11 = b1
        c20 = b0; c21 = b1; c30 = b0; c31 = b1
        c40 = b0; c41 = b1; c50 = b0; c51 = b1
        c60 = b0; c61 = b1; c70 = b0; c71 = b1
    else:
        c00 = simd.load(C, r, jc, L); c01 = simd.load(C, r, jc + L, L)
        c10 = simd.load(C, r + 1, jc, L); c11 = simd.load(C, r + 1, jc + L, L)
        c20 = simd.load(C, r + 2, jc, L); c21 = simd.load(C, r + 2, jc + L, L)
        c30 = simd.load(C, r + 3, jc, L); c31 = simd.load(C, r + 3, jc + L, L)
        c40 = simd.load(C, r + 4, jc, L); c41 = simd.load(C, r + 4, jc + L, L)
        c50 = simd.load(C, r + 5, jc, L); c51 = simd.load(C, r + 5, jc + L, L)
        c60 = simd.load(C, r + 6, jc, L); c61 = simd.load(C, r + 6, jc + L, L)
        c70 = simd.load(C, r + 7, jc, L); c71 = simd.load(C, r + 7, jc + L, L)
    for k in range(k0, k1):
        w0 = simd.load(B, kb + k, jb, L); w1 = simd.load(B, kb + k, jb + L, L)
        a = simd.splat_at(A, r, k)
        c00 = simd.fma(a, w0, c00); c01 = simd.fma(a, w1, c01)
        a = simd.splat_at(A, r + 1, k)
        c10 = simd.fma(a, w0, c10); c11 = simd.fma(a, w1, c11)
        a = simd.splat_at(A, r + 2, k)
        c20 = simd.fma(a, w0, c20); c21 = simd.fma(a, w1, c21)
        a = simd.splat_at(A, r + 3, k)
        c30 = simd.fma(a, w0, c30); c31 = simd.fma(a, w1, c31)
        a = simd.splat_at(A, r + 4, k)
        c40 = simd.fma(a, w0, c40); c41 = simd.fma(a, w1, c41)
        a = simd.splat_at(A, r + 5, k)
        c50 = simd.fma(a, w0, c50); c51 = simd.fma(a, w1, c51)
        a = simd.splat_at(A, r + 6, k)
        c60 = simd.fma(a, w0, c60); c61 = simd.fma(a, w1, c61)
        a = simd.splat_at(A, r + 7, k)
        c70 = simd.fma(a, w0, c70); c71 = simd.fma(a, w1, c71)
    if last:
        c00 = simd.relu(c00); c01 = simd.relu(c01)
        c10 = simd.relu(c10); c11 = simd.relu(c11)
        c20 = simd.relu(c20); c21 = simd.relu(c21)
        c30 = simd.relu(c30); c31 = simd.relu(c31)
        c40 = simd.relu(c40); c41 = simd.relu(c41)
        c50 = simd.relu(c50); c51 = simd.relu(c51)
        c60 = simd.relu(c60); c61 = simd.relu(c61)
        c70 = simd.relu(c70); c71 = simd.relu(c71)
    simd.store(C, r, jc, L, c00); simd.store(C, r, jc + L, L, c01)
    simd.store(C, r + 1, jc, L, c10); simd.store(C, r + 1, jc + L, L, c11)
    simd.store(C, r + 2, jc, L, c20); simd.store(C, r + 2, jc + L, L, c21)
    simd.store(C, r + 3, jc, L, c30); simd.store(C, r + 3, jc + L, L, c31)
    simd.store(C, r + 4, jc, L, c40); simd.store(C, r + 4, jc + L, L, c41)
    simd.store(C, r + 5, jc, L, c50); simd.store(C, r + 5, jc + L, L, c51)
    simd.store(C, r + 6, jc, L, c60); simd.store(C, r + 6, jc + L, L, c61)
    simd.store(C, r + 7, jc, L, c70); simd.store(C, r + 7, jc + L, L, c71)


@jit
def _ab_packed(A, B, C, r0, r1, bias, P):
    """_gemm_ab with relu and a bias, n_cols a multiple of 2 vectors, B's
    panel (K x 2 vectors) copied into P before the row tiles."""
    n_cols = B.shape[1]
    K = A.shape[1]
    L = simd.lanes(C)
    k0 = np.int64(0)
    for j in range(0, n_cols, 2 * L):
        for k in range(K):
            simd.store(P, k, 0, L, simd.load(B, k, j, L))
            simd.store(P, k, L, L, simd.load(B, k, j + L, L))
        b0 = simd.load1(bias, j, L); b1 = simd.load1(bias, j + L, L)
        r = r0
        while r < r1:
            r = minimum(r, r1 - 8)
            _ab_tile(A, P, k0, k0, C, j, r, k0, K, True, True, b0, b1)
            r += 8


@jit
def _ab_kblocked(A, B, C, r0, r1, bias, kc):
    """_gemm_ab with relu and a bias, n_cols a multiple of 2 vectors, B
    read in place, each panel's K cut into blocks of ``kc`` rows: every
    row tile runs over one block before the next block, so only kc x 2
    vectors of the panel need to stay in cache between the row tiles. The
    rows past the last multiple of eight run as one tile over all of K
    last (a tile overlapping its neighbour, as ``_gemm_ab``'s, would add a
    block twice)."""
    n_cols = B.shape[1]
    K = A.shape[1]
    L = simd.lanes(C)
    full = r0 + (r1 - r0) // 8 * 8
    zero = np.int64(0)
    for j in range(0, n_cols, 2 * L):
        b0 = simd.load1(bias, j, L); b1 = simd.load1(bias, j + L, L)
        for k0 in range(0, K, kc):
            k1 = minimum(K, k0 + kc)
            for r in range(r0, full, 8):
                _ab_tile(A, B, zero, j, C, j, r, k0, k1, k0 == 0, k1 == K,
                         b0, b1)
        if full < r1:
            _ab_tile(A, B, zero, j, C, j, r1 - 8, zero, K, True, True, b0,
                     b1)


def kc_rule(row_bytes, l2):
    """Rows of K per block for a B whose rows are ``row_bytes`` apart:
    rows at that stride fall into way_bytes / gcd(row_bytes, way_bytes)
    groups of sets of the L2 (``l2``: size and ways from sysfs), and a
    block keeps half the ways of each group for B (A and C share the
    rest)."""
    size, ways = l2
    way_bytes = size // ways
    groups = way_bytes // math.gcd(row_bytes, way_bytes)
    return max(64, groups * (ways // 2))


@numba.njit
def _repeat_ab(A, B, b, C, reps, BT, P, pack, kc=0):
    for _ in range(reps):
        if kc > 0:
            _ab_kblocked(A, B, C, 0, A.shape[0], b, kc)
        elif pack:
            _ab_packed(A, B, C, 0, A.shape[0], b, P)
        else:
            _gemm_ab(A, B, C, 0, A.shape[0], b, RELU, BT, BT[:0])


@numba.njit
def _repeat_atb(A, D, C, reps, rows, P, mode):
    """mode 0: the kernel; 1: D's panel copied per call; 2: all of D copied
    once per repetition, then the row blocks."""
    m = A.shape[0]
    for _ in range(reps):
        if mode == 2:
            _pack_panels(D, m, P, 0, D.shape[1])
        for r0 in range(0, C.shape[0], rows):
            r1 = min(r0 + rows, C.shape[0])
            if mode == 0:
                _gemm_atb(A, D, C, r0, r1, m)
            else:
                _atb_packed(A, D, C, r0, r1, m, P, mode == 2)


def _aligned(rows, cols, dtype):
    """Zeroed (rows, cols) array starting on a 64-byte boundary."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.zeros(rows * cols + 64 // itemsize, dtype)
    start = (-raw.ctypes.data % 64) // itemsize
    return raw[start:start + rows * cols].reshape(rows, cols)


def _task_rows(m, fan_out):
    """Rows per weight-gradient task of a network whose widest layer has
    max(fan_out, 512) outputs (``backprop._block_rows``)."""
    macs = max(TASK_MACS, 8 * max(fan_out, 512) * m)
    return max(8, macs // (fan_out * m) // 8 * 8)


def _l2():
    """(size in bytes, ways) of cpu0's L2 (sysfs), or None."""
    for level, kind, size, ways, _ in cache_facts():
        if level == "2" and kind in ("Unified", "Data"):
            units = {"K": 1024, "M": 1024 ** 2}
            return int(size[:-1]) * units.get(size[-1], 1), int(ways)
    return None


def _kblocks(rng, dtype, name):
    """Section 5: GFLOP/s of the kernel, the K-blocked variant at the
    rule's kc and at fixed ones, and numpy's."""
    l2 = _l2()
    fixed = (512, 256, 128)
    print(f"{name}: K blocks, GFLOP/s: kernel | rule's kc | kc "
          + " / ".join(map(str, fixed)) + f" (numpy's); L2 {l2}",
          flush=True)
    for m, K, n in [(64, 784, 512), (50, 784, 512), (256, 784, 512),
                    (64, 512, 256), (64, 1024, 1024), (64, 1024, 512)]:
        A = rng.randn(m, K).astype(dtype)
        B = rng.randn(K, n).astype(dtype)
        b = rng.randn(n).astype(dtype)
        C = np.empty((m, n), dtype)
        Ck = np.empty((m, n), dtype)
        none = np.empty((0, K), dtype)
        rule = kc_rule(n * B.itemsize, l2) if l2 else K
        reps = max(1, int(1e8 / (m * K * n)))
        flops = 2 * m * K * n
        _repeat_ab(A, B, b, C, 1, none, none, False)
        rates = [_rate(flops, lambda r: _repeat_ab(A, B, b, C, r, none,
                                                   none, False), reps)]
        for kc in (rule, *fixed):
            _repeat_ab(A, B, b, Ck, 1, none, none, False, kc)
            assert np.array_equal(C, Ck)
            rates.append(_rate(flops, lambda r: _repeat_ab(
                A, B, b, Ck, r, none, none, False, kc), reps))
        blas = _rate(flops, lambda r: _numpy(r, A, B), reps)
        print(f"  _gemm_ab  {m} x {K} times {K} x {n}: {rates[0]:.0f} | "
              f"kc {rule}: {rates[1]:.0f} | "
              + " / ".join(f"{x:.0f}" for x in rates[2:])
              + f" ({blas:.0f}; {rates[0] / blas:.2f}x | "
              f"{rates[1] / blas:.2f}x)", flush=True)


def _strides(rng, dtype, name):
    L = 64 // np.dtype(dtype).itemsize
    print(f"{name}: row strides, GFLOP/s (numpy's; ratio)", flush=True)
    for m, K, n in [(64, 1024, 1024), (64, 1024, 1024 + L),
                    (64, 1024 + L, 1024)]:
        A = rng.randn(m, K).astype(dtype)
        B = rng.randn(K, n).astype(dtype)
        b = rng.randn(n).astype(dtype)
        C = np.empty((m, n), dtype)
        none = np.empty((0, K), dtype)
        reps = max(1, int(1e8 / (m * K * n)))
        ours = _rate(2 * m * K * n,
                     lambda r: _repeat_ab(A, B, b, C, r, none, none, False),
                     reps)
        blas = _rate(2 * m * K * n, lambda r: _numpy(r, A, B), reps)
        print(f"  _gemm_ab  {m} x {K} times {K} x {n}: {ours:.0f} "
              f"({blas:.0f}; {ours / blas:.2f}x)", flush=True)
    for m, fan_in, fan_out in [(256, 1024, 1024), (256, 1024 + L, 1024),
                               (256, 1024, 1024 + L)]:
        A = rng.randn(m, fan_in).astype(dtype)
        D = rng.randn(m, fan_out).astype(dtype)
        C = np.empty((fan_in, fan_out), dtype)
        reps = max(1, int(1e8 / (m * fan_in * fan_out)))
        flops = 2 * m * fan_in * fan_out
        ours = _rate(flops, lambda r: _repeat_atb(A, D, C, r, fan_in, D, 0),
                     reps)
        blas = _rate(flops, lambda r: _numpy(r, A.T, D), reps)
        print(f"  _gemm_atb ({m} x {fan_in})^T times {m} x {fan_out}: "
              f"{ours:.0f} ({blas:.0f}; {ours / blas:.2f}x)", flush=True)


def _placements(rng, dtype, name, m=64, K=1024, n=1024, trials=12):
    L = 64 // np.dtype(dtype).itemsize
    rates = {False: [], True: []}
    shifts = []
    for _ in range(trials):
        shifts.append(np.empty(rng.randint(1, 300000), dtype))
        A = rng.randn(m, K).astype(dtype)
        B = rng.randn(K, n).astype(dtype)
        b = rng.randn(n).astype(dtype)
        C = np.empty((m, n), dtype)
        none = np.empty((0, K), dtype)
        P = _aligned(K, 2 * L, dtype)
        for pack in (False, True):
            rates[pack].append(_rate(
                2 * m * K * n,
                lambda r: _repeat_ab(A, B, b, C, r, none, P, pack), 2, 5))
    for pack in (False, True):
        x = rates[pack]
        print(f"  _gemm_ab  {m} x {K} times {K} x {n}, "
              f"{'packed' if pack else 'unpacked'}, {trials} placements: "
              f"min {min(x):.0f}, median {np.median(x):.0f}, "
              f"max {max(x):.0f} GFLOP/s", flush=True)


def main():
    rng = np.random.RandomState(0)
    print(f"CPU: {cpu_model()}; Numba threads {numba.get_num_threads()}",
          flush=True)
    print("caches (level, type, size, ways, line): "
          + "; ".join(" ".join(f) for f in cache_facts()), flush=True)
    with threadpool_limits(1):
        for dtype in (np.float32, np.float64):
            name = np.dtype(dtype).name
            L = 64 // np.dtype(dtype).itemsize
            register(dtype, ("activations", "dense"))
            if "--kblocks" in sys.argv:
                _kblocks(rng, dtype, name)
                continue
            _strides(rng, dtype, name)
            _placements(rng, dtype, name)
            print(f"{name}: GFLOP/s unpacked / packed (numpy's; ratios)",
                  flush=True)
            for m, K, n in AB_SHAPES:
                A = rng.randn(m, K).astype(dtype)
                B = rng.randn(K, n).astype(dtype)
                b = rng.randn(n).astype(dtype)
                C = np.empty((m, n), dtype)
                Cp = np.empty((m, n), dtype)
                none = np.empty((0, K), dtype)
                P = _aligned(K, 2 * L, dtype)
                _repeat_ab(A, B, b, C, 1, none, P, False)
                _repeat_ab(A, B, b, Cp, 1, none, P, True)
                assert np.array_equal(C, Cp)
                reps = max(1, int(1e8 / (m * K * n)))
                flops = 2 * m * K * n
                u = _rate(flops,
                          lambda r: _repeat_ab(A, B, b, C, r, none, P, False),
                          reps)
                p = _rate(flops,
                          lambda r: _repeat_ab(A, B, b, Cp, r, none, P, True),
                          reps)
                blas = _rate(flops, lambda r: _numpy(r, A, B), reps)
                print(f"  _gemm_ab  {m} x {K} times {K} x {n}: {u:.0f} / "
                      f"{p:.0f} ({blas:.0f}; {u / blas:.2f}x / "
                      f"{p / blas:.2f}x)", flush=True)
            for m, fan_in, fan_out in ATB_SHAPES:
                A = rng.randn(m, fan_in).astype(dtype)
                D = rng.randn(m, fan_out).astype(dtype)
                C = np.empty((fan_in, fan_out), dtype)
                Cp = np.empty((fan_in, fan_out), dtype)
                P = _aligned(m * fan_out // (2 * L), 2 * L, dtype)
                reps = max(1, int(1e8 / (m * fan_in * fan_out)))
                flops = 2 * m * fan_in * fan_out
                blas = _rate(flops, lambda r: _numpy(r, A.T, D), reps)
                rows = _task_rows(m, fan_out)
                for block, modes in ((fan_in, (0, 1)), (rows, (0, 1, 2))):
                    rates = []
                    for mode in modes:
                        out = C if mode == 0 else Cp
                        _repeat_atb(A, D, out, 1, block, P, mode)
                        assert np.array_equal(C, out)
                        rates.append(_rate(
                            flops, lambda r: _repeat_atb(A, D, out, r, block,
                                                         P, mode), reps))
                    how = ("one call" if block == fan_in
                           else f"{block}-row calls")
                    print(f"  _gemm_atb ({m} x {fan_in})^T times {m} x "
                          f"{fan_out}, {how}: "
                          + " / ".join(f"{x:.0f}" for x in rates)
                          + f" ({blas:.0f}; "
                          + " / ".join(f"{x / blas:.2f}x" for x in rates)
                          + ")", flush=True)


if __name__ == "__main__":
    main()
