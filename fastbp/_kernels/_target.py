"""fastbp's own compilation target: Numba's CPU target with a code generator
of its own, used by fastbp's kernels and nothing else (fast path only; see
``_capabilities``).

LLVM tunes code for some AVX-512 CPUs (Intel's server cores among them) to
prefer 256-bit vectors, and then emits no 512-bit instructions, where the
kernels' products run 20-30 % faster with them. Numba takes the CPU features
of its one process-wide code generator from ``NUMBA_CPU_FEATURES``; setting
it would change how every other library's Numba code compiles, make their
cached functions miss (the features are part of Numba's cache key), and be
inherited by child processes. Instead, fastbp's dispatchers compile in a
target context of their own (:class:`_Context`), whose code generator's
target machine has the host's features and ``-prefer-256-bit``
(:func:`fastbp._cpu_features.kernel_cpu_features`). Everything else,
other libraries' code, Numba's runtime functions and the ``@overload``
implementations a kernel uses, compiles in Numba's own context as without
fastbp. The features are part of the key of fastbp's cached kernels (Numba
keys on the code generator's ``magic_tuple``), so kernels compiled for
other features never load, and the decision needs no environment
variable: child processes (Dask workers, joblib's loky) make it again.

Per-function LLVM attributes (``"prefer-vector-width"="512"``) would do
the same for the functions they mark, but llvmlite cannot write string
attributes, and the loops Numba compiles for ``prange`` bodies are separate
functions in libraries of their own; a context of our own covers them as
well.
"""

import os

from numba.core import codegen, config, cpu, externals, types, utils
from numba.core.registry import CPUDispatcher, CPUTarget, cpu_target
from numba.core.runtime import rtsys
from numba.core.utils import threadsafe_cached_property

from .._cpu_features import kernel_cpu_features


class _Codegen(codegen.JITCPUCodegen):
    """Numba's JIT code generator with :func:`kernel_cpu_features`."""

    def _customize_tm_features(self):
        return kernel_cpu_features(super()._customize_tm_features(),
                                   user_set=config.CPU_FEATURES is not None,
                                   environ=os.environ)


class _Context(cpu.CPUContext):
    """Numba's CPU target context with a :class:`_Codegen`."""

    def init(self):
        # CPUContext.init with another code generator (and no s390x ABI
        # library: the kernels target x86-64 and aarch64).
        self.is32bit = utils.MACHINE_BITS == 32
        self._internal_codegen = _Codegen("numba.exec")
        externals.c_math_functions.install(self)

    def get_function(self, fn, sig, _firstcall=True):
        try:
            return super().get_function(fn, sig, _firstcall)
        except NotImplementedError:
            # A function compiled in Numba's own context (the implementation
            # of an @overload, which Numba compiles with a dispatcher of its
            # own): use its definition there.
            numba_functions = cpu_target.target_context._defns
            key = (fn.get_impl_key(sig.as_function())
                   if isinstance(fn, types.Callable) else fn)
            if key not in numba_functions:
                raise
            self._defns[key] = numba_functions[key]
            return super().get_function(fn, sig, _firstcall)

    def load_additional_registries(self):
        # Numba's runtime functions are linked into every library compiled
        # after they are: compile them in Numba's own context, as they
        # would be without fastbp.
        rtsys.initialize(cpu_target.target_context)
        super().load_additional_registries()


class _Target(CPUTarget):
    """Numba's CPU target (shared typing context) with a :class:`_Context`."""

    @threadsafe_cached_property
    def _toplevel_target_context(self):
        return _Context(self.typing_context, self._target_name)

    @property
    def typing_context(self):
        return cpu_target.typing_context


kernel_target = _Target("cpu")


class KernelDispatcher(CPUDispatcher):
    """A dispatcher that compiles in fastbp's target.

    Code compiled in Numba's own context may call a kernel too (an
    ``@overload`` implementation among the kernels, a user's ``@njit``
    function): each compiled or loaded kernel is also made known to that
    context, as Numba does in the context a function compiles in.
    """

    targetdescr = kernel_target

    def add_overload(self, cres):
        super().add_overload(cres)
        cpu_target.target_context.insert_user_function(
            cres.entry_point, cres.fndesc, [cres.library])


class InternalKernel(KernelDispatcher):
    """A kernel compiled for calls from compiled code only.

    Numba gives every compiled function a CPython wrapper (unboxing each
    argument, boxing the result) unless ``no_cpython_wrapper`` is set. Only
    the entry points (``jit_entry*``) are called from Python; leaving the
    wrapper out of every other kernel took 0.8-2.3 s off each dtype's
    compilation (9.1-11.3 s before, in alternating runs). Numba's
    dispatcher would call the missing wrapper through a null pointer, so
    calling one of these from Python raises instead.
    """

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"{self.py_func.__qualname__} is compiled without a Python "
            "wrapper: call it from a jitted function.")


def make_jit(dispatcher, *, cache, **options):
    """``numba.njit(**options)`` for a ``dispatcher`` class."""
    def decorate(func):
        kernel = dispatcher(py_func=func, locals={}, targetoptions=dict(
            options, nopython=True, boundscheck=None))
        if cache:
            kernel.enable_caching()
        return kernel
    return decorate
