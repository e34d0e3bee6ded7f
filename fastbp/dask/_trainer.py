"""One network trained data-parallel on a Dask cluster.

The training rows stay where Dask put them: one block per chunk of rows,
persisted on the workers. Each solver step is a round of tasks, one per
block, run by Dask wherever the block is; only the weights go out (scattered
to every worker once per round) and only per-block sums come back.

* L-BFGS: a round computes every block's loss sum and gradient sum with the
  compiled kernels; the client adds them in block order, adds the L2 term
  and hands loss and gradient to scipy's L-BFGS-B. This is the exact
  full-batch objective of the in-memory fit: the two differ only by the
  order of summation.
* SGD and Adam: synchronous local SGD with periodic averaging (Zinkevich et
  al. 2010; Lin et al. 2020). In each epoch every block permutes its rows
  with a seed drawn from (``random_state``, epoch, block); a round runs
  ``local_batches`` mini-batches of that order in every block, all from the
  same weights and optimizer state, and the client averages the blocks'
  weights and state, weighted by the rows each processed, in block order.
  An epoch ends when every block has used all its rows.

Because the unit of work is the block, not the worker, a fit depends only
on the data, their chunking and ``random_state``: never on the number of
workers, on which worker holds which block, or on their thread counts.

Every call into the compiled engine goes through ``_blocks``.
"""

import copy
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .. import _mlp
from .._callbacks import FitTasks
from . import _data
from ._blocks import (average_weights, block_local_steps, block_loss_grad,
                      finish_loss_grad, new_optimizer, optimizer_settings,
                      pack_weights, set_weights)

# Mini-batches each block runs between two averagings, chosen by measurement
# (benchmarks/results/dask_rounds.md, section 2): adam on 200,000 rows in 4
# blocks, 2 workers, 5 epochs, local_batches 1 / 4 / 16 / 64 / 'epoch':
# final loss 0.1200 / 0.1201 / 0.1203 / 0.1209 / 0.1213 (test accuracy
# 0.9723 to 0.9721), 6.57 / 1.96 / 0.48 / 0.19 / 0.14 s per epoch. A round
# costs ~25 ms besides compute, so short periods are dominated by it; 64
# keeps the loss within 0.001 of averaging every batch at a third of the
# time of 16, and unlike 'epoch' bounds how far blocks drift apart
# whatever their size.
DEFAULT_LOCAL_BATCHES = 64

# Seed streams derived from one draw of random_state.
_SPLIT, _SHUFFLE = 0, 1

_DASK_PARAMS = ("local_batches",)


def _get_client():
    from distributed import get_client

    try:
        return get_client()
    except ValueError as exc:
        raise ValueError(
            "fastbp.dask estimators train on the current dask.distributed "
            "Client; none was found. Create one first, e.g. "
            "`client = distributed.Client(cluster)`.") from exc


def _is_dask(data):
    return hasattr(data, "__dask_graph__")


def _block_seed(base, stream, *numbers):
    return int(np.random.SeedSequence([base, stream, *numbers])
               .generate_state(1)[0])


def _weights_task(weights):
    return weights


def _send(client, weights):
    """A future of ``weights`` for the round's tasks.

    A task that returns its argument rather than ``client.scatter``: the
    scheduler keeps the task, so if the worker holding the weights dies
    Dask computes them again elsewhere, as it does for the data blocks (a
    scattered array would be lost with its worker). The other workers fetch
    them from the first, as they would scattered data.
    """
    return client.submit(_weights_task, weights, pure=False)


def _loss_grad_task(X, Y, sample_weight, params, spec):
    layer_units, hidden, out = spec
    return block_loss_grad(X, Y, sample_weight, params, layer_units, hidden,
                           out)


def _local_steps_task(X, Y, sample_weight, weights, step, seed, start, stop,
                      shuffle, spec):
    """One block's share of a round: its rows ``order[start:stop]``, where
    ``order`` is the block's permutation for this epoch."""
    batch_size, layer_units, hidden, out, alpha, solver, hyper = spec
    order = np.arange(len(Y), dtype=np.int64)
    if shuffle:
        np.random.RandomState(seed).shuffle(order)
    return block_local_steps(X, Y, sample_weight, order[start:stop],
                             batch_size, weights, step, layer_units, hidden,
                             out, alpha, solver, hyper)


