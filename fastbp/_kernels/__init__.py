"""Everything Numba compiles. Nothing outside this package imports numba.

Kernels take arrays and scalars only, write into buffers their caller
passes, and allocate nothing in their loops.
"""

from . import (activations, backprop, dense, dropout, epoch, gather,
               losses, optimizers, predict)
from ._cache_stamp import stamp_dispatchers
from ._config import (HIDDEN_CODES, LOSS_CODES, MAX_CHUNKS, OUTPUT_CODES,
                      PREDICT_BLOCK, PREDICT_PACK_ROWS_PER_THREAD, PREDICT_SLOTS,
                      REDUCE_BLOCK, SOLVER_CODES)
from .epoch import _loss_grad, _run_epoch, _train, _train_kernel
from .predict import _predict_kernel, _predict_rows, packed_size

N_CACHED_KERNELS = stamp_dispatchers(
    [activations, backprop, dense, dropout, epoch, gather, losses,
     optimizers, predict])

__all__ = ["HIDDEN_CODES", "LOSS_CODES", "MAX_CHUNKS", "N_CACHED_KERNELS",
           "OUTPUT_CODES", "PREDICT_BLOCK", "PREDICT_PACK_ROWS_PER_THREAD",
           "PREDICT_SLOTS",
           "REDUCE_BLOCK", "SOLVER_CODES",
           "_loss_grad", "_predict_kernel", "_predict_rows", "_run_epoch",
           "_train", "_train_kernel", "packed_size"]
