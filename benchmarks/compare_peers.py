#!/usr/bin/env python
"""Seconds per training epoch of fastbp and its peers on the benchmark shapes.

Peers: fastbp (float32), scikit-learn (float32 input, BLAS limited to 2
threads), PyTorch (CPU, 2 threads, a plain loop over shuffled mini-batches
with torch.optim.Adam) and JAX (one jit-compiled epoch: ``lax.scan`` over the
mini-batches with a hand-written Adam). All train the same network (relu
hidden layers, Adam with lr=1e-3, scikit-learn's batch sizes) on the same
data (``benchmarks/common.py``).

Each peer runs in its own phase, in its own fresh process, one after the
other, so no thread pool (OpenBLAS, OpenMP, torch, XLA) is left spinning
while another library is timed (PERF_NOTES pitfall 9). In every process the
data is made first, one untimed epoch warms up (Numba cache load, JAX
compilation, allocator warm-up), then ``--repeats`` epochs are timed one by
one and the median is reported.

The machine the figures come from is shared and changes speed from minute
to minute, so a peer timed alone in a slow minute looks slow. With
``--rounds N`` the peers take turns N times (fastbp, scikit-learn, ...,
fastbp, scikit-learn, ...), each turn a fresh process, and a cell's median
is over the epochs of all N turns.

A peer that is not installed is reported as skipped; one whose process fails
is reported as failed. Missing matplotlib only skips the chart.

Usage (from the repository root)::

    python benchmarks/compare_peers.py                      # all, 5 repeats
    python benchmarks/compare_peers.py --quick              # smoke test
    python benchmarks/compare_peers.py --shapes tiny reg --repeats 3
    python benchmarks/compare_peers.py --rounds 3           # peers in turns

Outputs, in ``--out`` (default ``benchmarks/results/``): ``compare_peers.md``
(the table plus the conditions it was measured in), ``compare_peers.json``
(every sample) and ``compare_peers.png`` (bar chart); with ``--quick`` the
names end in ``_quick``, and ``--name`` sets them (the README's other
shapes: ``--name compare_peers_extra``).
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
from benchmarks.common import (  # noqa: E402
    ALL_SHAPES,
    SHAPES,
    classes_of,
    cpu_model,
    make_data,
    make_estimator,
)

PEERS = ["fastbp", "sklearn", "torch", "jax"]
PEER_LABELS = {"fastbp": "fastbp", "sklearn": "scikit-learn",
               "torch": "PyTorch", "jax": "JAX"}

# --quick divides the number of training samples by this.
QUICK_DIVISOR = 10

# Threads every peer may use (the machine has 2 cores).
N_THREADS = 2

LEARNING_RATE = 1e-3
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-8

# A core counts as busy with someone else's work above this (see --wait-idle).
IDLE_LOAD = 0.15

# Epochs a worker may time per cell, as a multiple of --repeats, when some
# are spoilt by other processes' load.
MAX_TRIES_FACTOR = 3


# ---------------------------------------------------------------------------
# Workers: one per peer, each in its own process
# ---------------------------------------------------------------------------

def _busy_seconds():
    """CPU seconds used by all processes since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return None
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def _epoch_times(run_epoch, repeats):
    """Warm up with one untimed epoch, then time ``repeats`` epochs.

    An epoch during which other processes used more than IDLE_LOAD cores
    (all CPU time on the machine minus this process's own) is not kept: the
    worker waits for the CPUs to be idle and times another one, up to
    MAX_TRIES_FACTOR * repeats epochs in all. If too few clean epochs were
    timed, the busy ones fill up the sample and the cell is marked.

    Returns
    -------
    dict with ``samples`` (seconds per kept epoch), ``others_cores`` (other
    processes' mean load during each kept epoch, None if unknown),
    ``rejected`` (seconds of the epochs not kept) and ``contaminated``.
    """
    run_epoch()
    kept, others, rejected = [], [], []
    for _ in range(MAX_TRIES_FACTOR * repeats):
        busy0, cpu0 = _busy_seconds(), time.process_time()
        start = time.perf_counter()
        run_epoch()
        wall = time.perf_counter() - start
        cpu1, busy1 = time.process_time(), _busy_seconds()
        other = None
        if busy0 is not None:
            other = max(busy1 - busy0 - (cpu1 - cpu0), 0.0)
        # /proc/stat counts whole clock ticks per CPU: allow a few of rounding
        if other is not None and other > max(IDLE_LOAD * wall,
                                             4.0 / os.sysconf("SC_CLK_TCK")):
            rejected.append(wall)
            print(f"  epoch of {wall:.3f} s not kept: other processes used "
                  f"{other:.2f} CPU s", file=sys.stderr, flush=True)
            _wait_for_idle(30.0)
            continue
        kept.append(wall)
        others.append(None if other is None else other / wall)
        if len(kept) == repeats:
            break
    contaminated = len(kept) < repeats
    samples = kept + rejected[:repeats - len(kept)]
    return {"samples": samples, "others_cores": others, "rejected": rejected,
            "contaminated": contaminated}


