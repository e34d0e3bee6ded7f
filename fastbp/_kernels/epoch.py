"""One compiled epoch: every mini-batch of a given sample order.

For each batch ``idx[start:start + batch_size]``: forward, loss and backward
(``backprop._loss_grad``), then the optimizer step. Python is called once
per epoch, not once per batch.
"""

from ._config import SGD, jit
from .backprop import _loss_grad
from .optimizers import _adam_step, _sgd_step


@jit
def _run_epoch(X, Y, sw, idx, batch_size, params, grad, layers, hidden, out,
               alpha, eps, solver, hyper, state, step, xbuf, acts, deltas,
               grad_chunks, chunk_loss, block_sq):
    """Train over all batches of ``idx`` once, updating ``params`` in place.

    Parameters
    ----------
    X, Y, sw, params, grad, layers, hidden, out, alpha, eps :
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
    xbuf, acts, deltas, grad_chunks, chunk_loss, block_sq :
        Workspaces sized for ``batch_size`` samples.

    Returns
    -------
    accumulated_loss : float
        sum over batches of batch_loss * batch_length (scikit-learn's
        ``accumulated_loss``; divide by the number of samples for ``loss_``).
    """
    n_samples = idx.shape[0]
    accumulated = 0.0
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        loss = _loss_grad(X, Y, sw, idx, start, stop, params, grad, layers,
                          hidden, out, alpha, eps, xbuf, acts, deltas,
                          grad_chunks, chunk_loss, block_sq)
        accumulated += loss * (stop - start)
        if solver == SGD:
            _sgd_step(params, grad, state[0], hyper[0], hyper[1],
                      hyper[2] != 0)
        else:
            step[0] += 1
            _adam_step(params, grad, state[0], state[1], hyper[0], hyper[1],
                       hyper[2], hyper[3], step[0])
    return accumulated
