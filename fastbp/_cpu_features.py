"""Opt-in 512-bit vectors for the compiled kernels: ``FASTBP_AVX512=1``.

LLVM tunes code for recent Intel server cores to prefer 256-bit vectors, so
Numba emits no 512-bit instructions even where AVX-512 is available. Large
dense products run 20-28 % faster with 512-bit vectors on the machine the
benchmarks ran on, but small layers and batches run slower, so this is not
the default (see the README). It works through ``NUMBA_CPU_FEATURES``, which
Numba reads once, when it is imported, and which applies to everything Numba
compiles in the process. Hence:

- it must run before the first ``import numba`` (``fastbp/__init__`` calls
  it first thing);
- a ``NUMBA_CPU_FEATURES`` the user set is never changed;
- kernels compiled this way are cached separately from the default ones.

This module imports llvmlite only, never numba.
"""

import os
import sys
import warnings

ENV_VAR = "FASTBP_AVX512"


def prefer_512_bit_vectors(environ=None):
    """Set ``NUMBA_CPU_FEATURES`` for 512-bit vectors if the user asked.

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
    if environ.get(ENV_VAR, "0").strip() in ("", "0"):
        return None
    if environ.get("NUMBA_CPU_FEATURES"):
        return None  # the user's own setting wins
    if "numba" in sys.modules:
        warnings.warn(
            f"{ENV_VAR} has no effect: numba was imported before fastbp, "
            "and it reads its CPU features only once. Import fastbp first, "
            "or set NUMBA_CPU_FEATURES yourself.", RuntimeWarning,
            stacklevel=3)
        return None
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" not in features.split(","):
        return None
    environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"
    return environ["NUMBA_CPU_FEATURES"]
