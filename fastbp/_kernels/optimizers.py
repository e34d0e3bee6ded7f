"""Optimizer updates over the flat parameter vector (step 3: adjust weights).

The formulas are scikit-learn's (``sklearn/neural_network/
_stochastic_optimizers.py``). ``_step_range`` does everything that touches
a range of parameters once per batch: add the L2 term to the summed
gradient, divide by the batch's weight sum, accumulate ||W||^2 for the
loss, apply the update, and refresh the transposed copy of the weights the
next backward pass reads. Each weight-gradient task calls it on the
parameters it has just summed (``backprop._weight_gradient_task``), while
they are in its core's cache.

``max_grad_norm`` clips the gradient the step takes, g = (G + alpha W) /
denom, L2 term included (it is part of scikit-learn's loss), to a global L2
norm over all coefficients and intercepts. The norm needs every task's
gradient first: ``_grad_sq_block`` sums g^2 over a task's range,
``_clipped_denom`` adds the ranges in task order and returns the divisor
that scales g as ``torch.nn.utils.clip_grad_norm_`` does, and the step runs
unchanged with it.

A task's range depends on the network's shape and the batch size only, and
every update is elementwise arithmetic compiled without fastmath (the same
result vectorised or not), so the weights never depend on the thread
count. The sum of squares, a reduction, is one partial sum per range,
added in range order.
"""

import math

import numpy as np
from numba import types

from . import simd
from ._config import (ADAM, BETA_1, BETA_2, COEF_OFFSET, EPSILON, FAN_IN,
                      FAN_OUT, LEARNING_RATE, MOMENTUM, NESTEROV,
                      POOLED_NOISE, REDUCE_BLOCK, SGD, WEIGHT_DECAY, jit,
                      jit_exact, jit_sum)
from ._extern import array, extern
from ._minmax import maximum, minimum
from ._views import view
from .dense import _tail_start, pack_panel_rows, training_panels


@jit_sum
def _sum_squares(P):
    """sum of P[i]^2 in float64."""
    sq = 0.0
    for i in range(P.shape[0]):
        w = float(P[i])
        sq += w * w
    return sq


@jit_exact
def _normalise_block(params, grad, alpha, denom, n_coefs, p0, p1):
    """grad[p] = (grad[p] + alpha * W[p]) / denom for p0 <= p < p1.

    The L2 term applies to coefficients only (p < n_coefs).

    Returns
    -------
    sq : float
        sum of params[p]^2 over the block's coefficients.
    """
    # Loops run over slices from index 0: with range(p0, p1) Numba cannot
    # prove the index non-negative, and its wraparound handling kept LLVM
    # from vectorising (Adam on 4096 entries: 9.0 vs 3.0 us).
    P = params[p0:maximum(minimum(p1, n_coefs), p0)]
    G = grad[p0:p0 + P.shape[0]]
    for i in range(P.shape[0]):
        G[i] += alpha * P[i]
    G = grad[p0:p1]
    for i in range(G.shape[0]):
        G[i] = G[i] / denom
    return _sum_squares(P)


@jit_sum
def _grad_sq_block(params, grad, alpha, denom, n_coefs, p0, p1):
    """sum of g[p]^2 in float64 over p0 <= p < p1, for the gradient
    g = (grad + alpha * W) / denom that the step takes (``_normalise_block``:
    the L2 term for coefficients, p < n_coefs, only). ``grad`` is read, not
    written.
    """
    c1 = maximum(minimum(p1, n_coefs), p0)
    P = params[p0:c1]
    G = grad[p0:c1]
    sq = 0.0
    for i in range(P.shape[0]):
        g = float((G[i] + alpha * P[i]) / denom)
        sq += g * g
    G = grad[c1:p1]
    for i in range(G.shape[0]):
        g = float(G[i] / denom)
        sq += g * g
    return sq


@jit
def _clipped_denom(task_sq, n_tasks, max_norm, sw_sum, dtype_of):
    """The divisor of a batch's step under ``max_grad_norm``.

    The step takes g = (G + alpha W) / sw_sum; ``task_sq[:n_tasks]`` holds
    its squared norm over each task's parameters (``_grad_sq_block``),
    added in task order. As ``torch.nn.utils.clip_grad_norm_``, g is scaled
    by c = max_norm / (||g|| + 1e-6) when c < 1; dividing by sw_sum / c
    does that (up to rounding) with the step's own normalisation.

    Returns
    -------
    denom : float of the dtype of ``dtype_of``
        sw_sum / c if c < 1, else sw_sum (also when ||g|| is NaN).
    """
    sq = 0.0
    for t in range(n_tasks):
        sq += task_sq[t]
    c = float(max_norm) / (math.sqrt(sq) + 1e-6)
    if c < 1.0:
        return dtype_of.dtype.type(sw_sum / c)
    return dtype_of.dtype.type(sw_sum)


