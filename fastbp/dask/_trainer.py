"""One network trained data-parallel on a Dask cluster.

The training rows stay where Dask put them: one block per chunk of rows,
persisted on the workers (a worker thread's share of them copied to one
worker once per fit). Each solver step is a round, one call per worker
thread, each running a contiguous share of the blocks where they are; only
the weights go out (once to every worker) and, once the workers have added
up the blocks' sums, two partial totals come back.

* L-BFGS: a round computes every block's loss sum and gradient sum with the
  compiled kernels; they are added in block order, and the client adds
  the L2 term and hands loss and gradient to scipy's L-BFGS-B. This is the
  exact full-batch objective of the in-memory fit: the two differ only by
  the order of summation.
* SGD and Adam: synchronous local SGD with periodic averaging (Zinkevich et
  al. 2010; Lin et al. 2020) and an outer optimizer (SlowMo, Wang et al.
  2020; DiLoCo, Douillard et al. 2023). The mini-batch is split among the
  blocks in proportion to their rows (``local_batch_size='split'``), so
  every block takes about as many steps per epoch as the in-memory fit and
  the blocks' batches of one step make one mini-batch, as in synchronous
  data-parallel training; with whole batches per block, an epoch of B
  blocks makes about 1/B of the in-memory fit's sequential steps and learns
  that much less. In each epoch every block permutes
  its rows with a seed drawn from (``random_state``, epoch, block); a round
  runs ``local_batches`` mini-batches of that order in every block, all
  from the same weights and optimizer state; the blocks' weights and state,
  weighted by the rows each processed, are added up on the workers; the
  client takes the mean optimizer state and moves the parameters by a
  Nesterov-momentum step on their averaged change (plain averaging when the
  outer step is 1 and the momentum 0). An epoch ends when every block has
  used all its rows. The first epoch from new weights averages after
  ``initial_local_batches`` mini-batches, then after twice as many each
  round up to ``local_batches``, as post-local SGD (Lin et al. 2020)
  begins synchronous. A final phase (the last ``final_epochs`` of
  ``max_iter``, at most a quarter of them, or from when the no-improvement
  rule would have stopped the fit) averages every ``final_local_batches``
  mini-batches with half the outer momentum, and each of its epochs ends
  with the model at the mean of its rounds' models (training goes on from
  the last round's), taking back most of what the blocks' drift cost the
  loss.

Every reduction is a fixed binary tree over the block order (``_tree``),
in float64, whose parts the workers add up: a round runs one call per
worker thread, each a contiguous share of the blocks (``_shares``) that
adds up its blocks' results as they come (``_round_total``). On up to
``_ACTOR_SHARES`` shares each share is an actor that holds its blocks for
the fit (``_ShareActors``): the client calls the first of each half of
the shares, which pass the round on to the others in a tree
(``_share_children``), each merging the partial sums below it, bypassing
the scheduler, so that the client makes two calls and merges two results
per round whatever the number of workers; beyond, the shares are tasks
and a tree of merge tasks over the shares finishes the sum but for the
last merge, the client's. Either way the sum does not depend
on how the blocks were shared out or which worker computed which. Dask's
scheduler spends a few milliseconds of its one thread on every task: a
round is a task per thread (the weights inside, unless large: ``_send``)
and two fewer merges, not two tasks per block. Each share's blocks are
copied to one worker once per fit (``_colocated``) and the merges run
where their left operand is: a round moves the weights out and a few
partial sums, not blocks. A worker lost while actors carry the rounds
sends that round to tasks, which Dask reruns elsewhere; SGD and Adam make
the actors again at the next epoch for the workers there are then, as
when the cluster's threads change (L-BFGS goes on with tasks).

Because the unit of work is the block, not the worker, a fit depends only
on the data, their chunking and ``random_state``: never on the number of
workers, on which worker holds which block, or on their thread counts.

Every call into the compiled engine goes through ``_blocks``.
"""

import asyncio
import collections
import concurrent.futures
import contextlib
import copy
import functools
import inspect
import math
import pickle
import threading
from numbers import Integral, Real

import numpy as np
from distributed import get_worker, wait
from distributed.protocol import to_serialize
from sklearn.base import is_classifier
from sklearn.metrics import check_scoring
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .. import _mlp
from . import _data
from .._kernels import SOLVER_CODES
from .._kernels._config import BETA_1
from .._losses import smoothed_labels
from .._sklearn_compat import (Interval, StrOptions, fit_context,
                               reads_predictions_only)
from ._blocks import (add_loss_grads, add_weighted_sums, block_local_steps,
                      block_loss_grad, finish_loss_grad, mean_weights,
                      optimizer_settings, outer_step, pack_weights,
                      set_weights, weighted_sum)

# Mini-batches each block runs between two averagings, chosen by measurement
# (benchmarks/results/dask_rounds.md, section 2): adam on 200,000 rows in 4
# blocks, 2 workers, 5 epochs, local_batches 1 / 4 / 16 / 64 / 'epoch':
# final loss 0.1200 / 0.1201 / 0.1203 / 0.1209 / 0.1213 (test accuracy
# 0.9723 to 0.9721), 6.57 / 1.96 / 0.48 / 0.19 / 0.14 s per epoch. A round
# costs ~25 ms besides compute, so short periods are dominated by it; 64
# keeps the loss within 0.001 of averaging every batch at a third of the
# time of 16, and unlike 'epoch' bounds how far blocks drift apart
# whatever their size.
DEFAULT_LOCAL_BATCHES = 64

# How each block's mini-batches are sized, and the outer optimizer applied
# by the client to each round's averaged change: the batch split among the
# blocks, step 1, Nesterov momentum 0.7. Chosen by measurement
# (benchmarks/results/dask_blocks.md; adam, 50,000 rows, 4 / 10 / 64
# blocks, 15 and 45 epochs, classification and regression): whole batches
# per block make 1/blocks of the in-memory fit's sequential steps per epoch
# and learn that much less; split batches keep the steps. Momentum 0.9
# learns faster still at learning_rate_init=0.001 -- it multiplies a steady
# change by up to 10 -- but on digits with learning_rate_init=0.01 it
# diverged with local_batches=1 and fell behind with 8 (section 6 of that
# file). 0.7 (up to 3.3x) against 0.5, with the final phase, seed by seed
# (section 11, "seed by seed"): a lower final loss in every cell (64
# blocks, 15 epochs: classification 1.05x the in-memory fit's -> 0.98x,
# regression 1.57x -> 1.25x, medians over 5 seeds), and on digits at
# learning_rate_init=0.001 and 0.01 no divergence and a test accuracy never
# more than one test row (0.17 points) below the in-memory fit's (0.5: up
# to 0.67 below), but a bumpier loss curve at 0.01 with local_batches 8
# and 1.
DEFAULT_LOCAL_BATCH_SIZE = "split"
DEFAULT_OUTER_LEARNING_RATE = 1.0
DEFAULT_OUTER_MOMENTUM = 0.7

# Adam on split mini-batches: each block's second moment describes the
# whole mini-batch's gradient, not its share's (``_kernels.optimizers.
# _adam_block_pooled``). Chosen by measurement (benchmarks/results/
# dask_blocks.md): after 15 / 45 epochs on 4, 10 and 64 blocks the test
# score is within 0.5 points of the in-memory fit in every case (the plain
# second moment: 2.53 / 1.15 points below on 64 blocks), and on digits it
# matched or beat the in-memory accuracy at both learning rates.
DEFAULT_POOLED_SECOND_MOMENT = True

# The final phase: the last FINAL_EPOCHS epochs of max_iter, at most a
# quarter of them (or, should the no-improvement rule come first, the epochs
# after it fires) average every FINAL_LOCAL_BATCHES mini-batches, with
# FINAL_MOMENTUM_SHARE of the outer momentum, and each of its epochs ends
# with the model at the mean of its rounds' models (tail averaging, as in
# Polyak-Ruppert averaging and SWA; training goes on from the last
# round's). Between two averagings the blocks drift apart, and the long
# default period leaves the averaged model's loss above the in-memory fit's:
# on 64 blocks after 45 epochs 1.20x (classification) and 1.19x
# (regression); averaging every 8 batches throughout gets 1.01x / 1.09x at
# 6x the time. The phase gets 1.04x / 1.01x after 15 / 45 epochs for
# classification, 1.31x / 0.98x for regression, at about 2x the time; on 4
# and 10 blocks 0.81-0.95x (benchmarks/results/dask_blocks.md, "the final
# phase, averaged"; seed 0, outer momentum 0.5. With 0.7, medians of 5
# seeds against the in-memory fit of the same seed: 0.98x / 0.90x and
# 1.25x / 0.96x on 64 blocks, "seed by seed"). On 64 blocks, without the
# epoch's mean: classification 1.03-1.06x, regression 1.13-1.29x with
# momentum 0.25-0.5 in the phase, 1.05x and 1.02-1.34x without; with the
# mean but no momentum 1.04-1.06x and 0.99-1.36x. The whole outer momentum
# with the mean did better there (1.02x / 0.98x and 1.23x / 0.98x) but on
# digits at learning_rate_init=0.01 its training loss rose during the
# phase (four rounds an epoch where the fit before had one, each with the
# momentum) and the test accuracy fell
# to the in-memory fit's; half of it stayed stable. At most a quarter: with
# less momentum a fit learns less per epoch, and a phase of 10 of 15 epochs
# (plain averaging) left regression on 10 blocks at 1.20x where the fit
# without it ended at 0.95x. With the initial rounds below, the phase is
# still needed (without it five of the twelve cells end 1.04-1.40x, 5
# seeds), but half of it does: every 16 batches for 5 epochs, every seed of
# every cell ends at 0.66-0.98x the in-memory loss (every 8 for 10: 0.66-
# 0.96x) in 0.54-0.78x the time (64 and 10 blocks, 15 and 45 epochs; a
# 45-epoch fit on 50,000 rows makes 245 rounds instead of 465)
# (benchmarks/results/dask_blocks.md, "a cheaper final phase").
DEFAULT_FINAL_LOCAL_BATCHES = 16
DEFAULT_FINAL_EPOCHS = 5
FINAL_MOMENTUM_SHARE = 0.5

