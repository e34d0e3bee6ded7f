"""Calls between kernels that compile the callee once, not once per caller.

Numba compiles each jitted function called from compiled code into a
module of its own, links that module into every caller, and optimises and
generates machine code for the caller's whole module again. Along a chain
of calls (a product inside a layer inside a chunk inside a parallel loop
inside the epoch) the leaves were compiled once per level: 16 s for one
dtype's training entry, most of it the same code over again.

``extern(kernel, signatures)`` gives a handle that compiled code calls like
the kernel. For the argument types of ``signatures(dtype)`` the kernel is
compiled (or loaded from Numba's cache) once, when :func:`register` runs for
that dtype, and its machine code is registered with LLVM under a name that
is the same in every process; a caller's module then holds only a
declaration of that name, which the loader resolves, in this process or in
a later one loading the caller from the cache. Kernels run as fast as
before (nothing is inlined across the call, and these kernels are large
enough that it does not matter); each costs a few nanoseconds per call.

Arguments a kernel only reads are declared read-only arrays
(:func:`readonly`): a caller's writable array converts to that type at no
cost, so one compiled kernel serves the caller's buffers and the user's
read-only data (joblib's memory maps, arrays a Dask worker unpickled)
alike. The entry points' wrappers pass their inputs as read-only views
(:func:`read_only`), so each entry point has one specialisation per dtype
whatever the flags of the user's arrays. For other argument types the
handle falls back to Numba's ordinary call, which links the kernel into
the caller: slower to compile, same result.

Calls through handles cost nothing measurable on the epochs: with every
kernel, down to the per-row activations, called through one, the small
networks' epochs ran as fast as with those inlined (tiny 0.0061 vs 0.0065
s, reg 0.026-0.028 s, compare_peers.py --peers fastbp), and one dtype
compiled in 8.8 s instead of 10.1 s.

The one rule that keeps this safe: **register a dtype before calling any
entry point with it** (``register(dtype, modules)``; the wrappers
``epoch._train``, behind ``_run_epoch`` and ``_loss_grad``, and
``predict._predict_rows`` do it, each for the kernel modules its entry
point calls into, so that a process that only predicts never compiles or
loads the training kernels). A cached caller whose declarations were never
registered in the process cannot be loaded. Every entry point is reached
through those wrappers; the jitted entry points are private to them.

This uses Numba internals that have been stable for years (the calling
convention of compiled functions, ``funcdesc.default_mangler``, code
libraries' function pointers); ``tests/test_kernels.py`` and the cache tests
in ``tests/test_processes.py`` exercise every handle. On Numba's public path
(``_capabilities``) a handle is the kernel itself, which Numba links into
each caller, and :func:`register` does nothing.
"""

import threading

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._capabilities import FAST_PATH

if FAST_PATH:
    import llvmlite.binding as llvm
    from numba.core import cgutils, funcdesc
    from numba.core.imputils import fix_returning_optional

_HANDLES = []  # in creation order: callees are created before callers
# (kernel name, argument types) of every call compiled as a linked call
# because its types matched no registered signature.
LINKED_CALLS = []
_REGISTERED = set()  # (dtype, module) pairs
_DONE = set()  # (dtype, tuple of modules) of register calls that completed
_LOCK = threading.Lock()


class _Extern:
    """The callable-from-compiled-code handle of one kernel."""

    def __init__(self, kernel, signatures):
        self.kernel = kernel
        self.signatures = signatures
        # "fastbp._kernels.dense" -> "dense"
        self.module = kernel.py_func.__module__.rpartition(".")[2]
        self.table = {}  # argument types -> (symbol, compile result)
        self.call = _make_intrinsic(self)

    def register(self, dtype):
        for argtypes in self.signatures(_scalar(dtype)):
            argtypes = tuple(argtypes)
            self.kernel.compile(argtypes)
            cres = self.kernel.overloads[argtypes]
            symbol = funcdesc.default_mangler(
                "fastbp." + self.kernel.py_func.__qualname__, argtypes)
            llvm.add_symbol(symbol, cres.library.get_pointer_to_function(
                cres.fndesc.llvm_func_name))
            self.table[argtypes] = (symbol, cres)

    def lookup(self, typingctx, argtypes):
        """The registered argument types ``argtypes`` convert to, or None."""
        if argtypes in self.table:
            return argtypes
        for candidate in self.table:
            if len(candidate) == len(argtypes) and all(
                    _converts_safely(typingctx, a, c)
                    for a, c in zip(argtypes, candidate)):
                return candidate
        return None


