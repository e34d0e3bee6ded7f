"""The one place where ``fastbp.dask`` touches the compiled engine.

Every call the distributed trainer makes into ``fastbp._kernels``,
``fastbp._network`` (``Workspace``, ``Layout``), ``fastbp._mlp``'s kernel
input helpers and the optimizer classes of ``fastbp._solvers`` is in this
module. Its functions take numpy arrays and plain scalars and return numpy
arrays and floats, so that a change of the kernels' signatures is absorbed
here and nowhere else in ``fastbp.dask``.

Two of them run inside Dask tasks, on the block of rows a worker holds:

* :func:`block_loss_grad` -- the block's share of the full-batch objective
  of L-BFGS: its loss sum and gradient sum, without the L2 term, which the
  client adds once to the total (:func:`finish_loss_grad`).
* :func:`block_local_steps` -- the mini-batch steps of one averaging round
  of SGD/Adam over given rows of the block, from the round's weights and
  optimizer state.

Both run under the worker's thread settings as a fit inside a worker does
(``fit_threads``: as many Numba threads as ``OMP_NUM_THREADS`` allows),
and keep one workspace per task thread between calls.

The blocks' results are added up on the workers, in small tasks forming a
fixed binary tree over the block order (:func:`weighted_sum`,
:func:`add_weighted_sums`, :func:`add_loss_grads`). The rest runs on the
client: the optimizer's state in and out of the flat arrays that travel
(:func:`pack_weights`, :func:`set_weights`) and the last steps on the one
total it receives (:func:`mean_weights`, :func:`outer_step`,
:func:`finish_loss_grad`).
"""

import threading
from typing import NamedTuple

import numpy as np
from scipy.sparse import issparse

from .._kernels import SOLVER_CODES, _loss_grad, _run_epoch
from .._kernels._config import POOLED_NOISE
from .._kernels._state import OptimizerState
from .._kernels._layer import compiled_section
from .._kernels._threads import fit_threads
from .._mlp import _LBFGS_BLOCK
from .._network import (Layout, Workspace, aligned_empty, training_data,
                        weights_or_empty)

_LOCAL = threading.local()

# Rows per forward pass when predicting a BlockRows' rows: a bounded copy.
_PREDICT_ROWS = 4096


class BlockRows(NamedTuple):
    """Some rows of a block (dense, or a CSR matrix), read where the block
    lies: sample r is row ``rows[r]`` of ``block``. The early-stopping
    split's parts of a block, so that the split copies no rows (the
    in-memory fit's row map, ``fastbp._network.training_data``)."""

    block: object
    rows: np.ndarray  # int64, within the block's rows

    def __len__(self):
        return len(self.rows)

    def dense(self):
        """The rows as a new array (a copy)."""
        return self.block[self.rows]


def _training_input(X, dtype):
    """X as the training kernels read it: a ``TrainingData``."""
    if isinstance(X, BlockRows):
        return training_data(X.block, dtype, rows=X.rows)
    return training_data(X, dtype)


def _is_sparse(X):
    """Whether a block (or a BlockRows' block) is a sparse matrix."""
    return issparse(X.block if isinstance(X, BlockRows) else X)


def _workspace(layer_units, hidden, capacity, dtype, full_batch=False,
               sparse=False):
    """This thread's workspace for batches of ``capacity`` samples
    (``full_batch``: for ``_loss_grad``; ``sparse``: no batch copy of X;
    see ``Workspace``).

    Kept between the tasks a thread runs (one per round and block); a
    worker thread runs one task at a time, so no two tasks share one.
    """
    key = (tuple(layer_units), tuple(hidden), int(capacity),
           np.dtype(dtype).str, full_batch, sparse)
    cached = getattr(_LOCAL, "workspace", None)
    if cached is None or cached[0] != key:
        cached = (key, Workspace(Layout(layer_units, hidden), capacity,
                                 dtype, sparse=sparse,
                                 full_batch=full_batch))
        _LOCAL.workspace = cached
    return cached[1]


