"""Solver drivers: optimizer state, learning-rate schedules and L-BFGS.

The stochastic optimizers keep scikit-learn's public behaviour
(``learning_rate``, ``iteration_ends``, ``trigger_stopping``) while their
state lives in flat arrays that the compiled epoch updates in place. L-BFGS
is scipy's, fed with the loss and gradient the compiled engine computes.
"""

import numpy as np
import scipy.optimize
from threadpoolctl import threadpool_limits

from ._kernels import SOLVER_CODES, _loss_grad
from ._kernels._config import (BETA_1, BETA_2, EPSILON, LEARNING_RATE,
                               MAX_GRAD_NORM, MOMENTUM, N_HYPER, NESTEROV,
                               WEIGHT_DECAY)
from ._kernels._state import OptimizerState
from ._network import aligned_zeros, training_data
from ._sklearn_compat import check_optimize_result, lbfgs_options


def cosine_rate(learning_rate_init, epoch, warmup_iter, max_iter):
    """The learning rate of epoch ``epoch`` (from 0) under
    ``learning_rate="cosine"``: Keras' ``CosineDecay`` with linear warm-up,
    counted in epochs.

    lr = lr_init * (epoch + 1) / warmup_iter            epoch < warmup_iter
    lr = lr_init * (1 + cos(pi * e / n)) / 2            otherwise

    with ``e = epoch - warmup_iter`` and ``n = max_iter - warmup_iter`` (at
    least 1); from epoch ``max_iter`` on (partial_fit can go past it) the
    rate is 0, as Keras' schedule after its decay steps.
    """
    if epoch < warmup_iter:
        return learning_rate_init * (epoch + 1) / warmup_iter
    n = max(max_iter - warmup_iter, 1)
    e = min(epoch - warmup_iter, n)
    return learning_rate_init * 0.5 * (1.0 + np.cos(np.pi * e / n))


class _StochasticOptimizer:
    """Flat-array state of a stochastic optimizer.

    Parameters ``cosine`` (``(warmup_iter, max_iter)`` under
    ``learning_rate="cosine"``, else None), ``weight_decay`` (decoupled,
    scaled by the epoch's learning rate) and ``max_grad_norm`` (None, or the
    bound on each batch gradient's L2 norm) apply to both optimizers.

    Attributes
    ----------
    code : int
        Solver code the compiled epoch branches on.
    hyper : ndarray of shape (N_HYPER,)
        Hyper-parameters in the model dtype by named slot, as the epoch
        kernel reads them (unused slots zero).
    state : ndarray of shape (2, n_params)
        Velocities (SGD) or first and second moments (Adam).
    step : int64 ndarray of shape (1,)
        Number of updates made (Adam's ``t``).
    """

    def __init__(self, solver, n_params, dtype, learning_rate_init,
                 cosine=None, weight_decay=0.0, max_grad_norm=None):
        self.code = SOLVER_CODES[solver]
        self.dtype = np.dtype(dtype)
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.cosine = cosine
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.epochs = 0  # epochs run with this optimizer (its schedule)
        self.epoch_rate = self._scheduled_rate()
        self.state = aligned_zeros((2, n_params), dtype)
        self.step = np.zeros(1, dtype=np.int64)

    def _scheduled_rate(self):
        """This epoch's learning rate under the cosine schedule, or the
        initial rate without one."""
        if self.cosine is None:
            return float(self.learning_rate_init)
        return cosine_rate(float(self.learning_rate_init), self.epochs,
                           *self.cosine)

    def _end_scheduled_epoch(self):
        self.epochs += 1
        self.epoch_rate = self._scheduled_rate()

    def kernel_state(self):
        """The compiled step's view of this optimizer: an
        ``OptimizerState(solver, hyper, state, step)``, whose ``state`` and
        ``step`` are this optimizer's own arrays (updated in place)."""
        return OptimizerState(self.code, self.hyper, self.state, self.step)

    def _hyper(self, slots):
        """The kernel's hyper-parameter vector: ``{slot: value}``, the
        weight decay and the gradient norm bound, the other slots zero."""
        hyper = np.zeros(N_HYPER, dtype=self.dtype)
        for slot, value in slots.items():
            hyper[slot] = value
        hyper[WEIGHT_DECAY] = self.weight_decay
        if self.max_grad_norm is not None:
            # 0 is "no clipping": a bound that rounds to 0 in the dtype
            # becomes its smallest normal number instead.
            hyper[MAX_GRAD_NORM] = max(float(self.max_grad_norm),
                                       float(np.finfo(self.dtype).tiny))
        return hyper

    def iteration_ends(self, time_step):
        """Update the learning rate after an epoch of ``time_step`` samples."""

    def trigger_stopping(self, msg, verbose):
        """Whether to stop when no improvement was seen; prints ``msg``."""
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDOptimizer(_StochasticOptimizer):
    """SGD with momentum and scikit-learn's learning-rate schedules."""

    def __init__(self, n_params, dtype, learning_rate_init=0.1,
                 lr_schedule="constant", momentum=0.9, nesterov=True,
                 power_t=0.5, cosine=None, weight_decay=0.0,
                 max_grad_norm=None):
        super().__init__("sgd", n_params, dtype, learning_rate_init, cosine,
                         weight_decay, max_grad_norm)
        if cosine is not None:
            self.learning_rate = self.epoch_rate
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t

    @property
    def hyper(self):
        return self._hyper({LEARNING_RATE: self.learning_rate,
                            MOMENTUM: self.momentum,
                            NESTEROV: float(self.nesterov)})

    def iteration_ends(self, time_step):
        if self.cosine is not None:
            self._end_scheduled_epoch()
            self.learning_rate = self.epoch_rate
        # invscaling: lr = lr_init / (t + 1) ** power_t, t = samples seen.
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                float(self.learning_rate_init) / (time_step + 1) ** self.power_t)

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        # adaptive: divide the learning rate by 5 and go on.
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class AdamOptimizer(_StochasticOptimizer):
    """Adam (Kingma & Ba), with scikit-learn's bias-corrected step size."""

    def __init__(self, n_params, dtype, learning_rate_init=0.001, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, cosine=None, weight_decay=0.0,
                 max_grad_norm=None):
        super().__init__("adam", n_params, dtype, learning_rate_init, cosine,
                         weight_decay, max_grad_norm)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    @property
    def t(self):
        return int(self.step[0])

    @property
    def hyper(self):
        return self._hyper({LEARNING_RATE: self.epoch_rate,
                            BETA_1: self.beta_1, BETA_2: self.beta_2,
                            EPSILON: self.epsilon})

    def iteration_ends(self, time_step):
        # Report the step size of the last update, as scikit-learn does.
        t = self.t
        if t > 0:
            self.learning_rate = (self.epoch_rate
                                  * np.sqrt(1 - self.beta_2 ** t)
                                  / (1 - self.beta_1 ** t))
        if self.cosine is not None:
            self._end_scheduled_epoch()