@jit_exact
def _sgd_block(params, grad, velocity, learning_rate, momentum, nesterov,
               decay, p0, p1):
    """SGD with (Nesterov) momentum on entries p0 <= p < p1, in place.

    v = momentum * v - lr * g
    params = decay * params + (momentum * v - lr * g)   if nesterov
    params = decay * params + v                          otherwise

    ``decay`` is 1 - lr * weight_decay (decoupled weight decay, as SGDW)
    for coefficients and 1 otherwise; times 1 the update is exactly
    ``params += ...``.
    """
    P, G, V = params[p0:p1], grad[p0:p1], velocity[p0:p1]
    for i in range(P.shape[0]):
        v = momentum * V[i] - learning_rate * G[i]
        V[i] = v
        if nesterov:
            P[i] = P[i] * decay + (momentum * v - learning_rate * G[i])
        else:
            P[i] = P[i] * decay + v


@jit_exact
def _adam_block(params, grad, m, v, lr_t, beta_1, beta_2, epsilon, alpha,
                denom, decay, c1, p0, p1):
    """Adam on entries p0 <= p < p1 with bias-corrected step lr_t, in place,
    from the summed gradient G in ``grad`` (read, not written); entries
    p < c1 are coefficients, the rest biases (p0 <= c1 <= p1):

    g = (G + alpha W) / denom       (alpha W for coefficients only)
    m = beta_1 m + (1 - beta_1) g
    v = beta_2 v + (1 - beta_2) g^2
    params = decay * params + (-lr_t * m / (sqrt(v) + epsilon))

    ``decay`` (1 - lr * weight_decay, decoupled weight decay as AdamW)
    applies to coefficients only; times 1 the update is exactly
    ``params += ...``.

    g takes the operations of ``_normalise_block`` in the same order, so the
    weights are those of normalising the gradient in place first, bit for
    bit; computing g here saves writing the gradient back and reading it
    again. One thread, ``_step_range`` on a 784 x 1024 layer's W (a
    ``/tmp`` script, two alternating processes per version, medians of 7
    x 20 calls): float32 0.26-0.28 -> 0.19-0.21 ms, float64 0.85-0.87 ->
    0.59-0.71 ms.
    """
    one = params.dtype.type(1)
    for part in range(2):  # coefficients, then biases
        l2 = part == 0
        keep = decay if l2 else one
        a0 = p0 if l2 else c1
        a1 = c1 if l2 else p1
        P, G, M, V = params[a0:a1], grad[a0:a1], m[a0:a1], v[a0:a1]
        for i in range(P.shape[0]):
            g = G[i]
            if l2:
                g = g + alpha * P[i]
            g = g / denom
            mp = beta_1 * M[i] + (one - beta_1) * g
            vp = beta_2 * V[i] + (one - beta_2) * (g * g)
            M[i] = mp
            V[i] = vp
            P[i] = P[i] * keep + (-lr_t * mp / (np.sqrt(vp) + epsilon))


