"""Hidden-layer activations and their derivatives, one row at a time.

Each function branches once on the activation code and then runs a plain
loop, so the branch stays outside the inner loop. The derivative is written
in terms of the activation's *output* ``a = f(z)``, as scikit-learn does:

    identity  f(z) = z              f'(z) = 1
    logistic  f(z) = 1/(1+exp(-z))  f'(z) = a (1 - a)
    tanh      f(z) = tanh(z)        f'(z) = 1 - a^2
    relu      f(z) = max(z, 0)      f'(z) = 1 if a > 0 else 0
"""

import math

from numba import types

from ._config import IDENTITY, LOGISTIC, RELU, TANH, jit
from ._extern import array, extern


@jit
def _logistic(z):
    # Split at 0 so exp never overflows: 1/(1+e^-z) == e^z/(1+e^z).
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@jit
def _activate_row(kind, z, n):
    """Apply hidden activation ``kind`` in place to ``z[:n]``.

    Parameters
    ----------
    kind : int
        One of IDENTITY, LOGISTIC, TANH, RELU.
    z : ndarray of shape (>= n,), float32 or float64
        Pre-activations; overwritten with activations.
    n : int
        Number of entries to transform.
    """
    if kind == LOGISTIC:
        for j in range(n):
            z[j] = _logistic(z[j])
    elif kind == TANH:
        for j in range(n):
            z[j] = math.tanh(z[j])
    elif kind == RELU:
        zero = z.dtype.type(0)
        for j in range(n):
            # max(z, 0), keeping NaN as NaN so divergence stays visible.
            if z[j] < zero:
                z[j] = zero
    # IDENTITY: nothing to do.


@jit
def _apply_derivative_row(kind, a, delta, n):
    """Multiply ``delta[:n]`` in place by f'(z), given ``a = f(z)``.

    Parameters
    ----------
    kind : int
        One of IDENTITY, LOGISTIC, TANH, RELU.
    a : ndarray of shape (>= n,)
        Activations of the layer (outputs of ``f``).
    delta : ndarray of shape (>= n,)
        Back-propagated error dL/da on entry, dL/dz on exit.
    n : int
        Number of entries.
    """
    if kind == LOGISTIC:
        one = a.dtype.type(1)
        for j in range(n):
            # delta *= a (1 - a)
            delta[j] = delta[j] * a[j] * (one - a[j])
    elif kind == TANH:
        one = a.dtype.type(1)
        for j in range(n):
            # delta *= 1 - a^2
            delta[j] = delta[j] * (one - a[j] * a[j])
    elif kind == RELU:
        zero = a.dtype.type(0)
        for j in range(n):
            # delta[a == 0] = 0
            if a[j] == zero:
                delta[j] = zero
    # IDENTITY: derivative is 1.


# Handles compiled callers use (see _extern): kind, row(s), length.
_activate_row_ext = extern(_activate_row, lambda f: [
    (types.int64, array(f, 1), types.int64)])
_apply_derivative_row_ext = extern(_apply_derivative_row, lambda f: [
    (types.int64, array(f, 1), array(f, 1), types.int64)])
