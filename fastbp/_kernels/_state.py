"""The named state the training kernels share with their caller.

Plain named tuples of arrays: Numba passes them to compiled code as
``NamedTuple`` types, whose fields compiled code reads by name at no cost,
so a kernel says ``work.grad`` rather than ``work[4]``. This module imports
no numba; ``fastbp._network`` and ``fastbp._solvers`` build these tuples.
"""

from typing import NamedTuple

import numpy as np


class TrainingData(NamedTuple):
    """X as the training kernels read it (``fastbp._network.training_data``
    makes one): dense X where it lies, or CSR X's arrays where they lie.

    dense : read-only uint8 ndarray of shape (n_rows, n_bytes)
        Dense X's bytes, C-contiguous: its rows (C order) or its columns
        (Fortran order, ``transposed``); (0, 0) for sparse X.
    kind : int
        The element type (``_config.X_KINDS``) of dense X, or of sparse X's
        stored values (X_FLOAT32 or X_FLOAT64).
    transposed : int
        1 if ``dense`` holds X's columns.
    rows : int64 ndarray of shape (n_training_rows,) or (0,)
        Training sample r is row ``rows[r]`` of X (empty: row r): the
        training rows of an early-stopping split, read where they lie.
    data : read-only uint8 ndarray of shape (1, nnz * itemsize)
        CSR X's stored values, their bytes (converted to the training
        dtype as they are read); (0, 0) for dense X.
    indices : int32 ndarray
        CSR X's column indices; empty for dense X.
    indptr : int64 ndarray
        CSR X's row pointers; empty for dense X.
    """

    dense: np.ndarray
    kind: int
    transposed: int
    rows: np.ndarray
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray


class Work(NamedTuple):
    """Scratch buffers of the training kernels (``fastbp._network.Workspace``
    allocates them once per fit). Every one is overwritten.

    wt : ndarray of shape (n_coefs,)
        Every layer's W transposed, (fan_out, fan_in), at the layer's
        coefficient offset (of the first layer only the columns the forward
        product's tail reads).
    xbuf : ndarray of shape (capacity, n_features) or (capacity, 0)
        The batch's rows of dense X; no columns for sparse X.
    ybuf : ndarray of shape (capacity, n_outputs)
        The batch's targets, converted to the training dtype.
    acts, deltas : ndarray of shape (capacity * sum(fan_outs),)
        Every layer's activations and errors, (capacity, fan_out) blocks at
        the layer table's activation offsets.
    deriv : ndarray of shape (capacity * sum(fan_outs),) or (0,)
        f'(z), laid out as ``acts``, of the layers whose derivative the
        forward pass keeps (softplus, gelu, silu); empty in networks
        without such a layer.
    grad : ndarray of shape (n_params,)
        The batch's gradient (full batch: the whole set's).
    grad_tmp : ndarray of shape (n_params,) or (0,)
        A later batch's gradient in a full-batch pass over several batches.
    chunk_loss : float64 ndarray of shape (MAX_CHUNKS,)
        Each chunk's loss sum.
    block_sq : float64 ndarray
        One partial sum of squared weights per weight-gradient task (or per
        REDUCE_BLOCK parameters in a full-batch pass).
    """

    wt: np.ndarray
    xbuf: np.ndarray
    ybuf: np.ndarray
    acts: np.ndarray
    deltas: np.ndarray
    deriv: np.ndarray
    grad: np.ndarray
    grad_tmp: np.ndarray
    chunk_loss: np.ndarray
    block_sq: np.ndarray


class OptimizerState(NamedTuple):
    """What the compiled optimizer step reads and updates.

    solver : int
        SGD, ADAM or FULL_BATCH (no step: a gradient for L-BFGS).
    hyper : ndarray of shape (N_HYPER,), the params' dtype
        Hyper-parameters by slot (``_config``: LEARNING_RATE, MOMENTUM,
        NESTEROV, BETA_1, BETA_2, EPSILON, WEIGHT_DECAY, MAX_GRAD_NORM,
        POOLED_NOISE); slots a solver does not use are zero.
    state : ndarray of shape (2, n_params), or (3, n_params)
        SGD's velocities in row 0; Adam's first and second moments in rows
        0 and 1, updated in place; with ``hyper[POOLED_NOISE] > 1``, the
        pooled mean gradient in row 2 (read only).
    step : int64 ndarray of shape (1,)
        Updates made so far (Adam's t); incremented once per batch.
    """

    solver: int
    hyper: np.ndarray
    state: np.ndarray
    step: np.ndarray


class Dropout(NamedTuple):
    """Which hidden units training drops out (``dropout``).

    threshold : int64 ndarray of shape (n_layers - 1,)
        Per layer, ``round(rate * 2**DROPOUT_BITS)``: 0 keeps every unit
        (and the output layer's is always 0).
    key : int64 ndarray of shape (3,)
        ``[seed, t, row_offset]``: the fit's seed, the number of samples
        seen before this epoch, and the number of the data's first row.
    """

    threshold: np.ndarray
    key: np.ndarray


def no_dropout(n_layers):
    """A :class:`Dropout` that keeps every unit."""
    return Dropout(np.zeros(n_layers, dtype=np.int64),
                   np.zeros(3, dtype=np.int64))
