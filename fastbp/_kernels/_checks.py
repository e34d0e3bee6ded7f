"""Shape checks of the compiled entry points' arguments, in Python.

The kernels read and write through explicit vector loads and stores
(``simd.py``) at offsets read from the layer table, without bounds checks
but in a debugging build (``NUMBA_BOUNDSCHECK=1``). The callers in fastbp
build every argument to fit the others, so these checks never fail there;
they turn a caller's mistake into a ValueError instead of a read or write
outside an array, in every build. Their cost: a lookup of the layer table
by its contents and a few comparisons per call (a prediction of one row),
plus one pass over the batch order and a sparse X's index arrays per
training call (an epoch, or an L-BFGS evaluation). It calls no compiled
code (``dense.panel_rows`` is plain Python).
"""

import numpy as np

from ._config import (ACT_OFFSET, COEF_OFFSET, FAN_IN, FAN_OUT, FULL_BATCH,
                      INTERCEPT_OFFSET, MAX_CHUNKS, N_HYPER, N_LAYER_COLUMNS,
                      PACK_OFFSET, POOLED_NOISE, PREDICT_BLOCK,
                      PREDICT_SLOTS, X_FLOAT32, X_FLOAT64, X_INT64, X_UINT8)
from .dense import panel_rows
from .simd import VECTOR_BYTES

_ITEMSIZE = {X_FLOAT32: 4, X_FLOAT64: 8, X_UINT8: 1, X_INT64: 8}


def _fail(what):
    raise ValueError(f"compiled kernel arguments do not fit: {what}")


_SUMMARIES = {}  # layer table's bytes, shape, n_params, capacity -> summary


def layer_table_summary(layers, n_params, capacity):
    """Check the layer table for ``capacity`` samples of a network whose
    flat parameter vector has ``n_params`` entries (fans chained,
    coefficients then intercepts packed in order, activation blocks one
    after another), and return ``(n_features, n_outputs, n_coefs,
    sum of fan-outs, widest hidden layer)``.

    Summaries are kept by the table's contents: a prediction of one row
    pays a lookup, not the check."""
    key = (layers.tobytes(), layers.shape, n_params, capacity)
    summary = _SUMMARIES.get(key)
    if summary is not None:
        return summary
    if (layers.ndim != 2 or layers.shape[0] < 1
            or layers.shape[1] != N_LAYER_COLUMNS or layers.dtype != np.int64):
        _fail(f"a layer table of shape {layers.shape}, {layers.dtype}")
    rows = layers.tolist()
    coef = act = 0
    intercept = sum(row[FAN_IN] * row[FAN_OUT] for row in rows)
    previous = rows[0][FAN_IN]
    for row in rows:
        if (row[FAN_IN] != previous or row[FAN_OUT] < 1 or previous < 1
                or row[COEF_OFFSET] != coef
                or row[INTERCEPT_OFFSET] != intercept
                or row[ACT_OFFSET] != act):
            _fail("an inconsistent layer table")
        coef += row[FAN_IN] * row[FAN_OUT]
        intercept += row[FAN_OUT]
        act += row[FAN_OUT] * capacity
        previous = row[FAN_OUT]
    if n_params != intercept:
        _fail(f"{n_params} parameters for a table of {intercept}")
    summary = (rows[0][FAN_IN], rows[-1][FAN_OUT], coef,
               sum(row[FAN_OUT] for row in rows),
               max([row[FAN_OUT] for row in rows[:-1]] or [1]))
    if len(_SUMMARIES) > 1024:
        _SUMMARIES.clear()
    _SUMMARIES[key] = summary
    return summary


def _n_samples_and_features(X):
    dense, data, indices, indptr = X
    shape = dense.shape
    if len(shape) != 2:
        _fail(f"X of {len(shape)} dimensions")
    if not indptr.shape[0]:
        return shape
    n_samples, n_features = indptr.shape[0] - 1, shape[1]
    _check_csr(data, indices, indptr, n_features)
    return n_samples, n_features


def _check_csr(data, indices, indptr, n_features):
    if (data.shape != indices.shape or indptr[0] != 0
            or indptr[-1] != data.shape[0] or (np.diff(indptr) < 0).any()):
        _fail("inconsistent CSR arrays")
    if indices.shape[0] and (indices.min() < 0
                             or indices.max() >= n_features):
        _fail("a CSR column index outside X's columns")


def _training_samples(X, n_features, name="X"):
    """Training samples of a ``TrainingData`` ``name`` of ``n_features``
    columns (the network's inputs, or for the targets its outputs): dense
    X's bytes, its row map, or CSR arrays."""
    if X.indptr.shape[0]:
        if (X.kind not in (X_FLOAT32, X_FLOAT64) or X.data.ndim != 2
                or X.data.shape[0] != 1
                or X.data.shape[1] % _ITEMSIZE[X.kind]):
            _fail(f"sparse {name}'s values of kind {X.kind} and shape "
                  f"{X.data.shape}")
        values = X.data[0].view(np.float32 if X.kind == X_FLOAT32
                                else np.float64)
        _check_csr(values, X.indices, X.indptr, n_features)
        return _mapped_rows(X, X.indptr.shape[0] - 1, name)
    if X.kind not in _ITEMSIZE or X.dense.ndim != 2:
        _fail(f"dense {name} of kind {X.kind} and {X.dense.ndim} dimensions")
    itemsize = _ITEMSIZE[X.kind]
    if X.transposed:
        columns, n_bytes = X.dense.shape
        n_rows = n_bytes // itemsize
    else:
        n_rows, n_bytes = X.dense.shape
        columns = n_bytes // itemsize
    if n_bytes % itemsize or columns != n_features:
        _fail(f"{name}'s bytes hold {columns} columns, the network "
              f"{n_features}")
    return _mapped_rows(X, n_rows, name)