# The initial rounds: a fit's first epoch from new weights averages after
# INITIAL_LOCAL_BATCHES mini-batches, then twice as many each round up to
# local_batches (1, 2, 4, ..., 64: seven rounds for 127 batches, then the
# default period), as post-local SGD (Lin et al. 2020) begins synchronous.
# While the loss falls fast the blocks drift apart most in a round, and
# what the first epoch loses is not made up later: regression on 64
# blocks, 15 epochs, seeds 0-4, the fitted model's loss over the in-memory
# fit's of the same seed was 2.0-2.6x after the first epoch and 1.00-1.29x
# at the end without them; with them 0.40-0.49x after the first epoch and
# 0.70-0.87x at the end. Starting at 4 or 8: 0.76-0.90x and 0.80-0.95x;
# every 8 batches for the whole first epoch (4x its rounds) 0.76-0.93x
# (benchmarks/results/dask_blocks.md, "the initial rounds").
DEFAULT_INITIAL_LOCAL_BATCHES = 1

# Seed streams derived from one draw of random_state.
_SPLIT, _SHUFFLE, _DROPOUT = 0, 1, 2

# The Dask estimators' own parameters and their defaults, after the
# in-memory estimator's in their signature.
_DASK_DEFAULTS = {"local_batches": DEFAULT_LOCAL_BATCHES,
                  "local_batch_size": DEFAULT_LOCAL_BATCH_SIZE,
                  "outer_learning_rate": DEFAULT_OUTER_LEARNING_RATE,
                  "outer_momentum": DEFAULT_OUTER_MOMENTUM,
                  "pooled_second_moment": DEFAULT_POOLED_SECOND_MOMENT,
                  "initial_local_batches": DEFAULT_INITIAL_LOCAL_BATCHES,
                  "final_local_batches": DEFAULT_FINAL_LOCAL_BATCHES,
                  "final_epochs": DEFAULT_FINAL_EPOCHS}
_DASK_PARAMS = tuple(_DASK_DEFAULTS)


def _get_client():
    from distributed import get_client

    try:
        return get_client()
    except ValueError as exc:
        raise ValueError(
            "fastbp.dask estimators train on the current dask.distributed "
            "Client; none was found. Create one first, e.g. "
            "`client = distributed.Client(cluster)`.") from exc


# How long the client may hold a message to the scheduler while a fit
# runs, in seconds: distributed's Client batches its messages at most one
# send per 10 ms, and a round submits a task per worker and releases the
# round before (``_round_total``), each of which could wait for the next
# send. The scheduler's own streams (5 ms to workers, 2 ms to clients) are
# left as the cluster has them. Measured (AMD EPYC Zen 4, LocalCluster of 1
# and 2 workers x 1 thread, 10 blocks, network (64,), 15 epochs, four
# alternating fits in one cluster): 2 workers 2.55 -> 2.12 s, 1 worker
# 2.19 -> 1.80 s; 0 (no batching) was no faster than 1 ms.
SEND_INTERVAL = 0.001


@contextlib.contextmanager
def _prompt_sends(client):
    """The client sends its messages to the scheduler at most
    SEND_INTERVAL apart inside this block, as before it after: the rounds'
    submissions do not wait out distributed's 10 ms batching. Nothing
    changes where the client has no such stream (another implementation of
    the interface)."""
    comm = getattr(client, "scheduler_comm", None)
    before = getattr(comm, "interval", None)
    if not isinstance(before, (int, float)) or before <= SEND_INTERVAL:
        yield
        return
    comm.interval = SEND_INTERVAL
    try:
        yield
    finally:
        comm.interval = before


def _is_dask(data):
    return hasattr(data, "__dask_graph__")


def _block_seed(base, stream, *numbers):
    return int(np.random.SeedSequence([base, stream, *numbers])
               .generate_state(1)[0])


# What every block of a round starts from (the weights) travels inside each
# round task's message, through the scheduler, up to this many bytes;
# larger, it goes once to one worker in a task of its own (``_send``) that
# the round's tasks wait for and the other workers fetch from. That task
# costs a round a trip through the scheduler: on a 2-worker LocalCluster,
# 10 blocks, network (64,) (35 kB of weights), the fit to a target took
# 1.49 / 1.61 s on 1 / 2 workers with it and 1.08 / 1.48 s inline (medians
# of 2), while for a (512, 256) network (6.4 MB) the two ways took the same
# time within the noise (benchmarks/results/dask_blocks.md, "a task per
# worker thread"). Far below the 10 MB from which Dask warns of a large
# graph.
_INLINE_BYTES = 1 << 20


def _weights_task(weights):
    return weights


def _send(client, weights):
    """``weights`` (an array, or a tuple of arrays and numbers), what every
    block of a round starts from, for the round's tasks: inline when small
    (``_INLINE_BYTES``), else the future of a task that returns them.

    A task rather than ``client.scatter``: the scheduler keeps the task,
    so if the worker holding the weights dies Dask computes them again
    elsewhere, as it does for the data blocks (a scattered array would be
    lost with its worker). The other workers fetch them from the first,
    as they would scattered data.
    """
    if _nbytes(weights) <= _INLINE_BYTES:
        return weights
    return client.submit(_weights_task, weights, pure=False)


def _loss_grad_task(sent, X, Y, sample_weight, spec):
    """One block's loss and gradient sums at the round's parameters
    ``sent``."""
    layer_units, hidden, out, loss_param = spec
    return block_loss_grad(X, Y, sample_weight, sent, layer_units, hidden,
                           out, loss_param)


def _local_steps_task(sent, X, Y, sample_weight, seed, start, stop, batch,
                      shuffle, spec, first_row, pooled_noise=0.0):
    """One block's share of a round: its rows ``order[start:stop]`` in
    mini-batches, where ``order`` is the block's permutation for this
    epoch; ``sent``: the round's ``(weights, step, mean_gradient)``;
    ``batch`` is the block's ``(batch_size, alpha)``; the block's rows are
    rows ``first_row, ...`` of the training data (dropout's key);
    ``pooled_noise``: see ``block_local_steps`` (the mean gradient is taken
    where it is above 1)."""
    weights, step, mean_gradient = sent
    layer_units, hidden, out, loss_param, solver, hyper, dropout = spec
    batch_size, alpha = batch
    if shuffle:
        rows = _EPOCH_ORDERS.get(seed, len(Y))[start:stop].copy()
    else:
        rows = np.arange(start, stop, dtype=np.int64)
    if dropout is not None:
        dropout = dropout._replace(key=dropout.key.copy())
        dropout.key[2] = first_row
    weights, step, loss_sum = block_local_steps(
        X, Y, sample_weight, rows, batch_size, weights, step,
        layer_units, hidden, out, loss_param, alpha, solver, hyper,
        dropout, mean_gradient if pooled_noise > 1 else None, pooled_noise)
    return weighted_sum(weights, stop - start, step, loss_sum)


class _OrderCache:
    """A block's order of rows for an epoch (its ``RandomState(seed)``
    permutation), kept between the epoch's rounds on the worker: each round
    takes a slice of it, and drawing it again each round (the generator's
    seeding most of the cost) took a 10-block round's task on one worker
    from 8.0 to 10.6 ms (benchmarks/results/dask_blocks.md). The most
    recently used orders, up to ``max_bytes`` in all; the same for every
    round, cached or not."""

    def __init__(self, max_bytes):
        self.max_bytes = max_bytes
        self._orders = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()  # a worker may run several threads

    def get(self, seed, n_rows):
        key = (seed, n_rows)
        with self._lock:
            order = self._orders.get(key)
            if order is not None:
                self._orders.move_to_end(key)
                return order
        order = np.arange(n_rows, dtype=np.int64)
        np.random.RandomState(seed).shuffle(order)
        with self._lock:
            if key not in self._orders and order.nbytes <= self.max_bytes:
                self._orders[key] = order
                self._bytes += order.nbytes
                while self._bytes > self.max_bytes:
                    _, evicted = self._orders.popitem(last=False)
                    self._bytes -= evicted.nbytes
        return order


# 64 MiB: the orders of 8 million rows a worker process.
_EPOCH_ORDERS = _OrderCache(64 << 20)


def _push(stack, value, start, count, pair):
    """Put ``value``, the sum of the aligned run of ``count`` (a power of
    two) items from ``start``, on ``stack``, a list of such runs in item
    order, pairing it with its sibling in the tree of :func:`_tree` (the
    run of ``count`` items before it, starting at a multiple of
    ``2 * count``) while that is on top. Pushed in order, a stack holds the
    largest aligned runs that its items make up."""
    while (stack and stack[-1][2] == count and stack[-1][1] + count == start
           and stack[-1][1] % (2 * count) == 0):
        left, start, _ = stack.pop()
        value = pair(left, value)
        count *= 2
    stack.append((value, start, count))


def _fold(stack, pair):
    """The total of a stack of runs covering all the items: the runs left
    over (one per binary digit of their number) paired from the right."""
    value = stack.pop()[0]
    while stack:
        value = pair(stack.pop()[0], value)
    return value


def _tree(items, pair):
    """``items`` (any iterable) combined by ``pair(left, right)`` in a
    fixed binary tree over their order: (0 + 1) + (2 + 3), ... level by
    level, an odd one out at a level moving up unchanged. The tree depends
    on the number of items alone; an aligned run of 2**k items (starting
    at a multiple of 2**k) is one of its subtrees, as is the run's last
    part.

    Combined as the items come (:func:`_push`), the runs left over paired
    from the right at the end (:func:`_fold`) -- the same pairs as the
    levels' (tests/test_dask_trainer.py checks 1 to 69 items), with at
    most log2(n) + 1 partial results held. A contiguous part of the items
    reduces on its own to a stack of runs, and stacks of consecutive parts
    merge (:func:`_merge_task`): the round's tasks each add up a share of
    the blocks, and the total is still this tree's."""
    return _share_sum(0, items, pair, final=True)


def _share_sum(first, results, pair, final):
    """Blocks ``first, first + 1, ...``'s ``results``, as they come, as a
    stack of runs of the round's tree (:func:`_push`); ``final``: the
    share is the whole round, and its total is returned."""
    stack = []
    for i, result in enumerate(results):
        _push(stack, result, first + i, 1, pair)
    return _fold(stack, pair) if final else stack


