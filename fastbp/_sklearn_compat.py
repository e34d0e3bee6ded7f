"""scikit-learn's private helpers: imported where they exist, own copies
where they do not.

fastbp's estimators behave as scikit-learn's, so they use a few of the
helpers scikit-learn's own estimators use and does not export: parameter
validation (``sklearn.utils._param_validation``, ``sklearn.base._fit_context``),
the MLP's loss functions (``sklearn.neural_network._base.LOSS_FUNCTIONS``),
``_check_sample_weight``, ``_check_partial_fit_first_call`` and L-BFGS's
result check and options (``sklearn.utils.optimize``, ``sklearn.utils.fixes``)
and the class of the scorers a scoring string names
(``sklearn.metrics._scorer._Scorer``).
A private name may be renamed or removed by any scikit-learn release, so each
is imported here and nowhere else, and where the import fails this module
defines its own copy, written after scikit-learn 1.9's: the same results and
the same errors (type and message). The parameter-validation names come as
one group, all scikit-learn's or all fastbp's: scikit-learn's validator
does not know fastbp's constraint objects, nor the other way round.

``FASTBP_SKLEARN_PUBLIC=1`` in the environment when fastbp is first imported
takes fastbp's copies for every name (CI checks the same fits and errors
that way: ``tests/test_sklearn_compat.py``). :data:`OWN_COPIES` lists the
names for which fastbp's copies are in use.

Public scikit-learn API only is used here besides the guarded imports:
``get_config``, ``config_context``, ``check_array``, ``unique_labels``,
``ConvergenceWarning`` and ``sklearn.callback.with_callbacks``.
"""

import functools
import importlib
import numbers
import operator
import os
import warnings
from numbers import Integral, Real

import numpy as np
import scipy
from scipy.sparse import issparse
from scipy.special import xlogy
from sklearn import config_context, get_config
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_array

ENV_VAR = "FASTBP_SKLEARN_PUBLIC"
_FORCE_OWN = os.environ.get(ENV_VAR, "").strip() not in ("", "0")

OWN_COPIES = []  # "module.name" of each private name replaced by a copy


def _private(module_name, *names):
    """scikit-learn's ``module_name.<name>`` for each of ``names``, or None
    (and the names recorded in OWN_COPIES) if any one is missing."""
    if not _FORCE_OWN:
        try:
            module = importlib.import_module(module_name)
            return tuple(getattr(module, name) for name in names)
        except (ImportError, AttributeError):
            pass
    OWN_COPIES.extend(f"{module_name}.{name}" for name in names)
    return None


# ------------------------------------------------------ parameter validation
class _InvalidParameterError(ValueError, TypeError):
    """A constructor parameter of the wrong type or value."""


def _type_name(t):
    if t.__module__ == "builtins":
        return t.__qualname__
    if t is Real:
        return "float"
    if t is Integral:
        return "int"
    return f"{t.__module__}.{t.__qualname__}"


class _Constraint:
    def __str__(self):
        return self.description


class _Options(_Constraint):
    """Instances of ``type`` among a finite set ``options``."""

    def __init__(self, type, options):
        self.type, self.options = type, options

    def is_satisfied_by(self, val):
        return isinstance(val, self.type) and val in self.options

    def __str__(self):
        options = ", ".join(repr(option) for option in self.options)
        return f"a {_type_name(self.type)} among {{{options}}}"


class _StrOptions(_Options):
    """A string among ``options``."""

    def __init__(self, options):
        super().__init__(str, options)


