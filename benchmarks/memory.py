#!/usr/bin/env python
"""Peak memory a fit allocates beyond its data, fastbp beside scikit-learn.

Each cell of the table is one fresh process: it builds the data (random
X, 10 random classes), warms up (a fit on 1,000 rows with the same options,
so that compilation and imports are done), then fits once on all the rows
under ``tracemalloc`` and prints the peak of the traced allocations
(numpy's included) during that fit. Network (64,), one epoch
(``max_iter=1``), batch 256; L-BFGS one iteration.

Usage::

    python benchmarks/memory.py [--rows 200000] [--features 784]

Prints a markdown table; ``--out FILE`` also writes it there.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from benchmarks.common import cpu_model  # noqa: E402

CHILD = r"""
import json, sys, time, tracemalloc, warnings
import numpy as np
library, dtype, x_kind, options, n_rows, n_features = json.loads(sys.argv[1])
if library == "fastbp":
    import fastbp
    Est = lambda **kw: fastbp.MLPClassifier(dtype=dtype, **kw)
else:
    import sklearn.neural_network
    Est = sklearn.neural_network.MLPClassifier

def data(n):
    rng = np.random.RandomState(0)
    y = rng.randint(0, 10, n)
    if x_kind == "csr":
        import scipy.sparse
        X = scipy.sparse.random(n, n_features, density=0.05, format="csr",
                                random_state=rng)
    elif x_kind.startswith("uint8"):
        X = rng.randint(0, 256, size=(n, n_features)).astype(np.uint8)
    else:
        X = rng.standard_normal((n, n_features)).astype(
            np.float32 if x_kind.startswith("float32") else np.float64)
    if x_kind.endswith("-F"):
        X = np.asfortranarray(X)
    return X, y

kw = dict(hidden_layer_sizes=(64,), max_iter=1, batch_size=256,
          random_state=0, **options)
warnings.simplefilter("ignore")
Xw, yw = data(1000)
Est(**kw).fit(Xw, yw)
X, y = data(n_rows)
tracemalloc.start()
t0 = time.perf_counter()
Est(**kw).fit(X, y)
seconds = time.perf_counter() - t0
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
x_bytes = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
           if x_kind == "csr" else X.nbytes)
print(json.dumps({"peak": peak, "x_bytes": x_bytes, "seconds": seconds}))
"""

# (X, options, cells): each cell (library, dtype); dtype None for
# scikit-learn, which trains in X's float type (float64 for uint8).
ROWS = [
    ("float64", {}, [("sklearn", None), ("fastbp", "float32"),
                     ("fastbp", "float64")]),
    ("float64-F", {}, [("sklearn", None), ("fastbp", "float32"),
                       ("fastbp", "float64")]),
    ("uint8", {}, [("sklearn", None), ("fastbp", "float32"),
                   ("fastbp", "float64")]),
    ("float64", {"early_stopping": True},
     [("sklearn", None), ("fastbp", "float32"), ("fastbp", "float64")]),
    ("float64", {"solver": "lbfgs"},
     [("sklearn", None), ("fastbp", "float32"), ("fastbp", "float64")]),
    ("float32", {}, [("sklearn", None), ("fastbp", "float32")]),
    ("csr", {}, [("sklearn", None), ("fastbp", "float32"),
                 ("fastbp", "float64")]),
]

COLUMNS = [("sklearn", None), ("fastbp", "float32"), ("fastbp", "float64")]


def _mib(n):
    return n / 2**20


def measure(library, dtype, x_kind, options, n_rows, n_features):
    args = json.dumps([library, dtype, x_kind, options, n_rows, n_features])
    out = subprocess.run([sys.executable, "-c", CHILD, args],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    lines = [
        f"Peak traced allocations of one fit (`tracemalloc`, numpy's "
        f"included), {args.rows:,} x {args.features} random X, network "
        "(64,), one epoch, batch 256, in a warmed-up process; "
        f"CPU: {cpu_model()}. Command: `python benchmarks/memory.py "
        f"--rows {args.rows} --features {args.features}`.", "",
        "| X | options | scikit-learn | fastbp float32 (default) "
        "| fastbp float64 | bound max(64 MiB, 5% of X) |",
        "|---|---|---:|---:|---:|---:|"]
    for x_kind, options, cells in ROWS:
        results = {}
        for library, dtype in cells:
            results[(library, dtype)] = measure(
                library, dtype, x_kind, options, args.rows, args.features)
        x_bytes = next(iter(results.values()))["x_bytes"]
        if x_kind == "csr":
            label = (f"float64 CSR (5% stored, int32 indices), "
                     f"{_mib(x_bytes):.0f} MiB")
        else:
            order = "Fortran order" if x_kind.endswith("-F") else "C order"
            label = f"{x_kind.split('-')[0]}, {order}, {_mib(x_bytes):.0f} MiB"
        option_text = ", ".join(
            [options.get("solver", "adam")]
            + [f"`{k}={v!r}`" for k, v in options.items() if k != "solver"])
        row = [label, option_text]
        for column in COLUMNS:
            r = results.get(column)
            row.append("" if r is None else f"{_mib(r['peak']):.0f} MiB")
        row.append(f"{_mib(max(64 * 2**20, 0.05 * x_bytes)):.0f} MiB")
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], flush=True)
    text = "\n".join(lines)
    print()
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
