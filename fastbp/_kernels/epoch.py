"""The compiled training pass: an epoch of mini-batches, or a full-batch
gradient for L-BFGS, in one call.

``_train`` runs the three steps of backpropagation over the batches of a
given sample order. For each batch ``idx[b0:b0 + m]``:

1. chunks of the batch in parallel: forward, loss, output error and the
   error back-propagation (``backprop._forward_backward_chunk``);
2. rows of the weight gradients in parallel
   (``backprop._weight_gradient_task``), each task going on to
3. SGD or Adam on the parameters it summed: the L2 term, the step and the
   transposed weights' refresh (``optimizers._step_range``). With
   ``solver=FULL_BATCH`` there is no step: the batches' gradients are added
   in batch order and normalised once, which is L-BFGS's loss and gradient
   over all samples.

With ``max_grad_norm`` (``hyper[MAX_GRAD_NORM] > 0``) the step needs the
norm of the whole batch gradient, so steps 2 and 3 become two passes over
the same tasks: the gradient rows and each task's squared norm, added in
task order (``optimizers._clipped_denom``), then the steps with the clipped
divisor. Without it the code path is the one pass above.

The stochastic and full-batch passes share one compiled entry point, and
its two parallel loops are functions of their own with nothing in them but
the loop (``_chunks_in_parallel``, ``_tasks_in_parallel``), each iteration
one call of a registered kernel (``_extern``). Numba's parfor passes
analyse the whole function that holds a ``prange``: with the loops inside
the entry point, its own compile time was 1.67 s (float32, empty cache),
against 1.46 s for the three functions now.

Python calls this once per epoch (``_run_epoch``) or once per L-BFGS
evaluation (``_loss_grad``), through ``_train``: plain functions below,
which register the kernels the compiled code calls (``_extern``) first.
"""

import numpy as np
from numba import get_num_threads, prange

from ._config import (ADAM, BETA_1, BETA_2, CHUNK_PARALLEL_MIN_WORK,
                      FULL_BATCH, INTERCEPT_OFFSET, LEARNING_RATE,
                      MAX_GRAD_NORM, N_HYPER, PARALLEL_MIN_WORK,
                      REDUCE_BLOCK, TASK_FUSED, TASK_NORM, TASK_STEP,
                      jit_entry, jit_parallel)
from ._checks import check_train_arguments
from ._state import OptimizerState, no_dropout
from ._extern import read_only, register
from ._minmax import maximum, minimum
from .backprop import (_forward_backward_chunk_ext, _n_chunks, _task_range,
                       _n_row_tasks, _total_loss, _transpose_weights,
                       _weight_gradient_task_ext, _weight_sum)
from .optimizers import (_add_block, _adam_step_size, _clipped_denom,
                         _normalise_block_ext)


@jit_parallel
def _chunks_in_parallel(X, Y, sw, idx, b0, m, n_chunks, params, wt, layers,
                        out, loss_param, xbuf, ybuf, acts, deltas, deriv,
                        chunk_loss, drop_threshold, drop_key):
    """Step 1 of a batch, its chunks in parallel (see ``_train_kernel``)."""
    for c in prange(n_chunks):
        chunk_loss[c] = _forward_backward_chunk_ext(
            X, Y, sw, idx, b0, m, np.int64(c), n_chunks, params, wt, layers,
            out, loss_param, xbuf, ybuf, acts, deltas, deriv, drop_threshold,
            drop_key)


@jit_parallel
def _tasks_in_parallel(X, idx, b0, target, layers, cap, m, xbuf, acts,
                       deltas, n_row_tasks, n_tasks, n_groups, sparse, phase,
                       params, alpha, denom, solver, hyper, state, lr_t, wt,
                       block_sq):
    """Steps 2 and 3 of a batch, one run of tasks of about equal work per
    thread (``backprop._task_range``; see ``_train_kernel``)."""
    for g in prange(n_groups):
        t0, t1 = _task_range(layers, sparse, m, n_tasks, n_groups,
                             np.int64(g))
        for task in range(t0, t1):
            _weight_gradient_task_ext(
                X, idx, b0, target, layers, cap, m, xbuf, acts, deltas,
                task, n_row_tasks, phase, params, alpha, denom, solver,
                hyper, state, lr_t, wt, block_sq)


