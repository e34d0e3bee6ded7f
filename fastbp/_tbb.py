"""Make Numba's ``tbb`` threading layer find the TBB that pip installed.

fastbp depends on the ``tbb`` wheel (x86-64 Linux and Windows) so that Numba
runs its parallel loops on TBB, which is safe in forked processes and for
parallel calls from several Python threads, and which leaves other OpenMP
libraries in the process alone. But the wheel puts its shared library in
``<prefix>/lib`` (``Library/bin`` on Windows), outside the loader's search
path, and Numba's ``tbbpool`` extension asks for ``libtbb.so.12`` by name
with no RPATH. Without help, Numba fails to load it and silently falls back
to GNU OpenMP: forked children of a process that fitted abort ("fork()
called from a process already using GNU OpenMP"), and a PyTorch epoch run
after a fit in the same process took 6 times longer.

:func:`load_wheel_tbb` finds the wheel's library through the distribution's
file list (``importlib.metadata``, wherever pip put it: a virtualenv,
``--user``, the system site-packages) and loads it with ``RTLD_LOCAL``.
When Numba later asks the loader for ``libtbb.so.12``, the loader returns
the library already in the process (it matches loaded libraries by their
soname, whatever their scope), so Numba picks ``tbb``, and picks the
wheel's TBB even where another TBB is installed system-wide. ``RTLD_LOCAL``
keeps TBB's symbols out of the process's global namespace: libraries loaded
later do not bind to them by name.

It must run before Numba's first parallel call (when Numba chooses its
layer), and not at ``import fastbp``, which would choose ``tbb`` for every
other library's parallel code too: ``_kernels/_layer.prepare_threading``
calls it before fastbp's first compiled call, if no parallel code has run
in the process yet. The user's
``NUMBA_THREADING_LAYER`` and ``NUMBA_THREADING_LAYER_PRIORITY`` are never
changed: loading a library chooses nothing, and where the user asked for
another layer no warning is given. On platforms without a ``tbb`` wheel
(aarch64, macOS on Apple silicon) nothing is done and Numba chooses as
usual. This module does not import numba.
"""

import ctypes
import os
import platform
import sys
import warnings
from importlib import metadata

# The library Numba's tbbpool extension links against (soname / DLL name).
if sys.platform.startswith("win"):
    LIBRARY_NAME = "tbb12.dll"
elif sys.platform == "darwin":
    LIBRARY_NAME = "libtbb.12.dylib"
else:
    LIBRARY_NAME = "libtbb.so.12"

# Where pyproject.toml's dependency marker installs the tbb wheel.
WHEEL_MACHINES = ("x86_64", "AMD64")

_loaded = []  # the path loaded, once


class TBBNotLoadedWarning(RuntimeWarning):
    """fastbp could not load TBB: Numba will run on another threading layer."""


def wheel_library_path(name=LIBRARY_NAME):
    """Absolute path of ``name`` among the installed ``tbb`` wheel's files.

    Returns
    -------
    path : str or None
        None when no ``tbb`` distribution is installed or it has no file of
        that name.
    """
    try:
        files = metadata.distribution("tbb").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == name:
            path = os.path.abspath(str(file.locate()))
            if os.path.exists(path):
                return path
    return None


def _user_chose_other_layer(environ):
    """Whether the environment asks Numba for a layer other than TBB first."""
    layer = environ.get("NUMBA_THREADING_LAYER", "default").strip().lower()
    if layer in ("omp", "workqueue", "forksafe"):
        return True
    priority = environ.get("NUMBA_THREADING_LAYER_PRIORITY", "").split()
    return layer == "default" and bool(priority) and priority[0] != "tbb"


def load_wheel_tbb(environ=None):
    """Load the ``tbb`` wheel's library so that Numba's ``tbb`` layer can.

    Parameters
    ----------
    environ : mapping, default os.environ
        Read for ``NUMBA_THREADING_LAYER`` and
        ``NUMBA_THREADING_LAYER_PRIORITY`` (only to decide whether a failure
        deserves a warning).

    Returns
    -------
    path : str or None
        The library loaded, or None when nothing was loaded.

    Warns
    -----
    TBBNotLoadedWarning
        Once, on a platform where fastbp depends on the ``tbb`` wheel, when
        its library cannot be found or loaded and the user did not ask
        Numba for another layer.
    """
    environ = os.environ if environ is None else environ
    if _loaded:
        return _loaded[0]
    if platform.machine() not in WHEEL_MACHINES:
        return None
    path = wheel_library_path()
    problem = None
    if path is None:
        problem = (f"the tbb package's {LIBRARY_NAME} was not found "
                   "(pip install tbb)")
    else:
        try:
            if sys.platform.startswith("win"):
                os.add_dll_directory(os.path.dirname(path))
            ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)
        except OSError as exc:
            problem = f"{path} could not be loaded ({exc})"
    if problem is None:
        _loaded.append(path)
        return path
    if not _user_chose_other_layer(environ):
        warnings.warn(
            f"fastbp could not load TBB: {problem}. Numba will run fastbp's "
            "parallel loops on its OpenMP or workqueue threading layer "
            "instead. With GNU OpenMP, a process that forks after a fit "
            "(multiprocessing, joblib) may abort its children, and other "
            "OpenMP libraries in the same process (PyTorch, ...) may slow "
            "down; with workqueue, fastbp runs concurrent fits one at a "
            "time. Set NUMBA_THREADING_LAYER to silence this warning.",
            TBBNotLoadedWarning, stacklevel=3)
    return None
