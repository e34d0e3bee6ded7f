"""Central finite differences against the engine's analytic gradient (float64),
for every hidden activation x output loss x depth, and for networks whose
hidden layers have different activations."""

import numpy as np
import pytest

from .engine import (IDENTITY_LOSSES, engine_loss_grad, make_targets,
                     random_network)

OUTPUTS = [("identity", 2), ("logistic", 1), ("logistic", 3), ("softmax", 4),
           ("exp", 2),
           # Identity outputs trained on the robust losses. Absolute and
           # pinball loss have a kink where p == y; random targets put no
           # residual within the differences' step of it.
           ("huber", 1), ("huber", 3), ("absolute_error", 1),
           ("absolute_error", 2), ("quantile", 1), ("quantile", 3)]

HIDDEN = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "gelu",
          "silu", "softplus"]
# One name per hidden layer: those that keep z beside those that do not, in
# either order, and every new one beside scikit-learn's.
MIXED = [["gelu", "relu"], ["relu", "silu"], ["elu", "softplus", "leaky_relu"],
         ["tanh", "gelu", "silu"], ["logistic", "silu", "identity", "gelu"]]


def _check_gradient(rng, hidden, out, n_outputs, depth, Y):
    units = [4] + [6] * depth + [n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(len(Y), 4)
    sw = rng.uniform(0.5, 2.0, len(Y))
    alpha = 0.05

    _, grad, layout, params = engine_loss_grad(coefs, intercepts, X, Y, hidden,
                                               out, alpha, sw=sw)

    def loss_at(p):
        c, b = layout.views(p)
        loss = engine_loss_grad(c, b, X, Y, hidden, out, alpha, sw=sw)[0]
        if out in IDENTITY_LOSSES:
            # scikit-learn reports 0.5 * mean over outputs for the squared
            # error but back-propagates delta = p - y, the gradient of
            # 0.5 * sum over outputs; the robust losses follow it (mean
            # reported, gradient of the sum): scale the data term to match.
            l2 = 0.5 * alpha * sum((W**2).sum() for W in c) / sw.sum()
            loss = (loss - l2) * n_outputs + l2
        return loss

    h = 1e-6
    checked = rng.choice(layout.n_params, size=min(40, layout.n_params),
                         replace=False)
    numeric = np.empty(len(checked))
    for n, i in enumerate(checked):
        plus, minus = params.copy(), params.copy()
        plus[i] += h
        minus[i] -= h
        numeric[n] = (loss_at(plus) - loss_at(minus)) / (2 * h)
    np.testing.assert_allclose(grad[checked], numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,n_outputs", OUTPUTS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gradient_matches_finite_differences(rng, hidden, out, n_outputs, depth):
    Y = make_targets(rng, out, 40, n_outputs)
    _check_gradient(rng, hidden, out, n_outputs, depth, Y)


@pytest.mark.parametrize("hidden", MIXED, ids="-".join)
@pytest.mark.parametrize("out,n_outputs", OUTPUTS)
def test_gradient_of_mixed_activations(rng, hidden, out, n_outputs):
    Y = make_targets(rng, out, 40, n_outputs)
    _check_gradient(rng, hidden, out, n_outputs, len(hidden), Y)


@pytest.mark.parametrize("hidden", ["logistic", "relu"])
@pytest.mark.parametrize("out,n_outputs,n_classes", [
    ("logistic", 1, 2), ("logistic", 3, 2), ("softmax", 4, 4)])
def test_gradient_of_smoothed_targets_matches_finite_differences(
        rng, hidden, out, n_outputs, n_classes):
    # Label smoothing's soft targets (1 - e) y + e / K through the
    # log-losses: every class's term of the cross-entropy counts.
    e = 0.2
    Y = (1 - e) * make_targets(rng, out, 40, n_outputs) + e / n_classes
    _check_gradient(rng, hidden, out, n_outputs, 2, Y)
