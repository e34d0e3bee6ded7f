"""Training data as row blocks held by the workers.

The arrays a user passes are checked (shapes, chunks, finite values,
labels) in one pass over the data, encoded (one-hot class indicators,
class weights) and persisted on the cluster. X keeps its element type when
training reads it in place (``fastbp._network.GATHERED_DTYPES``: each
batch's rows are converted as they are gathered, so a block is never
copied to convert it); other types, the targets and the weights are cast
to the model's dtype.
What the client keeps of them is one future per row block: the trainer
sends each round's tasks to the blocks, never the blocks to the client.

Functions named ``_*_block`` run on the workers.
"""

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.core import flatten
from distributed import futures_of
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target

from .._mlp import _BLOCK_ENTRIES
from .._network import GATHERED_DTYPES, SPARSE_VALUE_DTYPES
from ._blocks import BlockRows, block_predict


def as_dask_array(name, data, ndim=None):
    """``data`` as a dask array; dask DataFrames and Series through
    ``to_dask_array(lengths=True)``, in-memory arrays (scipy.sparse
    matrices as CSR) through ``da.from_array``."""
    if data is None:
        return None
    if hasattr(data, "to_dask_array"):
        data = data.to_dask_array(lengths=True)
    elif sp.issparse(data):
        data = da.from_array(data.tocsr())
    elif not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data))
    if ndim is not None and data.ndim not in ndim:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
            f"got an array of shape {data.shape}.")
    if data.ndim and any(np.isnan(c) for c in data.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes along its rows (NaN in "
            f"{name}.chunks). The trainer needs every block's row count "
            f"before it starts: call {name}.compute_chunk_sizes(), or pass "
            "lengths=True to to_dask_array.")
    if data.ndim == 2 and len(data.chunks[1]) > 1:
        # A block must hold whole rows.
        data = data.rechunk({1: -1})
    return data


def is_sparse(X):
    """Whether the blocks of dask array X are scipy.sparse matrices."""
    return sp.issparse(X._meta)


def _csr_block(X, dtype):
    """A sparse block as a CSR matrix whose values training reads in place:
    float32 and float64 kept, other types converted to ``dtype``."""
    if X.dtype not in SPARSE_VALUE_DTYPES:
        X = X.astype(dtype)
    return X.tocsr()


def check_same_rows(name, array, X):
    """Raise unless ``array`` is cut into the same row blocks as X."""
    if array is None:
        return
    if array.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and {name} have different numbers of rows: {X.shape[0]} and "
            f"{array.shape[0]}.")
    if array.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"X and {name} must be cut into the same row blocks, got "
            f"X.chunks[0] = {X.chunks[0]} and {name}.chunks[0] = "
            f"{array.chunks[0]}. Rechunk one like the other, e.g. "
            f"{name} = {name}.rechunk({{0: X.chunks[0]}}).")


def as_blocks_of(name, X, dtype):
    """X's blocks as training reads them (lazily): dense numpy blocks of a
    type the gather converts in place (``GATHERED_DTYPES``) as they are,
    other dense blocks cast to ``dtype``; scipy.sparse blocks as CSR
    matrices of float32, float64 or else ``dtype``, which the kernels read
    as they read in-memory sparse X. Other kinds of block raise a
    TypeError."""
    if is_sparse(X):
        kept = X.dtype if X.dtype in SPARSE_VALUE_DTYPES else np.dtype(dtype)
        return X.map_blocks(_csr_block, np.dtype(dtype), dtype=kept,
                            meta=sp.csr_matrix((0, 0), dtype=kept))
    if not isinstance(X._meta, np.ndarray):
        raise TypeError(
            f"{name} must be a dask array of numpy arrays or scipy.sparse "
            f"matrices, got blocks of type {type(X._meta).__name__}.")
    if X.dtype not in GATHERED_DTYPES:
        X = X.astype(dtype)
    return X


def as_row_aligned(X, y, sample_weight, dtype, suffix=""):
    """X, y (a single target column as 1-D) and sample_weight (or None) as
    dask arrays cut into the same row blocks, sample_weight and X (unless
    training reads X's type in place) cast to ``dtype`` (lazily); their
    names in errors end with ``suffix``."""
    X = as_dask_array("X" + suffix, X, ndim=(2,))
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X{suffix} must be numeric, got dtype {X.dtype}.")
    y = as_dask_array("y" + suffix, y, ndim=(1, 2))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    sample_weight = as_dask_array("sample_weight" + suffix, sample_weight,
                                  ndim=(1,))
    check_same_rows("y" + suffix, y, X)
    check_same_rows("sample_weight" + suffix, sample_weight, X)
    if sample_weight is not None:
        sample_weight = sample_weight.astype(dtype)
    return as_blocks_of("X" + suffix, X, dtype), y, sample_weight


