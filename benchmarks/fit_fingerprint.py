#!/usr/bin/env python
"""A hash of the fitted weights of many small fits, to tell whether two
checkouts train bitwise alike.

Each configuration (estimator, dtype, solver, input type and memory order,
dense or sparse, early stopping, sample weights, partial_fit, warm_start,
...) is fitted on small seeded data; its line gives a sha256 of the fitted
``coefs_``, ``intercepts_``, ``n_iter_`` and the loss and validation
curves. Run it with each checkout first on the path and compare the lines
(the last one hashes them all)::

    PYTHONPATH=/path/to/A python benchmarks/fit_fingerprint.py > a.txt
    PYTHONPATH=/path/to/B python benchmarks/fit_fingerprint.py > b.txt
    diff a.txt b.txt

Only public API is used, so that any checkout can be fingerprinted.
"""
import hashlib
import itertools
import warnings

import numpy as np
import scipy.sparse as sp

import fastbp

N_SAMPLES, N_FEATURES = 301, 24


def _data():
    rng = np.random.RandomState(0)
    pixels = rng.randint(0, 256, size=(N_SAMPLES, N_FEATURES)).astype(np.uint8)
    X = pixels / 255.0 + 0.01 * rng.randn(N_SAMPLES, N_FEATURES)
    y_class = (X[:, :3].sum(axis=1) * 2).astype(int) % 3
    y_reg = X[:, :4] @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * rng.randn(
        N_SAMPLES)
    weights = rng.uniform(0.2, 2.0, N_SAMPLES)
    return pixels, X, y_class, y_reg, weights


def _inputs(pixels, X):
    sparse = X.copy()
    sparse[sparse < 0.5] = 0
    return {
        "float64": X,
        "float64-F": np.asfortranarray(X),
        "float32": X.astype(np.float32),
        "float32-F": np.asfortranarray(X.astype(np.float32)),
        "uint8": pixels,
        "uint8-F": np.asfortranarray(pixels),
        "bool": pixels > 127,
        "int64": pixels.astype(np.int64) - 128,
        "int32": pixels.astype(np.int32) - 128,
        "int16": pixels.astype(np.int16) - 128,
        "float64-strided": np.hstack([X, X])[:, ::2],
        "csr": sp.csr_matrix(sparse),
    }


def _hash(model):
    h = hashlib.sha256()
    for a in list(model.coefs_) + list(model.intercepts_):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(model.n_iter_).encode())
    for name in ("loss_curve_", "validation_scores_",
                 "validation_loss_curve_", "best_loss_", "loss_"):
        h.update(repr(getattr(model, name, None)).encode())
    return h.hexdigest()[:16]


def configurations():
    """(name, fit function) pairs."""
    pixels, X, y_class, y_reg, weights = _data()
    inputs = _inputs(pixels, X)
    for kind, dtype, solver, input_name, option in itertools.product(
            ("clf", "reg"), ("float32", "float64"), ("adam", "sgd", "lbfgs"),
            inputs, ("plain", "early_stopping", "sample_weight",
                     "es+sw")):
        if solver == "lbfgs" and "es" in option.replace("early_stopping",
                                                         "es"):
            continue
        name = f"{kind} {dtype} {solver} {input_name} {option}"

        def fit(kind=kind, dtype=dtype, solver=solver,
                input_name=input_name, option=option):
            Est = (fastbp.MLPClassifier if kind == "clf"
                   else fastbp.MLPRegressor)
            y = y_class if kind == "clf" else y_reg
            model = Est(hidden_layer_sizes=(16, 8), solver=solver,
                        dtype=dtype, random_state=1, max_iter=6,
                        batch_size=64, learning_rate_init=0.01,
                        early_stopping=option in ("early_stopping", "es+sw"),
                        n_iter_no_change=3)
            sw = weights if option in ("sample_weight", "es+sw") else None
            return model.fit(inputs[input_name], y, sample_weight=sw)
        yield name, fit

    # partial_fit, warm_start and options that read the rows differently.
    def partial(input_name, dtype):
        model = fastbp.MLPClassifier(hidden_layer_sizes=(16,), dtype=dtype,
                                     random_state=2, batch_size=50)
        Xi = inputs[input_name]
        for start in (0, 100, 200):
            model.partial_fit(Xi[start:start + 100], y_class[start:start + 100],
                              classes=[0, 1, 2])
        return model

    for input_name, dtype in itertools.product(
            ("float64", "float64-F", "uint8", "float32", "csr"),
            ("float32", "float64")):
        yield (f"partial_fit {input_name} {dtype}",
               lambda i=input_name, d=dtype: partial(i, d))

    def warm(input_name, dtype, early_stopping):
        model = fastbp.MLPRegressor(hidden_layer_sizes=(12,), dtype=dtype,
                                    random_state=3, max_iter=4,
                                    warm_start=True,
                                    early_stopping=early_stopping)
        model.fit(inputs[input_name], y_reg)
        return model.fit(inputs[input_name], y_reg)

    for input_name, dtype, es in itertools.product(
            ("float64", "uint8-F", "csr"), ("float32", "float64"),
            (False, True)):
        yield (f"warm_start {input_name} {dtype} es={es}",
               lambda i=input_name, d=dtype, e=es: warm(i, d, e))

    extras = {
        "dropout+es": dict(dropout=0.2, early_stopping=True),
        "label_smoothing+es": dict(label_smoothing=0.1, early_stopping=True),
        "scoring=loss+es": dict(scoring="loss", early_stopping=True),
        "scoring=f1_macro+es": dict(scoring="f1_macro", early_stopping=True),
        "class_weight+es": dict(class_weight="balanced",
                                early_stopping=True),
        "no shuffle+es": dict(shuffle=False, early_stopping=True),
        "validation_fraction=0.3": dict(validation_fraction=0.3,
                                        early_stopping=True),
    }
    for (label, options), input_name, dtype in itertools.product(
            extras.items(), ("float64", "uint8", "float64-F", "csr"),
            ("float32", "float64")):
        def extra(options=options, input_name=input_name, dtype=dtype):
            model = fastbp.MLPClassifier(hidden_layer_sizes=(16,),
                                         dtype=dtype, random_state=4,
                                         max_iter=8, n_iter_no_change=2,
                                         **options)
            return model.fit(inputs[input_name], y_class)
        yield f"{label} {input_name} {dtype}", extra

    for input_name, dtype in itertools.product(
            ("float64", "uint8", "float64-F", "csr"), ("float32", "float64")):
        def validation(input_name=input_name, dtype=dtype):
            Xi = inputs[input_name]
            model = fastbp.MLPClassifier(hidden_layer_sizes=(16,),
                                         dtype=dtype, random_state=5,
                                         max_iter=5, early_stopping=True)
            return model.fit(Xi[:200], y_class[:200],
                             validation_data=(Xi[200:], y_class[200:]))
        yield f"validation_data {input_name} {dtype}", validation


def main():
    total = hashlib.sha256()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fit in configurations():
            try:
                line = f"{name}: {_hash(fit())}"
            except Exception as exc:  # an error is a result to compare too
                line = f"{name}: {type(exc).__name__}: {exc}"
            total.update(line.encode())
            print(line)
    print(f"all: {total.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
