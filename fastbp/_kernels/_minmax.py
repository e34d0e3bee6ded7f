"""``min`` and ``max`` of two numbers, lowered where they are called.

Numba implements the builtins ``min`` and ``max`` as overloads, and compiles
each combination of argument types as a function of its own (ints, literals,
floats: the kernels needed eight, and ``int()`` of a float one more, ~0.3 s
of each dtype's compilation). These intrinsics emit one comparison and one
select in the caller instead, with the result Python's builtins give:
``minimum(a, b)`` is ``b if b < a else a`` and ``maximum(a, b)`` is
``b if b > a else a`` (so a NaN ``a`` is returned, a NaN ``b`` is not), in
the type both arguments unify to.
"""

import operator

from numba import types
from numba.core.typing import signature
from numba.extending import intrinsic


def _typed(typingctx, a, b, op):
    result = typingctx.unify_types(types.unliteral(a), types.unliteral(b))
    if not isinstance(result, types.Number):
        return None

    def codegen(context, builder, sig, args):
        x, y = (context.cast(builder, value, ty, result)
                for value, ty in zip(args, sig.args))
        compare = context.get_function(
            op, signature(types.boolean, result, result))
        return builder.select(compare(builder, (y, x)), y, x)

    return result(a, b), codegen


@intrinsic
def minimum(typingctx, a, b):
    """Python's ``min(a, b)`` of two numbers."""
    return _typed(typingctx, a, b, operator.lt)


@intrinsic
def maximum(typingctx, a, b):
    """Python's ``max(a, b)`` of two numbers."""
    return _typed(typingctx, a, b, operator.gt)