def _predict_block(X, model, method):
    return getattr(model, method)(X)


class _DaskMLP:
    """The Dask training loop, mixed into fastbp's estimators."""

    _dask_constraints = {
        "local_batches": [Interval(Integral, 1, None, closed="left"),
                          StrOptions({"epoch"})],
    }

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model on dask arrays, on the current Dask client.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features)
            Training data, cut into blocks of rows (a dask DataFrame is
            converted with ``to_dask_array(lengths=True)``; an in-memory
            array becomes one block). Each block is one task per round.
        y : dask array of shape (n_samples,) or (n_samples, n_outputs)
            Targets, cut into the same row blocks as X.
        sample_weight : dask array of shape (n_samples,), default=None
            Sample weights, cut into the same row blocks as X.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, \
                sample_weight_val), default=None
            Stochastic solvers only. Dask arrays scored every epoch instead
            of the ``validation_fraction`` split, as in
            :meth:`fastbp.MLPClassifier.fit`.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        client = _get_client()
        hidden_layer_sizes = self.hidden_layer_sizes
        if not hasattr(hidden_layer_sizes, "__iter__"):
            hidden_layer_sizes = [hidden_layer_sizes]
        hidden_layer_sizes = list(hidden_layer_sizes)
        if validation_data is not None and self.solver == "lbfgs":
            raise ValueError(
                "validation_data is only used by the stochastic solvers "
                f"('sgd', 'adam'), got solver={self.solver!r}.")
        first_pass = not hasattr(self, "coefs_") or not self.warm_start

        dtype = self._np_dtype
        train, n_features = self._prepare(client, X, y, sample_weight,
                                          first_pass)
        validation = None
        if validation_data is not None:
            validation = self._prepare_validation(client, validation_data)

        layer_units = [n_features] + hidden_layer_sizes + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(_Shape(train.n_samples, self.n_outputs_),
                             layer_units, dtype)
        else:
            self._check_continuation(layer_units, dtype)
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))

        if self.solver == "lbfgs":
            tasks = FitTasks(self, X, y, sample_weight, self.max_iter + 1,
                             "lbfgs-iter")
            self._fit_lbfgs(client, train, tasks)
        else:
            tasks = FitTasks(self, X, y, sample_weight, self.max_iter,
                             "epoch")
            self._fit_stochastic(client, train, validation, seed, tasks)
        tasks.close(self._snapshot)
        if not np.isfinite(self._params).all():
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data"
                " may contain large values and need to be preprocessed.")
        return self

    def _prepare(self, client, X, y, sample_weight, reset):
        """Check X, y, sample_weight in one pass; persist them as blocks.

        Sets ``n_features_in_``, ``n_outputs_`` and, for a classifier,
        ``classes_``. Returns the training :class:`_data.Blocks` and the
        number of features.
        """
        X = _data.as_dask_array("X", X, ndim=(2,))
        y = _data.as_dask_array("y", y, ndim=(1, 2))
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        sample_weight = _data.as_dask_array("sample_weight", sample_weight,
                                            ndim=(1,))
        _data.check_same_rows("y", y, X)
        _data.check_same_rows("sample_weight", sample_weight, X)
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(
                f"Found array with shape {X.shape}; at least one sample and "
                "one feature are required.")
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X must be numeric, got dtype {X.dtype}.")
        if not reset and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input.")
        dtype = self._np_dtype
        X = X.astype(dtype)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(dtype)
        X, y, sample_weight = _data.persisted_and_arrays(
            client, X, y, sample_weight)

        classifier = is_classifier(self)
        checks = _data.check_finite(X, y, sample_weight,
                                    check_y=not classifier)
        if classifier:
            if y.ndim != 1:
                raise ValueError(
                    "fastbp.dask classifiers take 1-dimensional class labels;"
                    " multilabel targets are not supported.")
            checks["classes"] = _unique_with_counts(y)
        results = _data.compute(checks)
        if classifier:
            classes, counts = results.pop("classes")
        _data.raise_if_not_finite(results, dtype)

        self.n_features_in_ = X.shape[1]
        if classifier:
            _data.check_classes(classes)
            if reset:
                self._label_binarizer = LabelBinarizer().fit(classes)
                self.classes_ = self._label_binarizer.classes_
            elif not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same "
                    "classes as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {classes}")
            Y = _data.encode_classes(y, self.classes_, dtype)
            sample_weight = _data.weight_classes(
                y, sample_weight, self.classes_,
                _data.class_weight_vector(self.class_weight, self.classes_,
                                          counts), dtype)
        else:
            Y = _data.encode_values(y, dtype)
        self.n_outputs_ = Y.shape[1]
        X_blocks, Y_blocks, sw_blocks = _data.persisted_blocks(
            client, [X, Y, sample_weight])
        return (_data.Blocks(X_blocks, Y_blocks, sw_blocks, X.chunks[0]),
                X.shape[1])

    def _prepare_validation(self, client, validation_data):
        if (not isinstance(validation_data, (tuple, list))
                or len(validation_data) not in (2, 3)):
            raise ValueError(
                "validation_data must be a tuple (X_val, y_val) or "
                "(X_val, y_val, sample_weight_val), got "
                f"{type(validation_data).__name__}.")
        X, y = validation_data[:2]
        sample_weight = validation_data[2] if len(validation_data) == 3 \
            else None
        X = _data.as_dask_array("X_val", X, ndim=(2,))
        y = _data.as_dask_array("y_val", y, ndim=(1, 2))
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        sample_weight = _data.as_dask_array("sample_weight_val",
                                            sample_weight, ndim=(1,))
        _data.check_same_rows("y_val", y, X)
        _data.check_same_rows("sample_weight_val", sample_weight, X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"validation_data has {X.shape[1]} features, the training "
                f"data {self.n_features_in_}.")
        dtype = self._np_dtype
        X = X.astype(dtype)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(dtype)
        classifier = is_classifier(self)
        checks = _data.check_finite(X, y, sample_weight,
                                    check_y=not classifier)
        if classifier:
            checks["classes"] = _unique_with_counts(y)
        results = _data.compute(checks)
        if classifier:
            classes = results.pop("classes")[0]
            unseen = np.setdiff1d(classes, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"validation_data has classes {unseen} not in "
                    f"`self.classes_` {self.classes_}.")
            Y = _data.encode_classes(y, self.classes_, dtype)
        else:
            Y = _data.encode_values(y, dtype)
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"validation_data has {Y.shape[1]} targets, the model "
                    f"{self.n_outputs_}.")
        _data.raise_if_not_finite(
            {f"{k}_val" if k != "sample_weight" else k: v
             for k, v in results.items()}, dtype)
        blocks = _data.persisted_blocks(client, [X, Y, sample_weight])
        return _data.ValidationSet(*blocks, X.chunks[0])

    def _spec(self):
        hidden, out = self._kernel_codes()
        return self._layout.layer_units, hidden, out

    def _fit_lbfgs(self, client, train, tasks):
        params = self._params
        spec = self._spec()
        alpha = float(self.alpha)

        def loss_grad(x):
            params[...] = x
            weights = _send(client, params.copy())
            futures = [client.submit(_loss_grad_task, X, Y,
                                     train.weights_of(b), weights, spec,
                                     pure=False)
                       for b, (X, Y) in enumerate(zip(train.X, train.Y))]
            sums = client.gather(futures)
            # Added in block order.
            loss_sum = sum(s[0] for s in sums)
            grad_sum = sums[0][1]
            for s in sums[1:]:
                grad_sum = grad_sum + s[1]
            weight_sum = sum(s[2] for s in sums)
            return finish_loss_grad(loss_sum, grad_sum, weight_sum, params,
                                    spec[0], alpha)

        self._run_lbfgs(loss_grad, params, tasks)

    def _fit_stochastic(self, client, train, validation, seed, tasks):
        dtype = self._np_dtype
        optimizer = self._optimizer = new_optimizer(self, dtype)
        early_stopping = self.early_stopping
        if validation is None and early_stopping:
            seeds = [_block_seed(seed, _SPLIT, b) for b in range(len(train))]
            train, validation = train.split(client, seeds,
                                            self.validation_fraction)
            validation = _data.ValidationSet(
                validation.X, validation.Y, validation.sample_weight,
                validation.sizes)
            if validation.n_samples < 2:
                raise ValueError(
                    "The validation set is too small. Increase "
                    "'validation_fraction' or the size of your dataset.")
        elif validation is not None and self.validation_scores_ is None:
            self.validation_scores_ = []
            self.validation_loss_curve_ = []
            self.best_validation_score_ = -np.inf
        self._validation_set = validation

        n_samples = train.n_samples
        batch_size = self._batch_size(n_samples)
        if self.local_batches == "epoch":
            rows_per_round = max(train.sizes)
        else:
            rows_per_round = self.local_batches * batch_size
        layer_units, hidden, out = self._spec()
        params = self._params

        try:
            self.n_iter_ = 0
            for epoch in range(self.max_iter):
                tasks.begin(self._snapshot)
                solver, hyper = optimizer_settings(optimizer)
                spec = (batch_size, layer_units, hidden, out,
                        float(self.alpha), solver, hyper)
                seeds = [_block_seed(seed, _SHUFFLE, self.n_iter_, b)
                         for b in range(len(train))]
                accumulated_loss = 0.0
                for start in range(0, max(train.sizes), rows_per_round):
                    accumulated_loss += self._round(
                        client, train, spec, seeds, start,
                        start + rows_per_round, params, optimizer)

                if self._end_epoch(accumulated_loss, n_samples, optimizer,
                                   tasks, early_stopping,
                                   (validation, None, None, None)):
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) "
                        "reached and the optimization hasn't converged yet."
                        % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        finally:
            del self._validation_set
        if early_stopping:
            params[...] = self._best_params

    def _round(self, client, train, spec, seeds, start, stop, params,
               optimizer):
        """One averaging round: every block with rows left runs its rows
        ``start:stop`` of this epoch's order from the same weights; the
        client averages. Returns the round's loss sum."""
        weights, step = pack_weights(params, optimizer)
        weights = _send(client, weights)
        active = [b for b, n in enumerate(train.sizes) if n > start]
        futures = [
            client.submit(_local_steps_task, train.X[b], train.Y[b],
                          train.weights_of(b), weights, step, seeds[b], start,
                          min(stop, train.sizes[b]), self.shuffle, spec,
                          pure=False)
            for b in active]
        results = client.gather(futures)
        rows = [min(stop, train.sizes[b]) - start for b in active]
        set_weights(params, optimizer,
                    average_weights([r[0] for r in results], rows),
                    max(r[1] for r in results))
        return sum(r[2] for r in results)

    # Validation on blocks: _update_no_improvement_count asks for the score
    # and then for the loss; one distributed pass gives both.
    def _score(self, X, y, sample_weight=None):
        if isinstance(X, _data.ValidationSet):
            return self._evaluate(X)[0]
        return super()._score(X, y, sample_weight=sample_weight)

    def _validation_loss(self, X_val, Y_val, sw_val):
        if isinstance(X_val, _data.ValidationSet):
            return self._evaluate(X_val)[1]
        return super()._validation_loss(X_val, Y_val, sw_val)

    def _evaluate(self, validation):
        from distributed import get_client

        loss_name = self.loss
        if loss_name == "log_loss" and self.out_activation_ == "logistic":
            loss_name = "binary_log_loss"
        return validation.evaluate(get_client(), self.to_fastbp(), loss_name,
                                   key=self.n_iter_)

    # ------------------------------------------------------------------
    # Conversion and prediction
    # ------------------------------------------------------------------
    def to_fastbp(self):
        """The fitted model as a plain in-memory fastbp estimator.

        Returns
        -------
        model : fastbp.MLPClassifier or fastbp.MLPRegressor
            Same parameters (but ``local_batches``) and fitted attributes;
            ``warm_start`` or ``partial_fit`` on it continue from these
            weights (and, after SGD/Adam, from the averaged optimizer
            state).
        """
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in _DASK_PARAMS}
        model = self._in_memory_class(**params)
        for name, value in vars(self).items():
            if ((name.endswith("_") and not name.startswith("__"))
                    or name in ("_layout", "_label_binarizer", "_best_params",
                                "_optimizer", "_no_improvement_count")):
                setattr(model, name, copy.deepcopy(value))
        model._set_params_vector(self._params_vector().copy())
        return model

    def _dask_X(self, X):
        X = _data.as_dask_array("X", X, ndim=(2,))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input.")
        return X

    def _map_rows(self, X, method, n_columns, dtype):
        """``method`` of the in-memory model on every block of X: lazy."""
        X = self._dask_X(X)
        model = self.to_fastbp()
        if n_columns is None:
            return X.map_blocks(_predict_block, model, method, dtype=dtype,
                                drop_axis=1, meta=np.empty((0,), dtype=dtype))
        return X.map_blocks(_predict_block, model, method, dtype=dtype,
                            chunks=(X.chunks[0], (n_columns,)),
                            meta=np.empty((0, 0), dtype=dtype))


