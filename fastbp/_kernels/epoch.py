"""One compiled epoch: every mini-batch of a given sample order.

For each batch ``idx[start:start + batch_size]``: forward, loss and
backward in parallel (``backprop._batch_gradient``), then one fused pass
that adds the L2 term, applies the optimizer step and refreshes the
transposed weights (``optimizers._normalise_and_step``). Python is called once per epoch, not once
per batch.
"""

from ._config import ADAM, jit
from .backprop import (_batch_gradient, _total_loss, _transpose_weights,
                       _weight_sum)
from .optimizers import _normalise_and_step


@jit
def _run_epoch(X, Y, sw, idx, batch_size, params, layers, hidden, out, alpha,
               eps, solver, hyper, state, step, work):
    """Train over all batches of ``idx`` once, updating ``params`` in place.

    Parameters
    ----------
    X, Y, sw, params, layers, hidden, out, alpha, eps :
        As in ``backprop._loss_grad``; ``idx`` holds the epoch's sample
        order (all of it is used, in batches of ``batch_size``).
    solver : int
        SGD or ADAM.
    hyper : ndarray of shape (4,), params' dtype
        SGD: (learning_rate, momentum, nesterov, unused);
        Adam: (learning_rate_init, beta_1, beta_2, epsilon).
    state : ndarray of shape (2, n_params)
        SGD: velocities in row 0; Adam: first and second moments. Updated.
    step : int64 ndarray of shape (1,)
        Adam's time step, incremented once per batch.
    work : tuple
        Workspace arrays sized for ``batch_size`` samples, as
        ``fastbp._network.Workspace.buffers()`` gives them.

    Returns
    -------
    accumulated_loss : float
        sum over batches of batch_loss * batch_length (scikit-learn's
        ``accumulated_loss``; divide by the number of samples for ``loss_``).
    """
    wt, xbuf, acts, deltas, at_buf, dt_buf, grad, chunk_loss, block_sq = work
    n_samples = idx.shape[0]
    accumulated = 0.0
    # The optimizer step keeps wt up to date after this.
    _transpose_weights(params, wt, layers)
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        data_loss = _batch_gradient(X, Y, sw, idx, start, stop - start,
                                    params, wt, grad, layers, hidden, out, eps,
                                    work)
        sw_sum = _weight_sum(sw, idx, start, stop)
        if solver == ADAM:
            step[0] += 1
        _normalise_and_step(params, grad, alpha, params.dtype.type(sw_sum),
                            solver, hyper, state, step[0], wt, layers,
                            block_sq)
        sq_total = 0.0
        for blk in range(block_sq.shape[0]):
            sq_total += block_sq[blk]
        accumulated += (stop - start) * _total_loss(
            data_loss, sq_total, alpha, sw_sum, out, layers)
    return accumulated