def _sklearn_like(module, shape, X, y, repeats, dtype=None):
    """fastbp or scikit-learn: one partial_fit call is one epoch."""
    est = make_estimator(module, shape, dtype=dtype)
    classes = classes_of(shape)
    if classes is None:
        est.partial_fit(X, y)
    else:
        est.partial_fit(X, y, classes=classes)
    # the call above initialised the model; each further call is one epoch
    return _epoch_times(lambda: est.partial_fit(X, y), repeats)


def _worker_fastbp(shape, X, y, repeats):
    from threadpoolctl import threadpool_limits

    import fastbp

    # fastbp uses no BLAS; keep OpenBLAS threads from waking at all.
    with threadpool_limits(limits=1, user_api="blas"):
        return _sklearn_like(fastbp, shape, X, y, repeats, dtype="float32")


def _worker_sklearn(shape, X, y, repeats):
    import sklearn.neural_network
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=N_THREADS, user_api="blas"):
        return _sklearn_like(sklearn.neural_network, shape, X, y, repeats)


def _worker_torch(shape, X, y, repeats):
    import torch
    from torch import nn

    torch.set_num_threads(N_THREADS)
    torch.manual_seed(0)
    spec = ALL_SHAPES[shape]
    sizes = [spec.n_features, *spec.hidden_layer_sizes, spec.n_outputs]
    layers = []
    for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    model = nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE,
                                 betas=(BETA_1, BETA_2), eps=EPSILON)
    X_t = torch.from_numpy(X)
    if spec.task == "classification":
        loss_fn = nn.CrossEntropyLoss()
        y_t = torch.from_numpy(y)
    else:
        loss_fn = nn.MSELoss()
        y_t = torch.from_numpy(y).reshape(-1, 1)
    n_samples, batch_size = X.shape[0], spec.batch_size

    def run_epoch():
        order = torch.randperm(n_samples)
        for start in range(0, n_samples, batch_size):
            idx = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()

    return _epoch_times(run_epoch, repeats)


def _worker_jax(shape, X, y, repeats):
    import jax
    import jax.numpy as jnp

    spec = ALL_SHAPES[shape]
    sizes = [spec.n_features, *spec.hidden_layer_sizes, spec.n_outputs]
    n_samples, batch_size = X.shape[0], spec.batch_size
    n_full = n_samples // batch_size
    classification = spec.task == "classification"

    key = jax.random.PRNGKey(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        bound = (6.0 / (fan_in + fan_out)) ** 0.5  # Glorot uniform
        params.append((jax.random.uniform(sub, (fan_in, fan_out), jnp.float32,
                                          -bound, bound),
                       jnp.zeros(fan_out, jnp.float32)))

    def loss_fn(params, xb, yb):
        a = xb
        for W, b in params[:-1]:
            a = jax.nn.relu(a @ W + b)
        W, b = params[-1]
        out = a @ W + b
        if classification:
            # cross-entropy: -mean(log softmax(out)[y])
            logp = jax.nn.log_softmax(out)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
        # half mean squared error
        return 0.5 * jnp.mean((out[:, 0] - yb) ** 2)

    grad_fn = jax.grad(loss_fn)

    def adam_step(state, idx, X, y):
        # m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
        # p -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)
        params, m, v, t = state
        g = grad_fn(params, X[idx], y[idx])
        t = t + 1.0
        m = jax.tree_util.tree_map(lambda m, g: BETA_1 * m + (1 - BETA_1) * g,
                                   m, g)
        v = jax.tree_util.tree_map(
            lambda v, g: BETA_2 * v + (1 - BETA_2) * g * g, v, g)
        lr_t = LEARNING_RATE * jnp.sqrt(1 - BETA_2 ** t) / (1 - BETA_1 ** t)
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr_t * m / (jnp.sqrt(v) + EPSILON),
            params, m, v)
        return params, m, v, t

    @jax.jit
    def epoch(state, key, X, y):
        order = jax.random.permutation(key, n_samples)
        batches = order[:n_full * batch_size].reshape(n_full, batch_size)
        state, _ = jax.lax.scan(
            lambda s, idx: (adam_step(s, idx, X, y), None), state, batches)
        if n_full * batch_size < n_samples:  # last, shorter batch
            state = adam_step(state, order[n_full * batch_size:], X, y)
        return state

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    box = {"state": (params, zeros, zeros, jnp.float32(0.0)), "key": key}
    X_j, y_j = jnp.asarray(X), jnp.asarray(y)

    def run_epoch():
        box["key"], sub = jax.random.split(box["key"])
        box["state"] = jax.block_until_ready(
            epoch(box["state"], sub, X_j, y_j))

    return _epoch_times(run_epoch, repeats)