class _Shape:
    """Stands in for y where only its shape is read (``_initialize``)."""

    def __init__(self, n_samples, n_outputs):
        self.shape = (n_samples, n_outputs)


def _unique_with_counts(y):
    import dask.array as da

    return da.unique(y, return_counts=True)


_LOCAL_BATCHES_DOC = """
    local_batches : int or 'epoch', default=%d
        fastbp.dask only; stochastic solvers only. The averaging period:
        mini-batches each block runs from the round's common weights before
        the client averages weights and optimizer state over the blocks.
        'epoch' averages once per epoch (each block runs all its rows).
        One mini-batch per round makes the most rounds, and with SGD
        without momentum, the same steps as one large batch; more batches
        per round trade model agreement for fewer synchronisations.
""" % DEFAULT_LOCAL_BATCHES

_DASK_NOTES = """
    Notes
    -----
    ``fit`` takes dask arrays (or dask DataFrames) cut into row blocks and
    trains on the current ``distributed.Client``. Every block is one task per
    round, run where Dask holds the block; only the weights (and Adam's or
    SGD's state) go to the workers and only per-block sums and weights come
    back. 'lbfgs' steps scipy's L-BFGS-B over the exact full-batch loss and
    gradient (summed over the blocks in block order), so it finds the same
    model as the in-memory fit up to rounding; 'sgd' and 'adam' average the
    blocks' weights every ``local_batches`` mini-batches. Results depend on
    the data, their chunking and ``random_state``, never on the number of
    workers or threads. ``early_stopping`` sets ``validation_fraction`` of
    each block aside (a random, unstratified split per block).

    ``predict``, ``predict_proba`` and ``score`` take in-memory arrays as
    the fastbp estimators do; given dask arrays, ``predict`` and
    ``predict_proba`` return dask arrays (one task per block) and ``score``
    computes the score on the cluster. ``to_fastbp()`` returns the fitted
    model as an in-memory fastbp estimator. Class weights are computed from
    the whole training set. Multilabel targets are not supported.
"""


