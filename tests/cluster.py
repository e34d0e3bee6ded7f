"""A dask.distributed LocalCluster for the Dask tests."""

import os
from contextlib import contextmanager


@contextmanager
def local_cluster(n_workers, set_as_default=True):
    """A Client on a LocalCluster of ``n_workers`` processes, 1 thread each.

    The dashboard gets a free port (the default 8787 may be taken on a
    shared machine). The cluster's Nanny writes its pre-spawn-environ
    (OMP_NUM_THREADS=1, ...) into this process's environment and leaves it
    there; it is restored afterwards so that later tests' subprocesses do
    not inherit it. ``set_as_default`` as ``distributed.Client``'s.

    The cluster's ``distributed.deploy.lost-worker-timeout`` is an hour,
    not 15 s: 15 s after the scheduler loses a worker, the cluster closes
    that worker's Nanny for good if no worker of its name is registered at
    that moment. The worker-death tests kill the same worker a few seconds
    apart: a death whose restart straddled an earlier death's 15 s left the
    cluster one worker short.
    """
    import dask
    import distributed

    environ = dict(os.environ)
    try:
        with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}), \
                distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True,
                dashboard_address=":0") as cluster, \
                distributed.Client(
                    cluster, set_as_default=set_as_default) as client:
            yield client
    finally:
        for name in set(os.environ) - set(environ):
            del os.environ[name]
        os.environ.update(environ)
