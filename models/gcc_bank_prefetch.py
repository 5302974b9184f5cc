"""A cache prefetch hint for numba kernels: the bank reads the next reports' flow state early.

``GccBank`` visits its flows in report order, so consecutive reports touch
different flows' rows, which are rarely still in cache. ``prefetch(array, row,
column)`` asks the CPU to start loading that element's cache line (LLVM's
``llvm.prefetch``: read, high locality, data cache) and returns at once; it
changes no value.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, cast

from numba import types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]

cgutils: Any = _cgutils  # numba's and llvmlite's internals carry no types
ir: Any = importlib.import_module("llvmlite.ir")


@intrinsic
def _prefetch(typingctx: Any, array: Any, row: Any, column: Any) -> Any:
    """Hint that ``array[row, column]`` (a 2-D array) will be read soon."""
    signature = types.void(array, row, column)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1], args[2]], wraparound=False
        )
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32]),
            "llvm.prefetch.p0",
        )
        # read (0), high temporal locality (3), data cache (1)
        builder.call(
            function, [builder.bitcast(pointer, byte_pointer), int32(0), int32(3), int32(1)]
        )
        return context.get_dummy_value()

    return signature, codegen


prefetch = cast(Callable[[Any, int, int], None], _prefetch)