def _local_steps_share_task(sent, first, blocks, final):
    """A contiguous share of a round's blocks in one task:
    ``_local_steps_task`` of each (its arguments after ``sent`` in
    ``blocks``), added up in the round's tree as they come, each block's
    result (weights and optimizer state in float64) added into one the
    task owns."""
    return _share_sum(first, (_local_steps_task(sent, *args)
                              for args in blocks),
                      functools.partial(add_weighted_sums, in_place=True),
                      final)


def _loss_grad_share_task(sent, first, blocks, final):
    """``_loss_grad_task`` over a contiguous share of the blocks, added up
    as :func:`_local_steps_share_task` adds its blocks."""
    return _share_sum(first, (_loss_grad_task(sent, *args)
                              for args in blocks), add_loss_grads, final)


def _merge_task(left, right, combine, final):
    """Two consecutive shares' stacks of runs (:func:`_share_sum`) merged,
    their sibling runs added by ``combine`` (into new arrays: a task's
    arguments are not its own to change); ``final``: the total."""
    stack = list(left)
    for piece in right:
        _push(stack, *piece, combine)
    return _fold(stack, combine) if final else stack


def _merged_stacks(stacks, combine):
    """Consecutive shares' stacks of runs (:func:`_share_sum`) merged in
    share order (:func:`_merge_task`), not folded."""
    total = stacks[0]
    for stack in stacks[1:]:
        total = _merge_task(total, stack, combine, False)
    return total


def _round_total(client, share_task, sent, blocks, n_slots, workers,
                 combine, held=None, actors=None, index=None):
    """A round over ``blocks`` (each block's arguments for ``share_task``,
    in block order, its data first: ``X, Y, sample_weight, ...``): its
    total.

    ``actors``: the fit's ``_ShareActors`` or None; while they hold the
    blocks, the round goes to them (``index``: each of ``blocks``' number
    among the fit's blocks) and not through the scheduler, unless ``sent``
    is larger than ``_INLINE_BYTES``; a worker lost on the way leaves the
    round to tasks.

    Otherwise the blocks are cut into contiguous shares (:func:`_shares`),
    one task each, given ``sent`` (what every block starts from,
    ``_send``); each share adds up its blocks in the round's tree
    (:func:`_tree`), the shares' partial sums are merged in a tree of
    tasks over the share order (:func:`_merge_task`), and the client
    merges the last two: the total does not depend on the number of shares
    or on which worker computed what, and the client receives at most two
    results, not one per block. ``workers``: the worker each block lies on
    where the caller chose it (``_colocated``), or None; a share runs
    where its first block lies and a merge where its left operand is
    (elsewhere only if that worker is gone), so that a worker's blocks are
    added up without leaving it.

    ``held``: a list the caller keeps from round to round; it holds this
    round's futures until the next round's tasks are submitted. The client
    sends its messages to the scheduler in batches at most one per 10 ms:
    released between two rounds, the futures would cost the next round's
    submission a wait (on 10 blocks, 2 workers, network (64,): 24-25 ms a
    round, 21 ms held; benchmarks/results/dask_blocks.md)."""
    if (actors is not None and actors.usable
            and _nbytes(sent) <= _INLINE_BYTES):
        total = actors.total(share_task, sent, blocks, index, combine)
        if total is not None:
            return total
    sent = _send(client, sent)
    shares = _shares(len(blocks), n_slots)
    parts = []
    for share in shares:
        worker = None if workers is None else workers[share.start]
        parts.append((client.submit(
            share_task, sent, share.start, blocks[share.start:share.stop],
            len(shares) == 1, pure=False, **_placed(worker)), worker))
    if held is not None:
        held[:] = [sent] + [future for future, _ in parts]
    if len(parts) == 1:
        return parts[0][0].result()
    n_pairs = [0]

    def merge(left, right):
        n_pairs[0] += 1
        if n_pairs[0] == len(parts) - 1:  # the root: on the client
            return client.gather([left[0], right[0]]), None
        future = client.submit(_merge_task, left[0], right[0], combine,
                               False, pure=False, **_placed(left[1]))
        if held is not None:
            held.append(future)
        return future, left[1]

    (left, right), _ = _tree(parts, merge)
    return _merge_task(left, right, combine, True)


# Up to this many shares (worker threads), a fit's rounds go to actors
# (``_ShareActors``) rather than through the scheduler. A round of tasks
# costs the scheduler and the client's event loop (one thread, beside the
# workers on a small machine) several milliseconds whatever it computes; an
# actor call goes from the client to the worker and back. An empty round
# on a 2-worker LocalCluster (AMD EPYC Zen 4, 2 vCPUs, 69 kB back from each
# worker): 12.1-12.3 ms as tasks, 3.3-3.5 ms as actor calls, the client
# process's CPU 8.5-8.7 and 2.4 ms (benchmarks/results/dask_blocks.md).
# The actors pass a round on to each other in a tree (``_share_children``):
# the client makes two calls and merges two results whatever the shares,
# and a round's latency grows with the tree's depth, log2(shares + 1),
# ~1.5 ms a level, where tasks cost the scheduler ~0.9 ms each, two per
# share (benchmarks/dask_blocks.py, sections 5 and 12). The bound is the
# most shares measured (256 actors on 2 workers); beyond, rounds are tasks.
_ACTOR_SHARES = 256
# Seconds between two looks at the actors' workers while a round waits
# (``_ShareActors._result``).
_LOST_POLL = 0.5


def _nbytes(value):
    """Bytes of an array, or of the arrays of a tuple."""
    items = value if isinstance(value, tuple) else (value,)
    return sum(getattr(item, "nbytes", 0) for item in items)


def _share_children(first, stop):
    """The shares that share ``first`` passes a round on to, as ranges
    ``(child, its stop)``, when it carries shares ``first`` to ``stop - 1``
    (itself first): the rest cut into two halves, each carried by its
    first share. The client carries "share -1" (none of its own) to
    ``stop``: every share is carried once, and the tree is
    floor(log2(shares + 1)) levels below the client."""
    rest = first + 1
    if rest >= stop:
        return []
    middle = rest + (stop - rest + 1) // 2
    return [(rest, middle)] + ([(middle, stop)] if middle < stop else [])


def _parts_of(parts, first, stop):
    """The entries of ``parts`` (share -> its part of a round) for shares
    ``first`` to ``stop - 1``."""
    return {share: part for share, part in parts.items()
            if first <= share < stop}


class _ShareActor:
    """A round's share of the blocks (``_shares``) held on its worker for
    a fit, as a Dask actor: a round's call gives the weights and each
    block's arguments but its data, and returns the partial sums of the
    shares it carries (``_local_steps_share_task``,
    ``_loss_grad_share_task``).

    The actors pass each round on in a tree (``_share_children``): an
    actor calls the actors of the shares below it, runs its own share
    meanwhile and merges their stacks of runs after its own in share
    order (``_merge_task``): the round's tree, as the tasks add it up.

    Its share's work runs in a thread of its own, so that a worker with
    several threads runs its shares at once (Dask runs an actor's plain
    methods in one thread a worker; the kernels release the GIL). A
    call's weights, each share's part and a result travel as one pickle
    each (``_packed``), not as the nested tuples distributed serializes
    item by item; an actor forwards the weights' pickle as it came, and
    to each share below the parts of its subtree's shares only."""

    def __init__(self, share, blocks):
        # blocks: (block number, (X, Y, sample_weight)) of the share's.
        self._share = share
        self._blocks = {b: tuple(data) for b, data in blocks}
        self._peers = self._worker = None
        self._thread = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="fastbp-share")

    async def connect(self, peers):
        """Give the actor the fit's actors, in share order, as (worker
        address, key): how it reaches the shares below it."""
        self._peers = peers
        self._worker = get_worker()

    async def run(self, message):
        """A round's shares ``self._share`` to ``stop - 1``, where
        ``message`` is ``_packed((common, parts, stop))``: ``common``,
        ``_packed((share_task, sent, combine))``, and ``parts``, which
        maps each of those shares that has blocks in the round to
        ``_packed((first, blocks))``, its blocks (block number, their
        arguments after the data), the round's blocks ``first, first + 1,
        ...``; the stack of runs of their results, packed. An ``OSError``
        if a worker below is lost. Each share below is given its own
        subtree's parts, and unpickles the weights and its own part."""
        common, parts, stop = pickle.loads(message)
        loop = asyncio.get_running_loop()
        children = _share_children(self._share, stop)
        if not children:  # a leaf: one trip to the thread
            return await loop.run_in_executor(
                self._thread, self._leaf, common, parts.get(self._share))
        calls = [asyncio.ensure_future(self._call(child, _packed((
            common, _parts_of(parts, child, child_stop), child_stop))))
            for child, child_stop in children]
        try:
            combine, own = await loop.run_in_executor(
                self._thread, self._run, common, parts.get(self._share))
            try:
                stacks = [await child for child in calls]
            except Exception as error:
                # Whatever a share below failed with (a worker lost, its
                # connection, an error distributed could not send back)
                # reaches the client as a plain OSError: the round goes to
                # tasks, which fail the same way if the fault is the
                # round's own. Not chained: a traceback may not pickle.
                raise OSError(f"a share below {self._share} failed: "
                              f"{error!r}") from None
        finally:
            for child in calls:
                child.cancel()
        return await loop.run_in_executor(self._thread, self._merged,
                                          combine, own, stacks)

    async def _call(self, child, message):
        """``run(message)`` on share ``child``'s actor, through the
        worker's connections as a ``distributed.Actor`` calls (its
        ``actor_execute`` handler), but failing at once if that worker is
        gone: a handle to the actor on a worker would wait for the
        scheduler to make the actor again, and build a client on the
        worker."""
        address, key = self._peers[child]
        reply = await self._worker.rpc(address).actor_execute(
            actor=key, function="run", args=[to_serialize(message)],
            kwargs={})
        if reply["status"] != "OK":
            raise reply["exception"]
        return reply["result"]

    def _run(self, common, part):
        share_task, sent, combine = pickle.loads(common)
        if part is None:
            return combine, []
        first, blocks = pickle.loads(part)
        args = [self._blocks[b] + tuple(rest) for b, rest in blocks]
        return combine, share_task(sent, first, args, False)

    def _leaf(self, common, part):
        return _packed(self._run(common, part)[1])

    @staticmethod
    def _merged(combine, own, stacks):
        return _packed(_merged_stacks(
            [own] + [pickle.loads(stack) for stack in stacks], combine))

    def __del__(self):  # the actor released: its thread ends
        thread = getattr(self, "_thread", None)
        if thread is not None:
            thread.shutdown(wait=False)