class _Interval(_Constraint):
    """Numbers of ``type`` (Integral or Real) between ``left`` and
    ``right`` (None: unbounded), ``closed`` "left", "right", "both" or
    "neither"."""

    def __init__(self, type, left, right, *, closed):
        if type not in (Integral, Real) or closed not in (
                "left", "right", "both", "neither"):
            raise ValueError(f"unsupported interval {type}, {closed}")
        self.type, self.left, self.right, self.closed = (type, left, right,
                                                         closed)

    def is_satisfied_by(self, val):
        if not isinstance(val, self.type):
            return False
        if not isinstance(val, Integral) and np.isnan(val):
            return False
        below = operator.lt if self.closed in ("left", "both") else operator.le
        above = operator.gt if self.closed in ("right", "both") else operator.ge
        left = -np.inf if self.left is None else self.left
        right = np.inf if self.right is None else self.right
        return not below(val, left) and not above(val, right)

    def __str__(self):
        integers = self.type is Integral
        left = "-inf" if self.left is None else self.left
        right = "inf" if self.right is None else self.right
        if not integers and isinstance(self.left, Real):
            left = float(left)
        if not integers and isinstance(self.right, Real):
            right = float(right)
        return (f"{'an int' if integers else 'a float'} in the range "
                f"{'[' if self.closed in ('left', 'both') else '('}{left}, "
                f"{right}{']' if self.closed in ('right', 'both') else ')'}")


class _Test(_Constraint):
    def __init__(self, test, description):
        self.is_satisfied_by, self.description = test, description


class _AnyOf(_Constraint):
    def __init__(self, *constraints):
        self.constraints = constraints

    def is_satisfied_by(self, val):
        return any(c.is_satisfied_by(val) for c in self.constraints)

    def __str__(self):
        return _joined(self.constraints)


def _instances_of(type):
    return _Test(lambda val: isinstance(val, type),
                 f"an instance of {_type_name(type)!r}")


def _is_arraylike_not_scalar(val):
    return (not issparse(val)
            and (hasattr(val, "__len__") or hasattr(val, "shape")
                 or hasattr(val, "__array__"))
            and not np.isscalar(val))


def _make_constraint(constraint):
    if isinstance(constraint, _Constraint):
        return constraint
    if constraint is None:
        return _Test(lambda val: val is None, "None")
    if constraint is callable:
        return _Test(callable, "a callable")
    if isinstance(constraint, type):
        return _instances_of(constraint)
    if constraint == "array-like":
        return _Test(_is_arraylike_not_scalar, "an array-like")
    if constraint == "boolean":
        return _AnyOf(_instances_of(bool), _instances_of(np.bool_))
    if constraint == "verbose":
        return _AnyOf(_Interval(Integral, 0, None, closed="left"),
                      _instances_of(bool), _instances_of(np.bool_))
    if constraint == "random_state":
        return _AnyOf(_Interval(Integral, 0, 2**32 - 1, closed="both"),
                      _instances_of(np.random.RandomState),
                      _make_constraint(None))
    raise ValueError(f"Unknown constraint type: {constraint}")


def _joined(constraints):
    if len(constraints) == 1:
        return str(constraints[0])
    return (", ".join(str(c) for c in constraints[:-1])
            + f" or {constraints[-1]}")


def _validate_parameter_constraints(parameter_constraints, params,
                                    caller_name):
    """Raise InvalidParameterError for the first parameter that meets none
    of its constraints, in scikit-learn's words."""
    for name, value in params.items():
        if name not in parameter_constraints:
            continue
        constraints = [_make_constraint(c) for c in parameter_constraints[name]]
        if not any(c.is_satisfied_by(value) for c in constraints):
            raise _InvalidParameterError(
                f"The {name!r} parameter of {caller_name} must be "
                f"{_joined(constraints)}. Got {value!r} instead.")


_validation = _private("sklearn.utils._param_validation", "Interval",
                       "Options", "StrOptions", "InvalidParameterError",
                       "validate_parameter_constraints")
if _validation is None:
    Interval, Options, StrOptions = _Interval, _Options, _StrOptions
    InvalidParameterError = _InvalidParameterError
    validate_parameter_constraints = _validate_parameter_constraints
else:
    (Interval, Options, StrOptions, InvalidParameterError,
     validate_parameter_constraints) = _validation


