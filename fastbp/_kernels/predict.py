"""Prediction: the forward pass alone, over row blocks in parallel.

Rows go through the network in blocks of ``PREDICT_BLOCK``: a block passes
through every layer before the next one starts (``_forward_rows``), its
hidden activations in a scratch area of ``PREDICT_BLOCK x widest layer``
that stays in the core's cache. The blocks are shared out among
``PREDICT_SLOTS`` slots, each a contiguous run of blocks with a scratch
area of its own, and slots run in parallel. So the memory prediction needs
beyond its result is fixed (slots x block x widest layer, twice), whatever
the number of rows; an earlier version kept every row's activations
(90,000 x 100 floats, twice) and ran twice as slowly.

From ``PREDICT_PACK_ROWS_PER_THREAD`` rows per thread on, each layer's W is
first copied into two-vector column panels (``_pack_weights``,
``dense.pack_panels``): every block's product then walks a panel's K rows
as one contiguous run, where in W they lie a layer's width apart (2 KiB for
512 float32 columns, 8 KiB for 1024 float64). The products are the same
multiply-adds in the same order, so packing never changes a prediction; the
rule and its measurements are in ``_config``.

Block and slot bounds depend on the row count only, never on the number of
threads, so predictions do not either.
"""

import math

import numpy as np
from numba import prange, types

from . import simd
from ._config import (ACTIVATION, COEF_OFFSET, FAN_IN, FAN_OUT, IDENTITY,
                      INTERCEPT_OFFSET, PREDICT_BLOCK,
                      PREDICT_PARALLEL_MIN_WORK, PREDICT_SLOTS, jit,
                      jit_entry_parallel)
from ._checks import check_packed_weights, check_predict_arguments
from ._extern import array, extern, read_only, register
from ._minmax import minimum
from ._views import stack_int64, view as _view
from .backprop import _kernel_input_type
from .dense import (_dense_forward_ext, _sparse_forward, pack_panels,
                    panel_rows, packed_rows)
from .losses import _output_activate_rows_ext


@jit
def _packed_weights(packed, off, l, fan_in, fan_out, sparse):
    """Layer l's packed W in ``packed`` from entry ``off`` (with no rows
    if ``packed`` is empty, or for a sparse X's first layer, which is not
    a dense product), and the offset of the next layer's."""
    L = simd.lanes(packed)
    rows = packed_rows(fan_in, fan_out, L)
    if packed.shape[0] == 0 or (l == 0 and sparse):
        rows = 0
    return _view(packed, off, rows, 2 * L), off + rows * 2 * L


@jit
def _pack_weights(params, layers, packed, sparse):
    """Every layer's W packed into ``packed`` (``dense.pack_panels``), one
    layer after the other, as ``_packed_weights`` finds them."""
    off = np.int64(0)
    for l in range(layers.shape[0]):
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        WP, off = _packed_weights(packed, off, l, fan_in, fan_out, sparse)
        if WP.shape[0] > 0:
            pack_panels(_view(params, layers[l, COEF_OFFSET], fan_in,
                              fan_out), WP)


def packed_size(layers, dtype, sparse):
    """Entries of the buffer ``_predict_kernel`` packs the weights into
    (``_pack_weights``)."""
    L = simd.VECTOR_BYTES // np.dtype(dtype).itemsize  # simd.lanes
    return sum(panel_rows(fan_in, fan_out, L) * 2 * L
               for l, (fan_in, fan_out) in enumerate(
                   zip(layers[:, FAN_IN], layers[:, FAN_OUT]))
               if not (l == 0 and sparse))


