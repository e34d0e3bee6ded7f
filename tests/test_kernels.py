"""The compiled kernels against the plain-numpy reference (tests/reference.py)."""

import functools

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from fastbp._kernels import (OUTPUT_CODES, PREDICT_BLOCK,
                            PREDICT_SLOTS, _predict_rows, _run_epoch)
from fastbp._kernels._config import IDENTITY, RELU, TANH
from fastbp._network import Workspace
from fastbp._solvers import AdamOptimizer, SGDOptimizer

from . import reference
from .conftest import fast_path_only
from fastbp._network import kernel_input, training_data

from .engine import (LOSS_PARAMS, OUT_CODES, TOL, engine_loss_grad, flat,
                     loss_param_of, make_layout, make_targets,
                     random_network)

@functools.cache
def from_python(kernel):
    """A jitted function calling ``kernel``, which is compiled for calls
    from compiled code only (``_config.InternalKernel``).

    One per kernel, so that the tests that call it with the same argument
    types compile it once (a new one compiled for each test, some 0.4 s)."""
    @numba.njit
    def call(*args):
        return kernel(*args)
    return call


HIDDEN = ["identity", "logistic", "tanh", "relu"]
OUTPUTS = [("identity", 1), ("identity", 3), ("logistic", 1), ("logistic", 4),
           ("softmax", 3), ("exp", 2),
           # Identity outputs trained on the robust losses: they predict as
           # the identity.
           ("huber", 1), ("huber", 3), ("absolute_error", 2),
           ("quantile", 3)]