@jit_entry
def _train_kernel(X, Y, sw, idx, start, stop, batch_size, params, layers,
                  out, alpha, loss_param, optimizer, work, dropout, n_groups):
    """Train on (or take the gradient over) samples ``idx[start:stop]``.

    Parameters
    ----------
    X : TrainingData
        Dense X in its own element type and memory order (its batches'
        rows converted as they are gathered), or X's CSR arrays (int64
        indices), as ``fastbp._network.training_data`` gives them
        (``_state``).
    Y : TrainingData
        The targets, dense, (n_samples, n_outputs) in their own element
        type and order (converted to the params' dtype as each batch's rows
        are gathered), as ``fastbp._network.training_data`` gives them.
    sw : ndarray of shape (n_samples,) or (0,)
        Sample weights; empty for unweighted.
    idx : int64 ndarray of shape (>= stop,)
        Sample order; batches are ``idx[b0:b0 + batch_size]`` from
        ``b0 = start``.
    batch_size : int
        Samples per batch, at most the workspace capacity.
    params : ndarray of shape (n_params,)
        Updated in place by SGD and Adam.
    layers : int64 ndarray of shape (n_layers - 1, 7)
        The layer table for the workspace capacity (``fastbp._network``),
        with each layer's activation code.
    out : int
        Output activation code (it names the loss, ``_config``).
    alpha : float
        L2 strength, of the params' dtype.
    loss_param : float
        The loss's one parameter: the log-losses clip probabilities to
        [loss_param, 1 - loss_param] (the dtype's eps); Huber's delta; the
        quantile. The other losses do not read it.
    optimizer : OptimizerState
        ``(solver, hyper, state, step)`` (``_state``): SGD, ADAM, or
        FULL_BATCH (no step; the gradient is left in ``work.grad``), its
        hyper-parameters (``hyper[MAX_GRAD_NORM] > 0`` clips each batch's
        gradient to that L2 norm), and its state and step count, updated
        in place.
    work : Work
        The scratch buffers (``_state``), as
        ``fastbp._network.Workspace.buffers()`` gives them. All are
        overwritten. ``work.grad_tmp`` may be empty but for FULL_BATCH over
        more samples than ``batch_size``.
    dropout : Dropout
        The hidden units to drop out (``_state``; thresholds 0 for none).
    n_groups : int
        The number of threads: the weight-gradient tasks of a batch are
        shared out in that many runs of about equal work. Results do not
        depend on it.

    Returns
    -------
    loss : float
        SGD/Adam: sum over batches of batch_loss * batch_length
        (scikit-learn's ``accumulated_loss``). FULL_BATCH: the loss over all
        the samples, scikit-learn's
        factor * sum_s sw_s t_s / sw_sum + 0.5 * alpha * ||W||^2 / sw_sum,
        with ``grad = (A^T delta + alpha * W) / sw_sum``,
        ``db = sum_s delta_s / sw_sum``.
    """
    wt, xbuf, ybuf = work.wt, work.xbuf, work.ybuf
    acts, deltas = work.acts, work.deltas
    deriv = work.deriv
    grad, grad_tmp = work.grad, work.grad_tmp
    chunk_loss, block_sq = work.chunk_loss, work.block_sq
    solver, hyper = optimizer.solver, optimizer.hyper
    state, step = optimizer.state, optimizer.step
    drop_threshold, drop_key = dropout.threshold, dropout.key
    cap = xbuf.shape[0]
    n_params = params.shape[0]
    n_coefs = layers[0, INTERCEPT_OFFSET]
    n_layers = layers.shape[0]
    n_blocks = (n_params + REDUCE_BLOCK - 1) // REDUCE_BLOCK
    sparse = X.indptr.shape[0] > 0
    full_batch = solver == FULL_BATCH
    clip = not full_batch and hyper[MAX_GRAD_NORM] > 0
    if full_batch and stop - start > batch_size and grad_tmp.shape[0] < n_params:
        raise ValueError("a full-batch pass over several batches needs a "
                         "full_batch workspace")
    total = 0.0
    # The optimizer step keeps wt up to date after this.
    _transpose_weights(params, wt, layers)

    for b0 in range(start, stop, batch_size):
        m = minimum(batch_size, stop - b0)
        # Full batch: the first batch's gradient goes to grad, later ones
        # to grad_tmp and are added to it in batch order.
        target = grad_tmp if full_batch and b0 > start else grad
        work_size = m * n_coefs

        # Step 1: chunks of samples, forward and backward.
        n_chunks = _n_chunks(m)
        if n_chunks > 1 and work_size >= CHUNK_PARALLEL_MIN_WORK:
            _chunks_in_parallel(X, Y, sw, idx, b0, m, n_chunks, params, wt,
                                layers, out, loss_param, xbuf, ybuf, acts,
                                deltas, deriv, chunk_loss, drop_threshold,
                                drop_key)
        else:
            for c in range(n_chunks):
                chunk_loss[c] = _forward_backward_chunk_ext(
                    X, Y, sw, idx, b0, m, c, n_chunks, params, wt, layers,
                    out, loss_param, xbuf, ybuf, acts, deltas, deriv,
                    drop_threshold, drop_key)
        data_loss = 0.0
        for c in range(n_chunks):
            data_loss += chunk_loss[c]

        # The step's factors, for step 3 inside the tasks of step 2.
        sw_sum = _weight_sum(sw, idx, b0, b0 + m)
        denom = params.dtype.type(sw_sum)
        lr_t = params.dtype.type(0)  # of the params' dtype, as below
        if not full_batch:
            if solver == ADAM:
                step[0] += 1
            lr_t = _adam_step_size(hyper[LEARNING_RATE], hyper[BETA_1],
                                   hyper[BETA_2], maximum(step[0], 1), params)

        # Steps 2 and 3: rows of the weight gradients, then the bias
        # gradients, each task stepping the parameters it summed. Under
        # max_grad_norm, two passes over the tasks: the gradient and its
        # squared norm per task, then the step with the clipped divisor.
        n_row_tasks = _n_row_tasks(layers, sparse, m)
        n_tasks = n_row_tasks + n_layers
        if n_tasks > block_sq.shape[0]:
            raise ValueError("workspace too small for the batch's tasks")
        phase = TASK_NORM if clip else TASK_FUSED
        step_denom = denom
        for _ in range(2 if clip else 1):
            if work_size >= PARALLEL_MIN_WORK:
                _tasks_in_parallel(X, idx, b0, target, layers, cap, m, xbuf,
                                   acts, deltas, n_row_tasks, n_tasks,
                                   n_groups, sparse, phase, params, alpha,
                                   step_denom, solver, hyper, state, lr_t,
                                   wt, block_sq)
            else:
                for task in range(n_tasks):
                    _weight_gradient_task_ext(
                        X, idx, b0, target, layers, cap, m, xbuf, acts,
                        deltas, task, n_row_tasks, phase, params, alpha,
                        step_denom, solver, hyper, state, lr_t, wt, block_sq)
            if phase == TASK_NORM:
                step_denom = _clipped_denom(block_sq, n_tasks,
                                            hyper[MAX_GRAD_NORM], sw_sum,
                                            params)
                phase = TASK_STEP

        if full_batch:
            total += data_loss
            # Serial: a memory-bound add once per 4096-sample block (an
            # 8-epoch L-BFGS fit of (512, 256) on 30000 x 784 took as long),
            # and every parallel loop is seconds' more compiling.
            if b0 > start:
                for blk in range(n_blocks):
                    _add_block(grad, grad_tmp, blk)
            continue

        sq_total = 0.0
        for task in range(n_tasks):
            sq_total += block_sq[task]
        total += m * _total_loss(data_loss, sq_total, alpha, sw_sum, out,
                                 layers)

    if not full_batch:
        return total
    # grad = (grad + alpha * W) / sw_sum; one partial ||W||^2 per block.
    # Serial: once per L-BFGS evaluation, memory-bound.
    sw_sum = _weight_sum(sw, idx, start, stop)
    denom = params.dtype.type(sw_sum)
    for blk in range(n_blocks):
        p0 = blk * REDUCE_BLOCK
        block_sq[blk] = _normalise_block_ext(
            params, grad, alpha, denom, n_coefs, p0,
            minimum(p0 + REDUCE_BLOCK, n_params))
    sq_total = 0.0
    for blk in range(n_blocks):
        sq_total += block_sq[blk]
    return _total_loss(total, sq_total, alpha, sw_sum, out, layers)