def _mapped_rows(X, n_rows, name):
    """Training samples of a ``TrainingData`` of ``n_rows`` rows, through
    its row map if it has one."""
    if not X.rows.shape[0]:
        return n_rows
    if X.rows.min() < 0 or X.rows.max() >= n_rows:
        _fail(f"a row map outside {name}'s {n_rows} rows")
    return X.rows.shape[0]


def check_train_arguments(X, Y, sw, idx, start, stop, batch_size, params,
                          layers, optimizer, work):
    """Shapes of ``epoch._train_kernel``'s arguments (see there); X and Y
    are ``TrainingData``."""
    capacity = work.xbuf.shape[0]
    n_in, n_outputs, n_coefs, sum_fan_out, _ = layer_table_summary(
        layers, params.shape[0], capacity)
    n_act = capacity * sum_fan_out
    n_samples = _training_samples(X, n_in)
    n_features = n_in
    if Y.indptr.shape[0]:
        _fail("sparse targets")
    n_targets = _training_samples(Y, n_outputs, "Y")
    if n_targets != n_samples:
        _fail(f"targets for {n_targets} samples, X holds {n_samples}")
    if sw.ndim != 1 or sw.shape[0] not in (0, n_samples):
        _fail(f"sample weights of shape {sw.shape} for {n_samples} samples")
    if not 0 <= start <= stop <= idx.shape[0]:
        _fail(f"samples idx[{start}:{stop}] of {idx.shape[0]}")
    if stop > start and (idx[start:stop].min() < 0
                         or idx[start:stop].max() >= n_samples):
        _fail(f"a sample index outside X's {n_samples} rows")
    if not 1 <= batch_size <= capacity:
        _fail(f"batch_size {batch_size} for a workspace of {capacity}")
    if (work.xbuf.shape[1] != (0 if X.indptr.shape[0] else n_features)
            or work.ybuf.shape != (capacity, n_outputs)
            or work.wt.shape[0] < n_coefs or work.acts.shape[0] < n_act
            or work.deltas.shape[0] < n_act
            or work.grad.shape[0] < params.shape[0]
            or work.grad_tmp.shape[0] not in (0, params.shape[0])
            or work.chunk_loss.shape[0] < MAX_CHUNKS):
        _fail("a workspace made for another network or batch size")
    _check_packed_layers(layers, work.wt, n_coefs, params.dtype.itemsize)
    if (optimizer.hyper.shape[0] != N_HYPER or optimizer.step.shape[0] < 1
            or optimizer.solver != FULL_BATCH
            and (optimizer.state.ndim != 2 or optimizer.state.shape[0] < 2
                 or optimizer.state.shape[1] < params.shape[0])):
        _fail("an optimizer state made for another network")
    if optimizer.hyper[POOLED_NOISE] > 1 and optimizer.state.shape[0] < 3:
        _fail("a pooled second moment without the pooled mean gradient "
              "(optimizer state row 2)")


def _check_packed_layers(layers, wt, n_coefs, itemsize):
    """The layer table's PACK_OFFSET column: -1, or panels that lie in
    ``wt`` after its transposed weights and do not overlap."""
    lanes = VECTOR_BYTES // itemsize
    end = n_coefs
    for row in sorted(layers.tolist(), key=lambda row: row[PACK_OFFSET]):
        offset = row[PACK_OFFSET]
        if offset == -1:
            continue
        size = panel_rows(row[FAN_IN], row[FAN_OUT], lanes) * 2 * lanes
        if offset < end or offset + size > wt.shape[0]:
            _fail(f"packed weights at {offset} in a wt of {wt.shape[0]} "
                  f"entries (from {end} free)")
        end = offset + size


def check_packed_weights(packed, size):
    """``predict._predict_kernel``'s packed-weights buffer: ``size``
    entries (``predict.packed_size``)."""
    if packed.ndim != 1 or packed.shape[0] != size:
        _fail(f"a packed-weights buffer of shape {packed.shape}, "
              f"({size},) needed")


def check_predict_arguments(X, params, layers, buf_a, buf_b, result):
    """Shapes of ``predict._predict_kernel``'s arguments (see there)."""
    n_samples, n_features = _n_samples_and_features(X)
    n_in, n_outputs, _, _, widest = layer_table_summary(
        layers, params.shape[0], 1)
    if n_features != n_in:
        _fail(f"X has {n_features} features, the network {n_in}")
    if result.shape != (n_samples, n_outputs):
        _fail(f"a result of shape {result.shape} for {n_samples} samples "
              f"and {n_outputs} outputs")
    scratch = PREDICT_SLOTS * min(PREDICT_BLOCK, max(n_samples, 1)) * widest
    if buf_a.shape[0] < scratch or buf_b.shape[0] < scratch:
        _fail(f"scratch buffers of {buf_a.shape[0]} and {buf_b.shape[0]} "
              f"entries, {scratch} needed")
