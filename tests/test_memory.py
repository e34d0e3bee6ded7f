"""Training reads X where it lies: no copy for its type, order, the
early-stopping split or L-BFGS, and the same weights as on X converted
beforehand."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal

from fastbp import MLPClassifier, MLPRegressor
from fastbp._network import training_data
from fastbp.dask._blocks import block_local_steps
from fastbp._kernels import HIDDEN_CODES, OUTPUT_CODES, SOLVER_CODES
from fastbp._solvers import AdamOptimizer

# Big enough that a converted copy of X stands out from the fit's own
# buffers, small enough for a fast test: 80,000 x 100 (64 MB in float64).
N_ROWS, N_FEATURES = 80_000, 100


def _inputs():
    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, size=(301, 12)).astype(np.uint8)
    X = pixels / 255.0 - 0.5
    return pixels, X, rng.randint(0, 3, 301)


def _as(kind, pixels, X):
    return {
        "float64": X,
        "float64-F": np.asfortranarray(X),
        "float32-F": np.asfortranarray(X.astype(np.float32)),
        "uint8": pixels,
        "uint8-F": np.asfortranarray(pixels),
        "bool": pixels > 127,
        "int64": pixels.astype(np.int64) - 128,
        "int16": pixels.astype(np.int16) - 128,
        "strided": np.hstack([X, X])[:, ::2],
    }[kind]


KINDS = ["float64", "float64-F", "float32-F", "uint8", "uint8-F", "bool",
         "int64", "int16", "strided"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [
    dict(solver="adam"), dict(solver="sgd", early_stopping=True),
    dict(solver="adam", early_stopping=True), dict(solver="lbfgs")],
    ids=["adam", "sgd-es", "adam-es", "lbfgs"])
@pytest.mark.parametrize("kind", KINDS)
def test_fit_in_place_equals_fit_on_converted_X(kind, options, dtype):
    """Any type and order of X gives bitwise the weights (and curves) of
    the same fit on X converted to a C-ordered array of the model's dtype
    first."""
    pixels, X, y = _inputs()
    X_in = _as(kind, pixels, X)
    X_converted = np.ascontiguousarray(X_in, dtype=dtype)
    sw = np.linspace(0.5, 1.5, len(y))
    fits = []
    for data in (X_in, X_converted):
        model = MLPClassifier(hidden_layer_sizes=(8,), dtype=dtype,
                              random_state=0, max_iter=5, batch_size=32,
                              n_iter_no_change=2, **options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(model.fit(data, y, sample_weight=sw))
    for a, b in zip(fits[0].coefs_ + fits[0].intercepts_,
                    fits[1].coefs_ + fits[1].intercepts_):
        assert_array_equal(a, b)
    assert fits[0].n_iter_ == fits[1].n_iter_
    assert getattr(fits[0], "validation_scores_", None) == getattr(
        fits[1], "validation_scores_", None)


@pytest.mark.parametrize("kind", ["float64", "float64-F", "uint8"])
def test_training_reads_dense_x_where_it_lies(kind):
    pixels, X, _ = _inputs()
    X_in = _as(kind, pixels, X)
    data = training_data(X_in, np.float32)
    assert np.shares_memory(data.dense, X_in)
    assert data.transposed == int(kind.endswith("-F"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "bool",
                                   "int64"])
def test_training_data_names_each_gathered_element_type(dtype):
    """The element-type code training reads X with is X_KINDS' for its
    dtype, dense and (for the sparse value types) sparse."""
    from fastbp._kernels._config import X_KINDS
    from fastbp._network import SPARSE_VALUE_DTYPES

    X = np.ones((3, 2), dtype=dtype)
    assert training_data(X, np.float32).kind == X_KINDS[dtype]
    if np.dtype(dtype) in SPARSE_VALUE_DTYPES:
        assert training_data(sp.csr_matrix(X), np.float32).kind == \
            X_KINDS[dtype]


@pytest.mark.parametrize("shape", [5, (5,), [2, 3], (3, 2884), (0, 4), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_aligned_empty_is_a_64_byte_aligned_c_array(shape, dtype):
    from fastbp._network import aligned_empty, aligned_zeros

    for array in (aligned_empty(shape, dtype), aligned_zeros(shape, dtype)):
        assert array.shape == np.empty(shape).shape
        assert array.dtype == dtype and array.flags.c_contiguous
        # An empty array has no data to align (numpy may point it anywhere).
        assert array.size == 0 or array.ctypes.data % 64 == 0
    assert not aligned_zeros(shape, dtype).any()


def test_strided_x_is_converted_first():
    pixels, X, _ = _inputs()
    X_in = _as("strided", pixels, X)
    data = training_data(X_in, np.float32)
    assert not np.shares_memory(data.dense, X_in)


def test_early_stopping_with_sparse_x_equals_dense():
    """Sparse X's split copies its training rows, dense X's reads them in
    place: the same rows, the same fit."""
    pixels, X, y = _inputs()
    X[X < 0] = 0
    fits = [MLPRegressor(hidden_layer_sizes=(8,), dtype="float64",
                         random_state=0, max_iter=4, early_stopping=True,
                         n_iter_no_change=1).fit(data, y)
            for data in (X, sp.csr_matrix(X))]
    np.testing.assert_allclose(fits[0].coefs_[0], fits[1].coefs_[0],
                               rtol=1e-10)
    np.testing.assert_allclose(fits[0].validation_scores_,
                               fits[1].validation_scores_, rtol=1e-10)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_float64_beyond_float32_fails_as_if_converted(method):
    """float64 X with a value beyond float32's range is refused by a
    float32 model as it was when X was converted first (partial_fit on a
    fitted model: after its epoch, with the model put back)."""
    pixels, X, y = _inputs()
    model = MLPClassifier(hidden_layer_sizes=(8,), random_state=0,
                          max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y, classes=[0, 1, 2])
    coef = model.coefs_[0].copy()
    bad = np.asfortranarray(X)
    bad[7, 3] = 1e39
    with pytest.raises(ValueError, match="infinity or a value too large "
                       r"for dtype\('float32'\)"):
        getattr(model, method)(bad, y)
    if method == "partial_fit":
        assert_array_equal(model.coefs_[0], coef)


def _peak_of(function):
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _big_input(kind):
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, N_ROWS)
    if kind == "uint8":
        return rng.randint(0, 256, (N_ROWS, N_FEATURES)).astype(np.uint8), y
    X = rng.standard_normal((N_ROWS, N_FEATURES))
    return (np.asfortranarray(X) if kind == "float64-F" else X), y


@pytest.mark.parametrize("kind,dtype,options", [
    ("float64", "float32", {}),
    ("float64-F", "float32", {}),
    ("uint8", "float32", {}),
    ("float64", "float32", {"early_stopping": True}),
    ("float64", "float64", {"early_stopping": True}),
    ("uint8", "float32", {"early_stopping": True}),
    ("float64", "float32", {"solver": "lbfgs"}),
])
def test_fit_allocates_no_copy_of_x(kind, dtype, options):
    """A fit's traced allocations stay below a quarter of what a copy of
    X in the model's dtype would take (which the fit made before X was
    read in place): the model, its optimizer and a few batches' buffers."""
    X, y = _big_input(kind)
    copy_bytes = N_ROWS * N_FEATURES * np.dtype(dtype).itemsize

    def fit(rows=N_ROWS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(hidden_layer_sizes=(16,), dtype=dtype, max_iter=1,
                          random_state=0, **options).fit(X[:rows], y[:rows])

    fit(rows=1000)  # imports, kernels loaded
    assert _peak_of(fit) < copy_bytes / 4


def test_scorer_reads_no_copy_of_the_validation_rows():
    """A scoring string's scorer scores the early-stopping validation rows
    through their outputs: a fit with it allocates less than the default
    scoring's fit plus half a copy of the validation rows in float32."""
    X, y = _big_input("float64")
    rows_copy = int(np.ceil(0.1 * N_ROWS)) * N_FEATURES * 4

    def fit(scoring=None, rows=N_ROWS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(hidden_layer_sizes=(16,), max_iter=1,
                          early_stopping=True, scoring=scoring,
                          random_state=0).fit(X[:rows], y[:rows])

    fit("balanced_accuracy", rows=1000)  # imports, kernels loaded
    default = _peak_of(fit)
    assert _peak_of(lambda: fit("balanced_accuracy")) < default + rows_copy / 2


def test_dask_block_steps_allocate_no_copy_of_the_block():
    """A block's local steps read its rows where they lie."""
    X, y = _big_input("float64")
    Y = np.ascontiguousarray(y[:, None], dtype=np.float32)
    layer_units = [N_FEATURES, 16, 1]
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1,
                          random_state=0).fit(X[:500], y[:500])
    params = model._params
    optimizer = AdamOptimizer(len(params), np.float32)
    weights = np.vstack([params[None], optimizer.state])
    rows = np.arange(N_ROWS, dtype=np.int64)

    def steps(n=N_ROWS):
        block_local_steps(X[:n], Y[:n], None, rows[:n], 200, weights, 0,
                          layer_units, [HIDDEN_CODES["relu"]],
                          OUTPUT_CODES["logistic"], 1e-7, 1e-4,
                          SOLVER_CODES["adam"], optimizer.hyper)

    steps(1000)
    assert _peak_of(steps) < N_ROWS * N_FEATURES * 4 / 4


def test_dask_early_stopping_split_reads_the_block_in_place():
    """The training part of a dense block's early-stopping split is a row
    map into the block, and a block's local steps on it are the steps on
    the same rows copied, bit for bit."""
    from fastbp.dask._blocks import BlockRows
    from fastbp.dask._data import _rows_of_block

    X, y = _big_input("float64")

    def split(n=N_ROWS):
        return _rows_of_block(X[:n], n, 0, 0.1, "train", np.float32,
                              in_place=True)

    part = split()
    assert isinstance(part, BlockRows) and part.block.base is X
    assert len(part) == N_ROWS - N_ROWS // 10
    split(1000)
    assert _peak_of(split) < N_ROWS * N_FEATURES * 4 / 4

    part = split(3000)
    Y = np.ascontiguousarray(y[part.rows, None], dtype=np.float32)
    model = MLPClassifier(hidden_layer_sizes=(16,), max_iter=1,
                          random_state=0).fit(X[:500], y[:500])
    optimizer = AdamOptimizer(len(model._params), np.float32)
    weights = np.vstack([model._params[None], optimizer.state])
    order = np.random.RandomState(0).permutation(len(part)).astype(np.int64)
    results = [
        block_local_steps(data, Y, None, order, 200, weights, 0,
                          [N_FEATURES, 16, 1], [HIDDEN_CODES["relu"]],
                          OUTPUT_CODES["logistic"], 1e-7, 1e-4,
                          SOLVER_CODES["adam"], optimizer.hyper)
        for data in (part, part.dense())]
    assert_array_equal(results[0][0], results[1][0])
    assert results[0][2] == results[1][2]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["float64", "float32", "int64", "float64-F"])
