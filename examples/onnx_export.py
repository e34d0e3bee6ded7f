"""Export a pipeline to ONNX
=========================

Export a fastbp pipeline to ONNX and run it with onnxruntime.

``Pipeline(StandardScaler(), fastbp.MLPClassifier())`` is trained on the
digits data set and converted by ``fastbp.onnx.to_onnx`` (skl2onnx's own
converters for scikit-learn's scaler and MLP). onnxruntime then predicts
the held-out digits, and the script prints how closely it agrees with the
pipeline's ``predict`` and ``predict_proba``: equal labels, probabilities
to float32 rounding (the model and the graph both compute in float32).

The ONNX file is written to ``$FASTBP_EXAMPLES_OUT/digits_mlp.onnx``
(default: the current directory). Needs ``pip install "fastbp[onnx]"``.

Run from the repository root::

    python examples/onnx_export.py

``FASTBP_EXAMPLES_QUICK=1`` selects a reduced run (fewer samples and
epochs).
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import MLPClassifier
from fastbp.onnx import to_onnx

QUICK = os.environ.get("FASTBP_EXAMPLES_QUICK", "0") not in ("", "0")
OUT_DIR = Path(os.environ.get("FASTBP_EXAMPLES_OUT", "."))
SEED = 0
MAX_ITER = 20 if QUICK else 200
N_TRAIN = 400 if QUICK else None  # None: the whole training split


def main():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED)
    X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]

    pipe = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(64,), max_iter=MAX_ITER,
                      random_state=SEED))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
    print(f"fit: {time.perf_counter() - start:.2f} s"
          + (" (quick mode)" if QUICK else ""))

    # No X: the graph's input "X" is float32, the fastbp model's dtype.
    onx = to_onnx(pipe, options={"zipmap": False})
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / "digits_mlp.onnx"
    path.write_bytes(onx.SerializeToString())
    print(f"ONNX model written to {path} ({path.stat().st_size} bytes)")

    session = ort.InferenceSession(str(path),
                                   providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {"X": X_test.astype(np.float32)})

    same = int(np.sum(labels == pipe.predict(X_test)))
    print(f"labels equal to predict: {same}/{len(X_test)}")
    diff = np.max(np.abs(proba - pipe.predict_proba(X_test)))
    print(f"max |predict_proba - onnxruntime|: {diff:.1e}")
    print(f"onnxruntime test accuracy: {np.mean(labels == y_test):.4f}")


if __name__ == "__main__":
    main()
