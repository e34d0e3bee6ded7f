"""How many Numba threads a fit uses.

Numba starts ``NUMBA_NUM_THREADS`` threads, by default one per core, and
every parallel kernel uses all of them. Where several fits run at once, as
in Dask's worker processes (by default one per core, each running
``threads_per_worker`` tasks at a time), that makes ``n_workers x
threads_per_worker x cores`` busy threads on ``cores`` cores.

Dask's Nanny starts every worker process with ``OMP_NUM_THREADS=1`` (its
``distributed.nanny.pre-spawn-environ`` setting) so that the libraries a
task calls do not thread on top of Dask; it does not set
``NUMBA_NUM_THREADS``. fastbp therefore follows ``OMP_NUM_THREADS`` as
scikit-learn's OpenMP code does: a fit uses ``min(Numba's threads,
OMP_NUM_THREADS)`` threads. A choice the user made for Numba itself wins:
when ``NUMBA_NUM_THREADS`` is set, or ``numba.set_num_threads`` changed the
count on the calling thread, the count is left as it is.

Both variables are read once, when fastbp is imported, as an OpenMP runtime
reads ``OMP_NUM_THREADS`` when it loads. This matters because a
``LocalCluster`` writes ``OMP_NUM_THREADS=1`` into the environment of the
process that starts it, just before spawning its workers, and leaves it
there: that process's own fits must not drop to one thread.

The thread count never changes results: a batch is split by its size alone
(see ``_config``).
"""

import os
from contextlib import contextmanager

import numba

# The environment as it was when fastbp was imported (see above).
_ENVIRON = {name: os.environ[name]
            for name in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")
            if name in os.environ}


def fit_thread_count(current, configured, default, environ):
    """Number of Numba threads a fit should use.

    Parameters
    ----------
    current : int
        ``numba.get_num_threads()`` on the calling thread.
    configured : int
        ``numba.config.NUMBA_NUM_THREADS``: the size of Numba's pool.
    default : int
        ``numba.config.NUMBA_DEFAULT_NUM_THREADS``: the pool size Numba
        picks when nobody configures it (the usable cores).
    environ : mapping
        The environment (only ``OMP_NUM_THREADS`` and ``NUMBA_NUM_THREADS``
        are read).

    Returns
    -------
    n_threads : int
        ``current`` when the user chose Numba's thread count (through
        ``NUMBA_NUM_THREADS`` or ``numba.set_num_threads``); otherwise
        ``min(current, OMP_NUM_THREADS)`` when ``OMP_NUM_THREADS`` is set to
        a positive integer, else ``current``.
    """
    user_chose = ("NUMBA_NUM_THREADS" in environ or configured != default
                  or current != configured)
    omp_threads = _omp_num_threads(environ.get("OMP_NUM_THREADS"))
    if user_chose or omp_threads is None:
        return current
    return min(current, omp_threads)


def _omp_num_threads(value):
    """The first level of an ``OMP_NUM_THREADS`` value ("4" or "4,2"), or
    None when it is unset or not a positive integer."""
    try:
        n_threads = int(str(value).split(",")[0])
    except ValueError:
        return None
    return n_threads if n_threads > 0 else None


@contextmanager
def fit_threads():
    """Run the body with :func:`fit_thread_count` Numba threads.

    ``numba.set_num_threads`` acts on the calling thread only; the previous
    count is restored on exit, also when the body raises.

    Yields
    ------
    n_threads : int
        The number of threads in force inside the body.
    """
    current = numba.get_num_threads()
    n_threads = fit_thread_count(current, numba.config.NUMBA_NUM_THREADS,
                                 numba.config.NUMBA_DEFAULT_NUM_THREADS,
                                 _ENVIRON)
    if n_threads == current:
        yield current
        return
    numba.set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        numba.set_num_threads(current)
