"""Output activations, per-sample losses and the output-layer error.

Samples are rows of 2-D arrays, indexed in 2-D rather than through row views
(see ``activations``).

Step 1 of backpropagation: measure the error. For every output activation
scikit-learn pairs a loss whose gradient with respect to the pre-activation
``z`` is simply ``p - y`` (canonical link), so the output error is

    delta = sample_weight * (p - y)

The robust regression losses (``OUT_HUBER``, ``OUT_ABSOLUTE``,
``OUT_QUANTILE``) keep the identity output and replace ``p - y`` by their
own derivative with respect to p, ``delta = sample_weight * dloss/dp``;
``_robust_loss_delta`` computes their loss and error in one pass.

The per-sample loss terms ``t`` returned here are combined by the caller as

    loss = factor * sum_s(sw_s * t_s) / sum_s(sw_s)

with ``factor = 0.5 / n_outputs`` for the squared error, ``1 / n_outputs``
for the robust losses and 1 otherwise (scikit-learn's ``0.5 * mean``
convention and its log-loss/deviance sums). As for scikit-learn's squared
error, the output error of every identity-output loss is the gradient of
the loss summed over the outputs, not averaged: with one output the two
agree, and Huber's error equals the squared error's wherever
``|p - y| <= delta``, so a Huber fit whose residuals stay within delta
takes exactly the squared error's steps.
"""

import math

import llvmlite.ir
import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from ._config import (FASTMATH, LOGISTIC, OUT_ABSOLUTE, OUT_EXP, OUT_HUBER,
                      OUT_IDENTITY, OUT_LOGISTIC, OUT_QUANTILE, OUT_SOFTMAX,
                      jit, jit_exact)
from ._extern import array, extern
from ._minmax import maximum, minimum
from ._views import rows_flat
from .activations import _activate_rows_ext


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the low 32 bits of integer ``bits``
    (a bit cast: vectorises, unlike ldexp)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth != 32:
            value = builder.trunc(value, llvmlite.ir.IntType(32))
        return builder.bitcast(value, llvmlite.ir.FloatType())
    return types.float32(bits), codegen


@jit_exact
def _exp_nonpositive_f32(x):
    """exp(x) for float32 ``x <= 0`` (or NaN), within 1 ulp of expf, as
    branch-free arithmetic LLVM vectorises: libm's expf is a call per
    element, and was most of the softmax in prediction.

    Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
    that n ln2 is exact; compiled without fastmath so the split is kept),
    exp(r) by a degree-6 polynomial, times 2^n built from its bits. Below
    ln(FLT_MIN) (-87.34) the result is 0 where expf gives a subnormal
    (< 1.2e-38). NaN stays NaN. Positive x is not handled (2^n overflows
    from x > 88.03): softmax's shifted logits are never positive.
    """
    lo = np.float32(-87.33654)  # ln(FLT_MIN): n >= -126
    t = x if x >= lo else lo
    n = math.floor(t * np.float32(1.4426950408889634) + np.float32(0.5))
    r = t - n * np.float32(0.693359375)
    r = r - n * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    y = p * (r * r) + r + np.float32(1)
    y = y * _float32_from_bits((np.int32(n) + 127) << 23)
    if x >= lo:
        return y
    if x < lo:
        return np.float32(0)
    return x  # NaN


def _softmax_rows(Z, s0, s1):
    """Softmax of rows s0..s1 of ``Z``, in place (compiled below)."""


@overload(_softmax_rows, jit_options=dict(fastmath=FASTMATH,
                                          error_model="numpy"))
def _softmax_rows_impl(Z, s0, s1):
    """p_j = exp(z_j - max z) / sum_k exp(z_k - max z).

    float32: the shifted logits of all rows, contiguous in C-ordered ``Z``,
    go through the vectorised exp in one loop (2.4 -> 0.8 ms over 90,000
    rows of 10 outputs, one thread). float64 keeps libm's exp, as
    scikit-learn's, for parity."""
    if Z.dtype == types.float32:
        def softmax_f32(Z, s0, s1):
            n = Z.shape[1]
            for s in range(s0, s1):
                zmax = Z[s, 0]
                for j in range(1, n):
                    zmax = Z[s, j] if Z[s, j] > zmax else zmax
                for j in range(n):
                    Z[s, j] = Z[s, j] - zmax
            flat = rows_flat(Z, s0, s1)
            for k in range(flat.shape[0]):
                flat[k] = _exp_nonpositive_f32(flat[k])
            for s in range(s0, s1):
                total = np.float32(0)
                for j in range(n):
                    total += Z[s, j]
                for j in range(n):
                    Z[s, j] = Z[s, j] / total
        return softmax_f32

    def softmax(Z, s0, s1):
        n = Z.shape[1]
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
    return softmax