def persisted_and_arrays(client, *arrays):
    """``arrays`` persisted on the cluster (None stays None)."""
    persisted = iter(client.persist([a for a in arrays if a is not None]))
    return [None if a is None else next(persisted) for a in arrays]


def persisted_blocks(client, arrays):
    """Persist ``arrays`` on the cluster; per array, its blocks' futures in
    block order (None for a None array)."""
    present = [a for a in arrays if a is not None]
    persisted = iter(client.persist(present))
    blocks = []
    for array in arrays:
        if array is None:
            blocks.append(None)
            continue
        array = next(persisted)
        by_key = {future.key: future for future in futures_of(array)}
        blocks.append([by_key[key]
                       for key in flatten(array.__dask_keys__())])
    return blocks


def _finite_block(X, dtype):
    """Whether a sparse block's stored values are all finite once
    converted to ``dtype`` (in slices: a bounded copy)."""
    step = _BLOCK_ENTRIES
    return all(np.isfinite(X.data[i:i + step].astype(dtype)).all()
               for i in range(0, X.data.shape[0], step))


def _all_finite(X, dtype):
    """A dask expression, True when X, once converted to ``dtype``, has no
    NaN or inf."""
    if not is_sparse(X):
        return da.isfinite(X.astype(dtype)).all()
    blocks = X.to_delayed().ravel()
    return dask.delayed(all)([dask.delayed(_finite_block)(block, dtype)
                              for block in blocks])


def check_finite(X, y, sample_weight, check_y, dtype):
    """Dask expressions that are True when the data have no NaN or inf
    (X once converted to ``dtype``; sample weights none negative)."""
    checks = {"X": _all_finite(X, dtype)}
    if check_y:
        checks["y"] = da.isfinite(y).all()
    if sample_weight is not None:
        checks["sample_weight"] = (da.isfinite(sample_weight).all()
                                   & (sample_weight >= 0).all())
    return checks


def raise_if_not_finite(results, dtype):
    for name, ok in results.items():
        if not ok:
            if name == "sample_weight":
                raise ValueError(
                    "sample_weight contains NaN, infinity or negative values.")
            raise ValueError(
                f"Input {name} contains NaN, infinity or a value too large "
                f"for {np.dtype(dtype)!r}.")


def unique_labels(y):
    """The distinct values of y, computed on the cluster."""
    return da.unique(y)


def check_classes(classes):
    """Raise on targets a classifier cannot take."""
    target_type = type_of_target(classes)
    if target_type not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {target_type}. fastbp.dask classifiers take "
            "1-dimensional class labels (binary or multiclass).")


def multilabel_binarizer(labels, n_columns):
    """The LabelBinarizer the in-memory fit makes of 2-D targets with
    ``n_columns`` columns whose distinct values are ``labels``.

    ``type_of_target`` of a 2-D array depends only on its distinct values,
    their dtype and its number of columns, so the binarizer is fitted on one
    row per value; it raises LabelBinarizer's error for targets other than
    multilabel indicators (multiclass-multioutput, continuous).
    """
    labels = np.asarray(labels)
    return LabelBinarizer().fit(np.repeat(labels.reshape(-1, 1), n_columns,
                                          axis=1))


def _binarize_block(y, binarizer, dtype):
    """A block's multilabel targets as the binarizer encodes them."""
    return np.asarray(binarizer.transform(y)).astype(dtype)


def encode_multilabel(y, binarizer, dtype):
    return y.map_blocks(_binarize_block, binarizer, np.dtype(dtype),
                        dtype=dtype, meta=np.empty((0, 0), dtype=dtype))


def multilabel_weight_table(class_weight, Y):
    """Weight of value 0 and 1 in each column of the encoded multilabel
    targets Y (a dask array), ``table[k, v]``: None without class weights;
    for 'balanced', ``n_samples / (n_values * count)`` over the values
    present in the column, as ``compute_sample_weight`` gives them (which
    takes no single dict for several outputs)."""
    if class_weight is None:
        return None
    if class_weight != "balanced":
        raise ValueError(
            "For multi-output, class_weight should be a list of dicts, or "
            "the string 'balanced'.")
    n_samples = Y.shape[0]
    ones = Y.sum(axis=0, dtype=np.float64).compute()
    counts = np.column_stack([n_samples - ones, ones])
    present = (counts > 0).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, float(n_samples) / (present * counts),
                        1.0)