def _packed(value):
    """``value`` as one pickle (its arrays inside). Distributed serializes
    a message's tuples and lists item by item: a round's call and result
    (10 blocks, network (64,)) took 0.32 + 0.14 ms and 0.18 + 0.05 ms to
    dump and load that way, 0.04 + 0.02 ms each as one pickle."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


class _ShareActors:
    """A fit's round shares as actors (``_ShareActor``), one per share of
    the fit's blocks (``_shares``), each on the worker its blocks were
    placed on (``_colocated``).

    A round is a call to the first actor of each half of the shares,
    which passes it on down the actors' tree (``_share_children``) with
    the round's blocks among each share's own (a round may leave out
    blocks with no rows left); the client merges the two stacks of runs
    that come back (:func:`_merge_task`): the round's tree, as the tasks
    add it up. On 2 shares it calls both, as the tasks' client merges the
    last two. If a worker is lost, the actors
    are given up (``usable``) and ``total`` returns None: the round goes
    to tasks, which Dask recomputes elsewhere, and so do the rest of an
    L-BFGS fit; SGD and Adam make them again at the next epoch (as when
    the cluster's threads change). The sums, and so the fit, are the same
    either way."""

    def __init__(self, client, train, n_slots, shares, block_workers):
        self.n_slots = n_slots  # the worker threads they were made for
        self._client = client
        self._futures = [client.submit(
            _ShareActor, s,
            [(b, (train.X[b], train.Y[b], train.weights_of(b)))
             for b in share],
            actor=True, pure=False,
            **_placed(None if block_workers is None
                      else block_workers[share.start]))
            for s, share in enumerate(shares)]
        self._actors = [future.result() for future in self._futures]
        where = client.who_has(self._futures)
        peers = [(where[future.key][0], future.key)
                 for future in self._futures]
        for call in [actor.connect(peers) for actor in self._actors]:
            call.result()
        self._share_of = [s for s, share in enumerate(shares) for _ in share]
        self.usable = True

    @classmethod
    def start(cls, client, train, n_slots, block_workers, params):
        """The actors for a fit's ``train``, or None where its rounds go to
        tasks: more shares than ``_ACTOR_SHARES``, or ``params`` (the
        weights) too large to go inside every call (``_INLINE_BYTES``)."""
        shares = _shares(len(train), n_slots)
        if len(shares) > _ACTOR_SHARES or params.nbytes > _INLINE_BYTES:
            return None
        return cls(client, train, n_slots, shares, block_workers)

    def total(self, share_task, sent, blocks, index, combine):
        """The round's total (``_round_total``), or None if a worker was
        lost."""
        if self._lost():
            self.close()
            return None
        groups = {}
        for position, (b, args) in enumerate(zip(index, blocks)):
            groups.setdefault(self._share_of[b], (position, []))[1].append(
                (b, args[3:]))
        common = _packed((share_task, sent, combine))
        parts = {share: _packed(group) for share, group in groups.items()}
        try:
            calls = [self._actors[child].run(_packed((
                common, _parts_of(parts, child, stop), stop)))
                for child, stop in _share_children(-1, len(self._actors))]
            stacks = [pickle.loads(self._result(child)) for child in calls]
        except OSError:  # a worker is gone (distributed's CommClosedError)
            self.close()
            return None
        return _fold(_merged_stacks(stacks, combine), combine)

    def _lost(self):
        """Whether the scheduler knows a worker of the actors lost."""
        return any(future.status != "finished" for future in self._futures)

    def _result(self, call):
        """``call``'s result; an ``OSError`` as soon as the scheduler
        knows a worker of the actors lost. An actor calling another on a
        worker gone may not hear of it before distributed's connect
        timeout (30 s by default: a refused connection is retried)."""
        while True:
            try:
                return call.result(timeout=_LOST_POLL)
            except asyncio.TimeoutError:  # TimeoutError from Python 3.11
                if self._lost():
                    raise OSError("a share actor's worker was lost") from None

    def close(self):
        """Release the actors (and their hold on the blocks).

        Cancelled, not only dropped: distributed's actor handles keep
        themselves alive through the closures of their method calls, so
        that dropping ours left the last fit's actors, and the blocks they
        hold, on the workers."""
        futures, self._futures, self._actors = self._futures, [], []
        if self.usable and futures:
            self._client.cancel(futures)
        self.usable = False


def _placed(worker):
    """``client.submit``'s arguments that run a task on ``worker`` where
    it can (anywhere if None, or if that worker is gone)."""
    if worker is None:
        return {}
    return {"workers": [worker], "allow_other_workers": True}


# How many times the mean number of blocks one slot's share of a round may
# hold (``_group_size``). A round's fixed cost is per task (the scheduler's
# and the workers' ~1 ms each, benchmarks/results/dask_blocks.md): a round
# runs one task per slot, a contiguous share of the blocks
# (``_round_total``); on a 2-worker LocalCluster (adam, 15 epochs, network
# (64,), 50,000 rows in 10 blocks) that took the fit from 6.29 s with a
# task per aligned pair of blocks to 3.66 s (benchmarks/dask_round_tasks.py).
# The shares end on multiples of the largest power of two that keeps them
# this even, so that few partial sums of the round's tree cross from one
# share to the next. A share above the mean is what a round whose compute
# dominates pays: at most 1.25 times it.
_MAX_SHARE = 1.25


def _group_size(n_blocks, n_slots):
    """The alignment of the round's shares: the largest power of two g
    whose aligned runs of g blocks, cut into contiguous shares of
    ceil(runs / n_slots) runs, give every slot (a worker thread) a share,
    none of more than _MAX_SHARE times the mean, n_blocks / n_slots
    blocks; 1 when no g > 1 does."""
    n_slots = max(n_slots, 1)
    best, g = 1, 2
    while g <= n_blocks:
        share = _share_size(n_blocks, n_slots, g)
        if (-(-n_blocks // share) == min(n_slots, n_blocks)
                and min(share, n_blocks) <= _MAX_SHARE * n_blocks / n_slots):
            best = g
        g *= 2
    return best


def _shares(n_blocks, n_slots):
    """The blocks of each task of a round, as ranges: at most one
    contiguous share per slot, whole runs of ``_group_size`` blocks.

    Any cut gives the same total (the shares' sums are parts of the
    round's tree, :func:`_tree`), so results do not depend on the number
    of slots it is chosen from."""
    share = _share_size(n_blocks, n_slots, _group_size(n_blocks, n_slots))
    return [range(start, min(start + share, n_blocks))
            for start in range(0, n_blocks, share)]


def _share_size(n_blocks, n_slots, g):
    """Blocks in one slot's share of the aligned runs of ``g`` blocks:
    ceil(runs / n_slots) runs."""
    runs = -(-n_blocks // g)
    return g * -(-runs // max(n_slots, 1))


def _workers(client):
    """The cluster's workers and their threads, asked of the scheduler.

    Not ``client.scheduler_info()["workers"]``: distributed's client
    refreshes that cache every 2 s without the workers, and a refresh
    landing between ``scheduler_info``'s own fetch and its return gives an
    empty set (seen once in the test suite), which made a fit run each
    round as one task of all the blocks, on one worker."""
    return dict(sorted(client.nthreads().items()))


def _slots(client):
    """Tasks the cluster runs at once: its workers' threads."""
    return sum(_workers(client).values())


def _colocated(client, train, n_slots):
    """``train`` with the blocks of each round task's share on one worker,
    and that worker for each block (None when every share is one block).

    A round task runs a contiguous share of the blocks (``_shares``), but
    Dask places a data set's blocks without regard to those shares (on a
    LocalCluster of 2 workers, alternately), so every such task would
    fetch the share's blocks held elsewhere -- in every round, since Dask
    drops the extra copies again. Here each share goes to the worker that
    holds most of its blocks among those with a thread free (a worker
    takes as many shares as it has threads), and its other blocks are
    copied there, once per fit. The round's merges then run where their
    left operand lies (``_round_total``): a round moves the weights to
    each worker and a few partial sums between them, whatever the blocks.
    Where the data lie changes no result: the sums' tree is the block
    order's. The copies' worker restrictions are loose, so that a lost
    worker's share is recomputed elsewhere; Dask's work stealing may then
    still run a copy where its block already is (a block of a few bytes,
    say), and the round task fetches that block as before.
    """
    shares = _shares(len(train), n_slots)
    threads = _workers(client)
    if len(shares) == len(train) or not threads:
        return train, None
    parts = [train.X, train.Y] + ([] if train.sample_weight is None
                                  else [train.sample_weight])
    futures = [f for part in parts for f in part]
    wait(futures)
    who_has = client.who_has(futures)
    free = dict(threads)
    block_workers = []
    for share in shares:
        if not any(free.values()):  # more shares than threads
            free = dict(threads)
        held = collections.Counter(
            w for b in share for w in who_has.get(train.X[b].key, ()))
        worker = max((w for w in free if free[w]), key=lambda w: held[w])
        free[worker] -= 1
        block_workers += [worker] * len(share)

    def moved(futures):
        # A block stays where its share's worker is its only holder: of a
        # block held twice, Dask's active memory manager drops one copy,
        # which may be the one on that worker.
        return [f if set(who_has.get(f.key, ())) == {block_workers[b]} else
                client.submit(_data._identity, f, pure=False,
                              **_placed(block_workers[b]))
                for b, f in enumerate(futures)]

    colocated = copy.copy(train)
    colocated.X, colocated.Y = moved(train.X), moved(train.Y)
    if train.sample_weight is not None:
        colocated.sample_weight = moved(train.sample_weight)
    return colocated, block_workers


def _outer_learning_rate(setting, n_blocks):
    """The outer step size of a round over ``n_blocks`` blocks."""
    if setting == "blocks":
        return float(n_blocks)
    if setting == "sqrt_blocks":
        return math.sqrt(n_blocks)
    return float(setting)


def _spans(n_batches, period, first_period=None):
    """The rounds of an epoch of ``n_batches`` mini-batches (the most of any
    block) as ``(first, stop)`` mini-batch numbers: every ``period``
    mini-batches; with ``first_period``, the periods double from it up to
    ``period``, then stay there."""
    spans = []
    first, step = 0, first_period or period
    while first < n_batches:
        spans.append((first, min(first + step, n_batches)))
        first += step
        step = min(2 * step, period)
    return spans


def _phase_period(local_batches, main_period, n_blocks):
    """The (first) averaging period of the initial rounds or the final
    phase set to ``local_batches``, at most ``main_period`` (the fit's
    own, in mini-batches); None when the fit has none: turned off (None)
    or one block, whose rounds average nothing (so that one block stays
    the in-memory fit, without the extra rounds)."""
    if local_batches is None or n_blocks < 2:
        return None
    return min(local_batches, main_period)


def _block_batches(setting, batch_size, alpha, sizes):
    """Each block's mini-batch rows and L2 strength, ``[(rows, alpha),
    ...]`` (``local_batch_size``): 'split' cuts ``batch_size`` among the
    blocks in proportion to their rows (at least 1 each), 'batch_size'
    gives every block ``batch_size``.

    A batch's L2 gradient is ``alpha * W / rows``: a block's batch of
    ``rows`` takes ``alpha * rows / batch_size``, so that every step is
    regularised as a step over ``batch_size`` rows in memory.
    """
    if setting == "batch_size":
        return [(batch_size, alpha)] * len(sizes)
    n_samples = sum(sizes)
    batches = []
    for n in sizes:
        rows = max(1, round(batch_size * n / n_samples))
        batches.append((rows, alpha if rows == batch_size
                        else alpha * rows / batch_size))
    return batches


class _RunningMean:
    """The mean of arrays added one after the other, summed in float64 in
    the order added."""

    def __init__(self):
        self.total, self.count = None, 0

    def add(self, array):
        if self.total is None:
            self.total = array.astype(np.float64)
        else:
            self.total += array
        self.count += 1

    def mean(self, dtype):
        return (self.total / self.count).astype(dtype)


def _predict_block(X, model, method):
    return getattr(model, method)(X)


class _DaskMLP:
    """The Dask training loop, mixed into fastbp's estimators."""

    _dask_constraints = {
        "local_batches": [Interval(Integral, 1, None, closed="left"),
                          StrOptions({"epoch"})],
        "local_batch_size": [StrOptions({"split", "batch_size"})],
        "outer_learning_rate": [Interval(Real, 0, None, closed="neither"),
                                StrOptions({"blocks", "sqrt_blocks"})],
        "outer_momentum": [Interval(Real, 0, 1, closed="left")],
        "pooled_second_moment": ["boolean"],
        "initial_local_batches": [Interval(Integral, 1, None, closed="left"),
                                  None],
        "final_local_batches": [Interval(Integral, 1, None, closed="left"),
                                None],
        "final_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init_subclass__(cls, **kwargs):
        """A Dask estimator takes its in-memory class's parameters, their
        constraints and its constructor, plus the Dask-only parameters
        (``_DASK_DEFAULTS``)."""
        super().__init_subclass__(**kwargs)
        base = cls._in_memory_class
        cls._parameter_constraints = {**base._parameter_constraints,
                                      **_DaskMLP._dask_constraints}
        cls.__init__ = _with_dask_params(base.__init__)

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the model on dask arrays, on the current Dask client.

        Parameters
        ----------
        X : dask array of shape (n_samples, n_features)
            Training data, cut into blocks of rows: numpy arrays or
            scipy.sparse matrices (read as CSR, never densified). A dask
            DataFrame is converted with ``to_dask_array(lengths=True)``; an
            in-memory array or sparse matrix goes through
            ``da.from_array``. Each block is part of one call per round.
        y : dask array of shape (n_samples,) or (n_samples, n_outputs)
            Targets, cut into the same row blocks as X (a classifier's
            2-D y is a multilabel indicator).
        sample_weight : dask array of shape (n_samples,), default=None
            Sample weights, cut into the same row blocks as X.
        validation_data : tuple (X_val, y_val) or (X_val, y_val, \
                sample_weight_val), default=None
            Stochastic solvers only. Dask arrays scored every epoch instead
            of the ``validation_fraction`` split, as in
            :meth:`fastbp.MLPClassifier.fit`.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit_blocks(X, y, sample_weight, validation_data)

    def _fit_blocks(self, X, y, sample_weight, validation_data,
                    incremental=False, classes=None):
        """``fit`` (or, ``incremental``, ``partial_fit``: one epoch) on
        dask arrays."""
        client = _get_client()
        hidden_layer_sizes, validation_data = self._fit_options(
            validation_data)
        first_pass = not hasattr(self, "coefs_") or (
            not self.warm_start and not incremental)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")

        dtype = self._np_dtype
        train, n_features, sparse = self._prepare(
            client, X, y, sample_weight, first_pass, incremental, classes)
        validation = None
        if validation_data is not None:
            validation = self._prepare_validation(client, *validation_data)

        layer_units = ([n_features]
                       + [_mlp._layer_size(size) for size in hidden_layer_sizes]
                       + [self.n_outputs_])
        self._begin_training(layer_units, train.n_samples, first_pass, dtype,
                             sparse)
        seed = int(self._random_state.randint(np.iinfo(np.int32).max))

        tasks = self._fit_tasks(X, y, sample_weight, incremental)
        with _prompt_sends(client):
            if self.solver == "lbfgs":
                self._fit_lbfgs_blocks(client, train, tasks)
            else:
                self._fit_stochastic_blocks(client, train, validation, seed,
                                            tasks, incremental)
        self._end_training(tasks)
        return self

    def _partial_fit_blocks(self, X, y, sample_weight, classes=None):
        """One epoch over the blocks of dask arrays (``partial_fit``)."""
        if not hasattr(self, "coefs_") and is_classifier(self):
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to "
                    "partial_fit.")
            if self.class_weight == "balanced":
                raise ValueError(
                    "class_weight 'balanced' is not supported for "
                    "partial_fit: one call sees one part of the data, not "
                    "the class frequencies of the whole training set. Pass "
                    "the weights as a dict.")
        return self._fit_blocks(X, y, sample_weight, None, incremental=True,
                                classes=classes)

    def _prepare(self, client, X, y, sample_weight, reset, incremental=False,
                 classes=None):
        """Check X, y, sample_weight in one pass; persist them as blocks.

        Sets ``n_features_in_``, ``n_outputs_`` and, for a classifier,
        ``classes_`` (from ``classes`` on partial_fit's first call, from y
        otherwise). Returns the training :class:`_data.Blocks` and the
        number of features and whether X is sparse.
        """
        classes_arg = classes
        dtype = self._np_dtype
        X, y, sample_weight = _data.as_row_aligned(X, y, sample_weight, dtype)
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError(
                f"Found array with shape {X.shape}; at least one sample and "
                "one feature are required.")
        if not reset and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input.")
        X, y, sample_weight = _data.persisted_and_arrays(
            client, X, y, sample_weight)

        classifier = is_classifier(self)
        multilabel = classifier and y.ndim == 2
        results = _checked(X, y, sample_weight, classifier, multilabel,
                           dtype)
        if multilabel:
            labels = results.pop("labels")
        elif classifier:
            classes, counts = results.pop("classes")
        _data.raise_if_not_finite(results, dtype)

        self.n_features_in_ = X.shape[1]
        if multilabel:
            Y, sample_weight = self._multilabel_targets(
                y, sample_weight, labels, reset, incremental, dtype)
        elif classifier:
            seen = classes
            if incremental and reset:
                seen = np.unique(np.asarray(classes_arg))
            _data.check_classes(seen)
            if reset:
                self._label_binarizer = LabelBinarizer().fit(seen)
                self.classes_ = self._label_binarizer.classes_
            elif self._label_binarizer.y_type_ == "multilabel-indicator":
                raise ValueError(
                    "The model was fitted on multilabel targets; y has "
                    "1-dimensional class labels.")
            if incremental:
                unseen = np.setdiff1d(classes, self.classes_)
                if len(unseen):
                    raise ValueError(
                        "`y` has classes not in `self.classes_`. "
                        f"`self.classes_` has {self.classes_}. 'y' has "
                        f"{classes}.")
                counts = None  # class_weight is a dict or None here
            elif not reset and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same "
                    "classes as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {classes}")
            Y = _data.encode_classes(y, self.classes_, dtype)
            sample_weight = _data.weight_classes(
                y, sample_weight, self.classes_,
                _data.class_weight_vector(self.class_weight, self.classes_,
                                          counts), dtype)
        else:
            Y = _data.encode_values(y, dtype)
        self.n_outputs_ = Y.shape[1]
        X_blocks, Y_blocks, sw_blocks = _data.persisted_blocks(
            client, [X, Y, sample_weight])
        return (_data.Blocks(X_blocks, Y_blocks, sw_blocks, X.chunks[0]),
                X.shape[1], _data.is_sparse(X))

    def _multilabel_targets(self, y, sample_weight, labels, reset,
                            incremental, dtype):
        """Encoded multilabel targets (2-D y whose distinct values are
        ``labels``) and the sample weights times their class weights, as
        the in-memory classifier makes them; on a first fit (``reset``) sets
        the label binarizer and ``classes_`` (the column numbers).
        ``partial_fit`` takes the classes from y, as in memory."""
        binarizer = _data.multilabel_binarizer(labels, y.shape[1])
        if reset:
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif (self._label_binarizer.y_type_ != binarizer.y_type_
              or not np.array_equal(binarizer.classes_, self.classes_)):
            call = "partial_fit" if incremental else "warm_start"
            raise ValueError(
                f"{call} needs targets of the kind the model was fitted on: "
                f"it has classes {self.classes_} "
                f"({self._label_binarizer.y_type_}), y is a "
                f"{binarizer.y_type_} target with {y.shape[1]} columns.")
        Y = _data.encode_multilabel(y, self._label_binarizer, dtype)
        table = _data.multilabel_weight_table(self.class_weight, Y)
        return Y, _data.weight_multilabel(Y, sample_weight, table, dtype)

    def _prepare_validation(self, client, X, y, sample_weight):
        """``validation_data``'s parts checked as training data and
        persisted as blocks: a :class:`_data.ValidationSet`."""
        dtype = self._np_dtype
        X, y, sample_weight = _data.as_row_aligned(X, y, sample_weight, dtype,
                                                   suffix="_val")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"validation_data has {X.shape[1]} features, the training "
                f"data {self.n_features_in_}.")
        classifier = is_classifier(self)
        multilabel = (classifier and self._label_binarizer.y_type_
                      == "multilabel-indicator")
        if classifier and (y.ndim == 2) != multilabel:
            raise ValueError(
                "validation_data's targets must be of the training targets' "
                f"kind ({self._label_binarizer.y_type_}), got an array of "
                f"shape {y.shape}.")
        results = _checked(X, y, sample_weight, classifier, multilabel,
                           dtype)
        if multilabel:
            binarizer = _data.multilabel_binarizer(results.pop("labels"),
                                                   y.shape[1])
            if (binarizer.y_type_ != "multilabel-indicator"
                    or y.shape[1] != len(self.classes_)):
                raise ValueError(
                    f"validation_data's targets must be a multilabel "
                    f"indicator of {len(self.classes_)} columns, got a "
                    f"{binarizer.y_type_} target of {y.shape[1]}.")
            Y = _data.encode_multilabel(y, self._label_binarizer, dtype)
        elif classifier:
            classes = results.pop("classes")[0]
            unseen = np.setdiff1d(classes, self.classes_)
            if len(unseen):
                raise ValueError(
                    f"validation_data has classes {unseen} not in "
                    f"`self.classes_` {self.classes_}.")
            Y = _data.encode_classes(y, self.classes_, dtype)
        else:
            Y = _data.encode_values(y, dtype)
            if Y.shape[1] != self.n_outputs_:
                raise ValueError(
                    f"validation_data has {Y.shape[1]} targets, the model "
                    f"{self.n_outputs_}.")
        _data.raise_if_not_finite(
            {f"{k}_val" if k != "sample_weight" else k: v
             for k, v in results.items()}, dtype)
        blocks = _data.persisted_blocks(client, [X, Y, sample_weight])
        return _data.ValidationSet(*blocks, X.chunks[0])

    def _spec(self):
        hidden, out = self._kernel_codes()
        return (self._layout.layer_units, hidden, out,
                self._loss_param(self._np_dtype))

    def _training_blocks(self, client, train):
        """``train`` with the targets training fits: with
        ``label_smoothing``, each block's soft targets, computed where the
        block is (after any validation split, which keeps true labels)."""
        if not is_classifier(self) or self.label_smoothing == 0:
            return train
        # Logistic outputs (binary, multilabel) are each a two-class problem.
        n_classes = (2 if self.out_activation_ == "logistic"
                     else len(self.classes_))
        Y = [client.submit(smoothed_labels, Y, self.label_smoothing,
                           n_classes, self._np_dtype, pure=False)
             for Y in train.Y]
        return _data.Blocks(train.X, Y, train.sample_weight, train.sizes)

    def _fit_lbfgs_blocks(self, client, train, tasks):
        """L-BFGS over the exact full-batch objective: each evaluation sums
        the blocks' loss and gradient sums in block order."""
        params = self._params
        spec = self._spec()
        alpha = float(self.alpha)
        train = self._training_blocks(client, train)
        n_slots = _slots(client)
        train, block_workers = _colocated(client, train, n_slots)
        blocks = [(X, Y, train.weights_of(b), spec)
                  for b, (X, Y) in enumerate(zip(train.X, train.Y))]
        index = range(len(blocks))

        held = []  # the last round's futures (``_round_total``)
        actors = _ShareActors.start(client, train, n_slots, block_workers,
                                    params)

        def loss_grad(x):
            params[...] = x
            loss_sum, grad_sum, weight_sum = _round_total(
                client, _loss_grad_share_task, params.copy(), blocks,
                n_slots, block_workers, add_loss_grads, held, actors, index)
            return finish_loss_grad(loss_sum, grad_sum, weight_sum, params,
                                    spec[0], alpha)

        try:
            self._run_lbfgs(loss_grad, params, tasks)
        finally:
            if actors is not None:
                actors.close()

    def _fit_stochastic_blocks(self, client, train, validation, seed,
                               tasks, incremental=False):
        """Epochs of local SGD/Adam with periodic averaging, driven by
        ``_run_epochs``: an epoch is the rounds that use every block's rows
        once (``incremental``: one epoch, the optimizer carried over)."""
        optimizer = self._prepare_optimizer(self._np_dtype, incremental)
        if validation is None and self.early_stopping:
            seeds = [_block_seed(seed, _SPLIT, b) for b in range(len(train))]
            # Stratified by class, as in memory, but for multilabel targets.
            train, validation = train.split(
                client, seeds, self.validation_fraction, self._np_dtype,
                stratify=(is_classifier(self) and self._label_binarizer.y_type_
                          != "multilabel-indicator"))
            validation = _data.ValidationSet(
                validation.X, validation.Y, validation.sample_weight,
                validation.sizes)
            self._check_validation_size(validation.n_samples)
        train = self._training_blocks(client, train)
        n_slots = _slots(client)
        train, block_workers = _colocated(client, train, n_slots)
        actors = _ShareActors.start(client, train, n_slots, block_workers,
                                    self._params)

        n_samples = train.n_samples
        batches = _block_batches(self.local_batch_size,
                                 self._batch_size(n_samples),
                                 float(self.alpha), train.sizes)
        # The rounds of an epoch, as spans of mini-batches (``_spans``):
        # until every block has used all its rows.
        n_batches = max(-(-n // rows)
                        for n, (rows, _) in zip(train.sizes, batches))
        main_period = (n_batches if self.local_batches == "epoch"
                       else self.local_batches)
        spans = {"main": _spans(n_batches, main_period)}
        # The final phase's period (None: no phase in this fit), whether it
        # has begun (``_trigger_stopping`` may begin it early) and the epoch
        # it begins at otherwise.
        self._final_period = (None if incremental else _phase_period(
            self.final_local_batches, main_period, len(train)))
        self._final_phase = False
        if self._final_period is not None:
            spans["final"] = _spans(n_batches, self._final_period)
        # The initial rounds: in the first epoch from new weights (no row
        # seen yet: ``t_``, which partial_fit's calls and warm_start's fits
        # go on counting), periods doubling up to the main one.
        initial_period = _phase_period(self.initial_local_batches,
                                       main_period, len(train))
        if initial_period is not None:
            spans["initial"] = _spans(n_batches, main_period, initial_period)
        final_start = self.max_iter - min(self.final_epochs,
                                          self.max_iter // 4)
        layer_units, hidden, out, loss_param = self._spec()
        params = self._params
        dropout = self._dropout(_block_seed(seed, _DROPOUT))
        velocity = getattr(self, "_outer_velocity", None)
        if (not incremental or velocity is None
                or velocity.shape != params.shape):
            self._outer_velocity = np.zeros(params.shape, dtype=np.float64)

        held = []  # the last round's futures (``_round_total``)
        # The last round's model while the parameters hold the mean of a
        # final-phase epoch's rounds (None otherwise).
        iterate = [None]

        def run_epoch():
            nonlocal train, block_workers, actors
            n_slots = _slots(client)
            if actors is not None and (not actors.usable
                                       or actors.n_slots != n_slots):
                # A worker lost, or the cluster resized, since the actors
                # were made: the shares are placed again on the workers
                # there are now, and their actors made again.
                actors.close()
                train, block_workers = _colocated(client, train, n_slots)
                actors = _ShareActors.start(client, train, n_slots,
                                            block_workers, params)
            if iterate[0] is not None:  # training goes on from the rounds'
                params[...] = iterate[0]
                iterate[0] = None
            solver, hyper = optimizer_settings(optimizer)
            if dropout is not None:
                dropout.key[1] = self.t_  # this epoch's masks
            spec = (layer_units, hidden, out, loss_param, solver, hyper,
                    dropout)
            seeds = [_block_seed(seed, _SHUFFLE, self.n_iter_, b)
                     for b in range(len(train))]
            if self._final_period is not None and self.n_iter_ >= final_start:
                self._final_phase = True
            final_phase = self._final_phase
            phase = ("final" if final_phase
                     else "initial" if self.t_ == 0 and "initial" in spans
                     else "main")
            momentum = float(self.outer_momentum)
            if final_phase:
                momentum *= FINAL_MOMENTUM_SHARE
            accumulated_loss = 0.0
            models = (_RunningMean() if final_phase and len(spans[phase]) > 1
                      else None)
            for span in spans[phase]:
                accumulated_loss += self._round(
                    client, train, spec, seeds, span, batches, params,
                    optimizer, momentum, n_slots, block_workers, held,
                    actors)
                if models is not None:
                    models.add(params)
            if models is not None:
                iterate[0] = params.copy()
                params[...] = models.mean(params.dtype)
            return accumulated_loss

        try:
            self._run_epochs(
                run_epoch, n_samples,
                None if validation is None else _BlockValidation(client,
                                                                 validation),
                tasks, incremental)
        finally:
            if actors is not None:
                actors.close()

    def _trigger_stopping(self, msg):
        """When the no-improvement rule fires before the final phase has
        begun, the phase begins instead of the stop (as SGD's 'adaptive'
        learning rate shrinks); afterwards the rule stops the fit."""
        if self._final_period is not None and not self._final_phase:
            self._final_phase = True
            if self.verbose:
                print(msg + " Averaging every %d mini-batches from now on."
                      % self._final_period)
            return False
        return super()._trigger_stopping(msg)

    def _round(self, client, train, spec, seeds, span, batches, params,
               optimizer, momentum, n_slots=1, block_workers=None,
               held=None, actors=None):
        """The averaging round over mini-batches ``span = (first, stop)``
        of the epoch: every block b with rows left runs its mini-batches
        ``first`` to ``stop - 1`` of this epoch's order, of ``batches[b]``
        (rows, L2 strength) each, from the same weights;
        the workers add up the blocks' weights and optimizer state,
        weighted by rows, in a tree over the block order; the client takes
        the mean state and moves the parameters by the outer optimizer's
        step (Nesterov ``momentum``) on the mean change; ``n_slots`` only
        sets how the blocks are shared among the round's tasks
        (``_shares``), ``block_workers`` where each block lies
        (``_colocated``), ``held`` keeps the round's futures until the next
        round's and ``actors`` runs the round where it can
        (``_round_total``). Returns the round's loss sum."""
        weights, step = pack_weights(params, optimizer)
        mean_gradient = self._pooled_mean_gradient(optimizer, params.dtype)
        first, stop = span
        active = [b for b, n in enumerate(train.sizes)
                  if n > first * batches[b][0]]
        batch_size = self._batch_size(train.n_samples)
        if mean_gradient is None or len(active) < 2:
            mean_gradient = None
            noise = [0.0] * len(batches)
        else:
            # A block's gradient has its batch's noise: batch_size / rows
            # times the mini-batch's.
            noise = [batch_size / rows for rows, _ in batches]
        first_rows = np.concatenate([[0], np.cumsum(train.sizes)[:-1]])
        blocks = [
            (train.X[b], train.Y[b], train.weights_of(b), seeds[b],
             first * batches[b][0],
             min(stop * batches[b][0], train.sizes[b]), batches[b],
             self.shuffle, spec, int(first_rows[b]), noise[b])
            for b in active]
        total = _round_total(
            client, _local_steps_share_task, (weights, step, mean_gradient),
            blocks, n_slots,
            None if block_workers is None else [block_workers[b]
                                                for b in active],
            add_weighted_sums, held, actors, active)
        mean, mean_as_params = mean_weights(total, params.dtype)
        if len(active) > 1:
            # A round of one block averages nothing: its weights are taken
            # as they are (so one block is the in-memory fit).
            learning_rate = _outer_learning_rate(self.outer_learning_rate,
                                                 len(active))
            mean_as_params[0] = outer_step(
                params, mean[0], self._outer_velocity, learning_rate,
                momentum)
        set_weights(params, optimizer, mean_as_params, total[2])
        return total[3]

    def _pooled_mean_gradient(self, optimizer, dtype):
        """The estimate of the mini-batch gradient's mean that the blocks'
        pooled second moments take (Adam's averaged first moment,
        bias-corrected), or None: no pooling (not Adam, turned off, or no
        step made yet, when there is no first moment to pool)."""
        step = int(optimizer.step[0])
        if (not self.pooled_second_moment or step == 0
                or optimizer.code != SOLVER_CODES["adam"]):
            return None
        beta_1 = float(optimizer.hyper[BETA_1])
        return (optimizer.state[0].astype(np.float64)
                / (1.0 - beta_1 ** step)).astype(dtype)

    # ------------------------------------------------------------------
    # Conversion and prediction
    # ------------------------------------------------------------------
    def to_fastbp(self):
        """The fitted model as a plain in-memory fastbp estimator.

        Returns
        -------
        model : fastbp.MLPClassifier or fastbp.MLPRegressor
            Same parameters (but the Dask-only ones) and fitted attributes;
            ``warm_start`` or ``partial_fit`` on it continue from these
            weights (and, after SGD/Adam, from the averaged optimizer
            state).
        """
        check_is_fitted(self)
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in _DASK_PARAMS}
        model = self._in_memory_class(**params)
        for name, value in vars(self).items():
            if ((name.endswith("_") and not name.startswith("__"))
                    or name in ("_layout", "_label_binarizer", "_best_params",
                                "_optimizer", "_no_improvement_count")):
                setattr(model, name, copy.deepcopy(value))
        model._set_params_vector(self._params_vector().copy())
        return model

    def predict(self, X):
        """Predict classes (classifier) or values (regressor).

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : dask array or ndarray of shape (n_samples,) or \
                (n_samples, n_outputs)
            The predictions; a dask array (computed lazily, block by block)
            when X is one.
        """
        return self._predict_with("predict", X)

    def _predict_with(self, method, X):
        """The in-memory estimator's ``method`` (a prediction) on X; on a
        dask array X, block by block, lazily."""
        if not _is_dask(X):
            return getattr(super(_DaskMLP, self), method)(X)
        check_is_fitted(self)
        return self._map_rows(X, method, *self._dask_output_shape(method))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (classifier) or R^2 averaged over outputs
        (regressor) on the given data.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
        y : dask array or array-like of shape (n_samples,) or \
                (n_samples, n_outputs)
        sample_weight : dask array or array-like of shape (n_samples,), \
                default=None

        Returns
        -------
        score : float
            Computed on the cluster when X is a dask array.
        """
        if not _is_dask(X):
            return super().score(X, y, sample_weight=sample_weight)
        y_pred = self.predict(X)
        y, w = _data.targets_and_weights(y, sample_weight, y_pred)
        return self._weighted_score(y, y_pred, w)

    def _dask_X(self, X):
        X = _data.as_dask_array("X", X, ndim=(2,))
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input.")
        return X

    def _map_rows(self, X, method, n_columns, dtype):
        """``method`` of the in-memory model on every block of X: lazy."""
        X = self._dask_X(X)
        model = self.to_fastbp()
        if n_columns is None:
            return X.map_blocks(_predict_block, model, method, dtype=dtype,
                                drop_axis=1, meta=np.empty((0,), dtype=dtype))
        return X.map_blocks(_predict_block, model, method, dtype=dtype,
                            chunks=(X.chunks[0], (n_columns,)),
                            meta=np.empty((0, 0), dtype=dtype))


class _BlockValidation:
    """Validation blocks on the cluster, scored once per epoch
    (``_run_epochs``): the in-memory model's score and loss, summed over
    the blocks on the workers.

    A ``scoring`` other than None (accuracy or R^2) and "loss" is a
    scikit-learn scorer, which needs all rows at once: a scoring name's or
    ``make_scorer``'s reads their predictions only, so the client gathers
    the rows' outputs (rows x outputs) and scores them; any other callable
    is given the validation rows, which the client gathers the first time.
    """

    def __init__(self, client, blocks):
        self._client = client
        self._blocks = blocks
        self._rows = None

    def evaluate(self, model):
        """``(score, loss)`` of the fitted ``model`` on the blocks."""
        in_memory = model.to_fastbp()
        score, loss = self._blocks.evaluate(self._client, in_memory)
        if model.scoring is None:
            return score, loss
        if model.scoring == "loss":
            return -loss, loss
        scorer = check_scoring(in_memory, scoring=model.scoring)
        if reads_predictions_only(scorer):
            output, y, sample_weight = self._blocks.outputs(self._client,
                                                            in_memory)
            return in_memory._score_outputs(scorer, output, y,
                                            sample_weight), loss
        if self._rows is None:
            self._rows = self._blocks.gather(self._client, model)
        return in_memory._validation_score(*self._rows, loss), loss


def _unique_with_counts(y):
    import dask.array as da

    return da.unique(y, return_counts=True)


def _checked(X, y, sample_weight, classifier, multilabel, dtype):
    """One pass over the blocks of training or validation data: the
    results of ``_data.check_finite`` (X finite once converted to
    ``dtype``, a regressor's y finite, the weights finite and not
    negative) and a multilabel target's ``"labels"`` or a classifier's
    ``"classes"`` with their counts."""
    checks = _data.check_finite(X, y, sample_weight, check_y=not classifier,
                                dtype=dtype)
    if multilabel:
        checks["labels"] = _data.unique_labels(y)
    elif classifier:
        checks["classes"] = _unique_with_counts(y)
    return _data.compute(checks)


_DASK_PARAMS_DOC = """
    local_batches : int or 'epoch', default=%d
        fastbp.dask only; stochastic solvers only. The averaging period:
        mini-batches each block runs from the round's common weights before
        the client averages weights and optimizer state over the blocks.
        'epoch' averages once per epoch (each block runs all its rows).
        One mini-batch per round makes the most rounds, and with SGD
        without momentum, the same steps as one large batch; more batches
        per round trade model agreement for fewer synchronisations.

    local_batch_size : {'split', 'batch_size'}, default=%r
        fastbp.dask only; stochastic solvers only. Rows of each block's
        mini-batches. 'split': ``batch_size`` is cut among the blocks in
        proportion to their rows (``round(batch_size * block_rows /
        n_samples)``, at least 1), so that the blocks' mini-batches of one
        step together hold about ``batch_size`` rows and every block takes
        about as many steps per epoch as the in-memory fit (a block's L2
        term is scaled by its share of ``batch_size``, so that each step is
        regularised as one of ``batch_size`` rows). With SGD without
        momentum and ``local_batches=1``, a round is then one step over the
        blocks' batches together, as synchronous data-parallel training
        takes it. 'batch_size': every block's mini-batches hold
        ``batch_size`` rows, so a block of ``n`` rows takes ``n /
        batch_size`` steps per epoch (fewer, the more blocks).

    outer_learning_rate : float, 'blocks' or 'sqrt_blocks', default=%r
        fastbp.dask only; stochastic solvers only. The outer optimizer's
        step size on each round's averaged change of the parameters (the
        blocks' mean minus the round's starting point): 1 with no momentum
        is plain averaging; 'blocks' scales the averaged change by the
        number of blocks in the round, i.e. adds up the blocks' changes as
        if they had run one after the other; 'sqrt_blocks' by its square
        root.
    outer_momentum : float in [0, 1), default=%r
        fastbp.dask only; stochastic solvers only. Nesterov momentum of the
        outer optimizer (as SlowMo and DiLoCo apply it to the averaged
        change), kept between rounds and epochs; 0 for none.
    pooled_second_moment : bool, default=%r
        fastbp.dask only; 'adam' with ``local_batch_size='split'`` only.
        Each block's mini-batch holds a share 1/k of ``batch_size``'s rows,
        so its gradient has k times the noise variance of the in-memory
        fit's, and Adam's second moment, which divides every step, grows
        with it (up to k times once the gradient is mostly noise: the
        averaged step shortens up to sqrt(k) times). True: each block
        updates its second moment with ``g**2 / k + (1 - 1/k) * r**2``,
        where r is the blocks' averaged first moment at the round's start
        (bias-corrected), so that its expectation is the in-memory fit's;
        the first round, with no first moment yet, takes the plain update.
        False: the plain Adam update in every block.
    initial_local_batches : int or None, default=%d
        fastbp.dask only; stochastic solvers only. The first averaging
        period of a fit from new weights: its first epoch averages after
        this many mini-batches, then after twice as many each round up to
        ``local_batches``. While the loss falls fast the blocks drift apart
        most between two averagings, and what the first rounds lose to it
        the fit does not make up later; short first rounds cost about
        log2(``local_batches`` / ``initial_local_batches``) rounds more
        (five with the defaults), once. ``partial_fit`` calls after the
        first and ``warm_start`` fits go on at ``local_batches``. None:
        every round at ``local_batches``. Not used on one block.
    final_local_batches : int or None, default=%d
        fastbp.dask only; stochastic solvers only. The averaging period of
        the final phase (at most ``local_batches``), whose rounds take half
        the outer momentum and whose epochs each end with the model at the
        mean of their rounds' models (training goes on from the last
        round's): the blocks drift apart between two averagings, and a long
        period leaves the averaged model's loss above the in-memory fit's;
        a short period for the last epochs, and the mean over an epoch,
        take most of that back at a fraction of the rounds a short period
        would cost throughout. None: no final phase. Not used by
        ``partial_fit`` or on one block.
    final_epochs : int, default=%d
        fastbp.dask only; stochastic solvers only. The final phase's epochs
        at the end of ``max_iter``, at most a quarter of ``max_iter`` (the
        phase learns less per epoch than the outer momentum does, which
        a short fit needs). Should the no-improvement rule
        (``tol``, ``n_iter_no_change``) fire before, the final phase begins
        then instead of the fit stopping, and the rule's next firing stops
        it.
