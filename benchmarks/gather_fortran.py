"""Gathering shuffled batches of rows from Fortran-ordered X, three ways.

Standalone Numba loops (not fastbp's kernels): one epoch's gathers of
256-row batches from 60,000 x 784 float64 X, C-ordered rows against
Fortran order walked row by row, column by column, and in superbatches of
M rows sorted and read column by column. Prints the median of 3 epochs.

    python benchmarks/gather_fortran.py
"""
import time

import numba
import numpy as np


@numba.njit
def c_rows(src, idx, out):
    for s in range(idx.shape[0]):
        for k in range(out.shape[1]):
            out[s, k] = src[idx[s], k]


@numba.njit
def f_row_walk(cols, idx, out):
    for s in range(idx.shape[0]):
        for k in range(out.shape[1]):
            out[s, k] = cols[k, idx[s]]


@numba.njit
def f_column_walk(cols, idx, out):
    for k in range(out.shape[1]):
        col = cols[k]
        for s in range(idx.shape[0]):
            out[s, k] = col[idx[s]]


@numba.njit
def f_sorted_superbatch(cols, idx, out):
    perm = np.argsort(idx)
    rows = idx[perm]
    for k in range(out.shape[1]):
        col = cols[k]
        for j in range(rows.shape[0]):
            out[perm[j], k] = col[rows[j]]


def epoch_seconds(gather, src, order, size, n_features):
    out, check = np.empty((size, n_features)), np.empty((size, n_features))
    c_rows(X, order[:size], check)
    gather(src, order[:size], out)
    if not np.array_equal(out, check):
        raise AssertionError(f"{gather.__name__} gathered other values")
    times = []
    n_full = len(order) // size * size
    for _ in range(3):
        t = time.perf_counter()
        for s0 in range(0, n_full, size):
            gather(src, order[s0:s0 + size], out)
        times.append((time.perf_counter() - t) * len(order) / n_full)
    return sorted(times)[1]


rng = np.random.default_rng(0)
X = rng.random((60000, 784))
columns = np.ascontiguousarray(X.T)  # Fortran-ordered X's memory
order = rng.permutation(X.shape[0])
print("C order, rows      ", epoch_seconds(c_rows, X, order, 256, 784))
print("F order, row walk  ", epoch_seconds(f_row_walk, columns, order, 256, 784))
print("F order, column walk", epoch_seconds(f_column_walk, columns, order, 256,
                                            784))
for m in (2048, 8192, 16384, 30000):
    print(f"F order, sorted superbatch M={m}",
          epoch_seconds(f_sorted_superbatch, columns, order, m, 784))
