"""fastbp against scikit-learn on generated input: the same outcome per call.

Each example draws an estimator (classifier or regressor), constructor
parameters (valid values, values at their bounds and past them), the data of
a first call (``fit``, ``partial_fit``, or a prediction on an unfitted model)
and up to three later calls (``predict``, ``predict_proba``,
``predict_log_proba``, ``score``, ``partial_fit``, ``fit``, ``set_params``),
each on data of its own: dense arrays of every dtype (floats, ints, bool,
complex, object, strings), every memory layout, lists, DataFrames, every
sparse format, NaN and infinities, 0 or 1 rows, 0 features, 1-D and 3-D
arrays, targets of every kind (binary, multiclass, multilabel, continuous,
multi-output, strings, mixed types, NaN, wrong length) and sample weights of
every kind. scikit-learn's ``sklearn.neural_network`` estimator and
fastbp's (with ``dtype`` drawn too; scikit-learn has no such parameter) run
the same calls on data built afresh from the same recipe. After each call
they must agree on the outcome:

- both return (arrays of the same shape), or
- both raise, an exception of the same class: ``type(ours) is type(theirs)``.

The exact class, not a common base: the classes scikit-learn raises are
part of its interface (``NotFittedError`` is both a ``ValueError`` and an
``AttributeError``, ``InvalidParameterError`` both a ``ValueError`` and a
``TypeError``), and code written against scikit-learn may catch any of
them. One exception: numpy's ufunc errors, classes of its private
``numpy._core._exceptions``, compare as their first public base class,
``TypeError``. scikit-learn raises them where its arithmetic meets data no
check refused (string targets of a regressor reach its loss), and fastbp
refuses that data with a ``TypeError`` before it gets there. Messages and
warnings are not compared here (``test_reliability.py`` compares messages
for chosen inputs).

Not compared:

- calls after a ``fit`` or ``partial_fit`` that raised: the state of such
  a model is not specified (scikit-learn's is whatever its code had set by
  then). They still run, so that a crash would show.
- continuing the training of a fitted model (``partial_fit``, or ``fit``
  with ``warm_start``) on another network, which fastbp refuses with a
  ValueError and scikit-learn does not check (``_known_difference``), and
  the calls after it.

Data values are small (at most 10 in magnitude, besides NaN and
infinities), and so are step sizes: whether a model overflows to
non-finite weights is a question of arithmetic (float32 against float64,
summation order), not of input validation. For the same reason
``epsilon`` and ``learning_rate_init`` are not drawn below float32's
smallest normal number, which a float32 model computes with as 0 (and
Adam then divides 0 by 0).

Settings: ``FASTBP_DIFF_EXAMPLES`` examples (default 500, some 15 s on two
cores), derandomized and without an example database, so every run draws
the same examples. The long run, in a process of its own so that a crash
(segfault, abort) or a hang shows as such rather than as a failed test::

    FASTBP_DIFF_EXAMPLES=5000 timeout 3600 python -m pytest -q \\
        -p no:cacheprovider tests/test_differential.py

and with Numba's bounds checks compiled in (a cache of its own, so the
kernels compile again, with the checks)::

    NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=/tmp/fastbp-boundscheck \\
        FASTBP_DIFF_EXAMPLES=1000 timeout 3600 python -m pytest -q \\
        -p no:cacheprovider tests/test_differential.py
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import neural_network as sk
from sklearn.base import is_classifier

import fastbp

pd = pytest.importorskip("pandas")

N_EXAMPLES = int(os.environ.get("FASTBP_DIFF_EXAMPLES", "500"))

# ------------------------------------------------------------------ recipes
# A recipe is plain data (dicts, lists, strings, numbers): hypothesis prints
# it for a failing example, and each library gets its own objects built
# from it (an estimator may keep, or a RandomState be advanced by, what it
# was given).

VALUES = [0.0, 1.0, -1.0, 0.5, 2.0, -3.0, 10.0, -7.25]
SPECIALS = [np.nan, np.inf, -np.inf]

# Each kind of argument has a pool of values scikit-learn accepts (in some
# call at least) and a pool of faults. A case draws a few faults (none in
# about half the cases), so that most fits succeed and the calls after them
# see a fitted model.
GOOD_FORMS = ["ndarray"] * 6 + ["sparse"] * 2 + ["list", "dataframe"]
BAD_FORMS = ["1d", "3d", "scalar", "none", "text"]
GOOD_DTYPES = ["float64"] * 6 + ["float32", "float16", ">f8", "int64",
                                 "int8", "uint8", "bool", "object",
                                 "object_str"]
BAD_DTYPES = ["str", "bytes", "complex", "complex_zero_imag", "object_none",
              "object_text"]
SPARSE_FORMATS = ["csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix",
                  "dok_matrix", "bsr_matrix", "dia_matrix", "csr_array",
                  "csc_array", "coo_array", "lil_array", "dok_array"]
GOOD_SPARSE_DTYPES = ["float64", "float32", "int64", "bool"]
LAYOUTS = ["C", "C", "F", "strided", "readonly"]
X_FAULTS = ["form", "dtype", "special", "special", "no_rows", "no_features",
            "n_features"]

Y_POOLS = {
    "binary_int": [0, 1], "multiclass_int": [0, 1, 2],
    "binary_str": ["no", "yes"], "multiclass_str": ["a", "b", "c"],
    "one_class": [1], "bool": [False, True], "float_labels": [1.0, 2.0, 3.0],
    "negative_int": [-1, 1], "column": [0, 1, 2], "object_int": [0, 1, 2],
    "list": [0, 1, 2], "str_numbers": ["1", "2", "3"],
}
GOOD_Y = {
    True: ["binary_int", "multiclass_int", "binary_str", "multiclass_str"] * 3
    + ["one_class", "bool", "float_labels", "negative_int", "multilabel",
       "column", "object_int", "list", "str_numbers"],
    False: ["continuous"] * 6 + ["multioutput"] * 2
    + ["binary_int", "multiclass_int", "bool", "float_labels", "column",
       "object_int", "list", "multilabel"],
}
ALL_Y = sorted(set(GOOD_Y[True] + GOOD_Y[False]) | {
    "multiclass_multioutput", "mixed", "nan", "inf", "three_d", "none"})

GOOD_SAMPLE_WEIGHTS = [None] * 8 + ["ones", "positive", "scalar", "str",
                                    "int", "list"]
BAD_SAMPLE_WEIGHTS = ["wrong_length", "two_d", "nan", "empty", "zeros",
                      "negative"]

OMIT = "<omitted>"
# Values at a parameter's bounds count as good.
GOOD_PARAMS = {
    "hidden_layer_sizes": [(3,), 3, (), [], (2, 2), [1], np.array([2]),
                           (np.int64(2),)],
    "activation": ["identity", "logistic", "tanh", "relu"],
    "solver": ["lbfgs", "sgd", "adam"],
    "alpha": [0.0, 1e-4, 1.0, 1],
    "batch_size": ["auto", 1, 2, 5, 1000, True],
    "learning_rate": ["constant", "invscaling", "adaptive"],
    "learning_rate_init": [1e-3, 0.01, 1e-30],
    "power_t": [0.0, 0.5, 2.0],
    "max_iter": [1, 2, 3, np.int64(2)],
    "shuffle": [True, False, np.True_],
    "random_state": [0, 1, None, "RandomState", 2**32 - 1],
    "tol": [0.0, 1e-4, 1.0, np.inf],
    "verbose": [False, True, 0, 2],
    "warm_start": [False, True],
    "momentum": [0.0, 0.9, 1.0],
    "nesterovs_momentum": [True, False],
    "early_stopping": [False, True],
    "validation_fraction": [0.0, 0.1, 0.5, 0.99],
    "beta_1": [0.0, 0.9, 0.999999],
    "beta_2": [0.0, 0.999, 0.999999],
    "epsilon": [1e-8, 1e-30, 1.0],
    "n_iter_no_change": [1, 10, np.inf],
    "max_fun": [1, 2, 15000],
}
BAD_PARAMS = {
    "hidden_layer_sizes": [[2.5], [3.0], [np.float64(2)], [0], [-1], (3, 0),
                           [True], [np.True_], ["3"], [None], [[3]], 2.5, 0,
                           -1, "3", None],
    "activation": ["softmax", "bogus", None],
    "solver": ["newton", None],
    "alpha": [-1e-4, np.inf, np.nan, "0.1"],
    "batch_size": [0, -1, 2.0, "1"],
    "learning_rate": ["optimal"],
    "learning_rate_init": [0.0, -0.1, "0.1"],
    "power_t": [-0.5],
    "max_iter": [0, -1, 2.0],
    "shuffle": [1, "yes"],
    "random_state": [2**32, -1, 1.5, "seed"],
    "tol": [-1e-4],
    "verbose": [-1, "yes"],
    "warm_start": [0],
    "momentum": [-0.1, 1.1],
    "nesterovs_momentum": [None],
    "early_stopping": ["yes"],
    "validation_fraction": [1.0, -0.1],
    "beta_1": [1.0, -0.1],
    "beta_2": [1.0, -0.1],
    "epsilon": [0.0, -1e-8],
    "n_iter_no_change": [0, 2.5, -np.inf],
    "max_fun": [0, 1.5],
}
GOOD_LOSSES = ["squared_error", "poisson"]
BAD_LOSSES = ["log_loss", "absolute_error"]
FASTBP_DTYPES = [OMIT, "float64", "float32", np.float32, np.float64]

METHODS = ["predict", "predict", "predict_proba", "predict_log_proba",
           "score", "score", "partial_fit", "partial_fit", "fit",
           "set_params"]
GOOD_CLASSES = ["exact", "exact", "superset"]
BAD_CLASSES = [None, "subset", "other", "two_d"]
FAULTS = ["params", "X", "X", "y", "sample_weight", "classes"]


def _pick(draw, good, bad, faulty):
    return draw(st.sampled_from(bad if faulty else good))


@st.composite
def x_recipes(draw, faulty=False, n_features=None):
    fault = draw(st.sampled_from(X_FAULTS)) if faulty else None
    form = _pick(draw, GOOD_FORMS, BAD_FORMS, fault == "form")
    n_samples = draw(st.sampled_from([12] * 6 + [1, 2, 3, 5]))
    if fault == "no_rows":
        n_samples = 0
    if n_features is None or fault == "n_features":
        n_features = draw(st.sampled_from([3, 3, 1, 2]))
    if fault == "no_features":
        n_features = 0
    recipe = {"form": form, "n_samples": n_samples,
              "n_features": n_features,
              "values": draw(st.lists(st.sampled_from(VALUES),
                                      min_size=n_samples * n_features,
                                      max_size=n_samples * n_features))}
    if fault == "special":
        recipe["special"] = (draw(st.sampled_from(SPECIALS)),
                             draw(st.integers(0, 100)))
    if form == "sparse":
        recipe["format"] = draw(st.sampled_from(SPARSE_FORMATS))
        recipe["dtype"] = _pick(draw, GOOD_SPARSE_DTYPES, ["complex"],
                                fault == "dtype")
    else:
        recipe["dtype"] = _pick(draw, GOOD_DTYPES, BAD_DTYPES,
                                fault == "dtype")
        recipe["layout"] = draw(st.sampled_from(LAYOUTS))
    if form == "dataframe":
        recipe["columns"] = draw(st.sampled_from(["str", "str", "int",
                                                  "mixed", "other_str"]))
    return recipe


@st.composite
def y_recipes(draw, n_samples, classifier, faulty=False):
    kind = _pick(draw, GOOD_Y[classifier], ALL_Y, faulty)
    length = n_samples
    if faulty and draw(st.booleans()):
        length = max(0, n_samples + draw(st.sampled_from([-1, 1])))
    return {"kind": kind, "length": length,
            "codes": draw(st.lists(st.integers(0, 2), min_size=3 * length,
                                   max_size=3 * length)),
            "values": draw(st.lists(st.sampled_from(VALUES),
                                    min_size=2 * length,
                                    max_size=2 * length))}


@st.composite
def call_recipes(draw, method, first, classifier, faults=()):
    """One call: its method and the recipes of its arguments (those of the
    ``first`` call again, or new ones); ``faults`` names the arguments
    drawn from their pools of faults."""
    call = {"method": method}
    if method == "set_params":
        name = draw(st.sampled_from(
            ["hidden_layer_sizes", "warm_start", "max_iter", "solver",
             "early_stopping", "batch_size"]))
        call["params"] = {name: _pick(draw, GOOD_PARAMS[name],
                                      BAD_PARAMS.get(name, []),
                                      "params" in faults)}
        return call
    again = (first is not None and "X" not in faults
             and draw(st.booleans()))
    if again:
        X = first["X"]  # the training data again
    else:
        X = draw(x_recipes("X" in faults, None if first is None
                           else first["X"]["n_features"]))
    call["X"] = X
    if method in ("fit", "partial_fit", "score"):
        if again and "y" in first and "y" not in faults:
            call["y"] = first["y"]
        else:
            call["y"] = draw(y_recipes(X["n_samples"], classifier,
                                       "y" in faults))
        call["sample_weight"] = _pick(draw, GOOD_SAMPLE_WEIGHTS,
                                      BAD_SAMPLE_WEIGHTS,
                                      "sample_weight" in faults)
    if method == "partial_fit" and classifier:
        call["classes"] = _pick(draw, GOOD_CLASSES, BAD_CLASSES,
                                "classes" in faults)
    return call


@st.composite
def cases(draw):
    classifier = draw(st.booleans())
    faults = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))
    faults = draw(st.lists(st.sampled_from(FAULTS), min_size=faults,
                           max_size=faults))
    params = {"hidden_layer_sizes": (3,), "max_iter": 2, "random_state": 0}
    good = dict(GOOD_PARAMS, **({} if classifier else {"loss": GOOD_LOSSES}))
    bad = dict(BAD_PARAMS, **({} if classifier else {"loss": BAD_LOSSES}))
    names = draw(st.lists(st.sampled_from(sorted(good)), max_size=3,
                          unique=True))
    if "params" in faults:
        names.append(draw(st.sampled_from(sorted(bad))))
    for name in names:
        params[name] = _pick(draw, good[name], bad[name],
                             "params" in faults and name == names[-1])
    dtype = draw(st.sampled_from(FASTBP_DTYPES))
    first = draw(st.sampled_from(["fit"] * 6 + ["partial_fit"] * 3
                                 + ["predict", "score"]))
    calls = [draw(call_recipes(first, None, classifier, faults))]
    for method in draw(st.lists(st.sampled_from(METHODS), min_size=1,
                                max_size=3)):
        later_faults = draw(st.sampled_from([(), (), ("X",), ("y",),
                                             ("sample_weight",),
                                             ("classes",), ("params",)]))
        calls.append(draw(call_recipes(method, calls[0], classifier,
                                       later_faults)))
    return {"classifier": classifier, "params": params, "dtype": dtype,
            "calls": calls}


# ----------------------------------------------------------------- building
def _dense(values, dtype):
    if dtype == "complex":
        return values + 1j
    if dtype == "complex_zero_imag":
        return values.astype(np.complex128)
    if dtype in ("int64", "int8", "uint8", "bool"):
        values = np.nan_to_num(values)  # no NaN in integers
        if dtype == "bool":
            return values != 0
        return values.astype(np.int64).astype(dtype)
    if dtype == "object":
        return values.astype(object)
    if dtype == "str":
        return values.astype(str)
    if dtype == "bytes":
        return values.astype("S")
    if dtype == "object_str":
        return values.astype(str).astype(object)
    if dtype in ("object_none", "object_text"):
        out = values.astype(object)
        if out.size:
            out.flat[out.size // 2] = None if dtype == "object_none" else "a"
        return out
    return values.astype(dtype)


def _layout(X, layout):
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "strided":
        return np.repeat(X, 2, axis=1)[:, ::2]
    if layout == "readonly":
        X = X.copy()
        X.setflags(write=False)
    return X


def build_X(recipe):
    form = recipe["form"]
    if form == "none":
        return None
    if form == "text":
        return "abc"
    if form == "scalar":
        return np.float64(1.0)
    n, f = recipe["n_samples"], recipe["n_features"]
    values = np.array(recipe["values"], dtype=np.float64).reshape(n, f)
    if "special" in recipe and values.size:
        value, position = recipe["special"]
        values.flat[position % values.size] = value
    if form == "sparse":
        dense = _dense(values, recipe["dtype"])
        return getattr(sp, recipe["format"])(dense)
    X = _layout(_dense(values, recipe["dtype"]), recipe["layout"])
    if form == "1d":
        return X.ravel()
    if form == "3d":
        return X.reshape(n, f, 1)
    if form == "list":
        return X.tolist()
    if form == "dataframe":
        columns = {"str": [f"x{j}" for j in range(f)],
                   "other_str": [f"z{j}" for j in range(f)],
                   "int": list(range(f)),
                   "mixed": [f"x{j}" if j % 2 else j for j in range(f)],
                   }[recipe["columns"]]
        return pd.DataFrame(X, columns=columns)
    return X


def build_y(recipe):
    kind, n = recipe["kind"], recipe["length"]
    codes, values = recipe["codes"], recipe["values"]
    if kind == "none":
        return None
    if kind in Y_POOLS:
        pool = Y_POOLS[kind]
        labels = [pool[c % len(pool)] for c in codes[:n]]
        if kind == "list":
            return labels
        if kind == "object_int":
            return np.array(labels, dtype=object)
        y = np.array(labels)
        return y.reshape(-1, 1) if kind == "column" else y
    if kind == "continuous":
        return np.array(values[:n]) + 0.25
    if kind == "multioutput":
        return np.array(values[:2 * n]).reshape(n, 2) + 0.25
    if kind == "multilabel":
        return (np.array(codes[:3 * n]).reshape(n, 3) > 0).astype(int)
    if kind == "multiclass_multioutput":
        return np.array(codes[:2 * n]).reshape(n, 2)
    if kind == "mixed":
        return np.array([1 if c else "a" for c in codes[:n]], dtype=object)
    if kind in ("nan", "inf"):
        y = np.array(codes[:n], dtype=np.float64)
        if n:
            y[n // 2] = np.nan if kind == "nan" else np.inf
        return y
    if kind == "three_d":
        return np.array(codes[:n]).reshape(n, 1, 1)
    raise AssertionError(kind)


def build_sample_weight(kind, n):
    return {
        None: None, "ones": np.ones(n), "positive": np.arange(n) % 3 + 0.5,
        "zeros": np.zeros(n), "negative": -np.ones(n),
        "wrong_length": np.ones(n + 1), "two_d": np.ones((n, 2)),
        "nan": np.full(n, np.nan), "scalar": 2.0,
        "str": np.array(["1"] * n), "int": np.arange(n) % 2 + 1,
        "list": [1.0] * n, "empty": np.array([]),
    }[kind]


def build_classes(kind, y_recipe):
    if kind is None:
        return None
    pool = Y_POOLS.get(y_recipe["kind"], [0, 1, 2])
    extra = "extra" if isinstance(pool[0], str) else 7
    return {"exact": np.array(pool), "superset": np.array(pool + [extra]),
            "subset": np.array(pool[:1]), "other": np.array(["p", "q"]),
            "two_d": np.array(pool).reshape(-1, 1)}[kind]


def build_params(params):
    """The parameters, with a RandomState object of its own for each
    library where the recipe names one."""
    return {name: np.random.RandomState(0)
            if isinstance(value, str) and value == "RandomState" else value
            for name, value in params.items()}


def build_arguments(call):
    """Positional and keyword arguments of a call other than set_params."""
    args = [build_X(call["X"])]
    kwargs = {}
    if "y" in call:
        args.append(build_y(call["y"]))
        kwargs["sample_weight"] = build_sample_weight(call["sample_weight"],
                                                      call["y"]["length"])
    if call.get("classes") is not None:
        kwargs["classes"] = build_classes(call["classes"], call["y"])
    return args, kwargs


# ---------------------------------------------------------------- comparing
def _summary(result, estimator):
    if result is estimator:
        return "self"
    if isinstance(result, np.ndarray):
        return f"array of shape {result.shape}"
    if isinstance(result, (float, np.floating)):
        return "float"
    return type(result).__name__


def _known_difference(estimator, method, args):
    """Whether this call continues the training of a fitted model (a
    partial_fit, or a fit with warm_start) on a network other than the
    fitted one, which fastbp refuses (ValueError: "The network's layer
    sizes changed between fits") and scikit-learn does not check:

    - ``hidden_layer_sizes`` changed to other valid sizes: scikit-learn
      goes on training the fitted layers if there are as many, and fails
      with an IndexError or a shape's ValueError if not;
    - a regressor with several outputs given targets of one column:
      scikit-learn broadcasts the column against every output.
    """
    if (method not in ("fit", "partial_fit")
            or method == "fit" and estimator.warm_start is not True
            or not getattr(estimator, "coefs_", None)):
        return False
    sizes = estimator.hidden_layer_sizes
    sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
    if all(isinstance(size, (int, np.integer))
           and not isinstance(size, (bool, np.bool_)) and size > 0
           for size in sizes) and sizes != [
               coef.shape[1] for coef in estimator.coefs_[:-1]]:
        return True
    if is_classifier(estimator) or estimator.coefs_[-1].shape[1] == 1:
        return False
    y = args[1]
    shape = np.shape(y) if isinstance(y, (list, np.ndarray)) else ()
    return len(shape) == 1 or len(shape) == 2 and shape[1] == 1


def run(case, library):
    """Outcomes of the case's calls on ``library``'s estimator: for each
    call ("return", summary) or ("raise", exception class, message).

    After a fit or partial_fit that raised, the model's state is not
    specified (scikit-learn's is whatever its code had set by then: after
    ``hidden_layer_sizes=[2.5]``, ``coefs_ = []``), and neither is it after
    a call the two libraries are known to treat differently (outcome
    "differs", see ``_known_difference``): later calls still run, so that
    a crash would show, but their outcomes are "unchecked".
    """
    name = "MLPClassifier" if case["classifier"] else "MLPRegressor"
    params = build_params(case["params"])
    if library is fastbp and case["dtype"] != OMIT:
        params["dtype"] = case["dtype"]
    outcomes = []
    checked = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator = getattr(library, name)(**params)
        except Exception as exc:  # noqa: BLE001 - compared by the caller
            return [("raise", type(exc), str(exc)[:500])]
        for call in case["calls"]:
            method = call["method"]
            if method == "set_params":
                args, kwargs = [], build_params(call["params"])
            else:
                args, kwargs = build_arguments(call)
            known = checked and _known_difference(estimator, method, args)
            try:
                result = getattr(estimator, method)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - compared by the caller
                outcome = ("raise", type(exc), str(exc)[:500])
            else:
                outcome = ("return", _summary(result, estimator))
            if known:
                outcome = ("differs",)
            elif not checked:
                outcome = ("unchecked",)
            outcomes.append(outcome)
            if known or (outcome[0] == "raise"
                         and method in ("fit", "partial_fit")):
                checked = False
    return outcomes


def _public_class(cls):
    """``cls``, or for a class of numpy's private modules (the ufunc
    errors of ``numpy._core._exceptions``) its first base class outside
    them."""
    for base in cls.__mro__:
        if not base.__module__.startswith("numpy._"):
            return base
    raise AssertionError(cls)


def _kind(outcome):
    if outcome[0] == "raise":
        return ("raise", _public_class(outcome[1]))
    return outcome


def assert_same_outcomes(case):
    ours = run(case, fastbp)
    theirs = run(case, sk)
    compared = [(a, b) for a, b in zip(ours, theirs)
                if a[0] != "unchecked" and b[0] != "unchecked"]
    if (len(ours) == len(theirs)
            and all(_kind(a) == _kind(b) for a, b in compared)):
        return
    lines = ["fastbp and scikit-learn disagree:"]
    for i, (a, b) in enumerate(zip(ours, theirs)):
        method = case["calls"][i]["method"] if i < len(case["calls"]) \
            else "__init__"
        mark = "  " if _kind(a) == _kind(b) else "!!"
        lines.append(f"{mark} call {i} {method}:\n     fastbp:  {a}\n"
                     f"     sklearn: {b}")
    if len(ours) != len(theirs):
        lines.append(f"!! {len(ours)} outcomes against {len(theirs)}")
    raise AssertionError("\n".join(lines))


@settings(max_examples=N_EXAMPLES, derandomize=True, database=None,
          deadline=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=cases())
def test_fastbp_and_sklearn_agree_on_generated_input(case):
    assert_same_outcomes(case)
