"""Which way the kernels are compiled: with the Numba internals fastbp is
tested with (the fast path), or through Numba's public API only.

The fast path uses Numba and llvmlite internals for three things:

- a compilation target of fastbp's own (``_target.py``): a code generator
  whose target machine prefers 512-bit vectors, used by fastbp's kernels
  only, so that nothing else Numba compiles in the process changes;
- calls between kernels through registered symbols rather than linking
  every callee into every caller (``_extern.py``), and kernels compiled
  without Numba's CPython wrapper (``_target.InternalKernel``), which keep
  compile time down;
- Numba's on-disk cache stamped with a digest of every kernel source, and
  cached kernels loaded without Numba's registries or their bitcode
  (``_cache_stamp.py``); array views and ``min``/``max`` lowered in place
  (``_views.py``, ``_minmax.py``).

All of them sit behind :data:`FAST_PATH`, decided once, here, when
``fastbp._kernels`` is imported: the Numba version must be one the fast path
is tested with, and every private name it uses must exist. Otherwise
fastbp warns once and takes the public path: ordinary ``numba.njit`` kernels
calling each other directly (Numba links callees itself), Numba's own cache
stamps and loading, and LLVM's choice of vector width. Results are the same
to rounding, compilation is slower. ``FASTBP_NUMBA_PUBLIC=1`` forces the
public path (without a warning); CI runs the kernel, cache and process tests
that way (``tests/test_public_path.py``).

Both paths use Numba's extension API (``numba.extending.intrinsic``, data
models, ``numba.core.cgutils`` and the target context's array helpers) for
the explicit SIMD vectors of ``simd.py`` and the bit tricks of ``losses.py``:
no public alternative exists without other kernels. Their names are checked
here too (:data:`MISSING_EXTENSION_API`); where one is missing, importing
the kernels fails with an ImportError that names it.
"""

import importlib
import importlib.util
import inspect
import os
import warnings

import numba

ENV_VAR = "FASTBP_NUMBA_PUBLIC"

# Numba versions (major, minor) the fast path is tested with.
TESTED_NUMBA = ((0, 68),)

# module -> names it must define, for the fast path.
_FAST_PATH_NAMES = {
    "llvmlite.binding": ("add_symbol", "parse_bitcode"),
    "numba.core.caching": ("Cache", "IndexDataCacheFile"),
    "numba.core.cgutils": ("get_or_insert_function", "if_unlikely",
                           "pack_array", "alloca_once", "unpack_tuple"),
    "numba.core.codegen": ("JITCPUCodegen", "CPUCodeLibrary", "JitEngine"),
    "numba.core.config": ("OPT", "DEBUG_NRT", "DEBUG_NRT_STACK_LIMIT",
                          "LLVM_REFPRUNE_PASS", "NRT_STATS", "CPU_FEATURES"),
    "numba.core.cpu": ("CPUContext",),
    "numba.core.externals": ("c_math_functions",),
    "numba.core.funcdesc": ("default_mangler",),
    "numba.core.imputils": ("fix_returning_optional", "impl_ret_borrowed"),
    "numba.core.registry": ("CPUTarget", "CPUDispatcher", "cpu_target"),
    "numba.core.runtime": ("rtsys", "nrtdynmod", "_nrt_python"),
    "numba.core.runtime._nrt_python": ("c_helpers", "memsys_enable_stats"),
    "numba.core.runtime.nrtdynmod": ("create_nrt_module",),
    "numba.core.utils": ("threadsafe_cached_property", "MACHINE_BITS"),
}

# module -> functions it must define, for the fast path, read off its source
# rather than imported: importing it costs what loading cached kernels
# avoids (``_views``).
_FAST_PATH_SOURCE_NAMES = {
    "numba.np.arrayobj": ("make_array", "populate_array"),
}

# (module, class) -> attributes the class must have.
_FAST_PATH_ATTRIBUTES = {
    ("numba.core.caching", "Cache"): (
        "load_overload", "_load_overload", "_guard_against_spurious_io_errors",
        "cache_path"),
    ("numba.core.caching", "IndexDataCacheFile"): ("save",),
    ("numba.core.codegen", "JITCodeLibrary"): ("get_pointer_to_function",),
    ("numba.core.codegen", "JITCPUCodegen"): (
        "_customize_tm_features", "magic_tuple", "create_library",
        "unserialize_library", "_get_host_cpu_features"),
    ("numba.core.codegen", "CPUCodeLibrary"): (
        "enable_object_caching", "add_ir_module", "finalize",
        "serialize_using_object_code", "_set_compiled_object", "_finalize_final_module",
        "_get_module_for_linking"),
    ("numba.core.cpu", "CPUContext"): ("init", "load_additional_registries",
                                       "add_linking_libs", "call_internal",
                                       "insert_user_function", "get_function"),
    ("numba.core.registry", "CPUTarget"): ("_toplevel_target_context",),
    ("numba.core.registry", "CPUDispatcher"): ("targetdescr", "enable_caching",
                                               "compile", "add_overload"),
}

