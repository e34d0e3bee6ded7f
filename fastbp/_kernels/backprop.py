"""Whole-network forward and backward passes (step 2: assign blame).

Memory layout shared with ``fastbp._network``:

* ``params`` is one flat vector: every layer's coefficients (row-major
  (fan_in, fan_out)), then every layer's intercepts, as scikit-learn's
  ``_pack`` orders them. ``grad`` has the same layout; ``wt`` holds the W
  of every layer transposed, (fan_out, fan_in), at the same offsets; of
  the first layer's only the rows from ``dense._tail_start`` on, which its
  forward product reads (the input needs no error). After them, ``wt``
  holds the W of the layers with a ``PACK_OFFSET`` in two-vector column
  panels (``dense.training_panels``), which their forward products read
  instead of W: each panel's rows one contiguous run, not rows a layer's
  width apart. The same multiply-adds in the same order either way.
* ``layers`` is an int64 array of shape (n_layers - 1, 7) whose row ``l``
  holds the layer's ``FAN_IN, FAN_OUT, COEF_OFFSET, INTERCEPT_OFFSET,
  ACT_OFFSET, ACTIVATION, PACK_OFFSET`` (the column names of ``_config``);
  the offsets point into ``params``, the activation workspace and ``wt``,
  the activation is the layer's own code (one per layer: activations may
  differ by layer).
* ``acts`` and ``deltas`` are flat workspaces holding, for each layer ``l``,
  a C-contiguous (capacity, fan_out) block at ``act_offset``; so does
  ``deriv`` for f'(z) of the layers whose derivative the forward pass
  keeps (``activations.keeps_derivative``: softplus, gelu, silu), and it
  is empty in networks without such a layer, which therefore run exactly
  as before; ``xbuf`` is a (capacity, n_features) buffer the batch's rows
  of dense X are gathered into ((capacity, 0) for sparse X, which the
  first layer reads as CSR).

Parallel mini-batch gradient accumulation, in two parallel steps per batch:

1. The batch is cut into chunks, a number fixed by its size
   (``_n_chunks``); threads take chunks and run forward, loss, output error
   and the error back-propagation for their samples, writing each sample's
   rows and one loss sum per chunk. Nothing here sums across samples.
2. The weight gradients dW = A^T D are computed with each thread owning
   blocks of rows of dW and summing over *all* the batch's samples
   (``dense._gemm_atb``, which reads A and D as they are, one row per
   sample). Each entry is one sum over the batch in a fixed order.

We measured the alternative the design notes describe first, each chunk
accumulating a full private gradient that is then reduced: the weight
gradient's dot products become as short as a chunk (32-64 samples), too
short for LLVM's vectorised loop, and the reduction adds a pass over all
parameters per chunk. Owning rows of dW needs no reduction, and, like the
chunked loss sums, its results depend on the data alone, never on the
number of threads. Sets larger than the workspace (the full batch of
L-BFGS) are processed block by block, in order.
"""

import numpy as np
from numba import types

from ._config import (ACT_OFFSET, ACTIVATION, CHUNK_MIN_SAMPLES, COEF_OFFSET,
                      FAN_IN, FAN_OUT, FULL_BATCH, IDENTITY, INTERCEPT_OFFSET,
                      MAX_CHUNKS, OUT_ABSOLUTE, OUT_HUBER, OUT_QUANTILE,
                      SPARSE_TASKS, TASK_MACS, TASK_NORM, TASK_STEP,
                      X_FLOAT32, jit)
from ._extern import array, extern, readonly
from ._minmax import maximum, minimum
from ._views import bytes_as, rows_flat, view as _view
from ._state import TrainingData
from .activations import _activate_keep_rows_ext, keeps_derivative
from .dropout import _dropout_backward_rows_ext, _dropout_forward_rows_ext
from .dense import (_dense_backward_input_ext, _dense_forward_ext,
                    _gemm_atb_ext, _sparse_forward, _sparse_weight_gradient,
                    training_panels)
from .gather import _gather_rows_ext
from .losses import (_loss_factor, _output_activate_rows_ext,
                     _output_delta, _robust_loss_delta, _sample_loss)
from .optimizers import _grad_sq_block, _step_range_ext, _store_transposed


