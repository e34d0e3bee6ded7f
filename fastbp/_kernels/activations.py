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

and, for three whose derivative is no function of ``a`` alone or costs
another exp, in terms of the pre-activation ``z``:

    softplus  f(z) = log(1 + e^z)   f'(z) = sigmoid(z)
    gelu      f(z) = z Phi(z)       f'(z) = Phi(z) + z phi(z)
    silu      f(z) = z sigmoid(z)   f'(z) = s (1 + z (1 - s)),  s = sigmoid(z)

Training computes f'(z) of these three in the forward pass, beside f(z),
from the same exp and erfc, and keeps it (``P`` below) for the backward
pass, which then only multiplies; the workspace has room for it only in
networks that use them, so relu networks read and write no more memory
than before.

Phi and phi are the standard normal's distribution function and density
(gelu is the exact form, with erf, as PyTorch's and Keras' default), and
leaky_relu's slope 0.01 is PyTorch's and ONNX's default. softplus is
computed as max(z, 0) + log1p(e^-|z|), which never overflows.

The transcendental functions are ``elementary``'s, which have no call and
no branch, and each activation has a loop of its own: LLVM vectorises them
(libm's exp, log1p, expm1 and erfc it calls one value at a time).

Entries are indexed in 2-D, never through row views: each view of an array
costs an atomic reference-count increment and decrement, and with a view
per sample and layer those took about a fifth of the tiny network's epoch.
"""

import math

import numpy as np
from numba import types

from ._config import (ELU, GELU, LEAKY_RELU, LOGISTIC, RELU, SOFTPLUS, TANH,
                      jit, jit_exact, jit_inline)
from ._extern import array, extern, readonly
from .elementary import exp, expm1, log1p_unit, normal_cdf_pdf

# leaky_relu's slope for z < 0 (PyTorch's and ONNX's default).
LEAKY_SLOPE = 0.01


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


# The activations beyond scikit-learn's four: formulas inlined into the
# ``jit_exact`` loops below (see ``_config.jit_inline``).
@jit_inline
def _leaky_relu(z):
    return z if z > 0 else type(z)(LEAKY_SLOPE) * z


@jit_inline
def _elu(z):
    m = expm1(z)
    return z if z > 0 else m


@jit_inline
def _sigmoid_pair(z, e):
    """sigmoid(z) and 1 - sigmoid(z), from e = e^-|z| (no overflow, and no
    cancellation in the complement)."""
    r = type(z)(1) / (type(z)(1) + e)
    er = e * r
    return (r, er) if z >= 0 else (er, r)


@jit_inline
def _softplus_pair(z):
    """softplus(z) = relu(z) + log(1 + e^-|z|) and its derivative."""
    e = exp(z if z < 0 else -z)
    f = (z if z > 0 else type(z)(0)) + log1p_unit(e)
    return f, _sigmoid_pair(z, e)[0]


@jit_inline
def _gelu_pair(z):
    """gelu(z) and its derivative, of z's type (float32 computed in
    float32, see ``elementary._normal_cdf_pdf32``)."""
    cdf, pdf = normal_cdf_pdf(z)
    if isinstance(z, np.float32):
        return z * cdf, cdf + z * pdf
    zd = np.float64(z)
    return type(z)(zd * cdf), type(z)(cdf + zd * pdf)


@jit_inline
def _silu_pair(z):
    """silu(z) and its derivative."""
    s, c = _sigmoid_pair(z, exp(z if z < 0 else -z))
    return z * s, s * (type(z)(1) + z * c)


@jit_inline
def _derivative_of(kind, a, p):
    """f'(z) for the activations from LEAKY_RELU on, from a = f(z) and,
    for those whose derivative is kept, p = f'(z) from the forward pass."""
    one = type(a)(1)
    if kind == LEAKY_RELU:
        return one if a > 0 else type(a)(LEAKY_SLOPE)
    if kind == ELU:
        return one if a > 0 else a + one
    return p  # SOFTPLUS, GELU, SILU