# (module, class) -> instance attributes its methods must assign (read off
# the names their code uses: no instance is created).
_FAST_PATH_INSTANCE_ATTRIBUTES = {
    ("numba.core.caching", "Cache"): ("_cache_file",),
    ("numba.core.dispatcher", "Dispatcher"): ("_cache",),
    ("numba.core.base", "BaseContext"): ("_defns",),
    ("numba.core.dispatcher", "_DispatcherBase"): ("overloads",),
    ("numba.core.caching", "IndexDataCacheFile"): ("_source_stamp",),
    ("numba.core.codegen", "CPUCodeLibrary"): ("_shared_module",),
    ("numba.core.codegen", "JitEngine"): ("_defined_symbols",),
    ("numba.core.runtime", "rtsys"): ("_init", "_library"),  # its class
}

# Needed on both paths (simd.py, losses.py, _minmax.py).
_EXTENSION_API = {
    "numba.core.cgutils": ("get_or_insert_function", "get_item_pointer"),
    "numba.core.typing": ("signature",),
    "numba.extending": ("intrinsic", "overload", "models", "register_model"),
}


def _missing(names, attributes=None, instance_attributes=None,
             source_names=None):
    missing = []
    for module_name, required in (source_names or {}).items():
        try:
            spec = importlib.util.find_spec(module_name)
            with open(spec.origin, encoding="utf-8") as f:
                source = f.read()
        except (ImportError, AttributeError, TypeError, OSError):
            source = ""
        missing += [f"{module_name}.{name}" for name in required
                    if f"\ndef {name}(" not in source]
    for module_name, required in names.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(module_name)
            continue
        missing += [f"{module_name}.{name}" for name in required
                    if not hasattr(module, name)]
    for (module_name, class_name), required in (attributes or {}).items():
        cls = getattr(_import(module_name), class_name, None)
        missing += [f"{module_name}.{class_name}.{name}" for name in required
                    if cls is None or not hasattr(cls, name)]
    for (module_name, class_name), required in (
            instance_attributes or {}).items():
        cls = getattr(_import(module_name), class_name, None)
        if cls is not None and not isinstance(cls, type):
            cls = type(cls)
        used = {name for value in vars(cls).values() if callable(value)
                for name in getattr(getattr(inspect.unwrap(value), "__code__",
                                            None), "co_names", ())
                } if cls else set()
        missing += [f"{module_name}.{class_name}().{name}"
                    for name in required if name not in used]
    return missing


def _import(module_name):
    try:
        return importlib.import_module(module_name)
    except ImportError:
        return None


def _numba_version():
    try:
        return tuple(int(part) for part in numba.__version__.split(".")[:2])
    except ValueError:  # a development version string
        return None


def _decide(environ):
    """(fast path?, reason for the public path or None)."""
    if environ.get(ENV_VAR, "").strip() not in ("", "0"):
        return False, None  # asked for: no warning
    if _numba_version() not in TESTED_NUMBA:
        return False, (f"numba {numba.__version__} is not among the versions "
                       "fastbp's fast path is tested with ("
                       + ", ".join(f"{a}.{b}" for a, b in TESTED_NUMBA) + ")")
    missing = _missing(_FAST_PATH_NAMES, _FAST_PATH_ATTRIBUTES,
                       _FAST_PATH_INSTANCE_ATTRIBUTES,
                       _FAST_PATH_SOURCE_NAMES)
    if missing:
        return False, (f"numba {numba.__version__} lacks names fastbp's fast "
                       "path uses: " + ", ".join(missing))
    return True, None


class PublicPathWarning(RuntimeWarning):
    """fastbp compiles its kernels through Numba's public API only."""


FAST_PATH, REASON = _decide(os.environ)
if REASON is not None:
    warnings.warn(
        f"fastbp: {REASON}. Its kernels are compiled through Numba's public "
        "API instead: the same results to rounding, slower to compile (and "
        "without 512-bit vectors where LLVM prefers 256). Set "
        f"{ENV_VAR}=1 to choose this path without this warning.",
        PublicPathWarning, stacklevel=2)

MISSING_EXTENSION_API = _missing(_EXTENSION_API)
if MISSING_EXTENSION_API:
    raise ImportError(
        f"fastbp's kernels need Numba's extension API, and numba "
        f"{numba.__version__} lacks: " + ", ".join(MISSING_EXTENSION_API))
