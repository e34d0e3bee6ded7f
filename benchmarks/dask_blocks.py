#!/usr/bin/env python
"""How much a fastbp.dask model learns per epoch as the blocks multiply.

The experiment of the issue on more blocks: 50,000 x 40 synthetic training
rows, 4 classes (and a regression set of the same shape), network (64,),
batch 200, ``random_state=0``, on a ``LocalCluster`` of 2 worker processes
x 1 thread. For 4, 10 and 64 blocks and 15 and 45 epochs (``tol=0``, so no
fit stops early), the test score and final training loss of ``fastbp.dask``
with 'adam' for several outer optimizers, next to the in-memory fit with the
same parameters. Every dask fit records the training loss against wall time
(an epoch callback), the curves that chose the default.

1. The table: test score and final loss, in memory and for every outer
   optimizer, per number of blocks and epochs.
2. Loss against time: the loss after each epoch and the seconds since the
   fit began, one row per fit.
3. Time to a target accuracy on 1 and 2 workers (the default optimizer).
4. What a round costs against the number of blocks (4 to 256): wall time
   of one round as actor calls (the default) and as tasks, with a
   least-squares fit of ``a + b * log2(blocks)`` and of ``a + b * blocks``.
5. The task rounds' parts, each measured (the client's, the scheduler's
   and the workers' CPU, one tree level's hop) and the model of a round of
   tasks on 8, 32 and 128 workers they give.
6. Outer momentum against the learning rate and the averaging period, on
   digits: which momentum stays stable (``--lr-momenta``), with the
   initial rounds of ``--lr-initials``.
8. ``--sections seeds`` (not run by default): the in-memory fit's final
   loss over ten values of ``random_state``, the data fixed: how far two
   fits that differ only in their draws land apart.
9. ``--sections transfers`` (not run by default): bytes the workers send
   each other during a fit on 64 blocks, a small and a wide network.
10. ``--sections schedule`` (not run by default): a shorter averaging
   period for the last epochs only, on the largest ``--blocks`` and
   ``--epochs``: the default (``pooled-0.5``) for the first epochs, then
   ``local_batches`` and ``outer_momentum`` changed and the last epochs
   run one ``partial_fit`` each (optimizer state and outer velocity kept);
   ``--schedules`` picks the phases (``last:local_batches:momentum``).
11. ``--sections pairs`` (not run by default): the default dask fit
   against the in-memory fit of the same ``random_state``, seed by seed
   (``--seeds`` of them), on ``--blocks`` and ``--epochs``, for
   ``--pair-methods`` (the default's only unless given): a single
   seed's loss ratio read against the seeds' own spread.
12. The share actors' tree (``--sections tree``, run by default): a
   round's wall time on 256 small blocks cut into 1 to 256 shares (an
   actor each, passing the round on in a tree), one level of the tree
   measured alone, and the model of a round on 8 to 256 workers it gives.

The ``final-PxE`` methods are the estimators' own final phase (the last E
epochs, at most a quarter of them, every P batches with half the outer
momentum, each epoch ending at the mean of its rounds' models;
``final-8x10`` the default before the outer momentum went from 0.5 to 0.7,
``final-8x10-0.7`` after it). The ``initial-P`` methods add the
estimators' initial rounds to ``final-8x10-0.7`` (the first epoch's
periods doubling from P batches up to 64); ``initial-1-final16x5`` (the
final phase every 16 batches for 5 epochs) is the default.
Every other method runs without either phase, as it was measured before
they existed.

Usage (from the repository root, nothing else running)::

    python benchmarks/dask_blocks.py                 # all; writes results
    python benchmarks/dask_blocks.py --blocks 10 --epochs 15 --no-write
    python benchmarks/dask_blocks.py --sections rounds
    python benchmarks/dask_blocks.py --sections tree --no-write
"""

import argparse
import contextlib
import datetime
import itertools
import math
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import distributed  # noqa: E402
from benchmarks.common import cpu_model  # noqa: E402
from sklearn.callback import FitCallback  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastbp  # noqa: E402
import fastbp.dask  # noqa: E402

SEED = 0
N_TRAIN, N_TEST = 50_000, 12_500

# name -> the Dask-only parameters of the method, every one given (so that
# a method does not change with the defaults). `local_batches` 64 unless
# given.
_WHOLE = dict(local_batch_size="batch_size", pooled_second_moment=False)
_SPLIT = dict(local_batch_size="split", pooled_second_moment=False)
_POOLED = dict(local_batch_size="split", pooled_second_moment=True)


def _pooled(momentum, local_batches=64, outer=1.0, **extra):
    """The default's split batches and pooled second moment, with outer
    momentum, averaging period and outer step given."""
    return dict(_POOLED, outer_learning_rate=outer, outer_momentum=momentum,
                local_batches=local_batches, **extra)


