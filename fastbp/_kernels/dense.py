"""Forward and backward loops of one dense layer over a range of samples.

Shapes follow scikit-learn: ``W`` is (fan_in, fan_out), ``b`` is (fan_out,),
activations are (n_samples, fan). Each backward piece sits beside the forward
it differentiates:

    forward          Z = f(A W + b)                 _gemm_ab(A, W)
    input error      D_prev = (D W^T) * f'(A_prev)  _gemm_ab(D, WT)
    weight gradient  dW = A^T D                     _gemm_atb(A, D)
                     db = sum_s D[s]
    (the weight gradient is assembled in ``backprop``, over the whole batch)

Every product builds rows of C from rows of its second operand, in
register tiles of explicit vectors (``simd``), so every operand is read in
the layout it has: the weights W, the transposed weights WT (fan_out,
fan_in) that the optimizer keeps up to date for the input error, and the
batch's activations and errors, one row per sample.

These replaced 4 x 4 tiles of dot products over transposed operands
(``_gemm_abt``, removed in baf0bce), which needed transposed copies of
every layer's inputs and errors per batch and, on sums shorter than about
a hundred entries, spent much of their time adding up vector lanes. One
thread, float32 (``NUMBA_NUM_THREADS=1 python benchmarks/products.py`` at
33fbf83, two runs), relu(A B + b), row form vs dot form: 64 x 64 times
64 x 100 at 210-212 vs 95 GFLOP/s, 64 x 784 times 784 x 512 at 197-230 vs
163-183, 32 x 20 times 20 x 32 at 195-203 vs 28; float64 115-116 vs 74-76,
70-82 vs 67-69 and 108-109 vs 28. The dot form won only on short rows
with long sums (64 x 256 times 256 x 10: 123-125 vs 150), a small layer:
with the row form everywhere, ``NUMBA_NUM_THREADS=1 python
benchmarks/profile_epoch.py`` gave the same epochs for wide, reg and tiny
and mnist's 1.5 % slower (0.136 vs 0.134 s), for one product kernel less
to compile.

A row of C that ends in a few columns past its last full vector (mnist's
100 outputs: 6 vectors of 16 and 4 columns) is the exception: a vector
masked to 4 of its 16 lanes made those 4 % of the columns cost 18 % of the
product's time. ``_gemm_ab`` computes such columns as dot products with
rows of B^T (``_dot_tail``; training keeps the transposed weights it
needs, see ``backprop``), and ``_gemm_atb`` runs its vectors down those
columns of C instead of along its rows. One thread, float32
(``NUMBA_NUM_THREADS=1 python benchmarks/products.py``, before and after):
50 x 784 times 784 x 100 went from 190-196 to 230 GFLOP/s, 64 x 64 times
64 x 100 from 211 to 235, (200 x 784)^T times 200 x 100 from 179-181 to
204; (256 x 256)^T times 256 x 10 from 85-87 to 114-115 (three
alternating runs of a script timing only that product; one products.py
run gave 145).

The layer functions work on samples ``s0 <= s < s1`` only, so that parallel
chunks of a batch run them on disjoint row ranges.
"""

import numpy as np
from numba import types

from . import simd
from ._config import FAN_IN, FAN_OUT, IDENTITY, PACK_OFFSET, RELU, jit
from ._extern import array, extern, readonly
from ._minmax import maximum, minimum
from ._views import view
from .activations import _activate_rows_ext, _apply_derivative_rows_ext


