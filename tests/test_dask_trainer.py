"""fastbp.dask: one network trained data-parallel on a LocalCluster.

The cluster has 2 worker processes with 1 thread each (a second one, with
1 worker, for the worker-count test). Data are small and cut into a few
blocks so that every test takes a second or two once Numba's cache is
warm.

What is checked: L-BFGS on blocks equals the in-memory L-BFGS fit and
scikit-learn's up to rounding (also with sample and class weights, the
Poisson loss and warm_start); SGD/Adam on one block without shuffling equal
scikit-learn's fit, and give bitwise the same weights on 1 and on 2 workers
and after a worker dies mid-fit; predictions on dask arrays are lazy and
equal the in-memory ones; validation scores computed from per-block sums
equal in-memory scores; bad input fails before any training task runs.
Rounds go to actors on clusters of a few workers, as tasks otherwise
(``_ACTOR_SHARES``): both give the same fit, bitwise.
"""

import contextlib
import math
import os
import signal
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk
from sklearn.callback import FitCallback
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

import fastbp

from .cluster import local_cluster

# Skipped without the optional third-party packages; fastbp.dask itself is
# imported plainly, so that an import error of its own fails the tests.
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import fastbp.dask as fastbp_dask  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

BLOCK_ROWS = 120
N_BLOCKS = 4
# Round tasks of N_BLOCKS blocks on the 2-worker cluster: one share of two
# blocks per worker thread (``_shares``).
_TASKS_PER_ROUND = 2
# Dask's L-BFGS sums the same float64 objective in another order than the
# in-memory fit and scikit-learn. After 15 iterations the weights differed
# by at most 1.3e-13 of the largest weight (loss: 5e-15) over the cases
# below; the tolerances leave room for L-BFGS to amplify other roundings.
LBFGS_RTOL = 1e-9
LOSS_RTOL = 1e-10


def _warm_up():
    """Load (or compile) the kernels the workers will use, in both dtypes,
    before the cluster starts: the workers then load them from the cache."""
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for dtype in ("float32", "float64"):
            for solver in ("adam", "lbfgs"):
                fastbp.MLPClassifier((4,), solver=solver, max_iter=2,
                                     dtype=dtype).fit(X[:50], y[:50])


@pytest.fixture(scope="module")
def client():
    _warm_up()
    with local_cluster(2, set_as_default=False) as client, \
            client.as_current():
        yield client


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    n_train = N_BLOCKS * BLOCK_ROWS
    return X[:n_train] / 16, y[:n_train], X[n_train:n_train + 300] / 16, \
        y[n_train:n_train + 300]


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=N_BLOCKS * BLOCK_ROWS + 200,
                           n_features=10, noise=1.0, random_state=0)
    n_train = N_BLOCKS * BLOCK_ROWS
    y = y / y.std()
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


@pytest.fixture(scope="module")
def counts():
    """Poisson counts: X, y, X_test, y_test."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-1, 1, (N_BLOCKS * BLOCK_ROWS + 200, 8))
    y = rng.poisson(np.exp(0.3 + X @ rng.uniform(-0.5, 0.5, 8))).astype(float)
    n_train = N_BLOCKS * BLOCK_ROWS
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _blocks(X, y, rows=BLOCK_ROWS):
    return (da.from_array(X, chunks=(rows, X.shape[1])),
            da.from_array(y, chunks=rows))


def _weights(w, rows=BLOCK_ROWS):
    return da.from_array(w, chunks=rows)


def _assert_close_weights(got, want, rtol):
    """Weights and biases of two fitted models equal to ``rtol`` of each
    array's largest magnitude."""
    assert len(got.coefs_) == len(want.coefs_)
    for a, b in zip(got.coefs_ + got.intercepts_,
                    want.coefs_ + want.intercepts_):
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max())


def _small(**params):
    return dict(dict(hidden_layer_sizes=(16,), random_state=0, max_iter=8,
                     learning_rate_init=0.01), **params)


def _estimators(kind):
    if kind == "classifier":
        return fastbp.MLPClassifier, fastbp_dask.MLPClassifier
    return fastbp.MLPRegressor, fastbp_dask.MLPRegressor


def _assert_same_weights(a, b):
    for got, want in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_array_equal(got, want)


def _task_names(tasks):
    return [str(t["key"]).split("-")[0].strip("('") for t in tasks.data]


# Where a fit's rounds ran: their tasks, or the actors that took them.
_ROUND_WORK = ("_local_steps_share_task", "_loss_grad_share_task",
               "_ShareActor")


def _round_workers(tasks):
    """The workers that ran a fit's rounds, from its task stream."""
    return {t["worker"] for t, name in zip(tasks.data, _task_names(tasks))
            if name in _ROUND_WORK}


def _a_share_per_block(monkeypatch):
    """Rounds cut into a share per block (``_shares``): as actors, more
    of them than the workers' threads, passing a round on in a tree."""
    from fastbp.dask import _trainer

    monkeypatch.setattr(_trainer, "_shares", lambda n_blocks, n_slots: [
        range(b, b + 1) for b in range(n_blocks)])


@pytest.fixture
def task_rounds(monkeypatch):
    """Rounds as tasks, not actor calls (``_ACTOR_SHARES`` 0): the task
    stream shows each of them."""
    from fastbp.dask import _trainer

    monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 0)


@contextlib.contextmanager
def _counting_rounds(monkeypatch):
    """The rounds the fits inside run, as a list of their share tasks'
    names (one per call of ``_round_total``), actors or tasks."""
    from fastbp.dask import _trainer

    seen = []
    round_total = _trainer._round_total

    def counted(client, share_task, *args, **kwargs):
        seen.append(share_task.__name__)
        return round_total(client, share_task, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(_trainer, "_round_total", counted)
        yield seen


# ---------------------------------------------------------------- L-BFGS
def _lbfgs_data(kind, digits, regression, counts):
    X, y, _, _ = {"classifier": digits, "regressor": regression,
                  "poisson": counts}[kind]
    return X, y


def _lbfgs_params(kind, **params):
    defaults = dict(solver="lbfgs", max_iter=15, dtype="float64")
    if kind == "poisson":
        defaults["loss"] = "poisson"
    return _small(**{**defaults, **params})


def _sklearn_params(params):
    return {k: v for k, v in params.items()
            if k not in ("dtype", "class_weight", "local_batches")}


@pytest.mark.parametrize("rows", [N_BLOCKS * BLOCK_ROWS, BLOCK_ROWS],
                         ids=["one block", f"{N_BLOCKS} blocks"])
@pytest.mark.parametrize("kind", ["classifier", "regressor", "poisson"])
def test_lbfgs_on_blocks_equals_in_memory_fit_and_sklearn(
        client, kind, rows, digits, regression, counts):
    X, y = _lbfgs_data(kind, digits, regression, counts)
    in_memory, on_dask = _estimators("classifier" if kind == "classifier"
                                     else "regressor")
    params = _lbfgs_params(kind)
    expected = in_memory(**params).fit(X, y)
    reference = getattr(sk, in_memory.__name__)(
        **_sklearn_params(params)).fit(X, y)
    with distributed.get_task_stream(client) as tasks:
        model = on_dask(**params).fit(*_blocks(X, y, rows=rows))

    # The same objective summed in another order: the same iterates up to
    # float64 rounding.
    assert model.n_iter_ == expected.n_iter_ == reference.n_iter_ == 15
    assert model.out_activation_ == reference.out_activation_
    for want in (expected, reference):
        assert_allclose(model.loss_, want.loss_, rtol=LOSS_RTOL)
        _assert_close_weights(model, want, LBFGS_RTOL)
    # Several blocks: their gradients ran in a share per worker, on both.
    # (One block's share runs where Dask's work stealing puts it.)
    if len(X) // rows > 1:
        assert len(_round_workers(tasks)) == 2


WEIGHTED_CASES = {
    # kind, blocks' rows, params, class_weight
    "classifier-lbfgs-balanced": (
        "classifier", BLOCK_ROWS, dict(solver="lbfgs", max_iter=15),
        "balanced"),
    "regressor-lbfgs": ("regressor", BLOCK_ROWS,
                        dict(solver="lbfgs", max_iter=15), None),
    # One block, in order, one round per epoch: the stochastic fit is
    # scikit-learn's.
    "classifier-adam-one-block-dict": (
        "classifier", N_BLOCKS * BLOCK_ROWS,
        dict(solver="adam", max_iter=5, shuffle=False, batch_size=40,
             local_batches="epoch"), {0: 3.0, 1: 0.5, 7: 2.0}),
    "poisson-sgd-one-block": (
        "poisson", N_BLOCKS * BLOCK_ROWS,
        dict(solver="sgd", max_iter=5, shuffle=False, batch_size=40,
             local_batches="epoch", loss="poisson"), None),
}


@pytest.mark.parametrize("case", list(WEIGHTED_CASES))
def test_weighted_fit_on_blocks_matches_sklearn(client, case, digits,
                                                regression, counts):
    """sample_weight (and class_weight, which scikit-learn's MLP does not
    have: its sample weights times compute_sample_weight's, from the whole
    training set) give scikit-learn's model."""
    kind, rows, extra, class_weight = WEIGHTED_CASES[case]
    X, y = _lbfgs_data(kind, digits, regression, counts)
    sw = np.random.RandomState(1).uniform(0.2, 3.0, len(y))
    params = _small(dtype="float64", **extra)
    _, on_dask = _estimators("classifier" if kind == "classifier"
                             else "regressor")
    if class_weight is not None:
        params["class_weight"] = class_weight
    model = on_dask(**params).fit(*_blocks(X, y, rows=rows),
                                  sample_weight=_weights(sw, rows=rows))
    expected_sw = sw if class_weight is None else (
        sw * compute_sample_weight(class_weight, y))
    reference = getattr(sk, on_dask._in_memory_class.__name__)(
        **_sklearn_params(params)).fit(X, y, sample_weight=expected_sw)
    assert model.n_iter_ == reference.n_iter_
    assert_allclose(model.loss_, reference.loss_, rtol=LOSS_RTOL)
    if params["solver"] != "lbfgs":
        assert_allclose(model.loss_curve_, reference.loss_curve_,
                        rtol=LOSS_RTOL)
    _assert_close_weights(model, reference, LBFGS_RTOL)


def test_class_weight_on_blocks_is_sample_weight_of_each_class(client,
                                                               digits):
    """Several blocks, Adam (no scikit-learn reference): a class_weight dict
    gives bitwise the fit with compute_sample_weight's weights."""
    X, y, _, _ = digits
    class_weight = {0: 3.0, 1: 0.5, 7: 2.0}
    params = _small(max_iter=3, local_batches=1)
    weighted = fastbp_dask.MLPClassifier(class_weight=class_weight,
                                         **params).fit(*_blocks(X, y))
    expected = fastbp_dask.MLPClassifier(**params).fit(
        *_blocks(X, y), sample_weight=_weights(
            compute_sample_weight(class_weight, y)))
    _assert_same_weights(weighted, expected)
    assert weighted.loss_curve_ == expected.loss_curve_
    plain = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert not np.array_equal(plain.coefs_[0], weighted.coefs_[0])


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_warm_start_on_blocks_continues_as_sklearn(client, digits, solver):
    """A second fit with warm_start=True starts from the first one's
    weights (and keeps the loss curve going), as scikit-learn's."""
    X, y, _, _ = digits
    if solver == "lbfgs":
        params, rows = _lbfgs_params("classifier", max_iter=6), BLOCK_ROWS
    else:
        # One block, in order: the fit is scikit-learn's (see above).
        params = _small(dtype="float64", max_iter=3, shuffle=False,
                        batch_size=40, local_batches="epoch")
        rows = N_BLOCKS * BLOCK_ROWS
    params["warm_start"] = True
    model = fastbp_dask.MLPClassifier(**params)
    reference = sk.MLPClassifier(**_sklearn_params(params))
    for _ in range(2):
        model.fit(*_blocks(X, y, rows=rows))
        reference.fit(X, y)
        assert model.n_iter_ == reference.n_iter_
        _assert_close_weights(model, reference, LBFGS_RTOL)
    if solver == "adam":
        assert len(model.loss_curve_) == 2 * params["max_iter"]
        assert_allclose(model.loss_curve_, reference.loss_curve_,
                        rtol=LOSS_RTOL)
        # The second fit did not start again from the initial weights.
        assert model.loss_curve_[3] < model.loss_curve_[0]


# ---------------------------------------------------------------- SGD/Adam
@pytest.fixture(scope="module")
def one_worker_client(client):
    with local_cluster(1, set_as_default=False) as one:
        yield one


@pytest.mark.parametrize("activation", ["gelu", ["silu", "elu"]])
def test_activations_on_blocks_as_in_memory(client, one_worker_client,
                                            digits, activation):
    # The layer table carries the per-layer codes to the workers: L-BFGS on
    # blocks follows the in-memory fit, Adam gives one model whatever the
    # worker count.
    X, y, _, _ = digits
    params = _small(hidden_layer_sizes=(16, 12), activation=activation,
                    dtype="float64")
    lbfgs = dict(params, solver="lbfgs", max_iter=10)
    expected = fastbp.MLPClassifier(**lbfgs).fit(X, y)
    model = fastbp_dask.MLPClassifier(**lbfgs).fit(*_blocks(X, y))
    for got, want in zip(model.coefs_ + model.intercepts_,
                         expected.coefs_ + expected.intercepts_):
        assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    adam = dict(params, solver="adam", local_batches=1, max_iter=3)
    two = fastbp_dask.MLPClassifier(**adam).fit(*_blocks(X, y))
    with one_worker_client.as_current():
        one = fastbp_dask.MLPClassifier(**adam).fit(*_blocks(X, y))
    _assert_same_weights(two, one)


@pytest.mark.parametrize("solver, dropout, outer", [
    ("adam", 0.0, {}), ("sgd", 0.0, {}), ("adam", 0.3, {}),
    ("adam", 0.0, dict(outer_learning_rate="sqrt_blocks",
                       outer_momentum=0.5, final_epochs=3))])
@pytest.mark.parametrize("rounds", ["actors", "tasks"])
def test_stochastic_fit_does_not_depend_on_worker_count(
        client, one_worker_client, digits, monkeypatch, rounds, solver,
        dropout, outer):
    from fastbp.dask import _trainer

    if rounds == "tasks":
        monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 0)
    X, y, _, _ = digits
    params = _small(solver=solver, local_batches=1, dropout=dropout, **outer)
    with distributed.get_task_stream(client) as tasks, \
            _counting_rounds(monkeypatch) as seen:
        on_two = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    with one_worker_client.as_current():
        on_one = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    _assert_same_weights(on_two, on_one)
    assert on_two.loss_curve_ == on_one.loss_curve_
    # Every round, on both workers of the first cluster: the batch of 200
    # split into 4 blocks of 120 rows is 50 rows per block, 3 batches
    # (rounds) per epoch; a task per worker each, or none (actor calls).
    assert len(seen) == params["max_iter"] * 3
    n_tasks = sum("_local_steps" in str(t["key"]) for t in tasks.data)
    assert n_tasks == (len(seen) * _TASKS_PER_ROUND if rounds == "tasks"
                       else 0)
    assert _round_workers(tasks) == set(client.nthreads())


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_actor_rounds_fit_what_task_rounds_fit(client, digits, monkeypatch,
                                               solver):
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    params = _small(solver=solver, max_iter=4, local_batches=2)
    with distributed.get_task_stream(client) as tasks:
        by_actors = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    names = _task_names(tasks)
    assert names.count("_ShareActor") == _TASKS_PER_ROUND
    assert not {"_local_steps_share_task", "_loss_grad_share_task",
                "_merge_task"} & set(names)
    monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 0)
    by_tasks = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    _assert_same_weights(by_actors, by_tasks)
    assert by_actors.loss_ == by_tasks.loss_


