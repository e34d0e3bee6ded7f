"""Forward and backward loops of one dense layer over a range of samples.

Shapes follow scikit-learn: ``W`` is (fan_in, fan_out), ``b`` is (fan_out,),
activations are (n_samples, fan). Each backward piece sits beside the forward
it differentiates:

    forward          Z = A W + b
    weight gradient  dW += A^T D,   db += sum_s D[s]
    input error      D_prev = (D W^T) * f'(A)      (f' from the output A)

All functions work on samples ``s0 <= s < s1`` only, so that parallel chunks
of a batch can run them on disjoint row ranges. Inner loops run along a
contiguous axis so that LLVM vectorises them.
"""

from ._config import jit
from .activations import _activate_row, _apply_derivative_row


@jit
def _dense_forward(A, W, b, Z, kind, s0, s1):
    """Z[s] = f(A[s] @ W + b) for s0 <= s < s1, in place.

    Parameters
    ----------
    A : ndarray of shape (>= s1, fan_in)
        Inputs of the layer.
    W : ndarray of shape (fan_in, fan_out)
    b : ndarray of shape (fan_out,)
    Z : ndarray of shape (>= s1, fan_out)
        Overwritten with the layer's activations.
    kind : int
        Hidden activation code; pass IDENTITY for the output layer, whose
        activation is applied by the loss.
    """
    fan_in, fan_out = W.shape
    for s in range(s0, s1):
        z = Z[s]
        a = A[s]
        for j in range(fan_out):
            z[j] = b[j]
        for k in range(fan_in):
            ak = a[k]
            w = W[k]
            for j in range(fan_out):
                z[j] += ak * w[j]
        _activate_row(kind, z, fan_out)


@jit
def _dense_backward_weights(A, D, gW, gb, s0, s1):
    """Accumulate gW += A[s0:s1].T @ D[s0:s1] and gb += D[s0:s1].sum(0).

    Parameters
    ----------
    A : ndarray of shape (>= s1, fan_in)
        Inputs of the layer (from the forward pass).
    D : ndarray of shape (>= s1, fan_out)
        Error of the layer's pre-activations, dL/dZ.
    gW : ndarray of shape (fan_in, fan_out)
        Weight gradient accumulator, added to.
    gb : ndarray of shape (fan_out,)
        Bias gradient accumulator, added to.
    """
    fan_in, fan_out = gW.shape
    for s in range(s0, s1):
        d = D[s]
        a = A[s]
        for j in range(fan_out):
            gb[j] += d[j]
        for k in range(fan_in):
            ak = a[k]
            g = gW[k]
            for j in range(fan_out):
                g[j] += ak * d[j]


@jit
def _dense_backward_input(D, W, A_prev, D_prev, kind, s0, s1):
    """D_prev[s] = (D[s] @ W.T) * f'(A_prev[s]) for s0 <= s < s1.

    Parameters
    ----------
    D : ndarray of shape (>= s1, fan_out)
        dL/dZ of this layer.
    W : ndarray of shape (fan_in, fan_out)
    A_prev : ndarray of shape (>= s1, fan_in)
        Activations feeding this layer (outputs of the previous layer).
    D_prev : ndarray of shape (>= s1, fan_in)
        Overwritten with dL/dZ of the previous layer.
    kind : int
        Hidden activation code of the previous layer.
    """
    fan_in, fan_out = W.shape
    for s in range(s0, s1):
        d = D[s]
        dp = D_prev[s]
        for k in range(fan_in):
            w = W[k]
            acc = d.dtype.type(0)
            for j in range(fan_out):
                acc += d[j] * w[j]
            dp[k] = acc
        _apply_derivative_row(kind, A_prev[s], dp, fan_in)
