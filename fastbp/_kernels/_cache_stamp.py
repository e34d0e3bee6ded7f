"""Numba's on-disk cache: invalidated whenever any kernel source changes,
and written by one process at a time while ``fastbp.compile`` runs.

Numba keys a cached function on the one file that defines it. A kernel
that calls kernels from other files would therefore keep running their old
compiled code after those files change. ``stamp_dispatchers`` replaces
each dispatcher's source stamp with a digest of every kernel source (and
the Numba version), so that any change to any kernel makes every cached
entry stale and it is recompiled.

It also loads cached kernels without re-reading Numba's whole library of
implementations first, and without parsing the LLVM bitcode stored beside
their machine code (see ``_load_overload``).

Both use Numba internals: on Numba's public path (``_capabilities``) the
kernels keep Numba's own stamps (each file's modification time and size)
and loading. A change to one kernel file then does not invalidate the
cached callers in other files; an installed package's files do not change,
and reinstalling rewrites them all.
"""

import hashlib
import os
import struct
from functools import partial
from pathlib import Path

import numba

from ._capabilities import FAST_PATH

if FAST_PATH:
    import llvmlite.binding as llvm
    from numba.core.registry import CPUDispatcher, cpu_target

_KERNEL_DIR = Path(__file__).parent
_HELD_LOCKS = []