METHODS = {
    "average": dict(_WHOLE, outer_learning_rate=1.0, outer_momentum=0.0),
    "momentum-0.5": dict(_WHOLE, outer_learning_rate=1.0,
                         outer_momentum=0.5),
    "slowmo": dict(_WHOLE, outer_learning_rate=1.0, outer_momentum=0.9),
    "diloco": dict(_WHOLE, outer_learning_rate=0.7, outer_momentum=0.9),
    "slowmo-lb1": dict(_WHOLE, outer_learning_rate=1.0, outer_momentum=0.9,
                       local_batches=1),
    "sum": dict(_WHOLE, outer_learning_rate="blocks", outer_momentum=0.0),
    "sqrt": dict(_WHOLE, outer_learning_rate="sqrt_blocks",
                 outer_momentum=0.5),
    "sqrt-lb1": dict(_WHOLE, outer_learning_rate="sqrt_blocks",
                     outer_momentum=0.5, local_batches=1),
    "split-average": dict(_SPLIT, outer_learning_rate=1.0,
                          outer_momentum=0.0),
    "split-0.5": dict(_SPLIT, outer_learning_rate=1.0, outer_momentum=0.5),
    "split-0.9": dict(_SPLIT, outer_learning_rate=1.0, outer_momentum=0.9),
    "split-diloco": dict(_SPLIT, outer_learning_rate=0.7,
                         outer_momentum=0.9),
    "pooled-0.5": _pooled(0.5),
    "pooled-0.9": _pooled(0.9),
    "pooled-average": _pooled(0.0),
    "pooled-0.7": _pooled(0.7),
    "pooled-0.5-lb16": _pooled(0.5, local_batches=16),
    "pooled-0.5-lb32": _pooled(0.5, local_batches=32),
    "pooled-0.5-lb8": _pooled(0.5, local_batches=8),
    "pooled-0.7-lb32": _pooled(0.7, local_batches=32),
    "pooled-0.7-lb16": _pooled(0.7, local_batches=16),
    # half (a quarter of) the inner learning rate, twice (four times) the
    # outer step: the same averaged move while the loss is near linear
    # over a round, half (a quarter of) the blocks' drift
    "pooled-lr/2-o2": _pooled(0.5, outer=2.0, learning_rate_init=0.0005),
    "pooled-lr/2-o2-lb32": _pooled(0.5, outer=2.0, local_batches=32,
                                   learning_rate_init=0.0005),
    "pooled-lr/2-o2-lb16": _pooled(0.5, outer=2.0, local_batches=16,
                                   learning_rate_init=0.0005),
    "pooled-lr/4-o4": _pooled(0.5, outer=4.0, learning_rate_init=0.00025),
    # a final phase (the last E epochs, every P batches, half the outer
    # momentum, each epoch's rounds averaged) after pooled-0.5: final-PxE;
    # final-8x10 was the default, then final-8x10-0.7 (outer momentum 0.7)
    "final-8x10": _pooled(0.5, final_local_batches=8, final_epochs=10),
    "final-8x5": _pooled(0.5, final_local_batches=8, final_epochs=5),
    "final-4x5": _pooled(0.5, final_local_batches=4, final_epochs=5),
    "final-16x10": _pooled(0.5, final_local_batches=16, final_epochs=10),
    "final-8x15": _pooled(0.5, final_local_batches=8, final_epochs=15),
    "final-8x10-lb32": _pooled(0.5, local_batches=32, final_local_batches=8,
                               final_epochs=10),
    "final-8x10-lb16": _pooled(0.5, local_batches=16, final_local_batches=8,
                               final_epochs=10),
    "final-8x10-0.7": _pooled(0.7, final_local_batches=8, final_epochs=10),
    # initial rounds (the first epoch's periods doubling from P up to 64)
    # before final-8x10-0.7: initial-P
    "initial-1": _pooled(0.7, final_local_batches=8, final_epochs=10,
                         initial_local_batches=1),
    "initial-4": _pooled(0.7, final_local_batches=8, final_epochs=10,
                         initial_local_batches=4),
    "initial-8": _pooled(0.7, final_local_batches=8, final_epochs=10,
                         initial_local_batches=8),
    # the default's initial rounds without its final phase, or with a
    # final phase of a longer period (initial-1-final16), fewer epochs
    # (initial-1-final8x5) or both (initial-1-final16x5, the default)
    "initial-1-nofinal": _pooled(0.7, initial_local_batches=1),
    "initial-1-final16": _pooled(0.7, final_local_batches=16, final_epochs=10,
                                 initial_local_batches=1),
    "initial-1-final8x5": _pooled(0.7, final_local_batches=8, final_epochs=5,
                                  initial_local_batches=1),
    "initial-1-final16x5": _pooled(0.7, final_local_batches=16,
                                   final_epochs=5, initial_local_batches=1),
}
for _settings in METHODS.values():
    _settings.setdefault("local_batches", 64)
    # methods without a final (an initial) phase, as they were measured
    # before it
    _settings.setdefault("final_local_batches", None)
    _settings.setdefault("initial_local_batches", None)


def datasets():
    X, y = make_classification(n_samples=N_TRAIN + N_TEST, n_features=40,
                               n_informative=20, n_classes=4,
                               random_state=SEED)
    Xr, yr = make_regression(n_samples=N_TRAIN + N_TEST, n_features=40,
                             n_informative=20, noise=10.0,
                             random_state=SEED)
    yr = yr / yr.std()
    X, Xr = X.astype(np.float32), Xr.astype(np.float32)
    return {
        "classification": (X[:N_TRAIN], X[N_TRAIN:], y[:N_TRAIN],
                           y[N_TRAIN:]),
        "regression": (Xr[:N_TRAIN], Xr[N_TRAIN:], yr[:N_TRAIN],
                       yr[N_TRAIN:]),
    }


def as_blocks(X, y, n_blocks):
    rows = math.ceil(len(X) / n_blocks)
    return (da.from_array(X, chunks=(rows, X.shape[1])).persist(),
            da.from_array(y, chunks=rows).persist())


class _LossClock(FitCallback):
    """A FitCallback recording (seconds since setup, loss) per epoch, and
    each epoch's own wall time (``epochs``)."""

    def __init__(self):
        self.points = []
        self.epochs = []

    def setup(self, estimator, context):
        self.start = time.perf_counter()

    def on_fit_task_begin(self, estimator, context, **kwargs):
        if context.parent is not None:
            self.epoch_start = time.perf_counter()

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.parent is not None:
            now = time.perf_counter()
            self.epochs.append(now - self.epoch_start)
            self.points.append((now - self.start, float(estimator.loss_)))
        return False


def params(kind, epochs):
    return dict(hidden_layer_sizes=(64,), batch_size=200, random_state=SEED,
                max_iter=epochs, tol=0.0, n_iter_no_change=10 * epochs,
                solver="adam")


def estimator(module, kind):
    return (module.MLPClassifier if kind == "classification"
            else module.MLPRegressor)


def final_loss(model, X, y):
    """Mean loss (no L2 term) of the fitted model on all training rows: the
    final model's, where ``loss_`` averages the batches' losses over the
    last epoch (on a dask fit, at the blocks' own weights)."""
    plain = model.to_fastbp() if hasattr(model, "to_fastbp") else model
    if hasattr(plain, "classes_"):
        Y = plain._label_binarizer.transform(y)
    else:
        Y = y.reshape(-1, 1)
    return plain._validation_loss(X, Y.astype(X.dtype), None)