def _converts_safely(typingctx, actual, declared):
    """Only conversions that keep the value: literals to their type,
    integers to int64, and writable arrays to the same arrays read-only."""
    if actual == declared:
        return True
    if isinstance(declared, types.Array) and isinstance(actual, types.Array):
        return not declared.mutable and actual.copy(readonly=True) == declared
    if isinstance(declared, types.Integer) and isinstance(
            types.unliteral(actual), types.Integer):
        return True
    return types.unliteral(actual) == declared


def _make_intrinsic(handle):
    def typer(typingctx, *argtypes):
        argtypes = tuple(argtypes)
        declared = handle.lookup(typingctx, argtypes)
        if declared is not None:
            symbol, cres = handle.table[declared]
            return cres.signature.return_type(*argtypes), _extern_call(
                symbol, cres, declared)
        # Not registered: Numba's ordinary call, the kernel linked in.
        LINKED_CALLS.append((handle.kernel.__name__, argtypes))
        handle.kernel.compile(argtypes)
        cres = handle.kernel.overloads[argtypes]
        return cres.signature.return_type(*argtypes), _linked_call(cres)

    # @intrinsic reads the number of arguments off the typer's signature.
    n_args = handle.kernel.py_func.__code__.co_argcount
    names = ", ".join(f"a{i}" for i in range(n_args))
    namespace = {"typer": typer}
    exec(f"def call(typingctx, {names}):\n"
         f"    return typer(typingctx, {names})\n", namespace)
    call = namespace["call"]
    call.__name__ = call.__qualname__ = "call_" + handle.kernel.__name__
    return intrinsic(call)


def _extern_call(symbol, cres, declared):
    def codegen(context, builder, signature, args):
        args = [context.cast(builder, value, actual, to)
                for value, actual, to in zip(args, signature.args, declared)]
        return_type = cres.signature.return_type
        fnty = context.call_conv.get_function_type(return_type, declared)
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        context.call_conv.decorate_function(fn, cres.fndesc.args, declared,
                                            noalias=cres.fndesc.noalias)
        status, result = context.call_conv.call_function(
            builder, fn, return_type, declared, args)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return fix_returning_optional(context, builder, signature, status,
                                      result)
    return codegen


def _linked_call(cres):
    def codegen(context, builder, signature, args):
        context.add_linking_libs([cres.library])
        return context.call_internal(builder, cres.fndesc, cres.signature,
                                     args)
    return codegen


def _scalar(dtype):
    return {np.dtype(np.float32): types.float32,
            np.dtype(np.float64): types.float64}[np.dtype(dtype)]


def extern(kernel, signatures):
    """A handle compiled code calls instead of ``kernel``.

    Parameters
    ----------
    kernel : numba dispatcher
    signatures : callable
        ``signatures(float_type)`` returns the argument-type tuples to
        compile and register for that float type (``types.float32`` or
        ``types.float64``).

    Returns
    -------
    call : numba intrinsic or dispatcher
        Call it from compiled code with the kernel's arguments (on Numba's
        public path, ``kernel`` itself).
    """
    if not FAST_PATH:
        return kernel
    handle = _Extern(kernel, signatures)
    _HANDLES.append(handle)
    return handle.call


def register(dtype, modules):
    """Compile or load the kernels of the handles defined in ``modules``
    (names in ``fastbp._kernels``, e.g. ``("dense", "predict")``) for
    ``dtype`` and register them; must run before compiled code that calls
    them is compiled or loaded in this process. Cheap after the first call.
    """
    key = (dtype, tuple(modules))  # tuple(): a list is not hashable
    if key in _DONE or not FAST_PATH:  # the common case, in one lookup
        return
    dtype = np.dtype(dtype)
    with _LOCK:
        for handle in _HANDLES:  # callees first
            if handle.module in modules and (
                    (dtype, handle.module) not in _REGISTERED):
                handle.register(dtype)
        _REGISTERED.update((dtype, module) for module in modules)
        _DONE.add(key)


def array(dtype, ndim):
    """The Numba type of a writable C-contiguous array."""
    return types.Array(dtype, ndim, "C")


def readonly(dtype, ndim):
    """The Numba type of a read-only C-contiguous array: for arguments a
    kernel only reads (writable arrays convert to it)."""
    return types.Array(dtype, ndim, "C", readonly=True)


def read_only(a):
    """``a``, or a read-only view of it: what the entry points take."""
    if not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view
