"""Explicit SIMD vectors for the products' register tiles.

LLVM vectorises a plain loop along C's rows (``C[r, j] += a * B[k, j]``)
only as far as its loop vectoriser sees fit: 16 float32 lanes interleaved
four times, with a scalar loop for the rest of the row, so rows of 100
entries ran one third in scalar code, and tiles of several rows written out
by hand were not vectorised at all. Here a register tile is written with
vectors directly: a :class:`Vector` is one 512-bit LLVM vector of the
array's dtype (16 float32 or 8 float64 lanes; LLVM splits it into two or
four registers on CPUs with narrower vectors), and the functions below are
Numba intrinsics that compile to single LLVM vector instructions.

Loads and stores take a lane count: the lanes at and beyond it are neither
read nor written (LLVM's masked load and store), so a row whose length is
not a multiple of the vector width needs neither padding nor a scalar tail,
and nothing is ever read past the end of an array.

With Numba's bounds checking on (``NUMBA_BOUNDSCHECK=1``), a load or store
checks the first and the last entry it touches, and ``splat_at`` its entry,
as ``a[i, j]`` is checked: an IndexError instead of an access outside the
array. Without it they compile to the vector instruction alone.
"""

import llvmlite.ir as ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

VECTOR_BYTES = 64


class Vector(types.Type):
    """Numba type of a 512-bit vector of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = VECTOR_BYTES * 8 // dtype.bitwidth
        super().__init__(name=f"Vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type,
                         ir.VectorType(element, fe_type.lanes))


def _float_array(a, ndim):
    return (isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C"
            and a.dtype in (types.float32, types.float64))


def _mask(builder, lanes, count):
    """<lanes x i1>: lane i is on iff i < count."""
    i64 = ir.IntType(64)
    vector = ir.VectorType(i64, lanes)
    first = builder.insert_element(ir.Constant(vector, ir.Undefined),
                                   builder.sext(count, i64)
                                   if count.type.width < 64 else count,
                                   ir.Constant(ir.IntType(32), 0))
    counts = builder.shuffle_vector(
        first, first, ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                  [0] * lanes))
    return builder.icmp_signed("<", ir.Constant(vector, list(range(lanes))),
                               counts)


def _suffix(vector_type):
    element = "f32" if vector_type.element == ir.FloatType() else "f64"
    return f"v{vector_type.count}{element}"


def _pointer(context, builder, aryty, ary, indices, count=None):
    """Address of ``ary[indices]``; under bounds checking, the entries from
    there to ``count`` along the last axis (one without ``count``) are
    checked to lie inside the array."""
    array = context.make_array(aryty)(context, builder, ary)
    if context.enable_boundscheck:
        if count is None:
            cgutils.get_item_pointer(context, builder, aryty, array, indices,
                                     boundscheck=True)
        else:
            if count.type.width < indices[-1].type.width:
                count = builder.sext(count, indices[-1].type)
            nonempty = builder.icmp_signed(">", count,
                                           ir.Constant(count.type, 0))
            with builder.if_then(nonempty):
                last = builder.sub(builder.add(indices[-1], count),
                                   ir.Constant(count.type, 1))
                for checked in (indices, [*indices[:-1], last]):
                    cgutils.get_item_pointer(context, builder, aryty, array,
                                             checked, boundscheck=True)
    return cgutils.get_item_pointer(context, builder, aryty, array, indices,
                                    wraparound=False)


def _masked_load(context, builder, aryty, pointer, count, vt):
    ll = context.get_value_type(vt)
    mask = _mask(builder, vt.lanes, count)
    fnty = ir.FunctionType(ll, [pointer.type, ir.IntType(32), mask.type, ll])
    fn = cgutils.get_or_insert_function(
        builder.module, fnty, f"llvm.masked.load.{_suffix(ll)}.p0")
    align = ir.Constant(ir.IntType(32), aryty.dtype.bitwidth // 8)
    return builder.call(fn, [pointer, align, mask, ir.Constant(ll, None)])


@intrinsic
def lanes(typingctx, a):
    """Lanes of a Vector of array ``a``'s dtype (a compile-time constant)."""
    if not isinstance(a, types.Array):
        return None
    n = Vector(a.dtype).lanes

    def codegen(context, builder, signature, args):
        return context.get_constant(types.intp, n)
    return types.intp(a), codegen


@intrinsic
def load(typingctx, a, i, j, count):
    """Vector of ``a[i, j:j + count]`` (2-D ``a``), lanes from ``count``
    on zero; ``count`` is at most the lanes."""
    if not _float_array(a, 2):
        return None
    vt = Vector(a.dtype)

    def codegen(context, builder, signature, args):
        ary, i, j, count = args
        pointer = _pointer(context, builder, a, ary, [i, j], count)
        return _masked_load(context, builder, a, pointer, count, vt)
    return vt(a, i, j, count), codegen


@intrinsic
def load1(typingctx, a, j, count):
    """Vector of ``a[j:j + count]`` (1-D ``a``), lanes from ``count`` on
    zero."""
    if not _float_array(a, 1):
        return None
    vt = Vector(a.dtype)

    def codegen(context, builder, signature, args):
        ary, j, count = args
        pointer = _pointer(context, builder, a, ary, [j], count)
        return _masked_load(context, builder, a, pointer, count, vt)
    return vt(a, j, count), codegen


