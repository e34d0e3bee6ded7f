"""fastbp's copies of scikit-learn's private helpers
(``fastbp/_sklearn_compat.py``): the fits, errors and warnings they give are
those of scikit-learn's own helpers. Each side runs in a fresh process:
with scikit-learn's helpers, with fastbp's copies forced by
``FASTBP_SKLEARN_PUBLIC=1``, and with the private names deleted from
scikit-learn before fastbp is imported (as a scikit-learn that renamed them
would be)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp

ROOT = Path(fastbp.__file__).resolve().parent.parent
TIMEOUT = 600

PRIVATE = {
    "sklearn.base": ["_fit_context"],
    "sklearn.neural_network._base": ["LOSS_FUNCTIONS"],
    "sklearn.utils._param_validation": [
        "Interval", "Options", "StrOptions", "InvalidParameterError",
        "validate_parameter_constraints"],
    "sklearn.utils.validation": ["_check_sample_weight"],
    "sklearn.utils.multiclass": ["_check_partial_fit_first_call"],
    "sklearn.utils.fixes": ["_get_additional_lbfgs_options_dict"],
    "sklearn.utils.optimize": ["_check_optimize_result"],
    "sklearn.metrics._scorer": ["_Scorer"],
}

# Deletes the private names from scikit-learn's modules (after importing
# the modules of scikit-learn that fastbp imports, which use them), then
# runs SCRIPT.
REMOVE = """
import importlib
import sklearn.callback, sklearn.metrics, sklearn.model_selection
import sklearn.neural_network, sklearn.preprocessing
import sklearn.utils.class_weight, sklearn.utils.metaestimators
for module, names in {private!r}.items():
    module = importlib.import_module(module)
    for name in names:
        delattr(module, name)
"""

SCRIPT = """
import json, warnings
import numpy as np
from fastbp import MLPClassifier, MLPRegressor
from fastbp._sklearn_compat import OWN_COPIES

rng = np.random.RandomState(0)
X = rng.rand(120, 6)
y = (X[:, 0] + X[:, 1] > 1).astype(int)
Y = np.column_stack([y, X[:, 2] > 0.5]).astype(int)
t = X @ rng.rand(6) + 0.1
sw = rng.rand(120) + 0.5
out = {"own": sorted(OWN_COPIES), "fits": {}, "errors": {}, "warnings": {}}


def record(key, fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = fn()
        except Exception as exc:
            out["errors"][key] = [type(exc).__name__,
                                  isinstance(exc, ValueError),
                                  isinstance(exc, TypeError), str(exc)]
        else:
            out["fits"][key] = [model.loss_, getattr(model, "loss_curve_", []),
                                getattr(model, "validation_scores_", None),
                                [c.tolist() for c in model.coefs_]]
    out["warnings"][key] = sorted(f"{w.category.__name__}: {w.message}"
                                  for w in caught)


for dtype in ("float32", "float64"):
    common = dict(hidden_layer_sizes=(8,), random_state=0, dtype=dtype)
    record(f"early stopping on the loss {dtype}", lambda: MLPClassifier(
        max_iter=15, early_stopping=True, scoring="loss", **common
    ).fit(X, y, sample_weight=sw))
    # A scorer through the validation outputs (scikit-learn's _Scorer) or,
    # without that class, on a copy of the validation rows: the same fit.
    record(f"early stopping on roc_auc {dtype}", lambda: MLPClassifier(
        max_iter=15, early_stopping=True, scoring="roc_auc", **common
    ).fit(X, y))
    record(f"multilabel loss {dtype}", lambda: MLPClassifier(
        max_iter=8, early_stopping=True, scoring="loss", **common).fit(X, Y))
    record(f"poisson loss {dtype}", lambda: MLPRegressor(
        loss="poisson", max_iter=8, early_stopping=True, scoring="loss",
        **common).fit(X, t))
    record(f"partial_fit {dtype}", lambda: MLPClassifier(**common)
           .partial_fit(X, y, classes=[0, 1]).partial_fit(X, y))
    record(f"lbfgs {dtype}", lambda: MLPRegressor(
        solver="lbfgs", max_iter=5, **common).fit(X, t, sample_weight=2.0))

bad_params = [("alpha", -1.0), ("hidden_layer_sizes", [2.5]),
              ("solver", "newton"), ("dtype", int), ("verbose", -1),
              ("random_state", "seed"), ("early_stopping", "yes"),
              ("n_iter_no_change", 0.5), ("scoring", 3),
              ("class_weight", 3), ("momentum", 1.5), ("dropout", None)]
for name, value in bad_params:
    record(f"{name}={value!r}",
           lambda: MLPClassifier(**{name: value}).fit(X, y))
record("quantile=2", lambda: MLPRegressor(loss="quantile", quantile=2)
       .fit(X, t))
for name, weights in [("2-D", sw.reshape(-1, 1)), ("short", sw[:-1]),
                      ("zero", 0 * sw), ("strings", np.array(["x"] * 120))]:
    record(f"sample_weight {name}", lambda: MLPClassifier(max_iter=2)
           .fit(X, y, sample_weight=weights))
record("no classes", lambda: MLPClassifier().partial_fit(X, y))
record("other classes", lambda: MLPClassifier().partial_fit(
    X, y, classes=[0, 1]).partial_fit(X, y, classes=[0, 1, 2]))
print(json.dumps(out))
"""


def _run(env_extra, prelude=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONHASHSEED="0",
               **env_extra)
    env.pop("FASTBP_SKLEARN_PUBLIC", None)
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", prelude + SCRIPT], env=env,
                         cwd=ROOT, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def with_sklearns():
    return _run({})


def _all_names():
    return sorted(f"{module}.{name}" for module, names in PRIVATE.items()
                  for name in names)


def _assert_same(ours, theirs):
    assert ours["fits"] == theirs["fits"]  # bitwise: the same floats
    assert ours["warnings"] == theirs["warnings"]
    assert set(ours["errors"]) == set(theirs["errors"])
    for key, (name, value_error, type_error, message) in theirs[
            "errors"].items():
        # fastbp's own InvalidParameterError is not scikit-learn's class,
        # but is a ValueError and a TypeError as that is.
        assert ours["errors"][key][1:] == [value_error, type_error, message]
        if name != "InvalidParameterError":
            assert ours["errors"][key][0] == name


def test_scikit_learns_helpers_are_used_where_they_exist(with_sklearns):
    assert with_sklearns["own"] == []
    assert len(with_sklearns["fits"]) == 12
    # every bad input was refused, every lbfgs fit warned
    assert len(with_sklearns["errors"]) == 19
    assert all("ConvergenceWarning: lbfgs failed to converge" in
               with_sklearns["warnings"][f"lbfgs {dtype}"][0]
               for dtype in ("float32", "float64"))


def test_forced_copies_fit_and_fail_as_scikit_learns(with_sklearns):
    own = _run({"FASTBP_SKLEARN_PUBLIC": "1"})
    assert own["own"] == _all_names()
    _assert_same(own, with_sklearns)


def test_copies_replace_names_scikit_learn_no_longer_has(with_sklearns):
    own = _run({}, REMOVE.format(private=PRIVATE))
    assert own["own"] == _all_names()
    _assert_same(own, with_sklearns)


def test_parity_tests_pass_with_the_copies():
    """scikit-learn parity (float64 trajectories) with fastbp's copies."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), FASTBP_SKLEARN_PUBLIC="1")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "tests/test_parity.py"], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-3000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