@pytest.mark.parametrize("chunks", [BLOCK_ROWS, (47,) * 4 + (10,) + (47,) * 6])
def test_actor_rounds_of_more_shares_than_workers_fit_the_same(
        client, digits, monkeypatch, chunks):
    """A share per block (4 or 11 actors on 2 workers, a tree 2 or 3
    deep): the actors merge the shares' partial sums in the round's tree,
    the fit the tasks' one. The 11 blocks' fifth, of 10 rows, has none
    left for the epochs' last rounds, which pass through its share."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    data = (da.from_array(X, chunks=(chunks, X.shape[1])),
            da.from_array(y, chunks=(chunks,)))
    n_blocks = data[0].numblocks[0]
    params = _small(max_iter=3, local_batches=2, batch_size=20,
                    local_batch_size="batch_size")
    _a_share_per_block(monkeypatch)
    rounds = []
    total = _trainer._ShareActors.total

    def spied(self, share_task, sent, blocks, index, combine):
        rounds.append(list(index))
        return total(self, share_task, sent, blocks, index, combine)

    monkeypatch.setattr(_trainer._ShareActors, "total", spied)
    with distributed.get_task_stream(client) as tasks:
        by_actors = fastbp_dask.MLPClassifier(**params).fit(*data)
    assert _task_names(tasks).count("_ShareActor") == n_blocks
    if n_blocks > N_BLOCKS:
        assert any(4 not in index for index in rounds)
    monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 0)
    by_tasks = fastbp_dask.MLPClassifier(**params).fit(*data)
    _assert_same_weights(by_actors, by_tasks)
    assert by_actors.loss_curve_ == by_tasks.loss_curve_


def test_rounds_that_outlast_the_look_at_the_workers_fit_the_same(
        client, digits, monkeypatch):
    """A round waits for the actors in short looks, checking the workers
    between two (``_LOST_POLL``); looks far shorter than a round change
    nothing."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    params = _small(max_iter=2)
    expected = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    looks = []
    result = _trainer._ShareActors._result

    def counted(self, call):
        looks.append(not call.done())
        return result(self, call)

    monkeypatch.setattr(_trainer, "_LOST_POLL", 1e-4)
    monkeypatch.setattr(_trainer._ShareActors, "_result", counted)
    model = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert any(looks)  # some rounds were still running at the first look
    _assert_same_weights(model, expected)
    assert model.loss_curve_ == expected.loss_curve_


def test_share_actors_pass_a_round_on_in_a_tree_log2_deep():
    """The client ("share -1") carries all the shares; each share is
    carried once, the shares below one following it in share order (the
    order their stacks merge in), and the tree is floor(log2(shares + 1))
    levels below the client."""
    from fastbp.dask._trainer import _share_children

    def carried(first, stop):  # the shares in merge order, the depth
        order, depth = [first], 0
        for child, child_stop in _share_children(first, stop):
            below, child_depth = carried(child, child_stop)
            order += below
            depth = max(depth, child_depth + 1)
        return order, depth

    for n_shares in range(1, 300):
        order, depth = carried(-1, n_shares)
        assert order == list(range(-1, n_shares))
        assert depth == int(math.log2(n_shares + 1))


def _actors_on_workers(client):
    """Actors the workers hold, after a wait for releases to arrive."""
    def held(dask_worker):
        return len(dask_worker.state.actors)

    deadline = time.monotonic() + 10
    while True:
        counts = client.run(held)
        if not any(counts.values()) or time.monotonic() > deadline:
            return sum(counts.values())
        time.sleep(0.05)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fits_leave_no_actor_behind(client, digits, solver):
    """The share actors live for one fit, also one that fails."""
    X, y, _, _ = digits
    fastbp_dask.MLPClassifier(**_small(solver=solver, max_iter=2)).fit(
        *_blocks(X, y))
    assert _actors_on_workers(client) == 0

    class _Fails(_EpochCallback):
        def epoch_ended(self):
            raise RuntimeError("stopped by the test")

    model = fastbp_dask.MLPClassifier(**_small(max_iter=3))
    model.set_callbacks(_Fails())
    with pytest.raises(RuntimeError, match="stopped by the test"):
        model.fit(*_blocks(X, y))
    assert _actors_on_workers(client) == 0