def minimize_lbfgs(loss_grad, params, max_iter, max_fun, tol, verbose,
                   iteration_done=None):
    """Run scipy's L-BFGS-B on ``loss_grad`` starting from ``params``.

    Parameters
    ----------
    loss_grad : callable
        ``loss_grad(x) -> (loss, grad)`` for a float64 vector ``x``.
    params : ndarray of shape (n_params,)
        Start point; overwritten with the solution.
    max_iter, max_fun, tol, verbose :
        As the estimators' parameters.
    iteration_done : callable, optional
        ``iteration_done(x) -> bool`` after each iteration with the current
        float64 solution; returning True ends the minimisation there
        (without a ConvergenceWarning: it was asked for).

    Returns
    -------
    n_iter : int
    loss : float
    """
    iprint = 1 if (verbose is True or verbose >= 1) else -1
    stopped = []

    def callback(intermediate_result):
        if iteration_done is not None and iteration_done(intermediate_result.x):
            stopped.append(True)
            raise StopIteration

    # L-BFGS-B's vector updates call BLAS. Between two of them the compiled
    # loss and gradient run on Numba's threads; threaded BLAS workers would
    # then spin against those (an L-BFGS fit on digits ran 55 times slower).
    # The vectors are a few thousand elements long: one BLAS thread is enough.
    with threadpool_limits(limits=1, user_api="blas"):
        result = scipy.optimize.minimize(
            loss_grad,
            params.astype(np.float64),
            method="L-BFGS-B",
            jac=True,
            callback=callback,
            options={
                "maxfun": max_fun,
                "maxiter": max_iter,
                "gtol": tol,
                **lbfgs_options("iprint", iprint),
            },
        )
    if stopped:
        n_iter = result.nit
    else:
        n_iter = check_optimize_result("lbfgs", result, max_iter)
    params[...] = result.x
    return n_iter, result.fun


def full_batch_loss_grad(X, Y, sw, params, workspace, out, alpha, loss_param):
    """Closure ``x -> (loss, grad)`` over all of X, for L-BFGS.

    ``X`` is a ``TrainingData``, ``Y`` the encoded targets, read where they
    lie (``fastbp._network.training_data``). ``params`` is overwritten
    with ``x`` at each call; the compiled ``_loss_grad`` processes X in
    blocks of the workspace's capacity.
    """
    n_samples = Y.shape[0]
    Y = training_data(Y, params.dtype)
    idx = np.arange(n_samples, dtype=np.int64)
    work = workspace.buffers()

    def loss_grad(x):
        params[...] = x
        loss = _loss_grad(X, Y, sw, idx, 0, n_samples, params,
                          workspace.table, out, alpha, loss_param, work)
        return loss, workspace.grad.astype(np.float64)

    return loss_grad
