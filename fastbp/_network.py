"""The network's memory: one flat parameter vector and its workspaces.

``coefs_[i]`` (shape (fan_in, fan_out)) and ``intercepts_[i]`` (shape
(fan_out,)) are views into one flat vector laid out as scikit-learn's
``_pack``: all coefficients first, then all intercepts. The kernels see only
the flat vector and an int64 table of per-layer sizes and offsets.
"""

import functools
import math
import os

import numpy as np

from ._kernels import MAX_CHUNKS, REDUCE_BLOCK
from ._kernels._config import (ACT_OFFSET, ACTIVATION, COEF_OFFSET, FAN_IN,
                               FAN_OUT, IDENTITY, INTERCEPT_OFFSET,
                               N_LAYER_COLUMNS, PACK_OFFSET, SOFTPLUS,
                               TRAIN_PACK_MIN_ROWS, X_KINDS)
from ._kernels.dense import panel_rows
from ._kernels.simd import VECTOR_BYTES
from ._kernels._state import TrainingData, Work

# Workspaces start on a 64-byte boundary (one cache line, one 512-bit
# vector).
_ALIGN = 64


def aligned_empty(shape, dtype):
    """Uninitialised C-contiguous array whose data starts 64-byte aligned."""
    dtype = np.dtype(dtype)
    # math.prod and the array interface, not np.prod and ndarray.ctypes:
    # a block's round makes several of these (a few microseconds each).
    n = (int(math.prod(shape)) if isinstance(shape, tuple)
         else int(np.prod(shape)))
    raw = np.empty(n * dtype.itemsize + _ALIGN, dtype=np.uint8)
    start = -raw.__array_interface__["data"][0] % _ALIGN
    return raw[start:start + n * dtype.itemsize].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype):
    """Zero-filled version of :func:`aligned_empty`."""
    out = aligned_empty(shape, dtype)
    out[...] = 0
    return out


class Layout:
    """Sizes and offsets of a network with the given ``layer_units``.

    Parameters
    ----------
    layer_units : sequence of int
        ``[n_features, *hidden_layer_sizes, n_outputs]``.
    hidden_codes : sequence of int
        The activation code (``HIDDEN_CODES``) of each hidden layer.

    Attributes
    ----------
    table : int64 ndarray of shape (n_layers - 1, 7)
        Per layer: fan_in, fan_out, coefficient offset, intercept offset,
        the offset of the layer's block in the activation workspace
        (in units of one sample: multiply by the workspace capacity), its
        activation code (IDENTITY for the output layer), and -1 for the
        packed weights' offset (a ``Workspace`` sets those it packs).
    keeps_derivative : bool
        Whether the forward pass keeps f'(z) of some layer for the
        backward pass (softplus, gelu, silu).
    n_params : int
        Length of the flat parameter vector.
    """

    def __init__(self, layer_units, hidden_codes):
        self.layer_units = [int(u) for u in layer_units]
        fans = list(zip(self.layer_units[:-1], self.layer_units[1:]))
        hidden_codes = [int(c) for c in hidden_codes]
        if len(hidden_codes) != len(fans) - 1:
            raise ValueError(f"Expected {len(fans) - 1} hidden activation "
                             f"codes, got {len(hidden_codes)}.")
        self.hidden_codes = hidden_codes
        self.keeps_derivative = any(c >= SOFTPLUS for c in hidden_codes)
        table = np.zeros((len(fans), N_LAYER_COLUMNS), dtype=np.int64)
        table[:, ACTIVATION] = hidden_codes + [IDENTITY]
        table[:, PACK_OFFSET] = -1
        offset = 0
        for i, (fan_in, fan_out) in enumerate(fans):
            table[i, [FAN_IN, FAN_OUT, COEF_OFFSET]] = fan_in, fan_out, offset
            offset += fan_in * fan_out
        for i, (_, fan_out) in enumerate(fans):
            table[i, INTERCEPT_OFFSET] = offset
            offset += fan_out
        self.n_params = offset
        self._unit_table = table
        # What prediction uses on every call, computed once.
        self.table_for_one = self.table(1)
        self.max_hidden_width = max(self.layer_units[1:-1] or [1])

    def training_bytes(self, capacity, itemsize, sparse=False):
        """Lower bound on the memory a fit with batches of ``capacity`` needs.

        Parameters, gradient, its block buffer (L-BFGS) or two optimizer
        state vectors, transposed and packed weights, plus the workspace's
        per-sample buffers (for ``sparse`` X, no copy of the batch's rows:
        see ``Workspace``).
        The float64 draws of the initialisation come on top of it.
        """
        units = self.layer_units
        per_sample = ((3 if self.keeps_derivative else 2) * sum(units[1:])
                      + (0 if sparse else units[0]))
        _, packed = _packed_offsets(units, itemsize, capacity, sparse, 0)
        return (5 * self.n_params + packed
                + capacity * per_sample) * itemsize

    def check_memory(self, capacity, itemsize, sparse=False):
        """Raise ``MemoryError`` if a fit cannot fit into physical memory.

        Without this, a network far too large fails on whichever buffer
        happens to be allocated first, or, with memory overcommit, is
        killed by the operating system halfway through a fit.
        """
        needed = self.training_bytes(capacity, itemsize, sparse)
        available = physical_memory()
        if available is not None and needed > available:
            raise MemoryError(
                f"Training a network with layer sizes {self.layer_units} "
                f"({self.n_params:,} parameters) needs at least "
                f"{_format_bytes(needed)} of memory, more than this "
                f"machine's {_format_bytes(available)}. Use smaller "
                f"hidden_layer_sizes or a smaller batch_size"
                + (' or dtype="float32".' if itemsize > 4 else "."))

    def table(self, capacity):
        """Layer table whose activation offsets suit ``capacity`` samples."""
        table = self._unit_table.copy()
        widths = table[:, FAN_OUT] * capacity
        table[:, ACT_OFFSET] = np.concatenate([[0], np.cumsum(widths)[:-1]])
        return table

    def views(self, params):
        """Lists ``coefs, intercepts`` of views into the flat ``params``."""
        coefs, intercepts = [], []
        for row in self._unit_table:
            fan_in, fan_out = row[FAN_IN], row[FAN_OUT]
            coef_off, icpt_off = row[COEF_OFFSET], row[INTERCEPT_OFFSET]
            coefs.append(
                params[coef_off:coef_off + fan_in * fan_out].reshape(
                    fan_in, fan_out))
            intercepts.append(params[icpt_off:icpt_off + fan_out])
        return coefs, intercepts

    def pack(self, coefs, intercepts, dtype):
        """New aligned flat vector holding copies of ``coefs``, ``intercepts``."""
        params = aligned_empty(self.n_params, dtype)
        own_coefs, own_intercepts = self.views(params)
        for dst, src in zip(own_coefs + own_intercepts, coefs + intercepts):
            if dst.shape != np.shape(src):
                raise ValueError(
                    f"Expected a parameter array of shape {dst.shape}, got "
                    f"{np.shape(src)}.")
            dst[...] = src
        return params


