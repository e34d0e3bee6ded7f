"""Hidden-layer activations and their derivatives, over a range of rows.

Each function branches once on the activation code and then runs a plain
loop, so the branch stays outside the inner loop. The derivative is written
in terms of the activation's *output* ``a = f(z)``, as scikit-learn does:

    identity  f(z) = z              f'(z) = 1
    logistic  f(z) = 1/(1+exp(-z))  f'(z) = a (1 - a)
    tanh      f(z) = tanh(z)        f'(z) = 1 - a^2
    relu      f(z) = max(z, 0)      f'(z) = 1 if a > 0 else 0

Entries are indexed in 2-D, never through row views: each view of an array
costs an atomic reference-count increment and decrement, and with a view
per sample and layer those took about a fifth of the tiny network's epoch.
"""

import math

from numba import types

from ._config import LOGISTIC, RELU, TANH, jit
from ._extern import array, extern, readonly


@jit
def _logistic(z):
    # Split at 0 so exp never overflows: 1/(1+e^-z) == e^z/(1+e^z).
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@jit
def _relu(v, zero):
    """max(v, 0), keeping NaN as NaN so that divergence stays visible.
    Written as a select: a branch on the sign mispredicts half the time."""
    return zero if v < zero else v


@jit
def _activate_rows(kind, Z, s0, s1):
    """Apply hidden activation ``kind`` in place to rows s0..s1 of ``Z``.

    Parameters
    ----------
    kind : int
        One of IDENTITY, LOGISTIC, TANH, RELU.
    Z : ndarray of shape (>= s1, n), float32 or float64
        Pre-activations; rows s0..s1 are overwritten with activations.
    s0, s1 : int
        The rows.
    """
    n = Z.shape[1]
    if kind == LOGISTIC:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _logistic(Z[s, j])
    elif kind == TANH:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = math.tanh(Z[s, j])
    elif kind == RELU:
        zero = Z.dtype.type(0)
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _relu(Z[s, j], zero)
    # IDENTITY: nothing to do.


@jit
def _apply_derivative_rows(kind, A, D, s0, s1):
    """Multiply rows s0..s1 of ``D`` in place by f'(z), given ``A = f(z)``.

    Parameters
    ----------
    kind : int
        One of IDENTITY, LOGISTIC, TANH, RELU.
    A : ndarray of shape (>= s1, n)
        Activations of the layer (outputs of ``f``).
    D : ndarray of shape (>= s1, n)
        Back-propagated error dL/da on entry, dL/dz on exit.
    s0, s1 : int
        The rows.
    """
    n = A.shape[1]
    if kind == LOGISTIC:
        one = A.dtype.type(1)
        for s in range(s0, s1):
            for j in range(n):
                # delta *= a (1 - a)
                D[s, j] = D[s, j] * A[s, j] * (one - A[s, j])
    elif kind == TANH:
        one = A.dtype.type(1)
        for s in range(s0, s1):
            for j in range(n):
                # delta *= 1 - a^2
                D[s, j] = D[s, j] * (one - A[s, j] * A[s, j])
    elif kind == RELU:
        zero = A.dtype.type(0)
        for s in range(s0, s1):
            for j in range(n):
                # delta[a == 0] = 0
                if A[s, j] == zero:
                    D[s, j] = zero
    # IDENTITY: derivative is 1.


# Handles compiled callers use (see _extern): kind, array(s), rows.
_activate_rows_ext = extern(_activate_rows, lambda f: [
    (types.int64, array(f, 2), types.int64, types.int64)])
_apply_derivative_rows_ext = extern(_apply_derivative_rows, lambda f: [
    (types.int64, readonly(f, 2), array(f, 2), types.int64, types.int64)])