def _aligned_copy(array):
    out = aligned_empty(array.shape, array.dtype)
    out[...] = array
    return out


def block_loss_grad(X, Y, sw, params, layer_units, hidden, out,
                    loss_param):
    """Loss sum and gradient sum of one block, for the full-batch objective.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_rows, n_features)
        The block's rows, of ``params``' dtype or of a type training reads
        in place (``fastbp._network.training_data``: rows are converted as
        they are gathered, the block is not copied; sparse: read as CSR).
    Y : ndarray of shape (n_rows, n_outputs)
        Encoded targets, read in their own type like X (or converted
        first, ``fastbp._network.training_data``).
    sw : ndarray of shape (n_rows,) or None
        Sample weights of the block; None for unweighted.
    params : ndarray of shape (n_params,)
        The flat parameter vector (not modified).
    layer_units : list of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    hidden : tuple of int
        Kernel code of each hidden layer's activation (for the layout's
        table).
    out : int
        Kernel code of the output activation (it names the loss).
    loss_param : float
        The loss's parameter (``_kernels.epoch._train_kernel``'s
        ``loss_param``).

    Returns
    -------
    loss_sum : float
        ``factor * sum_s sw_s * loss_s`` over the block's rows (the data
        term of the loss times the block's weight sum).
    grad_sum : float64 ndarray of shape (n_params,)
        ``sum_s sw_s * dloss_s/dparams``, without the L2 term.
    weight_sum : float
        The block's weight sum (its row count when unweighted).

    Notes
    -----
    Calls ``_loss_grad(X_kernel, Y, sw, arange(n_rows), 0, n_rows, params,
    workspace.table, out, 0, loss_param, workspace.buffers())`` with
    ``alpha = 0``: it returns the block's mean loss and leaves its mean
    gradient in ``workspace.grad``; both are multiplied back by the block's
    weight sum.
    """
    dtype = params.dtype
    n_rows = Y.shape[0]
    workspace = _workspace(layer_units, hidden, min(_LBFGS_BLOCK, n_rows),
                           dtype, full_batch=True, sparse=_is_sparse(X))
    idx = np.arange(n_rows, dtype=np.int64)
    weights = weights_or_empty(sw, dtype)
    with compiled_section(), fit_threads():
        loss = _loss_grad(
            _training_input(X, dtype),
            training_data(Y, dtype), weights, idx, 0, n_rows,
            _aligned_copy(params), workspace.table,
            out, dtype.type(0), loss_param, workspace.buffers())
    weight_sum = float(n_rows) if sw is None else float(
        np.sum(weights, dtype=np.float64))
    return (loss * weight_sum, workspace.grad.astype(np.float64) * weight_sum,
            weight_sum)