@jit
def _n_chunks(n_samples):
    """Number of gradient-accumulation chunks for a batch of n_samples:
    the largest power of two <= min(MAX_CHUNKS, n_samples / CHUNK_MIN)."""
    limit = minimum(MAX_CHUNKS, n_samples // CHUNK_MIN_SAMPLES)
    n_chunks = 1
    while 2 * n_chunks <= limit:
        n_chunks *= 2
    return n_chunks


@jit
def _chunk_start(c, n_chunks, m):
    """First sample of chunk c of a batch of m samples (m for c = n_chunks).

    Chunk bounds are multiples of 4 (but the last), so that every chunk but
    the last runs whole 4-row tiles of the products.
    """
    if c >= n_chunks:
        return m
    return c * m // n_chunks // 4 * 4


@jit
def _values(X, dtype, own):
    """Sparse X's stored values read as ``dtype`` if ``own`` (they are of
    that type), else an empty array of ``dtype``: a view of the bytes as
    the other type would need their length to be a multiple of its size
    (numpy's ``view``, on Numba's public path)."""
    if own:
        return rows_flat(bytes_as(X.data, dtype), 0, 1)
    return rows_flat(bytes_as(X.dense, dtype), 0, 0)


@jit
def _forward_backward_chunk(X, Y, sw, idx, start, m, chunk, n_chunks,
                            params, wt, layers, out, loss_param, xbuf, ybuf,
                            acts, deltas, deriv, drop_threshold, drop_key):
    """Forward, loss and error back-propagation for chunk ``chunk`` of
    ``n_chunks`` of a batch of m samples: samples s0..s1 (``_chunk_start``).

    Sample ``s`` of the batch is row ``idx[start + s]`` of X and of Y
    (through their row maps). ``X`` is a ``TrainingData`` (``_state``):
    dense X in its own type and order, gathered row by row, or CSR arrays
    (non-empty ``indptr``) whose first layer is computed from the stored
    entries only. ``Y``, the targets, is a dense ``TrainingData`` too: the
    chunk's rows are gathered into ``ybuf``, converted to the params' dtype
    (a classifier's 0/1 indicators are read as bytes, not copied to
    floats beforehand). Fills rows s0..s1 of every layer's activations and
    errors (and of ``xbuf`` and ``ybuf``). Hidden layer ``l``
    with ``drop_threshold[l] > 0`` is dropped out (``dropout``, with the key
    ``drop_key``); its activations are stored dropped out.

    Returns
    -------
    loss : float
        sum_s sw_s * t_s over the chunk (see ``losses._sample_loss``); NaN
        if a gathered row of dense X holds NaN or an infinity.
    """
    s0 = _chunk_start(chunk, n_chunks, m)
    s1 = _chunk_start(chunk + 1, n_chunks, m)
    n_layers = layers.shape[0]
    cap = xbuf.shape[0]
    n_outputs = layers[n_layers - 1, FAN_OUT]
    one = params.dtype.type(1)
    sparse = X.indptr.shape[0] > 0

    # Gather the chunk's rows of a dense X, converted to the params' dtype
    # and tested for NaN and infinity (``gather``). A non-finite row makes
    # the chunk's loss NaN (partial_fit tests X that way, see _mlp's
    # _fit_stochastic; the copy is memory-bound, the test costs nothing
    # measurable).
    finite = True
    if not sparse:
        finite = _gather_rows_ext(X.dense, X.kind, X.transposed, X.rows,
                                  idx, start, s0, s1, xbuf)
    # The targets are tested before training (validation).
    _gather_rows_ext(Y.dense, Y.kind, Y.transposed, Y.rows, idx, start, s0,
                     s1, ybuf)

    # Forward.
    A = xbuf
    for l in range(n_layers):
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        b = params[layers[l, INTERCEPT_OFFSET]:layers[l, INTERCEPT_OFFSET] + fan_out]
        Z = _view(acts, layers[l, ACT_OFFSET], cap, fan_out)
        kind = layers[l, ACTIVATION]
        # Activations whose derivative is kept: the product without f, then
        # f(z) in place and f'(z) in ``deriv``.
        keep = keeps_derivative(kind)
        product_kind = IDENTITY if keep else kind
        if l == 0 and sparse:
            W = _view(params, layers[l, COEF_OFFSET], fan_in, fan_out)
            wide = X.kind != X_FLOAT32
            _sparse_forward(_values(X, np.float32, not wide),
                            _values(X, np.float64, wide), wide, X.indices,
                            X.indptr, X.rows, idx, start, W, b, Z,
                            product_kind, s0, s1)
        else:
            W = _view(params, layers[l, COEF_OFFSET], fan_in, fan_out)
            WT = _view(wt, layers[l, COEF_OFFSET], fan_out, fan_in)
            _dense_forward_ext(A, W, WT, b, Z, product_kind, s0, s1,
                               training_panels(wt, layers, l))
        if keep:
            P = _view(deriv, layers[l, ACT_OFFSET], cap, fan_out)
            _activate_keep_rows_ext(kind, Z, P, s0, s1)
        if drop_threshold[l] > 0:
            _dropout_forward_rows_ext(Z, drop_threshold[l], drop_key, idx,
                                      start, l, s0, s1)
        A = Z

    # Output activation, loss and output error: delta = sw * dloss/dz
    # (sw * (p - y) for the canonical links).
    aoff = layers[n_layers - 1, ACT_OFFSET]
    P = _view(acts, aoff, cap, n_outputs)
    D = _view(deltas, aoff, cap, n_outputs)
    loss = 0.0
    _output_activate_rows_ext(out, P, s0, s1)
    robust = out == OUT_HUBER or out == OUT_ABSOLUTE or out == OUT_QUANTILE
    for s in range(s0, s1):
        w = one
        if sw.shape[0] > 0:
            w = sw[idx[start + s]]
        if robust:
            loss += float(w) * _robust_loss_delta(out, P, s, ybuf, s, w,
                                                  loss_param, D)
        else:
            loss += float(w) * _sample_loss(out, P, s, ybuf, s, loss_param)
            _output_delta(P, s, ybuf, s, w, D)

    # Backward: the error of layer l - 1 from that of layer l.
    for l in range(n_layers - 1, -1, -1):
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        D = _view(deltas, layers[l, ACT_OFFSET], cap, fan_out)
        if l > 0:
            WT = _view(wt, layers[l, COEF_OFFSET], fan_out, fan_in)
            W = _view(params, layers[l, COEF_OFFSET], fan_in, fan_out)
            A = _view(acts, layers[l - 1, ACT_OFFSET], cap, fan_in)
            D_prev = _view(deltas, layers[l - 1, ACT_OFFSET], cap, fan_in)
            kind = layers[l - 1, ACTIVATION]
            P = A
            if keeps_derivative(kind):
                P = _view(deriv, layers[l - 1, ACT_OFFSET], cap, fan_in)
            if drop_threshold[l - 1] > 0:
                # dL/dA first, then the dropout mask and f'.
                _dense_backward_input_ext(D, WT, W, A, P, D_prev, IDENTITY,
                                          s0, s1)
                _dropout_backward_rows_ext(kind, A, P, D_prev,
                                           drop_threshold[l - 1], drop_key,
                                           idx, start, l - 1, s0, s1)
            else:
                _dense_backward_input_ext(D, WT, W, A, P, D_prev, kind, s0,
                                          s1)
    return loss if finite else np.nan


@jit
def _block_rows(layers, l, sparse, m):
    """Rows of layer l's weight matrix per task.

    For the weight gradient of a batch of ``m`` samples, tasks get about
    the same number of multiply-adds each, so that an even split of the
    task range over threads (Numba's parallel loops give each thread an
    equal count of iterations) is an even split of the work: TASK_MACS, or
    eight rows (the product's tiles) of the widest layer where that is more,
    in a multiple of 8 rows. With TASK_MACS alone, wide's first layer
    (512 outputs, batches of 256) got eight-row tasks of twice as many
    multiply-adds as its second layer's, and of the batch's 167 tasks the
    first thread's half held 86 million multiply-adds, the second's 49
    million. A sparse first layer (whose tasks each scan all the batch's
    stored entries) is cut into at most SPARSE_TASKS tasks.
    """
    if l == 0 and sparse:
        return maximum(16, (layers[0, FAN_IN] + SPARSE_TASKS - 1) // SPARSE_TASKS)
    macs = TASK_MACS
    for k in range(layers.shape[0]):
        macs = maximum(macs, 8 * layers[k, FAN_OUT] * m)
    rows = macs // maximum(layers[l, FAN_OUT] * m, 1)
    return maximum(8, rows // 8 * 8)


@jit
def _n_row_blocks(layers, l, sparse, m):
    """Number of row blocks (tasks) of layer l's weight matrix."""
    rows = _block_rows(layers, l, sparse, m)
    return (layers[l, FAN_IN] + rows - 1) // rows


@jit
def _n_row_tasks(layers, sparse, m):
    """Number of row blocks (tasks) of all layers' weight matrices."""
    n_tasks = 0
    for l in range(layers.shape[0]):
        n_tasks += _n_row_blocks(layers, l, sparse, m)
    return n_tasks


@jit
def _task_range(layers, sparse, m, n_tasks, n_groups, g):
    """Tasks t0 <= t < t1 of group g of n_groups: runs of consecutive
    tasks of about equal work (multiply-adds, rows x outputs x m; a bias
    counts outputs x m).

    A parallel loop over the tasks themselves gives each thread an equal
    count of them, and the tasks differ (mnist: 33 of the first layer,
    one of 16 rows among them, then the output layer's and the biases'):
    of mnist's 36 tasks the first half held 8.6 million multiply-adds, the
    second 7.2 million. Which thread runs a task never changes what it
    computes.
    """
    n_row_tasks = n_tasks - layers.shape[0]
    total = 0.0
    for l in range(layers.shape[0]):
        total += float(layers[l, FAN_IN] + 1) * layers[l, FAN_OUT] * m
    done = 0.0
    t0 = n_tasks
    for t in range(n_tasks):
        if t < n_row_tasks:
            l, r0, r1 = _find_block(layers, t, sparse, m)
            cost = float(r1 - r0) * layers[l, FAN_OUT] * m
        else:
            cost = float(layers[t - n_row_tasks, FAN_OUT]) * m
        group = minimum(np.int64(n_groups * (done + cost / 2) / total),
                        n_groups - 1)
        if group == g and t0 == n_tasks:
            t0 = t
        elif group > g:
            return t0, t
        done += cost
    return t0, n_tasks


@jit
def _find_block(layers, task, sparse, m):
    """Layer, first and last row of global row block ``task``."""
    l = np.int64(0)  # a literal 0 would compile the callees once more
    first = 0
    while first + _n_row_blocks(layers, l, sparse, m) <= task:
        first += _n_row_blocks(layers, l, sparse, m)
        l += 1
    rows = _block_rows(layers, l, sparse, m)
    r0 = (task - first) * rows
    return l, r0, minimum(r0 + rows, layers[l, FAN_IN])


@jit
def _transpose_weights(params, wt, layers):
    """wt gets the W (fan_in, fan_out) of every layer as WT (fan_out,
    fan_in), the first layer's from its ``_tail_start`` column on only:
    what the input errors and the first layer's last columns read
    (``optimizers._store_transposed``, over all coefficients).

    Serial: it runs once per epoch (the optimizer keeps wt up to date
    between batches), and for wide's weights it takes well under a
    millisecond, less than starting a parallel region would save.
    """
    _store_transposed(params, wt, layers, layers[0, COEF_OFFSET], layers[0, INTERCEPT_OFFSET])


@jit
def _weight_gradient_task(X, idx, start, grad, layers, cap, m, xbuf, acts,
                          deltas, task, n_row_tasks, phase, params, alpha,
                          denom, solver, hyper, state, lr_t, wt, task_sq):
    """One task of step 2: a block of rows of some layer's dW, or a db, then
    (but for ``solver=FULL_BATCH``) step 3 on those parameters.

    dW[r0:r1] = A[:m, r0:r1]^T D[:m]  (sums over all m samples of the batch)
    db = sum_s D[s]

    The step (``optimizers._step_range``, arguments as there) follows while
    the gradient is in cache, which saves a parallel region and its barrier
    per batch over the step as a pass of its own (mnist, 2 threads: epoch
    0.0736 -> 0.0716 s, medians of five alternating processes; one thread:
    0.131 s either way). Nothing in step 2 reads the weights.
    ``task_sq[task]`` gets the range's sum of squared coefficients.

    ``phase`` (``_config``) splits the task in two for ``max_grad_norm``:
    TASK_NORM sums the gradient and puts the squared norm of the gradient
    the step would take in ``task_sq[task]``
    (``optimizers._grad_sq_block``); TASK_STEP takes the step on the
    gradient already summed, with ``denom`` the clipped divisor. TASK_FUSED
    does both at once, as described above.
    """
    sparse = X.indptr.shape[0] > 0
    n_coefs = layers[0, INTERCEPT_OFFSET]
    if task < n_row_tasks:
        l, r0, r1 = _find_block(layers, task, sparse, m)
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        p0 = layers[l, COEF_OFFSET] + r0 * fan_out
        p1 = layers[l, COEF_OFFSET] + r1 * fan_out
        if phase != TASK_STEP:
            gW = _view(grad, layers[l, COEF_OFFSET], fan_in, fan_out)
            if l == 0 and sparse:
                D = _view(deltas, layers[0, ACT_OFFSET], cap, fan_out)
                wide = X.kind != X_FLOAT32
                _sparse_weight_gradient(
                    _values(X, np.float32, not wide),
                    _values(X, np.float64, wide), wide, X.indices, X.indptr,
                    X.rows, idx, start, m, D, gW, r0, r1)
            else:
                A = xbuf if l == 0 else _view(
                    acts, layers[l - 1, ACT_OFFSET], cap, fan_in)
                D = _view(deltas, layers[l, ACT_OFFSET], cap, fan_out)
                _gemm_atb_ext(A, D, gW, r0, r1, m)
    else:
        l = task - n_row_tasks
        fan_out = layers[l, FAN_OUT]
        p0 = layers[l, INTERCEPT_OFFSET]
        p1 = p0 + fan_out
        if phase != TASK_STEP:
            D = _view(deltas, layers[l, ACT_OFFSET], cap, fan_out)
            db = grad[p0:p1]
            # Each entry sums over the samples in order (vectorised across
            # the entries, not along the sum).
            for j in range(fan_out):
                db[j] = 0
            for s in range(m):
                for j in range(fan_out):
                    db[j] += D[s, j]
    if phase == TASK_NORM:
        task_sq[task] = _grad_sq_block(params, grad, alpha, denom, n_coefs,
                                       p0, p1)
    elif solver != FULL_BATCH:
        task_sq[task] = _step_range_ext(params, grad, alpha, denom, n_coefs,
                                        solver, hyper, state, lr_t, wt,
                                        layers, p0, p1)


@jit
def _weight_sum(sw, idx, start, stop):
    """Sum of the weights of samples idx[start:stop] (their count if none)."""
    if sw.shape[0] == 0:
        return float(stop - start)
    total = 0.0
    for s in range(start, stop):
        total += sw[idx[s]]
    return total


@jit
def _total_loss(data_loss, sq_total, alpha, sw_sum, out, layers):
    """loss = factor * data_loss / sw_sum + 0.5 * alpha * ||W||^2 / sw_sum."""
    n_outputs = layers[layers.shape[0] - 1, FAN_OUT]
    return (_loss_factor(out, n_outputs) * data_loss / sw_sum
            + 0.5 * float(alpha) * sq_total / sw_sum)


def _kernel_input_type(f):
    """Numba type of prediction's X tuple (dense, data, indices, indptr),
    read-only as the entry point passes it."""
    return types.Tuple([readonly(f, 2), readonly(f, 1),
                        readonly(types.int32, 1), readonly(types.int64, 1)])


def _training_data_type(f):
    """Numba type of the training kernels' X, a ``TrainingData`` of
    read-only arrays as the entry points pass it."""
    return types.NamedTuple(
        [readonly(types.uint8, 2), types.int64, types.int64,
         readonly(types.int64, 1), readonly(types.uint8, 2),
         readonly(types.int32, 1), readonly(types.int64, 1)], TrainingData)


# Handles compiled callers use (see _extern); the training data X, Y
# (both ``TrainingData``), sw and the sample order idx arrive read-only.
_forward_backward_chunk_ext = extern(_forward_backward_chunk, lambda f: [
    (_training_data_type(f), _training_data_type(f), readonly(f, 1),
     readonly(types.int64, 1), types.int64, types.int64, types.int64,
     types.int64, array(f, 1), array(f, 1), array(types.int64, 2),
     types.int64, types.float64, array(f, 2), array(f, 2), array(f, 1),
     array(f, 1), array(f, 1), array(types.int64, 1),
     array(types.int64, 1))])
_weight_gradient_task_ext = extern(_weight_gradient_task, lambda f: [
    (_training_data_type(f), readonly(types.int64, 1), types.int64,
     array(f, 1), array(types.int64, 2), types.int64, types.int64,
     readonly(f, 2), readonly(f, 1), readonly(f, 1), types.int64,
     types.int64, types.int64, array(f, 1), f, f, types.int64, array(f, 1),
     array(f, 2), f, array(f, 1), array(types.float64, 1))])
