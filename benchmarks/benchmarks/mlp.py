"""asv benchmarks of fastbp's MLPs, with scikit-learn's as the baseline.

Every MLP benchmark is parametrised by ``shape`` (see ``common.SHAPES``) and
``dtype``. ``setup`` builds the data and makes one ``partial_fit`` call on a
small slice of it, so Numba compilation (or loading from its cache) is done
before anything is timed; ``time_fit`` then times one full epoch (one
``partial_fit`` call on all the training data).

This asv_runner re-runs ``setup`` before every timed sample, so the data is
memoised per process (``_data``) and the warm-up call uses a small slice.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import sklearn.neural_network

import fastbp

from .common import SHAPES, classes_of, make_data, make_estimator

_DATA = {}

# Rows used by the warm-up partial_fit in setup (compiles, does not train).
_WARMUP_ROWS = 512

# Epochs trained before track_test_score scores the held-out data.
_SCORE_EPOCHS = 3


def _data(shape, dtype):
    """``make_data(shape, dtype)``, memoised in this process."""
    key = (shape, dtype)
    if key not in _DATA:
        _DATA.clear()  # keep one data set in memory at a time
        _DATA[key] = make_data(shape, dtype)
    return _DATA[key]


class _MLPBenchmark:
    """One epoch of Adam on synthetic data, per shape and dtype.

    Subclasses set ``module`` (``fastbp`` or ``sklearn.neural_network``) and
    ``passes_dtype`` (whether the estimator takes a ``dtype`` parameter).
    """

    module = None
    passes_dtype = False

    params = (list(SHAPES), ["float32", "float64"])
    param_names = ["shape", "dtype"]

    # One epoch of "wide" takes seconds, and setup runs before every sample:
    # a few samples, no warm-up loop, one call per sample.
    timeout = 600
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    processes = 1

    def _estimator(self, shape, dtype):
        return make_estimator(self.module, shape,
                              dtype=dtype if self.passes_dtype else None)

    def setup(self, shape, dtype):
        self.X_train, self.X_test, self.y_train, self.y_test = _data(shape, dtype)
        self.classes = classes_of(shape)
        # warm-up on a slice: compiles (or loads the cache), initialises
        self.est = self._estimator(shape, dtype)
        self._first_partial_fit(self.est, self.X_train[:_WARMUP_ROWS],
                                self.y_train[:_WARMUP_ROWS])
        self.est.predict(self.X_test[:_WARMUP_ROWS])
        self.X_one = self.X_test[:1]
        self.est.predict(self.X_one)

    def _first_partial_fit(self, est, X, y):
        if self.classes is None:
            est.partial_fit(X, y)
        else:
            est.partial_fit(X, y, classes=self.classes)

    def time_fit(self, shape, dtype):
        """One epoch over all training samples."""
        self.est.partial_fit(self.X_train, self.y_train)

    def time_predict(self, shape, dtype):
        """Predict the held-out samples (predict was warmed up in setup)."""
        self.est.predict(self.X_test)

    def time_predict_one_row(self, shape, dtype):
        """Latency of one call on one row (input validation included), as
        a served model sees it."""
        self.est.predict(self.X_one)

    def peakmem_fit(self, shape, dtype):
        """Peak RSS of the process (data included) over one epoch of a new
        estimator."""
        est = self._estimator(shape, dtype)
        self._first_partial_fit(est, self.X_train, self.y_train)

    def track_test_score(self, shape, dtype):
        """Accuracy (classification) or R^2 (regression) on the held-out
        samples after ``_SCORE_EPOCHS`` epochs of a new estimator."""
        est = self._estimator(shape, dtype)
        self._first_partial_fit(est, self.X_train, self.y_train)
        for _ in range(_SCORE_EPOCHS - 1):
            est.partial_fit(self.X_train, self.y_train)
        return round(float(est.score(self.X_test, self.y_test)), 4)

    track_test_score.unit = "accuracy or R^2"


class FastbpMLP(_MLPBenchmark):
    """fastbp.MLPClassifier / MLPRegressor with ``dtype=dtype``."""

    module = fastbp
    passes_dtype = True


class FastbpOptions:
    """One Adam epoch (float32) with a training option on, beside the
    same epoch without: ``time_fit`` for ``option`` "none" is the baseline
    of the ratio. The options' cost per epoch is what asv reports."""

    OPTIONS = {
        "none": {},
        "dropout": {"dropout": 0.2},
        "weight_decay": {"weight_decay": 1e-2},
        "cosine": {"learning_rate": "cosine", "warmup_iter": 2},
        "max_grad_norm": {"max_grad_norm": 1.0},
    }

    params = (["mnist", "wide"], list(OPTIONS))
    param_names = ["shape", "option"]
    timeout = 600
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    processes = 1

    def setup(self, shape, option):
        self.X_train, _, self.y_train, _ = _data(shape, "float32")
        self.est = make_estimator(fastbp, shape, dtype="float32")
        self.est.set_params(**self.OPTIONS[option])
        self.est.partial_fit(self.X_train[:_WARMUP_ROWS],
                             self.y_train[:_WARMUP_ROWS],
                             classes=classes_of(shape))

    def time_fit(self, shape, option):
        """One epoch over all training samples with ``option`` on."""
        self.est.partial_fit(self.X_train, self.y_train)


