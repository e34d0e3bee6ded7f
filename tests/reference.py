"""Slow, obvious float64 reference implementations the kernels are checked
against: a plain-numpy forward/backward pass and the optimizer formulas,
written from scikit-learn's definitions."""

import numpy as np
from scipy.special import erf, expit


def _gelu(z):
    return z * 0.5 * (1 + erf(z / np.sqrt(2)))


HIDDEN = {
    "identity": lambda z: z,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "gelu": _gelu,
    "silu": lambda z: z * expit(z),
    "softplus": lambda z: np.logaddexp(0, z),
}

# derivative as a function of the pre-activation z, written from the
# definitions above (not as the kernels compute it, from a = f(z))
HIDDEN_DERIVATIVE = {
    "identity": lambda z: np.ones_like(z),
    "logistic": lambda z: expit(z) * (1 - expit(z)),
    "tanh": lambda z: 1 - np.tanh(z)**2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "gelu": lambda z: (0.5 * (1 + erf(z / np.sqrt(2)))
                       + z * np.exp(-z**2 / 2) / np.sqrt(2 * np.pi)),
    "silu": lambda z: expit(z) * (1 + z * (1 - expit(z))),
    "softplus": expit,
}


def per_layer(hidden, n_hidden):
    """``hidden`` (one name, or a list of one per hidden layer) as a list."""
    return [hidden] * n_hidden if isinstance(hidden, str) else list(hidden)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


OUTPUT = {
    "identity": lambda z: z,
    "logistic": HIDDEN["logistic"],
    "softmax": softmax,
    "exp": np.exp,
    # Identity outputs trained on fastbp's robust losses.
    "huber": lambda z: z,
    "absolute_error": lambda z: z,
    "quantile": lambda z: z,
}


def output_loss(out, y, p, sw, loss_param=None):
    """scikit-learn's loss for output activation ``out`` (weighted mean);
    for the robust losses (``loss_param``: Huber's delta, the quantile) the
    weighted mean over samples of their mean over outputs."""
    w = np.ones(len(y)) if sw is None else sw
    eps = np.finfo(p.dtype).eps
    r = p - y
    if out == "huber":
        d = loss_param
        per_sample = np.where(np.abs(r) <= d, 0.5 * r**2,
                              d * (np.abs(r) - 0.5 * d)).mean(axis=1)
    elif out == "absolute_error":
        per_sample = np.abs(r).mean(axis=1)
    elif out == "quantile":
        q = loss_param
        per_sample = np.where(-r >= 0, q * -r, (q - 1) * -r).mean(axis=1)
    elif out == "identity":
        per_sample = 0.5 * ((y - p) ** 2).mean(axis=1)
    elif out == "softmax":
        q = np.clip(p, eps, 1 - eps)
        per_sample = -(y * np.log(q)).sum(axis=1)
    elif out == "logistic":
        q = np.clip(p, eps, 1 - eps)
        per_sample = -(np.where(y > 0, y * np.log(q), 0)
                       + np.where(1 - y > 0, (1 - y) * np.log(1 - q), 0)
                       ).sum(axis=1)
    else:  # exp: half Poisson deviance
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / p), 0)
        per_sample = (ylogy - y + p).sum(axis=1)
    return (w * per_sample).sum() / w.sum()


def forward(coefs, intercepts, X, hidden, out, pre=None):
    """Activations of every layer, input first (``hidden``: one name or
    one per hidden layer). ``pre``, a list, gets every layer's z."""
    hidden = per_layer(hidden, len(coefs) - 1)
    acts = [X]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = acts[-1] @ W + b
        if pre is not None:
            pre.append(z)
        last = i == len(coefs) - 1
        acts.append(OUTPUT[out](z) if last else HIDDEN[hidden[i]](z))
    return acts


def output_error(out, y, p, loss_param=None):
    """dL/dz of one sample's loss summed over its outputs: p - y for the
    canonical links, the robust losses' derivatives with respect to p."""
    r = p - y
    if out == "huber":
        return np.clip(r, -loss_param, loss_param)
    if out == "absolute_error":
        return np.sign(r)
    if out == "quantile":
        return np.where(r > 0, 1 - loss_param,
                        np.where(r < 0, -loss_param, 0.0))
    return r


