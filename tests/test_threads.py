"""The number of Numba threads a fit uses (fastbp/_kernels/_threads.py).

The rule is a pure function of Numba's counts and the environment, tested
over a table; the in-process tests check that ``fit`` and ``partial_fit``
run their compiled calls under it and restore the caller's count. fastbp
reads the environment once, at import; these tests replace that snapshot
(``_threads._ENVIRON``) rather than ``os.environ``.
"""

import threading
import warnings

import numba
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastbp._mlp
import fastbp._solvers
from fastbp import MLPClassifier
from fastbp._kernels import _threads
from fastbp._kernels._threads import fit_thread_count, fit_threads

# (current, configured, default, environ) -> threads for the fit.
# current: numba.get_num_threads(); configured: NUMBA_NUM_THREADS as Numba
# read it; default: the cores Numba would use unconfigured.
RULE_CASES = {
    "nothing set": (8, 8, 8, {}, 8),
    "dask nanny": (8, 8, 8, {"OMP_NUM_THREADS": "1"}, 1),
    "omp below cores": (8, 8, 8, {"OMP_NUM_THREADS": "3"}, 3),
    "omp above cores": (8, 8, 8, {"OMP_NUM_THREADS": "16"}, 8),
    "omp nested list": (8, 8, 8, {"OMP_NUM_THREADS": "2,1"}, 2),
    "omp not a number": (8, 8, 8, {"OMP_NUM_THREADS": "many"}, 8),
    "omp zero": (8, 8, 8, {"OMP_NUM_THREADS": "0"}, 8),
    "omp empty": (8, 8, 8, {"OMP_NUM_THREADS": ""}, 8),
    "NUMBA_NUM_THREADS env wins": (
        8, 8, 8, {"NUMBA_NUM_THREADS": "8", "OMP_NUM_THREADS": "1"}, 8),
    "numba config file wins": (4, 4, 8, {"OMP_NUM_THREADS": "1"}, 4),
    "set_num_threads wins": (3, 8, 8, {"OMP_NUM_THREADS": "1"}, 3),
}


@pytest.mark.parametrize("current, configured, default, environ, expected",
                         list(RULE_CASES.values()), ids=list(RULE_CASES))
def test_fit_thread_count_rule(current, configured, default, environ,
                               expected):
    assert fit_thread_count(current, configured, default, environ) == expected


@pytest.fixture
def numba_unconfigured():
    """Numba left at its defaults, on a machine with at least 2 cores."""
    config = numba.config
    if config.NUMBA_NUM_THREADS != config.NUMBA_DEFAULT_NUM_THREADS:
        pytest.skip("Numba's thread count is configured for this run")
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 Numba threads")
    return numba.config.NUMBA_NUM_THREADS


def _set_environ(monkeypatch, **environ):
    """Make ``environ`` the environment fastbp saw at import."""
    monkeypatch.setattr(_threads, "_ENVIRON", environ)


@pytest.fixture
def recorded_threads(monkeypatch):
    """Numba's thread count seen at each compiled epoch and L-BFGS
    loss evaluation."""
    seen = []

    def recording(kernel):
        def call(*args):
            seen.append(numba.get_num_threads())
            return kernel(*args)
        return call

    monkeypatch.setattr(fastbp._mlp, "_run_epoch",
                        recording(fastbp._mlp._run_epoch))
    monkeypatch.setattr(fastbp._solvers, "_loss_grad",
                        recording(fastbp._solvers._loss_grad))
    return seen


def _fit(solver, method="fit"):
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=3,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if method == "fit":
            clf.fit(X[:100] / 16, y[:100])
        else:
            clf.partial_fit(X[:100] / 16, y[:100], classes=np.arange(10))


@pytest.mark.parametrize("solver, method", [("adam", "fit"), ("sgd", "fit"),
                                            ("adam", "partial_fit"),
                                            ("lbfgs", "fit")])
def test_fit_follows_omp_num_threads(solver, method, numba_unconfigured,
                                     recorded_threads, monkeypatch):
    _set_environ(monkeypatch, OMP_NUM_THREADS="1")
    _fit(solver, method)
    assert recorded_threads and set(recorded_threads) == {1}
    assert numba.get_num_threads() == numba_unconfigured


def test_fit_without_omp_num_threads_uses_every_numba_thread(
        numba_unconfigured, recorded_threads, monkeypatch):
    _set_environ(monkeypatch)
    _fit("adam")
    assert set(recorded_threads) == {numba_unconfigured}


def test_numba_num_threads_env_wins_over_omp_num_threads(
        numba_unconfigured, recorded_threads, monkeypatch):
    _set_environ(monkeypatch, NUMBA_NUM_THREADS=str(numba_unconfigured),
                 OMP_NUM_THREADS="1")
    _fit("adam")
    assert set(recorded_threads) == {numba_unconfigured}


def test_set_num_threads_is_kept_and_other_threads_untouched(
        numba_unconfigured, recorded_threads, monkeypatch):
    # On its own thread, so that set_num_threads cannot leak into others.
    _set_environ(monkeypatch)
    counts = {}

    def work():
        numba.set_num_threads(1)
        _fit("adam")
        counts["after"] = numba.get_num_threads()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert set(recorded_threads) == {1}
    assert counts["after"] == 1
    assert numba.get_num_threads() == numba_unconfigured


def test_fit_threads_restores_count_when_body_raises(numba_unconfigured,
                                                     monkeypatch):
    _set_environ(monkeypatch, OMP_NUM_THREADS="1")
    with pytest.raises(RuntimeError, match="inside"):
        with fit_threads() as n_threads:
            assert n_threads == numba.get_num_threads() == 1
            raise RuntimeError("inside")
    assert numba.get_num_threads() == numba_unconfigured
