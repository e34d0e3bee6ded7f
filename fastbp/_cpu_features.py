"""512-bit vectors for the compiled kernels on AVX-512 CPUs (opt out with
``FASTBP_AVX512=0``).

LLVM tunes code for some AVX-512 CPUs (Intel's server cores) to prefer
256-bit vectors, so Numba emits no 512-bit instructions there even where
AVX-512 is available. With 512-bit vectors (and the kernels' 64-byte
aligned, padded workspaces) the large dense products ran 20-30 % faster on
such a CPU. LLVM's tuning for AMD's Zen 4 already prefers 512-bit vectors:
there this changes nothing but the kernels' cache key.

The features apply to fastbp's own code generator only
(``_kernels/_target.py``): ``import fastbp`` changes neither
``os.environ`` nor how Numba compiles anything else. Hence:

- a ``NUMBA_CPU_FEATURES`` the user set is used as it is;
- ``FASTBP_AVX512=0`` keeps LLVM's choice;
- kernels compiled with either setting are cached separately (the
  features are part of Numba's cache key).

This module imports neither numba nor llvmlite.
"""

import os

ENV_VAR = "FASTBP_AVX512"


def kernel_cpu_features(features, user_set=False, environ=None):
    """The CPU features fastbp's kernels are compiled for.

    Parameters
    ----------
    features : str
        The features Numba's code generator would use (LLVM's flattened
        feature string, ``+avx2,+avx512f,...``).
    user_set : bool
        Whether ``features`` came from the user's ``NUMBA_CPU_FEATURES``.
    environ : mapping, default os.environ
        Read for ``FASTBP_AVX512``.

    Returns
    -------
    features : str
        ``features`` with ``-prefer-256-bit`` appended where the CPU has
        AVX-512F, unless the user set the features or opted out.
    """
    environ = os.environ if environ is None else environ
    if user_set or environ.get(ENV_VAR, "").strip() == "0":
        return features
    if "+avx512f" not in features.split(","):
        return features
    return features + ",-prefer-256-bit"