class FastbpFloat64X:
    """The float32 default trained on float64 X, which it reads in place
    (each batch's rows converted as they are gathered, no float32 copy of
    X): ``peakmem_fit`` beside ``FastbpMLP``'s on float32 X and
    ``SklearnMLP``'s on float64 X, ``time_fit`` beside ``FastbpMLP``'s
    float32 epoch."""

    params = ["mnist", "wide"]
    param_names = ["shape"]
    timeout = 600
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    processes = 1

    def setup(self, shape):
        self.X_train, _, self.y_train, _ = _data(shape, "float64")
        self.est = make_estimator(fastbp, shape, dtype="float32")
        self.est.partial_fit(self.X_train[:_WARMUP_ROWS],
                             self.y_train[:_WARMUP_ROWS],
                             classes=classes_of(shape))

    def time_fit(self, shape):
        """One epoch over all training samples (float64 X)."""
        self.est.partial_fit(self.X_train, self.y_train)

    def peakmem_fit(self, shape):
        """Peak RSS of the process (data included) over one epoch of a new
        float32 estimator on float64 X."""
        est = make_estimator(fastbp, shape, dtype="float32")
        est.partial_fit(self.X_train, self.y_train, classes=classes_of(shape))


class FastbpActivations(FastbpOptions):
    """One Adam epoch (float32) with a hidden activation, beside relu's:
    ``time_fit`` for "relu" is the baseline. gelu evaluates erfc and exp per
    unit and keeps its derivative from the forward pass; ``["gelu",
    "relu"]`` is a network with one of each, for the per-layer path."""

    OPTIONS = {
        "relu": {"activation": "relu"},
        "tanh": {"activation": "tanh"},
        "gelu": {"activation": "gelu"},
        "silu": {"activation": "silu"},
        "gelu_relu": {"activation": ["gelu", "relu"]},
    }

    params = (["mnist", "wide"], list(OPTIONS))

    def setup(self, shape, option):
        if option == "gelu_relu" and shape != "wide":
            raise NotImplementedError("needs two hidden layers (asv skips)")
        super().setup(shape, option)


class SklearnMLP(_MLPBenchmark):
    """scikit-learn's MLPClassifier / MLPRegressor on ``dtype`` input
    (scikit-learn keeps float32 input in float32)."""

    module = sklearn.neural_network
    passes_dtype = False


# ---------------------------------------------------------------------------
# Import and compile time, each in a fresh interpreter
# ---------------------------------------------------------------------------

_IMPORT = {
    "fastbp": "import fastbp",
    "sklearn": "import sklearn.neural_network",
}

_FIT_DIGITS = """
import warnings
from sklearn.datasets import load_digits
from {module} import MLPClassifier
X, y = load_digits(return_X_y=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MLPClassifier(max_iter=50, random_state=0).fit(X, y)
"""

