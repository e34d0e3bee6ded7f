"""Compile fastbp's kernels ahead of the first fit (``python -m
fastbp.compile``).

Numba compiles a kernel the first time it is called with new argument types
and keeps the machine code in its on-disk cache, beside the package
(``fastbp/_kernels/__pycache__``) or, where that is read-only, in the user's
cache directory. The first fit after installing would otherwise pay for
the compilation. Building the package (``pip install .``) runs this module
on the build directory, so the wheel carries the compiled kernels for the
machine it was built on; run it yourself after installing in another way,
when building images, or after changing ``FASTBP_AVX512`` (see the README).

What is compiled: for each dtype, the three compiled entry points with the
argument types the estimators pass them: one training epoch
(``_run_epoch``; dense X of every element type and memory order it reads
in place, and sparse X, share one specialisation), the
full-batch loss and gradient of L-BFGS (``_loss_grad``) and prediction
(``_predict_rows``); and, once, the functions of Numba's runtime, which
fastbp keeps beside the kernels (``nrt-<key>.nbo``; see
``_kernels/_cache_stamp.py``).

Each dtype compiles in a process of its own, two at a time on two cores.
Numba's cache index is a file that a save reads, extends and rewrites with
no lock, so two processes saving entries of one kernel at once could lose
one of them or give two the same data file; the worker processes here take
a file lock around each save.

Usage::

    python -m fastbp.compile [--dtypes float32 float64] [--jobs N]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

DTYPES = ("float32", "float64")
_LOCK_ENV = "FASTBP_COMPILE_LOCK"


def compile_kernels(dtypes=DTYPES, jobs=None, verbose=True):
    """Compile every kernel for ``dtypes``, each in a fresh process.

    Parameters
    ----------
    dtypes : sequence of {"float32", "float64"}
    jobs : int, default=None
        Processes at once; the number of usable cores if None (at most one
        per dtype). Without ``fcntl`` (Windows) they run one at a time.
    verbose : bool
        Print each dtype's wall time.

    Returns
    -------
    seconds : dict
        Wall time of each dtype's process.

    Raises
    ------
    RuntimeError
        If a process fails; its output is in the message.
    """
    dtypes = list(dtypes)
    for dtype in dtypes:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}.")
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(
            os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        import fcntl  # noqa: F401
    except ImportError:
        jobs = 1
    jobs = max(1, min(jobs, len(dtypes)))

    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, **{_LOCK_ENV: os.path.join(tmp, "cache.lock")})
        pending = list(dtypes)
        running = {}
        while pending or running:
            while pending and len(running) < jobs:
                dtype = pending.pop(0)
                running[dtype] = (time.perf_counter(), subprocess.Popen(
                    [sys.executable, "-m", "fastbp.compile", "--worker",
                     dtype], env=env, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True))
            dtype = next(iter(running))
            start, process = running.pop(dtype)
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(
                    f"compiling fastbp's {dtype} kernels failed:\n{output}")
            seconds[dtype] = time.perf_counter() - start
            if verbose:
                print(f"fastbp: {dtype} kernels compiled in "
                      f"{seconds[dtype]:.1f} s")
    return seconds


def _compile_dtype(dtype):
    """Call each entry point once on tiny data, with the estimators' types."""
    import numpy as np

    # numba and numpy only: this runs in the package's build environment,
    # which has neither scipy nor scikit-learn (so not _solvers or _mlp).
    from ._kernels import (HIDDEN_CODES, OUTPUT_CODES, PREDICT_BLOCK,
                           PREDICT_SLOTS, SOLVER_CODES, _loss_grad,
                           _predict_rows, _run_epoch)
    from ._kernels._config import N_HYPER
    from ._kernels._state import OptimizerState
    from ._network import (Layout, Workspace, aligned_empty, aligned_zeros,
                           dense_kernel_input, training_data)

    dtype = np.dtype(dtype)
    n_samples, layer_units = 8, [3, 4, 2]
    layout = Layout(layer_units, [HIDDEN_CODES["relu"]])
    rng = np.random.RandomState(0)
    X = rng.rand(n_samples, layer_units[0]).astype(dtype)
    # A classifier's indicators, read in place like X (one gather serves
    # every target type).
    Y = training_data(np.eye(2, dtype=bool)[rng.randint(0, 2, n_samples)],
                      dtype)
    sw = np.empty(0, dtype=dtype)
    idx = np.arange(n_samples, dtype=np.int64)
    params = layout.pack(
        [0.1 * rng.randn(a, b) for a, b in zip(layer_units, layer_units[1:])],
        [np.zeros(b) for b in layer_units[1:]], dtype)
    out = OUTPUT_CODES["softmax"]
    alpha, eps = dtype.type(1e-4), float(np.finfo(dtype).eps)

    # Training: as _mlp.BaseMultilayerPerceptron._fit_stochastic calls it.
    workspace = Workspace(layout, 4, dtype, full_batch=True)
    # The types of _solvers.AdamOptimizer.kernel_state().
    adam = OptimizerState(SOLVER_CODES["adam"], np.zeros(N_HYPER, dtype),
                          aligned_zeros((2, layout.n_params), dtype),
                          np.zeros(1, dtype=np.int64))
    # One compiled epoch reads X of every type and order the estimators
    # pass in place (``_kernels/gather.py``), and CSR X.
    _run_epoch(training_data(X, dtype), Y, sw, idx, 4, params,
               workspace.table, out, alpha, eps, adam, workspace.buffers())
    # L-BFGS: as _solvers.full_batch_loss_grad calls it.
    _loss_grad(training_data(X, dtype), Y, sw, idx, 0, n_samples, params,
               workspace.table, out, alpha, eps, workspace.buffers())
    # Prediction: as _mlp.BaseMultilayerPerceptron._forward_pass_fast does.
    scratch = PREDICT_SLOTS * min(PREDICT_BLOCK, n_samples) * 4
    buf_a = aligned_empty(scratch, dtype)
    buf_b = aligned_empty(scratch, dtype)
    result = np.empty((n_samples, 2), dtype=dtype)
    _predict_rows(dense_kernel_input(X[0:n_samples]), params,
                  layout.table_for_one, out, buf_a, buf_b,
                  result[0:n_samples])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastbp.compile",
        description="Compile fastbp's kernels into Numba's on-disk cache.")
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES),
                        choices=DTYPES)
    parser.add_argument("--jobs", type=int, default=None,
                        help="processes at once (default: one per core)")
    parser.add_argument("--worker", metavar="DTYPE", choices=DTYPES,
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if os.environ.get(_LOCK_ENV):
            from ._kernels._cache_stamp import serialise_cache_saves
            serialise_cache_saves(os.environ[_LOCK_ENV])
        _compile_dtype(args.worker)
        return 0
    start = time.perf_counter()
    compile_kernels(args.dtypes, args.jobs)
    print(f"fastbp: kernels compiled in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