def test_rounds_go_to_tasks_above_the_actors_bound(client, digits,
                                                  monkeypatch):
    """More shares than ``_ACTOR_SHARES``: the rounds are tasks, merged in
    a tree on the workers, and no actor is made."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 1)
    with distributed.get_task_stream(client) as tasks:
        fastbp_dask.MLPClassifier(**_small(max_iter=2)).fit(*_blocks(X, y))
    names = _task_names(tasks)
    assert "_ShareActor" not in names
    assert "_local_steps_share_task" in names


@pytest.mark.parametrize("local_batches", [1, "epoch"])
def test_stochastic_fit_learns(client, digits, local_batches):
    X, y, X_test, y_test = digits
    model = fastbp_dask.MLPClassifier(
        **_small(max_iter=30, batch_size=40, local_batches=local_batches)
    ).fit(*_blocks(X, y))
    assert model.n_iter_ == 30
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    assert model.score(X_test, y_test) > 0.7  # 10 classes, 480 samples


def test_chunking_changes_the_stochastic_fit(client, digits):
    # The block is the unit of work: other blocks, another fit.
    X, y, _, _ = digits
    params = _small(max_iter=2)
    a = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    b = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y, rows=240))
    assert not np.array_equal(a.coefs_[0], b.coefs_[0])


class _EpochCallback(FitCallback):
    """A FitCallback that counts finished epochs (``seen``), calls
    ``epoch_ended()`` after each and stops training when it returns True."""

    seen = 0

    def on_fit_task_end(self, estimator, context, **kwargs):
        if context.parent is None:
            return False
        self.seen += 1
        return self.epoch_ended()


class _KillWorker(_EpochCallback):
    """Kills one worker process at the end of epoch ``epoch`` or, with
    ``in_round``, once the next round's calls have left for the actors
    (``in_the_round``: the worker of share 1's actor, which share 0's
    calls when the actors pass a round on in a tree); its Nanny starts a
    new one."""

    def __init__(self, client, epoch, in_round=False):
        self.client, self.epoch, self.in_round = client, epoch, in_round
        self.killed = None  # the killed worker's address
        self._armed = False

    def epoch_ended(self):
        if self.seen == self.epoch:
            if self.in_round:
                self._armed = True
            else:
                self._kill()
        return False

    def in_the_round(self, actors):
        if self._armed:
            self._armed = False
            share_1 = actors._futures[1]
            self._kill(self.client.who_has([share_1])[share_1.key][0])

    def _kill(self, address=None):
        """Kills the worker at ``address`` (by default, the first's)."""
        nanny = next(nanny for nanny in self.client.cluster.workers.values()
                     if address in (None, nanny.worker_address))
        self.killed = nanny.worker_address
        os.kill(nanny.process.process.pid, signal.SIGKILL)

    def wait_for_the_new_worker(self, timeout=60):
        """Until the scheduler has dropped the killed worker and counts
        two again (``wait_for_workers`` may count the killed one while
        the scheduler has not noticed its death, and the next test then
        finds one worker)."""
        from fastbp.dask._trainer import _workers

        assert self.killed is not None, "no worker was killed"
        deadline = time.monotonic() + timeout
        while True:
            workers = _workers(self.client)
            if len(workers) == 2 and self.killed not in workers:
                return
            assert time.monotonic() < deadline, (
                f"no new worker after {timeout} s: {workers}")
            time.sleep(0.05)


@pytest.mark.parametrize("rows, rounds, when", [
    (BLOCK_ROWS, "actors", "between epochs"),
    (BLOCK_ROWS, "tasks", "between epochs"),
    (15, "actors", "between epochs"),
    (15, "tasks", "between epochs"),
    (BLOCK_ROWS, "actor tree", "between epochs"),
    (BLOCK_ROWS, "actors", "in a round"),
    (BLOCK_ROWS, "actor tree", "in a round")])
def test_fit_survives_a_worker_dying(client, digits, monkeypatch, rows,
                                     rounds, when):
    """The fit of an unharmed cluster, whether a round's actors are called
    by the client or (``actor tree``: an actor per block, alternately on
    the two workers) by another actor on the other worker, and whether
    the worker dies between rounds or while a round's calls are out."""
    from fastbp.dask import _trainer

    if rounds == "tasks":
        monkeypatch.setattr(_trainer, "_ACTOR_SHARES", 0)
    if rounds == "actor tree":
        _a_share_per_block(monkeypatch)
    X, y, _, _ = digits
    params = _small(max_iter=6)
    expected = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y, rows))
    carried = []  # per round: True by the actors, False given up, None tasks
    total, result = _trainer._ShareActors.total, _trainer._ShareActors._result
    kill = _KillWorker(client, epoch=2, in_round=when == "in a round")

    def spied(self, *args):
        outcome = total(self, *args)
        carried.append(outcome is not None)
        return outcome

    def killing(self, call):
        kill.in_the_round(self)
        return result(self, call)

    monkeypatch.setattr(_trainer._ShareActors, "total", spied)
    monkeypatch.setattr(_trainer._ShareActors, "_result", killing)
    killed_at = []
    epoch_ended = kill.epoch_ended

    def noted():
        if kill.seen == kill.epoch:
            killed_at.append(len(carried))
        return epoch_ended()

    kill.epoch_ended = noted
    model = fastbp_dask.MLPClassifier(**params)
    model.set_callbacks(kill)
    # Fresh arrays: Dask must recompute the blocks the dead worker held.
    model.fit(*_blocks(X.copy(), y.copy(), rows))
    kill.wait_for_the_new_worker()
    _assert_same_weights(model, expected)
    if rounds == "tasks":
        assert carried == []
    else:
        # Actors up to the kill; at most one round given up (none if the
        # scheduler saw the worker go before the next epoch made the
        # actors again, or the round's results were back before it
        # died); actors again afterwards.
        before, after = carried[:killed_at[0]], carried[killed_at[0]:]
        assert before and all(before)
        assert after.count(False) <= 1 and any(after)


