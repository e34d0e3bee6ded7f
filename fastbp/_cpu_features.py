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

- it must run before the first ``import numba`` (``fastbp/__init__`` calls
  it first thing); if numba came first, nothing changes (with a warning
  only when ``FASTBP_AVX512=1`` asked for it explicitly);
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
    if "numba" in sys.modules:
        if flag not in ("", "0"):
            warnings.warn(
                f"{ENV_VAR}={flag} has no effect: numba was imported before "
                "fastbp, and it reads its CPU features only once. Import "
                "fastbp first, or set NUMBA_CPU_FEATURES yourself.",
                RuntimeWarning, stacklevel=3)
        return None
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" not in features.split(","):
        return None
    environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"
    return environ["NUMBA_CPU_FEATURES"]
