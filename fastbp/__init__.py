"""fastbp: scikit-learn's MLPClassifier and MLPRegressor, trained by
hand-written backpropagation compiled with Numba."""

from ._mlp import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
