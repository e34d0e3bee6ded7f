"""Views of flat buffers as matrices, and of rows of a matrix as one flat
array, built directly rather than with ``reshape``; and small arrays on
the stack, rather than from ``np.empty``.

Numba compiles ``reshape`` through a helper of its own,
``numba.np.arrayobj.normalize_reshape_value``, whose environment is stored
with every kernel that reshapes; a process loading such a kernel from the
cache imports ``numba.np.arrayobj`` and, through it, ``numba.np.npyimpl``
and some twenty more of Numba's implementation modules (20 ms and 16,000
objects that the interpreter's exit then collects). The views here are
plain array structs: pointer, shape, strides, and the parent's reference to
its memory. ``np.empty`` in a kernel names ``numba.np.arrayobj`` the same
way.

Building array structs uses Numba internals (``numba.np.arrayobj``): on
Numba's public path (``_capabilities``) the same views come from slicing
and ``reshape``, and the small arrays from ``np.empty``.
"""

import numpy as np
from numba import types
from numba.extending import intrinsic

from ._capabilities import FAST_PATH
from ._config import jit

if FAST_PATH:
    from numba.core import cgutils
    from numba.core.imputils import impl_ret_borrowed


def _c_array(a, ndim):
    return isinstance(a, types.Array) and a.ndim == ndim and a.layout == "C"


def _build_view(context, builder, src_type, src, dst_type, offset, shape):
    """A C-contiguous ``dst_type`` array of ``shape`` (intp values) starting
    ``offset`` elements into the C-contiguous array ``src``."""
    # Imported here: needed while compiling, never when loading from cache.
    from numba.np.arrayobj import make_array, populate_array

    intp = context.get_value_type(types.intp)
    itemsize = context.get_constant(
        types.intp, context.get_abi_sizeof(
            context.get_data_type(src_type.dtype)))
    source = make_array(src_type)(context, builder, src)
    view = make_array(dst_type)(context, builder)
    strides = [itemsize]
    for extent in reversed(shape[1:]):
        strides.insert(0, builder.mul(strides[0], extent))
    populate_array(view,
                   data=builder.gep(source.data, [offset]),
                   shape=cgutils.pack_array(builder, shape, ty=intp),
                   strides=cgutils.pack_array(builder, strides, ty=intp),
                   itemsize=itemsize,
                   meminfo=source.meminfo,
                   parent=source.parent)
    return impl_ret_borrowed(context, builder, dst_type, view._getvalue())


@intrinsic
def matrix_view(typingctx, flat, offset, rows, cols):
    """(rows, cols) C-contiguous view of ``flat[offset:offset + rows*cols]``
    (unchecked)."""
    if not (_c_array(flat, 1) and all(isinstance(t, types.Integer)
                                      for t in (offset, rows, cols))):
        return None
    view_type = flat.copy(ndim=2)

    def codegen(context, builder, signature, args):
        src, offset_v, rows_v, cols_v = (
            context.cast(builder, v, t, types.intp) if i else v
            for i, (v, t) in enumerate(zip(args, signature.args)))
        return _build_view(context, builder, signature.args[0], src,
                           signature.return_type, offset_v, [rows_v, cols_v])

    return view_type(flat, offset, rows, cols), codegen


@intrinsic
def rows_flat(typingctx, matrix, r0, r1):
    """Rows r0 <= r < r1 of a C-contiguous matrix as one flat view
    (unchecked)."""
    if not (_c_array(matrix, 2) and isinstance(r0, types.Integer)
            and isinstance(r1, types.Integer)):
        return None
    view_type = matrix.copy(ndim=1)

    def codegen(context, builder, signature, args):
        src, r0_v, r1_v = args
        r0_v = context.cast(builder, r0_v, signature.args[1], types.intp)
        r1_v = context.cast(builder, r1_v, signature.args[2], types.intp)
        from numba.np.arrayobj import make_array

        ary = make_array(signature.args[0])(context, builder, src)
        cols = cgutils.unpack_tuple(builder, ary.shape, 2)[1]
        return _build_view(context, builder, signature.args[0], src,
                           signature.return_type, builder.mul(r0_v, cols),
                           [builder.mul(builder.sub(r1_v, r0_v), cols)])

    return view_type(matrix, r0, r1), codegen


