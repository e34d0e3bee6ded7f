"""fastbp: scikit-learn's MLPClassifier and MLPRegressor, trained by
hand-written backpropagation compiled with Numba.

The estimators are imported on first access (``from fastbp import
MLPClassifier``), so that ``import fastbp._kernels`` needs numba and numpy
only: that is what compiles the kernels while the package is built
(``fastbp.compile``). Importing fastbp changes neither ``os.environ``, nor
how Numba compiles other code (``_kernels/_target.py``), nor Numba's
threading layer (TBB is loaded before the first compiled call, if no
parallel code ran before it: ``_kernels/_layer.py``).
"""

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]


def __getattr__(name):
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import _mlp
        return getattr(_mlp, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