@jit_exact
def _derivative(kind, a, p):
    """``_derivative_of`` for callers one value at a time (dropout)."""
    return _derivative_of(kind, a, p)


@jit
def keeps_derivative(kind):
    """Whether training keeps f'(z) of activation ``kind`` from the forward
    pass (SOFTPLUS, GELU, SILU)."""
    return kind >= SOFTPLUS


@jit_exact
def _activate_new_rows(kind, Z, s0, s1):
    """``_activate_rows`` for the codes from LEAKY_RELU on."""
    n = Z.shape[1]
    if kind == LEAKY_RELU:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _leaky_relu(Z[s, j])
    elif kind == ELU:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _elu(Z[s, j])
    elif kind == SOFTPLUS:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _softplus_pair(Z[s, j])[0]
    elif kind == GELU:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _gelu_pair(Z[s, j])[0]
    else:  # SILU
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = _silu_pair(Z[s, j])[0]


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
        _activate_new_rows(kind, Z, s0, s1)
    # IDENTITY: nothing to do.


@jit_exact
def _activate_keep_rows(kind, Z, P, s0, s1):
    """Rows s0..s1: ``Z = f(z)`` in place and ``P = f'(z)``, for an
    activation whose derivative training keeps (``keeps_derivative``).

    Parameters
    ----------
    kind : int
        SOFTPLUS, GELU or SILU.
    Z : ndarray of shape (>= s1, n)
        Pre-activations z; rows s0..s1 are overwritten with f(z).
    P : ndarray of shape (>= s1, n)
        Rows s0..s1 are overwritten with f'(z).
    s0, s1 : int
        The rows.
    """
    n = Z.shape[1]
    if kind == SOFTPLUS:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j], P[s, j] = _softplus_pair(Z[s, j])
    elif kind == GELU:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j], P[s, j] = _gelu_pair(Z[s, j])
    else:  # SILU
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j], P[s, j] = _silu_pair(Z[s, j])


@jit_exact
def _apply_new_derivative_rows(kind, A, P, D, s0, s1):
    """``_apply_derivative_rows`` for the codes from LEAKY_RELU on."""
    n = A.shape[1]
    if kind == LEAKY_RELU:
        for s in range(s0, s1):
            for j in range(n):
                D[s, j] = D[s, j] * _derivative_of(LEAKY_RELU, A[s, j], A[s, j])
    elif kind == ELU:
        for s in range(s0, s1):
            for j in range(n):
                D[s, j] = D[s, j] * _derivative_of(ELU, A[s, j], A[s, j])
    else:  # SOFTPLUS, GELU, SILU: delta *= f'(z), kept by the forward pass
        for s in range(s0, s1):
            for j in range(n):
                D[s, j] = D[s, j] * P[s, j]


@jit
def _apply_derivative_rows(kind, A, P, D, s0, s1):
    """Multiply rows s0..s1 of ``D`` in place by f'(z), given ``A = f(z)``
    (and ``P = f'(z)`` where ``keeps_derivative(kind)``).

    Parameters
    ----------
    kind : int
        A hidden activation code.
    A : ndarray of shape (>= s1, n)
        Activations of the layer (outputs of ``f``).
    P : ndarray of shape (>= s1, n)
        f'(z) of the layer as ``_activate_keep_rows`` left it; read only
        where ``keeps_derivative(kind)`` (other callers may pass ``A``).
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
        _apply_new_derivative_rows(kind, A, P, D, s0, s1)
    # IDENTITY: derivative is 1.


# Handles compiled callers use (see _extern): kind, array(s), rows.
_activate_rows_ext = extern(_activate_rows, lambda f: [
    (types.int64, array(f, 2), types.int64, types.int64)])
_activate_keep_rows_ext = extern(_activate_keep_rows, lambda f: [
    (types.int64, array(f, 2), array(f, 2), types.int64, types.int64)])
_apply_derivative_rows_ext = extern(_apply_derivative_rows, lambda f: [
    (types.int64, readonly(f, 2), readonly(f, 2), array(f, 2), types.int64,
     types.int64)])
