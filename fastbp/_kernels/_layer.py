"""Numba's threading layer for fastbp's compiled calls.

fastbp depends on TBB where TBB has wheels, and Numba then picks its ``tbb``
threading layer, which is safe for parallel kernels launched from several
Python threads at once (as joblib's threading backend and Dask's threaded
scheduler do) and in forked processes. Numba chooses one layer per process,
at the first parallel call of any library, so importing fastbp does not
load TBB: :func:`prepare_threading` does, before fastbp's first compiled
call, and only if no parallel code has run in the process yet (then Numba
chooses ``tbb`` as it would with TBB on the loader's path). Where other
code ran parallel code first, fastbp runs on the layer Numba chose for it:
the same results, as they do not depend on threads.

Where only the ``workqueue`` layer is available, Numba aborts the whole
process when two threads enter a parallel region at the same time. There,
fastbp runs its compiled sections one at a time: slower for concurrent
fits, never a crash.
"""

import threading
from contextlib import nullcontext

import numba

from .._tbb import load_wheel_tbb

_LOCK = threading.RLock()
_PREPARED = []


def prepare_threading():
    """Before fastbp's first compiled call in the process: load the ``tbb``
    wheel's library if Numba has not chosen a threading layer yet."""
    if _PREPARED:
        return
    with _LOCK:
        if not _PREPARED:
            try:
                numba.threading_layer()  # chosen already: leave it
            except ValueError:
                load_wheel_tbb()
            _PREPARED.append(True)


def _layer_is_threadsafe():
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # no parallel region has run yet: layer not chosen
        return False


def compiled_section():
    """Context for a call into parallel compiled code: a process-wide lock
    under the ``workqueue`` layer (or before any layer is chosen), nothing
    otherwise."""
    prepare_threading()
    return nullcontext() if _layer_is_threadsafe() else _LOCK