def _grouped_fit(client, X, y, **params):
    """A fit on 32 blocks of 15 rows, so that a round's tasks each run
    several blocks (``_shares``); returns the model and how many share
    tasks ran."""
    model = fastbp_dask.MLPClassifier(**_small(local_batches=1, max_iter=2,
                                               **params))
    with distributed.get_task_stream(client) as tasks:
        model.fit(*_blocks(X, y, rows=len(y) // 32))
    return model, _task_names(tasks).count("_local_steps_share_task")


def test_shared_round_tasks_give_the_fit_of_a_task_per_block(
        client, one_worker_client, digits, monkeypatch, task_rounds):
    """Shares of the blocks in one task each (whose sums are parts of the
    round's tree, merged by further tasks) fit bitwise what a task per
    block fits, on 2 workers (16 blocks a task) and on 1 (32 blocks a
    task, no merge)."""
    X, y, _, _ = digits
    shared, n_shared = _grouped_fit(client, X, y)
    with one_worker_client.as_current():
        on_one, n_on_one = _grouped_fit(one_worker_client, X, y)
    _a_share_per_block(monkeypatch)
    single, n_single = _grouped_fit(client, X, y)
    assert n_single > 0
    assert n_shared * 16 == n_single and n_on_one * 32 == n_single
    for other in (on_one, single):
        _assert_same_weights(shared, other)
        assert shared.loss_curve_ == other.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_weights_sent_in_a_task_of_their_own_fit_the_same(
        client, digits, monkeypatch, solver):
    """Weights above ``_INLINE_BYTES`` go to the workers in a task of
    their own (``_send``) instead of inside each round task: the same
    fit, bitwise."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    params = _small(solver=solver, max_iter=3)
    with distributed.get_task_stream(client) as tasks:
        inline = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert "_weights_task" not in _task_names(tasks)
    monkeypatch.setattr(_trainer, "_INLINE_BYTES", 0)
    with distributed.get_task_stream(client) as tasks:
        sent = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert "_weights_task" in _task_names(tasks)
    _assert_same_weights(inline, sent)
    assert inline.loss_ == sent.loss_


def test_epoch_orders_are_the_seeds_permutations_within_a_byte_bound():
    from fastbp.dask._trainer import _OrderCache

    cache = _OrderCache(max_bytes=3 * 8 * 100)
    for seed in range(5):
        want = np.arange(100)
        np.random.RandomState(seed).shuffle(want)
        assert_array_equal(cache.get(seed, 100), want)
        assert cache.get(seed, 100) is cache.get(seed, 100)  # kept
    # The three most recent kept, within the bound.
    assert list(cache._orders) == [(2, 100), (3, 100), (4, 100)]
    assert cache._bytes == 3 * 8 * 100
    # An order larger than the bound is drawn, not kept.
    want = np.arange(1000)
    np.random.RandomState(9).shuffle(want)
    assert_array_equal(cache.get(9, 1000), want)
    assert (9, 1000) not in cache._orders


def test_shares_cut_the_blocks_evenly_on_aligned_runs():
    from fastbp.dask._trainer import _group_size, _shares

    for n_slots in (1, 2, 3, 8):
        for n_blocks in range(1, 300):
            shares = _shares(n_blocks, n_slots)
            g = _group_size(n_blocks, n_slots)
            # Contiguous, in order, covering every block once.
            assert [b for share in shares for b in share] == list(
                range(n_blocks))
            assert len(shares) <= n_slots
            assert all(share.start % g == 0 for share in shares)
            # As even as ceil allows where runs are single blocks.
            if g == 1:
                assert max(map(len, shares)) == -(-n_blocks // n_slots)
    assert [len(s) for s in _shares(10, 2)] == [6, 4]
    assert [len(s) for s in _shares(3, 2)] == [2, 1]
    assert [len(s) for s in _shares(64, 1)] == [64]


def test_slots_and_workers_are_asked_of_the_scheduler(client, monkeypatch):
    """The workers and their threads come from the scheduler on every
    call, not from the client's ``scheduler_info`` cache, which
    distributed refreshes every 2 s without the workers: read between its
    fetch and its return it was empty once, and a fit then ran every round
    as one task on one worker."""
    from fastbp.dask._trainer import _slots, _workers

    monkeypatch.setattr(client, "scheduler_info",
                        lambda *args, **kwargs: {"workers": {}})
    workers = _workers(client)
    assert len(workers) == 2 and set(workers.values()) == {1}
    assert _slots(client) == 2


@pytest.fixture(scope="module")
def unstolen_client(client):
    """2 workers whose scheduler does not steal work: the copies' worker
    restrictions are loose (so that a lost worker's share is recomputed
    elsewhere), and Dask may steal a copy of a block of a few bytes back
    to where the block is -- its choice, not fastbp's."""
    import dask

    with dask.config.set({"distributed.scheduler.work-stealing": False}), \
            local_cluster(2, set_as_default=False) as unstolen:
        yield unstolen


def test_round_shares_find_their_blocks_on_their_worker(
        unstolen_client):
    """Blocks placed alternately (as Dask places them) are copied once so
    that each worker holds one contiguous share of the blocks; a round
    task is then sent where its blocks are."""
    from fastbp.dask import _data
    from fastbp.dask._trainer import _colocated, _group_size

    client = unstolen_client
    workers = sorted(client.nthreads())
    n_blocks = 32
    X = [client.scatter(np.full((3, 2), b, dtype=np.float32),
                        workers=[workers[b % 2]]) for b in range(n_blocks)]
    Y = [client.scatter(np.full((3, 1), b, dtype=np.float32),
                        workers=[workers[b % 2]]) for b in range(n_blocks)]
    train = _data.Blocks(X, Y, None, [3] * n_blocks)
    g = _group_size(n_blocks, 2)
    assert g > 1
    moved, block_workers = _colocated(client, train, 2)
    # One contiguous share per worker, whole runs of g blocks.
    changes = [b for b in range(1, n_blocks)
               if block_workers[b] != block_workers[b - 1]]
    assert len(changes) == 1 and changes[0] % g == 0
    assert set(block_workers) == set(workers)
    distributed.wait(moved.X + moved.Y)
    who_has = client.who_has(moved.X + moved.Y)
    for b in range(n_blocks):
        assert block_workers[b] in who_has[moved.X[b].key]
        assert block_workers[b] in who_has[moved.Y[b].key]
    # The blocks' values are unchanged, and where they already were,
    # their futures are kept.
    for b in range(n_blocks):
        assert moved.X[b].result()[0, 0] == b
        assert moved.Y[b].result()[0, 0] == b
    kept = sum(m is x for m, x in zip(moved.X, X))
    assert kept >= n_blocks // 2
    # A block per share (2 blocks on 2 workers): nothing moves.
    same, none = _colocated(client, _data.Blocks(X[:2], Y[:2], None,
                                                 [3] * 2), 2)
    assert none is None and same.X == X[:2]
    # 3 blocks on 2 workers: shares of 2 and 1, block 1 joins block 0
    # (and block 2, on the first worker too, goes to the second). Block 1
    # may also be held on the first worker now (the copy the first
    # colocation fetched there), until Dask drops one of its two copies:
    # it is copied anew, to a block the first worker alone holds.
    three, where = _colocated(client, _data.Blocks(X[:3], Y[:3], None,
                                                   [3] * 3), 2)
    assert where == [workers[0], workers[0], workers[1]]
    distributed.wait(three.X)
    who_has = client.who_has(three.X)
    assert all(w in who_has[x.key] for w, x in zip(where, three.X))
    assert [x.result()[0, 0] for x in three.X] == [0, 1, 2]


def test_tree_pairs_level_by_level_as_the_items_come():
    """The round's tree, combined as the items come (a group task's
    running sum), pairs them exactly as level-by-level pairing does, for
    every number of items."""
    from fastbp.dask._trainer import _tree

    def pair(left, right):
        return f"({left}+{right})"

    def levels(items):
        while len(items) > 1:
            pairs = [pair(items[i], items[i + 1])
                     for i in range(0, len(items) - 1, 2)]
            items = pairs + items[len(pairs) * 2:]
        return items[0]

    assert levels([str(i) for i in range(7)]) == "(((0+1)+(2+3))+((4+5)+6))"
    for n in range(1, 70):
        items = [str(i) for i in range(n)]
        assert _tree(iter(items), pair) == levels(items)


def _shares(n_blocks, n_slots, g):
    """Blocks in each slot's contiguous share of the aligned runs of g."""
    runs = -(-n_blocks // g)
    share = g * -(-runs // n_slots)
    return [min(share, n_blocks - start)
            for start in range(0, n_blocks, share)]


def test_group_size_is_the_largest_balanced_power_of_two():
    from fastbp.dask._trainer import _MAX_SHARE, _group_size

    def balanced(n_blocks, n_slots, g):
        shares = _shares(n_blocks, n_slots, g)
        return (len(shares) == min(n_slots, n_blocks)
                and max(shares) <= _MAX_SHARE * n_blocks / n_slots)

    for n_slots in (1, 2, 3, 8):
        for n_blocks in range(1, 300):
            g = _group_size(n_blocks, n_slots)
            assert g & (g - 1) == 0 and g <= n_blocks
            assert g == 1 or balanced(n_blocks, n_slots, g)
            larger = [h for h in (2 ** k for k in range(10))
                      if g < h <= n_blocks]
            assert not any(balanced(n_blocks, n_slots, h) for h in larger)
    # One slot: one or two tasks; 2 slots: 4 blocks in pairs, 10 in pairs
    # (shares of 6 and 4: 8 and 2 would load one slot 1.6 times the mean),
    # 64 in halves.
    assert [_group_size(n, 1) for n in (10, 64)] == [8, 64]
    assert [_group_size(n, 2) for n in (3, 4, 10, 64)] == [1, 2, 2, 32]


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_validation_scores_from_block_sums_equal_in_memory_scores(
        client, kind, digits, regression):
    X, y, X_val, y_val = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=3)).fit(
        *_blocks(X, y), validation_data=_blocks(X_val, y_val, rows=100))
    assert len(model.validation_scores_) == model.n_iter_ == 3
    # The last epoch's score is that of the final model.
    assert_allclose(model.validation_scores_[-1],
                    model.to_fastbp().score(X_val, y_val), rtol=1e-5)
    assert_allclose(model.validation_loss_curve_[-1],
                    model.to_fastbp()._validation_loss(
                        X_val.astype(np.float32),
                        model._label_binarizer.transform(y_val)
                        if kind == "classifier" else y_val.reshape(-1, 1),
                        None), rtol=1e-5)


def test_early_stopping_keeps_the_best_epoch(client, digits):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small(
        max_iter=40, early_stopping=True, n_iter_no_change=2, tol=0.5))
    model.fit(*_blocks(X, y))
    # No epoch improves on the first by tol = 0.5: the rule fires after
    # 1 + 2 + 1 epochs, begins the final phase, and stops the fit 3 later.
    assert model.n_iter_ == 7
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert_array_equal(model._params, model._best_params)


class _StopAfter(_EpochCallback):
    """Stops training after ``n_epochs`` epochs."""

    def __init__(self, n_epochs):
        self.n_epochs = n_epochs

    def epoch_ended(self):
        return self.seen == self.n_epochs


def _one_hot(labels, n_classes):
    return np.eye(n_classes)[labels]


def test_early_stopping_split_is_stratified_within_a_block():
    from fastbp.dask._data import _validation_rows

    labels = np.repeat([0, 1, 2], [60, 30, 10])
    rows = _validation_rows(100, 7, 0.2, _one_hot(labels, 3))
    assert len(rows) == 20
    assert_array_equal(np.bincount(labels[rows]), [12, 6, 2])
    # Binary targets come as one column.
    rows = _validation_rows(100, 7, 0.2, (labels > 0)[:, None] * 1.0)
    assert_array_equal(np.bincount((labels > 0)[rows]), [12, 8])


def test_early_stopping_split_falls_back_to_random_rows():
    from fastbp.dask._data import _validation_rows

    # A class with one row in the block: no stratified split exists.
    labels = np.repeat([0, 1], [99, 1])
    with_y = _validation_rows(100, 7, 0.2, _one_hot(labels, 2))
    assert_array_equal(with_y, _validation_rows(100, 7, 0.2))
    assert len(with_y) == 20


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_callback_stops_training(client, digits, solver):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small(solver=solver, max_iter=20))
    model.set_callbacks(_StopAfter(3)).fit(*_blocks(X, y))
    assert model.n_iter_ == 3


# ---------------------------------------------------------------- prediction
@pytest.mark.parametrize("kind, method", [("classifier", "predict"),
                                          ("classifier", "predict_proba"),
                                          ("regressor", "predict")])
def test_predict_on_dask_is_lazy_and_equals_in_memory(client, kind, method,
                                                      digits, regression):
    X, y, X_test, _ = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=2)).fit(*_blocks(X, y))
    lazy = getattr(model, method)(da.from_array(X_test, chunks=70))
    assert isinstance(lazy, da.Array)
    expected = getattr(model.to_fastbp(), method)(X_test)
    assert lazy.shape == expected.shape
    # The forward pass may round a row differently in another block.
    assert_allclose(lazy.compute(), expected, rtol=1e-6)
    # In-memory input: in-memory output, as fastbp's.
    assert_array_equal(getattr(model, method)(X_test), expected)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_score_on_dask_equals_in_memory(client, kind, digits, regression):
    X, y, X_test, y_test = digits if kind == "classifier" else regression
    _, on_dask = _estimators(kind)
    model = on_dask(**_small(max_iter=2)).fit(*_blocks(X, y))
    assert_allclose(model.score(*_blocks(X_test, y_test, rows=70)),
                    model.to_fastbp().score(X_test, y_test), rtol=1e-6)


def test_to_fastbp_gives_the_in_memory_estimator(client, digits):
    X, y, X_test, y_test = digits
    model = fastbp_dask.MLPClassifier(**_small(max_iter=2)).fit(*_blocks(X, y))
    plain = model.to_fastbp()
    assert type(plain) is fastbp.MLPClassifier
    for name in ("local_batches", "outer_learning_rate", "outer_momentum"):
        assert name in model.get_params()
        assert name not in plain.get_params()
    assert_array_equal(plain.predict_proba(X_test),
                       model.predict_proba(X_test))
    # It goes on training in memory from the averaged optimizer state.
    plain.partial_fit(X, y)
    assert plain.t_ == model.t_ + len(X)
    assert plain._optimizer.t > model._optimizer.t


@pytest.fixture(scope="module")
def fitted_classifier(client, digits):
    X, y, _, _ = digits
    return fastbp_dask.MLPClassifier(**_small(max_iter=2)).fit(*_blocks(X, y))


def test_predict_log_proba_is_log_of_predict_proba(client, fitted_classifier,
                                                   digits):
    _, _, X_test, _ = digits
    model = fitted_classifier
    lazy = model.predict_log_proba(da.from_array(X_test, chunks=70))
    assert isinstance(lazy, da.Array)
    proba = model.predict_proba(da.from_array(X_test, chunks=70)).compute()
    log_proba = lazy.compute()
    assert log_proba.shape == (len(X_test), len(model.classes_))
    assert_array_equal(log_proba, np.log(proba))
    # In-memory input: in-memory output, as fastbp's.
    in_memory = model.predict_log_proba(X_test)
    assert isinstance(in_memory, np.ndarray)
    assert_array_equal(in_memory, np.log(model.predict_proba(X_test)))
    assert_array_equal(in_memory,
                       model.to_fastbp().predict_log_proba(X_test))
    # The forward pass may round a row differently in another block.
    assert_allclose(log_proba, in_memory, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["predict", "predict_proba",
                                    "predict_log_proba"])
@pytest.mark.parametrize("on_dask", [True, False],
                         ids=["dask input", "numpy input"])
def test_predict_with_wrong_feature_count_raises(client, fitted_classifier,
                                                 digits, method, on_dask):
    _, _, X_test, _ = digits
    X = X_test[:, :10]
    if on_dask:
        X = da.from_array(X, chunks=70)
    with pytest.raises(ValueError, match="X has 10 features, but "
                                         "MLPClassifier is expecting 64"):
        getattr(fitted_classifier, method)(X)


# ---------------------------------------------------------------- bad input
def _unknown_chunks(X, y):
    X, y = _blocks(X, y)
    keep = da.from_array(np.ones(len(y), dtype=bool), chunks=BLOCK_ROWS)
    return X[keep], y[keep]


def _with_nan(X, y):
    X = X.copy()
    X[3, 5] = np.nan
    return _blocks(X, y)