def test_fit_on_targets_in_place_equals_fit_on_converted_targets(kind,
                                                                 dtype):
    """Regression targets of a type the kernels read in place (each
    batch's rows converted as they are gathered) give bitwise the fit on
    the targets converted to the model's dtype first."""
    rng = np.random.RandomState(0)
    X = rng.standard_normal((203, 6))
    Y = X[:, :2] @ rng.standard_normal((2, 3)) + 0.1 * rng.randn(203, 3)
    Y_in = {"float64": Y, "float32": Y.astype(np.float32),
            "int64": np.round(10 * Y).astype(np.int64),
            "float64-F": np.asfortranarray(Y)}[kind]
    fits = []
    for targets in (Y_in, np.ascontiguousarray(Y_in, dtype=dtype)):
        for solver in ("adam", "lbfgs"):
            model = MLPRegressor(hidden_layer_sizes=(7,), dtype=dtype,
                                 solver=solver, random_state=0, max_iter=4,
                                 batch_size=50)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fits.append(model.fit(X, targets))
    for in_place, converted in zip(fits[:2], fits[2:]):
        for a, b in zip(in_place.coefs_ + in_place.intercepts_,
                        converted.coefs_ + converted.intercepts_):
            assert_array_equal(a, b)
        assert in_place.loss_ == converted.loss_
        assert (getattr(in_place, "loss_curve_", None)
                == getattr(converted, "loss_curve_", None))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fit_allocates_no_float_copy_of_the_targets(solver, dtype):
    """A classifier's one-hot targets are read as the 0/1 bytes they are
    encoded in: a fit on many classes allocates less than half of what
    their copy in the model's dtype would take."""
    n_rows, n_classes = 80_000, 100
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n_rows, 4)).astype(dtype)
    y = rng.randint(0, n_classes, n_rows)
    copy_bytes = n_rows * n_classes * np.dtype(dtype).itemsize

    def fit(rows=n_rows):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(hidden_layer_sizes=(8,), dtype=dtype, max_iter=1,
                          solver=solver, random_state=0).fit(X[:rows],
                                                             y[:rows])

    fit(rows=1000)  # imports, kernels loaded
    assert _peak_of(fit) < copy_bytes / 2


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("options", [{}, {"early_stopping": True},
                                     {"solver": "lbfgs"}],
                         ids=["adam", "adam-es", "lbfgs"])
def test_fit_allocates_no_copy_of_sparse_x(dtype, options):
    """scipy's CSR matrices (float64 values, int32 indices) are read where
    they lie, as dense X is: a fit allocates less than a quarter of X's
    stored values and indices (a copy with the model's values and int64
    indices, as fits made before, takes all of them or more)."""
    X = sp.random(N_ROWS, N_FEATURES, density=0.5, format="csr",
                  random_state=0)
    y = np.random.RandomState(0).randint(0, 2, N_ROWS)
    x_bytes = X.data.nbytes + X.indices.nbytes

    small = X[:1000]  # a CSR slice is a copy: made before tracing

    def fit(data=X):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            MLPClassifier(hidden_layer_sizes=(16,), dtype=dtype, max_iter=1,
                          random_state=0, **options).fit(
                              data, y[:data.shape[0]])

    fit(small)  # imports, kernels loaded
    assert _peak_of(fit) < x_bytes / 4
