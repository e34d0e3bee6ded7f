"""512-bit vectors for the compiled kernels on AVX-512 CPUs (opt out with
``FASTBP_AVX512=0``).

LLVM tunes code for recent Intel server cores to prefer 256-bit vectors, so
Numba emits no 512-bit instructions even where AVX-512 is available. With
512-bit vectors (and the kernels' 64-byte aligned, padded workspaces) the
large dense products run 20-30 % faster on the machine the benchmarks ran
on, and whole epochs 7-13 % faster on the mnist and wide shapes, level on
the small ones (see the README). It works through ``NUMBA_CPU_FEATURES``,
which Numba reads once, when it is imported, and which applies to
everything Numba compiles in the process (and in child processes, which
inherit the environment variable). Hence:

- it must run before Numba creates its code generator, which happens when
  the first jitted function is defined, not when numba is imported
  (``fastbp/__init__`` calls it first thing). So a script that imports
  numba (or scikit-learn, dask, ... which do not define jitted functions)
  before fastbp still gets 512-bit kernels, the ones ``pip install``
  compiled. After another library has defined jitted functions, nothing
  changes (with a warning only when ``FASTBP_AVX512=1`` asked for it
  explicitly), and the kernels compile once more, for LLVM's default;
- a ``NUMBA_CPU_FEATURES`` the user set is never changed;
- ``FASTBP_AVX512=0`` keeps LLVM's choice;
- kernels compiled with either setting are cached separately.

This module imports llvmlite only, never numba.
"""

import os
import sys
import warnings

ENV_VAR = "FASTBP_AVX512"


def prefer_512_bit_vectors(environ=None):
    """Set ``NUMBA_CPU_FEATURES`` for 512-bit vectors unless opted out.

    Parameters
    ----------
    environ : mutable mapping, default os.environ
        The environment to read and update.

    Returns
    -------
    features : str or None
        The value set, or None when nothing was changed.
    """
    environ = os.environ if environ is None else environ
    flag = environ.get(ENV_VAR, "").strip()
    if flag == "0":
        return None
    if environ.get("NUMBA_CPU_FEATURES"):
        return None  # the user's own setting wins
    if _numba_codegen_started():
        if flag not in ("", "0"):
            warnings.warn(
                f"{ENV_VAR}={flag} has no effect: Numba compiled code before "
                "fastbp was imported, and it reads its CPU features only "
                "once. Import fastbp first, or set NUMBA_CPU_FEATURES "
                "yourself.", RuntimeWarning, stacklevel=3)
        return None
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" not in features.split(","):
        return None
    environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"
    config = sys.modules.get("numba.core.config")
    if config is not None and environ is os.environ:
        # numba is imported but has not read its CPU features yet: it reads
        # them from its config when it creates its code generator.
        config.reload_config()
    return environ["NUMBA_CPU_FEATURES"]


def _numba_codegen_started():
    """Whether Numba has created its CPU target (and code generator, which
    reads ``NUMBA_CPU_FEATURES`` once): done when the first jitted function
    is defined, not by ``import numba``."""
    registry = sys.modules.get("numba.core.registry")
    if registry is None:
        return False
    return "_toplevel_target_context" in vars(registry.cpu_target)