def _multilabel_weight_block(Y, table):
    """The product over columns of each value's weight (float64), in
    ``compute_sample_weight``'s order."""
    Y = Y.astype(np.int64)
    return np.prod([table[k][Y[:, k]] for k in range(Y.shape[1])], axis=0,
                   dtype=np.float64)


def weight_multilabel(Y, sample_weight, table, dtype):
    """Sample weights times the class weights of multilabel targets Y (the
    encoded indicators), cast to ``dtype``."""
    if table is None:
        return sample_weight
    weights = Y.map_blocks(_multilabel_weight_block, table,
                           dtype=np.float64, drop_axis=1,
                           meta=np.empty((0,), dtype=np.float64))
    if sample_weight is not None:
        weights = weights * sample_weight
    return weights.astype(dtype)


def class_weight_vector(class_weight, classes, counts):
    """Weight of each class of ``classes``, as ``compute_sample_weight``
    gives it: 'balanced' is n_samples / (n_classes * count)."""
    if class_weight is None:
        return None
    if class_weight == "balanced":
        return counts.sum() / (len(classes) * counts.astype(np.float64))
    return np.array([float(class_weight.get(c, 1.0)) for c in classes])


def _encode_classes_block(y, classes, dtype):
    """One-hot indicators of ``y`` among ``classes`` (one column for two
    classes: the second one), as LabelBinarizer encodes them."""
    pos = np.searchsorted(classes, y)
    if len(classes) == 2:
        return (pos == 1).astype(dtype).reshape(-1, 1)
    Y = np.zeros((len(y), len(classes)), dtype=dtype)
    Y[np.arange(len(y)), pos] = 1
    return Y


def _class_weight_block(y, sample_weight, classes, weights, dtype):
    """Sample weights times the weight of each sample's class."""
    out = weights[np.searchsorted(classes, y)]
    if sample_weight is not None:
        out = out * sample_weight
    return out.astype(dtype)


def encode_classes(y, classes, dtype):
    n_outputs = 1 if len(classes) == 2 else len(classes)
    return y.map_blocks(_encode_classes_block, classes, np.dtype(dtype),
                        dtype=dtype, chunks=(y.chunks[0], (n_outputs,)),
                        new_axis=1, meta=np.empty((0, 0), dtype=dtype))


def weight_classes(y, sample_weight, classes, weights, dtype):
    if weights is None:
        return sample_weight
    if sample_weight is None:
        return y.map_blocks(_class_weight_block, None, classes, weights,
                            np.dtype(dtype), dtype=dtype,
                            meta=np.empty((0,), dtype=dtype))
    return da.map_blocks(_class_weight_block, y, sample_weight, classes,
                         weights, np.dtype(dtype), dtype=dtype,
                         meta=np.empty((0,), dtype=dtype))


def encode_values(y, dtype):
    y = y.astype(dtype)
    if y.ndim == 1:
        y = y.reshape((-1, 1))
    return y


