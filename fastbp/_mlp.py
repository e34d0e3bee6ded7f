"""MLPClassifier and MLPRegressor: scikit-learn's API over the compiled engine.

This module holds parameters, validation, label handling and the epoch loop
control (tol, n_iter_no_change, early stopping, verbose, warm_start,
partial_fit). It never does arithmetic on weights: forward, backward and
optimizer updates happen in ``fastbp._kernels``.

scikit-learn 1.9's ``sklearn/neural_network/_multilayer_perceptron.py`` is
the reference for every behaviour here; with ``dtype="float64"`` and the same
``random_state`` the same random draws are made in the same order.
"""

import operator
import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from scipy.sparse import issparse
from sklearn import get_config
from sklearn.base import (BaseEstimator, ClassifierMixin, RegressorMixin,
                          is_classifier)
from sklearn.callback import CallbackSupportMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, check_scoring, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import (check_array, check_consistent_length,
                                      check_is_fitted, validate_data)

from ._callbacks import FitTasks, callbacks_active
from ._kernels import (HIDDEN_CODES, LOSS_CODES, OUTPUT_CODES,
                       PREDICT_BLOCK, PREDICT_PACK_ROWS_PER_THREAD, PREDICT_SLOTS,
                       _predict_rows, _run_epoch, packed_size)
from ._kernels._layer import compiled_section, prepare_threading
from ._kernels._state import Dropout
from ._kernels.dropout import DROPOUT_BITS
from ._kernels._threads import fit_threads
from ._losses import (absolute_error_loss, huber_loss, pinball_loss,
                      smoothed_labels)
from ._network import (GATHERED_DTYPES, INIT_SCHEMES, SPARSE_VALUE_DTYPES,
                       Layout, Workspace, aligned_empty, dense_kernel_input,
                       init_params, kernel_input, readable_in_place,
                       training_data, weights_or_empty)
from ._sklearn_compat import (LOSS_FUNCTIONS, Interval, Options, StrOptions,
                              check_partial_fit_first_call,
                              check_sample_weight, fit_context,
                              reads_predictions_only)
from ._solvers import (AdamOptimizer, SGDOptimizer, full_batch_loss_grad,
                       minimize_lbfgs)

_STOCHASTIC_SOLVERS = ["sgd", "adam"]

# L-BFGS evaluates the full-batch gradient in blocks of this many samples,
# so its workspace stays small whatever the data size.
_LBFGS_BLOCK = 4096


def _shuffled(order, random_state):
    """``sklearn.utils.shuffle(order, random_state=random_state)`` for a 1-D
    ndarray: the same draws (a shuffled ``arange``, then indexing), without
    its input checks: 3 against 75 us for 200 samples, 18 against 91 us
    for 1797 (timeit). A 200-row partial_fit of a 784-100-10 network took
    0.61-0.68 ms with sklearn's shuffle and 0.57-0.58 ms with this."""
    perm = np.arange(order.shape[0])
    random_state.shuffle(perm)
    return order[perm]


def _layer_size(size):
    """``size`` as the width of a hidden layer, if scikit-learn's MLP could
    allocate an array of it: an integer, not a bool, float or sequence;
    otherwise numpy's TypeError for such an array shape."""
    if isinstance(size, (bool, np.bool_)):
        raise TypeError("an integer is required")
    return operator.index(size)


def _numeric_targets(y, dtype):
    """The validated targets as training reads them: as they are if the
    kernels read their type in place (a classifier's bool indicators,
    float and int64 regression targets; ``training_data``), an array of
    strings as it is (see :func:`_refuse_strings`), otherwise a C-ordered
    copy of ``dtype``."""
    if y.dtype.kind in "SU" or readable_in_place(y):
        return y
    return np.ascontiguousarray(y, dtype=dtype)


def _refuse_strings(Y):
    """Raise a TypeError if the targets ``Y`` are strings.

    A regressor's targets may still be strings after validation, which
    converts only arrays of objects to numbers. scikit-learn's MLPRegressor
    takes them into training, where its loss fails with numpy's TypeError:
    after the early-stopping split, whose errors (a validation set too
    small, ``validation_fraction=0``) come first. They are refused with a
    TypeError at that point too, not parsed.
    """
    if Y.dtype.kind in "SU":
        raise TypeError(
            f"The target y is an array of strings (dtype {Y.dtype}); "
            "MLPRegressor needs numbers: convert y explicitly.")


def _refuse_objects(estimator, X):
    """Raise if validated X is still an array of objects (values that are
    not numbers, such as None): scikit-learn's error for NaN among them
    first (``check_array``), else a TypeError."""
    if X.dtype == object:
        check_array(X, dtype=None, estimator=estimator, input_name="X")
        raise TypeError(
            "X holds values that are not numbers (an array of dtype "
            "object after validation); convert them to numbers first.")


def _check_finite(estimator, X, dtype=None):
    """Raise scikit-learn's error if X (dense, or a sparse matrix's stored
    values) holds NaN or an infinity once converted to ``dtype`` (None:
    X's dtype); see ``_validate_training_data``.

    Integers convert to finite floats. Floats of another type (float64 X
    for float32 training) are converted and tested in blocks of rows, so
    that values beyond ``dtype``'s range are found as in a converted X,
    and the error names ``dtype`` as it would.
    """
    values = X.data if issparse(X) else X
    if values.dtype.kind in "biu":
        return
    dtype = values.dtype if dtype is None else np.dtype(dtype)
    if values.dtype == dtype:
        if not np.isfinite(values.sum(axis=0)).all():
            check_array(X, accept_sparse=["csr", "csc"], dtype=None,
                        estimator=estimator, input_name="X")
        return
    rows = _block_rows(values)
    buffer = np.empty((rows,) + values.shape[1:], dtype=dtype)
    for r0 in range(0, values.shape[0], rows):
        block = buffer[:min(rows, values.shape[0] - r0)]
        block[...] = values[r0:r0 + rows]  # numpy's cast, as astype's
        if not np.isfinite(block.sum(axis=0)).all():
            check_array(block, ensure_2d=False, dtype=None,
                        estimator=estimator, input_name="X")


# Work on X in its own type and order (conversions, validation's forward
# pass) runs over blocks of rows of at most this many entries, so that it
# allocates a bounded scratch whatever X's size: 1 MiB in float32.
_BLOCK_ENTRIES = 1 << 18


