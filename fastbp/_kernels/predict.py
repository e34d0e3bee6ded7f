"""Prediction: the forward pass alone, over row blocks in parallel.

Each task takes ``PREDICT_BLOCK`` consecutive rows through every layer
(``_forward_rows``), so a block's activations stay in cache from one layer
to the next. Block bounds depend on the row count only, never on the
number of threads, so predictions do not either.
"""

import numpy as np
from numba import prange

from ._config import (IDENTITY, PREDICT_BLOCK, PREDICT_PARALLEL_MIN_WORK,
                      PREDICT_TRANSPOSE_MIN_ROWS, jit, jit_parallel)
from ._extern import register
from .backprop import _transpose_weights, _view
from .dense import _bias_activate_rows_ext, _dense_forward_ext, _gemm_ab_ext
from .losses import _output_activate_row_ext


@jit
def _forward_rows(X, params, wt, layers, hidden, out, buf_a, buf_b, result,
                  s0, s1, transposed):
    """result[s] = output activations of X[s], for s0 <= s < s1.

    Layer l writes its activations to rows s0..s1 of ``buf_a`` (l even) or
    ``buf_b`` (l odd), viewed as (n_samples, fan_out); the last layer
    writes ``result``. Without the transposed weights (``transposed``
    False), every product is computed from W's rows (``_gemm_ab``).
    """
    n_samples = X.shape[0]
    n_layers = layers.shape[0]
    for l in range(n_layers):
        fan_in = layers[l, 0]
        fan_out = layers[l, 1]
        W = _view(params, layers[l, 2], fan_in, fan_out)
        b = params[layers[l, 3]:layers[l, 3] + fan_out]
        kind = hidden
        if l == n_layers - 1:
            Z = result
            kind = IDENTITY
        elif l % 2 == 0:
            Z = _view(buf_a, 0, n_samples, fan_out)
        else:
            Z = _view(buf_b, 0, n_samples, fan_out)
        if l == 0:
            if transposed:
                WT = _view(wt, layers[l, 2], fan_out, fan_in)
                _dense_forward_ext(X, W, WT, b, Z, kind, s0, s1)
            else:
                _gemm_ab_ext(X, W, Z, s0, s1)
                _bias_activate_rows_ext(b, Z, kind, s0, s1)
        else:
            # Layer l reads what layer l - 1 wrote: buf_a after even layers.
            A = _view(buf_a if l % 2 == 1 else buf_b, 0, n_samples, fan_in)
            if transposed:
                WT = _view(wt, layers[l, 2], fan_out, fan_in)
                _dense_forward_ext(A, W, WT, b, Z, kind, s0, s1)
            else:
                _gemm_ab_ext(A, W, Z, s0, s1)
                _bias_activate_rows_ext(b, Z, kind, s0, s1)
    for s in range(s0, s1):
        _output_activate_row_ext(out, result[s], result.shape[1])


@jit_parallel
def _predict_kernel(X, params, wt, layers, hidden, out, buf_a, buf_b, result):
    """Forward pass of every row of X.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous
    params : ndarray of shape (n_params,)
    wt : ndarray of shape (>= n_coefs,)
        Overwritten with the transposed weights (from
        PREDICT_TRANSPOSE_MIN_ROWS rows on; unused below).
    layers : int64 ndarray of shape (n_layers - 1, 5)
    hidden, out : int
    buf_a, buf_b : ndarray of shape (>= n_samples * max_hidden_width,)
        Ping-pong workspaces for hidden activations.
    result : ndarray of shape (n_samples, n_outputs)
        Overwritten with the output activations.
    """
    n_samples = X.shape[0]
    n_blocks = (n_samples + PREDICT_BLOCK - 1) // PREDICT_BLOCK
    # Transposing every weight pays for the dot-product form only over
    # enough rows; a few rows are multiplied by W's rows directly.
    transposed = n_samples >= PREDICT_TRANSPOSE_MIN_ROWS
    if transposed:
        _transpose_weights(params, wt, layers)
    if n_blocks > 1 and n_samples * layers[0, 3] >= PREDICT_PARALLEL_MIN_WORK:
        for blk in prange(n_blocks):
            s0 = np.int64(blk) * PREDICT_BLOCK
            _forward_rows(X, params, wt, layers, hidden, out, buf_a, buf_b,
                          result, s0, min(s0 + PREDICT_BLOCK, n_samples),
                          transposed)
    else:
        for blk in range(n_blocks):
            s0 = blk * PREDICT_BLOCK
            _forward_rows(X, params, wt, layers, hidden, out, buf_a, buf_b,
                          result, s0, min(s0 + PREDICT_BLOCK, n_samples),
                          transposed)


def _predict_rows(X, params, wt, layers, hidden, out, buf_a, buf_b, result):
    """``_predict_kernel``, after registering the kernels it calls for the
    params' dtype (see ``_extern``). Arguments as there."""
    register(params.dtype)
    _predict_kernel(X, params, wt, layers, hidden, out, buf_a, buf_b, result)