WORKERS = {"fastbp": _worker_fastbp, "sklearn": _worker_sklearn,
           "torch": _worker_torch, "jax": _worker_jax}
IMPORT_NAMES = {"fastbp": "fastbp", "sklearn": "sklearn", "torch": "torch",
                "jax": "jax"}


def _versions(peer):
    import numpy
    out = {"numpy": numpy.__version__}
    if peer == "fastbp":
        import numba

        import fastbp
        out.update(fastbp=fastbp.__version__, numba=numba.__version__,
                   fastbp_from=_source_of(fastbp))
    elif peer == "sklearn":
        import sklearn
        out["scikit-learn"] = sklearn.__version__
    elif peer == "torch":
        import torch
        out["torch"] = torch.__version__
    elif peer == "jax":
        import jax
        import jaxlib
        out.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    return out


def _source_of(module):
    """Where ``module`` was imported from, with the git commit if any."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return root
    if commit.returncode != 0:
        return root
    return f"{root} (git HEAD {commit.stdout.strip()})"


def run_worker(peer, shapes, repeats, quick):
    """Time ``peer`` on ``shapes``; print one JSON line as the last line."""
    try:
        __import__(IMPORT_NAMES[peer])
    except ImportError as exc:
        print(json.dumps({"status": "skipped", "reason": str(exc)}))
        return
    result = {"status": "ok", "versions": _versions(peer), "shapes": {}}
    for shape in shapes:
        n_samples = ALL_SHAPES[shape].n_samples
        if quick:
            n_samples //= QUICK_DIVISOR
        X, _, y, _ = make_data(shape, "float32", n_samples=n_samples, n_test=0)
        if peer == "jax" and y.dtype == np.int64:
            y = y.astype(np.int32)  # JAX runs without 64-bit types
        timing = WORKERS[peer](shape, X, y, repeats)
        timing.update(n_samples=n_samples,
                      median=statistics.median(timing["samples"]))
        result["shapes"][shape] = timing
        print(f"{peer} {shape}: "
              + " ".join(f"{s:.4f}" for s in timing["samples"])
              + (" (busy machine)" if timing["contaminated"] else ""),
              file=sys.stderr, flush=True)
    if peer == "fastbp":
        import numba
        result["threads"] = {"numba_threading_layer": numba.threading_layer(),
                             "numba_num_threads": numba.get_num_threads()}
    print(json.dumps(result))


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def _cpu_busy(interval=1.0):
    """Cores busy over ``interval`` seconds (None without /proc/stat).

    Called while this process sleeps, so it measures everyone else's load.
    """
    busy0 = _busy_seconds()
    time.sleep(interval)
    busy1 = _busy_seconds()
    if busy0 is None or busy1 is None:
        return None
    return (busy1 - busy0) / interval


def _wait_for_idle(max_wait):
    """Wait (at most ``max_wait`` s) until other processes use < IDLE_LOAD
    cores; return the last load measured."""
    deadline = time.monotonic() + max_wait
    load = _cpu_busy()
    while load is not None and load > IDLE_LOAD and time.monotonic() < deadline:
        load = _cpu_busy(2.0)
    return load


def run_peer(peer, args):
    """Run one peer's worker process; return its parsed result."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", peer,
           "--repeats", str(args.repeats), "--shapes", *args.shapes]
    if args.quick:
        cmd.append("--quick")
    load_before = _wait_for_idle(args.wait_idle)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    elapsed = time.perf_counter() - start
    sys.stderr.write(proc.stderr)
    lines = proc.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = proc.stderr.strip().splitlines()[-5:]
        result = {"status": "failed",
                  "reason": f"exit code {proc.returncode}: " + " | ".join(tail)}
    if proc.returncode != 0 and result.get("status") == "ok":
        result = {"status": "failed", "reason": f"exit code {proc.returncode}"}
    result["background_load_before"] = load_before
    result["phase_seconds"] = elapsed
    return result