""" % (DEFAULT_LOCAL_BATCHES, DEFAULT_LOCAL_BATCH_SIZE,
       DEFAULT_OUTER_LEARNING_RATE, DEFAULT_OUTER_MOMENTUM,
       DEFAULT_POOLED_SECOND_MOMENT, DEFAULT_INITIAL_LOCAL_BATCHES,
       DEFAULT_FINAL_LOCAL_BATCHES, DEFAULT_FINAL_EPOCHS)

_DASK_NOTES = """
    Notes
    -----
    ``fit`` takes dask arrays (or dask DataFrames) cut into row blocks,
    whose blocks are numpy arrays or scipy.sparse matrices (each sparse
    block is read as CSR by the kernels of in-memory sparse fits), and
    trains on the current ``distributed.Client``. A round runs one call per
    worker thread, each a contiguous share of the blocks on the worker
    holding them (copied there once per fit): on up to 256 threads a Dask
    actor holding the share for the fit, the actors passing the round on
    to each other in a tree, beyond that a task. Only the weights (and
    Adam's or SGD's state) go to the workers, the blocks' sums are added
    up on the workers in a fixed binary tree over the block order, and two
    partial sums come back to the client. 'lbfgs' steps scipy's
    L-BFGS-B over the exact full-batch loss and gradient, so it finds the
    same model as the in-memory fit up to rounding; 'sgd' and 'adam'
    average the blocks' weights every ``local_batches`` mini-batches and
    move the model by an outer Nesterov-momentum step on the averaged
    change (``outer_learning_rate``, ``outer_momentum``), and average more
    often in the first rounds (``initial_local_batches``) and in a final
    phase, each of whose epochs ends at the mean of its rounds' models
    (``final_local_batches``, ``final_epochs``). Results
    depend on the data, their chunking and ``random_state``, never on the
    number of workers or threads. ``early_stopping`` sets
    ``validation_fraction`` of
    each block aside (for a classifier, stratified by class within each
    block where the block allows it).

    ``predict``, ``predict_proba`` and ``score`` take in-memory arrays as
    the fastbp estimators do; given dask arrays, ``predict`` and
    ``predict_proba`` return dask arrays (one task per block) and ``score``
    computes the score on the cluster. ``to_fastbp()`` returns the fitted
    model as an in-memory fastbp estimator. Class weights are computed from
    the whole training set. ``partial_fit`` on dask arrays runs one epoch
    over their blocks. A classifier takes 1-dimensional class labels or a
    2-dimensional multilabel indicator, as the in-memory one.