def loss_and_grads(coefs, intercepts, X, Y, hidden, out, alpha, sw=None,
                   loss_param=None):
    """Loss and gradients (lists like coefs/intercepts), scikit-learn's way.

    loss = L(y, p) + 0.5 * alpha * sum ||W||^2 / sw_sum
    dW_l = (A_l^T delta_l + alpha W_l) / sw_sum, db_l = sum delta_l / sw_sum
    delta_last = sw * (p - y) (``output_error``),
    delta_{l-1} = delta_l W_l^T * f'(Z_{l-1})
    """
    zs = []
    acts = forward(coefs, intercepts, X, hidden, out, zs)
    hidden = per_layer(hidden, len(coefs) - 1)
    sw_sum = len(X) if sw is None else sw.sum()
    loss = output_loss(out, Y, acts[-1], sw, loss_param)
    loss += 0.5 * alpha * sum((W**2).sum() for W in coefs) / sw_sum
    delta = output_error(out, Y, acts[-1], loss_param)
    if sw is not None:
        delta = delta * sw[:, None]
    gW = [None] * len(coefs)
    gb = [None] * len(coefs)
    for i in range(len(coefs) - 1, -1, -1):
        gW[i] = (acts[i].T @ delta + alpha * coefs[i]) / sw_sum
        gb[i] = delta.sum(axis=0) / sw_sum
        if i > 0:
            delta = ((delta @ coefs[i].T)
                     * HIDDEN_DERIVATIVE[hidden[i - 1]](zs[i - 1]))
    return loss, gW, gb


def clip_grad_norm(grads, max_norm):
    """``torch.nn.utils.clip_grad_norm_`` on a list of gradient arrays: all
    scaled by c = max_norm / (norm + 1e-6) when c < 1, norm being the L2
    norm of them all together. Returns (clipped list, norm)."""
    norm = np.sqrt(sum((g**2).sum() for g in grads))
    c = max_norm / (norm + 1e-6)
    return [g * c if c < 1 else g for g in grads], norm


def sgd_step(params, grad, velocity, lr, momentum, nesterov):
    """scikit-learn's SGDOptimizer update; returns new (params, velocity)."""
    velocity = momentum * velocity - lr * grad
    update = momentum * velocity - lr * grad if nesterov else velocity
    return params + update, velocity


def adam_step(params, grad, m, v, t, lr, beta_1, beta_2, eps):
    """scikit-learn's AdamOptimizer update at step t; returns (params, m, v)."""
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad**2
    lr_t = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return params - lr_t * m / (np.sqrt(v) + eps), m, v


def _splitmix(z):
    """SplitMix64's finaliser on uint64 arrays."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def dropout_keep(seed, t, rows, layer, n_units, rate):
    """The kept-unit mask (n_rows, n_units) of fastbp's dropout: unit j of
    row r is kept when the SplitMix64 hash of (seed, t, r, layer, j), in its
    top 24 bits, is at least round(rate * 2^24)."""
    golden = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = _splitmix(np.uint64(seed) + golden)
        z = _splitmix(z + np.uint64(t) * golden)
        z = _splitmix(z + np.asarray(rows, dtype=np.uint64) * golden)
        base = z + np.uint64(layer) * golden
        units = np.arange(n_units, dtype=np.uint64) * golden
        h = _splitmix(base[:, None] + units[None, :])
    return (h >> np.uint64(40)) >= np.uint64(round(rate * 2 ** 24))


def dropout_loss(coefs, intercepts, X, Y, hidden, out, alpha, rates, keep):
    """Loss of one full batch with hidden layer l's units multiplied by
    ``keep[l] / (1 - p_l)`` (p_l the rate the threshold stands for)."""
    hidden = per_layer(hidden, len(coefs) - 1)
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = A @ W + b
        if i == len(coefs) - 1:
            A = OUTPUT[out](z)
        else:
            p = round(rates[i] * 2 ** 24) / 2 ** 24
            A = HIDDEN[hidden[i]](z) * keep[i] / (1 - p)
    sq = sum((W ** 2).sum() for W in coefs)
    return output_loss(out, Y, A, None) + 0.5 * alpha * sq / len(X)
