"""Output activations, per-sample losses and the output-layer error.

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
def _output_activate_row(kind, z, n):
    """Apply output activation ``kind`` in place to ``z[:n]``.

    softmax: p_j = exp(z_j - max z) / sum_k exp(z_k - max z).
    """
    if kind == OUT_LOGISTIC:
        for j in range(n):
            z[j] = _logistic(z[j])
    elif kind == OUT_SOFTMAX:
        zmax = z[0]
        for j in range(1, n):
            if z[j] > zmax:
                zmax = z[j]
        total = z.dtype.type(0)
        for j in range(n):
            z[j] = math.exp(z[j] - zmax)
            total += z[j]
        for j in range(n):
            z[j] = z[j] / total
    elif kind == OUT_EXP:
        for j in range(n):
            z[j] = math.exp(z[j])
    # OUT_IDENTITY: nothing to do.


@jit
def _xlogy(x, y):
    """x * log(y), defined as 0 where x == 0 (scipy.special.xlogy)."""
    if x == 0:
        return 0.0
    return x * math.log(y)


@jit
def _sample_loss(kind, p, y, n, eps):
    """Loss term of one sample, summed over its ``n`` outputs (float64).

    squared error: sum_j (y_j - p_j)^2             (times 0.5/n by caller)
    softmax:       -sum_j y_j log(clip(p_j))
    logistic:      -sum_j y_j log(clip(p_j)) + (1-y_j) log(1-clip(p_j))
    poisson:       sum_j y_j log(y_j / p_j) - y_j + p_j

    ``clip`` limits probabilities to [eps, 1 - eps] as scikit-learn does.
    """
    t = 0.0
    if kind == OUT_IDENTITY:
        for j in range(n):
            r = float(y[j]) - float(p[j])
            t += r * r
    elif kind == OUT_SOFTMAX:
        for j in range(n):
            q = min(max(float(p[j]), eps), 1.0 - eps)
            t -= _xlogy(float(y[j]), q)
    elif kind == OUT_LOGISTIC:
        for j in range(n):
            q = min(max(float(p[j]), eps), 1.0 - eps)
            yj = float(y[j])
            t -= _xlogy(yj, q) + _xlogy(1.0 - yj, 1.0 - q)
    elif kind == OUT_EXP:
        for j in range(n):
            yj = float(y[j])
            pj = float(p[j])
            t += _xlogy(yj, yj / pj) - yj + pj
    return t


@jit
def _output_delta_row(p, y, weight, delta, n):
    """Output error ``delta[:n] = weight * (p - y)`` (dL/dz, canonical link).

    Parameters
    ----------
    p : ndarray of shape (>= n,)
        Output activations of one sample.
    y : ndarray of shape (>= n,)
        Targets of the sample (0/1 indicators for classifiers).
    weight : float
        The sample's weight (1 when unweighted), of the arrays' dtype.
    delta : ndarray of shape (>= n,)
        Overwritten with the output error.
    """
    for j in range(n):
        delta[j] = (p[j] - y[j]) * weight


@jit
def _loss_factor(kind, n_outputs):
    """Constant the weighted mean of the sample losses is multiplied by."""
    if kind == OUT_IDENTITY:
        return 0.5 / n_outputs
    return 1.0


# The handle compiled callers use (see _extern).
_output_activate_row_ext = extern(_output_activate_row, lambda f: [
    (types.int64, array(f, 1), types.int64)])