"""


def _class_doc(name, noun, first_params="", more_params=""):
    """Docstring of the Dask estimator of in-memory class ``name``, up to
    its examples: its parameters are the in-memory class's (``first_params``
    before the shared ones, ``more_params`` after) and the Dask ones."""
    return f"""Multi-layer perceptron {noun} trained on a Dask cluster.

    :class:`fastbp.{name}`'s parameters and attributes; ``fit``
    trains one network data-parallel over the blocks of dask arrays.

    Parameters
    ----------
""" + (first_params + _mlp._SHARED_PARAMS_DOC.lstrip("\n") + more_params
       + _DASK_PARAMS_DOC + _DASK_NOTES)


def _with_dask_params(base_init):
    """``base_init`` (an in-memory estimator's ``__init__``) with the
    keyword-only Dask parameters (``_DASK_DEFAULTS``) after its own.

    scikit-learn reads an estimator's parameters from the signature of its
    ``__init__`` (``get_params``, ``clone``); the new function declares the
    base's parameters plus the Dask ones, so the Dask estimators take
    every parameter the in-memory ones take, listed once.
    """
    signature = inspect.signature(base_init)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                               default=default)
             for name, default in _DASK_DEFAULTS.items()]
    signature = signature.replace(
        parameters=[*signature.parameters.values(), *extra])

    def __init__(self, *args, **kwargs):
        dask_params = {name: kwargs.pop(name, default)
                       for name, default in _DASK_DEFAULTS.items()}
        base_init(self, *args, **kwargs)
        for name, value in dask_params.items():
            setattr(self, name, value)

    __init__.__signature__ = signature
    __init__.__doc__ = base_init.__doc__
    return __init__


class MLPClassifier(_DaskMLP, _mlp.MLPClassifier):
    __doc__ = _class_doc("MLPClassifier", "classifier", more_params="""
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, as :class:`fastbp.MLPClassifier`'s.

    label_smoothing : float in [0, 1), default=0.0
        Soft training targets, as :class:`fastbp.MLPClassifier`'s; each
        block's are computed on its worker, after the early-stopping split.
""") + """
    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client, LocalCluster
    >>> from fastbp.dask import MLPClassifier
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    >>> X = da.from_array(X_numpy, chunks=(10_000, -1))  # doctest: +SKIP
    >>> y = da.from_array(y_numpy, chunks=10_000)  # doctest: +SKIP
    >>> clf = MLPClassifier(solver="lbfgs").fit(X, y)  # doctest: +SKIP
    """

    _in_memory_class = _mlp.MLPClassifier

    _weighted_score = staticmethod(_data.weighted_accuracy)

    @available_if(lambda est: est._check_solver())
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over the given data; on dask arrays, over their blocks
        on the cluster (as one ``fit`` epoch, the optimizer state carried
        over between calls).

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
        y : dask array or array-like of shape (n_samples,) or \
                (n_samples, n_classes)
            Class labels, or a multilabel indicator.
        sample_weight : dask array or array-like of shape (n_samples,), \
                default=None
        classes : array of shape (n_classes,), default=None
            Classes across all calls; required on the first call (for
            multilabel targets, as in memory, the classes are y's
            columns).

        Returns
        -------
        self : object
        """
        if not _is_dask(X):
            return super().partial_fit(X, y, sample_weight=sample_weight,
                                       classes=classes)
        return self._partial_fit_blocks(X, y, sample_weight, classes)

    def _dask_output_shape(self, method):
        """Columns (None: one-dimensional) and dtype of ``method``'s
        output."""
        multilabel = self._label_binarizer.y_type_ == "multilabel-indicator"
        if method == "predict":
            if multilabel:  # indicators, as the in-memory predict gives
                return len(self.classes_), np.dtype(np.intp)
            return None, self.classes_.dtype
        return len(self.classes_), self._fitted_dtype

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)

        Returns
        -------
        y_prob : dask array or ndarray of shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``; a
            dask array (one task per block) when X is one.
        """
        return self._predict_with("predict_proba", X)

    def predict_log_proba(self, X):
        """Log of the probability estimates (see :meth:`predict_proba`).

        Parameters
        ----------
        X : dask array or array-like of shape (n_samples, n_features)
            The input data; a dask array is predicted block by block.

        Returns
        -------
        log_y_prob : dask array or ndarray of shape (n_samples, n_classes)
        """
        return self._predict_with("predict_log_proba", X)


class MLPRegressor(_DaskMLP, _mlp.MLPRegressor):
    __doc__ = _class_doc("MLPRegressor", "regressor", first_params="""\
    loss : {'squared_error', 'poisson', 'huber', 'absolute_error', \
'quantile'}, default='squared_error'
        As :class:`fastbp.MLPRegressor`'s.

""", more_params="""
    huber_delta : float > 0, default=1.0
        As :class:`fastbp.MLPRegressor`'s.

    quantile : float in (0, 1), default=None
        As :class:`fastbp.MLPRegressor`'s; required for ``loss='quantile'``.
""")

    _in_memory_class = _mlp.MLPRegressor

    _weighted_score = staticmethod(_data.weighted_r2)

    @available_if(lambda est: est._check_solver())
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y`` (and ``sample_weight``): dask arrays
        of the shapes :meth:`fit` takes, trained over their blocks on the
        cluster with the optimizer state carried over between calls, or
        in-memory arrays, as :meth:`fastbp.MLPRegressor.partial_fit` does.
        Returns the estimator.
        """
        if not _is_dask(X):
            return super().partial_fit(X, y, sample_weight=sample_weight)
        return self._partial_fit_blocks(X, y, sample_weight)

    def _dask_output_shape(self, method):
        return (None if self.n_outputs_ == 1 else self.n_outputs_,
                self._fitted_dtype)
