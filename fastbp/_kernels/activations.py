"""Hidden-layer activations and their derivatives, over a range of rows.

Each function branches once on the activation code and then runs a plain
loop, so the branch stays outside the inner loop. The derivative is written
in terms of the activation's *output* ``a = f(z)``, as scikit-learn does:

    identity  f(z) = z              f'(z) = 1
    logistic  f(z) = 1/(1+exp(-z))  f'(z) = a (1 - a)
    tanh      f(z) = tanh(z)        f'(z) = 1 - a^2
    relu      f(z) = max(z, 0)      f'(z) = 1 if a > 0 else 0
    leaky_relu f(z) = z if z > 0 else 0.01 z     f'(z) = 1 if a > 0 else 0.01
    elu       f(z) = z if z > 0 else e^z - 1    f'(z) = 1 if a > 0 else a + 1
    softplus  f(z) = log(1 + e^z)   f'(z) = sigmoid(z) = 1 - e^-a

and, for the two whose derivative is no function of ``a`` alone, in terms of
the pre-activation ``z``, which training keeps for them (``P`` below; the
workspace has room for it only in networks that use them, so relu networks
read and write no more memory than before):

    gelu      f(z) = z Phi(z)       f'(z) = Phi(z) + z phi(z)
    silu      f(z) = z sigmoid(z)   f'(z) = s (1 + z (1 - s)),  s = sigmoid(z)

Phi and phi are the standard normal's distribution function and density
(gelu is the exact form, with erf, as PyTorch's and Keras' default), and
leaky_relu's slope 0.01 is PyTorch's and ONNX's default. softplus is
computed as max(z, 0) + log1p(e^-|z|), which never overflows.

Entries are indexed in 2-D, never through row views: each view of an array
costs an atomic reference-count increment and decrement, and with a view
per sample and layer those took about a fifth of the tiny network's epoch.
"""

import math

from numba import types

from ._config import (ELU, GELU, LEAKY_RELU, LOGISTIC, RELU, SOFTPLUS, TANH,
                      jit)
from ._extern import array, extern, readonly

# leaky_relu's slope for z < 0 (PyTorch's and ONNX's default).
LEAKY_SLOPE = 0.01
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


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
def _activate(kind, z):
    """f(z) for the activations from LEAKY_RELU on (see the table above)."""
    if kind == LEAKY_RELU:
        return z if z > 0 else type(z)(LEAKY_SLOPE) * z
    if kind == ELU:
        return z if z > 0 else math.expm1(z)
    if kind == SOFTPLUS:
        # relu(z) + log(1 + e^-|z|), as selects (builtin max compiles apart)
        return (z if z > 0 else type(z)(0)) + math.log1p(
            math.exp(z if z < 0 else -z))
    if kind == GELU:
        # z Phi(z) = z erfc(-z / sqrt 2) / 2: erfc keeps accuracy for z << 0
        return type(z)(0.5) * z * math.erfc(-z * type(z)(_INV_SQRT2))
    # SILU
    return z * _logistic(z)


@jit
def _derivative(kind, a, z):
    """f'(z) for the activations from LEAKY_RELU on, from a = f(z) and z
    (z is read by GELU and SILU only)."""
    one = type(a)(1)
    if kind == LEAKY_RELU:
        return one if a > 0 else type(a)(LEAKY_SLOPE)
    if kind == ELU:
        return one if a > 0 else a + one
    if kind == SOFTPLUS:
        return -math.expm1(-a)
    if kind == GELU:
        return (type(z)(0.5) * math.erfc(-z * type(z)(_INV_SQRT2))
                + z * type(z)(_INV_SQRT_2PI) * math.exp(type(z)(-0.5) * z * z))
    # SILU
    s = _logistic(z)
    return s * (one + z * (one - s))


@jit
def needs_pre(kind):
    """Whether the derivative of activation ``kind`` reads z (GELU, SILU)."""
    return kind >= GELU


@jit
def _activate_rows(kind, Z, s0, s1):
    """Apply hidden activation ``kind`` in place to rows s0..s1 of ``Z``.

    Parameters
    ----------
    kind : int
        A hidden activation code.
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
    elif kind >= LEAKY_RELU:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _activate(kind, Z[s, j])
    # IDENTITY: nothing to do.


@jit
def _apply_derivative_rows(kind, A, P, D, s0, s1):
    """Multiply rows s0..s1 of ``D`` in place by f'(z), given ``A = f(z)``
    (and ``P = z`` for GELU and SILU).

    Parameters
    ----------
    kind : int
        A hidden activation code.
    A : ndarray of shape (>= s1, n)
        Activations of the layer (outputs of ``f``).
    P : ndarray of shape (>= s1, n)
        Pre-activations z of the layer; read only where ``needs_pre(kind)``
        (other callers may pass ``A``).
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
    elif kind >= LEAKY_RELU:
        for s in range(s0, s1):
            for j in range(n):
                D[s, j] = D[s, j] * _derivative(kind, A[s, j], P[s, j])
    # IDENTITY: derivative is 1.


# Handles compiled callers use (see _extern): kind, array(s), rows.
_activate_rows_ext = extern(_activate_rows, lambda f: [
    (types.int64, array(f, 2), types.int64, types.int64)])
_apply_derivative_rows_ext = extern(_apply_derivative_rows, lambda f: [
    (types.int64, readonly(f, 2), readonly(f, 2), array(f, 2), types.int64,
     types.int64)])