@jit
def _gemm_ab(A, B, C, r0, r1, bias, kind, BT, BP):
    """C[r, c] = f(sum_k A[r, k] * B[k, c] + bias[c]) for r0 <= r < r1 and
    every c, where f is relu for ``kind`` RELU and the identity otherwise
    (the caller applies the other activations).

    Register tiles of explicit vectors (``simd``): eight rows of C by two
    vectors of columns (16 accumulators), each step of k loading two
    vectors of B's row k and broadcasting eight entries of A; the last
    vector of a row (two full vectors no longer fit) as tiles of eight rows
    by one vector, masked to the row's end, or, for a few columns after the
    last full vector and with a long enough K, as dot products with rows
    of B^T (``_dot_tail``). When the rows are not a
    multiple of eight, the last tile overlaps the one before it: its first
    rows are computed again, to the same values, which costs less than
    finishing the rows one by one (mnist's chunks of 50 rows). Fewer than
    eight rows are summed in C's rows (``_row_product``). Column panels are
    the outer loop, so that a panel of B (K x 32 float32) stays in cache
    while every row of A passes over it. No transposed copy of either
    operand, no horizontal sums: one broadcast-multiply-add per loaded
    entry of A and vector of B.

    Parameters
    ----------
    A : ndarray of shape (>= r1, K)
    B : ndarray of shape (K, n_cols), C-contiguous
    C : ndarray of shape (>= r1, n_cols)
        Rows r0..r1 are overwritten.
    bias : ndarray of shape (n_cols,), or (0,) for no bias
    kind : int
        Hidden activation code; only RELU is applied here.
    BT : ndarray of shape (n_cols, K), or with no rows for none
        B transposed, read only from row ``_tail_start(n_cols, C)`` on.
    BP : ndarray of shape (packed_rows(K, n_cols, L), 2 L), or with no rows
        B's two-vector column panels one after the other (``pack_panels``),
        read instead of B where given: each panel's K rows lie in one
        contiguous run, not one row of B (a stride of n_cols entries)
        apart. The same products in the same order, so the same C.
    """
    relu = kind == RELU
    if r1 - r0 < 8:
        for r in range(r0, r1):
            _row_product(A, B, C, r, bias, relu)
        return
    n_cols = B.shape[1]
    K = A.shape[1]
    L = simd.lanes(C)
    zero = simd.splat(C.dtype.type(0))
    has_bias = bias.shape[0] > 0
    j = np.int64(0)  # a literal 0 would compile _dot_tail once more
    while j < n_cols:
        if n_cols - j >= 2 * L:
            b0 = simd.load1(bias, j, L) if has_bias else zero
            b1 = simd.load1(bias, j + L, L) if has_bias else zero
            # The panel's rows: B's rows k at column j, or BP's rows
            # kb + k at column 0.
            src = B
            kb = np.int64(0)
            jb = j
            if BP.shape[0] > 0:
                src = BP
                kb = j // (2 * L) * K
                jb = np.int64(0)
            r = r0
            while r < r1:
                r = minimum(r, r1 - 8)  # the last tile may overlap (see above)
                c00 = b0; c01 = b1
                c10 = b0; c11 = b1
                c20 = b0; c21 = b1
                c30 = b0; c31 = b1
                c40 = b0; c41 = b1
                c50 = b0; c51 = b1
                c60 = b0; c61 = b1
                c70 = b0; c71 = b1
                for k in range(K):
                    w0 = simd.load(src, kb + k, jb, L)
                    w1 = simd.load(src, kb + k, jb + L, L)
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
                if relu:
                    c00 = simd.relu(c00); c01 = simd.relu(c01)
                    c10 = simd.relu(c10); c11 = simd.relu(c11)
                    c20 = simd.relu(c20); c21 = simd.relu(c21)
                    c30 = simd.relu(c30); c31 = simd.relu(c31)
                    c40 = simd.relu(c40); c41 = simd.relu(c41)
                    c50 = simd.relu(c50); c51 = simd.relu(c51)
                    c60 = simd.relu(c60); c61 = simd.relu(c61)
                    c70 = simd.relu(c70); c71 = simd.relu(c71)
                simd.store(C, r, j, L, c00)
                simd.store(C, r, j + L, L, c01)
                simd.store(C, r + 1, j, L, c10)
                simd.store(C, r + 1, j + L, L, c11)
                simd.store(C, r + 2, j, L, c20)
                simd.store(C, r + 2, j + L, L, c21)
                simd.store(C, r + 3, j, L, c30)
                simd.store(C, r + 3, j + L, L, c31)
                simd.store(C, r + 4, j, L, c40)
                simd.store(C, r + 4, j + L, L, c41)
                simd.store(C, r + 5, j, L, c50)
                simd.store(C, r + 5, j + L, L, c51)
                simd.store(C, r + 6, j, L, c60)
                simd.store(C, r + 6, j + L, L, c61)
                simd.store(C, r + 7, j, L, c70)
                simd.store(C, r + 7, j + L, L, c71)
                r += 8
            j += 2 * L
        else:  # one vector, masked to the row's end
            n = minimum(L, n_cols - j)
            if n < L and BT.shape[0] > 0 and _dot_tail_pays(K, L, n):
                _dot_tail(A, BT, C, r0, r1, j, bias, relu)
                break
            b0 = simd.load1(bias, j, n) if has_bias else zero
            r = r0
            while r < r1:
                r = minimum(r, r1 - 8)  # the last tile may overlap (see above)
                c00 = b0
                c10 = b0
                c20 = b0
                c30 = b0
                c40 = b0
                c50 = b0
                c60 = b0
                c70 = b0
                for k in range(K):
                    w0 = simd.load(B, k, j, n)
                    a = simd.splat_at(A, r, k)
                    c00 = simd.fma(a, w0, c00)
                    a = simd.splat_at(A, r + 1, k)
                    c10 = simd.fma(a, w0, c10)
                    a = simd.splat_at(A, r + 2, k)
                    c20 = simd.fma(a, w0, c20)
                    a = simd.splat_at(A, r + 3, k)
                    c30 = simd.fma(a, w0, c30)
                    a = simd.splat_at(A, r + 4, k)
                    c40 = simd.fma(a, w0, c40)
                    a = simd.splat_at(A, r + 5, k)
                    c50 = simd.fma(a, w0, c50)
                    a = simd.splat_at(A, r + 6, k)
                    c60 = simd.fma(a, w0, c60)
                    a = simd.splat_at(A, r + 7, k)
                    c70 = simd.fma(a, w0, c70)
                if relu:
                    c00 = simd.relu(c00)
                    c10 = simd.relu(c10)
                    c20 = simd.relu(c20)
                    c30 = simd.relu(c30)
                    c40 = simd.relu(c40)
                    c50 = simd.relu(c50)
                    c60 = simd.relu(c60)
                    c70 = simd.relu(c70)
                simd.store(C, r, j, n, c00)
                simd.store(C, r + 1, j, n, c10)
                simd.store(C, r + 2, j, n, c20)
                simd.store(C, r + 3, j, n, c30)
                simd.store(C, r + 4, j, n, c40)
                simd.store(C, r + 5, j, n, c50)
                simd.store(C, r + 6, j, n, c60)
                simd.store(C, r + 7, j, n, c70)
                r += 8
            j += L