def _with_callbacks():
    try:
        from sklearn.callback import with_callbacks
    except ImportError:  # a scikit-learn without callbacks
        return lambda method: method
    return with_callbacks


def _is_fitted(estimator):
    if hasattr(estimator, "__sklearn_is_fitted__"):
        return estimator.__sklearn_is_fitted__()
    return any(name.endswith("_") and not name.startswith("__")
               for name in vars(estimator))


def _own_fit_context(*, prefer_skip_nested_validation):
    """Decorator of ``fit`` and ``partial_fit``: validate the constructor
    parameters (not again in a ``partial_fit`` of a fitted model), run the
    method with nested validation skipped if preferred, and tear down
    callbacks afterwards."""
    managed = _with_callbacks()

    def decorator(fit_method):
        managed_fit = managed(fit_method)

        @functools.wraps(fit_method)
        def wrapper(estimator, *args, **kwargs):
            skip = get_config()["skip_parameter_validation"]
            if not skip and not (fit_method.__name__ == "partial_fit"
                                 and _is_fitted(estimator)):
                validate_parameter_constraints(
                    estimator._parameter_constraints,
                    estimator.get_params(deep=False),
                    caller_name=type(estimator).__name__)
            with config_context(skip_parameter_validation=(
                    prefer_skip_nested_validation or skip)):
                return managed_fit(estimator, *args, **kwargs)

        return wrapper

    return decorator


_fit_context = _private("sklearn.base", "_fit_context")
if _validation is None or _fit_context is None:
    if _fit_context is not None:  # scikit-learn's, but not its validator
        OWN_COPIES.append("sklearn.base._fit_context")
    fit_context = _own_fit_context
else:
    (fit_context,) = _fit_context


# ------------------------------------------------------------------ losses
def _squared_loss(y_true, y_pred, sample_weight=None):
    return 0.5 * np.average((y_true - y_pred) ** 2, weights=sample_weight,
                            axis=0).mean()


def _poisson_loss(y_true, y_pred, sample_weight=None):
    return np.average(xlogy(y_true, y_true / y_pred) - y_true + y_pred,
                      weights=sample_weight, axis=0).sum()


def _log_loss(y_true, y_prob, sample_weight=None):
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    if y_prob.shape[1] == 1:
        y_prob = np.append(1 - y_prob, y_prob, axis=1)
    if y_true.shape[1] == 1:
        y_true = np.append(1 - y_true, y_true, axis=1)
    return -np.average(xlogy(y_true, y_prob), weights=sample_weight,
                       axis=0).sum()


def _binary_log_loss(y_true, y_prob, sample_weight=None):
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    return -np.average(xlogy(y_true, y_prob) + xlogy(1 - y_true, 1 - y_prob),
                       weights=sample_weight, axis=0).sum()


_losses = _private("sklearn.neural_network._base", "LOSS_FUNCTIONS")
LOSS_FUNCTIONS = _losses[0] if _losses else {
    "squared_error": _squared_loss, "poisson": _poisson_loss,
    "log_loss": _log_loss, "binary_log_loss": _binary_log_loss}


# ------------------------------------------------------------ data checks
def _own_check_sample_weight(sample_weight, X, *, dtype=None):
    """Sample weights as a C-contiguous float array of shape (n_samples,):
    ones for None, a constant for a number."""
    n_samples = X.shape[0]
    float_dtypes = [np.float64, np.float32]
    if dtype is not None and dtype not in float_dtypes:
        dtype = np.float64
    if sample_weight is None:
        sample_weight = np.ones(n_samples, dtype=dtype)
    elif isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=dtype)
    else:
        sample_weight = check_array(
            sample_weight, accept_sparse=False, ensure_2d=False,
            dtype=float_dtypes if dtype is None else dtype, order="C",
            input_name="sample_weight")
        if sample_weight.ndim != 1:
            raise ValueError(
                f"Sample weights must be 1D array or scalar, got "
                f"{sample_weight.ndim}D array. Expected either a scalar value "
                f"or a 1D array of length {n_samples}.")
        if sample_weight.shape != (n_samples,):
            raise ValueError(f"sample_weight.shape == {sample_weight.shape}, "
                             f"expected {(n_samples,)}!")
    if np.all(sample_weight == 0):
        raise ValueError(
            "Sample weights must contain at least one non-zero number.")
    return sample_weight