@jit
def _output_activate_rows(kind, Z, s0, s1):
    """Apply output activation ``kind`` in place to rows s0..s1 of ``Z``
    (softmax: ``_softmax_rows``). The identity and the robust losses'
    codes leave Z as it is."""
    n = Z.shape[1]
    if kind == OUT_LOGISTIC:  # the hidden layers' logistic, in place
        _activate_rows_ext(LOGISTIC, Z, s0, s1)
    elif kind == OUT_SOFTMAX:
        _softmax_rows(Z, s0, s1)
    elif kind == OUT_EXP:
        for s in range(s0, s1):
            for j in range(n):
                Z[s, j] = math.exp(Z[s, j])
    # OUT_IDENTITY, OUT_HUBER, OUT_ABSOLUTE, OUT_QUANTILE: nothing to do.


@jit
def _xlogy(x, y):
    """x * log(y), defined as 0 where x == 0 (scipy.special.xlogy)."""
    if x == 0:
        return 0.0
    return x * math.log(y)


@jit
def _sample_loss(kind, P, s, Y, i, eps):
    """Loss term of sample ``s`` (outputs ``P[s]``, targets ``Y[i]``), summed
    over its outputs (float64), for the canonical-link losses.

    squared error: sum_j (y_j - p_j)^2             (times 0.5/n by caller)
    softmax:       -sum_j y_j log(clip(p_j))
    logistic:      -sum_j y_j log(clip(p_j)) + (1-y_j) log(1-clip(p_j))
    poisson:       sum_j y_j log(y_j / p_j) - y_j + p_j

    ``clip`` limits probabilities to [eps, 1 - eps] as scikit-learn does.
    Soft targets (label smoothing) take every class's term, not only the
    true class's.
    """
    n = P.shape[1]
    t = 0.0
    if kind == OUT_IDENTITY:
        for j in range(n):
            r = float(Y[i, j]) - float(P[s, j])
            t += r * r
    elif kind == OUT_SOFTMAX:
        for j in range(n):
            q = minimum(maximum(float(P[s, j]), eps), 1.0 - eps)
            t -= _xlogy(float(Y[i, j]), q)
    elif kind == OUT_LOGISTIC:
        for j in range(n):
            q = minimum(maximum(float(P[s, j]), eps), 1.0 - eps)
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
        Targets (0/1 indicators, or soft targets, for classifiers); row i
        is the sample's.
    weight : float
        The sample's weight (1 when unweighted), of the arrays' dtype.
    D : ndarray of shape (>= s + 1, n)
        Row s is overwritten with the output error.
    """
    for j in range(P.shape[1]):
        D[s, j] = (P[s, j] - Y[i, j]) * weight


@jit
def _robust_loss_delta(kind, P, s, Y, i, weight, loss_param, D):
    """Loss term of sample ``s`` summed over its outputs (float64, times
    1/n by the caller), and its output error ``D[s] = weight * dloss/dp``,
    for the identity-output robust losses, r = p - y:

    huber (d = loss_param): 0.5 r^2 if |r| <= d else d (|r| - 0.5 d);
                            dloss/dp = r clipped to [-d, d]
    quantile (q = loss_param): (1 - q) r if r > 0 else -q r;
                            dloss/dp = 1 - q if r > 0, -q if r < 0, else 0
    absolute: |r| = 2 x the quantile loss of q = 1/2; dloss/dp = sign(r)

    One loop per loss computes both (absolute error through the quantile
    loss's loop): each loop is compiled code to generate, in every dtype.

    Parameters
    ----------
    kind : int
        OUT_HUBER, OUT_ABSOLUTE or OUT_QUANTILE (``_config``).
    P, Y, weight, D :
        As in :func:`_output_delta`; row s of D is overwritten.
    loss_param : float
        Huber's delta or the quantile (not read for the absolute error).
    """
    n = P.shape[1]
    t = 0.0
    if kind == OUT_HUBER:
        d = P.dtype.type(loss_param)
        for j in range(n):
            D[s, j] = minimum(maximum(P[s, j] - Y[i, j], -d), d) * weight
            a = abs(float(P[s, j]) - float(Y[i, j]))
            t += (0.5 * a * a if a <= loss_param
                  else loss_param * (a - 0.5 * loss_param))
        return t
    q = loss_param if kind == OUT_QUANTILE else 0.5
    scale = 1.0 if kind == OUT_QUANTILE else 2.0
    # Of the arrays' dtype: an int literal would make float32 arithmetic
    # float64.
    above = P.dtype.type(scale * (1.0 - q)) * weight  # p > y
    below = P.dtype.type(-scale * q) * weight  # p < y
    zero = P.dtype.type(0)
    for j in range(n):
        r = float(P[s, j]) - float(Y[i, j])
        t += (1.0 - q) * r if r > 0 else -q * r
        D[s, j] = above if r > 0 else (below if r < 0 else zero)
    return scale * t


@jit
def _loss_factor(kind, n_outputs):
    """Constant the weighted mean of the sample losses is multiplied by:
    the mean over outputs (half of it for the squared error) for the
    identity-output losses, 1 for the log-losses and the deviance."""
    if kind == OUT_IDENTITY:
        return 0.5 / n_outputs
    if kind == OUT_HUBER or kind == OUT_ABSOLUTE or kind == OUT_QUANTILE:
        return 1.0 / n_outputs
    return 1.0


# The handle compiled callers use (see _extern).
_output_activate_rows_ext = extern(_output_activate_rows, lambda f: [
    (types.int64, array(f, 2), types.int64, types.int64)])