BAD_INPUT = {
    "mismatched chunks": (
        lambda X, y: (_blocks(X, y)[0], _blocks(X, y, rows=100)[1]),
        "same row blocks"),
    "unknown chunk sizes": (_unknown_chunks, "unknown chunk sizes"),
    "NaN in X": (_with_nan, "Input X contains NaN"),
    "1-d X": (lambda X, y: (_blocks(X, y)[0][:, 0], _blocks(X, y)[1]),
              "X must have 2 dimensions"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_raises_before_training(client, digits, case):
    X, y, _, _ = digits
    make, match = BAD_INPUT[case]
    with distributed.get_task_stream(client) as tasks:
        with pytest.raises(ValueError, match=match):
            fastbp_dask.MLPClassifier(**_small()).fit(*make(X, y))
    assert not any("_local_steps_task" in str(t["key"]) for t in tasks.data)


def _multilabel(X, y):
    Y = np.column_stack([y % 2, y > 4]).astype(int)
    return _blocks(X, Y)


BAD_FIT = {
    # case: (estimator params, (X, y) -> (args, fit kwargs), error match)
    "validation_data with lbfgs": (
        dict(solver="lbfgs"),
        lambda X, y: (_blocks(X, y), dict(validation_data=_blocks(X, y))),
        r"validation_data is only used by the stochastic solvers"),
    "sample_weight in other blocks": (
        {}, lambda X, y: (_blocks(X, y), dict(
            sample_weight=_weights(np.ones(len(y)), rows=100))),
        "X and sample_weight must be cut into the same row blocks"),
    "sample_weight of other length": (
        {}, lambda X, y: (_blocks(X, y), dict(
            sample_weight=_weights(np.ones(len(y) - 1)))),
        "different numbers of rows"),
    "negative sample_weight": (
        {}, lambda X, y: (_blocks(X, y), dict(
            sample_weight=_weights(np.r_[np.ones(len(y) - 1), -1.0]))),
        "sample_weight contains NaN, infinity or negative values"),
    "NaN in sample_weight": (
        {}, lambda X, y: (_blocks(X, y), dict(
            sample_weight=_weights(np.r_[np.nan, np.ones(len(y) - 1)]))),
        "sample_weight contains NaN, infinity or negative values"),
    "multiclass-multioutput y": (
        {}, lambda X, y: (_blocks(X, np.column_stack([y, y % 3])), {}),
        "Multioutput target data is not supported with label binarization"),
    "multilabel y with a class_weight dict": (
        dict(class_weight={1: 2.0}), lambda X, y: (_multilabel(X, y), {}),
        "For multi-output, class_weight should be a list of dicts"),
    "multilabel y with 1-d validation targets": (
        {}, lambda X, y: (_multilabel(X, y), dict(
            validation_data=_blocks(X, y))),
        "validation_data's targets must be of the training targets' kind"),
    "validation_data with other features": (
        {}, lambda X, y: (_blocks(X, y), dict(
            validation_data=_blocks(X[:, :10], y))),
        "validation_data has 10 features, the training data 64"),
    "validation_data with an unseen class": (
        {}, lambda X, y: (_blocks(X, y), dict(
            validation_data=_blocks(X[:120], np.full(120, 11)))),
        r"validation_data has classes \[11\] not in"),
}


@pytest.mark.parametrize("case", list(BAD_FIT))
def test_bad_fit_arguments_raise_before_training(client, digits, case):
    X, y, _, _ = digits
    params, make, match = BAD_FIT[case]
    args, kwargs = make(X, y)
    with distributed.get_task_stream(client) as tasks:
        with pytest.raises(ValueError, match=match):
            fastbp_dask.MLPClassifier(**_small(**params)).fit(*args,
                                                              **kwargs)
    assert not any(name in str(t["key"]) for t in tasks.data
                   for name in ("_local_steps_task", "_loss_grad_task"))


def test_warm_start_needs_the_same_classes_and_features(client, digits):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small(max_iter=1, warm_start=True))
    model.fit(*_blocks(X, y))
    with pytest.raises(ValueError, match="warm_start can only be used where "
                                         "`y` has the same classes"):
        model.fit(*_blocks(X, np.where(y == 9, 8, y)))
    with pytest.raises(ValueError, match="X has 10 features, but "
                                         "MLPClassifier is expecting 64"):
        model.fit(*_blocks(X[:, :10], y))


def test_nan_in_regression_targets_raises(client, regression):
    X, y, _, _ = regression
    y = y.copy()
    y[7] = np.inf
    with pytest.raises(ValueError, match="Input y contains NaN"):
        fastbp_dask.MLPRegressor(**_small()).fit(*_blocks(X, y))


@pytest.mark.parametrize("local_batches", [0, "batch", 1.5])
def test_local_batches_is_validated(client, digits, local_batches):
    X, y, _, _ = digits
    with pytest.raises(InvalidParameterError, match="local_batches"):
        fastbp_dask.MLPClassifier(local_batches=local_batches).fit(
            *_blocks(X, y))


@pytest.mark.parametrize("params, name", [
    (dict(outer_learning_rate=0.0), "outer_learning_rate"),
    (dict(outer_learning_rate="block"), "outer_learning_rate"),
    (dict(outer_momentum=1.0), "outer_momentum"),
    (dict(outer_momentum=-0.1), "outer_momentum")])
def test_outer_optimizer_is_validated(client, digits, params, name):
    X, y, _, _ = digits
    with pytest.raises(InvalidParameterError, match=name):
        fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))


@pytest.mark.parametrize("params, name", [
    (dict(final_local_batches=0), "final_local_batches"),
    (dict(final_local_batches=2.5), "final_local_batches"),
    (dict(final_epochs=-1), "final_epochs"),
    (dict(final_epochs=None), "final_epochs"),
    (dict(initial_local_batches=0), "initial_local_batches"),
    (dict(initial_local_batches="epoch"), "initial_local_batches")])
def test_phases_are_validated(client, digits, params, name):
    X, y, _, _ = digits
    with pytest.raises(InvalidParameterError, match=name):
        fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))




# 4 blocks of 120 rows, batch 40 split into 10 rows per block: 12 batches
# per block and epoch; every 4 batches: 3 rounds, every 2: 6.
_PHASED = dict(batch_size=40, local_batches=4, final_local_batches=2,
               outer_momentum=0.5, initial_local_batches=None)


def test_final_phase_runs_the_last_epochs_at_its_period(client, digits,
                                                        monkeypatch):
    X, y, _, _ = digits
    # final_epochs=10, but at most a quarter of max_iter: the last epoch.
    params = _small(max_iter=4, final_epochs=10, **_PHASED)
    with _counting_rounds(monkeypatch) as seen:
        phased = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert len(seen) == 3 * 3 + 6
    # The epochs before it are the fit without a final phase.
    plain = fastbp_dask.MLPClassifier(
        **dict(params, final_local_batches=None)).fit(*_blocks(X, y))
    assert phased.loss_curve_[:3] == plain.loss_curve_[:3]
    assert phased.loss_curve_[3] != plain.loss_curve_[3]
    # partial_fit (one epoch, no end in sight) has none.
    with _counting_rounds(monkeypatch) as seen:
        phased.partial_fit(*_blocks(X, y))
    assert len(seen) == 3


@pytest.mark.parametrize("n_batches, period, first_period, spans", [
    (12, 4, None, [(0, 4), (4, 8), (8, 12)]),
    (12, 4, 1, [(0, 1), (1, 3), (3, 7), (7, 11), (11, 12)]),
    (5, 64, 1, [(0, 1), (1, 3), (3, 5)]),
    (300, 64, 8, [(0, 8), (8, 24), (24, 56), (56, 120), (120, 184),
                  (184, 248), (248, 300)]),
    (3, 3, 3, [(0, 3)])])
def test_spans_double_up_to_the_period(n_batches, period, first_period,
                                       spans):
    from fastbp.dask._trainer import _spans

    assert _spans(n_batches, period, first_period) == spans


def test_initial_rounds_are_in_the_first_epoch_only(client, digits,
                                                    monkeypatch):
    X, y, _, _ = digits
    # 12 batches an epoch, local_batches=4: after 1, 2, 4, 4, 1 batches in
    # the first epoch, then 3 rounds of 4.
    params = _small(max_iter=2, **dict(_PHASED, initial_local_batches=1))
    with _counting_rounds(monkeypatch) as seen:
        ramped = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert len(seen) == 5 + 3
    plain = fastbp_dask.MLPClassifier(**dict(
        params, initial_local_batches=None)).fit(*_blocks(X, y))
    assert ramped.loss_curve_[0] != plain.loss_curve_[0]
    # The first epoch from new weights: partial_fit's second call and a
    # warm_start fit go on at local_batches.
    with _counting_rounds(monkeypatch) as seen:
        ramped.partial_fit(*_blocks(X, y))
    assert len(seen) == 3
    ramped.set_params(warm_start=True, max_iter=1)
    with _counting_rounds(monkeypatch) as seen:
        ramped.fit(*_blocks(X, y))
    assert len(seen) == 3
    fresh = fastbp_dask.MLPClassifier(**params)
    with _counting_rounds(monkeypatch) as seen:
        fresh.partial_fit(*_blocks(X, y), classes=np.unique(y))
        fresh.partial_fit(*_blocks(X, y))
    assert len(seen) == 5 + 3
    # At most local_batches.
    with _counting_rounds(monkeypatch) as seen:
        fastbp_dask.MLPClassifier(**dict(params, initial_local_batches=8)).fit(
            *_blocks(X, y))
    assert len(seen) == 2 * 3


def _round_models(monkeypatch):
    """Record the model after every averaging round of the fits that
    follow, in a list returned."""
    from fastbp.dask import _trainer

    models = []
    original = _trainer._DaskMLP._round

    def recorded(self, client, train, spec, seeds, span, batches, params,
                 *args, **kwargs):
        loss = original(self, client, train, spec, seeds, span, batches,
                        params, *args, **kwargs)
        models.append(params.copy())
        return loss

    monkeypatch.setattr(_trainer._DaskMLP, "_round", recorded)
    return models