def block_local_steps(X, Y, sw, rows, batch_size, weights, step, layer_units,
                      hidden, out, loss_param, alpha, solver, hyper,
                      dropout=None, mean_gradient=None, pooled_noise=0.0):
    """SGD or Adam steps over ``rows`` of one block, from given weights.

    Parameters
    ----------
    X, Y, sw, layer_units, hidden, out, loss_param :
        As in :func:`block_loss_grad`.
    rows : int64 ndarray of shape (n_steps_rows,)
        Row numbers within the block, in the order they are used; cut into
        mini-batches of ``batch_size`` (the last one may be shorter).
    batch_size : int
    weights : ndarray of shape (1 + n_state, n_params)
        The parameters in row 0, the optimizer state in the next rows, as
        :func:`pack_weights` gives them. Not modified.
    step : int
        Adam's time step before these steps (number of updates so far).
    alpha : float
        L2 strength.
    solver : int
        The optimizer's kernel code.
    hyper : ndarray of shape (N_HYPER,)
        The optimizer's hyper-parameters, as the optimizer object gives them.
    dropout : Dropout or None
        The hidden units to drop out, keyed on this block's rows.
    mean_gradient : ndarray of shape (n_params,) or None
        Adam only: the estimate r of the mini-batch gradient's mean that a
        pooled second moment takes (``pooled_noise > 1``).
    pooled_noise : float
        Adam only: k > 1 when this block's mini-batches hold 1/k of the
        rows the second moment should describe; its update is then
        ``v = beta_2 v + (1 - beta_2) (g^2 / k + (1 - 1/k) r^2)``
        (``_kernels.optimizers._adam_block_pooled``). 0 or 1: plain Adam.

    Returns
    -------
    weights : ndarray of shape (1 + n_state, n_params)
        Parameters and state after the steps, same layout.
    step : int
        Adam's time step after them.
    loss_sum : float
        ``sum over batches of batch_loss * batch_length``, the quantity the
        epoch loop adds up for ``loss_``.

    Notes
    -----
    Calls ``_run_epoch(X_kernel, Y, sw, rows, batch_size, params,
    workspace.table, out, alpha, loss_param, OptimizerState(solver,
    hyper, state, step), workspace.buffers())``, as the in-memory fit does
    for one epoch.
    """
    dtype = weights.dtype
    n_params = weights.shape[1]
    params = _aligned_copy(weights[0])
    pooled = pooled_noise > 1
    if pooled and (mean_gradient is None
                   or np.shape(mean_gradient) != (n_params,)):
        raise ValueError("a pooled second moment needs the mean gradient "
                         f"of the {n_params} parameters")
    state = aligned_empty((3 if pooled else 2, n_params), dtype)
    state[...] = 0
    state[:weights.shape[0] - 1] = weights[1:]
    hyper = np.array(hyper, dtype=dtype)
    if pooled:
        state[2] = mean_gradient
        hyper[POOLED_NOISE] = pooled_noise
    steps = np.array([step], dtype=np.int64)
    optimizer = OptimizerState(int(solver), hyper, state, steps)
    workspace = _workspace(layer_units, hidden, batch_size, dtype,
                           sparse=_is_sparse(X))
    with compiled_section(), fit_threads():
        loss_sum = _run_epoch(
            _training_input(X, dtype),
            training_data(Y, dtype), weights_or_empty(sw, dtype),
            np.ascontiguousarray(rows, dtype=np.int64), int(batch_size),
            params, workspace.table, out, dtype.type(alpha),
            loss_param, optimizer, workspace.buffers(), dropout)
    result = np.empty_like(weights)
    result[0] = params
    result[1:] = state[:weights.shape[0] - 1]
    return result, int(steps[0]), float(loss_sum)


def block_predict(model, X):
    """Output activations of a fitted fastbp ``model`` for the rows X
    (dense: converted to the model's dtype first; scipy.sparse: as the
    in-memory predict takes it), through its compiled forward pass."""
    if isinstance(X, BlockRows):  # in slices of rows, never all at once
        return np.concatenate([
            block_predict(model, X.block[X.rows[i:i + _PREDICT_ROWS]])
            for i in range(0, max(len(X), 1), _PREDICT_ROWS)])
    if not issparse(X):
        X = np.ascontiguousarray(X, dtype=model._fitted_dtype)
    return model._forward_pass_fast(X, check_input=False)


def optimizer_settings(optimizer):
    """``(solver_code, hyper)`` of the optimizer, as the kernels take them."""
    return optimizer.code, np.array(optimizer.hyper)


def _state_rows(optimizer):
    # SGD keeps its velocities in row 0; Adam its two moments in rows 0, 1.
    return 2 if optimizer.code == SOLVER_CODES["adam"] else 1


def pack_weights(params, optimizer):
    """Parameters and the optimizer state the solver uses, as one array.

    Returns
    -------
    weights : ndarray of shape (1 + n_state, n_params)
        ``params`` in row 0; SGD's velocities, or Adam's first and second
        moments, in the following rows.
    step : int
        Adam's time step.
    """
    n_state = _state_rows(optimizer)
    weights = np.empty((1 + n_state, params.shape[0]), dtype=params.dtype)
    weights[0] = params
    weights[1:] = optimizer.state[:n_state]
    return weights, int(optimizer.step[0])


