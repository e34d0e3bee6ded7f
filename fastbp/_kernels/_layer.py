"""Guard against Numba threading layers that cannot run concurrent calls.

fastbp depends on TBB where TBB has wheels, and Numba then picks its ``tbb``
threading layer, which is safe for parallel kernels launched from several
Python threads at once (as joblib's threading backend and Dask's threaded
scheduler do) and in forked processes. Where only the ``workqueue`` layer
is available, Numba aborts the whole process when two threads enter a
parallel region at the same time. There, fastbp runs its compiled sections
one at a time: slower for concurrent fits, never a crash.
"""

import threading
from contextlib import nullcontext

import numba

_LOCK = threading.RLock()


def _layer_is_threadsafe():
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel region has run yet: layer not chosen
        return False


def compiled_section():
    """Context for a call into parallel compiled code: a process-wide lock
    under the ``workqueue`` layer (or before any layer is chosen), nothing
    otherwise."""
    return nullcontext() if _layer_is_threadsafe() else _LOCK