def test_final_phase_epoch_is_its_rounds_mean(client, digits, monkeypatch):
    """The final phase's epoch is an epoch at its period with half the
    outer momentum, from the same weights, optimizer state and outer
    velocity (shuffle=False: the same rows in the same order), bitwise;
    the model after it is the mean of its rounds' models, summed in
    float64."""
    from fastbp.dask._trainer import _RunningMean

    X, y, _, _ = digits
    params = _small(max_iter=4, final_epochs=1, shuffle=False, **_PHASED)
    models = _round_models(monkeypatch)
    phased = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    phase_rounds = models[3 * 3:]
    assert len(phase_rounds) == 6
    mean = _RunningMean()
    for model in phase_rounds:
        mean.add(model)
    assert_array_equal(phased._params, mean.mean(np.float32))
    assert not np.array_equal(phased._params, phase_rounds[-1])

    models.clear()
    continued = fastbp_dask.MLPClassifier(**dict(
        params, max_iter=3, final_local_batches=None)).fit(*_blocks(X, y))
    continued.set_params(local_batches=2, outer_momentum=0.25)
    continued.partial_fit(*_blocks(X, y))
    assert len(models) == 3 * 3 + 6
    for got, want in zip(phase_rounds, models[3 * 3:]):
        assert_array_equal(got, want)
    # Its period is at most the one before it.
    shorter = dict(params, local_batches=1, final_local_batches=1)
    _assert_same_weights(
        fastbp_dask.MLPClassifier(**shorter).fit(*_blocks(X, y)),
        fastbp_dask.MLPClassifier(**dict(shorter, final_local_batches=2))
        .fit(*_blocks(X, y)))


def test_final_phase_epochs_go_on_from_the_last_round(client, digits,
                                                      monkeypatch):
    """Two final-phase epochs: the second starts from the first's last
    round, not from its mean, so the rounds are those of a fit without
    the means."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    params = _small(max_iter=8, final_epochs=2, **_PHASED)
    models = _round_models(monkeypatch)
    fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    averaged = list(models)
    models.clear()
    monkeypatch.setattr(_trainer, "_RunningMean", _NoMean)
    fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    assert len(averaged) == len(models) == 6 * 3 + 2 * 6
    for got, want in zip(averaged, models):
        assert_array_equal(got, want)


class _NoMean:
    """A stand-in for ``_RunningMean`` whose mean is the last array
    added: the fit without the final phase's means."""

    def add(self, array):
        self.last = array.copy()

    def mean(self, dtype):
        return self.last.astype(dtype)


def test_final_phase_begins_when_training_would_stop(client, digits,
                                                     monkeypatch, capsys):
    X, y, _, _ = digits
    # tol=1: no epoch improves the loss by 1; the first sets the best
    # loss, the rule fires at the third (n_iter_no_change=1).
    params = _small(max_iter=20, final_epochs=0, tol=1.0, n_iter_no_change=1,
                    verbose=True, **_PHASED)
    plain = fastbp_dask.MLPClassifier(
        **dict(params, final_local_batches=None)).fit(*_blocks(X, y))
    assert plain.n_iter_ == 3
    capsys.readouterr()
    with _counting_rounds(monkeypatch) as seen:
        phased = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    out = capsys.readouterr().out
    assert "epochs. Averaging every 2 mini-batches from now on." in out
    assert out.rstrip().endswith("epochs. Stopping.")
    # Two more epochs at the final period, then the rule stops the fit.
    assert phased.n_iter_ == 5
    assert phased.loss_curve_[:3] == plain.loss_curve_
    assert len(seen) == 3 * 3 + 2 * 6


def test_one_block_has_no_phases(client, digits, monkeypatch):
    # Its rounds average nothing; the fit stays the in-memory one and
    # stops where it does.
    X, y, _, _ = digits
    params = _small(max_iter=20, tol=1.0, n_iter_no_change=1,
                    batch_size=40, shuffle=False)
    with _counting_rounds(monkeypatch) as seen:
        on_blocks = fastbp_dask.MLPClassifier(
            **params, local_batches=4, final_local_batches=2,
            initial_local_batches=1).fit(*_blocks(X, y, rows=len(y)))
    in_memory = fastbp.MLPClassifier(**params).fit(X, y)
    assert on_blocks.n_iter_ == in_memory.n_iter_ == 3
    # 12 batches an epoch: 3 rounds of 4 in every epoch.
    assert len(seen) == 9
    assert_allclose(on_blocks.loss_curve_, in_memory.loss_curve_,
                    rtol=1e-5)


def test_plain_averaging_is_the_mean_of_the_blocks(client, digits):
    # outer_learning_rate=1 without momentum, one round ('epoch') of one
    # epoch: the weights are the mean of each block's own in-memory epoch
    # from the same initial weights.
    X, y, _, _ = digits
    params = _small(solver="sgd", momentum=0.0, max_iter=1, shuffle=False,
                    dtype="float64")
    model = fastbp_dask.MLPClassifier(
        **params, outer_learning_rate=1.0, outer_momentum=0.0,
        local_batches="epoch", local_batch_size="batch_size").fit(
            *_blocks(X, y))
    coefs = []
    for b in range(N_BLOCKS):
        rows = slice(b * BLOCK_ROWS, (b + 1) * BLOCK_ROWS)
        plain = fastbp.MLPClassifier(**params).partial_fit(
            X[rows], y[rows], classes=np.unique(y))
        coefs.append(plain.coefs_[0])
    assert_allclose(model.coefs_[0], np.mean(coefs, axis=0), rtol=1e-10,
                    atol=1e-12)


def test_split_batches_are_shares_of_batch_size():
    from fastbp.dask._trainer import _block_batches

    # In proportion to the blocks' rows, at least 1; the L2 strength
    # scaled alike, so that alpha * W / rows is alpha * W / batch_size.
    got = _block_batches("split", 200, 1e-4, [25_000, 12_500, 12_400, 100])
    assert [rows for rows, _ in got] == [100, 50, 50, 1]
    assert_allclose([alpha / rows for rows, alpha in got], 1e-4 / 200,
                    rtol=1e-15)
    # One block: the batch and alpha themselves.
    assert _block_batches("split", 200, 1e-4, [700]) == [(200, 1e-4)]
    assert _block_batches("batch_size", 200, 1e-4, [700, 7]) == [
        (200, 1e-4), (200, 1e-4)]


def test_split_sgd_round_is_one_step_over_the_blocks_batches(client,
                                                             digits):
    """SGD without momentum, plain averaging, one mini-batch per round:
    each round is the in-memory step over the 4 blocks' batches of 10 rows
    together (a batch of 40), L2 term included, as synchronous
    data-parallel SGD takes it."""
    X, y, _, _ = digits
    params = _small(solver="sgd", momentum=0.0, max_iter=2, shuffle=False,
                    batch_size=40, dtype="float64", alpha=0.01)
    model = fastbp_dask.MLPClassifier(
        **params, local_batches=1, local_batch_size="split",
        outer_learning_rate=1.0, outer_momentum=0.0).fit(*_blocks(X, y))
    # The in-memory batches: rows 10k..10k+9 of every block, in turn.
    rows = np.arange(len(y)).reshape(N_BLOCKS, BLOCK_ROWS // 10, 10)
    order = rows.transpose(1, 0, 2).ravel()
    expected = fastbp.MLPClassifier(**params).fit(X[order], y[order])
    assert_allclose(model.loss_curve_, expected.loss_curve_, rtol=1e-10)
    _assert_close_weights(model, expected, 1e-10)


def test_outer_step_is_nesterov_momentum_on_the_mean_change():
    from fastbp.dask._blocks import outer_step

    rng = np.random.RandomState(0)
    params = rng.standard_normal(7).astype(np.float32)
    mean = rng.standard_normal(7)
    velocity = rng.standard_normal(7)
    old_velocity = velocity.copy()
    new = outer_step(params, mean, velocity, 0.7, 0.9)
    delta = mean - params.astype(np.float64)
    want_velocity = 0.9 * old_velocity + delta
    assert_allclose(velocity, want_velocity, rtol=1e-12)
    assert new.dtype == np.float32
    assert_allclose(new, params + 0.7 * (delta + 0.9 * want_velocity),
                    rtol=1e-6)
    # Step 1 without momentum: the mean itself.
    assert_allclose(outer_step(params, mean, np.zeros(7), 1.0, 0.0),
                    mean.astype(np.float32), rtol=1e-6)


def _partial(value, rows):
    from fastbp.dask._blocks import weighted_sum

    return weighted_sum(np.full((2, 3), value), rows, int(rows), value)


def _partials_task(sent, first, blocks, final):
    from fastbp.dask._blocks import add_weighted_sums
    from fastbp.dask._trainer import _share_sum

    return _share_sum(first, (_partial(*args) for args in blocks),
                      add_weighted_sums, final)


@pytest.mark.parametrize("n_slots", [1, 2, 3, 4, 7])
def test_round_total_adds_in_a_fixed_order_on_the_workers(client, n_slots):
    """Whatever the shares (one to seven tasks of 7 blocks), the total is
    the one tree over the block order, bitwise."""
    from fastbp.dask._blocks import add_weighted_sums
    from fastbp.dask._trainer import _round_total

    values = [0.1 * (b + 1) ** 3 for b in range(7)]
    blocks = [(v, b + 1) for b, v in enumerate(values)]
    with distributed.get_task_stream(client) as tasks:
        total = _round_total(client, _partials_task, None, blocks, n_slots,
                             None, add_weighted_sums)
    names = _task_names(tasks)
    # A task per share, the merges but the last (the client's) in tasks.
    assert names.count("_partials_task") == n_slots
    assert names.count("_merge_task") == max(n_slots - 2, 0)
    # ((0 + 1) + (2 + 3)) + ((4 + 5) + 6), in float64.
    leaves = [_partial(v, b + 1) for b, v in enumerate(values)]
    add = add_weighted_sums
    want = add(add(add(leaves[0], leaves[1]), add(leaves[2], leaves[3])),
               add(add(leaves[4], leaves[5]), leaves[6]))
    assert_array_equal(total[0], want[0])
    assert total[1:] == want[1:]
    assert total[2] == 7  # the largest step


def test_fit_without_client_says_so(monkeypatch, digits):
    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", no_client)
    X, y, _, _ = digits
    with pytest.raises(ValueError, match="current dask.distributed Client"):
        fastbp_dask.MLPClassifier().fit(*_blocks(X, y))


def test_import_fastbp_does_not_import_dask():
    import subprocess
    import sys

    code = ("import sys, fastbp; "
            "print(any(m.split('.')[0] in ('dask', 'distributed') "
            "for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- partial_fit
def test_partial_fit_on_blocks_is_one_fit_epoch(client, digits):
    X, y, _, _ = digits
    params = _small(solver="adam", local_batches=1, max_iter=1)
    fitted = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    partial = fastbp_dask.MLPClassifier(**params)
    partial.partial_fit(*_blocks(X, y), classes=np.unique(y))
    _assert_same_weights(fitted, partial)
    assert partial.n_iter_ == 1 and partial.t_ == len(y)
    step = partial._optimizer.t
    partial.partial_fit(*_blocks(X, y))
    # The optimizer goes on: its step count grows, t_ adds up.
    assert partial._optimizer.t == 2 * step and partial.t_ == 2 * len(y)


def test_partial_fit_on_blocks_regressor_and_errors(client, digits,
                                                    regression):
    X, y, _, _ = regression
    model = fastbp_dask.MLPRegressor(**_small(solver="sgd"))
    for _ in range(3):
        model.partial_fit(*_blocks(X, y))
    assert model.n_iter_ == 1 and model.t_ == 3 * len(y)
    assert np.isfinite(model.loss_)

    X, y, _, _ = digits
    fresh = fastbp_dask.MLPClassifier(**_small())
    with pytest.raises(ValueError, match="classes must be passed"):
        fresh.partial_fit(*_blocks(X, y))
    fresh.partial_fit(*_blocks(X[y < 5], y[y < 5]), classes=np.arange(10))
    assert_array_equal(fresh.classes_, np.arange(10))
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        fresh.partial_fit(*_blocks(X, y + 10))
    with pytest.raises(ValueError, match="early_stopping"):
        fastbp_dask.MLPClassifier(early_stopping=True).partial_fit(
            *_blocks(X, y), classes=np.arange(10))
    with pytest.raises(AttributeError, match="partial_fit"):
        fastbp_dask.MLPClassifier(solver="lbfgs").partial_fit


def test_partial_fit_with_numpy_input_stays_in_memory(client, digits):
    X, y, _, _ = digits
    model = fastbp_dask.MLPClassifier(**_small())
    model.partial_fit(X, y, classes=np.unique(y))
    reference = fastbp.MLPClassifier(**_small()).partial_fit(
        X, y, classes=np.unique(y))
    _assert_same_weights(model, reference)


# ------------------------------------------------- fastbp's training losses
@pytest.mark.parametrize("kind,params", [
    ("regressor", dict(loss="huber", huber_delta=0.5)),
    ("classifier", dict(label_smoothing=0.2))], ids=str)
def test_lbfgs_on_blocks_with_fastbp_losses_equals_in_memory_fit(
        client, kind, params, digits, regression):
    # Huber's delta reaches the workers' kernels; the soft targets are
    # computed on the workers.
    X, y, _, _ = digits if kind == "classifier" else regression
    in_memory, on_dask = _estimators(kind)
    settings = _small(solver="lbfgs", max_iter=15, dtype="float64", **params)
    expected = in_memory(**settings).fit(X, y)
    model = on_dask(**settings).fit(*_blocks(X, y))
    assert model.n_iter_ == expected.n_iter_
    assert_allclose(model.loss_, expected.loss_, rtol=1e-10)
    for got, want in zip(model.coefs_ + model.intercepts_,
                         expected.coefs_ + expected.intercepts_):
        assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    plain = model.to_fastbp()
    for name, value in params.items():
        assert plain.get_params()[name] == value


@pytest.mark.parametrize("kind,params", [
    ("regressor", dict(loss="quantile", quantile=0.8)),
    ("regressor", dict(loss="absolute_error")),
    ("classifier", dict(label_smoothing=0.2))], ids=str)
def test_stochastic_fit_on_blocks_with_fastbp_losses(client, kind, params,
                                                     digits, regression):
    # The validation loss is the option's loss on the true targets.
    X, y, X_val, y_val = digits if kind == "classifier" else regression
    in_memory, on_dask = _estimators(kind)
    settings = _small(max_iter=3, local_batches=1, **params)
    model = on_dask(**settings).fit(
        *_blocks(X, y), validation_data=_blocks(X_val, y_val, rows=100))
    plain = model.to_fastbp()
    Y_val = (plain._label_binarizer.transform(y_val) if kind == "classifier"
             else y_val.reshape(-1, 1))
    assert_allclose(model.validation_loss_curve_[-1],
                    plain._validation_loss(X_val.astype(np.float32), Y_val,
                                           None), rtol=1e-5)
    # One block in its order, averaged once per epoch: the in-memory fit.
    settings = _small(max_iter=3, shuffle=False, **params)
    one_block = on_dask(**settings, local_batches="epoch").fit(
        *_blocks(X, y, rows=len(y)))
    expected = in_memory(**settings).fit(X, y)
    assert_allclose(one_block.loss_curve_, expected.loss_curve_, rtol=1e-6)
    for got, want in zip(one_block.coefs_, expected.coefs_):
        assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params,match", [
    (dict(loss="absolute_error", solver="lbfgs"), "not differentiable"),
    (dict(loss="quantile"), "needs the quantile")], ids=str)