def set_weights(params, optimizer, weights, step):
    """Copy :func:`pack_weights`' layout back into ``params`` and the
    optimizer, in place."""
    params[...] = weights[0]
    optimizer.state[:weights.shape[0] - 1] = weights[1:]
    optimizer.step[0] = step


def weighted_sum(weights, n_rows, step, loss_sum):
    """One block's round result as a partial sum of the tree reduction.

    Returns
    -------
    partial : tuple
        ``(n_rows * weights`` in float64, ``n_rows``, ``step``,
        ``loss_sum)``, which :func:`add_weighted_sums` adds up.
    """
    return (float(n_rows) * weights.astype(np.float64), float(n_rows),
            int(step), float(loss_sum))


def add_weighted_sums(left, right, in_place=False):
    """Two partial sums of :func:`weighted_sum`'s form added up (the step
    is the larger of the two); ``in_place``: ``right``'s array added into
    ``left``'s, which the caller owns (the same values, no new array).

    In float64 and in the order given: the trainer adds the blocks in a
    fixed binary tree over the block order, so the total depends on the
    blocks alone, never on where or when they were computed.
    """
    total = np.add(left[0], right[0], out=left[0] if in_place else None)
    return (total, left[1] + right[1], max(left[2], right[2]),
            left[3] + right[3])


def add_loss_grads(left, right):
    """Two of :func:`block_loss_grad`'s results (or sums of them) added."""
    return left[0] + right[0], left[1] + right[1], left[2] + right[2]


def mean_weights(total, dtype):
    """The row-weighted mean of the blocks' weights from their summed
    :func:`weighted_sum` ``total``: float64 of shape (1 + n_state,
    n_params), and the same rounded to ``dtype``."""
    mean = total[0] / total[1]
    return mean, mean.astype(dtype)


def outer_step(params, mean_params, velocity, learning_rate, momentum):
    """The outer optimizer's step on the averaged change of a round.

    delta = mean_params - params            (the blocks' averaged change)
    velocity = momentum * velocity + delta
    params += learning_rate * (delta + momentum * velocity)   (Nesterov)

    With ``learning_rate=1, momentum=0`` it is plain averaging. All in
    float64; ``velocity`` (float64, shape (n_params,)) is updated in place.

    Returns
    -------
    params : ndarray of ``params``' dtype and shape
        The new parameters.
    """
    delta = mean_params - params.astype(np.float64)
    velocity *= momentum
    velocity += delta
    new = params.astype(np.float64) + learning_rate * (delta
                                                       + momentum * velocity)
    return new.astype(params.dtype)


def finish_loss_grad(loss_sum, grad_sum, weight_sum, params, layer_units,
                     alpha):
    """Full-batch loss and gradient from the blocks' summed data terms.

    loss = (loss_sum + 0.5 * alpha * ||W||^2) / weight_sum
    grad = (grad_sum + alpha * W) / weight_sum      (coefficients only)

    Parameters
    ----------
    loss_sum, weight_sum : float
        Sums over all blocks of :func:`block_loss_grad`'s results.
    grad_sum : float64 ndarray of shape (n_params,)
    params : ndarray of shape (n_params,)
    layer_units : list of int
    alpha : float

    Returns
    -------
    loss : float
    grad : float64 ndarray of shape (n_params,)
    """
    layer_units = list(layer_units)
    n_coefs = sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
    coefs = params[:n_coefs].astype(np.float64)
    grad = grad_sum.copy()
    grad[:n_coefs] += alpha * coefs
    grad /= weight_sum
    loss = (loss_sum + 0.5 * alpha * float(coefs @ coefs)) / weight_sum
    return loss, grad
