"""fastbp: scikit-learn's MLPClassifier and MLPRegressor, trained by
hand-written backpropagation compiled with Numba."""

from ._cpu_features import prefer_512_bit_vectors
from ._tbb import load_wheel_tbb

prefer_512_bit_vectors()  # before anything imports numba
load_wheel_tbb()  # before Numba's first parallel call chooses its layer

from ._mlp import MLPClassifier, MLPRegressor  # noqa: E402

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