def test_fastbp_loss_errors_raise_before_training(client, regression, params,
                                                  match):
    X, y, _, _ = regression
    with distributed.get_task_stream(client) as tasks:
        with pytest.raises(ValueError, match=match):
            fastbp_dask.MLPRegressor(**_small(**params)).fit(*_blocks(X, y))
    assert not tasks.data


# ---------------------------------------------------------------- sparse X
def _sparse_blocks(X, y, rows=BLOCK_ROWS, fmt="csr"):
    """X's row blocks as scipy.sparse matrices of format ``fmt``."""
    import scipy.sparse as sp

    Xd, yd = _blocks(X, y, rows=rows)
    return Xd.map_blocks(getattr(sp, f"{fmt}_matrix")), yd


@pytest.fixture(scope="module")
def sparse_digits(digits):
    # Half the pixels set to 0, so that the blocks are sparse.
    X, y, X_test, y_test = digits
    mask = np.random.RandomState(0).rand(*X.shape) < 0.5
    return X * mask, y, X_test, y_test


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver, extra", [
    ("lbfgs", {}), ("adam", dict(local_batches=2)),
    ("sgd", dict(local_batches=1, early_stopping=True))])
def test_sparse_blocks_give_the_dense_model(client, sparse_digits, fmt,
                                            solver, extra):
    """Sparse blocks go through the kernels' sparse path, as in-memory
    sparse X does: the dense blocks' model, up to rounding."""
    X, y, _, _ = sparse_digits
    params = _small(solver=solver, dtype="float64", **extra)
    dense = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, y))
    with distributed.get_task_stream(client) as tasks:
        sparse = fastbp_dask.MLPClassifier(**params).fit(
            *_sparse_blocks(X, y, fmt=fmt))
    for got, want in zip(sparse.coefs_ + sparse.intercepts_,
                         dense.coefs_ + dense.intercepts_):
        assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert_allclose(sparse.loss_, dense.loss_, rtol=1e-10)
    if extra.get("early_stopping"):
        assert_allclose(sparse.validation_scores_, dense.validation_scores_,
                        rtol=1e-10)
    # The blocks reached the workers as sparse matrices: the rows were
    # never densified on the client.
    assert {t["worker"] for t in tasks.data} == set(
        client.nthreads())


def test_sparse_one_block_is_the_in_memory_sparse_fit(client, sparse_digits):
    import scipy.sparse as sp

    X, y, _, _ = sparse_digits
    params = _small(dtype="float64", shuffle=False, batch_size=40)
    expected = fastbp.MLPClassifier(**params).fit(sp.csr_matrix(X), y)
    model = fastbp_dask.MLPClassifier(**params, local_batches="epoch").fit(
        *_sparse_blocks(X, y, rows=len(y)))
    assert_allclose(model.loss_curve_, expected.loss_curve_, rtol=1e-12)
    for got, want in zip(model.coefs_, expected.coefs_):
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_sparse_fit_does_not_depend_on_worker_count(
        client, one_worker_client, sparse_digits):
    X, y, _, _ = sparse_digits
    params = _small(local_batches=1)
    on_two = fastbp_dask.MLPClassifier(**params).fit(*_sparse_blocks(X, y))
    with one_worker_client.as_current():
        on_one = fastbp_dask.MLPClassifier(**params).fit(
            *_sparse_blocks(X, y))
    _assert_same_weights(on_two, on_one)
    assert on_two.loss_curve_ == on_one.loss_curve_


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_and_score_on_sparse_blocks(client, sparse_digits, method):
    import scipy.sparse as sp

    X, y, X_test, y_test = sparse_digits
    model = fastbp_dask.MLPClassifier(**_small(max_iter=2)).fit(
        *_sparse_blocks(X, y))
    Xs_test, ys_test = _sparse_blocks(X_test, y_test, rows=70)
    lazy = getattr(model, method)(Xs_test)
    assert isinstance(lazy, da.Array)
    expected = getattr(model.to_fastbp(), method)(sp.csr_matrix(X_test))
    assert_allclose(lazy.compute(), expected, rtol=1e-6)
    assert_allclose(model.score(Xs_test, ys_test),
                    model.to_fastbp().score(X_test, y_test), rtol=1e-6)
    # An in-memory sparse matrix is predicted in memory.
    assert_array_equal(getattr(model, method)(sp.csr_matrix(X_test)),
                       expected)


def test_non_finite_sparse_blocks_raise_before_training(client,
                                                        sparse_digits):
    import scipy.sparse as sp

    X, y, _, _ = sparse_digits
    Xs = sp.csr_matrix(X)
    Xs.data[5] = np.inf
    Xd = da.from_array(Xs, chunks=(BLOCK_ROWS, X.shape[1]))
    with distributed.get_task_stream(client) as tasks:
        with pytest.raises(ValueError, match="Input X contains NaN"):
            fastbp_dask.MLPClassifier(**_small()).fit(
                Xd, _blocks(X, y)[1])
    assert not any("_local_steps_task" in str(t["key"]) for t in tasks.data)


def test_sparse_values_beyond_float32_raise_as_if_converted(client,
                                                           sparse_digits):
    """Float64 values of sparse blocks are read in place and converted as
    they are read: one beyond float32's range is the infinity a converted
    block would hold, refused before training."""
    import scipy.sparse as sp

    X, y, _, _ = sparse_digits
    Xs = sp.csr_matrix(X)
    Xs.data[5] = 1e39
    Xd = da.from_array(Xs, chunks=(BLOCK_ROWS, X.shape[1]))
    with pytest.raises(ValueError, match="Input X contains NaN, infinity"):
        fastbp_dask.MLPClassifier(**_small(dtype="float32")).fit(
            Xd, _blocks(X, y)[1])
    # In float64 the value is finite: the fit goes on.
    fastbp_dask.MLPClassifier(**_small(dtype="float64", max_iter=1)).fit(
        Xd, _blocks(X, y)[1])


def test_other_kinds_of_block_raise_a_type_error(client, digits):
    sparse = pytest.importorskip("sparse")  # pydata/sparse

    X, y, _, _ = digits
    Xd, yd = _blocks(X, y)
    with pytest.raises(TypeError, match="numpy arrays or scipy.sparse "
                                        "matrices, got blocks of type COO"):
        fastbp_dask.MLPClassifier(**_small()).fit(
            Xd.map_blocks(sparse.COO.from_numpy), yd)