class MLPClassifier(_DaskMLP, _mlp.MLPClassifier):
    __doc__ = """Multi-layer perceptron classifier trained on a Dask cluster.

    :class:`fastbp.MLPClassifier`'s parameters and attributes; ``fit`` trains
    one network data-parallel over the blocks of dask arrays.

    Parameters
    ----------
""" + _mlp._SHARED_PARAMS_DOC.lstrip("\n") + """
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, as :class:`fastbp.MLPClassifier`'s.
""" + _LOCAL_BATCHES_DOC + _DASK_NOTES + """
    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from fastbp.dask import MLPClassifier
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    >>> X = da.from_array(X_numpy, chunks=(10_000, -1))  # doctest: +SKIP
    >>> y = da.from_array(y_numpy, chunks=10_000)  # doctest: +SKIP
    >>> clf = MLPClassifier(solver="lbfgs").fit(X, y)  # doctest: +SKIP
    """

    _in_memory_class = _mlp.MLPClassifier
    _parameter_constraints: dict = {
        **_mlp.MLPClassifier._parameter_constraints,
        **_DaskMLP._dask_constraints,
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 class_weight=None, dtype="float32",
                 local_batches=DEFAULT_LOCAL_BATCHES):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation,
            solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            class_weight=class_weight, dtype=dtype)
        self.local_batches = local_batches

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : dask array or ndarray of shape (n_samples,)
            The predicted classes; a dask array (computed lazily, block by
            block) when X is one.
        """
        if not _is_dask(X):
            return super().predict(X)
        check_is_fitted(self)
        return self._map_rows(X, "predict", None, self.classes_.dtype)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : dask array or ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``; a
            dask array when X is one.
        """
        if not _is_dask(X):
            return super().predict_proba(X)
        check_is_fitted(self)
        return self._map_rows(X, "predict_proba", len(self.classes_),
                              self._fitted_dtype)

    def predict_log_proba(self, X):
        """Log of the probability estimates (see :meth:`predict_proba`).

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : dask array or ndarray of shape (n_samples, n_classes)
        """
        if not _is_dask(X):
            return super().predict_log_proba(X)
        import dask.array as da

        return da.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the given data.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
        y : dask array or array-like of shape (n_samples,)
        sample_weight : dask array or array-like of shape (n_samples,), \
                default=None

        Returns
        -------
        score : float
            Accuracy; computed on the cluster when X is a dask array.
        """
        if not _is_dask(X):
            return super().score(X, y, sample_weight=sample_weight)
        y_pred = self.predict(X)
        y, w = _data.targets_and_weights(y, sample_weight, y_pred)
        return _data.weighted_accuracy(y, y_pred, w)


class MLPRegressor(_DaskMLP, _mlp.MLPRegressor):
    __doc__ = """Multi-layer perceptron regressor trained on a Dask cluster.

    :class:`fastbp.MLPRegressor`'s parameters and attributes; ``fit`` trains
    one network data-parallel over the blocks of dask arrays.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        As :class:`fastbp.MLPRegressor`'s.