@intrinsic
def store(typingctx, a, i, j, count, v):
    """``a[i, j:j + count] = v[:count]`` (2-D ``a``)."""
    if not (_float_array(a, 2) and a.mutable and isinstance(v, Vector)
            and v.dtype == a.dtype):
        return None

    def codegen(context, builder, signature, args):
        ary, i, j, count, value = args
        pointer = _pointer(context, builder, a, ary, [i, j], count)
        mask = _mask(builder, v.lanes, count)
        fnty = ir.FunctionType(ir.VoidType(), [value.type, pointer.type,
                                               ir.IntType(32), mask.type])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, f"llvm.masked.store.{_suffix(value.type)}"
                                  ".p0")
        align = ir.Constant(ir.IntType(32), a.dtype.bitwidth // 8)
        builder.call(fn, [value, pointer, align, mask])
        return context.get_dummy_value()
    return types.none(a, i, j, count, v), codegen


@intrinsic
def splat(typingctx, x):
    """Vector with every lane ``x`` (float32 or float64)."""
    if x not in (types.float32, types.float64):
        return None
    vt = Vector(x)

    def codegen(context, builder, signature, args):
        ll = context.get_value_type(vt)
        first = builder.insert_element(ir.Constant(ll, ir.Undefined), args[0],
                                       ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(
            first, first, ir.Constant(ir.VectorType(ir.IntType(32), vt.lanes),
                                      [0] * vt.lanes))
    return vt(x), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c, lane by lane, rounded once (LLVM's fma)."""
    if not (isinstance(c, Vector) and a == c and b == c):
        return None

    def codegen(context, builder, signature, args):
        ll = args[2].type
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ll, [ll, ll, ll]),
            f"llvm.fma.{_suffix(ll)}")
        return builder.call(fn, args)
    return c(a, b, c), codegen


@intrinsic
def relu(typingctx, v):
    """0 in lanes below 0, the lane otherwise (NaN stays NaN), as
    ``activations._relu``."""
    if not isinstance(v, Vector):
        return None

    def codegen(context, builder, signature, args):
        zero = ir.Constant(args[0].type, None)
        negative = builder.fcmp_ordered("<", args[0], zero)
        return builder.select(negative, zero, args[0])
    return v(v), codegen


@intrinsic
def lane(typingctx, v, q):
    """Lane ``q`` of vector ``v`` (0 <= q < lanes), a scalar."""
    if not (isinstance(v, Vector) and isinstance(q, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return builder.extract_element(args[0], args[1])
    return v.dtype(v, q), codegen


@intrinsic
def hsum4(typingctx, v0, v1, v2, v3):
    """A vector whose lanes 0..3 are the sums of the lanes of v0..v3 (the
    other lanes zero): pairs of halves added, always in the same order, so
    that four sums take nine vector additions, not four full reductions."""
    if not (isinstance(v0, Vector) and v0 == v1 == v2 == v3):
        return None

    def codegen(context, builder, signature, args):
        n = v0.lanes
        i32 = ir.IntType(32)

        def pick(a, b, lanes):
            return builder.shuffle_vector(
                a, b, ir.Constant(ir.VectorType(i32, len(lanes)), lanes))

        def fold(a, b):
            """Each of a and b holds two sources in its halves; the result
            holds the four, each source's two quarters added."""
            q = n // 4
            low = [i for h in (0, n // 2) for i in range(h, h + q)]
            low = low + [n + i for i in low]
            high = [i + q for i in low]
            return builder.fadd(pick(a, b, low), pick(a, b, high))

        half = n // 2
        first = list(range(half)) + list(range(n, n + half))
        second = [i + half for i in first]
        a = builder.fadd(pick(args[0], args[1], first),
                         pick(args[0], args[1], second))
        b = builder.fadd(pick(args[2], args[3], first),
                         pick(args[2], args[3], second))
        value = fold(a, b)  # four sources, n / 4 lanes each
        g = n // 4
        while g > 1:
            g //= 2
            low = [s * 2 * g + i for s in range(4) for i in range(g)]
            high = [i + g for i in low]
            value = builder.fadd(pick(value, value, low),
                                 pick(value, value, high))
        zero = ir.Constant(value.type, None)
        return pick(value, zero, [0, 1, 2, 3] + [4] * (n - 4))
    return v0(v0, v1, v2, v3), codegen


@intrinsic
def add(typingctx, a, b):
    """a + b, lane by lane."""
    if not (isinstance(a, Vector) and a == b):
        return None

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])
    return a(a, b), codegen


@intrinsic
def splat_at(typingctx, a, i, j):
    """Vector with every lane ``a[i, j]`` (2-D ``a``, non-negative i and j):
    the entry's address is computed without the wraparound of negative
    indices that ``a[i, j]`` compiles to, so that LLVM sees the entries a
    tile broadcasts as fixed offsets from one address."""
    if not _float_array(a, 2):
        return None
    vt = Vector(a.dtype)

    def codegen(context, builder, signature, args):
        ary, i, j = args
        pointer = _pointer(context, builder, a, ary, [i, j])
        x = builder.load(pointer)
        ll = context.get_value_type(vt)
        first = builder.insert_element(ir.Constant(ll, ir.Undefined), x,
                                       ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(
            first, first, ir.Constant(ir.VectorType(ir.IntType(32), vt.lanes),
                                      [0] * vt.lanes))
    return vt(a, i, j), codegen