# The named initialisation schemes: (distribution, numerator, fan), drawing
# each layer's coefficients with
#   uniform: limit = sqrt(3 * numerator / fan), U(-limit, limit)
#   normal:  std = sqrt(numerator / fan), N(0, std^2) (not truncated, as
#            PyTorch's init functions)
# fan is fan_in ("in") or (fan_in + fan_out) / 2 ("avg"). Keras and PyTorch
# define them so: Glorot (Xavier) with avg and 1, He (Kaiming, relu gain)
# with in and 2, LeCun with in and 1. Their intercepts start at zero.
INIT_SCHEMES = {
    "glorot_uniform": ("uniform", 1.0, "avg"),
    "glorot_normal": ("normal", 1.0, "avg"),
    "he_uniform": ("uniform", 2.0, "in"),
    "he_normal": ("normal", 2.0, "in"),
    "lecun_normal": ("normal", 1.0, "in"),
}


def init_params(layout, activation, random_state, dtype, init="auto"):
    """Initial parameters, drawn from ``random_state``.

    ``activation`` is the estimator's parameter: one name for every hidden
    layer, or a list of one name per hidden layer. ``init="auto"`` draws
    exactly as scikit-learn does: for each layer, in order, ``coef =
    uniform(-b, b, (fan_in, fan_out))`` then ``intercept = uniform(-b, b,
    fan_out)``, with ``b = sqrt(factor / (fan_in + fan_out))``, ``factor``
    2 for a layer whose activation is logistic and 6 otherwise. The output
    layer takes the factor of ``activation="logistic"`` as scikit-learn's
    does (whose factor follows the estimator's ``activation`` for every
    layer, even with no hidden layer at all); a list counts as logistic
    when it is not empty and every name in it is "logistic". A scheme of
    ``INIT_SCHEMES`` draws each layer's coefficients (one draw per layer,
    in order) and sets its intercepts to zero. Draws are float64 then cast,
    as in scikit-learn.
    """
    coefs, intercepts = [], []
    n_hidden = len(layout.layer_units) - 2
    if isinstance(activation, str):
        hidden = [activation] * n_hidden
        output_logistic = activation == "logistic"
    else:
        hidden = list(activation)
        output_logistic = len(hidden) > 0 and all(
            a == "logistic" for a in hidden)
    layer_activations = hidden + [
        "logistic" if output_logistic else "identity"]
    for fan_in, fan_out, layer_activation in zip(
            layout.layer_units[:-1], layout.layer_units[1:],
            layer_activations):
        shape = (fan_in, fan_out)
        if init == "auto":
            factor = 2.0 if layer_activation == "logistic" else 6.0
            bound = np.sqrt(factor / (fan_in + fan_out))
            coefs.append(random_state.uniform(-bound, bound, shape))
            intercepts.append(random_state.uniform(-bound, bound, fan_out))
            continue
        distribution, numerator, fan_kind = INIT_SCHEMES[init]
        fan = fan_in if fan_kind == "in" else (fan_in + fan_out) / 2.0
        if distribution == "uniform":
            limit = np.sqrt(3.0 * numerator / fan)
            coefs.append(random_state.uniform(-limit, limit, shape))
        else:
            coefs.append(random_state.normal(0.0, np.sqrt(numerator / fan),
                                             shape))
        intercepts.append(np.zeros(fan_out))
    return layout.pack(coefs, intercepts, dtype)