def _block_rows(X, multiple=1):
    """Rows of X per block of at most ``_BLOCK_ENTRIES`` entries (at least
    one row), a multiple of ``multiple`` where that is more than one."""
    n_columns = max(int(np.prod(X.shape[1:])), 1)
    rows = max(_BLOCK_ENTRIES // n_columns, 1)
    return max(rows // multiple, 1) * multiple


class _MemoryValidation:
    """Validation rows in memory, scored once per epoch (``_run_epochs``).

    ``X`` as validation left it (its own type and order, or sparse), and
    ``rows``, the validation rows' numbers in X (None: all of X); ``y``
    and ``sample_weight`` as :meth:`score` takes them for those rows, and
    ``Y``, their targets encoded as the network's outputs, for the loss.

    The rows' outputs are computed in blocks, each block's rows taken from
    X and converted on their own (``_forward_blocks``), and the loss and
    the score both come from them; no copy of the rows is made. A scoring
    string's or ``make_scorer``'s scorer is given the model seen through
    those outputs (:class:`_Outputs`); any other callable ``scoring`` is
    called on the rows themselves, copied once, converted to the model's
    dtype.
    """

    def __init__(self, X, rows, y, sample_weight, Y):
        self.X, self.rows = X, rows
        self.y, self.sample_weight, self.Y = y, sample_weight, Y
        self._X_rows = None

    def evaluate(self, model):
        """``(score, loss)`` of ``model`` on these rows: the score its
        ``scoring`` names and its mean loss without the L2 penalty."""
        scorer = None
        if model.scoring is not None and model.scoring != "loss":
            scorer = check_scoring(model, scoring=model.scoring)
        if scorer is None or reads_predictions_only(scorer):
            output = model._forward_blocks(self.X, self.rows)
            loss = model._data_loss(self.Y, output, self.sample_weight)
            if model.scoring == "loss":
                return -loss, loss
            if scorer is None:
                return model._score_output(output, self.y,
                                           self.sample_weight), loss
            return model._score_outputs(scorer, output, self.y,
                                        self.sample_weight), loss
        X = self._converted_rows(model._fitted_dtype)
        loss = model._validation_loss(X, self.Y, self.sample_weight)
        return (model._validation_score(X, self.y, self.sample_weight,
                                        loss), loss)

    def _converted_rows(self, dtype):
        if self._X_rows is None:
            X = self.X if self.rows is None else self.X[self.rows]
            self._X_rows = (X.astype(dtype, copy=False) if issparse(X)
                            else np.ascontiguousarray(X, dtype=dtype))
        return self._X_rows


class _Outputs:
    """A fitted model as a scikit-learn scorer sees it, for rows whose
    output activations were computed beforehand (``_forward_blocks``):
    its prediction methods return those rows' predictions, whatever X they
    are given, as the model's own methods would for the rows."""

    def __init__(self, model, output):
        self._model, self._output = model, output

    @staticmethod
    def of(model, output):
        return (_ClassifierOutputs if is_classifier(model) else _Outputs)(
            model, output)

    def __sklearn_tags__(self):
        return self._model.__sklearn_tags__()

    def predict(self, X):
        return self._model._predictions(self._output)


class _ClassifierOutputs(_Outputs):
    @property
    def classes_(self):
        return self._model.classes_

    def predict_proba(self, X):
        return self._model._probabilities(self._output)

    def predict_log_proba(self, X):
        # Not in place: predict_proba may return the outputs themselves.
        return np.log(self.predict_proba(X))


class _Rollback:
    """A partial_fit's way back when its X turns out not to be finite.

    partial_fit on a fitted model leaves the test of dense X for NaN and
    infinity to the compiled epoch, which tests each row as it gathers it
    into a batch: a non-finite value makes the epoch's loss NaN. This saves
    a pass over X (6 ms of the 80 ms of an mnist-sized epoch). Made before
    the epoch, a rollback holds what the epoch changes: the weights, the
    optimizer's state, ``n_iter_`` and the random state. When the loss is
    not finite, :meth:`if_not_finite` tests X as scikit-learn does; if X is
    not finite, it puts all of that back and raises scikit-learn's error,
    as if X had been refused before training. A NaN loss from finite X
    (diverging weights) goes on as any other epoch.
    """

    def __init__(self, model, X):
        optimizer = model._optimizer
        self._X = X
        self._params = model._params.copy()
        self._state = optimizer.state.copy()
        self._step = optimizer.step.copy()
        self._n_iter = getattr(model, "n_iter_", None)
        self._random_state = model._random_state.get_state()

    def if_not_finite(self, model):
        """Restore ``model`` and raise if X holds NaN or an infinity (once
        converted to the model's dtype)."""
        try:
            _check_finite(model, self._X, model._np_dtype)
        except ValueError:
            optimizer = model._optimizer
            model._params[...] = self._params
            optimizer.state[...] = self._state
            optimizer.step[...] = self._step
            if self._n_iter is None:
                del model.n_iter_
            else:
                model.n_iter_ = self._n_iter
            model._random_state.set_state(self._random_state)
            raise


class BaseMultilayerPerceptron(CallbackSupportMixin, BaseEstimator, ABC):
    """Base class for the fastbp MLP estimators; use the subclasses."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(HIDDEN_CODES)), list, tuple],
        "solver": [StrOptions({"lbfgs", "sgd", "adam"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive",
                                      "cosine"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions({"float32", "float64"}),
                  Options(type, {np.float32, np.float64})],
        "scoring": [StrOptions({"loss"}), str, callable, None],
        "init": [StrOptions({"auto", *INIT_SCHEMES})],
        "warmup_iter": [Interval(Integral, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    }

    @abstractmethod
    def __init__(self, hidden_layer_sizes, activation, solver, alpha,
                 batch_size, learning_rate, learning_rate_init, power_t,
                 max_iter, loss, shuffle, random_state, tol, verbose,
                 warm_start, momentum, nesterovs_momentum, early_stopping,
                 validation_fraction, beta_1, beta_2, epsilon,
                 n_iter_no_change, max_fun, dtype, scoring, init,
                 warmup_iter, weight_decay, dropout, max_grad_norm):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.scoring = scoring
        self.init = init
        self.warmup_iter = warmup_iter
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm

    # ------------------------------------------------------------------
    # Parameters in memory
    # ------------------------------------------------------------------
    @property
    def _np_dtype(self):
        return np.dtype(self.dtype)

    def _set_params_vector(self, params):
        """Make ``params`` the flat vector and ``coefs_``/``intercepts_``
        views into it."""
        self._params = params
        self.coefs_, self.intercepts_ = self._layout.views(params)
        # The view objects themselves: while coefs_ and intercepts_ still
        # hold exactly these, params is their storage (see _params_vector).
        self._param_views = (list(self.coefs_), list(self.intercepts_))

    def __sklearn_is_fitted__(self):
        """scikit-learn's own test for estimators without this method (some
        attribute ends with "_"), answered at once when ``coefs_`` is set:
        ``check_is_fitted``'s scan of every attribute took a fifth of a
        one-row prediction."""
        attributes = vars(self)
        return "coefs_" in attributes or any(
            v.endswith("_") and not v.startswith("__") for v in attributes)

    def _check_is_fitted(self):
        """``check_is_fitted(self)``, which raises scikit-learn's
        NotFittedError, only when the model is not fitted: its tags lookup
        took 1.4 of a one-row prediction's 9.0 us."""
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)

    def _params_vector(self):
        """The flat parameter vector, rebuilt from ``coefs_`` and
        ``intercepts_`` when those are no longer views into it (assigned by
        the user, or unpickled)."""
        params = getattr(self, "_params", None)
        views = getattr(self, "_param_views", None)
        if (params is not None and views is not None
                and _same_objects(self.coefs_, views[0])
                and _same_objects(self.intercepts_, views[1])):
            return params  # the fast path of every predict
        arrays = self.coefs_ + self.intercepts_
        layout = Layout([c.shape[0] for c in self.coefs_]
                        + [self.coefs_[-1].shape[1]],
                        self._kernel_codes()[0])
        dtype = self.coefs_[0].dtype
        if (params is None or params.dtype != dtype
                or layout.layer_units != self._layout.layer_units
                or layout.hidden_codes != self._layout.hidden_codes
                or not all(np.may_share_memory(a, params) for a in arrays)):
            self._layout = layout
            self._set_params_vector(
                layout.pack(self.coefs_, self.intercepts_, dtype))
        return self._params

    def __getstate__(self):
        # On Python >= 3.11 object.__getstate__ returns the instance's own
        # __dict__: copy it, or pickling would strip the live model.
        state = dict(super().__getstate__())
        # coefs_/intercepts_ carry the values; the flat vector is rebuilt.
        state.pop("_params", None)
        state.pop("_param_views", None)
        return state

    # ------------------------------------------------------------------
    # Initialisation
    # ------------------------------------------------------------------
    def _initialize(self, layer_units, n_samples, dtype, sparse=False):
        """A new network for ``layer_units`` (``[n_features, *hidden,
        n_outputs]``), trained on ``n_samples`` rows of ``dtype`` (``sparse``
        X needs no batch copy): initial weights and the training record."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)

        if not is_classifier(self):
            self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        elif self._label_binarizer.y_type_ == "multiclass":
            self.out_activation_ = "softmax"
        else:
            # binary and multilabel
            self.out_activation_ = "logistic"

        self._layout = Layout(layer_units, self._kernel_codes()[0])
        self._layout.check_memory(self._capacity(n_samples),
                                  np.dtype(dtype).itemsize, sparse)
        self._set_params_vector(init_params(
            self._layout, self.activation, self._random_state, dtype,
            self.init))
        self._best_params = self._params.copy()

        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.validation_loss_curve_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.validation_loss_curve_ = None
                self.best_validation_score_ = None

    # ------------------------------------------------------------------
    # Fitting: what every fit shares (in memory and fastbp.dask)
    # ------------------------------------------------------------------
    def _fit_options(self, validation_data):
        """What every fit checks first, in memory and on Dask: returns
        ``hidden_layer_sizes`` as a list and ``validation_data``'s parts
        (see ``_validation_data_parts``); raises for options that do not
        go together."""
        if self.solver not in _STOCHASTIC_SOLVERS and self.weight_decay > 0:
            raise ValueError(
                "weight_decay is applied by the stochastic solvers ('sgd', "
                f"'adam'), got solver={self.solver!r}; use alpha (an L2 "
                "penalty in the loss) with 'lbfgs'.")
        if self.solver not in _STOCHASTIC_SOLVERS and (
                self.max_grad_norm is not None):
            raise ValueError(
                "max_grad_norm clips the batch gradients of the stochastic "
                f"solvers ('sgd', 'adam'), got solver={self.solver!r}.")
        if isinstance(self.scoring, str) and self.scoring != "loss":
            check_scoring(self, scoring=self.scoring)  # unknown names
        if self.warmup_iter > 0 and self.learning_rate != "cosine":
            raise ValueError(
                "warmup_iter is the linear warm-up of "
                "learning_rate='cosine', got "
                f"learning_rate={self.learning_rate!r}.")
        hidden_layer_sizes = self._hidden_layer_list()
        self._dropout_rates(len(hidden_layer_sizes))
        self._hidden_activations(len(hidden_layer_sizes))
        self._check_loss()
        return (hidden_layer_sizes,
                self._validation_data_parts(validation_data))

    def _dropout_rates(self, n_hidden):
        """``dropout`` as one rate per hidden layer (checked)."""
        rates = self.dropout
        rates = ([rates] * n_hidden if np.ndim(rates) == 0
                 else list(np.ravel(rates)))
        if len(rates) != n_hidden or not all(
                isinstance(r, Real) and 0 <= r < 1 for r in rates):
            raise ValueError(
                "dropout must be a float in [0, 1) or a list of one such "
                f"rate per hidden layer ({n_hidden}), got {self.dropout!r}.")
        if self.solver not in _STOCHASTIC_SOLVERS and any(rates):
            raise ValueError(
                "dropout is applied by the stochastic solvers ('sgd', "
                f"'adam'), got solver={self.solver!r}.")
        return [float(r) for r in rates]

    def _hidden_activations(self, n_hidden):
        """``activation`` as one name per hidden layer (checked)."""
        names = self.activation
        if isinstance(names, str):
            return [names] * n_hidden
        names = list(names)
        if len(names) != n_hidden or not all(
                isinstance(a, str) and a in HIDDEN_CODES for a in names):
            raise ValueError(
                f"activation must be one of {sorted(HIDDEN_CODES)} or a list "
                f"of one such name per hidden layer ({n_hidden}), got "
                f"{self.activation!r}.")
        return names

    def _draw_seed(self):
        """The dropout masks' seed, drawn from the fit's random state only
        when dropout is on (so that other fits make scikit-learn's draws)."""
        if not any(self._dropout_rates(self.n_layers_ - 2)):
            return 0
        return int(self._random_state.randint(np.iinfo(np.int32).max))

    def _dropout(self, seed, row_offset=0):
        """The kernels' :class:`Dropout` for this network (with the key's
        ``t`` to be set before each epoch), or None without dropout."""
        rates = self._dropout_rates(self.n_layers_ - 2)
        if not any(rates):
            return None
        threshold = np.zeros(self.n_layers_ - 1, dtype=np.int64)
        threshold[:-1] = np.round(np.asarray(rates) * 2.0 ** DROPOUT_BITS)
        return Dropout(threshold, np.array([seed, 0, row_offset],
                                           dtype=np.int64))

    def _hidden_layer_list(self):
        """``hidden_layer_sizes`` as a list (an int is one hidden layer)."""
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError(
                "hidden_layer_sizes must be > 0, got %s." % sizes)
        return sizes

    def _validation_data_parts(self, validation_data):
        """``fit``'s ``validation_data`` as ``(X_val, y_val, sw_val)``
        (``sw_val`` None if not given), or None; raises for any other form
        and for a solver that does not use it."""
        if validation_data is None:
            return None
        if (not isinstance(validation_data, (tuple, list))
                or len(validation_data) not in (2, 3)):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or "
                "(X_val, y_val, sample_weight_val), got "
                f"{type(validation_data).__name__}.")
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError(
                "validation_data is only used by the stochastic solvers "
                f"('sgd', 'adam'), got solver={self.solver!r}.")
        X_val, y_val = validation_data[:2]
        sw_val = validation_data[2] if len(validation_data) == 3 else None
        return X_val, y_val, sw_val

    def _begin_training(self, layer_units, n_samples, first_pass, dtype,
                        sparse=False):
        """Draw from ``random_state`` anew and start a new network
        (``first_pass``) or check that the fitted one continues."""
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(layer_units, n_samples, dtype, sparse)
        else:
            self._check_continuation(layer_units, dtype)

    def _fit_tasks(self, X, y, sample_weight, incremental=False):
        """The callback tasks of a fit (``X``, ``y`` as the user gave them):
        one per epoch, or per L-BFGS iteration."""
        if self.solver in _STOCHASTIC_SOLVERS:
            return FitTasks(self, X, y, sample_weight,
                            1 if incremental else self.max_iter, "epoch")
        return FitTasks(self, X, y, sample_weight, self.max_iter + 1,
                        "lbfgs-iter")

    def _end_training(self, tasks):
        """Close the callback tasks; scikit-learn's error if the weights
        are no longer finite."""
        tasks.close(self._snapshot)
        if not np.isfinite(self._params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed.")

    def _prepare_optimizer(self, dtype, incremental=False):
        """The stochastic optimizer of this fit: the fitted one when
        ``incremental`` (partial_fit) and it suits the model, else new."""
        optimizer = getattr(self, "_optimizer", None)
        if (not incremental or optimizer is None or optimizer.dtype != dtype
                or optimizer.state.shape[1] != self._layout.n_params):
            self._optimizer = self._make_optimizer(dtype)
        return self._optimizer

    def _check_validation_size(self, n_samples):
        if n_samples < 2:
            raise ValueError(
                "The validation set is too small. Increase "
                "'validation_fraction' or the size of your dataset.")

    def _run_epochs(self, run_epoch, n_samples, validation, tasks,
                    incremental=False):
        """The epoch loop of every stochastic fit, in memory or on Dask.

        Parameters
        ----------
        run_epoch : callable
            ``run_epoch() -> accumulated_loss``: one epoch over the
            ``n_samples`` training rows with ``self._optimizer``, updating
            ``self._params`` in place; returns the sum over batches of
            batch loss times batch length (scikit-learn's
            ``accumulated_loss``). It may raise to end the fit.
        n_samples : int
            Training rows per epoch.
        validation : object or None
            Rows to score every epoch: ``validation.evaluate(self) ->
            (score, loss)`` of the current model (see
            :class:`_MemoryValidation`). With ``early_stopping`` they decide
            when to stop, and the best weights are kept.
        tasks : FitTasks
            The fit's callback tasks, one per epoch.
        incremental : bool
            partial_fit: one epoch.
        """
        if validation is not None and self.validation_scores_ is None:
            # Recorded on validation_data without early stopping too.
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                tasks.begin(self._snapshot)
                accumulated_loss = run_epoch()
                if self._end_epoch(accumulated_loss, n_samples, tasks,
                                   validation):
                    break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

        if self.early_stopping:
            # restore best weights
            self._params[...] = self._best_params

    def _end_epoch(self, accumulated_loss, n_samples, tasks, validation):
        """scikit-learn's bookkeeping after an epoch; True to stop training.

        Records ``loss_`` (``accumulated_loss / n_samples``), ``n_iter_``,
        ``t_`` and ``loss_curve_``, prints the verbose line, updates the
        no-improvement count from the validation score or the loss, adapts
        the learning rate, and ends the callbacks' epoch task. Stops when a
        callback asks, when the loss and weights are no longer finite (no
        later epoch can recover; scikit-learn runs them all anyway), or
        when the optimizer gives up after ``n_iter_no_change`` epochs
        without improvement.
        """
        optimizer = self._optimizer
        self.n_iter_ += 1
        self.loss_ = accumulated_loss / n_samples
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))

        self._update_no_improvement_count(validation)
        optimizer.iteration_ends(self.t_)
        if tasks.end(self._snapshot):
            return True
        if not np.isfinite(self.loss_) and not np.isfinite(
                self._params).all():
            # Early stopping restores the best weights afterwards;
            # otherwise _end_training raises scikit-learn's non-finite
            # weights error.
            return True

        if self._no_improvement_count > self.n_iter_no_change:
            if self.early_stopping:
                msg = ("Validation score did not improve more than "
                       "tol=%f for %d consecutive epochs."
                       % (self.tol, self.n_iter_no_change))
            else:
                msg = ("Training loss did not improve more than tol=%f"
                       " for %d consecutive epochs."
                       % (self.tol, self.n_iter_no_change))
            if self._trigger_stopping(msg):
                return True
            self._no_improvement_count = 0
        return False

    def _trigger_stopping(self, msg):
        """Whether to stop after ``n_iter_no_change`` epochs without
        improvement (``msg`` says which); the optimizer's answer (SGD's
        'adaptive' learning rate shrinks instead). A trainer that has a
        last resort of its own (``fastbp.dask``'s final phase) overrides
        it."""
        return self._optimizer.trigger_stopping(msg, self.verbose)

    def _update_no_improvement_count(self, validation):
        early_stopping = self.early_stopping
        if validation is not None:
            # compute validation score (can be NaN), use that for stopping
            score, loss = validation.evaluate(self)
            self.validation_scores_.append(score)
            self.validation_loss_curve_.append(loss)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
        if early_stopping:
            last_valid_score = self.validation_scores_[-1]
            if last_valid_score < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
        if validation is not None:
            if self.validation_scores_[-1] > self.best_validation_score_:
                self.best_validation_score_ = self.validation_scores_[-1]
                if early_stopping:
                    self._best_params = self._params.copy()
        if not early_stopping:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _run_lbfgs(self, loss_grad, params, tasks):
        """scipy's L-BFGS-B on ``loss_grad`` from ``params`` (overwritten
        with the solution), in memory or on Dask; each iteration is one
        callback task. Sets ``n_iter_`` and ``loss_``."""
        dtype_params = params.dtype

        def iteration_done(x):
            state = lambda: self._snapshot(x.astype(dtype_params))  # noqa: E731
            stop = tasks.end(state)
            if not stop:  # scipy may still end here: close() ends it empty
                tasks.begin(state)
            return stop

        tasks.begin(self._snapshot)
        self.n_iter_, self.loss_ = minimize_lbfgs(
            loss_grad, params, self.max_iter, self.max_fun, self.tol,
            self.verbose, iteration_done)

    def _check_continuation(self, layer_units, dtype):
        """Before warm-started or partial fits: same shapes, model dtype."""
        params = self._params_vector()
        if self._layout.layer_units != layer_units:
            raise ValueError(
                "The network's layer sizes changed between fits: the fitted "
                f"model has {self._layout.layer_units}, the data and "
                f"hidden_layer_sizes give {layer_units}. Use warm_start=False "
                "to train a new network.")
        if params.dtype != dtype:
            self._set_params_vector(
                self._layout.pack(self.coefs_, self.intercepts_, dtype))

    def _snapshot(self, params=None):
        """Fitted attributes of the model with ``params`` (default: the
        current ones), copied: what a callback's ``fitted_estimator`` needs."""
        params = (self._params if params is None else params).astype(
            self._params.dtype, copy=True)
        coefs, intercepts = self._layout.views(params)
        return {"_params": params, "coefs_": coefs, "intercepts_": intercepts}

    def _score_outputs(self, scorer, output, y, sample_weight):
        """``scorer``'s value for the rows whose output activations are
        ``output``, for a scorer that reads the rows' predictions only
        (``reads_predictions_only``): it passes X (None here) to the
        prediction methods of :class:`_Outputs` alone."""
        return float(scorer(_Outputs.of(self, output), None, y,
                            sample_weight=sample_weight))

    def _validation_score(self, X, y, sample_weight, loss):
        """The validation score ``scoring`` asks for, given the rows and
        their mean ``loss``: ``score`` (None), the negative loss ("loss"),
        or a scikit-learn scorer's value."""
        if self.scoring is None:
            return self._score(X, y, sample_weight=sample_weight)
        if self.scoring == "loss":
            return -loss
        scorer = check_scoring(self, scoring=self.scoring)
        return float(scorer(self, X, y, sample_weight=sample_weight))

    def _loss_name(self):
        """The training loss's name in scikit-learn's ``LOSS_FUNCTIONS``."""
        if self.loss == "log_loss" and self.out_activation_ == "logistic":
            return "binary_log_loss"
        return self.loss

    def _validation_loss(self, X_val, Y_val, sw_val):
        """Mean (sample-weighted) loss on validation data, without the L2
        penalty: the data term of the training objective."""
        output = self._forward_pass_fast(X_val, check_input=False)
        return self._data_loss(Y_val, output, sw_val)

    def _data_loss(self, Y, P, sample_weight):
        """Mean (sample-weighted) loss of outputs ``P`` for encoded targets
        ``Y`` (true labels, never smoothed), as the training loss is scaled
        but without its L2 term."""
        return float(LOSS_FUNCTIONS[self._loss_name()](Y, P, sample_weight))

    def _batch_size(self, n_samples):
        """The mini-batch size for ``n_samples`` samples, with
        scikit-learn's warning when ``batch_size`` is clipped."""
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than "
                "sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n_samples))

    def _capacity(self, n_samples):
        """Samples per compiled call: the batch, or L-BFGS's block."""
        if self.solver == "lbfgs":
            return min(_LBFGS_BLOCK, n_samples)
        if self.batch_size == "auto":
            return min(200, n_samples)
        return int(np.clip(self.batch_size, 1, n_samples))

    def _kernel_codes(self):
        """The hidden layers' activation codes (a tuple, one per layer) and
        the output code. The output code names the output activation and
        the loss: an identity output trained on Huber, absolute or pinball
        loss gets that loss's code, which predicts as the identity does."""
        hidden = tuple(HIDDEN_CODES[a]
                       for a in self._hidden_activations(self.n_layers_ - 2))
        out = OUTPUT_CODES[self.out_activation_]
        if self.out_activation_ == "identity":
            out = LOSS_CODES.get(self.loss, out)
        return hidden, out

    def _loss_param(self, dtype):
        """The loss's scalar parameter the kernels take (``loss_param``):
        here the eps the log-losses clip probabilities with."""
        return float(np.finfo(dtype).eps)

    def _check_loss(self):
        """Raise if the loss options do not go together (before a fit)."""

    def _training_targets(self, Y):
        """The targets training fits for the encoded targets ``Y``: Y
        itself here."""
        return Y

    def _make_optimizer(self, dtype):
        n_params = self._layout.n_params
        cosine = ((self.warmup_iter, self.max_iter)
                  if self.learning_rate == "cosine" else None)
        if self.solver == "sgd":
            return SGDOptimizer(n_params, dtype, self.learning_rate_init,
                                self.learning_rate, self.momentum,
                                self.nesterovs_momentum, self.power_t,
                                cosine, self.weight_decay,
                                self.max_grad_norm)
        return AdamOptimizer(n_params, dtype, self.learning_rate_init,
                             self.beta_1, self.beta_2, self.epsilon, cosine,
                             self.weight_decay, self.max_grad_norm)

    # ------------------------------------------------------------------
    # Fitting in memory
    # ------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False,
             validation_data=None):
        X_user, y_user = X, y
        hidden_layer_sizes, validation_data = self._fit_options(
            validation_data)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental)

        # partial_fit on a fitted model leaves dense X's test for NaN and
        # infinity to the epoch (see _Rollback), unless callbacks would see
        # an epoch begin before the error.
        defer_finite = (incremental and not first_pass
                        and self.solver in _STOCHASTIC_SOLVERS
                        and not callbacks_active(self))
        X, y = self._validate_input(X, y, incremental, reset=first_pass,
                                    defer_finite=defer_finite)
        defer_finite = (defer_finite and not issparse(X)
                        and not get_config()["assume_finite"])
        dtype = self._np_dtype
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X, dtype=dtype)
        sample_weight = self._weight_classes(y, sample_weight, incremental)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        layer_units = ([X.shape[1]]
                       + [_layer_size(size) for size in hidden_layer_sizes]
                       + [y.shape[1]])
        self._begin_training(layer_units, X.shape[0], first_pass, dtype,
                             issparse(X))

        validation = None
        if validation_data is not None:
            validation = self._memory_validation(*validation_data, dtype)
        Y = _numeric_targets(y, dtype)
        tasks = self._fit_tasks(X_user, y_user, sample_weight, incremental)
        with compiled_section(), fit_threads():
            if self.solver in _STOCHASTIC_SOLVERS:
                self._fit_stochastic(X, Y, sample_weight, incremental,
                                     validation, tasks, defer_finite)
            else:
                self._fit_lbfgs(X, Y, sample_weight, tasks)
        self._end_training(tasks)
        return self

    def _weight_classes(self, y, sample_weight, incremental):
        """Sample weights times class weights (classifier only)."""
        return sample_weight

    def _memory_validation(self, X_val, y_val, sw_val, dtype):
        """``fit``'s validation data, checked like training data and left
        in its own type and order (see ``_MemoryValidation``)."""
        X_val = self._check_validation_X(X_val, dtype)
        if issparse(X_val):
            X_val = X_val.tocsr()
        y_val, Y_val = self._encode_validation_targets(y_val, X_val)
        if sw_val is not None:
            sw_val = check_sample_weight(sw_val, X_val, dtype=dtype)
        return _MemoryValidation(X_val, None, y_val, sw_val,
                                 np.ascontiguousarray(Y_val, dtype=dtype))

    def _check_validation_X(self, X, dtype):
        """``_check_X`` for validation rows, without the conversion to
        ``dtype`` for the types training reads in place."""
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"],
                          dtype=[dtype, *GATHERED_DTYPES],
                          ensure_all_finite=False)
        _refuse_objects(self, X)
        if issparse(X):
            X = X.astype(dtype, copy=False)
        if not get_config()["assume_finite"]:
            _check_finite(self, X, dtype)
        return X

    def _split_validation(self, X, Y, sample_weight):
        """scikit-learn's early-stopping split (the same draws), as row
        numbers: training ``rows``, ``Y``, ``sample_weight`` and the
        held-out :class:`_MemoryValidation` (stratified but for multilabel
        and regression targets).

        X is not copied: training reads its rows through ``rows`` and
        validation through its own.
        """
        should_stratify = is_classifier(self) and self.n_outputs_ == 1
        # Y's one column, not Y: the split's draws depend on its classes'
        # order and each row's class alone, which are the same (False <
        # True), but of a 2-D Y train_test_split makes a string per row
        # (5 MiB for 80,000 rows, the largest allocation of such a fit).
        stratify = Y[:, 0] if should_stratify else None
        # train_test_split's draws depend on the number of rows and on
        # ``stratify`` only: the split of X's row numbers is the split of X.
        train, val = train_test_split(
            np.arange(X.shape[0], dtype=np.int64),
            random_state=self._random_state,
            test_size=self.validation_fraction, stratify=stratify)
        self._check_validation_size(val.shape[0])
        # The held-out targets of the model's dtype (the validation loss's
        # arithmetic); the training ones are read in their own type.
        Y_train = Y[train]
        Y_val = np.ascontiguousarray(Y[val], dtype=self._np_dtype)
        sw_train = sw_val = None
        if sample_weight is not None:
            sw_train, sw_val = sample_weight[train], sample_weight[val]
        if is_classifier(self):
            y_val = self._label_binarizer.inverse_transform(Y_val)
        else:
            y_val = Y_val.ravel() if Y_val.shape[1] == 1 else Y_val
        validation = _MemoryValidation(X, val, y_val, sw_val, Y_val)
        return train, Y_train, sw_train, validation

    def _fit_lbfgs(self, X, Y, sample_weight, tasks):
        _refuse_strings(Y)
        dtype = self._np_dtype
        params = self._params
        workspace = Workspace(self._layout, min(_LBFGS_BLOCK, X.shape[0]),
                              dtype, sparse=issparse(X), full_batch=True)
        sw = weights_or_empty(sample_weight, dtype)
        _, out = self._kernel_codes()
        loss_grad = full_batch_loss_grad(
            training_data(X, dtype), self._training_targets(Y), sw, params,
            workspace, out, dtype.type(self.alpha), self._loss_param(dtype))
        self._run_lbfgs(loss_grad, params, tasks)

    def _fit_stochastic(self, X, Y, sample_weight, incremental, validation,
                        tasks, defer_finite=False):
        """Epochs of SGD or Adam on X in memory: the compiled epoch, one
        call per epoch, driven by ``_run_epochs``.

        With ``defer_finite`` (partial_fit, dense X not yet tested for NaN
        and infinity) the epoch tests X as it gathers the batches' rows, and
        a non-finite loss leads to :class:`_Rollback`.
        """
        dtype = self._np_dtype
        optimizer = self._prepare_optimizer(dtype, incremental)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        rows = None
        if validation is None and self.early_stopping:
            rows, Y_train, sw_train, validation = self._split_validation(
                X, Y, sample_weight)
        else:
            Y_train, sw_train = Y, sample_weight
        _refuse_strings(Y_train)
        # After the split: validation keeps the true targets.
        Y_train = self._training_targets(Y_train)

        n_samples = Y_train.shape[0]
        batch_size = self._batch_size(n_samples)
        workspace = Workspace(self._layout, batch_size, dtype,
                              sparse=issparse(X))
        X_kernel = training_data(X, dtype, rows)
        Y_kernel = training_data(Y_train, dtype)
        sw = weights_or_empty(sw_train, dtype)
        _, out = self._kernel_codes()
        alpha = dtype.type(self.alpha)
        loss_param = self._loss_param(dtype)
        params = self._params
        rollback = _Rollback(self, X) if defer_finite else None
        order = np.arange(n_samples, dtype=np.int64)
        dropout = self._dropout(self._draw_seed())

        def run_epoch():
            nonlocal order
            if self.shuffle:
                order = _shuffled(order, self._random_state)
            if dropout is not None:
                dropout.key[1] = self.t_  # this epoch's masks
            accumulated_loss = _run_epoch(
                X_kernel, Y_kernel, sw, order, batch_size, params,
                workspace.table, out, alpha, loss_param,
                optimizer.kernel_state(), workspace.buffers(), dropout)
            if rollback is not None and not np.isfinite(accumulated_loss):
                rollback.if_not_finite(self)
            return accumulated_loss

        self._run_epochs(run_epoch, n_samples, validation, tasks,
                         incremental)

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers
            in regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        validation_data : tuple (X_val, y_val) or (X_val, y_val, \
                sample_weight_val), default=None
            fastbp only, stochastic solvers only. A validation set used
            instead of the internal ``validation_fraction`` split: with
            ``early_stopping=True`` training stops on its score and keeps
            the best weights; in any case ``validation_scores_`` and
            ``validation_loss_curve_`` are recorded on it every epoch.
            Inside a ``Pipeline`` it reaches the final step untransformed,
            so pass data the final estimator can take.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False,
                         validation_data=validation_data)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                " optimizers. %s is not stochastic." % self.solver)
        return True

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _check_X(self, X):
        """X validated as scikit-learn's ``validate_data`` does.

        X that ``_validated_but_finite`` accepts and whose values are
        finite is returned as it is, after those checks alone, which cost
        about a microsecond against validate_data's ~45 us on one row; any
        other input and any failed check take ``validate_data``, with its
        errors and warnings.
        """
        config = get_config()
        if self._validated_but_finite(X, config) and (
                config["assume_finite"] or np.isfinite(X.sum())):
            return X
        return self._validate_X(X)

    def _validated_but_finite(self, X, config):
        """Whether ``validate_data`` would return X unchanged if its values
        are finite: a C-contiguous 2-D ndarray of the model's dtype with the
        fitted number of features, for a model not fitted on a DataFrame,
        without array-API dispatch (``config``: scikit-learn's
        ``get_config()``)."""
        return (type(X) is np.ndarray and X.ndim == 2
                and X.dtype == self._fitted_dtype and X.flags.c_contiguous
                and X.shape[0] > 0
                and X.shape[1] == getattr(self, "n_features_in_", None)
                and not hasattr(self, "feature_names_in_")
                and not config["array_api_dispatch"])

    def _validate_X(self, X):
        """X checked as scikit-learn's MLP checks it for prediction, then
        converted to the model's dtype, C-ordered, and tested for NaN and
        infinity (values beyond float32's range become infinities).

        ``validate_data``'s default ``dtype="numeric"`` refuses arrays of
        strings, which a conversion to the model's dtype would parse, and
        leaves a list holding other objects than numbers (such as None) an
        array of objects, whose product with the weights fails in
        scikit-learn with a TypeError.
        """
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"],
                          ensure_all_finite=False)
        _refuse_objects(self, X)
        dtype = self._fitted_dtype
        X = (X.astype(dtype, copy=False) if issparse(X)
             else np.ascontiguousarray(X, dtype=dtype))
        if not get_config()["assume_finite"]:
            _check_finite(self, X)
        return X

    def _validate_training_data(self, X, y, reset, defer_finite=False,
                                **kwargs):
        """``validate_data(self, X, y, ...)`` for fit and partial_fit,
        leaving dense X in its own type and memory order, with a cheaper
        test that X is finite.

        Dense X of a type the epoch gathers (``_network.GATHERED_DTYPES``:
        float32, float64, uint8, bool, int64) is not converted: the
        epoch converts each batch's rows to the model's dtype as it gathers
        them. X of any other type, and sparse X, are converted to the
        model's dtype here, as scikit-learn converts them.

        scikit-learn tests ``np.isfinite(np.sum(X))``, a pairwise sum: 10 ms
        of every ``partial_fit`` on a 60000 x 784 float32 X, one epoch
        of which takes 80 ms. Column sums are finite exactly when the sum
        is (NaN and infinities propagate; only an overflow of finite
        values gives a false alarm) and stream through memory in 6 ms.
        When they are not finite, scikit-learn's own check runs, with its
        error. X of another float type is tested as it converts, in blocks
        (``_check_finite``). With ``defer_finite``, dense X is not tested
        here: the epoch tests it (see ``_Rollback``).

        scikit-learn refuses X before it records ``n_features_in_``: when
        X is not finite, ``n_features_in_`` is left as it was (absent
        before a first fit, so the model is still not fitted).
        """
        n_features_before = vars(self).get("n_features_in_")
        dtype = self._np_dtype
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"],
                             multi_output=True,
                             dtype=[dtype, *GATHERED_DTYPES], order=None,
                             reset=reset, ensure_all_finite=False, **kwargs)
        if issparse(X) and X.dtype not in SPARSE_VALUE_DTYPES:
            # Stored values of float32 and float64 are read in place.
            X = X.astype(dtype)
        if not get_config()["assume_finite"] and (
                issparse(X) or not defer_finite):
            try:
                _check_finite(self, X, dtype)
            except ValueError:
                if n_features_before is None:
                    del self.n_features_in_
                else:
                    self.n_features_in_ = n_features_before
                raise
        return X, y

    @property
    def _fitted_dtype(self):
        return self.coefs_[0].dtype

    def _forward_pass_fast(self, X, check_input=True):
        """Output activations for X, in bounded memory.

        Beyond the result, prediction needs a fixed scratch for hidden
        activations (``_kernels/predict.py``); sparse X is read as CSR
        arrays (int32 indices), never densified.
        """
        # Dense X that needs no conversion is checked for NaN and infinity
        # by the prediction kernel, block by block while in cache, instead
        # of in a pass of its own.
        check_finite = False
        if check_input:
            config = get_config()
            if self._validated_but_finite(X, config):
                check_finite = not config["assume_finite"]
            else:
                X = self._validate_X(X)
        params = self._params_vector()
        dtype = params.dtype
        if issparse(X):
            X_kernel = kernel_input(X, dtype)
        else:
            X = np.ascontiguousarray(X, dtype=dtype)
            X_kernel = dense_kernel_input(X)
        n_samples = X.shape[0]
        layout = self._layout
        if X.shape[1] != layout.layer_units[0]:
            # n_features_in_ is set by validation, also of data a fit then
            # refused (a wrong sample_weight, say): the kernel would read
            # past X's rows.
            raise ValueError(
                f"X has {X.shape[1]} features, but the network's input "
                f"layer has {layout.layer_units[0]}.")
        # Less than a block: no aligned buffers, whose set-up would cost
        # more than the products.
        empty = np.empty if n_samples < PREDICT_BLOCK else aligned_empty
        scratch = PREDICT_SLOTS * min(PREDICT_BLOCK, max(n_samples, 1)) \
            * layout.max_hidden_width
        buf_a = empty(scratch, dtype)
        buf_b = empty(scratch, dtype)
        # The network's width, which n_outputs_ is not after a partial_fit
        # refused targets of another width.
        result = np.empty((n_samples, layout.layer_units[-1]), dtype=dtype)
        # The hidden layers' codes are in the layout's table.
        _, out = self._kernel_codes()
        # One block runs serially in the kernel: no thread count to set (a
        # few microseconds of a one-row prediction).
        # Nor a lock against concurrent parallel regions (compiled_section).
        args = (X_kernel, params, layout.table_for_one, out, buf_a, buf_b,
                result, check_finite)
        if n_samples > PREDICT_BLOCK:
            with compiled_section(), fit_threads() as n_threads:
                # Many rows per thread: the weights packed once for all
                # their products.
                packed = None
                if n_samples >= PREDICT_PACK_ROWS_PER_THREAD * n_threads:
                    packed = aligned_empty(packed_size(
                        layout.table_for_one, dtype, issparse(X)), dtype)
                finite = _predict_rows(*args, packed=packed)
        else:
            prepare_threading()
            finite = _predict_rows(*args)
        if not finite:
            # NaN or infinity (or a sum of large values overflowed):
            # validate_data raises scikit-learn's error, if it is one.
            self._validate_X(X)
        return result

    def _forward_blocks(self, X, rows=None):
        """Output activations of rows ``rows`` of X (all of X if None), as
        ``_forward_pass_fast`` gives them for those rows converted to the
        model's dtype, computed in blocks of rows, each taken from X and
        converted on its own: the scratch is a block, whatever the rows.

        Blocks are whole multiples of prediction's own blocks
        (``PREDICT_BLOCK``), so every row passes through the same products
        as in one call over all the rows, to the same values.
        """
        n_rows = X.shape[0] if rows is None else rows.shape[0]
        dtype = self._fitted_dtype
        output = np.empty((n_rows, self._layout.layer_units[-1]), dtype=dtype)
        step = _block_rows(X, PREDICT_BLOCK)
        for r0 in range(0, n_rows, step):
            part = (X[r0:r0 + step] if rows is None
                    else X[rows[r0:r0 + step]])
            part = (part.astype(dtype, copy=False) if issparse(part)
                    else np.ascontiguousarray(part, dtype=dtype))
            output[r0:r0 + step] = self._forward_pass_fast(part,
                                                           check_input=False)
            del part  # before the next block's rows are taken
        return output

    def _score_with_function(self, X, y, sample_weight, score_function):
        """Private score method without input validation."""
        return _score_predictions(self._predict(X, check_input=False), y,
                                  sample_weight, score_function)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _score_predictions(y_pred, y, sample_weight, score_function):
    """``score_function``'s score of the predictions ``y_pred`` (NaN if
    they are floats that are not all finite)."""
    if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
        return np.nan
    return score_function(y, y_pred, sample_weight=sample_weight)


