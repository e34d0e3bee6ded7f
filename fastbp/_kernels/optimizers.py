"""Optimizer updates over the flat parameter vector (step 3: adjust weights).

The formulas are scikit-learn's (``sklearn/neural_network/
_stochastic_optimizers.py``), applied entry by entry in one parallel loop.

The loops are compiled without fastmath (see ``_config.jit_parallel_exact``)
and run over fixed blocks of REDUCE_BLOCK entries, so that no entry's
rounding depends on how the vector is split between threads.
"""

import math

import numpy as np
from numba import prange

from ._config import REDUCE_BLOCK, jit_parallel_exact


@jit_parallel_exact
def _sgd_step(params, grad, velocity, learning_rate, momentum, nesterov):
    """One SGD step with (Nesterov) momentum, in place.

    v = momentum * v - lr * g
    params += momentum * v - lr * g   if nesterov else   params += v

    Parameters
    ----------
    params, grad, velocity : ndarray of shape (n_params,)
        ``params`` and ``velocity`` are modified in place.
    learning_rate, momentum : float
        Scalars of the arrays' dtype.
    nesterov : bool
    """
    n = params.shape[0]
    for blk in prange((n + REDUCE_BLOCK - 1) // REDUCE_BLOCK):
        for p in range(blk * REDUCE_BLOCK, min((blk + 1) * REDUCE_BLOCK, n)):
            v = momentum * velocity[p] - learning_rate * grad[p]
            velocity[p] = v
            if nesterov:
                params[p] += momentum * v - learning_rate * grad[p]
            else:
                params[p] += v


@jit_parallel_exact
def _adam_step(params, grad, m, v, learning_rate_init, beta_1, beta_2,
               epsilon, t):
    """One Adam step at time step ``t`` (1 for the first update), in place.

    m = beta_1 m + (1 - beta_1) g
    v = beta_2 v + (1 - beta_2) g^2
    lr_t = lr_init * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    params += -lr_t * m / (sqrt(v) + epsilon)

    Parameters
    ----------
    params, grad, m, v : ndarray of shape (n_params,)
        ``params``, ``m`` and ``v`` are modified in place.
    learning_rate_init, beta_1, beta_2, epsilon : float
        Scalars of the arrays' dtype.
    t : int
    """
    one = params.dtype.type(1)
    # The bias correction is computed in float64 then cast, as scikit-learn's
    # Python-scalar arithmetic does.
    lr_t = params.dtype.type(
        float(learning_rate_init) * math.sqrt(1.0 - float(beta_2) ** t)
        / (1.0 - float(beta_1) ** t))
    n = params.shape[0]
    for blk in prange((n + REDUCE_BLOCK - 1) // REDUCE_BLOCK):
        for p in range(blk * REDUCE_BLOCK, min((blk + 1) * REDUCE_BLOCK, n)):
            g = grad[p]
            mp = beta_1 * m[p] + (one - beta_1) * g
            vp = beta_2 * v[p] + (one - beta_2) * (g * g)
            m[p] = mp
            v[p] = vp
            params[p] += -lr_t * mp / (np.sqrt(vp) + epsilon)
