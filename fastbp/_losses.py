"""The losses fastbp trains on beyond scikit-learn's, in numpy, and label
smoothing's soft targets.

Training computes these losses in the compiled kernels
(``_kernels/losses.py``); the functions here give the same values for the
validation loss (``validation_loss_curve_``), where scikit-learn's
``LOSS_FUNCTIONS`` has no entry for them. Each takes ``(y_true, y_pred,
sample_weight=None)`` as those do and returns the sample-weighted mean over
samples of the mean over outputs, the scale of the training loss
(``loss_``) without its L2 term.
"""

import numpy as np


def _weighted_mean(per_element, sample_weight):
    """Weighted mean over samples (rows) of the mean over outputs."""
    return float(np.average(per_element, weights=sample_weight,
                            axis=0).mean())


def huber_loss(y_true, y_pred, sample_weight=None, delta=1.0):
    """PyTorch's ``HuberLoss(delta)``: 0.5 r^2 where |r| <= delta, else
    delta (|r| - 0.5 delta), r = y_pred - y_true."""
    r = np.abs(np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64))
    per_element = np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))
    return _weighted_mean(per_element, sample_weight)


def absolute_error_loss(y_true, y_pred, sample_weight=None):
    """|y_pred - y_true|, scikit-learn's ``mean_absolute_error``."""
    r = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
    return _weighted_mean(np.abs(r), sample_weight)


def pinball_loss(y_true, y_pred, sample_weight=None, quantile=0.5):
    """q r where r = y_true - y_pred >= 0, else (q - 1) r: scikit-learn's
    ``mean_pinball_loss(alpha=quantile)``."""
    r = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    per_element = np.where(r >= 0, quantile * r, (quantile - 1) * r)
    return _weighted_mean(per_element, sample_weight)


def smoothed_labels(Y, label_smoothing, n_classes, dtype):
    """Soft targets ``(1 - e) Y + e / n_classes`` of the indicator matrix
    ``Y`` (0/1 of any numeric type), computed in float64 and rounded once
    to ``dtype``.

    ``n_classes`` is the number of classes each row's targets share out:
    the number of columns for a softmax output, 2 for a logistic one
    (binary, or each label of a multilabel target), as PyTorch's and
    Keras's ``label_smoothing`` do.
    """
    e = float(label_smoothing)
    soft = (1.0 - e) * np.asarray(Y, np.float64) + e / n_classes
    return np.ascontiguousarray(soft, dtype=dtype)
