"""Output activations, per-sample losses and the output-layer error.

Samples are rows of 2-D arrays, indexed in 2-D rather than through row views
(see ``activations``).

Step 1 of backpropagation: measure the error. For every output activation
scikit-learn pairs a loss whose gradient with respect to the pre-activation
``z`` is simply ``p - y`` (canonical link), so the output error is

    delta = sample_weight * (p - y)

The per-sample loss terms ``t`` returned here are combined by the caller as

    loss = factor * sum_s(sw_s * t_s) / sum_s(sw_s)

with ``factor = 0.5 / n_outputs`` for the squared error and 1 otherwise
(scikit-learn's ``0.5 * mean`` convention and its log-loss/deviance sums).
"""

import math

from numba import types

from ._config import OUT_EXP, OUT_IDENTITY, OUT_LOGISTIC, OUT_SOFTMAX, jit
from ._extern import array, extern
from .activations import _logistic


@jit
def _output_activate_rows(kind, Z, s0, s1):
    """Apply output activation ``kind`` in place to rows s0..s1 of ``Z``.

    softmax: p_j = exp(z_j - max z) / sum_k exp(z_k - max z).
    """
    n = Z.shape[1]
    if kind == OUT_LOGISTIC:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _logistic(Z[s, j])
    elif kind == OUT_SOFTMAX:
        for s in range(s0, s1):
            zmax = Z[s, 0]
            for j in range(1, n):
                if Z[s, j] > zmax:
                    zmax = Z[s, j]
            total = Z.dtype.type(0)
            for j in range(n):
                Z[s, j] = math.exp(Z[s, j] - zmax)
                total += Z[s, j]
            for j in range(n):
                Z[s, j] = Z[s, j] / total
    elif kind == OUT_EXP:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = math.exp(Z[s, j])
    # OUT_IDENTITY: nothing to do.


@jit
def _xlogy(x, y):
    """x * log(y), defined as 0 where x == 0 (scipy.special.xlogy)."""
    if x == 0:
        return 0.0
    return x * math.log(y)


@jit
def _sample_loss(kind, P, s, Y, i, eps):
    """Loss term of sample ``s`` (outputs ``P[s]``, targets ``Y[i]``), summed
    over its outputs (float64).

    squared error: sum_j (y_j - p_j)^2             (times 0.5/n by caller)
    softmax:       -sum_j y_j log(clip(p_j))
    logistic:      -sum_j y_j log(clip(p_j)) + (1-y_j) log(1-clip(p_j))
    poisson:       sum_j y_j log(y_j / p_j) - y_j + p_j

    ``clip`` limits probabilities to [eps, 1 - eps] as scikit-learn does.
    """
    n = P.shape[1]
    t = 0.0
    if kind == OUT_IDENTITY:
        for j in range(n):
            r = float(Y[i, j]) - float(P[s, j])
            t += r * r
    elif kind == OUT_SOFTMAX:
        for j in range(n):
            q = min(max(float(P[s, j]), eps), 1.0 - eps)
            t -= _xlogy(float(Y[i, j]), q)
    elif kind == OUT_LOGISTIC:
        for j in range(n):
            q = min(max(float(P[s, j]), eps), 1.0 - eps)
            yj = float(Y[i, j])
            t -= _xlogy(yj, q) + _xlogy(1.0 - yj, 1.0 - q)
    elif kind == OUT_EXP:
        for j in range(n):
            yj = float(Y[i, j])
            pj = float(P[s, j])
            t += _xlogy(yj, yj / pj) - yj + pj
    return t


@jit
def _output_delta(P, s, Y, i, weight, D):
    """Output error ``D[s] = weight * (P[s] - Y[i])`` (dL/dz, canonical
    link).

    Parameters
    ----------
    P : ndarray of shape (>= s + 1, n)
        Output activations; row s is the sample's.
    Y : ndarray of shape (>= i + 1, n)
        Targets (0/1 indicators for classifiers); row i is the sample's.
    weight : float
        The sample's weight (1 when unweighted), of the arrays' dtype.
    D : ndarray of shape (>= s + 1, n)
        Row s is overwritten with the output error.
    """
    for j in range(P.shape[1]):
        D[s, j] = (P[s, j] - Y[i, j]) * weight


@jit
def _loss_factor(kind, n_outputs):
    """Constant the weighted mean of the sample losses is multiplied by."""
    if kind == OUT_IDENTITY:
        return 0.5 / n_outputs
    return 1.0


# The handle compiled callers use (see _extern).
_output_activate_rows_ext = extern(_output_activate_rows, lambda f: [
    (types.int64, array(f, 2), types.int64, types.int64)])