def _same_objects(arrays, expected):
    """Whether the list ``arrays`` holds exactly the objects ``expected``."""
    return (type(arrays) is list and len(arrays) == len(expected)
            and all(map(operator.is_, arrays, expected)))


_SHARED_PARAMS_DOC = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', \
'elu', 'gelu', 'silu', 'softplus'} or list of str, default='relu'
        Activation function of the hidden layers: f(x) = x,
        1 / (1 + exp(-x)), tanh(x), max(0, x), and (fastbp only) leaky
        relu (x if x > 0 else 0.01 x), elu (x if x > 0 else exp(x) - 1),
        gelu (x Phi(x), the exact form with erf), silu (x / (1 + exp(-x)))
        or softplus (log(1 + exp(x))). A list gives one name per hidden
        layer (fastbp only).

    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        The weight optimizer: scipy's L-BFGS-B on the full-batch loss,
        stochastic gradient descent, or Adam.

    alpha : float, default=0.0001
        Strength of the L2 regularization term, divided by the sample size
        (weight sum) when added to the loss.

    batch_size : int, default='auto'
        Size of minibatches for the stochastic solvers; 'auto' means
        ``min(200, n_samples)``. Not used by 'lbfgs'.

    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine'}, \
            default='constant'
        Learning rate schedule of 'sgd': constant; ``learning_rate_init /
        pow(t, power_t)`` with t the number of samples seen; or divided by 5
        each time two consecutive epochs fail to improve by ``tol``.
        'cosine' (fastbp only, 'sgd' and 'adam'): Keras' ``CosineDecay``
        counted in epochs, from ``learning_rate_init`` down to 0 at
        ``max_iter`` epochs, after ``warmup_iter`` epochs of linear warm-up
        (epoch e < warmup_iter runs at ``learning_rate_init * (e + 1) /
        warmup_iter``). Under 'adam' it scales Adam's step size.

    learning_rate_init : float, default=0.001
        The initial learning rate of 'sgd' and 'adam'.

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations
        ('lbfgs').

    shuffle : bool, default=True
        Whether to shuffle samples in each epoch (stochastic solvers).

    random_state : int, RandomState instance or None, default=None
        Random numbers for weight initialisation, the early-stopping split
        and the shuffling; the same draws as scikit-learn's MLP.

    tol : float, default=1e-4
        Training stops when the loss (or validation score) has not improved
        by at least ``tol`` for ``n_iter_no_change`` consecutive epochs.

    verbose : bool, default=False
        Whether to print progress messages to stdout.

    warm_start : bool, default=False
        Reuse the previous solution as initialisation of the next ``fit``.

    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].

    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.

    early_stopping : bool, default=False
        Set aside ``validation_fraction`` of the training data and stop when
        the validation score stops improving; the best weights are kept.

    validation_fraction : float, default=0.1
        Fraction of the training data used for early stopping.

    beta_1 : float, default=0.9
        Decay rate of Adam's first moment estimates, in [0, 1).

    beta_2 : float, default=0.999
        Decay rate of Adam's second moment estimates, in [0, 1).

    epsilon : float, default=1e-8
        Adam's numerical-stability constant.

    n_iter_no_change : int, default=10
        Number of epochs without ``tol`` improvement before stopping.

    max_fun : int, default=15000
        Maximum number of loss evaluations of 'lbfgs'.

    dtype : {'float32', 'float64'}, default='float32'
        fastbp only. Floating-point type of the weights and of all
        computation. float32 is about twice as fast; float64 reproduces
        scikit-learn's fitted weights for the same ``random_state``.

    scoring : str, callable or None, default=None
        fastbp only; stochastic solvers. What ``validation_scores_`` records
        and early stopping maximises on the validation data: None, the
        estimator's ``score`` (accuracy or R^2, as scikit-learn); "loss",
        the negative validation loss (as ``HistGradientBoosting*``'s
        ``scoring="loss"``); or a scikit-learn scorer name or callable
        ``scorer(estimator, X, y, sample_weight=...)``. A scorer name's or
        ``make_scorer``'s scorer is given the validation rows' predictions,
        computed in blocks; any other callable is given the rows as an
        array (with ``early_stopping``, copied out of X once, in the
        model's dtype).

    init : {'auto', 'glorot_uniform', 'glorot_normal', 'he_uniform', \
            'he_normal', 'lecun_normal'}, default='auto'
        fastbp only. Initial weights: 'auto' draws them as scikit-learn
        does (Glorot-uniform, with a smaller range for 'logistic', and
        intercepts drawn the same way); the named schemes follow Keras' and
        PyTorch's definitions (normal ones untruncated) with zero
        intercepts.

    warmup_iter : int, default=0
        fastbp only. Epochs of linear warm-up of ``learning_rate='cosine'``
        (only with it).

    weight_decay : float, default=0.0
        fastbp only; stochastic solvers. Decoupled weight decay, as AdamW /
        SGDW: every step multiplies the coefficients (not the intercepts)
        by ``1 - lr * weight_decay``, lr the epoch's learning rate
        (``learning_rate_init`` for 'adam' unless 'cosine' schedules it).
        Unlike ``alpha`` it is not part of the loss.

    dropout : float or list of float, default=0.0
        fastbp only; stochastic solvers. Inverted dropout of hidden units
        while training: each unit of a hidden layer is zeroed with this
        probability (one rate for all hidden layers, or a list with one per
        hidden layer, each in [0, 1)) and the kept ones are scaled by
        ``1 / (1 - rate)``; prediction uses every unit. The masks are a
        hash of (``random_state``, epoch, training row, unit), so results
        do not depend on the number of threads or Dask workers.
        ``loss_curve_`` is the training loss with the units dropped.

    max_grad_norm : float > 0, default=None
        fastbp only; stochastic solvers. Clips each batch's gradient, as
        ``torch.nn.utils.clip_grad_norm_``: the gradient of all coefficients
        and intercepts together, the ``alpha`` term included (it is part of
        the loss), is scaled by ``c = max_grad_norm / (norm + 1e-6)`` when
        ``c < 1``, norm being its L2 norm; the update (and Adam's moments)
        then take the clipped gradient. None: no clipping. ``loss_curve_``
        is unchanged by it (the loss is taken before the step).
"""

_SHARED_ATTRS_DOC = """
    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        The minimum loss reached (None with early stopping).

    loss_curve_ : list of shape (`n_iter_`,)
        The loss at the end of each training epoch.

    validation_scores_ : list of shape (`n_iter_`,) or None
        Validation scores per epoch when ``early_stopping=True`` or
        ``validation_data`` is given.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        fastbp only. The loss on the validation data at the end of each
        epoch, when ``validation_scores_`` is recorded: the mean
        (sample-weighted) loss of the training objective without its L2
        penalty.

    best_validation_score_ : float or None
        The best validation score when ``validation_scores_`` is recorded.

    t_ : int
        The number of training samples seen by the solver.

    coefs_ : list of shape (n_layers - 1,)
        The ith element is the (fan_in, fan_out) weight matrix of layer i.

    intercepts_ : list of shape (n_layers - 1,)
        The ith element is the bias vector of layer i + 1.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    n_iter_ : int
        The number of iterations the solver has run.

    n_layers_ : int
        Number of layers.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation function.
"""


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    __doc__ = """Multi-layer Perceptron classifier, trained by compiled backpropagation.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`
    with the same parameters, attributes and behaviour, plus ``dtype``. The
    log-loss is minimised with L-BFGS, SGD or Adam.

    Parameters
    ----------""" + _SHARED_PARAMS_DOC + """
    class_weight : dict, 'balanced' or None, default=None
        fastbp only. Weights of the classes, multiplied into
        ``sample_weight``: ``{label: weight}``, or 'balanced' for
        ``n_samples / (n_classes * np.bincount(y))``, as
        :func:`sklearn.utils.class_weight.compute_sample_weight` computes
        them (for multilabel targets, a list of dicts, one per label).
        'balanced' is not available in ``partial_fit``, which sees one
        batch at a time; pass a dict computed on the whole training set.

    label_smoothing : float in [0, 1), default=0.0
        fastbp only. Training fits the soft targets ``(1 - e) y + e / K``
        instead of the 0/1 indicators y, e = ``label_smoothing``, as
        PyTorch's and Keras's cross-entropy do: K is the number of classes
        for a multiclass (softmax) output and 2 for a binary or multilabel
        (logistic) one, whose each output is a two-class problem. The
        log-loss is the full cross-entropy ``-sum_k y_k log p_k`` of the
        soft targets, so ``loss_`` and ``loss_curve_`` include their
        entropy and do not reach 0. Validation scores and
        ``validation_loss_curve_`` are computed on the true labels. The
        fitted model is a plain MLP; 0 trains exactly as without it.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels for each output.
""" + _SHARED_ATTRS_DOC + """
    Examples
    --------
    >>> from fastbp import MLPClassifier
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(random_state=0, max_iter=50).fit(X / 16, y)
    >>> clf.predict(X[:3] / 16)
    array([0, 1, 2])
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, dtype="float32", scoring=None,
                 init="auto", warmup_iter=0, weight_decay=0.0, dropout=0.0,
                 max_grad_norm=None, label_smoothing=0.0):
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, loss="log_loss", shuffle=shuffle,
            random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            scoring=scoring, init=init, warmup_iter=warmup_iter,
            weight_decay=weight_decay, dropout=dropout,
            max_grad_norm=max_grad_norm)

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def _training_targets(self, Y):
        """Y, or with ``label_smoothing`` its soft targets of the model's
        dtype (``Y``: the encoded training targets, 0/1 indicators)."""
        if self.label_smoothing == 0:
            return Y
        n_classes = 2 if self.out_activation_ == "logistic" else Y.shape[1]
        return smoothed_labels(Y, self.label_smoothing, n_classes,
                               self._np_dtype)

    def _weight_classes(self, Y, sample_weight, incremental):
        """``sample_weight`` times the weight of each sample's class.

        ``Y`` is the label-binarized target. Follows
        ``sklearn.utils.class_weight.compute_sample_weight``; for multilabel
        targets each label column is an output with classes {0, 1}.
        """
        if self.class_weight is None:
            return sample_weight
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: "
                "one call sees one batch, not the class frequencies of the "
                "whole training set. Compute the weights once with "
                "sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y) on (a large enough sample of) the "
                "training targets and pass them as a dict.")
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            labels = Y.astype(np.int64)
        elif self._label_binarizer.y_type_ == "multiclass":
            labels = self.classes_[Y.argmax(axis=1)]
        else:
            labels = self.classes_[Y[:, 0].astype(np.int64)] if Y.ndim == 2 \
                else self.classes_[Y.astype(np.int64)]
        weights = compute_sample_weight(self.class_weight, labels)
        if sample_weight is not None:
            weights = weights * sample_weight
        return weights.astype(self._np_dtype)

    def _encode_validation_targets(self, y, X):
        y = check_array(y, ensure_2d=False, dtype=None)
        check_consistent_length(X, y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        classes = unique_labels(y)
        if self._label_binarizer.y_type_ != "multilabel-indicator":
            unseen = np.setdiff1d(classes, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"validation_data has classes {unseen} not in "
                    f"`self.classes_` {self.classes_}.")
        return y, self._label_binarizer.transform(y)

    def _validate_input(self, X, y, incremental, reset, defer_finite=False):
        X, y = self._validate_training_data(X, y, reset, defer_finite)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)

        # incremental warm_start classes_ defined -> action: see
        # scikit-learn's MLPClassifier._validate_input.
        fresh = not hasattr(self, "classes_") or (
            not self.warm_start and not incremental)
        if fresh:
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        Y = self._binarize_known(y)
        # A fast-path encoding proves every label is one of classes_, which
        # is all partial_fit checks; warm_start also needs every class.
        if not fresh and (self.warm_start or Y is None):
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        if Y is None:
            Y = self._label_binarizer.transform(y).astype(bool)
        return X, Y

    def _binarize_known(self, y):
        """``self._label_binarizer.transform(y).astype(bool)`` for integer
        labels that are all in ``classes_``; None otherwise.

        The same one-hot (or, for two classes, one-column) matrix as
        LabelBinarizer's, without its per-call target-type checks and sparse
        intermediate, which took most of a ``partial_fit`` epoch on small
        data (60000 labels: 5.1 ms vs 1.3 ms). Any other labels (strings,
        floats, multilabel, unknown classes) return None and take
        LabelBinarizer's path, with its errors.
        """
        lb = self._label_binarizer
        classes = lb.classes_
        if not (y.ndim == 1 and y.dtype.kind in "iu"
                and classes.dtype.kind in "iu" and len(classes) >= 2
                and lb.y_type_ in ("binary", "multiclass")):
            return None
        k = len(classes)
        if classes[0] == 0 and classes[-1] == k - 1:
            # Classes 0..k-1 (sorted and unique): a label is its own column,
            # and its range replaces the search (60000 labels: 0.01
            # against 1.2 ms).
            if y.size and (y.min() < 0 or y.max() > k - 1):
                return None
            pos = y
        else:
            pos = np.searchsorted(classes, y)
            np.minimum(pos, k - 1, out=pos)
            if not np.array_equal(classes[pos], y):
                return None
        if k == 2:
            return (pos == 1).reshape(-1, 1)
        Y = np.zeros((len(y), k), dtype=bool)
        Y[np.arange(len(y)), pos] = True
        return Y

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._predictions(
            self._forward_pass_fast(X, check_input=check_input))

    def _predictions(self, output):
        """Predicted classes from the output activations."""
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._decode(output)

    def _decode(self, y_pred):
        """``self._label_binarizer.inverse_transform(y_pred)``, computed as
        it does for dense numpy output without its checks and dispatch
        (22 us of a one-row ``predict``, 2.2 ms for 90,000 rows of 10
        classes); anything else goes to ``inverse_transform`` itself."""
        binarizer = self._label_binarizer
        if (binarizer.sparse_input_ or type(y_pred) is not np.ndarray
                or get_config()["array_api_dispatch"]):
            return binarizer.inverse_transform(y_pred)
        classes = binarizer.classes_
        if binarizer.y_type_ == "multiclass":
            return classes[np.clip(y_pred.argmax(axis=1), 0,
                                   classes.shape[0] - 1)]
        threshold = (binarizer.pos_label + binarizer.neg_label) / 2.0
        indicator = np.asarray(y_pred > threshold, dtype=np.intp)
        if binarizer.y_type_ == "multilabel-indicator":
            return indicator
        if binarizer.y_type_ == "binary" and indicator.ndim == 1:
            if classes.shape[0] == 1:
                return np.repeat(classes[0], len(indicator))
            return classes[indicator]
        return binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    def _score_output(self, output, y, sample_weight=None):
        """``_score`` of the rows whose output activations are ``output``."""
        return _score_predictions(self._predictions(output), y,
                                  sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first
            call, ignored afterwards.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        if check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_log_proba(self, X):
        """Return the log of probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            The predicted log-probability of each class, in the order of
            ``classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            The predicted probability of each class, in the order of
            ``classes_``.
        """
        self._check_is_fitted()
        return self._probabilities(self._forward_pass_fast(X))

    def _probabilities(self, output):
        """Class probabilities from the output activations."""
        if self.n_outputs_ == 1:
            output = output.ravel()
        if output.ndim == 1:
            return np.vstack([1 - output, output]).T
        return output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    __doc__ = """Multi-layer Perceptron regressor, trained by compiled backpropagation.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`
    with the same parameters, attributes and behaviour, plus ``dtype``.

    Parameters
    ----------
    loss : {'squared_error', 'poisson', 'huber', 'absolute_error', \
'quantile'}, default='squared_error'
        Half squared error with an identity output, or half Poisson deviance
        with an exponential output. fastbp adds three losses with an
        identity output (``out_activation_`` is 'identity' and prediction is
        unchanged; only training differs): 'huber', PyTorch's
        ``HuberLoss(delta=huber_delta)``, ``0.5 r^2`` where ``|r| <=
        delta`` and ``delta (|r| - 0.5 delta)`` beyond, r = prediction -
        target; 'absolute_error', ``|r|``; 'quantile', the pinball loss of
        ``quantile`` q, ``q (y - p)`` where ``y >= p`` and ``(1 - q) (p -
        y)`` where ``y < p``, whose minimiser is the q-quantile of y given X
        (scikit-learn's ``HistGradientBoostingRegressor(loss='quantile')``
        and ``mean_pinball_loss``). ``loss_`` and ``loss_curve_`` are their
        sample-weighted mean over samples and outputs (no factor 0.5: Huber
        equals the half squared error for residuals within delta) plus the
        L2 term. As for the squared error, the gradient back-propagated is
        that of the loss summed over the outputs. 'absolute_error' and
        'quantile' are not differentiable where r = 0 (the gradient taken
        there is 0) and work with the stochastic solvers only: 'lbfgs'
        raises a ValueError for them.
""" + _SHARED_PARAMS_DOC + """
    huber_delta : float > 0, default=1.0
        fastbp only. The threshold of ``loss='huber'`` between its quadratic
        and linear parts, in the units of the targets; not used by the
        other losses.

    quantile : float in (0, 1), default=None
        fastbp only. The quantile ``loss='quantile'`` estimates; required
        for it (a ValueError if None), not used by the other losses.

    Attributes
    ----------""" + _SHARED_ATTRS_DOC + """
    Examples
    --------
    >>> from fastbp import MLPRegressor
    >>> from sklearn.datasets import make_regression
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> reg = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson", "huber",
                             "absolute_error", "quantile"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither"), None],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,),
                 activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, dtype="float32", scoring=None, init="auto",
                 warmup_iter=0, weight_decay=0.0, dropout=0.0,
                 max_grad_norm=None, huber_delta=1.0, quantile=None):
        self.huber_delta = huber_delta
        self.quantile = quantile
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, loss=loss, shuffle=shuffle,
            random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            scoring=scoring, init=init, warmup_iter=warmup_iter,
            weight_decay=weight_decay, dropout=dropout,
            max_grad_norm=max_grad_norm)

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        self._check_is_fitted()
        return self._predict(X)

    def _predict(self, X, check_input=True):
        return self._predictions(
            self._forward_pass_fast(X, check_input=check_input))

    def _predictions(self, output):
        """Predicted values from the output activations."""
        if output.shape[1] == 1:
            return output.ravel()
        return output

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    def _score_output(self, output, y, sample_weight=None):
        """``_score`` of the rows whose output activations are ``output``."""
        return _score_predictions(self._predictions(output), y,
                                  sample_weight, r2_score)

    def _check_loss(self):
        if self.loss == "quantile" and self.quantile is None:
            raise ValueError(
                "loss='quantile' needs the quantile to estimate: pass "
                "quantile=q with 0 < q < 1, e.g. quantile=0.9.")
        if self.loss in ("absolute_error", "quantile") and \
                self.solver == "lbfgs":
            raise ValueError(
                f"loss={self.loss!r} is not differentiable where a "
                "prediction equals its target, and L-BFGS needs a smooth "
                "objective: use solver='adam' or 'sgd', or loss='huber'.")

    def _loss_param(self, dtype):
        if self.loss == "huber":
            return float(self.huber_delta)
        if self.loss == "quantile":
            return float(self.quantile)
        return super()._loss_param(dtype)

    def _data_loss(self, Y, P, sample_weight):
        if self.loss == "huber":
            return huber_loss(Y, P, sample_weight, delta=self.huber_delta)
        if self.loss == "absolute_error":
            return absolute_error_loss(Y, P, sample_weight)
        if self.loss == "quantile":
            return pinball_loss(Y, P, sample_weight, quantile=self.quantile)
        return super()._data_loss(Y, P, sample_weight)

    def _encode_validation_targets(self, y, X):
        y = check_array(y, ensure_2d=False, dtype=self._np_dtype)
        check_consistent_length(X, y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"validation_data has {Y.shape[1]} targets, the model "
                f"{self.n_outputs_}.")
        return y, Y

    def _validate_input(self, X, y, incremental, reset, defer_finite=False):
        X, y = self._validate_training_data(X, y, reset, defer_finite,
                                            y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    @available_if(lambda est: est._check_solver)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