class Blocks:
    """A data set's row blocks on the workers, in block order.

    Parameters
    ----------
    X, Y : list of Future
        Each block's rows (see :func:`as_row_aligned`) and encoded
        targets, of the model's dtype.
    sample_weight : list of Future or None
    sizes : list of int
        Each block's number of rows; blocks without rows are left out.
    """

    def __init__(self, X, Y, sample_weight, sizes):
        keep = [b for b, n in enumerate(sizes) if n > 0]
        self.X = [X[b] for b in keep]
        self.Y = [Y[b] for b in keep]
        self.sample_weight = (None if sample_weight is None
                              else [sample_weight[b] for b in keep])
        self.sizes = [int(sizes[b]) for b in keep]

    def __len__(self):
        return len(self.sizes)

    @property
    def n_samples(self):
        return sum(self.sizes)

    def weights_of(self, b):
        return None if self.sample_weight is None else self.sample_weight[b]

    def gather(self, client, model):
        """All rows on the client, in block order: ``X``, the targets as
        ``model.score`` takes them (labels or values) and the sample
        weights (None if unweighted)."""
        X = [x.dense() if isinstance(x, BlockRows) else x
             for x in client.gather(self.X)]
        X = sp.vstack(X, format="csr") if sp.issparse(X[0]) else \
            np.concatenate(X)
        return (X, *self._targets_and_weights(client, model))

    def outputs(self, client, model):
        """The rows' output activations under ``model``, computed on the
        workers and gathered in block order (rows x outputs, not the rows
        themselves), with the targets and weights as :meth:`gather` gives
        them."""
        model_future = client.submit(_identity, model, pure=False)
        output = np.concatenate(client.gather([
            client.submit(block_predict, model_future, X, pure=False)
            for X in self.X]))
        return (output, *self._targets_and_weights(client, model))

    def _targets_and_weights(self, client, model):
        """All rows' targets as ``model.score`` takes them (labels or
        values) and sample weights (None if unweighted), in block order."""
        Y = np.concatenate(client.gather(self.Y))
        if hasattr(model, "classes_"):
            y = model._label_binarizer.inverse_transform(Y)
        else:
            y = Y.ravel() if Y.shape[1] == 1 else Y
        sample_weight = (None if self.sample_weight is None else
                         np.concatenate(client.gather(self.sample_weight)))
        return y, sample_weight

    def split(self, client, seeds, fraction, dtype, stratify=False):
        """Each block cut into a training and a validation part: an X
        block's as :class:`BlockRows` (row numbers into the block, no copy),
        Y's and the sample weights' copied and converted to ``dtype``.

        ``ceil(fraction * n_rows)`` of block b's rows, drawn with
        ``seeds[b]``, go to validation (``stratify``: in the proportions of
        the block's classes, see :func:`_validation_rows`). Returns the two
        :class:`Blocks`.
        """
        parts = []
        for part in ("train", "validation"):
            arrays = []
            for blocks in (self.X, self.Y, self.sample_weight):
                if blocks is None:
                    arrays.append(None)
                    continue
                arrays.append([
                    client.submit(_rows_of_block, block, n, seed, fraction,
                                  part, dtype, Y if stratify else None,
                                  blocks is self.X, pure=False)
                    for block, n, seed, Y in zip(blocks, self.sizes, seeds,
                                                 self.Y)])
            sizes = [_split_sizes(n, fraction)[part == "validation"]
                     for n in self.sizes]
            parts.append(Blocks(*arrays, sizes))
        return parts


def _split_sizes(n_rows, fraction):
    n_val = int(np.ceil(fraction * n_rows))
    return n_rows - n_val, n_val


def _validation_rows(n_rows, seed, fraction, Y=None):
    """The validation rows of a block, sorted: ``ceil(fraction * n_rows)``
    of them, drawn with ``seed``.

    With ``Y`` (a classifier's encoded targets of the block, one-hot or one
    column), stratified by class as scikit-learn's
    ``StratifiedShuffleSplit`` draws them, when the block allows it: every
    class present in it has 2 rows or more and both parts can hold one row
    of each. Otherwise (and without ``Y``) a random subset.
    """
    n_val = _split_sizes(n_rows, fraction)[1]
    rng = np.random.RandomState(seed)
    if Y is not None:
        Y = np.asarray(Y)
        labels = Y.argmax(axis=1) if Y.shape[1] > 1 else Y[:, 0]
        _, labels = np.unique(labels, return_inverse=True)
        counts = np.bincount(labels)
        n_classes = len(counts)
        if (counts.min() >= 2 and n_val >= n_classes
                and n_rows - n_val >= n_classes):
            from sklearn.model_selection import StratifiedShuffleSplit

            split = StratifiedShuffleSplit(n_splits=1, test_size=n_val,
                                           random_state=rng)
            return np.sort(next(split.split(np.zeros(n_rows), labels))[1])
    return np.sort(rng.permutation(n_rows)[:n_val])


def _rows_of_block(block, n_rows, seed, fraction, part, dtype, Y=None,
                   in_place=False):
    """The training or validation rows of a block (see
    :func:`_validation_rows`), in their original order, of ``dtype``;
    ``in_place`` (X's blocks, dense or sparse): the block's as
    :class:`BlockRows`, not copied."""
    validation = _validation_rows(n_rows, seed, fraction, Y)
    if part == "validation":
        rows = validation
    else:
        rows = np.setdiff1d(np.arange(n_rows), validation,
                            assume_unique=True)
    if in_place:
        return BlockRows(block, rows.astype(np.int64))
    return np.ascontiguousarray(block[rows], dtype=dtype)


def _identity(value):
    return value