@intrinsic
def stack_int64(typingctx, count):
    """A C-contiguous int64 array of ``count`` entries (a compile-time
    constant) on the calling function's stack: no allocation and no
    reference count, valid while that function runs (parallel loops it
    starts included). Entries start undefined."""
    if not isinstance(count, types.IntegerLiteral):
        return None
    n = count.literal_value
    array_type = types.Array(types.int64, 1, "C")

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array, populate_array

        intp = context.get_value_type(types.intp)
        itemsize = context.get_constant(types.intp, 8)
        data = cgutils.alloca_once(
            builder, context.get_value_type(types.int64), size=n)
        array = make_array(array_type)(context, builder)
        populate_array(
            array, data=data,
            shape=cgutils.pack_array(
                builder, [context.get_constant(types.intp, n)], ty=intp),
            strides=cgutils.pack_array(builder, [itemsize], ty=intp),
            itemsize=itemsize, meminfo=None)
        return array._getvalue()

    return array_type(count), codegen


@intrinsic
def bytes_as(typingctx, raw, dtype):
    """The C-contiguous uint8 matrix ``raw`` read as a matrix of ``dtype``
    (a numpy scalar type such as ``np.float64``), of shape (rows, cols //
    itemsize): ``raw.view(dtype)`` (unchecked: the row length a multiple
    of the itemsize, the data aligned for it). numpy's ``view`` in a
    kernel would make loading it import ``numba.np.arrayobj``."""
    if not (_c_array(raw, 2) and raw.dtype == types.uint8
            and isinstance(dtype, types.NumberClass)):
        return None
    element = dtype.instance_type
    view_type = raw.copy(dtype=element)

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import make_array, populate_array

        intp = context.get_value_type(types.intp)
        source = make_array(signature.args[0])(context, builder, args[0])
        rows, row_bytes = cgutils.unpack_tuple(builder, source.shape, 2)
        row_stride = cgutils.unpack_tuple(builder, source.strides, 2)[0]
        data_type = context.get_data_type(element)
        itemsize = context.get_constant(types.intp,
                                        context.get_abi_sizeof(data_type))
        view = make_array(view_type)(context, builder)
        populate_array(
            view, data=builder.bitcast(source.data, data_type.as_pointer()),
            shape=cgutils.pack_array(
                builder, [rows, builder.udiv(row_bytes, itemsize)], ty=intp),
            strides=cgutils.pack_array(builder, [row_stride, itemsize],
                                       ty=intp),
            itemsize=itemsize, meminfo=source.meminfo, parent=source.parent)
        return impl_ret_borrowed(context, builder, view_type,
                                 view._getvalue())

    return view_type(raw, dtype), codegen


if not FAST_PATH:
    @jit
    def bytes_as(raw, dtype):  # noqa: F811
        return raw.view(dtype)

    @jit
    def matrix_view(flat, offset, rows, cols):  # noqa: F811
        return flat[offset:offset + rows * cols].reshape((rows, cols))

    @jit
    def rows_flat(matrix, r0, r1):  # noqa: F811
        return matrix[r0:r1].reshape(matrix[r0:r1].size)

    @jit
    def stack_int64(count):  # noqa: F811
        return np.empty(count, np.int64)


@jit
def view(flat, offset, rows, cols):
    """C-contiguous (rows, cols) view of ``flat[offset:offset + rows*cols]``,
    which must lie inside ``flat``."""
    if (offset < 0 or rows < 0 or cols < 0
            or offset + rows * cols > flat.shape[0]):
        raise IndexError("matrix view outside its buffer")
    return matrix_view(flat, offset, rows, cols)
