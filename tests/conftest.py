import numpy as np
import pytest

from fastbp._kernels._capabilities import FAST_PATH


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.RandomState(0)



# Tests of what only the fast path does (fastbp's target, handles between
# kernels, its cache stamps and loading; fastbp/_kernels/_capabilities.py).
fast_path_only = pytest.mark.skipif(
    not FAST_PATH, reason="Numba's public path (FASTBP_NUMBA_PUBLIC)")