def kernel_digest():
    """sha256 of the Numba version and every kernel source file."""
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(_KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def stamp_dispatchers(modules):
    """Give every cached dispatcher in ``modules`` the kernel-wide stamp.

    Must run before the first call of any kernel (loading from the cache
    happens at the first call). Returns the number of dispatchers stamped
    (0 on Numba's public path, which keeps Numba's stamps).
    """
    if not FAST_PATH:
        return 0
    stamp = ("fastbp-kernels", kernel_digest())
    count = 0
    for module in modules:
        for obj in vars(module).values():
            cache_file = getattr(getattr(obj, "_cache", None), "_cache_file",
                                 None)
            if isinstance(obj, CPUDispatcher) and hasattr(cache_file,
                                                          "_source_stamp"):
                cache_file._source_stamp = stamp
                obj._cache.load_overload = partial(_load_overload, obj._cache)
                count += 1
    return count


def _load_overload(cache, sig, target_context):
    """``numba.core.caching.Cache.load_overload`` without its first step,
    ``target_context.refresh()``.

    The refresh installs every typing and lowering registry Numba has
    (importing some 90 modules on the first call of a process): what
    *compiling* needs, and compiling refreshes by itself. Machine code
    loaded from the cache needs only Numba's runtime (NRT) to be set up,
    and the modules its environments name, which unpickling imports. In a
    warm process this took 0.12 s off a first fit (digits, 50 epochs: 0.30
    -> 0.17 s) and left 30,000 fewer objects for the interpreter's exit to
    collect.

    It also sets up the runtime with :func:`_initialize_runtime` and
    rebuilds the kernel's code library with :func:`_unserialize_library`.
    """
    codegen = target_context.codegen()
    # Dispatcher.compile holds Numba's global compiler lock around this
    # call, as around every other use of the codegen: no other thread sees
    # the swapped method, which is put back as it was.
    own = vars(codegen).get("unserialize_library")
    codegen.unserialize_library = partial(_unserialize_library, codegen)
    try:
        _initialize_runtime(cache.cache_path)
        with cache._guard_against_spurious_io_errors():
            return cache._load_overload(sig, target_context)
    finally:
        if own is None:
            del codegen.unserialize_library
        else:
            codegen.unserialize_library = own


def _initialize_runtime(cache_dir):
    """``rtsys.initialize(cpu_target.target_context)``, with the runtime's
    compiled functions kept in fastbp's cache directory.

    Numba's runtime (NRT) has a few functions of its own (reference counts,
    atomics) that every process compiled with LLVM on first use: 14-20 ms
    of a warm process's first fit. Where fastbp sets the runtime up (its
    first kernel load in a process), it loads them from ``nrt-<key>.nbo``
    in the kernels' cache directory, or compiles them as Numba does and
    saves them there (ignoring a directory it cannot write). The key covers
    everything the code depends on: Numba's and llvmlite's versions, the
    CPU and its features as the code generator sees them, and the settings
    that change the functions (optimisation level, NRT debugging). They are
    compiled by Numba's own code generator, not fastbp's (``_target``), as
    they would be without fastbp: every library compiled later in the
    process links them in.
    """
    from numba.core.runtime import rtsys

    if rtsys._init:  # already set up (by Numba, or an earlier load)
        return
    import pickle

    import llvmlite
    from numba.core import config
    from numba.core.runtime import _nrt_python, nrtdynmod

    target_context = cpu_target.target_context
    codegen = target_context.codegen()
    key = repr((numba.__version__, llvmlite.__version__,
                codegen.magic_tuple(), config.OPT, config.DEBUG_NRT,
                config.DEBUG_NRT_STACK_LIMIT, config.LLVM_REFPRUNE_PASS))
    path = Path(cache_dir) / "nrt-{}.nbo".format(
        hashlib.sha256(key.encode()).hexdigest()[:16])
    try:
        with open(path, "rb") as f:
            saved_key, state = pickle.load(f)
    except Exception:  # absent, unreadable or truncated: compile
        saved_key = state = None
    # What rtsys.initialize does: register the C helpers' addresses, then
    # set up the compiled functions (here loaded, or compiled and saved).
    if config.NRT_STATS:
        _nrt_python.memsys_enable_stats()
    for py_name, address in _nrt_python.c_helpers.items():
        llvm.add_symbol(py_name if py_name.startswith("_")
                        else "NRT_" + py_name, address)
    if saved_key == key:
        library = _unserialize_library(codegen, state)
    else:
        module, library = nrtdynmod.create_nrt_module(target_context)
        library.enable_object_caching()
        library.add_ir_module(module)
        library.finalize()
        state = library.serialize_using_object_code()
        partial_path = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial_path, "wb") as f:
                pickle.dump((key, state), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(partial_path, path)  # readers see all of it or none
        except OSError:  # not writable, or full: compiled again next time
            try:
                partial_path.unlink(missing_ok=True)
            except OSError:
                pass
    rtsys._library = library
    rtsys._init = True


def _unserialize_library(codegen, state):
    """``codegen.unserialize_library(state)`` without parsing the library's
    bitcode until something links it.

    Numba caches a library as its machine code (an object file) and, for
    linking it into later compilations, its LLVM bitcode. Loading parses
    that bitcode and walks all its functions through llvmlite, one foreign
    call each, only to learn which symbols the library defines (so that
    ``get_pointer_to_function`` finds them). The object file's symbol table
    names the same symbols (``_elf_defined_symbols``); the bitcode is
    parsed when a compilation links the library (``_get_module_for_linking``),
    which a process that only loads kernels never does. A warm process's
    first fit (digits, 50 epochs) took 0.072-0.079 s before, 0.051-0.053 s
    after (five alternating processes, new virtualenvs). Object files other
    than ELF (macOS, Windows) take Numba's own path.
    """
    name, kind, data = state
    try:
        symbols = _elf_defined_symbols(data[0]) if kind == "object" else None
    except (struct.error, ValueError, IndexError):  # not an object file
        symbols = None  # as we can read it: Numba's path decides
    if symbols is None:
        return type(codegen).unserialize_library(codegen, state)
    object_code, shared_bitcode = data
    library = codegen.create_library(name)
    library.enable_object_caching()
    library._set_compiled_object(object_code)
    library._finalize_final_module()
    codegen._engine._defined_symbols |= symbols
    library._get_module_for_linking = partial(_module_for_linking, library,
                                              shared_bitcode)
    return library


def _module_for_linking(library, shared_bitcode):
    """What ``library._get_module_for_linking()`` returns after Numba's
    unserialisation: its bitcode parsed (once)."""
    if library._shared_module is None:
        library._shared_module = llvm.parse_bitcode(shared_bitcode)
    return library._shared_module


def _elf_defined_symbols(object_code):
    """Names of the functions and data an ELF64 little-endian object file
    defines (its symbol table's entries with a section, but section and
    file entries); None for any other object format, or none defined.
    Raises struct.error, ValueError or IndexError where it is cut short."""
    if object_code[:6] != b"\x7fELF\x02\x01":
        return None
    shoff, = struct.unpack_from("<Q", object_code, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", object_code, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", object_code,
                                   shoff + i * shentsize)
                for i in range(shnum)]
    names = set()
    for _, sh_type, _, _, offset, size, link, _, _, _ in sections:
        if sh_type != 2:  # SHT_SYMTAB
            continue
        strings = sections[link][4]
        for st_name, st_info, _, st_shndx, _, _ in struct.iter_unpack(
                "<IBBHQQ", object_code[offset:offset + size]):
            # SHN_UNDEF: a reference; STT_SECTION and STT_FILE: not symbols
            if st_shndx == 0 or st_name == 0 or st_info & 0xF in (3, 4):
                continue
            start = strings + st_name
            names.add(object_code[start:object_code.index(b"\0", start)]
                      .decode())
    return names or None


def serialise_cache_saves(lock_path):
    """Make Numba's cache saves in this process hold an exclusive file lock.

    Numba's cache index is a file that a save reads, extends and rewrites
    with no lock: two processes saving entries of one kernel at once could
    lose one of them or give two the same data file. ``fastbp.compile``'s
    worker processes call this, with one lock file for all of them. On
    Numba's public path, where saves cannot be wrapped, the process holds
    the lock from now until it exits: the workers compile one at a time.
    """
    import fcntl

    if not FAST_PATH:
        lock = open(lock_path, "a")  # closed, and unlocked, at exit
        fcntl.flock(lock, fcntl.LOCK_EX)
        _HELD_LOCKS.append(lock)
        return

    from numba.core.caching import IndexDataCacheFile

    save = IndexDataCacheFile.save

    def locked_save(self, key, data):
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                save(self, key, data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    IndexDataCacheFile.save = locked_save