# The kernel modules whose handles _train_kernel calls, directly or not.
_MODULES = ("activations", "losses", "dense", "dropout", "gather",
            "backprop", "optimizers")


def _train(X, Y, sw, idx, start, stop, batch_size, params, layers, out,
           alpha, loss_param, optimizer, work, dropout=None):
    """``_train_kernel``, after registering the kernels it calls for the
    params' dtype (see ``_extern``), on read-only views of the data, so
    that writable and read-only inputs share one compiled kernel. Arguments
    and result as there (``dropout`` None: none)."""
    if dropout is None:
        dropout = no_dropout(layers.shape[0])
    check_train_arguments(X, Y, sw, idx, start, stop, batch_size, params,
                          layers, optimizer, work)
    register(params.dtype, _MODULES)
    X, Y = _read_only_data(X), _read_only_data(Y)
    sw, idx = read_only(sw), read_only(idx)
    # The thread count is an argument: get_num_threads() in compiled code
    # reads a pointer that keeps Numba from caching the kernel.
    return _train_kernel(X, Y, sw, idx, start, stop, batch_size, params,
                         layers, out, alpha, loss_param, optimizer, work,
                         dropout, get_num_threads())


def _read_only_data(X):
    """A ``TrainingData`` of read-only views of ``X``'s arrays."""
    return X._replace(dense=read_only(X.dense), rows=read_only(X.rows),
                      data=read_only(X.data), indices=read_only(X.indices),
                      indptr=read_only(X.indptr))


def _run_epoch(X, Y, sw, idx, batch_size, params, layers, out, alpha,
               loss_param, optimizer, work, dropout=None):
    """One epoch of SGD or Adam over all of ``idx``; see ``_train``.

    Returns scikit-learn's ``accumulated_loss`` (divide by the number of
    samples for ``loss_``).
    """
    return _train(X, Y, sw, idx, 0, idx.shape[0], batch_size, params, layers,
                  out, alpha, loss_param, optimizer, work, dropout)


def _loss_grad(X, Y, sw, idx, start, stop, params, layers, out, alpha,
               loss_param, work):
    """Loss over samples ``idx[start:stop]``, for L-BFGS; see ``_train``.

    Their gradient is left in ``work.grad``. Samples are taken in batches
    of the workspace capacity, whose gradients are added in batch order.
    """
    dtype = params.dtype
    no_step = OptimizerState(FULL_BATCH, np.zeros(N_HYPER, dtype),
                             np.zeros((2, 0), dtype), np.zeros(1, np.int64))
    return _train(X, Y, sw, idx, start, stop, work.xbuf.shape[0], params,
                  layers, out, alpha, loss_param, no_step, work)