def _validation_block(X, Y, sample_weight, model):
    """A block's sums for the validation score and loss of ``model``.

    Returns a dict with the block's weight sum ``w``, its loss sum
    ``loss`` (the mean loss times ``w``), whether the predictions are all
    finite, and: for a classifier the weighted count of correct
    predictions ``correct``; for a regressor per output the weighted mean
    of y ``mean``, the weighted sum of squared deviations from it ``m2``
    and the weighted sum of squared residuals ``ss_res``.
    """
    P = block_predict(model, X)
    w = (np.ones(len(Y)) if sample_weight is None
         else sample_weight.astype(np.float64))
    total = float(w.sum())
    sums = {"w": total, "finite": bool(np.isfinite(P).all())}
    sums["loss"] = model._data_loss(Y, P, sample_weight) * total
    if is_classifier(model):
        if model.out_activation_ == "logistic":
            # Binary or multilabel: every output right (subset accuracy).
            right = ((P > 0.5) == (Y > 0.5)).all(axis=1)
        else:
            right = P.argmax(axis=1) == Y.argmax(axis=1)
        sums["correct"] = float(w @ right)
    else:
        Y64, P64 = Y.astype(np.float64), P.astype(np.float64)
        mean = w @ Y64 / total
        sums["mean"] = mean
        sums["m2"] = w @ (Y64 - mean) ** 2
        sums["ss_res"] = w @ (Y64 - P64) ** 2
    return sums


class ValidationSet(Blocks):
    """Validation blocks; evaluates a model on them, once per epoch."""

    def evaluate(self, client, model):
        """``(score, loss)`` of ``model``: accuracy or R^2 (averaged over
        outputs), and the mean loss without L2 term, as the in-memory
        estimators record them."""
        model_future = client.submit(_identity, model, pure=False)
        futures = [client.submit(_validation_block, X, Y, self.weights_of(b),
                                 model_future, pure=False)
                   for b, (X, Y) in enumerate(zip(self.X, self.Y))]
        sums = client.gather(futures)
        total = sum(s["w"] for s in sums)
        loss = sum(s["loss"] for s in sums) / total
        if not all(s["finite"] for s in sums):
            score = np.nan
        elif "correct" in sums[0]:
            score = sum(s["correct"] for s in sums) / total
        else:
            score = _r2_from_sums(sums)
        return float(score), float(loss)


def _r2_from_sums(sums):
    """R^2 averaged over outputs from the blocks' sums, combined in block
    order with Chan et al.'s pairwise update of mean and M2."""
    w, mean, m2 = sums[0]["w"], sums[0]["mean"], sums[0]["m2"]
    ss_res = sums[0]["ss_res"]
    for s in sums[1:]:
        delta = s["mean"] - mean
        w_new = w + s["w"]
        m2 = m2 + s["m2"] + delta ** 2 * w * s["w"] / w_new
        mean = mean + delta * s["w"] / w_new
        w = w_new
        ss_res = ss_res + s["ss_res"]
    # As r2_score: a constant target scores 1 if predicted exactly, else 0.
    r2 = np.where(m2 > 0, 1 - ss_res / np.where(m2 > 0, m2, 1),
                  np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


def targets_and_weights(y, sample_weight, y_pred):
    """y and sample weights (ones if None) as dask arrays cut like
    ``y_pred``'s rows, for scoring."""
    y = as_dask_array("y", y, ndim=(y_pred.ndim,)).rechunk(y_pred.chunks)
    if sample_weight is None:
        return y, da.ones(y.shape[0], chunks=y.chunks[0])
    sample_weight = as_dask_array("sample_weight", sample_weight, ndim=(1,))
    return y, sample_weight.rechunk(y.chunks[0]).astype(np.float64)


def weighted_accuracy(y, y_pred, w):
    """sum(w * (y == y_pred)) / sum(w), computed on the cluster (for
    multilabel targets, a row is right when all its labels are)."""
    right = y == y_pred
    if right.ndim == 2:
        right = right.all(axis=1)
    right, total = dask.compute((w * right).sum(), w.sum())
    return float(right / total)


def weighted_r2(y, y_pred, w):
    """R^2 averaged over outputs, as ``sklearn.metrics.r2_score``."""
    if y.ndim == 1:
        y, y_pred = y[:, None], y_pred[:, None]
    w = w[:, None]
    total = w.sum()
    mean = (w * y).sum(axis=0) / total
    ss_res, ss_tot = dask.compute((w * (y - y_pred) ** 2).sum(axis=0),
                                  (w * (y - mean) ** 2).sum(axis=0))
    r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                  np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


def compute(checks):
    """Compute a dict of dask expressions in one pass."""
    keys = list(checks)
    return dict(zip(keys, dask.compute(*[checks[k] for k in keys])))