@jit_exact
def _adam_block_pooled(params, grad, m, v, r, lr_t, beta_1, beta_2, epsilon,
                       alpha, denom, decay, k, c1, p0, p1):
    """``_adam_block`` for a gradient g that is the mean over 1/k of the
    mini-batch the second moment should describe (k > 1): the second
    moment takes

    v = beta_2 v + (1 - beta_2) (g^2 / k + (1 - 1/k) r^2)

    where r (read only) estimates the gradient's mean.

    Why: ``fastbp.dask`` with ``local_batch_size='split'`` gives each of k
    blocks 1/k of a mini-batch. Each block's gradient g has the mean mu of
    the whole batch's gradient but k times its noise variance s, so
    E[g^2] = mu^2 + k s where the in-memory fit's v tracks mu^2 + s; with
    the plain update, once noise dominates, every block's steps (and so
    their average) are up to sqrt(k) times shorter than in memory.
    E[g^2 / k + (1 - 1/k) mu^2] = mu^2 + s: with r = mu the update tracks
    what the in-memory v tracks. The trainer gives r as the blocks' pooled
    first moment at the round's start, bias-corrected (k blocks averaged:
    1/k of one block's noise).
    """
    one = params.dtype.type(1)
    inv_k = one / k
    keep_r = one - inv_k
    for part in range(2):  # coefficients, then biases
        l2 = part == 0
        keep = decay if l2 else one
        a0 = p0 if l2 else c1
        a1 = c1 if l2 else p1
        P, G, M, V, R = (params[a0:a1], grad[a0:a1], m[a0:a1], v[a0:a1],
                         r[a0:a1])
        for i in range(P.shape[0]):
            g = G[i]
            if l2:
                g = g + alpha * P[i]
            g = g / denom
            mp = beta_1 * M[i] + (one - beta_1) * g
            vp = beta_2 * V[i] + (one - beta_2) * (
                g * g * inv_k + keep_r * (R[i] * R[i]))
            M[i] = mp
            V[i] = vp
            P[i] = P[i] * keep + (-lr_t * mp / (np.sqrt(vp) + epsilon))


@jit_exact
def _adam_step_size(learning_rate_init, beta_1, beta_2, t, dtype_of):
    """lr_t = lr_init * sqrt(1 - beta_2^t) / (1 - beta_1^t), in float64 then
    cast to the dtype of ``dtype_of``, as scikit-learn's Python scalars do."""
    return dtype_of.dtype.type(
        float(learning_rate_init)
        * math.sqrt(1.0 - math.pow(float(beta_2), float(t)))
        / (1.0 - math.pow(float(beta_1), float(t))))


