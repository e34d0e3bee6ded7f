import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp._kernels._capabilities import FAST_PATH

# The lock file around Numba's cache saves in pytest-xdist's workers.
_CACHE_LOCK = "FASTBP_TESTS_CACHE_LOCK"


def pytest_configure(config):
    """With pytest-xdist (``-n``), the kernels' in-tree cache is shared by
    processes running at once.

    Before the workers start, the main process compiles the kernels the
    estimators use with ``python -m fastbp.compile`` (both dtypes at once,
    one process each), so that the workers and the processes tests start
    load them instead of each compiling them again. A worker's own saves
    (kernels the tests call directly) then hold one file lock: Numba's
    cache index is read, extended and rewritten without one, and two
    processes saving entries of one kernel at once could lose one or give
    two the same data file (see ``fastbp/_kernels/_cache_stamp.py``).
    """
    if hasattr(config, "workerinput"):
        if FAST_PATH and os.environ.get(_CACHE_LOCK):
            from fastbp._kernels._cache_stamp import serialise_cache_saves
            serialise_cache_saves(os.environ[_CACHE_LOCK])
        return
    if config.getoption("dist", "no") == "no":
        return
    from fastbp.compile import compile_kernels

    # Its processes import the fastbp under test, wherever pytest runs.
    root = str(Path(fastbp.__file__).resolve().parent.parent)
    pythonpath = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (root, pythonpath) if p)
    try:
        compile_kernels(verbose=False)
    finally:
        if pythonpath is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = pythonpath
    handle, path = tempfile.mkstemp(prefix="fastbp-tests-", suffix=".lock")
    os.close(handle)
    os.environ[_CACHE_LOCK] = path  # the workers inherit it


def pytest_collection_modifyitems(config, items):
    """With pytest-xdist, the files holding ``cold_compile`` tests first.

    ``--dist loadfile --no-loadscope-reorder`` gives each worker one file
    at a time in this order: the long files start at once, one on each
    worker, and the many short ones fill in after them, rather than a long
    file starting last while the other worker has nothing left to do. The
    order within a file does not change (nor anything without -n).
    """
    if not hasattr(config, "workerinput") and config.getoption(
            "dist", "no") == "no":
        return
    first = {item.path for item in items
             if item.get_closest_marker("cold_compile")}
    items.sort(key=lambda item: item.path not in first)  # a stable sort


def pytest_unconfigure(config):
    if not hasattr(config, "workerinput") and _CACHE_LOCK in os.environ:
        Path(os.environ.pop(_CACHE_LOCK)).unlink(missing_ok=True)


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.RandomState(0)



# Tests of what only the fast path does (fastbp's target, handles between
# kernels, its cache stamps and loading; fastbp/_kernels/_capabilities.py).
fast_path_only = pytest.mark.skipif(
    not FAST_PATH, reason="Numba's public path (FASTBP_NUMBA_PUBLIC)")