def physical_memory():
    """Bytes of physical memory, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


@functools.cache
def l1_data_cache_bytes():
    """Bytes of a core's level-1 data cache as Linux reports it (sysfs),
    or 32 KiB where it does not say (every x86 core of the last decade has
    32 or 48 KiB). Read once per process (the files took 57 us a read, on
    every fit and ``partial_fit`` call)."""
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(root)):
            path = os.path.join(root, entry)
            if not entry.startswith("index"):
                continue
            with open(os.path.join(path, "level")) as f:
                level = f.read().strip()
            with open(os.path.join(path, "type")) as f:
                kind = f.read().strip()
            if level == "1" and kind in ("Data", "Unified"):
                with open(os.path.join(path, "size")) as f:
                    size = f.read().strip()
                factor = {"K": 1024, "M": 1024 ** 2}.get(size[-1:], 1)
                return int(size.rstrip("KM")) * factor
    except (OSError, ValueError):
        pass
    return 32 * 1024


def packed_training_layers(layer_units, itemsize, capacity, sparse=False,
                           l1_bytes=None):
    """The layers whose W training reads packed in column panels, for
    batches of up to ``capacity`` rows.

    A layer is packed when its W does not fit in a core's level-1 data
    cache (``l1_data_cache_bytes``) and has at least one two-vector column
    panel, and batches hold at least ``TRAIN_PACK_MIN_ROWS`` rows; a
    sparse X's first layer never (its product reads W row by row of the
    stored entries). A W that fits in L1 is read from there whatever its
    layout; a larger one streams through L1 once per tile of eight rows,
    and packed, each panel's rows are one contiguous run (not rows a
    layer's width apart, which on some CPUs defeat the prefetchers and map
    to few cache sets). The copy is written by the optimizer step beside
    the transposed weights (``optimizers._store_transposed``), once per
    batch: smaller batches do not repay it (``_config`` has the figures).
    """
    if capacity < TRAIN_PACK_MIN_ROWS:
        return []
    if l1_bytes is None:
        l1_bytes = l1_data_cache_bytes()
    lanes = VECTOR_BYTES // itemsize
    return [l for l, (fan_in, fan_out) in enumerate(
                zip(layer_units[:-1], layer_units[1:]))
            if panel_rows(fan_in, fan_out, lanes) > 0
            and fan_in * fan_out * itemsize > l1_bytes
            and not (l == 0 and sparse)]


def _packed_offsets(layer_units, itemsize, capacity, sparse, start):
    """Where the W of ``packed_training_layers`` lie packed in a buffer
    from entry ``start`` on, one layer after the other, each from a
    multiple of two vectors (128 bytes) past ``start``: ``{layer:
    offset}`` and the entry after the last."""
    width = 2 * VECTOR_BYTES // itemsize
    offsets, end = {}, start
    for l in packed_training_layers(layer_units, itemsize, capacity,
                                    sparse):
        offsets[l] = end
        end += panel_rows(layer_units[l], layer_units[l + 1],
                          width // 2) * width
    return offsets, end


def _format_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Workspace:
    """Scratch buffers for training batches of up to ``capacity`` samples.

    Allocated once per fit; the compiled epoch allocates nothing.
    ``buffers()`` gives them to the kernels as a named ``Work`` tuple:

    wt : transposed weights (each layer's W as (fan_out, fan_in)), then
        the W of the layers ``packed_training_layers`` names in column
        panels (``dense.pack_panels``), at the table's ``PACK_OFFSET``
    xbuf : (capacity, n_features), the batch's rows of X; (capacity, 0)
        for ``sparse`` X, whose first layer reads the CSR arrays directly
        (a batch of 200 rows of 2**20 hashed features would otherwise take
        800 MiB in float32)
    ybuf : (capacity, n_outputs), the batch's targets in the training
        dtype (the targets are read where they lie, like X)
    acts, deltas : every layer's activations and errors, (capacity, fan_out)
        blocks at the layer table's activation offsets
    deriv : f'(z), laid out as ``acts``, of the layers whose derivative
        the forward pass keeps (``Layout.keeps_derivative``); (0,) if none
    grad : (n_params,), the batch's gradient (L-BFGS: the full gradient)
    grad_tmp : (n_params,), a batch's gradient when a set is processed in
        several batches (L-BFGS); (0,) but for ``full_batch`` workspaces
    chunk_loss : (MAX_CHUNKS,) float64, each chunk's loss sum
    block_sq : float64, one partial sum of squared weights per
        weight-gradient task of a batch (at most one per 8 rows of a layer's
        W, and one per b), or per REDUCE_BLOCK parameters (L-BFGS)
    """

    def __init__(self, layout, capacity, dtype, sparse=False,
                 full_batch=False):
        units = layout.layer_units
        self.capacity = capacity
        self.table = layout.table(capacity)
        n_act = int(sum(units[1:])) * capacity
        n_coefs = int(self.table[0, INTERCEPT_OFFSET])
        # The packed panels follow the transposed weights, from a multiple
        # of two vectors (128 bytes) on.
        itemsize = np.dtype(dtype).itemsize
        width = 2 * VECTOR_BYTES // itemsize
        offsets, end = _packed_offsets(units, itemsize, capacity, sparse,
                                       -(-n_coefs // width) * width)
        for l, offset in offsets.items():
            self.table[l, PACK_OFFSET] = offset
        self.wt = aligned_empty(end, dtype)
        self.xbuf = aligned_empty((capacity, 0 if sparse else units[0]),
                                  dtype)
        self.ybuf = aligned_empty((capacity, units[-1]), dtype)
        self.acts = aligned_empty(n_act, dtype)
        self.deltas = aligned_empty(n_act, dtype)
        self.deriv = aligned_empty(n_act if layout.keeps_derivative else 0,
                                   dtype)
        self.grad = aligned_zeros(layout.n_params, dtype)
        self.grad_tmp = aligned_zeros(layout.n_params if full_batch else 0,
                                      dtype)
        self.chunk_loss = np.zeros(MAX_CHUNKS)
        n_blocks = (layout.n_params + REDUCE_BLOCK - 1) // REDUCE_BLOCK
        fan_ins = np.asarray(units[:-1], dtype=np.int64)
        max_tasks = int(((fan_ins + 7) // 8).sum()) + len(fan_ins)
        self.block_sq = np.zeros(max(n_blocks, max_tasks))

    def buffers(self):
        """Workspace arrays as the kernels' named ``Work`` tuple."""
        return Work(self.wt, self.xbuf, self.ybuf, self.acts, self.deltas,
                    self.deriv, self.grad, self.grad_tmp, self.chunk_loss,
                    self.block_sq)


def kernel_input(X, dtype):
    """X as the kernels take it: ``(dense, data, indices, indptr)``.

    Dense X must already be C-contiguous of ``dtype`` (validation makes it
    so; no copy is made here). Sparse X is passed as its CSR arrays, never
    densified: values of ``dtype``, int32 column indices (scipy's usual
    type, read where they lie; the training kernels read the same), int64
    row pointers. Both forms have the same Numba type, so one compiled
    specialisation serves both.
    """
    from scipy.sparse import issparse

    if issparse(X):
        X = X.tocsr()
        return (np.empty((0, X.shape[1]), dtype=dtype),
                np.ascontiguousarray(X.data, dtype=dtype),
                _int32_indices(X),
                np.ascontiguousarray(X.indptr, dtype=np.int64))
    return dense_kernel_input(X)


def _int32_indices(X):
    """CSR X's column indices as int32: as they are if they are int32."""
    if X.shape[1] > np.iinfo(np.int32).max:
        raise ValueError(f"sparse X of {X.shape[1]} columns: at most "
                         f"{np.iinfo(np.int32).max} are supported")
    return np.ascontiguousarray(X.indices, dtype=np.int32)


# The element types training reads where they lie (``_kernels/gather.py``).
GATHERED_DTYPES = tuple(np.dtype(name) for name in X_KINDS)
# X_KINDS by dtype: ``dtype.name`` is computed in Python on every use.
_X_KIND_OF = {np.dtype(name): kind for name, kind in X_KINDS.items()}


def readable_in_place(X):
    """Whether training reads dense X as it is: an ndarray of a gathered
    element type, aligned, in C or Fortran order."""
    return (isinstance(X, np.ndarray) and X.ndim == 2
            and X.dtype in GATHERED_DTYPES and X.flags.aligned
            and (X.flags.c_contiguous or X.flags.f_contiguous))


def training_data(X, dtype, rows=None):
    """X as the training kernels read it, a ``TrainingData``.

    Dense X of a gathered element type in C or Fortran order is read where
    it lies, through a read-only view of its bytes: each batch's rows are
    converted to ``dtype`` as the epoch gathers them. Other dense X is
    converted to a C-ordered copy of ``dtype`` first. Sparse X is passed as
    its CSR arrays, never densified: float32 or float64 values and int32
    column indices where they lie (values converted as they are read),
    values of other types converted to ``dtype`` and int64 indices to
    int32 first; the row pointers as an int64 copy (one per row).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    dtype : numpy dtype
        The training dtype.
    rows : int64 ndarray or None
        Training sample r is row ``rows[r]`` of X (None: row r). Entries
        must lie in [0, n_samples).
    """
    dtype = np.dtype(dtype)
    no_rows = _EMPTY_CSR[dtype][2]
    rows = no_rows if rows is None else np.ascontiguousarray(rows,
                                                             dtype=np.int64)
    if rows.shape[0] and (rows.min() < 0 or rows.max() >= X.shape[0]):
        raise ValueError("row map outside X")
    # No scipy import: ``python -m fastbp.compile`` runs without scipy.
    if not isinstance(X, np.ndarray) and hasattr(X, "tocsr"):
        return _sparse_training_data(X.tocsr(), dtype, rows)
    if not readable_in_place(X):
        X = np.ascontiguousarray(X, dtype=dtype)
    transposed = not X.flags.c_contiguous
    source = X.T if transposed else X
    if source.shape[1] == 0:  # no bytes to view
        raw = np.empty((source.shape[0], 0), dtype=np.uint8)
    else:
        raw = source.view(np.uint8)
    return TrainingData(raw, _X_KIND_OF[X.dtype], int(transposed), rows,
                        *_NO_CSR)


def _sparse_training_data(X, dtype, rows):
    """``training_data`` of a CSR matrix X (see there)."""
    values = X.data
    if values.dtype not in SPARSE_VALUE_DTYPES:
        values = values.astype(dtype)
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(1, -1)
    return TrainingData(_NO_DENSE, _X_KIND_OF[values.dtype], 0, rows, raw,
                        _int32_indices(X),
                        np.ascontiguousarray(X.indptr, dtype=np.int64))


def dense_kernel_input(X):
    """The kernels' ``(dense, data, indices, indptr)`` for a C-contiguous X.

    The three empty arrays are shared read-only ones (a one-row prediction
    would otherwise spend a microsecond making them).
    """
    return (X,) + _EMPTY_CSR[X.dtype]


def _read_only_empty(dtype):
    a = np.empty(0, dtype=dtype)
    a.flags.writeable = False
    return a


_EMPTY_CSR = {np.dtype(t): (_read_only_empty(t), _read_only_empty(np.int32),
                            _read_only_empty(np.int64))
              for t in (np.float32, np.float64)}
# A TrainingData's empty parts: the dense bytes of sparse X, the CSR arrays
# of dense X.
_NO_DENSE = _read_only_empty(np.uint8).reshape(0, 0)
_NO_CSR = (_NO_DENSE, _read_only_empty(np.int32), _read_only_empty(np.int64))
# The types of stored values training reads in place.
SPARSE_VALUE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def weights_or_empty(sample_weight, dtype):
    """Sample weights as a contiguous array, or an empty one for None."""
    if sample_weight is None:
        return np.empty(0, dtype=dtype)
    return np.ascontiguousarray(sample_weight, dtype=dtype)
