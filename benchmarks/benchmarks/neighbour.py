"""An OpenMP neighbour's speed after a fastbp fit in the same process.

Used by the asv suite (``OpenMPNeighbour``) and by
``benchmarks/openmp_neighbour.py``, which documents the measurement.
"""

import json
import os
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, statistics, sys, time, warnings
import numpy as np
sys.path.insert(0, {bench_dir!r})
from benchmarks.common import make_data
warnings.simplefilter("ignore")
repeats = {repeats}
X, _, y, _ = make_data("reg", n_test=1)
layer = None
if {after_fit}:
    import numba
    from fastbp import MLPRegressor
    MLPRegressor(hidden_layer_sizes=(64, 64), batch_size=64, max_iter=2,
                 random_state=0).fit(X, y)
    layer = numba.threading_layer()
try:
    import torch
    torch.set_num_threads(2)
    neighbour = "torch"
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y).reshape(-1, 1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(50, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def epoch():
        perm = torch.randperm(Xt.shape[0])
        for start in range(0, Xt.shape[0], 64):
            batch = perm[start:start + 64]
            opt.zero_grad()
            loss = ((net(Xt[batch]) - yt[batch]) ** 2).mean()
            loss.backward()
            opt.step()
except ImportError:
    from sklearn.ensemble import HistGradientBoostingRegressor
    neighbour = "sklearn HistGradientBoosting"

    def epoch():
        HistGradientBoostingRegressor(max_iter=30, early_stopping=False,
                                      random_state=0).fit(X, y)


def median_time():
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


epoch()  # warm-up
print(json.dumps({{"neighbour": neighbour, "seconds": median_time(),
                  "layer": layer}}))
"""


def run(layer, repeats, after_fit):
    """Median seconds of the neighbour's epoch in a fresh process.

    Parameters
    ----------
    layer : {"tbb", "omp", "workqueue"}
        "tbb" leaves Numba's choice to fastbp; others set
        ``NUMBA_THREADING_LAYER``.
    repeats : int
        Epochs timed after one warm-up epoch.
    after_fit : bool
        Whether fastbp fits a model in the process first.

    Returns
    -------
    report : dict
        ``neighbour``, ``seconds`` and the Numba ``layer`` (None without a
        fit).
    """
    env = dict(os.environ)
    if layer != "tbb":
        env["NUMBA_THREADING_LAYER"] = layer
    code = CHILD.format(bench_dir=BENCH_DIR,
                        repeats=repeats, after_fit=after_fit)
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {layer} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])




class OpenMPNeighbour:
    """A PyTorch (or HistGradientBoosting) epoch after a fastbp fit in the
    same process, divided by the same epoch in a process of its own, with
    Numba on TBB (fastbp's set-up) and on GNU OpenMP for comparison."""

    params = ["tbb", "omp"]
    param_names = ["numba_layer"]
    timeout = 600

    def track_slowdown_after_fit(self, numba_layer):
        alone = run(numba_layer, 3, after_fit=False)
        after = run(numba_layer, 3, after_fit=True)
        return after["seconds"] / alone["seconds"]

    track_slowdown_after_fit.unit = "after / alone"
