"""A batch's rows of dense X, gathered into the training buffer.

Training reads X where it lies, in its own element type and memory order:
each batch's rows are copied into ``xbuf`` (C-ordered, of the training
dtype) and converted as they are copied, so a fit needs no converted copy
of X. The conversion is the one numpy's ``astype`` makes (a float64 rounded
to the nearest float32, an integer to the nearest float), so the gathered
rows, and the fit, are those of X converted beforehand.

X arrives as its raw bytes: a read-only uint8 matrix whose rows are X's
rows (C order) or X's columns (Fortran order, ``transposed``), and an
element-type code (``_config.X_KINDS``). One compiled gather reads every
type, through a typed view of the bytes, so each training dtype still
compiles one epoch whatever X's type and order; each type costs one short
loop of its own.

In Fortran order a row of X is spread over the columns, one element per
cache line: a batch's gather then reads scattered memory, which costs more
than its contiguous rows would (see ``benchmarks/results``).
"""

import numpy as np
from numba import types

from ._config import X_FLOAT32, X_FLOAT64, X_INT64, X_UINT8, jit
from ._extern import array, extern, readonly
from ._views import bytes_as


@jit
def _copy_rows(src, transposed, rows, idx, start, s0, s1, xbuf):
    """xbuf[s] = row r of X converted, r = rows[idx[start + s]] (or
    ``idx[start + s]`` for empty ``rows``), for s0 <= s < s1.

    ``src`` is X (n_samples, n_features), or X transposed (n_features,
    n_samples) if ``transposed``. Each converted entry is tested:
    |x| < inf is false for NaN and the infinities only (a compare, not
    arithmetic: the sum of x - x this replaced was rewritten to 0 under
    fastmath's "reassoc"). Returns whether all were finite.
    """
    finite = True
    inf = xbuf.dtype.type(np.inf)
    n_features = xbuf.shape[1]
    mapped = rows.shape[0] > 0
    for s in range(s0, s1):
        i = idx[start + s]
        if mapped:
            i = rows[i]
        if transposed:
            for k in range(n_features):
                x = xbuf.dtype.type(src[k, i])
                xbuf[s, k] = x
                finite &= abs(x) < inf
        else:
            for k in range(n_features):
                x = xbuf.dtype.type(src[i, k])
                xbuf[s, k] = x
                finite &= abs(x) < inf
    return finite


@jit
def _gather_rows(raw, kind, transposed, rows, idx, start, s0, s1, xbuf):
    """Rows s0 <= s < s1 of ``xbuf`` from dense X (see ``_copy_rows``).

    Parameters
    ----------
    raw : read-only uint8 ndarray of shape (n_samples, n_features *
            itemsize), or (n_features, n_samples * itemsize) if
            ``transposed``
        X's bytes, C-contiguous.
    kind : int
        X's element type (``_config.X_KINDS``).
    transposed : int
        1 if ``raw`` holds X's columns (X in Fortran order).
    rows : int64 ndarray of shape (n_rows,) or (0,)
        Training sample r is row ``rows[r]`` of X (empty: row r).
    idx : int64 ndarray
        Sample order; sample s of the batch is ``idx[start + s]``.
    xbuf : ndarray of shape (capacity, n_features)
        Rows s0..s1 are overwritten.

    Returns
    -------
    finite : bool
        False if a gathered entry is NaN or infinite once converted.
    """
    if kind == X_FLOAT32:
        return _copy_rows(bytes_as(raw, np.float32), transposed, rows, idx,
                          start, s0, s1, xbuf)
    if kind == X_FLOAT64:
        return _copy_rows(bytes_as(raw, np.float64), transposed, rows, idx,
                          start, s0, s1, xbuf)
    if kind == X_UINT8:
        return _copy_rows(raw, transposed, rows, idx, start, s0, s1, xbuf)
    if kind == X_INT64:
        return _copy_rows(bytes_as(raw, np.int64), transposed, rows, idx, start,
                          s0, s1, xbuf)
    raise ValueError("unknown element type of X")


# The handle compiled callers use (see _extern): X's bytes, the row map
# and the sample order arrive read-only.
_gather_rows_ext = extern(_gather_rows, lambda f: [
    (readonly(types.uint8, 2), types.int64, types.int64,
     readonly(types.int64, 1), readonly(types.int64, 1), types.int64,
     types.int64, types.int64, array(f, 2))])