def _merge_rounds(earlier, later):
    """One peer's result over several rounds: every shape's epochs of both,
    the median over all of them, the highest background load."""
    if later["status"] != "ok":
        return later
    merged = dict(earlier)
    merged["shapes"] = {}
    for shape, entry in earlier["shapes"].items():
        other = later["shapes"][shape]
        combined = dict(entry)
        combined["samples"] = entry["samples"] + other["samples"]
        combined["rejected"] = entry["rejected"] + other["rejected"]
        combined["contaminated"] = entry["contaminated"] or other["contaminated"]
        combined["median"] = statistics.median(combined["samples"])
        merged["shapes"][shape] = combined
    loads = [x for x in (earlier.get("background_load_before"),
                         later.get("background_load_before")) if x is not None]
    merged["background_load_before"] = max(loads) if loads else None
    merged["phase_seconds"] = (earlier["phase_seconds"]
                               + later["phase_seconds"])
    return merged


def _fmt_seconds(value):
    if value is None:
        return "—"
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def _median(results, peer, shape):
    res = results.get(peer, {})
    if res.get("status") != "ok":
        return None
    entry = res["shapes"].get(shape)
    return None if entry is None else entry["median"]


def _cell(results, peer, shape):
    res = results.get(peer, {})
    if res.get("status") != "ok":
        return res.get("status", "—")
    entry = res["shapes"].get(shape)
    mark = "*" if entry is not None and entry["contaminated"] else ""
    return _fmt_seconds(_median(results, peer, shape)) + mark


ROOF_CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
n, threads = 2048, int(sys.argv[1])
rng = np.random.RandomState(1)
A = rng.randn(n, n).astype(np.float32)
B = rng.randn(n, n).astype(np.float32)
with threadpool_limits(threads):
    A @ B
    times = []
    for _ in range(5):
        t = time.perf_counter()
        A @ B
        times.append(time.perf_counter() - t)
