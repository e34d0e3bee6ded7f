"""Numba runs fastbp on the TBB of the ``tbb`` wheel (fastbp/_tbb.py).

The process-level tests start fresh interpreters: Numba chooses its
threading layer once per process, at its first parallel call. They check
the library the process actually mapped, so that a TBB installed
system-wide, which Numba's loader would also find, cannot make them pass.
"""

import json
import os
import platform
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

import pytest

from fastbp import _tbb

TIMEOUT = 300

needs_tbb_wheel = pytest.mark.skipif(
    not (sys.platform.startswith("linux")
         and platform.machine() in _tbb.WHEEL_MACHINES),
    reason="the tbb wheel is a dependency on x86-64 Linux; /proc/self/maps")

FIT_THEN_REPORT = """
import json
import warnings
import numpy as np
import numba
from fastbp import MLPClassifier

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(300, 6).astype(np.float32)
y = (X[:, 0] > 0.5).astype(int)
MLPClassifier((8,), max_iter=2, batch_size=64, random_state=0).fit(X, y)
with open("/proc/self/maps") as maps:
    mapped = sorted({line.split()[-1] for line in maps
                     if "/libtbb.so" in line or "/libgomp" in line})
print(json.dumps({"layer": numba.threading_layer(), "mapped": mapped}))
"""


def _fit_in_fresh_process(**env_changes):
    env = dict(os.environ, **env_changes)
    out = subprocess.run([sys.executable, "-c", FIT_THEN_REPORT], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _wheel_libtbb():
    """The tbb wheel's libtbb.so.12, found independently of fastbp."""
    files = metadata.distribution("tbb").files
    paths = [Path(f.locate()) for f in files if f.name == "libtbb.so.12"]
    assert paths, "the tbb wheel has no libtbb.so.12"
    return paths[0].resolve()


@needs_tbb_wheel
def test_fit_runs_on_the_tbb_layer_of_the_wheel():
    report, stderr = _fit_in_fresh_process()
    assert report["layer"] == "tbb", stderr[-2000:]
    libtbb = [Path(p) for p in report["mapped"] if "/libtbb.so" in p]
    assert len(libtbb) == 1, report["mapped"]
    assert libtbb[0].resolve() == _wheel_libtbb()
    assert "TBBNotLoadedWarning" not in stderr


@needs_tbb_wheel
@pytest.mark.parametrize("variable, value, layer", [
    ("NUMBA_THREADING_LAYER", "omp", "omp"),
    ("NUMBA_THREADING_LAYER", "workqueue", "workqueue"),
    ("NUMBA_THREADING_LAYER_PRIORITY", "workqueue omp tbb", "workqueue"),
])
def test_the_users_threading_layer_choice_is_kept(variable, value, layer):
    report, stderr = _fit_in_fresh_process(**{variable: value})
    assert report["layer"] == layer
    assert "TBBNotLoadedWarning" not in stderr


# A user's parallel function, fastbp imported or fitted before or after it
# (argv[1]: "user", "import,user", "fit,user" or "user,fit").
ORDERS = """
import json, sys, warnings
import numpy as np
import numba

warnings.simplefilter("ignore")
report = {}


def user():
    @numba.njit(parallel=True)
    def total(a):
        s = 0.0
        for i in numba.prange(a.shape[0]):
            s += a[i]
        return s
    total(np.ones(100))
    report["user's layer"] = numba.threading_layer()


def fit():
    from fastbp import MLPClassifier
    rng = np.random.RandomState(0)
    X = rng.rand(300, 6)
    y = (X[:, 0] > 0.5).astype(int)
    model = MLPClassifier((8,), max_iter=2, batch_size=64, random_state=0,
                          dtype="float64").fit(X, y)
    report["coefs"] = [c.tolist() for c in model.coefs_]


for step in sys.argv[1].split(","):
    if step == "import":
        import fastbp  # noqa: F401
        from fastbp import MLPClassifier, MLPRegressor  # noqa: F401
        with open("/proc/self/maps") as maps:
            report["tbb mapped after import"] = "/libtbb.so" in maps.read()
    else:
        {"user": user, "fit": fit}[step]()
report["layer"] = numba.threading_layer()
print(json.dumps(report))
"""


def _run_in_order(order):
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("NUMBA_THREADING_LAYER")}
    out = subprocess.run([sys.executable, "-c", ORDERS, order], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def alone():
    """The user's parallel function in a process without fastbp."""
    return _run_in_order("user")


@needs_tbb_wheel
def test_import_leaves_numbas_threading_layer_alone(alone):
    """Importing fastbp loads no TBB: a user's parallel function runs on
    the layer Numba picks without fastbp."""
    after_import = _run_in_order("import,user")
    assert after_import["tbb mapped after import"] is False
    assert after_import["user's layer"] == alone["user's layer"]


@needs_tbb_wheel
def test_fit_results_do_not_depend_on_who_chose_the_layer(alone):
    """Fitted first, fastbp loads TBB; after a user's parallel code, it
    keeps the layer Numba chose for that code. The fits are the same."""
    fit_first = _run_in_order("fit,user")
    user_first = _run_in_order("user,fit")
    assert fit_first["layer"] == "tbb"
    assert user_first["layer"] == alone["user's layer"]
    assert fit_first["coefs"] == user_first["coefs"]  # bitwise


@pytest.fixture
def nothing_loaded(monkeypatch):
    """_tbb as if it had not run in this process, on a wheel platform."""
    monkeypatch.setattr(_tbb, "_loaded", [])
    monkeypatch.setattr(_tbb.platform, "machine", lambda: "x86_64")


def test_missing_wheel_warns_once_and_says_what_it_means(nothing_loaded,
                                                         monkeypatch):
    monkeypatch.setattr(_tbb, "wheel_library_path", lambda: None)
    with pytest.warns(_tbb.TBBNotLoadedWarning,
                      match="could not load TBB.*fork.*OpenMP"):
        assert _tbb.load_wheel_tbb(environ={}) is None


def test_unloadable_library_warns_with_its_path(nothing_loaded, monkeypatch,
                                                tmp_path):
    broken = tmp_path / _tbb.LIBRARY_NAME
    broken.write_text("not a shared library")
    monkeypatch.setattr(_tbb, "wheel_library_path", lambda: str(broken))
    with pytest.warns(_tbb.TBBNotLoadedWarning, match=str(broken)):
        assert _tbb.load_wheel_tbb(environ={}) is None


@pytest.mark.parametrize("environ", [
    {"NUMBA_THREADING_LAYER": "omp"},
    {"NUMBA_THREADING_LAYER": "workqueue"},
    {"NUMBA_THREADING_LAYER": "forksafe"},
    {"NUMBA_THREADING_LAYER_PRIORITY": "omp tbb workqueue"},
])
def test_no_warning_when_the_user_chose_another_layer(nothing_loaded,
                                                      monkeypatch, environ):
    monkeypatch.setattr(_tbb, "wheel_library_path", lambda: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _tbb.load_wheel_tbb(environ=environ) is None


def test_platforms_without_a_wheel_are_left_alone(monkeypatch):
    monkeypatch.setattr(_tbb, "_loaded", [])
    monkeypatch.setattr(_tbb.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(_tbb, "wheel_library_path", lambda: pytest.fail(
        "looked for a wheel that does not exist on this platform"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _tbb.load_wheel_tbb(environ={}) is None


@needs_tbb_wheel
def test_wheel_library_path_is_the_installed_wheels_file():
    assert Path(_tbb.wheel_library_path()).resolve() == _wheel_libtbb()