# (n_samples, workspace capacity): one sample; fewer samples than one chunk;
# several chunks not dividing evenly; more samples than the workspace holds
# (processed block by block, as L-BFGS does).
SIZES = [(1, 1), (20, 64), (203, 203), (300, 128)]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,n_outputs", OUTPUTS)
@pytest.mark.parametrize("hidden_sizes", [(7,), (6, 5)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_grad_matches_reference(rng, hidden, out, n_outputs, hidden_sizes,
                                     dtype):
    units = [5, *hidden_sizes, n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(90, 5)
    Y = make_targets(rng, out, 90, n_outputs)
    loss, grad, layout, _ = engine_loss_grad(coefs, intercepts, X, Y, hidden,
                                             out, 1e-2, dtype=dtype)
    # Compare in the model dtype's precision: reference on rounded inputs.
    cast = [c.astype(dtype).astype(float) for c in coefs]
    icast = [b.astype(dtype).astype(float) for b in intercepts]
    Xc = X.astype(dtype).astype(float)
    ref_loss, gW, gb = reference.loss_and_grads(cast, icast, Xc, Y, hidden,
                                                out, 1e-2,
                                                loss_param=LOSS_PARAMS.get(out))
    assert_allclose(loss, ref_loss, rtol=TOL[dtype])
    assert_allclose(grad, flat(layout, gW, gb), rtol=TOL[dtype] * 10,
                    atol=TOL[dtype])


# The activations scikit-learn does not have, and per-layer lists, against
# the reference on fewer outputs and shapes than the four above.
NEW_HIDDEN = ["leaky_relu", "elu", "gelu", "silu", "softplus",
              ["gelu", "relu"], ["relu", "silu"], ["softplus", "elu"]]


def _hidden_id(hidden):
    return hidden if isinstance(hidden, str) else "-".join(hidden)


@pytest.mark.parametrize("hidden", NEW_HIDDEN, ids=_hidden_id)
@pytest.mark.parametrize("out,n_outputs", [("softmax", 3), ("identity", 1)])
@pytest.mark.parametrize("capacity", [None, 32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_new_activations_loss_grad_matches_reference(rng, hidden, out,
                                                     n_outputs, capacity,
                                                     dtype):
    units = [5, 7, 6, n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(90, 5)
    Y = make_targets(rng, out, 90, n_outputs)
    loss, grad, layout, _ = engine_loss_grad(coefs, intercepts, X, Y, hidden,
                                             out, 1e-2, dtype=dtype,
                                             capacity=capacity)
    cast = [c.astype(dtype).astype(float) for c in coefs]
    icast = [b.astype(dtype).astype(float) for b in intercepts]
    Xc = X.astype(dtype).astype(float)
    ref_loss, gW, gb = reference.loss_and_grads(cast, icast, Xc, Y, hidden,
                                                out, 1e-2)
    assert_allclose(loss, ref_loss, rtol=TOL[dtype])
    assert_allclose(grad, flat(layout, gW, gb), rtol=TOL[dtype] * 10,
                    atol=TOL[dtype])


@pytest.mark.parametrize("hidden", NEW_HIDDEN, ids=_hidden_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [15, 1029])
def test_new_activations_predict_rows_match_reference(rng, hidden, dtype,
                                                      n_rows):
    units = [6, 8, 5, 3]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(n_rows, 6)
    layout = make_layout(units, hidden)
    params = layout.pack(coefs, intercepts, dtype)
    result = np.full((n_rows, 3), np.nan, dtype)
    scratch = PREDICT_SLOTS * min(PREDICT_BLOCK, n_rows) * 8
    buf_a = np.empty(scratch, dtype)
    buf_b = np.empty(scratch, dtype)
    _predict_rows(kernel_input(X.astype(dtype), dtype), params,
                  layout.table(1), OUTPUT_CODES["softmax"], buf_a, buf_b,
                  result)
    expected = reference.forward(coefs, intercepts, X, hidden, "softmax")[-1]
    assert_allclose(result, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
def test_predict_rows_with_packed_weights_match_reference(rng, dtype,
                                                          sparse):
    """Prediction with every layer's weights packed in column panels
    (``predict._pack_weights``; widths of whole panels, panels and a rest,
    less than a panel) gives what it gives without, bitwise, and the
    reference's values; the packed buffer holds exactly the panels."""
    from fastbp._kernels import packed_size

    units = [40, 64, 70, 20, 3]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(200, 40)
    X[X < 0.3] = 0
    layout = make_layout(units)
    params = layout.pack(coefs, intercepts, dtype)
    Xk = X.astype(dtype)
    if sparse:
        Xk = sp.csr_matrix(Xk)
    scratch = PREDICT_SLOTS * PREDICT_BLOCK * 70
    results = []
    size = packed_size(layout.table(1), dtype, sparse)
    panel = 128 // np.dtype(dtype).itemsize
    assert size == sum(fan_in * (fan_out // panel * panel)
                       for i, (fan_in, fan_out) in enumerate(
                           zip(units[:-1], units[1:])) if i or not sparse)
    for packed in (None, np.full(size, np.nan, dtype)):
        result = np.full((200, 3), np.nan, dtype)
        _predict_rows(kernel_input(Xk, dtype), params, layout.table(1),
                      OUTPUT_CODES["softmax"], np.empty(scratch, dtype),
                      np.empty(scratch, dtype), result, packed=packed)
        results.append(result)
    assert not np.isnan(packed).any()
    assert_array_equal(results[1], results[0])
    expected = reference.forward(coefs, intercepts, X, "relu",
                                 "softmax")[-1]
    assert_allclose(results[0], expected, rtol=TOL[dtype] * 10,
                    atol=TOL[dtype])


@pytest.mark.parametrize("hidden, needed", [
    ("relu", False), ("elu", False), (["tanh", "leaky_relu"], False),
    ("gelu", True), (["gelu", "relu"], True), (["relu", "silu"], True),
    ("softplus", True)], ids=lambda h: _hidden_id(h) if not isinstance(
        h, bool) else str(h))
def test_workspace_keeps_derivatives_only_for_activations_that_need_it(
        hidden, needed):
    # relu networks read and write no more memory than before: the buffer
    # of kept derivatives is empty unless some layer is softplus, gelu or
    # silu.
    layout = make_layout([5, 7, 6, 3], hidden)
    ws = Workspace(layout, 16, np.float64)
    assert layout.keeps_derivative == needed
    assert ws.deriv.shape == ((ws.acts.shape[0],) if needed else (0,))


@pytest.mark.parametrize("n_samples,capacity", SIZES)
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_grad_batch_shapes_and_weights(rng, n_samples, capacity, weighted):
    units = [4, 9, 3]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(n_samples, 4)
    Y = make_targets(rng, "softmax", n_samples, 3)
    sw = rng.uniform(0.5, 2.0, n_samples) if weighted else None
    loss, grad, layout, _ = engine_loss_grad(coefs, intercepts, X, Y, "tanh",
                                             "softmax", 0.1, sw=sw,
                                             capacity=capacity)
    ref_loss, gW, gb = reference.loss_and_grads(coefs, intercepts, X, Y,
                                                "tanh", "softmax", 0.1, sw=sw)
    assert_allclose(loss, ref_loss, rtol=1e-12)
    assert_allclose(grad, flat(layout, gW, gb), rtol=1e-10, atol=1e-13)


def test_loss_grad_over_several_batches_needs_a_full_batch_workspace(rng):
    # SGD and Adam workspaces have no buffer for a second batch's gradient;
    # the compiled pass refuses them rather than write past it.
    from fastbp._kernels import _loss_grad
    layout = make_layout([4, 9, 3], "tanh")
    X = rng.randn(40, 4)
    Y = make_targets(rng, "softmax", 40, 3)
    params = layout.pack(*random_network(rng, [4, 9, 3]), np.float64)
    idx = np.arange(40, dtype=np.int64)
    for full_batch, n in [(False, 16), (False, 40), (True, 40)]:
        ws = Workspace(layout, 16, np.float64, full_batch=full_batch)
        assert ws.grad_tmp.shape == ((layout.n_params,) if full_batch
                                     else (0,))
        args = (training_data(X, X.dtype), training_data(Y, X.dtype), np.empty(0), idx, 0, n, params,
                ws.table, OUTPUT_CODES["softmax"], 0.1,
                1e-15, ws.buffers())
        if full_batch or n <= 16:
            assert np.isfinite(_loss_grad(*args))
        else:
            with pytest.raises(ValueError, match="full_batch workspace"):
                _loss_grad(*args)


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,n_outputs", OUTPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [
    1,      # one row: the last rows of the products' 8-row tiles
    15,
    37,     # one block of rows
    1029,   # blocks of 64 shared out among the slots, one block part-full
    6000,   # more blocks than slots, in parallel
])
def test_predict_rows_matches_reference(rng, hidden, out, n_outputs, dtype,
                                        n_rows):
    units = [6, 8, 5, n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(n_rows, 6)
    layout = make_layout(units, hidden)
    params = layout.pack(coefs, intercepts, dtype)
    result = np.full((n_rows, n_outputs), np.nan, dtype)
    # scratch: slots x rows of a block x widest hidden layer
    scratch = PREDICT_SLOTS * min(PREDICT_BLOCK, n_rows) * 8
    buf_a = np.empty(scratch, dtype)
    buf_b = np.empty(scratch, dtype)
    _predict_rows(kernel_input(X.astype(dtype), dtype), params,
                  layout.table(1), OUT_CODES[out],
                  buf_a, buf_b, result)
    expected = reference.forward(coefs, intercepts, X, hidden, out)[-1]
    assert_allclose(result, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype])
    # The same rows as CSR, half of the entries zero: the first layer reads
    # the stored entries only.
    X[:, ::2] = 0
    expected = reference.forward(coefs, intercepts, X, hidden, out)[-1]
    result[:] = np.nan
    _predict_rows(kernel_input(sp.csr_matrix(X.astype(dtype)), dtype),
                  params, layout.table(1), OUT_CODES[out], buf_a, buf_b,
                  result)
    assert_allclose(result, expected, rtol=TOL[dtype] * 10, atol=TOL[dtype])


def _reference_epoch(coefs, intercepts, X, Y, order, batch_size, alpha, step,
                     out="softmax"):
    """Mini-batches of ``order`` with the reference loss/grad and ``step``."""
    layout = make_layout([X.shape[1]] + [W.shape[1] for W in coefs])
    params = layout.pack(coefs, intercepts, np.float64)
    accumulated = 0.0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        c, b = layout.views(params)
        loss, gW, gb = reference.loss_and_grads(
            c, b, X[batch], Y[batch], "relu", out, alpha,
            loss_param=LOSS_PARAMS.get(out))
        accumulated += loss * len(batch)
        params = step(params, flat(layout, gW, gb))
    return params, accumulated


# The second network's first layer ends in 4 columns past its last full
# float64 vector, with 130 inputs: its forward product computes them from the
# transposed weights the optimizer keeps (dense._dot_tail), its weight
# gradient down the columns.
NETWORKS = [[5, 8, 3], [130, 20, 3]]


@pytest.mark.parametrize("units", NETWORKS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_epoch_matches_reference(rng, nesterov, units):
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(70, units[0])
    Y = make_targets(rng, "softmax", 70, 3)
    order = rng.permutation(70).astype(np.int64)
    layout = make_layout(units)
    velocity = np.zeros(layout.n_params)

    def step(params, grad):
        nonlocal velocity
        params, velocity = reference.sgd_step(params, grad, velocity, 0.05,
                                              0.9, nesterov)
        return params

    expected, expected_loss = _reference_epoch(coefs, intercepts, X, Y, order,
                                               16, 1e-3, step)
    params = layout.pack(coefs, intercepts, np.float64)
    ws = Workspace(layout, 16, np.float64)
    optimizer = SGDOptimizer(layout.n_params, np.float64, 0.05,
                             momentum=0.9, nesterov=nesterov)
    loss = _run_epoch(training_data(X, X.dtype), training_data(Y, X.dtype), np.empty(0), order, 16, params, ws.table,
                      OUTPUT_CODES["softmax"], 1e-3,
                      float(np.finfo(float).eps), optimizer.kernel_state(),
                      ws.buffers())
    assert_allclose(params, expected, rtol=1e-10, atol=1e-12)
    assert_allclose(loss, expected_loss, rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("units", NETWORKS + [[130, 40, 3]])
@pytest.mark.parametrize("pack", [False, True])
def test_adam_epoch_matches_reference(rng, monkeypatch, units, sparse, pack):
    """An Adam epoch equals the plain-numpy reference's; also with every
    layer of at least one column panel read packed (``PACK_OFFSET``; the
    last network's hidden layer has two float64 panels and 8 columns more),
    which the optimizer keeps up to date between batches."""
    import fastbp._network
    from fastbp._kernels._config import PACK_OFFSET
    monkeypatch.setattr(fastbp._network, "l1_data_cache_bytes",
                        lambda: 0 if pack else 1 << 40)
    monkeypatch.setattr(fastbp._network, "TRAIN_PACK_MIN_ROWS", 1)
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(70, units[0])
    Y = make_targets(rng, "softmax", 70, 3)
    order = rng.permutation(70).astype(np.int64)
    layout = make_layout(units)
    m = np.zeros(layout.n_params)
    v = np.zeros(layout.n_params)
    t = 0

    def step(params, grad):
        nonlocal m, v, t
        t += 1
        params, m, v = reference.adam_step(params, grad, m, v, t, 0.01, 0.9,
                                           0.999, 1e-8)
        return params

    expected, _ = _reference_epoch(coefs, intercepts, X, Y, order, 16, 1e-3,
                                   step)
    params = layout.pack(coefs, intercepts, np.float64)
    # Sparse X: no buffer for the batch's rows (its first layer reads the
    # CSR arrays), which bounds checking would catch being read.
    ws = Workspace(layout, 16, np.float64, sparse=sparse)
    n_panels = [units[l + 1] // 16 for l in range(len(units) - 1)]
    expect_packed = [pack and n > 0 and not (l == 0 and sparse)
                     for l, n in enumerate(n_panels)]
    assert list(ws.table[:, PACK_OFFSET] >= 0) == expect_packed
    optimizer = AdamOptimizer(layout.n_params, np.float64, 0.01, 0.9, 0.999,
                              1e-8)
    state = optimizer.state
    X_in = sp.csr_matrix(X) if sparse else X
    _run_epoch(training_data(X_in, X.dtype), training_data(Y, X.dtype),
               np.empty(0), order, 16, params, ws.table,
               OUTPUT_CODES["softmax"], 1e-3,
               float(np.finfo(float).eps), optimizer.kernel_state(),
               ws.buffers())
    assert optimizer.step[0] == 5  # ceil(70 / 16) updates
    assert_allclose(params, expected, rtol=1e-10, atol=1e-12)
    assert_allclose(state[0], m, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows,K,n_cols", [
    (7, 20, 32),    # fewer than eight rows: summed in C's rows
    (13, 1, 17),    # 8-row tiles, the last overlapping the first
    (9, 10, 100),
    (6, 20, 2),     # rows shorter than a vector: masked
    (11, 50, 33),
    (40, 64, 100),  # 8-row tiles of two vectors, then one masked vector
    (17, 3, 48),
    # With B^T: the last columns as dot products (dense._dot_tail) where
    # K is long enough for them to pay.
    (21, 784, 100),  # mnist's first layer: 4 columns, both dtypes
    (12, 300, 20),   # a vector, then 4 columns as dot products
    (9, 520, 7),     # 7 columns: dot products in float32, masked in float64
])
@pytest.mark.parametrize("bias,kind", [(False, IDENTITY), (True, IDENTITY),
                                       (False, RELU), (True, RELU),
                                       (True, TANH)])
@pytest.mark.parametrize("transposed", [False, True])
def test_product_matches_numpy(rng, dtype, n_rows, K, n_cols, bias, kind,
                               transposed):
    """C = f(A @ B + b), with f = relu for RELU and the identity for every
    other code (the layer applies those after the product); with B^T given
    or not (an empty one); with B's column panels packed (prediction's
    layout for many rows) the same C, bitwise."""
    from fastbp._kernels.dense import _gemm_ab, pack_panels
    _gemm_ab = from_python(_gemm_ab)
    A = rng.randn(n_rows, K).astype(dtype)
    B = rng.randn(K, n_cols).astype(dtype)
    BT = B.T.copy() if transposed else np.empty((0, K), dtype)
    b = rng.randn(n_cols if bias else 0).astype(dtype)
    expected = A.astype(float) @ B.astype(float) + (b if bias else 0)
    if kind == RELU:
        expected = np.maximum(expected, 0)
    tol = TOL[dtype] * max(1.0, np.sqrt(K / 64))  # sums of K terms
    panel = 2 * 64 // np.dtype(dtype).itemsize  # two 512-bit vectors
    unpacked = np.empty((0, panel), dtype)
    C = np.full((n_rows, n_cols), np.nan, dtype)
    _gemm_ab(A, B, C, 0, n_rows, b, kind, BT, unpacked)
    assert_allclose(C, expected, rtol=tol * 10, atol=tol)
    BP = np.full((n_cols // panel * K, panel), np.nan, dtype)
    from_python(pack_panels)(B, BP)
    assert not np.isnan(BP).any()
    if BP.shape[0]:
        C_packed = np.full((n_rows, n_cols), np.nan, dtype)
        _gemm_ab(A, B, C_packed, 0, n_rows, b, kind, BT, BP)
        assert_array_equal(C_packed, C)
    C = np.full((n_rows, n_cols), np.nan, dtype)
    _gemm_ab(A, B, C, 2, n_rows, b, kind, BT, unpacked)  # rows 2.. only
    assert np.isnan(C[:2]).all()
    assert_allclose(C[2:], expected[2:], rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_store_transposed_keeps_packed_panels(rng, dtype):
    """The optimizer's refresh of the transposed weights writes the packed
    panels of the layers that have a PACK_OFFSET, over any range of
    coefficients (whole rows as vectors, cut rows entry by entry): after
    ranges that cover every coefficient, each layer's panels are
    ``pack_panels`` of its W, and nothing else in ``wt`` is touched."""
    from fastbp._kernels._config import (COEF_OFFSET, INTERCEPT_OFFSET,
                                         PACK_OFFSET)
    from fastbp._kernels.dense import pack_panels, panel_rows
    from fastbp._kernels.optimizers import _store_transposed
    from fastbp._network import Layout

    store = from_python(_store_transposed)
    # Layers of 2 panels and 9 columns more, less than a panel, exactly 1
    # panel (float32: 32 columns; float64: 16).
    units = [37, 73, 5, 32]
    layout = Layout(units, [RELU, RELU])
    table = layout.table(4)
    lanes = 64 // np.dtype(dtype).itemsize
    n_coefs = int(table[0, INTERCEPT_OFFSET])
    end = -(-n_coefs // (2 * lanes)) * 2 * lanes
    for l in (0, 2):
        table[l, PACK_OFFSET] = end
        end += panel_rows(units[l], units[l + 1], lanes) * 2 * lanes
    params = rng.randn(layout.n_params).astype(dtype)
    wt = np.full(end + 3, np.nan, dtype)
    cuts = np.unique(np.r_[0, rng.randint(0, n_coefs, 9), n_coefs])
    for p0, p1 in zip(cuts[:-1], cuts[1:]):
        store(params, wt, table, np.int64(p0), np.int64(p1))
    for l in (0, 2):
        off = table[l, PACK_OFFSET]
        rows = panel_rows(units[l], units[l + 1], lanes)
        W = params[table[l, COEF_OFFSET]:][:units[l] * units[l + 1]]
        expected = np.full((rows, 2 * lanes), np.nan, dtype)
        from_python(pack_panels)(W.reshape(units[l], units[l + 1]), expected)
        assert_array_equal(wt[off:off + rows * 2 * lanes].reshape(
            rows, 2 * lanes), expected)
    assert np.isnan(wt[end:]).all()
    assert np.isnan(wt[n_coefs:table[0, PACK_OFFSET]]).all()


def test_float32_exp_of_nonpositive_values_within_one_ulp():
    """The vectorised exp of float32 softmax: within 1 ulp of the exact
    value over the whole non-positive range, 0 below ln(FLT_MIN) (where
    expf gives a subnormal), NaN for NaN."""
    from fastbp._kernels.losses import _exp_nonpositive_f32

    @numba.njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = _exp_nonpositive_f32(x[i])
        return out

    x = -np.abs(np.random.RandomState(0).standard_normal(200_000) * 30)
    x = np.concatenate([x, -np.linspace(0, 87.3, 100_001)]).astype(np.float32)
    exact = np.exp(x.astype(np.float64))
    got = apply(x)
    normal = exact >= np.finfo(np.float32).tiny
    ulp = np.spacing(exact[normal].astype(np.float32)).astype(np.float64)
    assert np.abs(got[normal] - exact[normal]).max() <= ulp.max()
    assert (np.abs(got[normal] - exact[normal]) <= ulp).all()
    assert (got[~normal] == 0).all()
    edges = np.array([0.0, -0.0, -87.33, -87.34, -100.0, -1e30, -np.inf,
                      np.nan], np.float32)
    got = apply(edges)
    assert got[0] == 1 and got[1] == 1
    assert got[2] == pytest.approx(np.exp(-87.33), rel=1e-6)
    assert (got[3:7] == 0).all() and np.isnan(got[7])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows(rng, dtype):
    """Rows s0..s1 only, against numpy in float64; huge logit spreads
    (exp underflows), rows with +inf or NaN give NaN as numpy does."""
    from fastbp._kernels._config import OUT_SOFTMAX
    from fastbp._kernels.losses import _output_activate_rows
    _output_activate_rows = from_python(_output_activate_rows)

    Z = (rng.randn(40, 10) * np.array([1, 10, 100, 1000])[
        rng.randint(0, 4, 40), None]).astype(dtype)
    Z[7, 3] = np.inf
    Z[8, 5] = np.nan
    Z[9, :] = -np.inf
    Z[9, 2] = 0
    with np.errstate(invalid="ignore"):
        shifted = Z.astype(float) - Z.astype(float).max(axis=1,
                                                        keepdims=True)
        expected = np.exp(shifted) / np.exp(shifted).sum(axis=1,
                                                        keepdims=True)
    P = Z.copy()
    _output_activate_rows(OUT_SOFTMAX, P, 3, 39)
    assert_allclose(P[3:39], expected[3:39], rtol=TOL[dtype] * 10,
                    atol=TOL[dtype])
    np.testing.assert_array_equal(P[:3], Z[:3])
    np.testing.assert_array_equal(P[39:], Z[39:])
    assert np.isnan(P[7]).all() and np.isnan(P[8]).all()
    assert_allclose(P[9], np.eye(10)[2])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_cols", [1, 7, 8, 15, 16, 17, 40])
def test_row_product_writes_nothing_past_its_rows(rng, dtype, n_cols):
    """The vector tiles' masked stores end at each row's last entry: the
    memory right after C (and after rows r0..r1) keeps its values."""
    from fastbp._kernels.dense import _gemm_ab
    _gemm_ab = from_python(_gemm_ab)
    n_rows, K = 11, 5
    A = rng.randn(n_rows, K).astype(dtype)
    B = rng.randn(K, n_cols).astype(dtype)
    buf = np.full(n_rows * n_cols + 64, -7.0, dtype)
    C = buf[:n_rows * n_cols].reshape(n_rows, n_cols)
    _gemm_ab(A, B, C, 1, n_rows - 1, np.empty(0, dtype), IDENTITY,
             np.empty((0, K), dtype), np.empty((0, K), dtype))
    assert (buf[n_rows * n_cols:] == -7).all()
    assert (C[0] == -7).all() and (C[-1] == -7).all()
    assert_allclose(C[1:-1], (A.astype(float) @ B)[1:-1],
                    rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m,n_rows,n_cols,r0,r1", [
    (37, 20, 33, 0, 20),   # tiles of eight rows, the last one overlapping
    (37, 20, 33, 3, 9),    # rows 3..9 only: fewer than eight, one by one
    (64, 50, 64, 8, 40),
    (5, 9, 1, 0, 9),       # one column: a vector masked to one lane
    (200, 100, 10, 16, 96),
])
def test_weight_gradient_product_matches_numpy(rng, dtype, m, n_rows, n_cols,
                                               r0, r1):
    """C[r0:r1] = A[:m, r0:r1]^T D[:m], from A and D as they are (one row
    per sample); rows of A and D past m and rows of C outside r0..r1 are
    not touched."""
    from fastbp._kernels.dense import _gemm_atb
    _gemm_atb = from_python(_gemm_atb)
    A = rng.randn(m + 3, n_rows).astype(dtype)
    D = rng.randn(m + 3, n_cols).astype(dtype)
    C = np.full((n_rows, n_cols), np.nan, dtype)
    _gemm_atb(A, D, C, r0, r1, m)
    expected = A[:m].astype(float).T @ D[:m].astype(float)
    assert_allclose(C[r0:r1], expected[r0:r1], rtol=TOL[dtype] * 10,
                    atol=TOL[dtype] * 10)
    assert np.isnan(C[:r0]).all() and np.isnan(C[r1:]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_views_are_the_reshaped_slices_and_stay_in_bounds(dtype):
    from fastbp._kernels._views import rows_flat, view
    view = from_python(view)

    flat = np.arange(50, dtype=dtype)
    for offset, rows, cols in [(0, 5, 10), (3, 4, 7), (50, 0, 3), (7, 1, 43)]:
        got = view(flat, offset, rows, cols)
        assert got.flags.c_contiguous and got.base is not None
        np.testing.assert_array_equal(
            got, flat[offset:offset + rows * cols].reshape(rows, cols))
        got[...] = -1  # a view: writes reach the buffer
        assert (flat[offset:offset + rows * cols] == -1).all()
        flat[:] = np.arange(50)
    read_only = flat.copy()
    read_only.flags.writeable = False
    assert not view(read_only, 2, 3, 4).flags.writeable
    for offset, rows, cols in [(0, 6, 9), (45, 1, 6), (-1, 1, 1), (0, -1, 2)]:
        with pytest.raises(IndexError, match="outside its buffer"):
            view(flat, offset, rows, cols)

    @numba.njit
    def rows_of(Z, r0, r1):
        return rows_flat(Z, r0, r1)

    Z = np.arange(30, dtype=dtype).reshape(6, 5)
    np.testing.assert_array_equal(rows_of(Z, 2, 5), Z[2:5].ravel())
    assert rows_of(Z, 3, 3).shape == (0,)


def test_task_groups_cover_every_task_once_in_order():
    """The weight-gradient tasks of a batch go to threads in runs of about
    equal work (_task_range): every task once, in order, whatever the
    number of threads, and no run much heavier than the mean."""
    from fastbp._kernels import backprop
    _block_rows, _find_block, _n_row_tasks, _task_range = (
        from_python(getattr(backprop, name)) for name in (
            "_block_rows", "_find_block", "_n_row_tasks", "_task_range"))

    rng = np.random.RandomState(0)
    for _ in range(40):
        n_layers = rng.randint(1, 5)
        units = rng.randint(1, 600, n_layers + 1)
        layers = np.zeros((n_layers, 5), np.int64)
        layers[:, 0], layers[:, 1] = units[:-1], units[1:]
        m = int(rng.randint(1, 300))
        sparse = bool(rng.rand() < 0.3)
        n_tasks = _n_row_tasks(layers, sparse, m) + n_layers
        cost = []
        for task in range(n_tasks):
            if task < n_tasks - n_layers:
                l, r0, r1 = _find_block(layers, task, sparse, m)
                cost.append((r1 - r0) * layers[l, 1] * m)
            else:
                cost.append(layers[task - (n_tasks - n_layers), 1] * m)
        for n_groups in (1, 2, 3, 4, 7):
            runs = [_task_range(layers, sparse, m, n_tasks, n_groups, g)
                    for g in range(n_groups)]
            covered = [t for t0, t1 in runs for t in range(t0, t1)]
            assert covered == list(range(n_tasks))
            heaviest = max(sum(cost[t0:t1]) for t0, t1 in runs if t1 > t0)
            assert heaviest <= sum(cost) / n_groups + max(cost)
    assert _block_rows(np.array([[784, 512, 0, 0, 0], [512, 256, 0, 0, 0]]),
                       1, False, 256) == 16


def test_stack_int64_is_a_writable_array_of_its_constant_size():
    from fastbp._kernels._views import stack_int64

    @numba.njit
    def fill(k):
        a = stack_int64(16)
        for i in range(a.shape[0]):
            a[i] = i * k
        total = 0
        for i in range(a.shape[0]):
            total += a[i]
        return a.shape[0], total, a[:3].shape[0]

    assert fill(2) == (16, 240, 3)


@fast_path_only
def test_only_entry_points_are_callable_from_python():
    """Every kernel but the two entry points is compiled without a CPython
    wrapper (``_target.InternalKernel``, for compile time); called from
    Python it raises instead of jumping through the missing wrapper."""
    from numba.core.registry import CPUDispatcher

    from fastbp import _kernels
    from fastbp._kernels._target import InternalKernel

    modules = [_kernels.activations, _kernels.backprop, _kernels.dense,
               _kernels.epoch, _kernels.losses, _kernels.optimizers,
               _kernels.predict, _kernels._views]
    kernels = {name: obj for module in modules
               for name, obj in vars(module).items()
               if isinstance(obj, CPUDispatcher)}
    assert len(kernels) > 20
    wrapped = {name for name, obj in kernels.items()
               if not isinstance(obj, InternalKernel)}
    assert wrapped == {"_train_kernel", "_predict_kernel"}
    A = np.ones((2, 2))
    with pytest.raises(TypeError, match="_gemm_ab is compiled without a "
                                        "Python wrapper"):
        _kernels.dense._gemm_ab(A, A, A, 0, 2, np.empty(0), IDENTITY, A,
                                A)


def test_minimum_and_maximum_are_pythons_min_and_max():
    """_minmax's intrinsics give what Python's builtins give, NaN and
    mixed types included."""
    from fastbp._kernels._minmax import maximum, minimum

    @numba.njit
    def both(a, b):
        return minimum(a, b), maximum(a, b)

    nan = float("nan")
    for a, b in [(3, 4), (4, 3), (-2, -2), (3, 2.5), (1.5, nan), (nan, 1.5),
                 (-0.0, 0.0), (0.0, -0.0), (np.float32(0.25), 1e-300),
                 (np.int64(7), np.int32(-9))]:
        got = both(a, b)
        expected = (min(a, b), max(a, b))
        np.testing.assert_array_equal(got, expected)
        assert [np.copysign(1, g) for g in got] == [
            np.copysign(1, e) for e in expected]
    assert isinstance(both(3, 4)[0], int)


@fast_path_only
@pytest.mark.parametrize("dtype", [np.float32, np.dtype(np.float64)])
def test_register_takes_dtypes_and_module_sequences(dtype):
    # register() is one set lookup after the first call for the same
    # dtype (given as a dtype or its scalar type) and modules (a tuple or a
    # list).
    from fastbp._kernels import _extern
    for modules in (("dense",), ["dense", "activations"], ("dense",)):
        _extern.register(dtype, modules)
        assert all((np.dtype(dtype), m) in _extern._REGISTERED
                   for m in modules)



@fast_path_only
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_object_file_symbols_are_those_numba_reads_from_the_bitcode():
    # _cache_stamp loads a cached kernel's library with the symbols its
    # object file's symbol table names, instead of parsing the bitcode
    # cached beside it: for every library in the kernels' cache, the two
    # must name the same symbols.
    import llvmlite.binding as llvm

    from fastbp import MLPClassifier
    from fastbp._kernels import (_cache_stamp, activations, backprop, dense,
                                 epoch, losses, optimizers, predict)
    X = np.random.RandomState(0).rand(40, 3)
    for dtype in ("float32", "float64"):  # compiled and cached, if not yet
        MLPClassifier((4,), max_iter=1, dtype=dtype).fit(
            X, X[:, 0] > 0.5).predict(X)
    dispatchers = {id(obj): obj for module in (
        activations, backprop, dense, epoch, losses, optimizers, predict)
        for obj in vars(module).values()
        if isinstance(getattr(obj, "_cache", None), numba.core.caching.Cache)}
    n_libraries = 0
    for dispatcher in dispatchers.values():
        cache_file = dispatcher._cache._cache_file
        for data_name in cache_file._load_index().values():
            name, kind, (object_code, bitcode) = cache_file._load_data(
                data_name)[0]
            module = llvm.parse_bitcode(bitcode)
            from_bitcode = {value.name for values in (
                module.functions, module.global_variables)
                for value in values if not value.is_declaration}
            assert kind == "object" and from_bitcode
            assert _cache_stamp._elf_defined_symbols(object_code) == (
                from_bitcode), name
            n_libraries += 1
    assert n_libraries > 20
    # Not ELF (a Mach-O header): Numba's own path.
    assert _cache_stamp._elf_defined_symbols(
        b"\xcf\xfa\xed\xfe" + bytes(60)) is None


@fast_path_only
def test_object_files_it_cannot_read_take_numbas_path():
    from fastbp._kernels._cache_stamp import _unserialize_library

    class Codegen:  # stands for Numba's: its own unserialisation
        def unserialize_library(self, state):
            return "Numba's path", state[0]

    for object_code in (b"\x7fELF\x02\x01" + bytes(10),  # cut short
                        b"\x7fELF\x02\x01" + bytes(58),  # no symbol table
                        b"\x7fELF\x01\x01" + bytes(58),  # 32-bit
                        b"MZ" + bytes(62)):  # Windows
        assert _unserialize_library(
            Codegen(), ("lib", "object", (object_code, b""))) == (
            "Numba's path", "lib")


@pytest.mark.parametrize("out,n_outputs", [("huber", 2), ("absolute_error", 1),
                                           ("quantile", 2)])
@pytest.mark.parametrize("sparse", [False, True])
def test_robust_loss_adam_epoch_matches_reference(rng, out, n_outputs,
                                                  sparse):
    """A whole compiled epoch (chunks, weight gradients, Adam) with the
    output errors of the Huber, absolute and pinball losses."""
    units = [5, 8, n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(70, 5)
    Y = make_targets(rng, out, 70, n_outputs)
    order = rng.permutation(70).astype(np.int64)
    layout = make_layout(units)
    m = np.zeros(layout.n_params)
    v = np.zeros(layout.n_params)
    t = 0

    def step(params, grad):
        nonlocal m, v, t
        t += 1
        params, m, v = reference.adam_step(params, grad, m, v, t, 0.01, 0.9,
                                           0.999, 1e-8)
        return params

    expected, expected_loss = _reference_epoch(coefs, intercepts, X, Y, order,
                                               16, 1e-3, step, out=out)
    params = layout.pack(coefs, intercepts, np.float64)
    ws = Workspace(layout, 16, np.float64, sparse=sparse)
    optimizer = AdamOptimizer(layout.n_params, np.float64, 0.01, 0.9, 0.999,
                              1e-8)
    X_in = sp.csr_matrix(X) if sparse else X
    loss = _run_epoch(training_data(X_in, X.dtype), training_data(Y, X.dtype),
               np.empty(0), order, 16,
                      params, ws.table, OUT_CODES[out],
                      1e-3, loss_param_of(out), optimizer.kernel_state(),
                      ws.buffers())
    assert_allclose(params, expected, rtol=1e-10, atol=1e-12)
    assert_allclose(loss, expected_loss, rtol=1e-12)


@pytest.mark.parametrize("out,n_outputs", [("logistic", 1), ("logistic", 3),
                                           ("softmax", 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_grad_of_soft_targets_matches_reference(rng, out, n_outputs,
                                                     dtype):
    """Label smoothing's soft targets: the log-losses take the full
    cross-entropy -sum_k y_k log p_k and the output error p - y."""
    units = [5, 7, n_outputs]
    coefs, intercepts = random_network(rng, units)
    X = rng.randn(90, 5)
    n_classes = 2 if out == "logistic" else n_outputs
    Y = 0.7 * make_targets(rng, out, 90, n_outputs) + 0.3 / n_classes
    loss, grad, layout, _ = engine_loss_grad(coefs, intercepts, X, Y, "tanh",
                                             out, 1e-2, dtype=dtype)
    cast = [c.astype(dtype).astype(float) for c in coefs]
    icast = [b.astype(dtype).astype(float) for b in intercepts]
    Y_cast = Y.astype(dtype).astype(float)
    ref_loss, gW, gb = reference.loss_and_grads(
        cast, icast, X.astype(dtype).astype(float), Y_cast, "tanh", out, 1e-2)
    assert_allclose(loss, ref_loss, rtol=TOL[dtype])
    assert_allclose(grad, flat(layout, gW, gb), rtol=TOL[dtype] * 10,
                    atol=TOL[dtype])