@jit
def _forward_rows(X, s0, s1, params, layers, out, scratch_a,
                  scratch_b, result, packed):
    """result[s - s0] = output activations of row s of X, s0 <= s < s1 (at
    most PREDICT_BLOCK rows).

    ``X`` is the kernels' tuple (dense, data, indices, indptr): for CSR
    input (non-empty ``indptr``) the first layer reads the stored entries
    only. Layer l writes its activations to ``scratch_a`` (l even) or
    ``scratch_b`` (l odd), viewed as (rows, fan_out); the last layer writes
    ``result``. Dense products multiply by W's rows (``dense._gemm_ab``):
    prediction needs no transposed weights. With a non-empty ``packed``
    they read each W's column panels from there, as ``_pack_weights``
    left them.
    """
    dense, data, indices, indptr = X
    m = s1 - s0
    # Not a literal 0: the callees would be compiled once more for it.
    zero = np.int64(0)
    # The values are of the params' dtype (``data``, not ``wide_data``, of
    # ``_sparse_forward``); False, but not a literal, for the same reason.
    wide = indptr.shape[0] < 0
    n_layers = layers.shape[0]
    off = zero
    for l in range(n_layers):
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        W = _view(params, layers[l, COEF_OFFSET], fan_in, fan_out)
        WP, off = _packed_weights(packed, off, l, fan_in, fan_out,
                                  indptr.shape[0] > 0)
        b = params[layers[l, INTERCEPT_OFFSET]:layers[l, INTERCEPT_OFFSET] + fan_out]
        kind = layers[l, ACTIVATION]
        if l == n_layers - 1:
            Z = result
            kind = IDENTITY
        elif l % 2 == 0:
            Z = _view(scratch_a, zero, m, fan_out)
        else:
            Z = _view(scratch_b, zero, m, fan_out)
        # Layer 0 reads X, layer l what layer l - 1 wrote: scratch_a after
        # even layers.
        if l == 0 and indptr.shape[0] > 0:
            _sparse_forward(data, data, wide, indices, indptr,
                            indptr[:0], indptr[:0], s0, W, b, Z, kind, zero,
                            m)
        elif l == 0:
            _dense_forward_ext(dense[s0:s1], W, W[:0], b, Z, kind, zero,
                               m, WP)
        else:
            A = _view(scratch_a if l % 2 == 1 else scratch_b, zero, m,
                      fan_in)
            _dense_forward_ext(A, W, W[:0], b, Z, kind, zero, m, WP)
    _output_activate_rows_ext(out, result, 0, m)


@jit
def _sum_is_finite(X):
    """Whether the sum of X's entries is finite. It is for every X without
    NaN or infinity unless the sum overflows, which callers then check
    exactly; vectorised, it costs a small fraction of a layer's product."""
    total = X.dtype.type(0)
    for s in range(X.shape[0]):
        for k in range(X.shape[1]):
            total += X[s, k]
    return math.isfinite(total)


@jit
def _n_rows(X):
    """Rows of the kernels' X tuple (dense, data, indices, indptr)."""
    indptr = X[3]
    return indptr.shape[0] - 1 if indptr.shape[0] > 0 else X[0].shape[0]


