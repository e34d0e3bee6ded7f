#!/usr/bin/env python
"""Prediction speed of fastbp and its peers, with the same float32 weights.

Two models, as the prediction issue measured them:

- ``small``: 64 -> (100,) -> 10 (relu, softmax), ``predict_proba`` of
  90,000 rows;
- ``wide``: 784 -> (512, 256) -> 10, 20,000 rows;

(``--models mnist deep`` adds the networks of two training benchmark
shapes: 784 -> (100,) -> 10 on 10,000 rows, 100 -> 4 x 256 -> 10 on 30,000)
and, for each, the latency of one row per call. Peers: fastbp
(``MLPClassifier.predict_proba``, scikit-learn's input validation included),
scikit-learn's ``MLPClassifier.predict_proba``, ONNX Runtime running the
model skl2onnx exports from scikit-learn's MLP (2 intra-op threads), JAX (a
jit-compiled forward pass) and PyTorch (``nn.Sequential`` under
``no_grad``, 2 threads). The weights are random (Glorot-uniform, seed 0)
and set into every library's model; fastbp and scikit-learn get them
through ``coefs_`` and ``intercepts_``.

Each peer runs in a fresh process of its own, one after the other, so that
no thread pool is left spinning while another library is timed. Batch
times are the best of ``--repeats`` calls after one warm-up call; one-row
latency is the median over ``--calls`` calls on successive rows. With
``--rounds N`` the peers run N times in turn (on a shared machine a burst
of someone else's work then hits one round, not one peer) and each figure
is the median of the rounds. The last column is fastbp's speed over the
fastest of JAX and ONNX Runtime (above 1: fastbp is faster).

``--sparse DENSITY`` keeps that fraction of X's entries (the others zero)
and passes X as a CSR matrix to the peers that take one, fastbp and
scikit-learn; the others are skipped.

Usage (from the repository root)::

    python benchmarks/compare_predict.py [--repeats 5] [--calls 2000]
        [--rounds 1] [--dtype float32] [--peers fastbp sklearn onnxruntime jax torch]
        [--sparse 0.05] [--models small wide mnist deep] [--out DIR]

JAX runs float64 models with 64-bit types enabled.

Writes ``benchmarks/results/compare_predict_<dtype>[_sparse].md`` (and
``.json``).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
sys.path.insert(0, HERE)
from benchmarks.common import cpu_model  # noqa: E402

MODELS = {  # n_features, hidden layers, classes, rows
    "small": (64, (100,), 10, 90_000),
    "wide": (784, (512, 256), 10, 20_000),
    # --models mnist deep: the networks of compare_peers.py's mnist and deep
    # shapes (its tiny and reg have a logistic and an identity output).
    "mnist": (784, (100,), 10, 10_000),
    "deep": (100, (256, 256, 256, 256), 10, 30_000),
}
DEFAULT_MODELS = ["small", "wide"]
PEERS = ["fastbp", "sklearn", "onnxruntime", "jax", "torch"]
SPARSE_PEERS = ["fastbp", "sklearn"]  # take CSR input
N_THREADS = 2


def make_weights(model, dtype, seed=0, density=None):
    """Glorot-uniform coefs and intercepts of ``model``, and its X (dense;
    with ``density``, that fraction of its entries kept, the rest zero)."""
    n_features, hidden, n_classes, n_rows = MODELS[model]
    rng = np.random.RandomState(seed)
    units = [n_features, *hidden, n_classes]
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
        intercepts.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
    X = rng.standard_normal((n_rows, n_features)).astype(dtype)
    if density is not None:
        X[rng.uniform(size=X.shape) >= density] = 0
    return coefs, intercepts, X


def _sklearn_api_model(module, coefs, intercepts, X, dtype):
    """A fitted MLPClassifier of ``module`` carrying the given weights."""
    import warnings

    n_classes = coefs[-1].shape[1]
    hidden = tuple(c.shape[1] for c in coefs[:-1])
    kwargs = {"dtype": dtype} if module.__name__ == "fastbp" else {}
    model = module.MLPClassifier(hidden, max_iter=1, random_state=0, **kwargs)
    y = np.arange(len(X[:200])) % n_classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:200], y)
    model.coefs_ = [c.copy() for c in coefs]
    model.intercepts_ = [b.copy() for b in intercepts]
    return model


def _predictor(peer, coefs, intercepts, X, dtype):
    """``predict(X) -> probabilities`` for one peer."""
    if peer in ("fastbp", "sklearn"):
        if peer == "fastbp":
            import fastbp as module
        else:
            import sklearn.neural_network as module
        from threadpoolctl import threadpool_limits
        threadpool_limits(N_THREADS)
        return _sklearn_api_model(module, coefs, intercepts, X,
                                  dtype).predict_proba
    if peer == "onnxruntime":
        import onnxruntime
        import sklearn.neural_network
        from skl2onnx import to_onnx
        model = _sklearn_api_model(sklearn.neural_network, coefs, intercepts,
                                   X, dtype)
        onx = to_onnx(model, X[:1], options={"zipmap": False},
                      target_opset=17)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = N_THREADS
        session = onnxruntime.InferenceSession(
            onx.SerializeToString(), options,
            providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda rows: session.run(None, {name: rows})[1]
    if peer == "jax":
        import jax
        # Without 64-bit types JAX would compute a float64 model in float32.
        jax.config.update("jax_enable_x64", dtype == "float64")
        import jax.numpy as jnp
        params = [(jnp.asarray(W), jnp.asarray(b))
                  for W, b in zip(coefs, intercepts)]

        @jax.jit
        def forward(params, rows):
            for W, b in params[:-1]:
                rows = jax.nn.relu(rows @ W + b)
            W, b = params[-1]
            return jax.nn.softmax(rows @ W + b, axis=-1)

        return lambda rows: np.asarray(forward(params, rows))
    if peer == "torch":
        import torch
        torch.set_num_threads(N_THREADS)
        layers = []
        for W, b in zip(coefs, intercepts):
            # float64 weights for a float64 model (torch's default is
            # float32, which would refuse float64 rows)
            linear = torch.nn.Linear(*W.shape,
                                     dtype=torch.from_numpy(W).dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers += [linear, torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1], torch.nn.Softmax(dim=1))

        def predict(rows):
            with torch.no_grad():
                return net(torch.from_numpy(rows)).numpy()
        return predict
    raise ValueError(peer)


def _worker(peer, model, dtype, repeats, calls, density=None):
    coefs, intercepts, X = make_weights(model, dtype, density=density)
    predict = _predictor(peer, coefs, intercepts, X, dtype)
    reference = _sklearn_reference(coefs, intercepts, X[:100])
    if density is not None:
        from scipy.sparse import csr_matrix
        X = csr_matrix(X)
    error = float(np.max(np.abs(predict(X[:100]) - reference)))
    predict(X)  # warm-up
    batch = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(X)
        batch.append(time.perf_counter() - start)
    for i in range(50):  # warm-up of the one-row path
        predict(X[i:i + 1])
    single = []
    n_rows = X.shape[0]
    for i in range(calls):
        row = X[i % n_rows:i % n_rows + 1]
        start = time.perf_counter()
        predict(row)
        single.append(time.perf_counter() - start)
    return {"batch_s": min(batch), "row_s": statistics.median(single),
            "max_abs_diff": error}


def _sklearn_reference(coefs, intercepts, X):
    """Plain float64 numpy forward pass (relu, softmax)."""
    A = X.astype(np.float64)
    for W, b in zip(coefs[:-1], intercepts[:-1]):
        A = np.maximum(A @ W.astype(np.float64) + b, 0)
    Z = A @ coefs[-1].astype(np.float64) + intercepts[-1]
    Z = np.exp(Z - Z.max(axis=1, keepdims=True))
    return Z / Z.sum(axis=1, keepdims=True)


def _run_worker(peer, model, dtype, repeats, calls, density=None):
    code = (f"import sys, json; sys.path.insert(0, {HERE!r}); "
            f"import compare_predict as c; print(json.dumps(c._worker("
            f"{peer!r}, {model!r}, {dtype!r}, {repeats}, {calls}, "
            f"{density!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        skipped = "ModuleNotFoundError" in out.stderr
        return {"skipped" if skipped else "failed": last}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_of_rounds(runs):
    """One peer's times, the median of each over the rounds that measured
    it, and its largest difference from the reference (the first failure
    or skip when no round measured it)."""
    timed = [r for r in runs if "batch_s" in r]
    if not timed:
        return runs[0]
    return {"batch_s": statistics.median(r["batch_s"] for r in timed),
            "row_s": statistics.median(r["row_s"] for r in timed),
            "max_abs_diff": max(r["max_abs_diff"] for r in timed),
            "rounds": len(timed)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--dtype", default="float32",
                        choices=["float32", "float64"])
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS,
                        choices=list(MODELS))
    parser.add_argument("--peers", nargs="+", default=PEERS)
    parser.add_argument("--sparse", type=float, default=None,
                        metavar="DENSITY")
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    rounds = {}
    for _ in range(args.rounds):
        for model in args.models:
            for peer in args.peers:
                if args.sparse is not None and peer not in SPARSE_PEERS:
                    r = {"skipped": "takes dense input only"}
                else:
                    r = _run_worker(peer, model, args.dtype, args.repeats,
                                    args.calls, args.sparse)
                rounds.setdefault(f"{model}/{peer}", []).append(r)
                print(model, peer, r, flush=True)
    load_after = os.getloadavg()[0]
    results = {key: _median_of_rounds(runs) for key, runs in rounds.items()}

    def cell(model, peer, key, scale):
        r = results.get(f"{model}/{peer}", {})
        return f"{r[key] * scale:.3g}" if key in r else "-"

    def speedup(model, key):
        ours = results.get(f"{model}/fastbp", {}).get(key)
        peers = [results.get(f"{model}/{p}", {}).get(key)
                 for p in ("jax", "onnxruntime")]
        peers = [t for t in peers if t is not None]
        if ours is None or not peers:
            return "-"
        return f"{min(peers) / ours:.2f}x"

    when = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")
    sparse = "" if args.sparse is None else f" --sparse {args.sparse}"
    title = "" if args.sparse is None else (
        f", CSR X keeping {args.sparse:.0%} of the entries")
    lines = [f"# Prediction, {args.dtype}{title}, {when}", "",
             f"`python benchmarks/compare_predict.py --repeats "
             f"{args.repeats} --calls {args.calls} --dtype {args.dtype}"
             f"{sparse}"
             + ("" if args.models == DEFAULT_MODELS
                else " --models " + " ".join(args.models))
             + ("" if args.rounds == 1 else f" --rounds {args.rounds}")
             + f"` on {cpu_model()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; load average {load_before:.1f} "
             f"before, {load_after:.1f} after"
             + ("" if args.rounds == 1 else
                f"; medians of {args.rounds} rounds") + ".", "",
             "| model, rows | " + " | ".join(args.peers)
             + " | fastbp vs fastest of JAX, ONNX Runtime |",
             "|---|" + "---:|" * (len(args.peers) + 1)]
    for model in args.models:
        n_features, hidden, n_classes, n_rows = MODELS[model]
        name = f"{n_features} -> {hidden} -> {n_classes}"
        lines.append(f"| {name}, {n_rows} rows (ms) | " + " | ".join(
            cell(model, p, "batch_s", 1e3) for p in args.peers)
            + f" | {speedup(model, 'batch_s')} |")
        lines.append(f"| {name}, one row per call (us) | " + " | ".join(
            cell(model, p, "row_s", 1e6) for p in args.peers)
            + f" | {speedup(model, 'row_s')} |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"compare_predict_{args.dtype}"
                        + ("" if args.sparse is None else "_sparse"))
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