# ---------------------------------------------------------------- multilabel
def _indicators(y):
    """Three labels of each digit: odd, above 4, below 3."""
    return np.column_stack([y % 2, y > 4, y < 3]).astype(np.int64)


@pytest.mark.parametrize("solver, rows, params", [
    ("lbfgs", BLOCK_ROWS, {}),
    ("lbfgs", BLOCK_ROWS, dict(label_smoothing=0.1)),
    # One block in its order, one round per epoch: the in-memory fit.
    ("adam", N_BLOCKS * BLOCK_ROWS, dict(shuffle=False, batch_size=40,
                                         local_batches="epoch"))])
def test_multilabel_on_blocks_equals_in_memory_fit(client, digits, solver,
                                                   rows, params):
    X, y, X_test, y_test = digits
    Y = _indicators(y)
    settings = _small(solver=solver, dtype="float64", **params)
    in_memory = {k: v for k, v in settings.items() if k != "local_batches"}
    expected = fastbp.MLPClassifier(**in_memory).fit(X, Y)
    model = fastbp_dask.MLPClassifier(**settings).fit(*_blocks(X, Y,
                                                                rows=rows))
    assert model._label_binarizer.y_type_ == "multilabel-indicator"
    assert_array_equal(model.classes_, expected.classes_)
    assert model.out_activation_ == expected.out_activation_ == "logistic"
    assert model.n_iter_ == expected.n_iter_
    assert_allclose(model.loss_, expected.loss_, rtol=LOSS_RTOL)
    _assert_close_weights(model, expected, LBFGS_RTOL)
    assert_array_equal(model.predict(X_test), expected.predict(X_test))


def test_multilabel_balanced_class_weight_is_compute_sample_weight(
        client, digits):
    """As the in-memory classifier's: compute_sample_weight's weights of
    the indicator columns, from the whole training set."""
    X, y, _, _ = digits
    Y = _indicators(y)
    Y[:, 2] = 0  # a column of one class: its weights are 1
    params = _small(max_iter=3, local_batches=1)
    weighted = fastbp_dask.MLPClassifier(class_weight="balanced",
                                         **params).fit(*_blocks(X, Y))
    expected = fastbp_dask.MLPClassifier(**params).fit(
        *_blocks(X, Y), sample_weight=_weights(
            compute_sample_weight("balanced", Y)))
    _assert_same_weights(weighted, expected)
    assert weighted.loss_curve_ == expected.loss_curve_


def test_multilabel_fit_does_not_depend_on_worker_count(
        client, one_worker_client, digits):
    X, y, _, _ = digits
    params = _small(local_batches=1, early_stopping=True)
    on_two = fastbp_dask.MLPClassifier(**params).fit(
        *_blocks(X, _indicators(y)))
    with one_worker_client.as_current():
        on_one = fastbp_dask.MLPClassifier(**params).fit(
            *_blocks(X, _indicators(y)))
    _assert_same_weights(on_two, on_one)
    assert on_two.validation_scores_ == on_one.validation_scores_


def test_multilabel_prediction_scores_and_validation(client, digits):
    X, y, X_test, y_test = digits
    Y, Y_test = _indicators(y), _indicators(y_test)
    model = fastbp_dask.MLPClassifier(**_small(max_iter=4)).fit(
        *_blocks(X, Y), validation_data=_blocks(X_test, Y_test, rows=100))
    plain = model.to_fastbp()
    # Validation accuracy from block sums is subset accuracy, as in memory.
    assert_allclose(model.validation_scores_[-1], plain.score(X_test, Y_test),
                    rtol=1e-6)
    Xd_test, Yd_test = _blocks(X_test, Y_test, rows=70)
    lazy = model.predict(Xd_test)
    assert lazy.dtype == plain.predict(X_test).dtype
    assert_array_equal(lazy.compute(), plain.predict(X_test))
    assert_allclose(model.predict_proba(Xd_test).compute(),
                    plain.predict_proba(X_test), rtol=1e-6)
    assert_allclose(model.score(Xd_test, Yd_test),
                    plain.score(X_test, Y_test), rtol=1e-12)


def test_multilabel_partial_fit_on_blocks(client, digits):
    X, y, _, _ = digits
    Y = _indicators(y)
    params = _small(local_batches=1, max_iter=1)
    fitted = fastbp_dask.MLPClassifier(**params).fit(*_blocks(X, Y))
    partial = fastbp_dask.MLPClassifier(**params)
    # classes are required on the first call, and taken from y, as in
    # memory.
    partial.partial_fit(*_blocks(X, Y), classes=[0, 1])
    _assert_same_weights(fitted, partial)
    assert_array_equal(partial.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="partial_fit needs targets of the "
                                         "kind the model was fitted on"):
        partial.partial_fit(*_blocks(X, Y[:, :2]))
    with pytest.raises(ValueError, match="fitted on multilabel targets"):
        partial.partial_fit(*_blocks(X, y))


# -- Adam's pooled second moment on split mini-batches -------------------
def _one_block_adam_step(pooled_noise, mean_gradient, rng):
    """One Adam step of ``block_local_steps`` on a batch of 6 rows, from
    random moments at t = 5; returns (weights before, weights after,
    network, data)."""
    from fastbp._network import Layout
    from fastbp._solvers import AdamOptimizer
    from fastbp.dask._blocks import block_local_steps, optimizer_settings
    from fastbp._kernels import HIDDEN_CODES, OUTPUT_CODES

    units = [5, 7, 3]
    layout = Layout(units, [HIDDEN_CODES["relu"]])
    coefs = [rng.standard_normal((a, b)) for a, b in zip(units, units[1:])]
    intercepts = [rng.standard_normal(b) for b in units[1:]]
    X = rng.standard_normal((6, 5))
    Y = np.eye(3)[rng.randint(0, 3, 6)]
    weights = np.empty((3, layout.n_params))
    weights[0] = layout.pack(coefs, intercepts, np.float64)
    weights[1] = 0.1 * rng.standard_normal(layout.n_params)
    weights[2] = 0.01 * rng.random_sample(layout.n_params)
    solver, hyper = optimizer_settings(
        AdamOptimizer(layout.n_params, np.float64, learning_rate_init=0.01))
    after, step, _ = block_local_steps(
        X, Y, None, np.arange(6, dtype=np.int64), 6, weights, 5, units,
        [HIDDEN_CODES["relu"]], OUTPUT_CODES["softmax"],
        np.finfo(np.float64).eps, 1e-3, solver, hyper,
        mean_gradient=mean_gradient, pooled_noise=pooled_noise)
    assert step == 6
    return weights, after, (layout, coefs, intercepts, X, Y)


def test_pooled_adam_step_equals_numpy_reference():
    from . import reference

    k = 4.0
    n_params = 5 * 7 + 7 * 3 + 7 + 3
    r = 0.3 * np.random.RandomState(1).standard_normal(n_params)
    before, after, (layout, coefs, intercepts, X, Y) = _one_block_adam_step(
        k, r, np.random.RandomState(0))
    assert layout.n_params == n_params
    _, gW, gb = reference.loss_and_grads(coefs, intercepts, X, Y, "relu",
                                         "softmax", 1e-3)
    g = layout.pack(gW, gb, np.float64)
    m = 0.9 * before[1] + 0.1 * g
    v = 0.999 * before[2] + 0.001 * (g**2 / k + (1 - 1 / k) * r**2)
    lr_t = 0.01 * np.sqrt(1 - 0.999**6) / (1 - 0.9**6)
    assert_allclose(after[1], m, rtol=1e-12, atol=1e-15)
    assert_allclose(after[2], v, rtol=1e-12, atol=1e-15)
    assert_allclose(after[0], before[0] - lr_t * m / (np.sqrt(v) + 1e-8),
                    rtol=1e-12, atol=1e-15)
    # The plain update differs: the test sees the pooled term.
    plain = 0.999 * before[2] + 0.001 * g**2
    assert np.abs(after[2] - plain).max() > 1e-6


def test_pooled_noise_of_one_is_plain_adam_and_needs_the_mean():
    plain = _one_block_adam_step(0.0, None, np.random.RandomState(0))[1]
    n_params = plain.shape[1]
    one = _one_block_adam_step(1.0, np.ones(n_params),
                               np.random.RandomState(0))[1]
    assert_array_equal(one, plain)
    with pytest.raises(ValueError, match="mean gradient"):
        _one_block_adam_step(2.0, None, np.random.RandomState(0))


@pytest.mark.parametrize("params, changes", [
    (dict(solver="adam"), True),
    (dict(solver="adam", local_batch_size="batch_size"), False),
    (dict(solver="sgd"), False),
])
def test_pooled_second_moment_changes_split_adam_only(client, digits,
                                                      params, changes):
    X, y, _, _ = digits
    fits = [fastbp_dask.MLPClassifier(
        **_small(max_iter=3, batch_size=40, **params),
        pooled_second_moment=pooled).fit(*_blocks(X, y))
        for pooled in (True, False)]
    same = all(np.array_equal(a, b) for a, b in zip(
        fits[0].coefs_ + fits[0].intercepts_,
        fits[1].coefs_ + fits[1].intercepts_))
    assert same != changes


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fit_sends_promptly_and_restores_the_clients_batching(
        client, digits, monkeypatch, solver):
    """While a fit runs its rounds, the client sends its messages to the
    scheduler at most SEND_INTERVAL apart (distributed batches them 10 ms
    apart, which every round's submissions would wait out); after the fit,
    and after a fit that fails, the client's own interval is back."""
    from fastbp.dask import _trainer

    X, y, _, _ = digits
    before = client.scheduler_comm.interval
    assert before > _trainer.SEND_INTERVAL
    seen = []
    round_total = _trainer._round_total

    def spy(*args, **kwargs):
        seen.append(client.scheduler_comm.interval)
        return round_total(*args, **kwargs)

    monkeypatch.setattr(_trainer, "_round_total", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fastbp_dask.MLPClassifier((8,), solver=solver, max_iter=2,
                                  random_state=0).fit(*_blocks(X, y))
    assert seen and set(seen) == {_trainer.SEND_INTERVAL}
    assert client.scheduler_comm.interval == before

    def failing(*args, **kwargs):
        seen.append(client.scheduler_comm.interval)
        raise RuntimeError("a round failed")

    monkeypatch.setattr(_trainer, "_round_total", failing)
    with pytest.raises(RuntimeError, match="a round failed"):
        fastbp_dask.MLPClassifier((8,), solver=solver, max_iter=2,
                                  random_state=0).fit(*_blocks(X, y))
    assert seen[-1] == _trainer.SEND_INTERVAL
    assert client.scheduler_comm.interval == before
