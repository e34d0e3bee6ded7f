"""Small helpers that drive the compiled kernels directly in tests."""

import numpy as np

from fastbp._kernels import HIDDEN_CODES, LOSS_CODES, OUTPUT_CODES, _loss_grad
from fastbp._network import Layout, Workspace, training_data

TOL = {np.float64: 1e-10, np.float32: 1e-4}

# Output codes by name: the output activations, and the identity outputs
# trained on the robust losses.
OUT_CODES = {**OUTPUT_CODES, **LOSS_CODES}
# Identity-output losses (loss_ is a mean over outputs, the output error
# the gradient of the sum over outputs), and the loss parameter tests use.
IDENTITY_LOSSES = ("identity", "huber", "absolute_error", "quantile")
LOSS_PARAMS = {"huber": 0.7, "quantile": 0.3}


def loss_param_of(out, dtype=np.float64):
    """The kernels' ``loss_param`` for ``out``: Huber's delta, the quantile,
    or the dtype's eps the log-losses clip with."""
    return LOSS_PARAMS.get(out, float(np.finfo(dtype).eps))


def make_targets(rng, out, n_samples, n_outputs):
    """Targets suited to an output activation (and its loss)."""
    if out in IDENTITY_LOSSES:
        return rng.randn(n_samples, n_outputs)
    if out == "logistic":
        return rng.randint(0, 2, (n_samples, n_outputs)).astype(float)
    if out == "softmax":
        return np.eye(n_outputs)[rng.randint(0, n_outputs, n_samples)]
    return rng.poisson(1.5, (n_samples, n_outputs)).astype(float)


def random_network(rng, layer_units, scale=0.5):
    coefs = [scale * rng.randn(a, b) for a, b in zip(layer_units[:-1], layer_units[1:])]
    intercepts = [scale * rng.randn(b) for b in layer_units[1:]]
    return coefs, intercepts


def hidden_codes(hidden, n_hidden):
    """Kernel codes of ``hidden``: one name, or one per hidden layer."""
    names = [hidden] * n_hidden if isinstance(hidden, str) else hidden
    return [HIDDEN_CODES[name] for name in names]


def make_layout(units, hidden="relu"):
    """The Layout of a network of ``units`` with activations ``hidden``."""
    return Layout(units, hidden_codes(hidden, len(units) - 2))


def engine_loss_grad(coefs, intercepts, X, Y, hidden, out, alpha, sw=None,
                     dtype=np.float64, capacity=None):
    """Loss and flat gradient from the compiled ``_loss_grad``."""
    layout = make_layout([coefs[0].shape[0]] + [W.shape[1] for W in coefs],
                         hidden)
    params = layout.pack(coefs, intercepts, dtype)
    workspace = Workspace(layout, capacity or len(X), dtype, full_batch=True)
    X = training_data(np.ascontiguousarray(X, dtype=dtype), dtype)
    Y = np.ascontiguousarray(Y, dtype=dtype)
    sw = np.empty(0, dtype) if sw is None else np.ascontiguousarray(sw, dtype)
    idx = np.arange(len(Y), dtype=np.int64)
    loss = _loss_grad(X, training_data(Y, dtype), sw, idx, 0, len(Y), params,
                      workspace.table,
                      OUT_CODES[out], np.dtype(dtype).type(alpha),
                      loss_param_of(out, dtype), workspace.buffers())
    return loss, workspace.grad.copy(), layout, params


def flat(layout, coefs, intercepts):
    return layout.pack(coefs, intercepts, np.float64)