print(json.dumps(2 * n ** 3 / sorted(times)[2] / 1e9))
"""


def measure_roof():
    """The machine's sgemm roof in GFLOP/s: numpy's (OpenBLAS's) float32
    2048^3 matmul on N_THREADS threads, median of 5, in a fresh process;
    None if it fails."""
    out = subprocess.run([sys.executable, "-c", ROOF_CHILD, str(N_THREADS)],
                         capture_output=True, text=True)
    if out.returncode:
        return None
    return float(out.stdout.strip().splitlines()[-1])


def epoch_gflop(shape):
    """Floating-point operations of one fastbp epoch of ``shape``, in
    billions: per sample and layer 2 x fan_in x fan_out for the forward
    product, as many for the weight gradient and, but for the first layer,
    for the error passed back (fastbp's network: one logistic output for
    two classes)."""
    s = ALL_SHAPES[shape]
    n_out = s.n_outputs
    if s.task == "classification" and n_out == 2:
        n_out = 1
    units = [s.n_features, *s.hidden_layer_sizes, n_out]
    macs = [a * b for a, b in zip(units, units[1:])]
    return 2 * s.n_samples * (3 * sum(macs) - macs[0]) / 1e9


def markdown_table(results, peers, shapes, roof=None):
    """Seconds per epoch (median), each peer's time over fastbp's and, with
    the machine's sgemm ``roof`` (GFLOP/s), fastbp's share of it."""
    others = [p for p in peers if p != "fastbp"]
    header = (["shape"] + [f"{PEER_LABELS[p]} s/epoch" for p in peers]
              + [f"{PEER_LABELS[p]} / fastbp" for p in others])
    if roof and "fastbp" in peers:
        header.append("fastbp / sgemm roof")
    rows = ["| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for shape in shapes:
        row = [shape] + [_cell(results, p, shape) for p in peers]
        base = _median(results, "fastbp", shape)
        for p in others:
            t = _median(results, p, shape)
            row.append("—" if t is None or not base else f"{t / base:.2f}")
        if roof and "fastbp" in peers:
            row.append("—" if not base else
                       f"{epoch_gflop(shape) / roof / base:.0%}")
        rows.append("| " + " | ".join(row) + " |")
    return "\n".join(rows)


def _shape_description(shape, quick):
    s = ALL_SHAPES[shape]
    n = s.n_samples // QUICK_DIVISOR if quick else s.n_samples
    hidden = ", ".join(map(str, s.hidden_layer_sizes))
    out = f"{s.n_outputs} classes" if s.task == "classification" else "1 output"
    return (f"- `{shape}`: {n} x {s.n_features} -> ({hidden}) -> {out}, "
            f"batch {s.batch_size}")


def write_report(results, args, path_md, command, started, roofs=()):
    peers, shapes = args.peers, args.shapes
    roof = max(roofs) if roofs else None
    table = markdown_table(results, peers, shapes, roof)
    lines = [
        "# Seconds per epoch: fastbp and peers",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC with `{command}`",
        f"({args.repeats} timed epochs per cell after one warm-up epoch"
        + (f", in each of {args.rounds} rounds in which the peers took "
           "turns" if args.rounds > 1 else "")
        + "; median).",
        "",
        table,
        "",
        "Ratios above 1 mean fastbp is faster. A `*` marks a cell for which "
        "too few epochs ran on otherwise idle CPUs (see below).",
        "",
        *([f"sgemm roof: numpy's float32 2048^3 matmul on {N_THREADS} "
           "threads (OpenBLAS), measured before and after the peers: "
           + " and ".join(f"{r:.0f}" for r in roofs)
           + " GFLOP/s; the last column is an epoch's floating-point "
           "operations (forward, weight gradients, errors passed back) over "
           "that roof's higher figure, divided by fastbp's epoch time.", ""]
          if roofs else []),
        "Shapes (float32, Adam lr=1e-3, relu):",
        *[_shape_description(s, args.quick) for s in shapes],
        "",
        "Conditions:",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{cpu_model()}, Python {platform.python_version()}",
    ]
    for peer in peers:
        res = results[peer]
        load = res.get("background_load_before")
        load_txt = "n/a" if load is None else f"{load:.2f} cores"
        if res["status"] == "ok":
            versions = ", ".join(f"{k} {v}" for k, v in res["versions"].items())
            extra = ""
            if "threads" in res:
                extra = "; " + ", ".join(f"{k}={v}"
                                         for k, v in res["threads"].items())
            spread = "; ".join(
                f"{s} {min(e['samples']):.3f}-{max(e['samples']):.3f} s"
                + (f" ({len(e['rejected'])} busy epoch(s) dropped)"
                   if e["rejected"] else "")
                for s, e in res["shapes"].items())
            lines.append(f"- {PEER_LABELS[peer]}: {versions}{extra}; "
                         f"other processes' load before the phase: {load_txt}; "
                         f"min-max: {spread}")
        else:
            lines.append(f"- {PEER_LABELS[peer]}: {res['status']} "
                         f"({res.get('reason', '')})")
    lines += [
        "",
        "Each peer ran in its own process, one after the other: fastbp with "
        "OpenBLAS limited to 1 thread (it uses none) and Numba's default "
        f"threads, scikit-learn with OpenBLAS limited to {N_THREADS} threads "
        f"(threadpoolctl), PyTorch with torch.set_num_threads({N_THREADS}), "
        "JAX with XLA's defaults. PyTorch and JAX use a softmax output with "
        "one unit per class (also for the 2-class `tiny`, where scikit-learn "
        "and fastbp use one logistic unit) and no L2 penalty; fastbp and "
        "scikit-learn use alpha=1e-4.",
        "",
        "An epoch during which other processes used more than "
        f"{IDLE_LOAD} cores (from /proc/stat, minus this run's own CPU time) "
        "was dropped and timed again after the CPUs were idle, up to "
        f"{MAX_TRIES_FACTOR} x repeats epochs per cell.",
        "",
    ]
    with open(path_md, "w") as f:
        f.write("\n".join(lines))
    return table


def write_chart(results, args, path_png):
    """Grouped bars of seconds per epoch (log scale); False if no
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    peers = [p for p in args.peers if results[p]["status"] == "ok"]
    shapes = args.shapes
    width = 0.8 / max(len(peers), 1)
    fig, ax = plt.subplots(figsize=(1.8 + 1.9 * len(shapes), 4.2))
    for i, peer in enumerate(peers):
        xs, ys = [], []
        for j, shape in enumerate(shapes):
            t = _median(results, peer, shape)
            if t is not None:
                xs.append(j + (i - (len(peers) - 1) / 2) * width)
                ys.append(t)
        bars = ax.bar(xs, ys, width, label=PEER_LABELS[peer])
        ax.bar_label(bars, labels=[_fmt_seconds(y) for y in ys], fontsize=7,
                     padding=1)
    ax.set_xticks(range(len(shapes)), shapes)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per epoch (median, log scale)")
    title = "One training epoch, float32, Adam"
    if args.quick:
        title += f" (--quick: 1/{QUICK_DIVISOR} of the samples)"
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path_png, dpi=120)
    plt.close(fig)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=list(ALL_SHAPES),
                        default=list(SHAPES),
                        help="shapes to run (default: tiny mnist wide reg; "
                             "also deep micro batch16 batch512)")
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=PEERS,
                        help="peers to run (default: all)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed epochs per cell (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: 1/{QUICK_DIVISOR} of the samples")
    parser.add_argument("--out", default=os.path.join(HERE, "results"),
                        help="output directory (default: benchmarks/results/)")
    parser.add_argument("--name", default=None,
                        help="file name stem of the outputs (default: "
                             "compare_peers, or compare_peers_quick with "
                             "--quick)")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="before each phase, wait up to SECONDS for other "
                             "processes to leave the CPUs idle (default 0)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times the peers take turns; medians are over "
                             "all rounds' epochs (default 1)")
    parser.add_argument("--worker", choices=PEERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5

    if args.worker:
        run_worker(args.worker, args.shapes, args.repeats, args.quick)
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    command = "python " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(__file__)] + sys.argv[1:])
    roofs = [measure_roof()]
    results = {}
    for round_ in range(args.rounds):
        for peer in args.peers:
            if results.get(peer, {}).get("status", "ok") != "ok":
                continue  # skipped or failed in an earlier round
            print(f"== {PEER_LABELS[peer]} (round {round_ + 1} of "
                  f"{args.rounds}) ==", file=sys.stderr, flush=True)
            result = run_peer(peer, args)
            results[peer] = (result if peer not in results
                             else _merge_rounds(results[peer], result))
            if result["status"] != "ok":
                print(f"{PEER_LABELS[peer]}: {result['status']}: "
                      f"{result.get('reason', '')}", file=sys.stderr)

    roofs = [r for r in roofs + [measure_roof()] if r is not None]
    os.makedirs(args.out, exist_ok=True)
    stem = args.name or ("compare_peers_quick" if args.quick
                         else "compare_peers")
    path_md = os.path.join(args.out, stem + ".md")
    table = write_report(results, args, path_md, command, started, roofs)
    with open(os.path.join(args.out, stem + ".json"), "w") as f:
        json.dump({"date": started.isoformat(), "command": command,
                   "repeats": args.repeats, "quick": args.quick,
                   "sgemm_roof_gflops": roofs, "results": results}, f,
                  indent=1)
    path_png = os.path.join(args.out, stem + ".png")
    chart = write_chart(results, args, path_png)

    print(table)
    print(f"\nwrote {path_md}" + (f" and {path_png}" if chart else
                                  " (no chart: matplotlib not installed)"))
    # a missing peer is fine; one that crashed is an error
    return 1 if any(r["status"] == "failed" for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