""" + _mlp._SHARED_PARAMS_DOC.lstrip("\n") + _LOCAL_BATCHES_DOC + _DASK_NOTES

    _in_memory_class = _mlp.MLPRegressor
    _parameter_constraints: dict = {
        **_mlp.MLPRegressor._parameter_constraints,
        **_DaskMLP._dask_constraints,
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,),
                 activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, dtype="float32",
                 local_batches=DEFAULT_LOCAL_BATCHES):
        super().__init__(
            loss=loss, hidden_layer_sizes=hidden_layer_sizes,
            activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon,
            n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype)
        self.local_batches = local_batches

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : dask array or ndarray of shape (n_samples,) or \
                (n_samples, n_outputs)
            The predicted values; a dask array when X is one.
        """
        if not _is_dask(X):
            return super().predict(X)
        check_is_fitted(self)
        n_columns = None if self.n_outputs_ == 1 else self.n_outputs_
        return self._map_rows(X, "predict", n_columns, self._fitted_dtype)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 on the given data.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
        y : dask array or array-like of shape (n_samples,) or \
                (n_samples, n_outputs)
        sample_weight : dask array or array-like of shape (n_samples,), \
                default=None

        Returns
        -------
        score : float
            R^2 (averaged over outputs); computed on the cluster when X is
            a dask array.
        """
        if not _is_dask(X):
            return super().score(X, y, sample_weight=sample_weight)
        y_pred = self.predict(X)
        y, w = _data.targets_and_weights(y, sample_weight, y_pred)
        return _data.weighted_r2(y, y_pred, w)