def _own_check_partial_fit_first_call(clf, classes=None):
    """Whether this is the first ``partial_fit`` of ``clf`` (then setting
    ``clf.classes_``); checks ``classes`` against earlier calls."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError(
            "classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if getattr(clf, "classes_", None) is not None:
            if not np.array_equal(clf.classes_, unique_labels(classes)):
                raise ValueError(
                    "`classes=%r` is not the same as on last call "
                    "to partial_fit, was: %r" % (classes, clf.classes_))
        else:
            clf.classes_ = unique_labels(classes)
            return True
    return False


_found = _private("sklearn.utils.validation", "_check_sample_weight")
check_sample_weight = _found[0] if _found else _own_check_sample_weight
_found = _private("sklearn.utils.multiclass", "_check_partial_fit_first_call")
check_partial_fit_first_call = (_found[0] if _found
                                else _own_check_partial_fit_first_call)


# ------------------------------------------------------------------ L-BFGS
def _scipy_version():
    parts = []
    for part in scipy.__version__.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _own_lbfgs_options(key, value):
    """``{key: value}`` for scipy's L-BFGS-B before 1.15, ``{}`` after
    (``iprint`` and ``disp`` were removed)."""
    return {} if _scipy_version() >= (1, 15) else {key: value}


def _own_check_optimize_result(solver, result, max_iter=None):
    """The number of iterations of an L-BFGS result, with a
    ConvergenceWarning if it did not converge."""
    if solver != "lbfgs":
        raise NotImplementedError
    n_iter = result.nit if max_iter is None else min(result.nit, max_iter)
    if result.status != 0:
        message = (f"{solver} failed to converge after {n_iter} iteration(s) "
                   f"(status={result.status}):\n{result.message}\n")
        if max_iter is not None and n_iter == max_iter:
            message += ("\nIncrease the number of iterations to improve the "
                        f"convergence (max_iter={max_iter}).")
        message += ("\nYou might also want to scale the data as shown in:\n"
                    "    https://scikit-learn.org/stable/modules/"
                    "preprocessing.html")
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return n_iter


_found = _private("sklearn.utils.fixes", "_get_additional_lbfgs_options_dict")
lbfgs_options = _found[0] if _found else _own_lbfgs_options
_found = _private("sklearn.utils.optimize", "_check_optimize_result")
check_optimize_result = _found[0] if _found else _own_check_optimize_result


# ------------------------------------------------------------------ scorers
_found = _private("sklearn.metrics._scorer", "_Scorer")
_RESPONSE_SCORER = _found[0] if _found else None
del _found


def reads_predictions_only(scorer):
    """Whether ``scorer`` is one of scikit-learn's response scorers (what a
    scoring string or ``make_scorer`` gives), which pass X on to the
    estimator's prediction method and read nothing else of it. False for
    any other callable, and where scikit-learn's class is not found: the
    caller then gives the scorer the rows themselves (the same score, with
    a copy of the rows)."""
    return _RESPONSE_SCORER is not None and type(scorer) is _RESPONSE_SCORER

__all__ = ["ENV_VAR", "OWN_COPIES", "Interval", "Options", "StrOptions",
           "InvalidParameterError", "validate_parameter_constraints",
           "fit_context", "LOSS_FUNCTIONS", "check_sample_weight",
           "check_partial_fit_first_call", "lbfgs_options",
           "check_optimize_result", "reads_predictions_only"]