def in_memory(data, kind, epochs, seed=SEED):
    X, X_test, y, y_test = data
    settings = dict(params(kind, epochs), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model = estimator(fastbp, kind)(**settings).fit(X, y)
        seconds = time.perf_counter() - start
    return (model.score(X_test, y_test), model.loss_, seconds,
            final_loss(model, X, y))


def dask_fit(data, kind, epochs, n_blocks, method, seed=SEED, **extra):
    X, X_test, y, y_test = data
    Xd, yd = as_blocks(X, y, n_blocks)
    clock = _LossClock()
    settings = dict(params(kind, epochs), random_state=seed)
    model = estimator(fastbp.dask, kind)(**settings, **METHODS[method],
                                         **extra)
    model.set_callbacks(clock)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(Xd, yd)
        seconds = time.perf_counter() - start
    return (model.score(X_test, y_test), model.loss_, seconds, clock.points,
            final_loss(model, X, y))


def accuracy_table(sets, kinds, blocks, epochs, methods, out, curves):
    out.append("## 1. Test score and final loss, in memory and on blocks\n")
    out.append("Test accuracy (classification) or R^2 (regression) on "
               f"{N_TEST} held-out rows; in brackets the final training "
               "loss `loss_` (the mean of the last epoch's batch losses, "
               "for a dask fit at the blocks' own weights, L2 term "
               "included); 'final model loss': the fitted model's mean "
               "loss on all training rows, without L2 term; dask fit "
               "seconds. `tol=0`: every fit runs all its epochs.\n")
    out.append("| data | epochs | in memory | blocks | method | dask | "
               "score - in memory (points) | loss_ / in-memory | "
               "final model loss / in-memory | dask s |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        for n_epochs in epochs:
            ref_score, ref_loss, ref_s, ref_final = in_memory(
                sets[kind], kind, n_epochs)
            print(f"{kind} {n_epochs} in memory {ref_score:.4f} "
                  f"({ref_loss:.4f}, {ref_final:.4f}) {ref_s:.1f}s",
                  flush=True)
            for n_blocks in blocks:
                for method in methods:
                    score, loss, seconds, points, final = dask_fit(
                        sets[kind], kind, n_epochs, n_blocks, method)
                    print(f"  {n_blocks} blocks {method}: {score:.4f} "
                          f"({loss:.4f}, {final:.4f}) {seconds:.1f}s",
                          flush=True)
                    out.append(
                        f"| {kind} | {n_epochs} | {ref_score:.4f} "
                        f"({ref_loss:.4f}) | {n_blocks} | {method} | "
                        f"{score:.4f} ({loss:.4f}) | "
                        f"{100 * (score - ref_score):+.2f} | "
                        f"{loss / ref_loss:.3f} | {final / ref_final:.3f} | "
                        f"{seconds:.1f} |")
                    curves.append((kind, n_epochs, n_blocks, method,
                                   points))
    out.append("")


def curve_table(curves, out):
    out.append("## 2. Training loss against wall time\n")
    out.append("Per fit: (seconds since the fit began, training loss) after "
               "epochs 1, 2, 4, 8, ... and the last.\n")
    out.append("| data | epochs | blocks | method | (s, loss) |")
    out.append("|---|---|---|---|---|")
    for kind, n_epochs, n_blocks, method, points in curves:
        keep = [i for i in range(len(points))
                if (i + 1) & i == 0 or i == len(points) - 1]
        text = " ".join(f"({points[i][0]:.1f}, {points[i][1]:.4f})"
                        for i in keep)
        out.append(f"| {kind} | {n_epochs} | {n_blocks} | {method} | "
                   f"{text} |")
    out.append("")


def _one_round_task(x):
    return x


def round_costs(client, blocks, out, repeats=3, later=8):
    """Wall time of one round of the stochastic trainer against blocks."""
    out.append("## 4. What a round costs against the number of blocks\n")
    out.append(f"Fits of {1 + later} epochs of `fastbp.dask.MLPClassifier` "
               "(adam, network (64,), 40 features, 4 classes, no final "
               "phase) on blocks of 200 rows, batch 200 per block "
               "(`local_batch_size='batch_size'`, `local_batches=1`): each "
               "epoch is one round of one mini-batch per block: a call per "
               "worker thread, each a contiguous share of the blocks "
               "(`_shares`) that adds up its blocks' results, the weights "
               "inside the calls (they are small). Two ways, each measured: "
               "the default's calls to an actor per share (`_ShareActors`, "
               "up to `_ACTOR_SHARES` shares, passing the round on in a "
               "tree), the client merging two partial sums; and tasks "
               "through the scheduler (as beyond "
               "that bound), merge tasks between the shares beyond two and "
               "the last merge on the client. Figure: "
               "an epoch's wall time (from the epoch callback's begin to its "
               f"end), median of epochs 2 to {1 + later} of {repeats} fits "
               "after a warm-up fit (the rounds of a fit under way); beside "
               "it the median of the fits' first epochs (until 2026-12-05 "
               "the table's figure: fits of one epoch). On 2 workers every "
               "block's compute runs on the same 2 processes, so the "
               "round's compute grows linearly with the blocks here, while "
               "its tasks stay the same. Section 5 is the tasks' "
               "rounds.\n")
    out.append("| blocks | tasks per round | ms per round, actors | "
               "ms per round, tasks | first epoch ms, actors / tasks |")
    out.append("|---|---|---|---|---|")
    rng = np.random.RandomState(SEED)
    n_workers = len(client.nthreads())
    figures = []  # (blocks, tasks per round, ms per round): the tasks'
    actor_figures = []  # (blocks, ms per round)
    cpu = {}

    def measure(n_blocks, n_shares=None, actors=False):
        X = rng.standard_normal((200 * n_blocks, 40)).astype(np.float32)
        y = rng.randint(0, 4, 200 * n_blocks)
        Xd = da.from_array(X, chunks=(200, 40)).persist()
        yd = da.from_array(y, chunks=200).persist()
        model = fastbp.dask.MLPClassifier(
            hidden_layer_sizes=(64,), batch_size=200, max_iter=1 + later,
            tol=0.0, random_state=SEED, local_batches=1,
            local_batch_size="batch_size", final_local_batches=None)
        times, firsts, parts = [], [], []
        with warnings.catch_warnings(), _forced_shares(n_shares), \
                _actor_rounds(actors):
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xd, yd)   # warm-up
            for _ in range(repeats):
                clock = _CpuClock(client)
                model.set_callbacks(clock)
                model.fit(Xd, yd)
                firsts.append(clock.epochs[0])
                times.extend(clock.epochs[1:])
                parts.extend(clock.cpu[1:])
            tasks = _tasks(n_blocks, n_workers)
        ms = 1e3 * float(np.median(times))
        if actors:
            actor_figures.append((n_blocks, ms))
        else:
            figures.append((n_blocks, tasks, ms))
            cpu[n_blocks, tasks] = np.median(parts, axis=0)
        return tasks, ms, 1e3 * float(np.median(firsts))

    for n_blocks in blocks:
        _, by_actors, first_actors = measure(n_blocks, actors=True)
        tasks, ms, first = measure(n_blocks)
        out.append(f"| {n_blocks} | {tasks} | {by_actors:.1f} | {ms:.1f} | "
                   f"{first_actors:.1f} / {first:.1f} |")
        print(f"round, {n_blocks} blocks: actors {by_actors:.1f} ms, tasks "
              f"{ms:.1f} ms (first epoch {first_actors:.1f} / "
              f"{first:.1f})", flush=True)
    for label, series in (("actors", actor_figures),
                          ("tasks", [(n, ms) for n, _, ms in figures])):
        b = np.array([f[0] for f in series], dtype=float)
        t = np.array([f[1] for f in series])
        for name, x in (("log2(blocks)", np.log2(b)), ("blocks", b)):
            A = np.column_stack([np.ones_like(x), x])
            coef = np.linalg.lstsq(A, t, rcond=None)[0]
            rms = float(np.sqrt(np.mean((A @ coef - t) ** 2)))
            out.append(f"\nLeast squares, {label}: ms per round = "
                       f"{coef[0]:.1f} + {coef[1]:.3f} x {name} (rms "
                       f"residual {rms:.1f} ms).")
    out.append("")
    # The same 64 blocks cut into more shares than the workers have
    # threads: what a task costs, at the same blocks.
    shared_out = []
    for n_shares in FORCED_SHARES:
        _, by_actors, _ = measure(64, n_shares, actors=True)
        actor_figures.pop()  # not one of the blocks' series
        tasks, ms, _ = measure(64, n_shares)
        shared_out.append(f"| 64 | {n_shares} | {tasks} | {ms:.1f} | "
                          f"{by_actors:.1f} |")
        print(f"round, 64 blocks in {n_shares} shares: tasks {ms:.1f} ms, "
              f"actors {by_actors:.1f} ms", flush=True)
    out.append("The same rounds on 64 blocks cut into more shares (a task, "
               "or an actor, each, nested in the workers' shares so that no "
               "block moves), for what a task costs at the same blocks, and "
               "the actors' tree at the same shares (all on 2 cores):\n")
    out.append("| blocks | shares | tasks per round | ms per round, tasks | "
               "ms per round, actors |")
    out.append("|---|---|---|---|---|")
    out.extend(shared_out)
    out.append("")
    round_model(client, figures, cpu, out)


@contextlib.contextmanager
def _actor_rounds(actors):
    """Rounds as the trainer runs them (actors up to its bound) if
    ``actors``, else as tasks."""
    from fastbp.dask import _trainer

    bound = _trainer._ACTOR_SHARES
    _trainer._ACTOR_SHARES = bound if actors else 0
    try:
        yield
    finally:
        _trainer._ACTOR_SHARES = bound


# Shares of 64 blocks for the tasks series of ``round_costs``: powers of two
# from the 2 workers' own, so that each lies on one worker.
FORCED_SHARES = (4, 8, 16, 32, 64)


@contextlib.contextmanager
def _forced_shares(n_shares):
    """Rounds cut into ``n_shares`` equal contiguous shares (None: the
    trainer's own), the blocks placed by the trainer's own shares."""
    from fastbp.dask import _trainer

    if n_shares is None:
        yield
        return
    rule, colocated = _trainer._shares, _trainer._colocated

    def forced(n_blocks, n_slots):
        size = -(-n_blocks // n_shares)
        return [range(start, min(start + size, n_blocks))
                for start in range(0, n_blocks, size)]

    def placed_by_own_rule(client, train, n_slots):
        _trainer._shares = rule
        try:
            return colocated(client, train, n_slots)
        finally:
            _trainer._shares = forced

    _trainer._shares, _trainer._colocated = forced, placed_by_own_rule
    try:
        yield
    finally:
        _trainer._shares, _trainer._colocated = rule, colocated


def _tasks(n_blocks, n_workers):
    """Tasks of a round over ``n_blocks`` blocks on ``n_workers`` workers
    (one thread each): a task per share of the blocks (``_shares``) and
    the merges on the workers (all but the client's last one)."""
    try:
        from fastbp.dask._trainer import _shares
    except ImportError:  # a checkout from before shares
        return _tasks_before_shares(n_blocks, n_workers)
    n_shares = len(_shares(n_blocks, n_workers))
    return n_shares + max(n_shares - 2, 0)


def _tasks_before_shares(n_blocks, n_workers):
    """A task per aligned run of blocks (``_group_size``) or per block,
    and the tree's adds."""
    try:
        from fastbp.dask._trainer import _group_size
    except ImportError:  # a checkout from before blocks were grouped
        return 2 * n_blocks - 1
    g = _group_size(n_blocks, n_workers)
    return 2 * -(-n_blocks // g) - 1


def _round_tasks(client, n_blocks):
    return _tasks(n_blocks, len(client.nthreads()))


class _CpuClock(_LossClock):
    """A _LossClock that also records, per epoch, the CPU seconds of the
    client's thread, of the scheduler's event-loop thread and of all
    worker processes."""

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.cpu = []

    def _now(self):
        return np.array([
            time.thread_time(),
            self.client.run_on_scheduler(time.thread_time),
            sum(self.client.run(time.process_time).values())])

    def on_fit_task_begin(self, estimator, context, **kwargs):
        if context.parent is not None:
            self.cpu_start = self._now()
        super().on_fit_task_begin(estimator, context, **kwargs)

    def on_fit_task_end(self, estimator, context, **kwargs):
        stop = super().on_fit_task_end(estimator, context, **kwargs)
        if context.parent is not None:
            self.cpu.append(self._now() - self.cpu_start)
        return stop


def _tree_depth(n):
    return math.ceil(math.log2(n)) if n > 1 else 0


def _hop_seconds(client, chain=40, repeats=3):
    """One tree level's latency: a chain of adds, each on the other worker
    than its input (scheduler round trip, transfer of a partial sum of the
    (64,) network's size, the add)."""
    from fastbp.dask._blocks import add_weighted_sums

    workers = sorted(client.nthreads())
    n_params = 40 * 64 + 64 + 64 * 4 + 4
    part = (np.ones((3, n_params)), 1.0, 1, 0.0)
    hops = []
    for _ in range(repeats):
        start = time.perf_counter()
        acc = client.submit(_identity_part, part, workers=[workers[0]],
                            pure=False)
        for i in range(chain):
            acc = client.submit(add_weighted_sums, acc, part,
                                workers=[workers[(i + 1) % 2]], pure=False)
        acc.result()
        hops.append((time.perf_counter() - start) / chain)
    return float(np.median(hops))


def round_model(client, figures, cpu, out):
    """The round's cost split into the CPU time of each party, measured on
    this cluster, and the model they give for more workers."""
    out.append("## 5. A model of the round, fitted on measured parts\n")
    b = np.array([n for n, _, _ in figures], dtype=float)
    tasks = np.array([t for _, t, _ in figures], dtype=float)
    wall = np.array([ms for _, _, ms in figures]) / 1e3
    parts = np.array([cpu[n, t] for n, t, _ in figures])
    # Each party's CPU: a fixed part, a part per task (scheduling, a
    # task's start) and a part per block (its rows, its data's keys).
    design = np.column_stack([np.ones_like(b), tasks, b])
    fits = [np.linalg.lstsq(design, parts[:, i], rcond=None)[0]
            for i in range(3)]
    hop = _hop_seconds(client)
    out.append(
        "The same rounds as section 4 (both series), with the CPU seconds "
        "each party spent in them (medians): the client's thread, the "
        "scheduler's event-loop thread (both in the client process of a "
        "LocalCluster) and the two worker processes together. CPU time is "
        "what a party can not share out; on a loaded machine it is steadier "
        "than the wall clock.\n")
    out.append("| blocks | tasks | wall ms | client CPU ms | scheduler CPU ms "
               "| workers' CPU ms |")
    out.append("|---|---|---|---|---|---|")
    for (n, t, ms), row in zip(figures, parts):
        out.append(f"| {n} | {t} | {ms:.1f} | {1e3 * row[0]:.1f} | "
                   f"{1e3 * row[1]:.1f} | {1e3 * row[2]:.1f} |")
    names = ("client", "scheduler", "workers")
    out.append("\nLeast squares per party, CPU ms per round: " + "; ".join(
        f"{name} {1e3 * f[0]:.1f} + {1e3 * f[1]:.3f} x tasks + "
        f"{1e3 * f[2]:.3f} x blocks" for name, f in zip(names, fits))
        + " (tasks per round: the tables' column).\n")
    out.append(
        f"One tree level (an add on the other worker: scheduler round trip "
        f"and the transfer of a partial sum) takes {1e3 * hop:.2f} ms of "
        "wall time (median of 3 chains of 40 adds).\n")
    out.append(
        "Model, W workers and B blocks, T(B, W) tasks per round: seconds "
        "per round = client(T) + max(scheduler(T), workers(B) / W + "
        "(ceil(log2 min(B, W)) - 1) x hop), the three parties' fitted lines "
        "above: the scheduler is one thread, the workers' CPU divides among "
        "W, and the merges' levels on the workers follow one another. On "
        "the 2 workers measured:\n")

    def parties(n, w):
        """Client, scheduler, and workers / W + the tree's levels, for n
        blocks on w workers."""
        t = _tasks(int(n), w)
        c, s, k = (f[0] + f[1] * t + f[2] * n for f in fits)
        # The merges' levels on the workers: one fewer than the shares'
        # tree has (the last merge is the client's).
        return c, s, k / w + max(_tree_depth(min(n, w)) - 1, 0) * hop

    def model(n, w):
        c, s, spread = parties(n, w)
        return c + max(s, spread)

    cores = os.cpu_count()

    def on_this_machine(n):
        # Client, scheduler and workers share this machine's cores.
        t = _tasks(int(n), 2)
        cpu = sum(f[0] + f[1] * t + f[2] * n for f in fits)
        return max(model(n, 2), cpu / cores)

    out.append(f"| blocks | measured wall ms | model ms | model ms, all "
               f"parties on {cores} cores |")
    out.append("|---|---|---|---|")
    for (n, t, _), ms in zip(figures, wall):
        if t != _tasks(n, 2):
            continue  # the forced shares' rounds
        out.append(f"| {int(n)} | {1e3 * ms:.1f} | {1e3 * model(n, 2):.1f} "
                   f"| {1e3 * on_this_machine(n):.1f} |")
    out.append("\nThe model for more workers (blocks = workers and 4 x "
               "workers):\n")
    out.append("| workers | blocks | client ms | scheduler ms | workers / W "
               "+ tree ms | model ms per round |")
    out.append("|---|---|---|---|---|---|")
    for w in (8, 32, 128):
        for n in (w, 4 * w):
            c, s, spread = parties(n, w)
            out.append(f"| {w} | {n} | {1e3 * c:.1f} | {1e3 * s:.1f} | "
                       f"{1e3 * spread:.1f} | {1e3 * (c + max(s, spread)):.1f}"
                       " |")
    out.append(
        "\nA round's tasks are a share per worker thread and the merges "
        "between them, whatever the blocks: the merges' levels grow with "
        f"log2(workers) ({1e3 * hop:.1f} ms each), the scheduler's CPU, "
        f"{1e3 * fits[1][1]:.2f} ms per task and "
        f"{1e3 * fits[1][2]:.2f} ms per block, with the workers (two tasks "
        "per worker) and only its per-block part with the blocks; the "
        "rest is the blocks' own compute divided among the workers.\n")
    print("\n".join(out[-32:]), flush=True)


# Shares of section 12's rounds, 1 to 256 (``_forced_shares``' equal
# contiguous shares of 256 blocks).
TREE_SHARES = (1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 43, 64, 128, 256)


@contextlib.contextmanager
def _timed_rounds():
    """The wall and client-thread CPU seconds of each round
    (``_round_total``) while inside."""
    from fastbp.dask import _trainer

    rule = _trainer._round_total
    rounds = []

    def timed(*args, **kwargs):
        wall, cpu = time.perf_counter(), time.thread_time()
        total = rule(*args, **kwargs)
        rounds.append((time.perf_counter() - wall, time.thread_time() - cpu))
        return total

    _trainer._round_total = timed
    try:
        yield rounds
    finally:
        _trainer._round_total = rule


def _one_level(client, model, rows, repeats=300):
    """A round's wall time through one level of share actors and through
    two (the first actor passing it on to the second, on the other
    worker), each share one block of ``rows`` rows, the L-BFGS round of
    ``model`` (fitted): medians of ``repeats`` alternated calls, in ms."""
    from fastbp.dask import _trainer
    from fastbp.dask._blocks import add_loss_grads

    workers = sorted(client.nthreads())
    rng = np.random.RandomState(SEED)
    X = rng.standard_normal((rows, 40)).astype(model._np_dtype)
    Y = np.eye(4, dtype=model._np_dtype)[rng.randint(0, 4, rows)]
    futures = [client.submit(_trainer._ShareActor, s, [(s, (X, Y, None))],
                             actor=True, pure=False, workers=[worker])
               for s, worker in enumerate(workers[:2])]
    actors = [future.result() for future in futures]
    peers = [(worker, future.key) for worker, future in zip(workers, futures)]
    for actor in actors:
        actor.connect(peers).result()
    spec = model._spec()
    common = _trainer._packed((_trainer._loss_grad_share_task,
                               model._params.copy(), add_loss_grads))
    parts = {s: _trainer._packed((s, [(s, (spec,))])) for s in range(2)}
    times = {1: [], 2: []}
    try:
        for _ in range(repeats):
            for stop in (1, 2):
                start = time.perf_counter()
                actors[0].run(_trainer._packed((common, parts,
                                                stop))).result()
                times[stop].append(time.perf_counter() - start)
    finally:
        client.cancel(futures)
    return tuple(1e3 * statistics.median(times[k]) for k in (1, 2))


def actor_tree(client, out, n_blocks=256, rows=4, iterations=40,
               repeats=3):
    """A round's wall time through the share actors' tree against its
    depth: the same L-BFGS rounds over ``n_blocks`` small blocks cut into
    1 to 256 shares (an actor each); one level of the tree measured alone,
    and the model of a round on more workers it gives."""
    from fastbp.dask import _trainer

    out.append("## 12. The share actors' tree: a round against its depth\n")
    out.append(
        f"L-BFGS fits of `fastbp.dask.MLPClassifier` (network (64,), 40 "
        f"features, 4 classes, `max_iter={iterations}`) on {n_blocks} "
        f"blocks of {rows} rows, the rounds cut into S equal contiguous "
        "shares, an actor each (`_ShareActors`; the blocks placed by the "
        "2 workers' own shares). A round (`_round_total`, timed around the "
        "call: the client's packing, the tree, the merges) is a call to "
        "the first actor of each half of the shares, which passes it on "
        "down the tree (`_share_children`: floor(log2(S + 1)) levels "
        "below the client) while it runs its own share; each actor merges "
        "the stacks below it after its own, the client the two halves'. "
        "Each round's blocks compute a (64,) network's loss and gradient "
        f"on {rows} rows, and a partial sum of 2884 float64 travels up "
        "each edge; from 2 shares on, the blocks' compute is the same "
        "(half the blocks on each worker), on 1 share it all runs on one "
        "worker. Wall ms: median of "
        f"{repeats} fits' rounds after a warm-up fit; client CPU: the "
        "client thread's, per round.\n")
    out.append("| shares | tree levels | wall ms | client CPU ms |")
    out.append("|---|---|---|---|")
    rng = np.random.RandomState(SEED)
    X = rng.standard_normal((rows * n_blocks, 40)).astype(np.float32)
    y = rng.randint(0, 4, rows * n_blocks)
    Xd = da.from_array(X, chunks=(rows, 40)).persist()
    yd = da.from_array(y, chunks=rows).persist()
    figures = []
    for n_shares in TREE_SHARES:
        model = fastbp.dask.MLPClassifier(
            hidden_layer_sizes=(64,), solver="lbfgs", max_iter=iterations,
            tol=0.0, random_state=SEED)
        walls, cpus = [], []
        with warnings.catch_warnings(), _forced_shares(n_shares):
            warnings.simplefilter("ignore", ConvergenceWarning)
            actual = len(_trainer._shares(n_blocks, 2))
            model.fit(Xd, yd)  # warm-up
            for _ in range(repeats):
                with _timed_rounds() as rounds:
                    model.fit(Xd, yd)
                walls.extend(w for w, _ in rounds)
                cpus.extend(c for _, c in rounds)
        levels = int(math.log2(actual + 1))
        row = (actual, levels, 1e3 * statistics.median(walls),
               1e3 * statistics.median(cpus))
        figures.append(row)
        out.append("| {} | {} | {:.2f} | {:.2f} |".format(*row))
        print(out[-1], flush=True)
    out.append(
        "\nOn these 2 workers all the shares' calls share 2 cores, so that "
        "beyond a few shares the wall time grows with the shares, each "
        "actor's handling of its call; on a cluster of a share per worker "
        "those run at once, and what a round waits for is the levels on "
        "its path, measured alone below.\n")
    cpu = np.array([f[3] for f in figures])
    out.append(
        f"The client thread's CPU per round: {cpu.min():.2f} to "
        f"{cpu.max():.2f} ms over 1 to {figures[-1][0]} shares (two "
        "calls and two results whatever the shares; a round's parts, "
        "one per share, are packed on the client).\n")
    one, two = _one_level(client, model, rows)
    level = two - one
    out.append(
        f"One level, measured alone (two share actors of one {rows}-row "
        "block each, one per worker; a round's call to the first, which "
        "runs its block or also passes the round on to the second and "
        f"merges its partial sum; medians of 300 alternated calls): "
        f"{one:.2f} ms through one level, {two:.2f} ms through two: a "
        f"level costs {level:.2f} ms.\n")
    out.append(
        "Model, W workers of a share each, on the round's path: ms per "
        f"round = {one:.2f} + {level:.2f} x (floor(log2(W + 1)) - 1) + "
        "the blocks' compute / W (a level: the call passed on, the "
        "partial sum back and merged; the client makes two calls and "
        "merges two results whatever W):\n")
    out.append("| workers | tree levels | model ms per round but the blocks' "
               "compute |")
    out.append("|---|---|---|")
    for w in (8, 32, 128, 256):
        d = int(math.log2(w + 1))
        out.append(f"| {w} | {d} | {one + level * (d - 1):.1f} |")
    out.append(
        f"\nBeyond `_ACTOR_SHARES` ({_trainer._ACTOR_SHARES}) shares the "
        "rounds are tasks (sections 4 and 5).\n")
    print("\n".join(out[-12:]), flush=True)


def _identity_part(part):
    return part



def _bytes_sent(dask_worker):
    return dask_worker.transfer_outgoing_bytes_total


def transfers(client, out):
    """Bytes the workers sent each other during a fit on 64 blocks, with
    the blocks as Dask placed them (``as_blocks``: alternately on 2
    workers): the small network of the table, and a wide one whose round
    results weigh megabytes."""
    out.append("## 9. Bytes between the workers during a fit\n")
    out.append("Fits of `fastbp.dask.MLPClassifier` (adam, batch 200, "
               "`local_batch_size='split'`, `tol=0`) on 64 blocks persisted "
               "as `da.from_array(...).persist()` places them; the workers' "
               "`transfer_outgoing_bytes_total` before and after each fit "
               "(after a warm-up fit), the fit's wall time, and the rounds' "
               "count. Data: make_classification, float32.\n")
    out.append("| data | network | local_batches | epochs | rounds | "
               "X MB | MB between workers | per round MB | fit s |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    cases = [(50_000, 40, (64,), 8, 3), (12_800, 784, (512, 256), 4, 2)]
    for n_rows, n_features, hidden, local_batches, epochs in cases:
        X, y = make_classification(n_samples=n_rows, n_features=n_features,
                                   n_informative=min(n_features - 2, 50),
                                   n_classes=4, random_state=SEED)
        X = X.astype(np.float32)
        Xd, yd = as_blocks(X, y, 64)
        params = dict(hidden_layer_sizes=hidden, batch_size=200,
                      max_iter=epochs, random_state=SEED, tol=0.0,
                      n_iter_no_change=10 * epochs,
                      local_batches=local_batches)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fastbp.dask.MLPClassifier(**params).fit(Xd, yd)
            before = sum(client.run(_bytes_sent).values())
            start = time.perf_counter()
            model = fastbp.dask.MLPClassifier(**params).fit(Xd, yd)
            seconds = time.perf_counter() - start
            sent = sum(client.run(_bytes_sent).values()) - before
        block_rows = math.ceil(n_rows / 64)
        split = max(1, round(200 * block_rows / n_rows))
        rounds = model.n_iter_ * math.ceil(block_rows
                                           / (split * local_batches))
        out.append(f"| {n_rows} x {n_features} | {hidden} | "
                   f"{local_batches} | {epochs} | {rounds} | "
                   f"{X.nbytes / 1e6:.1f} | {sent / 1e6:.1f} | "
                   f"{sent / rounds / 1e6:.2f} | {seconds:.1f} |")
    out.append("")


def seed_spread(sets, kinds, epochs, out, n_seeds=10):
    """The in-memory fit's final loss over ``random_state`` 0..n_seeds-1
    (the data fixed): how far two fits that differ only in their draws
    land apart, the scale against which a dask fit's loss ratio reads."""
    out.append("## 8. The in-memory fit's final loss against its seed\n")
    out.append("The data fixed, `random_state` 0 to "
               f"{n_seeds - 1} (the weights' initialisation and the "
               "shuffles): final model loss (section 1's definition) of "
               "each seed as a ratio to seed 0's, and test scores.\n")
    out.append("| data | epochs | seed 0 loss | min / seed 0 | median / "
               "seed 0 | max / seed 0 | scores |")
    out.append("|---|---|---|---|---|---|---|")
    for kind in kinds:
        for n_epochs in epochs:
            fits = [in_memory(sets[kind], kind, n_epochs, seed)
                    for seed in range(n_seeds)]
            scores = [fit[0] for fit in fits]
            finals = [fit[3] for fit in fits]
            ref = finals[0]
            out.append(
                f"| {kind} | {n_epochs} | {ref:.5f} | "
                f"{min(finals) / ref:.3f} | "
                f"{statistics.median(finals) / ref:.3f} | "
                f"{max(finals) / ref:.3f} | "
                f"{min(scores):.4f}-{max(scores):.4f} |")
    out.append("")


def seed_pairs(sets, kinds, blocks, epochs, out, n_seeds=10,
               methods=("initial-1-final16x5",)):
    """The dask fit (each of ``methods``; the default's is
    initial-1-final16x5) against the in-memory fit of the same
    ``random_state``, for
    ``random_state`` 0..n_seeds-1: the final loss ratio per seed, next to
    how far the in-memory seeds land from each other (section 8): one
    seed's ratio reads against that spread."""
    out.append("## 11. Dask against in memory, seed by seed\n")
    out.append(f"`random_state` 0 to {n_seeds - 1}, the data fixed: for each "
               "seed the final model loss (section 1's definition) of the "
               "dask fit (`initial-1-final16x5` is the default) over that of "
               "the in-memory fit with the same seed; the in-memory losses' "
               "own spread as max / min, the medians' ratio, and the dask "
               "fits' median seconds (the machine's load enters these).\n")
    out.append("| data | epochs | blocks | method | dask / in memory: min "
               "| median | max | median dask / median in memory | in-memory "
               "max / min | test score, dask - in memory (points): min / "
               "median | dask fit: median s |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in kinds:
        for n_epochs in epochs:
            refs = [in_memory(sets[kind], kind, n_epochs, seed)
                    for seed in range(n_seeds)]
            for n_blocks, method in itertools.product(blocks, methods):
                fits = [dask_fit(sets[kind], kind, n_epochs, n_blocks,
                                 method, seed)
                        for seed in range(n_seeds)]
                ratios = [f[4] / r[3] for f, r in zip(fits, refs)]
                points = [100 * (f[0] - r[0]) for f, r in zip(fits, refs)]
                ref_finals = [r[3] for r in refs]
                medians = (statistics.median(f[4] for f in fits)
                           / statistics.median(ref_finals))
                out.append(
                    f"| {kind} | {n_epochs} | {n_blocks} | {method} | "
                    f"{min(ratios):.3f} | {statistics.median(ratios):.3f} | "
                    f"{max(ratios):.3f} | {medians:.3f} | "
                    f"{max(ref_finals) / min(ref_finals):.3f} | "
                    f"{min(points):+.2f} / {statistics.median(points):+.2f} | "
                    f"{statistics.median(f[2] for f in fits):.2f} |")
                print(out[-1], " per seed:",
                      " ".join(f"{x:.3f}" for x in ratios), flush=True)
    out.append("")


def time_to_target(sets, n_blocks, epochs, target, out, extra=None):
    out.append("## 3. Time to a target accuracy, 1 and 2 workers\n")
    trainer = fastbp.dask._trainer
    out.append(f"Classification, {n_blocks} blocks, the defaults "
               f"(local_batch_size={trainer.DEFAULT_LOCAL_BATCH_SIZE!r}, "
               f"local_batches={trainer.DEFAULT_LOCAL_BATCHES}, outer "
               f"optimizer ({trainer.DEFAULT_OUTER_LEARNING_RATE}, "
               f"{trainer.DEFAULT_OUTER_MOMENTUM})) and {extra or {}}, up "
               f"to {epochs} epochs; "
               "seconds until the first epoch whose test accuracy reaches "
               f"{target}.\n")
    out.append("| workers | s to target | epochs | weights equal to 2 "
               "workers' |")
    out.append("|---|---|---|---|")
    X, X_test, y, y_test = sets["classification"]
    results = {}
    for n_workers in (2, 1):
        with distributed.LocalCluster(n_workers=n_workers,
                                      threads_per_worker=1,
                                      processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster):
            Xd, yd = as_blocks(X, y, n_blocks)
            hit = []

            class _Target(_LossClock):
                def on_fit_task_end(self, estimator, context, **kwargs):
                    if context.parent is None:
                        return False
                    acc = estimator.score(X_test, y_test)
                    if acc >= target and not hit:
                        hit.append((time.perf_counter() - self.start,
                                    len(self.points) + 1))
                    self.points.append(acc)
                    return bool(hit)

            model = fastbp.dask.MLPClassifier(**params("classification",
                                                       epochs),
                                              **(extra or {}))
            model.set_callbacks(_Target())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(Xd, yd)
            results[n_workers] = (hit[0] if hit else (float("nan"), None),
                                  model.coefs_[0].copy())
    same = np.array_equal(results[1][1], results[2][1])
    for n_workers in (1, 2):
        (seconds, n_epochs), _ = results[n_workers]
        out.append(f"| {n_workers} | {seconds:.2f} | {n_epochs} | "
                   f"{same} |")
    out.append("")


def learning_rates(out, epochs=30, momenta=(0.5, 0.9), initials=(1,)):
    """Outer momentum against the learning rate and the averaging period:
    digits (1,200 training rows in 4 blocks of 300, batch 40 split into
    4 x 10 rows), adam, network (32,)."""
    from sklearn.datasets import load_digits

    out.append("## 6. Outer momentum against learning rate and averaging "
               "period (digits)\n")
    out.append("Digits: the first 1,200 rows (4 blocks of 300) for "
               "training, the other 597 for the test; adam, network (32,), "
               f"batch 40 (`local_batch_size='split'`: 10 rows per block), "
               f"{epochs} epochs, `tol=0`, random_state=0. Training loss "
               "(`loss_curve_`) after epochs 1, 6, 11, ... and test "
               "accuracy.\n")
    out.append("| learning_rate_init | fit | local_batches | outer_momentum "
               "| pooled_second_moment | initial_local_batches | loss curve "
               "| test accuracy |")
    out.append("|---|---|---|---|---|---|---|---|")
    X, y = load_digits(return_X_y=True)
    X_test, y_test = X[1200:] / 16, y[1200:]
    X, y = X[:1200] / 16, y[:1200]
    common = dict(hidden_layer_sizes=(32,), random_state=SEED,
                  max_iter=epochs, batch_size=40, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lr in (0.001, 0.01):
            rows = []
            model = fastbp.MLPClassifier(learning_rate_init=lr,
                                         **common).fit(X, y)
            rows.append(("in memory", "", "", "", "", model))
            for lb, momentum, pooled, initial in itertools.product(
                    (64, 8, 1), momenta, (False, True), initials):
                model = fastbp.dask.MLPClassifier(
                    learning_rate_init=lr, local_batches=lb,
                    local_batch_size="split", outer_learning_rate=1.0,
                    outer_momentum=momentum, pooled_second_moment=pooled,
                    initial_local_batches=initial, **common).fit(
                        da.from_array(X, chunks=(300, 64)),
                        da.from_array(y, chunks=300))
                rows.append(("dask", lb, momentum, pooled, initial, model))
            for name, lb, momentum, pooled, initial, model in rows:
                curve = " ".join(f"{v:.3f}" for v in model.loss_curve_[::5])
                acc = model.score(X_test, y_test)
                out.append(f"| {lr} | {name} | {lb} | {momentum} "
                           f"| {pooled} | {initial} | {curve} | {acc:.4f} |")
                print(f"lr {lr} {name} {lb} {momentum} {pooled} {initial}: "
                      f"{curve} {acc:.4f}", flush=True)
    out.append("")


# (epochs in the last phase, its local_batches, its outer momentum, or
# None to keep the default's)
SCHEDULES = [(0, 64, None), (15, 8, None), (7, 8, None), (7, 4, None),
             (5, 4, None), (10, 4, None), (7, 4, 0.0), (10, 8, 0.0),
             (15, 8, 0.0)]


def scheduled_fit(data, kind, epochs, n_blocks, last, local_batches,
                  momentum):
    """The default for ``epochs - last`` epochs, then ``last`` epochs of
    one partial_fit each with the given period (and outer momentum)."""
    X, X_test, y, y_test = data
    Xd, yd = as_blocks(X, y, n_blocks)
    model = estimator(fastbp.dask, kind)(**params(kind, epochs - last),
                                         **METHODS["pooled-0.5"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(Xd, yd)
        model.set_params(local_batches=local_batches)
        if momentum is not None:
            model.set_params(outer_momentum=momentum)
        for _ in range(last):
            model.partial_fit(Xd, yd)
        seconds = time.perf_counter() - start
    return model.score(X_test, y_test), seconds, final_loss(model, X, y)


def _schedule(text):
    """``last:local_batches:momentum`` (momentum '-': the default's)."""
    last, local_batches, momentum = text.split(":")
    return (int(last), int(local_batches),
            None if momentum == "-" else float(momentum))


def schedules(sets, kinds, n_blocks, epochs, out, schedule_list=SCHEDULES):
    out.append("## 10. A shorter averaging period for the last epochs\n")
    out.append(f"{n_blocks} blocks, {epochs} epochs: the default "
               "(`pooled-0.5`, 64 batches per round) for the first epochs, "
               "then the last ones at another period (and outer momentum), "
               "one `partial_fit` each. Final model loss (section 1) over "
               "the in-memory fit's; test score minus in memory (points); "
               "seconds of the whole fit.\n")
    out.append("| data | last epochs | their local_batches | their outer "
               "momentum | loss / in memory | score (points) | s |")
    out.append("|---|---|---|---|---|---|---|")
    for kind in kinds:
        data = sets[kind]
        score_m, _, _, loss_m = in_memory(data, kind, epochs)
        for last, local_batches, momentum in schedule_list:
            score, seconds, loss = scheduled_fit(
                data, kind, epochs, n_blocks, last, local_batches, momentum)
            out.append(
                f"| {kind} | {last} | {local_batches if last else '-'} | "
                f"{'0.5' if momentum is None else momentum} | "
                f"{loss / loss_m:.3f} | {100 * (score - score_m):+.2f} | "
                f"{seconds:.1f} |")
            print(out[-1], flush=True)
    out.append("")


def _initial(text):
    return None if text == "none" else int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[4, 10, 64])
    parser.add_argument("--epochs", type=int, nargs="+", default=[15, 45])
    parser.add_argument("--kinds", nargs="+",
                        default=["classification", "regression"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--round-blocks", type=int, nargs="+",
                        default=[4, 8, 16, 32, 64, 128, 256])
    parser.add_argument("--sections", nargs="+",
                        default=["table", "target", "rounds", "tree", "lr"])
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--target-blocks", type=int, nargs="+", default=[10],
                        help="the blocks of section 3's fits")
    parser.add_argument("--target-initial", default="default",
                        help="section 3's initial_local_batches ('none': "
                        "no initial rounds; the estimators' default unless "
                        "given)")
    parser.add_argument("--schedules", type=_schedule, nargs="+",
                        default=SCHEDULES,
                        help="section 10's last phases, each "
                        "last_epochs:local_batches:outer_momentum ('-' for "
                        "the default's momentum)")
    parser.add_argument("--lr-momenta", type=float, nargs="+",
                        default=[0.5, 0.9],
                        help="section 6's outer momenta")
    parser.add_argument("--lr-initials", type=_initial, nargs="+",
                        default=[1],
                        help="section 6's initial_local_batches ('none': "
                        "no initial rounds)")
    parser.add_argument("--pair-methods", nargs="+",
                        default=["initial-1-final16x5"],
                        help="section 11's methods")
    parser.add_argument("--seeds", type=int, default=10,
                        help="section 11's seeds (0 to SEEDS - 1)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", default=os.path.join(
        HERE, "results", "dask_blocks.md"))
    args = parser.parse_args()

    dask.config.set({"distributed.worker.daemon": False})
    sets = datasets()
    command = "python benchmarks/dask_blocks.py " + " ".join(sys.argv[1:])
    out = [
        "# fastbp.dask: learning per epoch against the number of blocks\n",
        f"Command: `{command.strip()}`; {datetime.date.today()}; "
        f"{cpu_model()}, {os.cpu_count()} cores; Python "
        f"{platform.python_version()}, dask {dask.__version__}, "
        f"distributed {distributed.__version__}. Cluster: LocalCluster("
        "n_workers=2, threads_per_worker=1, processes=True). Data: "
        f"make_classification / make_regression, {N_TRAIN} training rows x "
        "40 features (4 classes), float32, adam, network (64,), batch 200, "
        "random_state=0. In-memory fits run in the client process.\n",
        "Methods (outer optimizer on each round's averaged change; "
        "`local_batches` 64 unless given): "
        + "; ".join(f"`{k}`: {v}" for k, v in METHODS.items()
                    if k in args.methods) + ".\n",
    ]
    curves = []
    if {"table", "rounds", "tree", "lr", "transfers", "schedule",
            "pairs"} & set(
            args.sections):
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                      processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            if "table" in args.sections:
                accuracy_table(sets, args.kinds, args.blocks, args.epochs,
                               args.methods, out, curves)
                curve_table(curves, out)
            if "rounds" in args.sections:
                round_costs(client, args.round_blocks, out)
            if "tree" in args.sections:
                actor_tree(client, out)
            if "lr" in args.sections:
                learning_rates(out, momenta=args.lr_momenta,
                               initials=args.lr_initials)
            if "transfers" in args.sections:
                transfers(client, out)
            if "pairs" in args.sections:
                seed_pairs(sets, args.kinds, args.blocks, args.epochs, out,
                           args.seeds, args.pair_methods)
            if "schedule" in args.sections:
                schedules(sets, args.kinds, max(args.blocks),
                          max(args.epochs), out, args.schedules)
    if "target" in args.sections:
        for n_blocks in args.target_blocks:
            time_to_target(
                sets, n_blocks, 15, args.target, out,
                None if args.target_initial == "default" else dict(
                    initial_local_batches=_initial(args.target_initial)))
    if "seeds" in args.sections:
        seed_spread(sets, args.kinds, args.epochs, out)
    text = "\n".join(out) + "\n"
    print(text)
    if not args.no_write:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