@jit
def _store_transposed(params, wt, layers, p0, p1):
    """Copy coefficient entries p0 <= p < p1 into the transposed weights,
    and into the packed ones of the layers that have them.

    Entry ``p`` is W[k, j] of some layer (offset ``coff``, shape
    (fan_in, fan_out)); it goes to ``wt[coff + j * fan_in + k]``. The input
    errors of layers 1, 2, ... read all of their WT. The first layer has no
    input error (the input needs none), and its W is most of the weights in
    wide and mnist (784 inputs): only its last columns, from
    ``dense._tail_start`` on, are copied, for the forward product's last
    columns (``dense._dot_tail``). A layer with a PACK_OFFSET gets its
    entries in its column panels too (``_store_packed``).
    """
    for l in range(layers.shape[0]):
        fan_in = layers[l, FAN_IN]
        fan_out = layers[l, FAN_OUT]
        coff = layers[l, COEF_OFFSET]
        j0 = _tail_start(fan_out, params) if l == 0 else 0
        lo = maximum(p0, coff)
        hi = minimum(p1, coff + fan_in * fan_out)
        if lo >= hi:
            continue
        _store_packed(params, training_panels(wt, layers, l), coff, fan_in,
                      fan_out, lo, hi)
        if j0 == fan_out:
            continue
        # Whole rows k_a <= k < k_b of W go column by column, so that wt is
        # written in contiguous runs; partial rows at either end entry by
        # entry.
        k_a = (lo - coff + fan_out - 1) // fan_out
        k_b = (hi - coff) // fan_out
        if k_a > k_b:  # lo and hi inside one row
            _store_entries(params, wt, coff, fan_in, fan_out, j0,
                           (lo - coff) // fan_out, lo, hi)
            continue
        _store_entries(params, wt, coff, fan_in, fan_out, j0, k_a - 1, lo,
                       coff + k_a * fan_out)
        # One 2-D view of the whole rows and of their columns of WT, not two
        # slices per column (every view is an atomic reference-count update,
        # on arrays all threads share), indexed from 0 (see
        # _normalise_block): with range(k_a, k_b) the refresh of wide's
        # weights took 442 us instead of 198 (281 with the slices).
        W = view(params, coff, fan_in, fan_out)[k_a:k_b]
        WT = view(wt, coff, fan_out, fan_in)[:, k_a:k_b]
        for j in range(j0, fan_out):
            for k in range(W.shape[0]):
                WT[j, k] = W[k, j]
        _store_entries(params, wt, coff, fan_in, fan_out, j0, k_b,
                       coff + k_b * fan_out, hi)


@jit
def _store_packed(params, WP, coff, fan_in, fan_out, lo, hi):
    """Entries lo <= p < hi of a layer's W (offset ``coff``, shape (fan_in,
    fan_out)) into its column panels ``WP`` (``dense.pack_panels``'s
    layout: W[k, j] at WP[j // (2 L) * fan_in + k, j % (2 L)] for the
    columns of whole panels); nothing if ``WP`` has no rows.

    Whole rows k_a <= k < k_b go through ``dense.pack_panel_rows``; the
    rows the range cuts at either end, entry by entry.
    """
    if WP.shape[0] == 0:
        return
    width = 2 * simd.lanes(WP)
    n_packed = fan_out // width * width
    W = view(params, coff, fan_in, fan_out)
    e0 = lo - coff
    e1 = hi - coff
    k_a = (e0 + fan_out - 1) // fan_out
    k_b = e1 // fan_out
    if k_a < k_b:
        pack_panel_rows(W, WP, k_a, k_b)
    for k in range(e0 // fan_out, (e1 + fan_out - 1) // fan_out):
        if k_a <= k < k_b:
            continue
        for j in range(maximum(e0 - k * fan_out, 0),
                       minimum(e1 - k * fan_out, n_packed)):
            WP[j // width * fan_in + k, j % width] = W[k, j]


@jit
def _store_entries(params, wt, coff, fan_in, fan_out, j0, k, lo, hi):
    """Entries lo <= p < hi, all in row k of a layer's W, into wt: those of
    columns j >= j0."""
    for p in range(lo, hi):
        j = p - coff - k * fan_out
        if j >= j0:
            wt[coff + j * fan_in + k] = params[p]


@jit_exact
def _add_block(grad, grad_tmp, blk):
    """grad += grad_tmp on block blk (a later batch of a full-batch sum)."""
    p0 = blk * REDUCE_BLOCK
    G = grad[p0:minimum(p0 + REDUCE_BLOCK, grad.shape[0])]
    T = grad_tmp[p0:p0 + G.shape[0]]
    for i in range(G.shape[0]):
        G[i] += T[i]


@jit
def _step_range(params, grad, alpha, denom, n_coefs, solver, hyper, state,
                lr_t, wt, layers, p0, p1):
    """L2 term, normalisation, update and transposed copy of the entries
    p0 <= p < p1 (whole rows of one layer's W, or one layer's b).

    Returns
    -------
    sq : float
        sum of the range's coefficients squared, before the update.
    """
    c1 = maximum(minimum(p1, n_coefs), p0)  # the range's coefficients end
    # Decoupled weight decay: W *= 1 - lr * weight_decay (coefficients).
    decay = params.dtype.type(1) - hyper[LEARNING_RATE] * hyper[WEIGHT_DECAY]
    if solver == ADAM:  # normalises as it reads the gradient
        sq = _sum_squares(params[p0:c1])
        if hyper[POOLED_NOISE] > 1:
            _adam_block_pooled(params, grad, state[0], state[1], state[2],
                               lr_t, hyper[BETA_1], hyper[BETA_2],
                               hyper[EPSILON], alpha, denom, decay,
                               hyper[POOLED_NOISE], c1, p0, p1)
        else:
            _adam_block(params, grad, state[0], state[1], lr_t,
                        hyper[BETA_1], hyper[BETA_2], hyper[EPSILON], alpha,
                        denom, decay, c1, p0, p1)
    else:
        sq = _normalise_block(params, grad, alpha, denom, n_coefs, p0, p1)
        if solver == SGD:
            # A range is whole rows of one W or one b (see docstring).
            _sgd_block(params, grad, state[0], hyper[LEARNING_RATE],
                       hyper[MOMENTUM], hyper[NESTEROV] != 0,
                       decay if p0 < n_coefs else params.dtype.type(1),
                       p0, p1)
    if p0 < n_coefs:
        _store_transposed(params, wt, layers, p0, c1)
    return sq


# Handles compiled callers use (see _extern).
_normalise_block_ext = extern(_normalise_block, lambda f: [
    (array(f, 1), array(f, 1), f, f, types.int64, types.int64, types.int64)])
_step_range_ext = extern(_step_range, lambda f: [
    (array(f, 1), array(f, 1), f, f, types.int64, types.int64, array(f, 1),
     array(f, 2), f, array(f, 1), array(types.int64, 2), types.int64,
     types.int64)])
