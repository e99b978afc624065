"""A software-prefetch hint for numba kernels (LLVM's llvm.prefetch).

Multi-index hashing spends its time waiting on memory: every probe jumps to
a random bucket, every candidate to a random hash. The addresses are known
a few dozen steps ahead, so asking the CPU to start loading them early lets
the loads overlap instead of queueing. The hint never changes results.
"""

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_BYTE_POINTER = ir.IntType(8).as_pointer()
_I32 = ir.IntType(32)


def _prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    signature = types.void(array, index)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        function_type = ir.FunctionType(ir.VoidType(), [_BYTE_POINTER, _I32, _I32, _I32])
        function = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, function_type, "llvm.prefetch.p0i8"
        )
        read, keep, data_cache = ir.Constant(_I32, 0), ir.Constant(_I32, 3), ir.Constant(_I32, 1)
        builder.call(function, [builder.bitcast(pointer, _BYTE_POINTER), read, keep, data_cache])
        return context.get_dummy_value()

    return signature, codegen


#: prefetch(array, index): start loading array[index] into every cache level, for reading.
prefetch: Any = intrinsic(_prefetch)