_MODULE = {"fastbp": "fastbp", "sklearn": "sklearn.neural_network"}

# Fresh processes per track_* value; the median is reported.
_N_RUNS = 3


def _child_env(**extra):
    """This environment, with the fastbp imported here first on the path
    (asv drops PYTHONPATH; ASV_PYTHONPATH=... asv run benchmarks a copy)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastbp.__file__)))
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""),
                **extra)


def _wall_time(code, env=None):
    """Wall time of ``python -c code`` in a new process, startup included."""
    env = _child_env() if env is None else env
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


class ImportTime:
    """Start-up costs a user sees, in fresh processes (median of 3).

    Numba's on-disk cache is used as it is: run the suite once to fill it,
    or these include compilation (see ``CompileTime`` for that alone).
    """

    params = ["fastbp", "sklearn"]
    param_names = ["library"]
    timeout = 300

    def setup(self, library):
        # fill Numba's cache so every measured run loads from it
        _wall_time(_FIT_DIGITS.format(module=_MODULE[library]))

    def track_import_time(self, library):
        """``python -c "import fastbp"`` (or scikit-learn's MLP module)."""
        return statistics.median(_wall_time(_IMPORT[library])
                                 for _ in range(_N_RUNS))

    track_import_time.unit = "seconds"

    def track_fresh_fit_digits(self, library):
        """Import, load digits, fit MLPClassifier(max_iter=50,
        random_state=0): the whole script's wall time."""
        code = _FIT_DIGITS.format(module=_MODULE[library])
        return statistics.median(_wall_time(code) for _ in range(_N_RUNS))

    track_fresh_fit_digits.unit = "seconds"


def _fresh_copy(tmp):
    """A copy of the fastbp imported here, without compiled caches, and an
    environment that imports it with Numba's user cache under ``tmp``."""
    import shutil

    package = os.path.dirname(os.path.abspath(fastbp.__file__))
    shutil.copytree(package, os.path.join(tmp, "fastbp"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=tmp,
               XDG_CACHE_HOME=os.path.join(tmp, "user-cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    return env


_FIT_DIGITS_5 = """
import warnings
from sklearn.datasets import load_digits
from fastbp import MLPClassifier
X, y = load_digits(return_X_y=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MLPClassifier(max_iter=5, random_state=0, dtype={dtype!r}).fit(X / 16, y)
"""


class CompileTime:
    """What a fresh install costs, on a copy of fastbp with no compiled
    kernels and an empty user cache (one run each: seconds of compiling).

    ``track_cold_first_fit``: a new process's import and 5-epoch digits fit
    when nothing is compiled (an editable install, or after a kernel
    changed). ``track_compile_command``: ``python -m fastbp.compile``, the
    step ``pip install .`` runs while building; ``track_first_fit_after_
    compile``: the same fit after it, which is what a user's first fit after
    ``pip install .`` costs.
    """

    params = ["float32", "float64"]
    param_names = ["dtype"]
    timeout = 900
    number = 1
    repeat = 1

    def track_cold_first_fit(self, dtype):
        with tempfile.TemporaryDirectory() as tmp:
            env = _fresh_copy(tmp)
            return _wall_time(_FIT_DIGITS_5.format(dtype=dtype), env=env)

    track_cold_first_fit.unit = "seconds"

    def track_compile_command(self, dtype):
        with tempfile.TemporaryDirectory() as tmp:
            env = _fresh_copy(tmp)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "fastbp.compile",
                            "--dtypes", dtype], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            return time.perf_counter() - start

    track_compile_command.unit = "seconds"

    def track_first_fit_after_compile(self, dtype):
        with tempfile.TemporaryDirectory() as tmp:
            env = _fresh_copy(tmp)
            subprocess.run([sys.executable, "-m", "fastbp.compile",
                            "--dtypes", dtype], check=True, env=env,
                           stdout=subprocess.DEVNULL)
            return _wall_time(_FIT_DIGITS_5.format(dtype=dtype), env=env)

    track_first_fit_after_compile.unit = "seconds"
