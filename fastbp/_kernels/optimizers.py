"""Optimizer updates over the flat parameter vector (step 3: adjust weights).

The formulas are scikit-learn's (``sklearn/neural_network/
_stochastic_optimizers.py``). One parallel pass per batch does everything
that touches each parameter once: sum the chunks' gradient buffers in chunk
order, add the L2 term, divide by the batch's weight sum, accumulate
||W||^2 for the loss, and apply the update.

The pass runs over fixed blocks of REDUCE_BLOCK entries. Within a block the
loops always cover the same range, so their vectorised and scalar parts
(which may round differently) never depend on how blocks are shared among
threads: results are independent of the thread count.
"""

import math

import numpy as np
from numba import prange

from ._config import ADAM, REDUCE_BLOCK, SGD, jit, jit_parallel


@jit
def _reduce_block(grad_chunks, n_chunks, params, grad, alpha, denom, n_coefs,
                  p0, p1):
    """grad[p] = (sum_c grad_chunks[c, p] + alpha * W[p]) / denom, p0<=p<p1.

    The L2 term applies to coefficients only (p < n_coefs).

    Returns
    -------
    sq : float
        sum of params[p]^2 over the block's coefficients.
    """
    for p in range(p0, p1):
        grad[p] = grad_chunks[0, p]
    for c in range(1, n_chunks):
        row = grad_chunks[c]
        for p in range(p0, p1):
            grad[p] += row[p]
    sq = 0.0
    for p in range(p0, min(p1, n_coefs)):
        w = params[p]
        grad[p] += alpha * w
        sq += float(w) * float(w)
    for p in range(p0, p1):
        grad[p] = grad[p] / denom
    return sq


@jit
def _sgd_block(params, grad, velocity, learning_rate, momentum, nesterov,
               p0, p1):
    """SGD with (Nesterov) momentum on entries p0 <= p < p1, in place.

    v = momentum * v - lr * g
    params += momentum * v - lr * g   if nesterov else   params += v
    """
    for p in range(p0, p1):
        v = momentum * velocity[p] - learning_rate * grad[p]
        velocity[p] = v
        if nesterov:
            params[p] += momentum * v - learning_rate * grad[p]
        else:
            params[p] += v


@jit
def _adam_block(params, grad, m, v, lr_t, beta_1, beta_2, epsilon, p0, p1):
    """Adam on entries p0 <= p < p1 with bias-corrected step lr_t, in place.

    m = beta_1 m + (1 - beta_1) g
    v = beta_2 v + (1 - beta_2) g^2
    params += -lr_t * m / (sqrt(v) + epsilon)
    """
    one = params.dtype.type(1)
    for p in range(p0, p1):
        g = grad[p]
        mp = beta_1 * m[p] + (one - beta_1) * g
        vp = beta_2 * v[p] + (one - beta_2) * (g * g)
        m[p] = mp
        v[p] = vp
        params[p] += -lr_t * mp / (np.sqrt(vp) + epsilon)


@jit
def _adam_step_size(learning_rate_init, beta_1, beta_2, t, dtype_of):
    """lr_t = lr_init * sqrt(1 - beta_2^t) / (1 - beta_1^t), in float64 then
    cast to the dtype of ``dtype_of``, as scikit-learn's Python scalars do."""
    return dtype_of.dtype.type(
        float(learning_rate_init) * math.sqrt(1.0 - float(beta_2) ** t)
        / (1.0 - float(beta_1) ** t))


@jit_parallel
def _reduce_and_step(params, grad, grad_chunks, n_chunks, alpha, denom,
                     n_coefs, solver, hyper, state, t, block_sq):
    """Reduce the chunk gradients and apply one optimizer step, in place.

    Parameters
    ----------
    params : ndarray of shape (n_params,)
        Updated in place.
    grad : ndarray of shape (n_params,)
        Overwritten with the batch gradient (scikit-learn's definition).
    grad_chunks : ndarray of shape (>= n_chunks, n_params)
        Per-chunk unnormalised gradients, summed in chunk order.
    alpha, denom : float
        L2 strength and the batch's weight sum, of the params' dtype.
    n_coefs : int
        Number of coefficient entries (the rest are intercepts).
    solver : int
        SGD or ADAM.
    hyper : ndarray of shape (4,)
        SGD: (learning_rate, momentum, nesterov, unused);
        Adam: (learning_rate_init, beta_1, beta_2, epsilon).
    state : ndarray of shape (2, n_params)
        SGD velocities in row 0, or Adam's moments; updated.
    t : int
        Adam's time step of this update (1 for the first).
    block_sq : ndarray of shape (n_blocks,), float64
        Receives each block's sum of squared coefficients (before update).
    """
    n_params = params.shape[0]
    n_blocks = (n_params + REDUCE_BLOCK - 1) // REDUCE_BLOCK
    lr_t = _adam_step_size(hyper[0], hyper[1], hyper[2], max(t, 1), params)
    for blk in prange(n_blocks):
        p0 = blk * REDUCE_BLOCK
        p1 = min(p0 + REDUCE_BLOCK, n_params)
        block_sq[blk] = _reduce_block(grad_chunks, n_chunks, params, grad,
                                      alpha, denom, n_coefs, p0, p1)
        if solver == SGD:
            _sgd_block(params, grad, state[0], hyper[0], hyper[1],
                       hyper[2] != 0, p0, p1)
        elif solver == ADAM:
            _adam_block(params, grad, state[0], state[1], lr_t, hyper[1],
                        hyper[2], hyper[3], p0, p1)