@jit
def _predict_slot(X, params, layers, out, buf_a, buf_b, result,
                  slot, finite, packed):
    """The blocks of slot ``slot``, one after the other, in its scratch;
    ``finite[slot]`` is set to 0 if a dense block's sum is not finite
    (unless ``finite`` is empty)."""
    n_samples = _n_rows(X)
    n_blocks = (n_samples + PREDICT_BLOCK - 1) // PREDICT_BLOCK
    size = buf_a.shape[0] // PREDICT_SLOTS
    scratch_a = buf_a[slot * size:(slot + 1) * size]
    scratch_b = buf_b[slot * size:(slot + 1) * size]
    for blk in range(slot * n_blocks // PREDICT_SLOTS,
                     (slot + 1) * n_blocks // PREDICT_SLOTS):
        s0 = blk * PREDICT_BLOCK
        s1 = minimum(s0 + PREDICT_BLOCK, n_samples)
        if finite.shape[0] > 0 and not _sum_is_finite(X[0][s0:s1]):
            finite[slot] = 0
        _forward_rows(X, s0, s1, params, layers, out, scratch_a,
                      scratch_b, result[s0:s1], packed)


# Called from both loops of the kernel below: compiled once (see _extern).
_predict_slot_ext = extern(_predict_slot, lambda f: [
    (_kernel_input_type(f), array(f, 1), array(types.int64, 2),
     types.int64, array(f, 1), array(f, 1), array(f, 2), types.int64,
     array(types.int64, 1), array(f, 1))])


@jit_entry_parallel
def _predict_kernel(X, params, layers, out, buf_a, buf_b, result,
                    check_finite, packed):
    """Forward pass of every row of X.

    Parameters
    ----------
    X : tuple (dense, data, indices, indptr)
        A C-contiguous (n_samples, n_features) array with empty CSR arrays,
        or an empty dense array with X's CSR arrays (int32 indices), as
        ``fastbp._network.kernel_input`` gives them.
    params : ndarray of shape (n_params,)
    layers : int64 ndarray of shape (n_layers - 1, 7)
        The layer table, with each layer's activation code.
    out : int
    buf_a, buf_b : ndarray of shape (PREDICT_SLOTS * PREDICT_BLOCK *
            max_hidden_width,)
        Scratch for hidden activations, one area per slot.
    result : ndarray of shape (n_samples, n_outputs)
        Overwritten with the output activations.
    check_finite : bool
        Whether to check dense X for NaN and infinity, each block while it
        is in cache (cheaper than a pass over X before prediction).
    packed : ndarray of shape (packed_size(layers, dtype, sparse),) or (0,)
        Where given, every layer's W is first packed there in two-vector
        column panels (``_pack_weights``), and the products read those.
        Same results either way.

    Returns
    -------
    finite : bool
        False if ``check_finite`` and X might hold NaN or infinity (an
        overflowing sum of finite values also gives False; see
        ``_sum_is_finite``).
    """
    n_samples = _n_rows(X)
    # One flag per slot, so that parallel slots write apart; on the stack:
    # np.empty would make loading this kernel import numba.np.arrayobj
    # (_views), np.ones also be a parallel loop, a thread wake-up per call.
    finite = stack_int64(PREDICT_SLOTS)[:PREDICT_SLOTS if check_finite else 0]
    for slot in range(finite.shape[0]):
        finite[slot] = 1
    if packed.shape[0] > 0:
        _pack_weights(params, layers, packed, X[3].shape[0] > 0)
    if (n_samples > PREDICT_BLOCK
            and n_samples * layers[0, INTERCEPT_OFFSET] >= PREDICT_PARALLEL_MIN_WORK):
        for slot in prange(PREDICT_SLOTS):
            _predict_slot_ext(X, params, layers, out, buf_a, buf_b,
                              result, np.int64(slot), finite, packed)
    else:
        n_blocks = (n_samples + PREDICT_BLOCK - 1) // PREDICT_BLOCK
        for slot in range(PREDICT_SLOTS):
            # A few rows leave most slots without blocks: skip the call.
            if (slot + 1) * n_blocks // PREDICT_SLOTS > \
                    slot * n_blocks // PREDICT_SLOTS:
                _predict_slot_ext(X, params, layers, out, buf_a,
                                  buf_b, result, slot, finite, packed)
    for slot in range(finite.shape[0]):
        if finite[slot] == 0:
            return False
    return True


# The kernel modules whose handles _predict_kernel calls, directly or not.
_MODULES = ("activations", "losses", "dense", "predict")


def _predict_rows(X, params, layers, out, buf_a, buf_b, result,
                  check_finite=False, packed=None):
    """``_predict_kernel``, after registering the kernels it calls for the
    params' dtype (see ``_extern``), on read-only views of X's arrays (one
    compiled kernel for writable and read-only X). Arguments and result as
    there.

    At most PREDICT_BLOCK rows run serially, never in a parallel region
    (callers skip thread settings for them).
    """
    check_predict_arguments(X, params, layers, buf_a, buf_b, result)
    if packed is None:
        packed = params[:0]
    else:  # (the size costs microseconds: not for one-row predictions)
        check_packed_weights(packed, packed_size(layers, params.dtype,
                                                 X[3].shape[0] > 0))
    register(params.dtype, _MODULES)
    X = tuple(read_only(a) for a in X)
    return _predict_kernel(X, params, layers, out, buf_a, buf_b,
                           result, check_finite, packed)
