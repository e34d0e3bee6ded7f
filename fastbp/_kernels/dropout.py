"""Inverted dropout on hidden units, with masks drawn by a counter-based hash.

Whether unit ``j`` of hidden layer ``l`` is kept for the sample in row
``row`` of the training data, in the epoch that starts after ``t`` samples
were seen, is a pure function of ``(seed, t, row, l, j)``: a SplitMix64
hash of those numbers compared with an integer threshold. No generator
state is carried from batch to batch, so a mask depends on the data and
``random_state`` alone, never on which thread or Dask block computed it,
and the backward pass recomputes the forward pass's mask instead of storing
it.

    keep  = hash(seed, t, row, l, j) >> 40  >=  threshold_l
    a     = f(z) * scale_l   if keep   else 0      scale_l = 1 / (1 - p_l)

``threshold_l = round(p_l * 2^24)`` and ``p_l = threshold_l / 2^24`` in
``scale_l``, so the kept units' expected contribution is exactly
unchanged. The backward pass of a dropped-out layer takes
``dL/da_drop = Delta W^T`` (``dense._dense_backward_input`` without a
derivative) and multiplies it by ``d a_drop / dz = mask * scale * f'(z)``,
with ``f'(z)`` computed from ``f(z) = a_drop / scale`` (for gelu and silu,
f'(z) as the forward pass kept it, which dropout does not touch).
"""

import numpy as np
from numba import types

from ._config import IDENTITY, LOGISTIC, RELU, TANH, jit
from .activations import _derivative
from ._extern import array, extern, readonly

# 24 random bits per unit decide its fate: rates are multiples of 2^-24.
DROPOUT_BITS = 24
# SplitMix64's constants (Steele, Lea & Flood 2014; Vigna's splitmix64.c).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


@jit
def _mix(z):
    """SplitMix64's finaliser of the uint64 ``z``."""
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


@jit
def _row_key(key, row, layer):
    """The hash state of (seed, t, row, layer): ``key`` is the int64 array
    ``[seed, t, row_offset]``; rows are numbered from ``row_offset``."""
    z = _mix(np.uint64(key[0]) + _GOLDEN)
    z = _mix(z + np.uint64(key[1]) * _GOLDEN)
    z = _mix(z + np.uint64(key[2] + row) * _GOLDEN)
    return z + np.uint64(layer) * _GOLDEN


@jit
def _scale(threshold, like):
    """1 / (1 - p) in the dtype of ``like``, p = threshold / 2^24."""
    one = like.dtype.type(1)
    return one / (one - like.dtype.type(threshold)
                  * like.dtype.type(2.0 ** -DROPOUT_BITS))


@jit
def _kept(base, j, limit):
    """Whether unit ``j`` of the row whose key is ``base`` is kept."""
    return (_mix(base + np.uint64(j) * _GOLDEN)
            >> np.uint64(64 - DROPOUT_BITS)) >= limit


@jit
def _dropout_forward_rows(Z, threshold, key, idx, start, layer, s0, s1):
    """a = keep * scale * a for rows s0 <= s < s1 of Z (sample ``s`` is row
    ``idx[start + s]`` of the data); modifies Z in place."""
    scale = _scale(threshold, Z)
    zero = Z.dtype.type(0)
    limit = np.uint64(threshold)
    for s in range(s0, s1):
        base = _row_key(key, idx[start + s], layer)
        for j in range(Z.shape[1]):
            Z[s, j] = Z[s, j] * scale if _kept(base, j, limit) else zero


@jit
def _dropout_backward_rows(kind, A, P, D, threshold, key, idx, start, layer,
                           s0, s1):
    """D = D * keep * scale * f'(z) for rows s0 <= s < s1, given the
    dropped-out activations ``A = keep * scale * f(z)``, ``P = f'(z)`` as
    the forward pass kept it (read only for gelu and silu, see
    ``activations``) and D = dL/dA on entry (dL/dz on exit)."""
    scale = _scale(threshold, D)
    one = D.dtype.type(1)
    zero = D.dtype.type(0)
    limit = np.uint64(threshold)
    for s in range(s0, s1):
        base = _row_key(key, idx[start + s], layer)
        for j in range(D.shape[1]):
            if not _kept(base, j, limit):
                D[s, j] = zero
                continue
            a = A[s, j] / scale  # f(z)
            if kind == LOGISTIC:
                derivative = a * (one - a)
            elif kind == TANH:
                derivative = one - a * a
            elif kind == RELU:
                derivative = one if a > zero else zero
            elif kind == IDENTITY:
                derivative = one
            else:
                derivative = _derivative(kind, a, P[s, j])
            D[s, j] = D[s, j] * scale * derivative


# Handles compiled callers use (see _extern); the sample order arrives
# read-only.
_dropout_forward_rows_ext = extern(_dropout_forward_rows, lambda f: [
    (array(f, 2), types.int64, array(types.int64, 1),
     readonly(types.int64, 1), types.int64, types.int64, types.int64,
     types.int64)])
_dropout_backward_rows_ext = extern(_dropout_backward_rows, lambda f: [
    (types.int64, readonly(f, 2), readonly(f, 2), array(f, 2), types.int64,
     array(types.int64, 1), readonly(types.int64, 1), types.int64,
     types.int64, types.int64, types.int64)])
