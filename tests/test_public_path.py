"""Numba's public path (``fastbp/_kernels/_capabilities.py``), forced with
``FASTBP_NUMBA_PUBLIC=1``: what fastbp falls back to under a Numba version
its fast path is not tested with. Each test runs fresh processes on a copy
of the package (and of the tests) with its own Numba cache, so the fast
path's cache is left alone: the public path stamps cache entries its own
way, and a process on it that saved into the package's cache would make
the fast path's entries there stale."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastbp

ROOT = Path(fastbp.__file__).resolve().parent.parent
TIMEOUT = 600

FIT = """
import json, warnings
import numpy as np
from fastbp import MLPClassifier
from fastbp._kernels._capabilities import FAST_PATH
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(300, 12)
y = (X[:, :3].sum(axis=1) > 1.5).astype(int)
# CSR with float32 values and an odd number of them: training reads them
# in place, as float32 (and only as float32) whatever the model's dtype.
import scipy.sparse as sp
Xs = sp.csr_matrix(np.where(X > 0.6, X, 0).astype(np.float32))
assert Xs.nnz % 2  # a float64 view of the values' bytes would not fit
coefs = {}
for dtype in ("float32", "float64"):
    model = MLPClassifier((32,), max_iter=3, batch_size=64, random_state=0,
                          dtype=dtype).fit(X, y)
    coefs[dtype] = [model.coefs_[0].tolist(), model.predict_proba(X).tolist()]
    model = MLPClassifier((32,), max_iter=3, batch_size=64, random_state=0,
                          dtype=dtype).fit(Xs, y)
    coefs[dtype].append(model.coefs_[0].tolist())
print(json.dumps({"fast path": FAST_PATH, "coefs": coefs}))
"""


@pytest.fixture(scope="module")
def public_env(tmp_path_factory):
    """The environment of the public path's processes, which run in (and
    import) a copy of the package and the tests without compiled caches.

    The copy's in-tree cache is shared by this module's processes: those
    of the second test load what the first compiled, where they fit as it
    did."""
    root = tmp_path_factory.mktemp("public")
    for folder in ("fastbp", "tests"):
        shutil.copytree(ROOT / folder, root / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", root)
    env = dict(os.environ, FASTBP_NUMBA_PUBLIC="1", NUMBA_NUM_THREADS="2",
               PYTHONPATH=str(root))
    env.pop("NUMBA_CACHE_DIR", None)
    return env


def _fit(env):
    cwd = env["PYTHONPATH"]  # first on sys.path: the package it names
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c",
                          FIT], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.cold_compile
def test_public_path_fits_as_the_fast_path_does(public_env):
    fast_env = dict(public_env, NUMBA_NUM_THREADS="2", PYTHONPATH=str(ROOT))
    del fast_env["FASTBP_NUMBA_PUBLIC"]
    public, fast = _fit(public_env), _fit(fast_env)
    assert not public["fast path"]
    for dtype, rtol in (("float32", 1e-5), ("float64", 1e-12)):
        for ours, theirs in zip(public["coefs"][dtype], fast["coefs"][dtype]):
            np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)


@pytest.mark.cold_compile
def test_cache_and_process_tests_pass_on_the_public_path(public_env):
    """The tests that run fresh processes on their own copy of the package
    (compile, cache, load), and the ones of the kernels' calls, on the
    public path (the fast path's own mechanisms are skipped there)."""
    tests = [
        "tests/test_processes.py::"
        "test_unwritable_package_dir_uses_user_cache_and_never_recompiles",
        "tests/test_processes.py::"
        "test_import_and_fit_leave_environ_and_other_numba_code_alone",
        "tests/test_kernels.py::test_minimum_and_maximum_are_pythons_min_and_max",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         *tests], env=public_env, cwd=public_env["PYTHONPATH"],
        capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-3000:]
    assert f"{len(tests)} passed" in out.stdout