@jit
def _tail_start(n_cols, a):
    """First of the last columns that ``_gemm_ab`` computes as dot products
    with rows of B^T (fewer than a vector of ``a``'s dtype): the transposed
    weights the training keeps start there for the first layer."""
    return n_cols - n_cols % simd.lanes(a)


def panel_rows(K, n_cols, L):
    """Rows (of 2 L entries) of ``_gemm_ab``'s packed B of K rows and
    n_cols columns: K per two-vector panel, for its n_cols // (2 L)
    panels (the columns after them are read from B itself). Plain Python,
    for sizing buffers; ``packed_rows`` is the same for compiled code."""
    return n_cols // (2 * L) * K


packed_rows = jit(panel_rows)


@jit
def pack_panels(B, BP):
    """BP[p K + k, :] = B[k, 2 L p:2 L (p + 1)] for every two-vector panel
    p of B (K rows): the layout ``_gemm_ab`` reads as ``BP``."""
    # Not a literal 0: pack_panel_rows would be compiled once more for it.
    pack_panel_rows(B, BP, np.int64(0), B.shape[0])


@jit
def pack_panel_rows(B, BP, k0, k1):
    """``pack_panels`` for B's rows k0 <= k < k1 only (the optimizer step
    refreshes the rows it has just updated)."""
    K = B.shape[0]
    L = simd.lanes(BP)
    for p in range(B.shape[1] // (2 * L)):
        for k in range(k0, k1):
            simd.store(BP, p * K + k, 0, L, simd.load(B, k, 2 * L * p, L))
            simd.store(BP, p * K + k, L, L,
                       simd.load(B, k, 2 * L * p + L, L))


@jit
def training_panels(wt, layers, l):
    """Layer l's W as training keeps it packed (``pack_panels``) in the
    workspace's ``wt`` from the layer table's PACK_OFFSET, or with no rows
    where the table says -1 (the forward product then reads W itself)."""
    L = simd.lanes(wt)
    off = layers[l, PACK_OFFSET]
    rows = packed_rows(layers[l, FAN_IN], layers[l, FAN_OUT], L)
    if off < 0:
        rows = 0
    return view(wt, maximum(off, 0), rows, 2 * L)


@jit
def _dot_tail_pays(K, L, n):
    """Whether ``_dot_tail`` clearly costs less than a vector masked to n of
    its L lanes, counted in vector instructions per row of C: K
    multiply-adds masked, against, for each group of four columns, 4 per L
    of K and about 16 to add up the sums (``simd.hsum4``). Three quarters,
    not one: wide's and deep's output layers (K = 256, 10 columns), which
    the plain count put just on the side of the dot products, were no
    faster that way."""
    groups = (n + 3) // 4
    return 4 * groups * (4 * ((K + L - 1) // L) + 16) < 3 * K


@jit
def _dot_tail(A, BT, C, r0, r1, j0, bias, relu):
    """Columns j0 <= c < n_cols (fewer than a vector) of ``_gemm_ab``'s C for
    rows r0..r1 (at least four), as dot products of A's rows and the rows
    c of BT = B^T, shape (n_cols, K).

    A vector masked to a few lanes wastes most of each multiply-add (see
    the module docstring). Here vectors run along k instead: tiles of four
    rows by four columns (rows of BT past the last repeat the last) of
    vector sums, added up across their lanes at the end (``simd.hsum4``)
    and stored as a row's four entries.
    """
    n_cols = C.shape[1]
    K = A.shape[1]
    L = simd.lanes(C)
    zero = simd.splat(C.dtype.type(0))
    has_bias = bias.shape[0] > 0
    for j in range(j0, n_cols, 4):
        j1 = minimum(j + 1, n_cols - 1)
        j2 = minimum(j + 2, n_cols - 1)
        j3 = minimum(j + 3, n_cols - 1)
        r = r0
        while r < r1:
            r = minimum(r, r1 - 4)  # the last tile may overlap (_gemm_ab)
            c00 = zero; c01 = zero; c02 = zero; c03 = zero
            c10 = zero; c11 = zero; c12 = zero; c13 = zero
            c20 = zero; c21 = zero; c22 = zero; c23 = zero
            c30 = zero; c31 = zero; c32 = zero; c33 = zero
            for k in range(0, K, L):
                nk = minimum(L, K - k)
                b0 = simd.load(BT, j, k, nk); b1 = simd.load(BT, j1, k, nk)
                b2 = simd.load(BT, j2, k, nk); b3 = simd.load(BT, j3, k, nk)
                a = simd.load(A, r, k, nk)
                c00 = simd.fma(a, b0, c00); c01 = simd.fma(a, b1, c01)
                c02 = simd.fma(a, b2, c02); c03 = simd.fma(a, b3, c03)
                a = simd.load(A, r + 1, k, nk)
                c10 = simd.fma(a, b0, c10); c11 = simd.fma(a, b1, c11)
                c12 = simd.fma(a, b2, c12); c13 = simd.fma(a, b3, c13)
                a = simd.load(A, r + 2, k, nk)
                c20 = simd.fma(a, b0, c20); c21 = simd.fma(a, b1, c21)
                c22 = simd.fma(a, b2, c22); c23 = simd.fma(a, b3, c23)
                a = simd.load(A, r + 3, k, nk)
                c30 = simd.fma(a, b0, c30); c31 = simd.fma(a, b1, c31)
                c32 = simd.fma(a, b2, c32); c33 = simd.fma(a, b3, c33)
            n = minimum(4, n_cols - j)
            bj = simd.load1(bias, j, n) if has_bias else zero
            s0 = simd.add(simd.hsum4(c00, c01, c02, c03), bj)
            s1 = simd.add(simd.hsum4(c10, c11, c12, c13), bj)
            s2 = simd.add(simd.hsum4(c20, c21, c22, c23), bj)
            s3 = simd.add(simd.hsum4(c30, c31, c32, c33), bj)
            if relu:
                s0 = simd.relu(s0); s1 = simd.relu(s1)
                s2 = simd.relu(s2); s3 = simd.relu(s3)
            simd.store(C, r, j, n, s0)
            simd.store(C, r + 1, j, n, s1)
            simd.store(C, r + 2, j, n, s2)
            simd.store(C, r + 3, j, n, s3)
            r += 4


@jit
def _gemm_atb(A, D, C, r0, r1, m):
    """C[r, c] = sum_s A[s, r] * D[s, c] over the first m rows of A and D,
    for r0 <= r < r1 and every c: rows of a weight gradient dW = A^T D.

    ``_gemm_ab``'s tiles with A read across: a tile of eight rows of C
    broadcasts eight consecutive entries of A's row s (one cache line) and
    loads two vectors of D's row s, so neither operand needs a transposed
    copy; the columns past the last two full vectors in tiles of vectors
    down C's columns (below). Each entry is one sum over s = 0..m-1 in
    order, of the same fused multiply-adds whatever the tiles, so results
    do not depend on how rows are shared out.

    Parameters
    ----------
    A : ndarray of shape (>= m, >= r1)
        The layer's inputs, one row per sample.
    D : ndarray of shape (>= m, n_cols)
        The layer's errors.
    C : ndarray of shape (>= r1, n_cols)
        Rows r0..r1 are overwritten.
    """
    n_cols = D.shape[1]
    L = simd.lanes(C)
    zero = simd.splat(C.dtype.type(0))
    if r1 - r0 < 8:
        for r in range(r0, r1):
            for j in range(0, n_cols, L):
                n = minimum(L, n_cols - j)
                c0 = zero
                for s in range(m):
                    c0 = simd.fma(simd.splat_at(A, s, r), simd.load(D, s, j, n),
                                  c0)
                simd.store(C, r, j, n, c0)
        return
    j = 0
    while n_cols - j >= 2 * L:
        r = r0
        while r < r1:
            r = minimum(r, r1 - 8)  # the last tile may overlap (_gemm_ab)
            c00 = zero; c01 = zero
            c10 = zero; c11 = zero
            c20 = zero; c21 = zero
            c30 = zero; c31 = zero
            c40 = zero; c41 = zero
            c50 = zero; c51 = zero
            c60 = zero; c61 = zero
            c70 = zero; c71 = zero
            for s in range(m):
                d0 = simd.load(D, s, j, L); d1 = simd.load(D, s, j + L, L)
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
            simd.store(C, r, j, L, c00)
            simd.store(C, r, j + L, L, c01)
            simd.store(C, r + 1, j, L, c10)
            simd.store(C, r + 1, j + L, L, c11)
            simd.store(C, r + 2, j, L, c20)
            simd.store(C, r + 2, j + L, L, c21)
            simd.store(C, r + 3, j, L, c30)
            simd.store(C, r + 3, j + L, L, c31)
            simd.store(C, r + 4, j, L, c40)
            simd.store(C, r + 4, j + L, L, c41)
            simd.store(C, r + 5, j, L, c50)
            simd.store(C, r + 5, j + L, L, c51)
            simd.store(C, r + 6, j, L, c60)
            simd.store(C, r + 6, j + L, L, c61)
            simd.store(C, r + 7, j, L, c70)
            simd.store(C, r + 7, j + L, L, c71)
            r += 8
        j += 2 * L
    # The last n_cols - j (< 2 L) columns (see the module docstring):
    # vectors run down C's columns instead, over rows r of C, loading
    # A[s, r:r + L] and broadcasting D[s, c]: tiles of two vectors of rows
    # by five columns (the last column repeated where fewer remain: the
    # same sums, stored twice). Five, not four: an output layer's 10
    # columns are two tiles with nothing repeated (four: three tiles, the
    # last half repeats), and 10 accumulators, two vectors of A and one
    # broadcast fit the 16 vector registers of AVX2 as well as AVX-512's
    # 32. Measured (products.py, one thread, AMD EPYC Zen 4): float32
    # 256 x 256 x 10 from 0.80x numpy to 1.02x, float64 0.78x to 1.04x.
    # Each entry is still the same sum over s in order, of the same fused
    # multiply-adds.
    while j < n_cols:
        j1 = minimum(j + 1, n_cols - 1)
        j2 = minimum(j + 2, n_cols - 1)
        j3 = minimum(j + 3, n_cols - 1)
        j4 = minimum(j + 4, n_cols - 1)
        r = r0
        while r < r1:
            n0 = minimum(L, r1 - r)
            n1 = minimum(L, maximum(r1 - r - L, 0))  # 0: nothing loaded
            c00 = zero; c01 = zero
            c10 = zero; c11 = zero
            c20 = zero; c21 = zero
            c30 = zero; c31 = zero
            c40 = zero; c41 = zero
            for s in range(m):
                a0 = simd.load(A, s, r, n0); a1 = simd.load(A, s, r + L, n1)
                d = simd.splat_at(D, s, j)
                c00 = simd.fma(d, a0, c00); c01 = simd.fma(d, a1, c01)
                d = simd.splat_at(D, s, j1)
                c10 = simd.fma(d, a0, c10); c11 = simd.fma(d, a1, c11)
                d = simd.splat_at(D, s, j2)
                c20 = simd.fma(d, a0, c20); c21 = simd.fma(d, a1, c21)
                d = simd.splat_at(D, s, j3)
                c30 = simd.fma(d, a0, c30); c31 = simd.fma(d, a1, c31)
                d = simd.splat_at(D, s, j4)
                c40 = simd.fma(d, a0, c40); c41 = simd.fma(d, a1, c41)
            for q in range(n0):
                C[r + q, j] = simd.lane(c00, q)
                C[r + q, j1] = simd.lane(c10, q)
                C[r + q, j2] = simd.lane(c20, q)
                C[r + q, j3] = simd.lane(c30, q)
                C[r + q, j4] = simd.lane(c40, q)
            for q in range(n1):
                C[r + L + q, j] = simd.lane(c01, q)
                C[r + L + q, j1] = simd.lane(c11, q)
                C[r + L + q, j2] = simd.lane(c21, q)
                C[r + L + q, j3] = simd.lane(c31, q)
                C[r + L + q, j4] = simd.lane(c41, q)
            r += 2 * L
        j += 5


@jit
def _row_product(A, B, C, r, bias, relu):
    """Row r of ``_gemm_ab``'s product, summed in C's row: B is read row
    after row, as it lies in memory. (Column panels of B, as the tiles of
    eight rows read it, walk down B's rows one page apart for float64 rows
    of 512: a single row of 784 x 512 ran at 9 GFLOP/s that way.) The
    row's last, partial vector is summed in a register: a masked store
    followed by a masked load of the same entries waits for the store at
    every k."""
    n_cols = B.shape[1]
    K = A.shape[1]
    L = simd.lanes(C)
    full = n_cols // L * L
    n = n_cols - full  # lanes of the last vector; 0: no memory touched
    zero = simd.splat(C.dtype.type(0))
    has_bias = bias.shape[0] > 0
    for j in range(0, full, L):
        simd.store(C, r, j, L, simd.load1(bias, j, L) if has_bias else zero)
    tail = simd.load1(bias, full, n) if has_bias else zero
    # four rows of B per pass over C's row: a quarter of the loads and
    # stores of C, the same multiply-adds in the same order
    K4 = K - K % 4
    for k in range(0, K4, 4):
        a0 = simd.splat_at(A, r, k); a1 = simd.splat_at(A, r, k + 1)
        a2 = simd.splat_at(A, r, k + 2); a3 = simd.splat_at(A, r, k + 3)
        for j in range(0, full, L):
            c = simd.fma(a0, simd.load(B, k, j, L), simd.load(C, r, j, L))
            c = simd.fma(a1, simd.load(B, k + 1, j, L), c)
            c = simd.fma(a2, simd.load(B, k + 2, j, L), c)
            simd.store(C, r, j, L, simd.fma(a3, simd.load(B, k + 3, j, L), c))
        tail = simd.fma(a0, simd.load(B, k, full, n), tail)
        tail = simd.fma(a1, simd.load(B, k + 1, full, n), tail)
        tail = simd.fma(a2, simd.load(B, k + 2, full, n), tail)
        tail = simd.fma(a3, simd.load(B, k + 3, full, n), tail)
    for k in range(K4, K):
        a = simd.splat_at(A, r, k)
        for j in range(0, full, L):
            simd.store(C, r, j, L, simd.fma(a, simd.load(B, k, j, L),
                                            simd.load(C, r, j, L)))
        tail = simd.fma(a, simd.load(B, k, full, n), tail)
    if relu:
        for j in range(0, full, L):
            simd.store(C, r, j, L, simd.relu(simd.load(C, r, j, L)))
        tail = simd.relu(tail)
    simd.store(C, r, full, n, tail)


# Handles compiled callers use (see _extern).
_gemm_ab_ext = extern(_gemm_ab, lambda f: [
    (readonly(f, 2), readonly(f, 2), array(f, 2), types.int64, types.int64,
     readonly(f, 1), types.int64, readonly(f, 2), readonly(f, 2))])
_gemm_atb_ext = extern(_gemm_atb, lambda f: [
    (readonly(f, 2), readonly(f, 2), array(f, 2), types.int64, types.int64,
     types.int64)])


@jit
def _dense_forward(A, W, WT, b, Z, kind, s0, s1, WP):
    """Z[s] = f(A[s] @ W + b) for s0 <= s < s1, in place.

    Parameters
    ----------
    A : ndarray of shape (>= s1, fan_in)
        Inputs of the layer.
    W : ndarray of shape (fan_in, fan_out)
        The layer's weights.
    WT : ndarray of shape (fan_out, fan_in), or with no rows
        W transposed; only its rows from ``_tail_start(fan_out, W)`` on are
        read (``_gemm_ab``'s B^T). With no rows (prediction passes
        ``W[:0]``), those columns are computed from W.
    b : ndarray of shape (fan_out,)
    Z : ndarray of shape (>= s1, fan_out)
        Overwritten with the layer's activations.
    kind : int
        Hidden activation code; pass IDENTITY for the output layer, whose
        activation is applied by the loss.
    WP : ndarray of shape (packed_rows(fan_in, fan_out, L), 2 L), or with
        no rows
        W's column panels packed (``pack_panels``), read instead of W.
    """
    _gemm_ab_ext(A, W, Z, s0, s1, b, kind, WT, WP)  # relu applied there too
    if kind != RELU:  # the others; nothing for the identity
        _activate_rows_ext(kind, Z, s0, s1)


@jit
def _dense_backward_input(D, WT, W, A_prev, P_prev, D_prev, kind, s0, s1):
    """D_prev[s] = (D[s] @ W.T) * f'(z_prev[s]) for s0 <= s < s1.

    Parameters
    ----------
    D : ndarray of shape (>= s1, fan_out)
        dL/dZ of this layer.
    WT : ndarray of shape (fan_out, fan_in)
        The layer's weights W, transposed.
    W : ndarray of shape (fan_in, fan_out)
        The layer's weights (``_gemm_ab``'s B^T).
    A_prev : ndarray of shape (>= s1, fan_in)
        Activations feeding this layer (outputs of the previous layer).
    P_prev : ndarray of shape (>= s1, fan_in)
        f'(z_prev) as the forward pass kept it, read only for the
        activations whose derivative it keeps
        (``activations.keeps_derivative``); else any array of this shape
        (callers pass ``A_prev``).
    D_prev : ndarray of shape (>= s1, fan_in)
        Overwritten with dL/dZ of the previous layer.
    kind : int
        Hidden activation code of the previous layer.
    """
    no_bias = D_prev[0][:0]
    _gemm_ab_ext(D, WT, D_prev, s0, s1, no_bias, IDENTITY, W, W[:0])
    _apply_derivative_rows_ext(kind, A_prev, P_prev, D_prev, s0, s1)


_dense_forward_ext = extern(_dense_forward, lambda f: [
    (readonly(f, 2), array(f, 2), array(f, 2), array(f, 1), array(f, 2),
     types.int64, types.int64, types.int64, array(f, 2))])
_dense_backward_input_ext = extern(_dense_backward_input, lambda f: [
    (array(f, 2), array(f, 2), array(f, 2), array(f, 2), array(f, 2),
     array(f, 2), types.int64, types.int64, types.int64)])


@jit
def _sparse_forward(data, wide_data, wide, indices, indptr, rows, idx, start,
                    W, b, Z, kind, s0, s1):
    """Z[s] = f(X[r] @ W + b) for a CSR matrix X, s0 <= s < s1, where
    r = idx[start + s] (``start + s`` when ``idx`` is empty), or
    ``rows[r]`` through a non-empty row map ``rows``.

    Reads only the stored entries of each row: Z[s] = b + sum over stored
    (k, v) of v * W[k], each v converted to W's dtype first (numpy's
    ``astype``: the values of X converted beforehand).

    Parameters
    ----------
    data, wide_data : ndarray
        X's stored values: ``data``, or ``wide_data`` (float64 values) if
        ``wide``. A branch per stored entry rather than one loop per type
        of values: each loop is compiled code to generate, in every dtype.
    indices, indptr : ndarray
        The CSR arrays of X: int32 column indices, row pointers.
    W : ndarray of shape (n_features, fan_out)
    b : ndarray of shape (fan_out,)
    Z : ndarray of shape (>= s1, fan_out)
        Overwritten with the layer's activations.
    kind : int
        Hidden activation code.
    """
    fan_out = W.shape[1]
    mapped = rows.shape[0] > 0
    for s in range(s0, s1):
        r = idx[start + s] if idx.shape[0] > 0 else start + s
        if mapped:
            r = rows[r]
        for j in range(fan_out):
            Z[s, j] = b[j]
        for p in range(indptr[r], indptr[r + 1]):
            v = W.dtype.type(wide_data[p] if wide else data[p])
            k = indices[p]
            for j in range(fan_out):
                Z[s, j] += v * W[k, j]
    _activate_rows_ext(kind, Z, s0, s1)


@jit
def _sparse_weight_gradient(data, wide_data, wide, indices, indptr, rows,
                            idx, start, m, D, gW, r0, r1):
    """gW[r0:r1] = sum_s X[r, r0:r1]^T D[s], for CSR X, where
    r = idx[start + s], or ``rows[r]`` through a non-empty row map.

    Every entry sums over the batch's samples in order; only stored entries
    of X with a column in [r0, r1) contribute, converted to gW's dtype
    (X's arrays as in ``_sparse_forward``).
    """
    fan_out = gW.shape[1]
    zero = gW.dtype.type(0)
    for k in range(r0, r1):
        for j in range(fan_out):
            gW[k, j] = zero
    mapped = rows.shape[0] > 0
    for s in range(m):
        r = idx[start + s]
        if mapped:
            r = rows[r]
        for p in range(indptr[r], indptr[r + 1]):
            k = indices[p]
            if r0 <= k and k < r1:
                v = gW.dtype.type(wide_data[p] if wide else data[p])
                for j in range(fan_out):  # 2-D, no row views
                    gW[k, j] += v * D[s, j]
