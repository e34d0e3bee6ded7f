"""Compilation settings and integer codes shared by every kernel.

Everything Numba-specific that is a choice rather than a formula lives here:
the ``fastmath`` flag set, caching, and the constants that decide how a batch
is split for parallel gradient accumulation.

The chunking constants depend on the batch only, never on the number of
threads, so that a fit gives bitwise identical weights whatever
``NUMBA_NUM_THREADS`` is.
"""

from functools import partial

import numba

from ._capabilities import FAST_PATH

# Rounding-only relaxations: reassociation lets LLVM vectorise reductions
# (dot products), contraction allows FMA. ``nnan``/``ninf`` are deliberately
# left out so that a diverging fit still produces NaN/inf we can detect, and
# ``afn`` is left out so exp/log/tanh stay the accurate libm versions.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

# Every kernel is cached on disk so a new process does not recompile.
# error_model="numpy": a float division by zero gives inf/NaN, as in numpy
# (and so in scikit-learn), instead of a ZeroDivisionError check on every
# division, which kept LLVM from vectorising any loop that divides (Adam's
# update ran 3x slower). Integer divisors in the kernels are layer sizes,
# never zero.
_OPTIONS = dict(cache=True, fastmath=FASTMATH, nogil=True,
                error_model="numpy")


if FAST_PATH:
    # fastbp's own target (512-bit vectors without touching the process's
    # Numba), and kernels without Numba's CPython wrapper (_target).
    from ._target import InternalKernel, KernelDispatcher, make_jit  # noqa: F401

    _internal_jit = partial(make_jit, InternalKernel,
                            no_cpython_wrapper=True)
    _entry_jit = partial(make_jit, KernelDispatcher)
else:  # Numba's public API only (see _capabilities)
    _internal_jit = _entry_jit = numba.njit


# Kernels: called from compiled code only.
jit = _internal_jit(**_OPTIONS)
jit_parallel = _internal_jit(parallel=True, **_OPTIONS)
# Entry points: called from Python.
jit_entry = _entry_jit(**_OPTIONS)
jit_entry_parallel = _entry_jit(parallel=True, **_OPTIONS)
# The optimizer updates are compiled without fastmath. With "contract" and
# "reassoc" the code generator may fuse a multiply and an add into an FMA or
# reorder a sum, and the code Numba runs right after compiling and the code
# it caches for later processes did not always make the same choices: an SGD
# fit with Nesterov momentum in the process that compiled the kernels
# differed in the last bits from the same fit in any later process. These
# loops are memory-bound and vectorise without fastmath. The one reduction
# among them (the sum of squared weights) keeps "reassoc", which it needs to
# vectorise, and no "contract".
jit_exact = _internal_jit(**dict(_OPTIONS, fastmath=False))
# Elementwise formulas with polynomials (``elementary``, the activations
# beyond scikit-learn's four) are inlined into their callers by Numba
# itself: LLVM's inliner judges them too large and leaves a call in the
# loop, which is then not vectorised (gelu's forward loop ran ~60 ns per
# value). Inlined code takes the caller's flags, so the loops that call
# them are ``jit_exact``: reassociation would undo the range reductions.
jit_inline = _internal_jit(inline="always",
                           **dict(_OPTIONS, fastmath=False))
jit_sum = _internal_jit(**dict(_OPTIONS, fastmath={"reassoc", "nsz"}))


# A batch of ``m`` samples is cut into ``n_chunks(m)`` contiguous chunks for
# the forward and backward passes: the largest power of two not above
# MAX_CHUNKS or m / CHUNK_MIN_SAMPLES (a power of two balances evenly over 2
# or 4 threads). Each chunk sums its samples' losses; the sums are added in
# chunk order.
CHUNK_MIN_SAMPLES = 32
MAX_CHUNKS = 4

# A parallel region costs microseconds, and on a virtual machine whose
# other vCPU has gone idle tens of microseconds (waking it): on this
# project's 2-vCPU machine, in such phases, reg (64 x 7360 multiply-adds
# per batch, two chunks in parallel) ran its epoch in 0.038 s on two
# threads against 0.021 s on one, and batch16 (16 x 79,400, its weight
# gradient in parallel) 0.39 s against 0.22 s; in good phases two threads
# gained 17% on reg and nothing on batch16. Work smaller than these runs
# serially. They choose only *where* the same per-chunk and per-task
# computations run, never how data are split, so they do not change
# results. The work of a batch is counted as the multiply-adds of its
# forward pass (samples x coefficients): PARALLEL_MIN_WORK for the weight
# gradients and optimizer step, CHUNK_PARALLEL_MIN_WORK for the
# forward/backward chunks. mnist (200 x 79,400) and the larger shapes stay
# parallel in both steps.
PARALLEL_MIN_WORK = 1 << 22
CHUNK_PARALLEL_MIN_WORK = 1 << 20

# Prediction takes blocks of PREDICT_BLOCK rows through all layers, shared
# out among PREDICT_SLOTS slots (each with its own scratch), in parallel from
# PREDICT_PARALLEL_MIN_WORK multiply-adds of the first layer.
PREDICT_BLOCK = 64
PREDICT_SLOTS = 16
PREDICT_PARALLEL_MIN_WORK = 1 << 18
# From PREDICT_PACK_ROWS_PER_THREAD rows per thread on, prediction first
# copies each layer's weights into two-vector column panels
# (``predict._pack_weights``), which the products then read as contiguous
# runs instead of rows of W a layer's width apart. The copy is one serial
# pass over the weights; the products read them once per PREDICT_BLOCK
# rows, spread over the threads. Measured (AMD EPYC Zen 4, predict_proba,
# medians of 11 alternating calls, packed / unpacked time): one thread,
# (512, 256) on 784 features 0.98 (float32) and 0.91 (float64) from 1,024
# rows on, (1024, 1024) 0.86-0.94; two threads, 1,024 rows 1.11 and 1.19
# for (512, 256), 4,096 rows 0.99 and 0.99, 20,000 rows 0.99 and 0.92,
# (1024, 1024) 0.80-0.99.
PREDICT_PACK_ROWS_PER_THREAD = 2048
# Training reads a layer's W packed in column panels when W does not fit in
# the L1 data cache (``fastbp._network.packed_training_layers``) and a batch
# holds at least TRAIN_PACK_MIN_ROWS rows: the optimizer step copies W into
# its panels once per batch (``optimizers._store_packed``), and the forward
# product reads each panel once per tile of eight rows. Measured (AMD EPYC
# Zen 4, 2 threads, float32, packed / in place epoch time, two models
# alternating in one process, medians of 6-8 epochs), in phases when that
# shared host ran slowly (an in-place 784 -> (512, 256) -> 10 epoch 1.0-1.2
# s instead of 0.76): 784 -> (100) -> 10 at batch 16 1.08, 32 1.05, 64
# 0.96, 128 0.98, 200 0.94; 784 -> (512, 256) -> 10 at batch 16 1.06, 32
# 1.04, 64 1.00, 256 0.86 (float64 0.91). When it ran at full speed,
# packing was level (the wide epoch 0.99, mnist 0.98, deep 1.015): the gain
# is where reading W in place falls behind (issue 27 measured the 2 KiB row
# stride costing the product 30% on an Intel Xeon).
TRAIN_PACK_MIN_ROWS = 128

# The weight gradient of a batch is cut into tasks of rows of dW, each about
# this many multiply-adds, so that tasks cost alike across layers. Task
# bounds depend on the shapes and the batch size only; every element of dW
# is one sum computed by one task, so they never change results.
TASK_MACS = 1 << 19

# With sparse X, each task of the first layer's weight gradient scans all
# the batch's stored entries; the layer is cut into at most this many tasks.
SPARSE_TASKS = 64

# L-BFGS's gradient (the sum of its batches' gradients, its L2 term and
# normalisation) runs over blocks of this many parameters, one partial sum
# of squared weights per block, summed in block order.
REDUCE_BLOCK = 16384

# Columns of the layer table (``fastbp._network.Layout.table``), an int64
# array with one row per layer: the layer's fan-in and fan-out, the offsets
# of its coefficients and intercepts in the flat parameter vector, and the
# offset of its block in the activation workspace (in units of one sample),
# and the code of its activation (IDENTITY for the output layer, whose
# activation the loss applies), and where training keeps the layer's W
# packed in two-vector column panels (``dense.pack_panels``): an offset into
# the workspace's ``wt`` beyond the transposed weights, or -1 where the
# forward product reads W in place (``fastbp._network.Workspace`` decides,
# by ``packed_training_layers``). Module-level ints are compile-time
# constants to Numba.
(FAN_IN, FAN_OUT, COEF_OFFSET, INTERCEPT_OFFSET, ACT_OFFSET,
 ACTIVATION, PACK_OFFSET) = range(7)
N_LAYER_COLUMNS = 7

# Hidden activations. For the codes from SOFTPLUS on, the forward pass keeps
# f'(z) for the backward pass (see activations); the workspace has room for
# it only in networks with such a layer.
IDENTITY, LOGISTIC, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS = range(7)
GELU, SILU = 7, 8
# Output activations; each implies its loss as in scikit-learn:
# identity <-> squared error, logistic <-> binary log-loss (per column),
# softmax <-> multiclass log-loss, exp <-> Poisson deviance.
OUT_IDENTITY, OUT_LOGISTIC, OUT_SOFTMAX, OUT_EXP = 0, 1, 2, 3
# Identity outputs trained on another loss than the squared error: Huber,
# absolute error, pinball (quantile). They predict as OUT_IDENTITY (the
# output activation does nothing for them); only the loss and the output
# error differ. A loss's one scalar parameter (Huber's delta, the quantile)
# travels in the slot the log-losses use for their clipping epsilon
# (``loss_param``), so these codes add branches, not arguments.
OUT_HUBER, OUT_ABSOLUTE, OUT_QUANTILE = 4, 5, 6
# Solvers with a compiled update rule, and the full-batch gradient without
# a step that L-BFGS takes.
SGD, ADAM, FULL_BATCH = 0, 1, 2
# Slots of the optimizer's hyper-parameter vector (``_state.OptimizerState``),
# one meaning each: LEARNING_RATE is the rate of this epoch (SGD's current
# rate; Adam's initial one, or its scheduled one under
# learning_rate="cosine"); NESTEROV is 1 for Nesterov's momentum, 0 for
# classical momentum; WEIGHT_DECAY the decoupled decay of the coefficients;
# MAX_GRAD_NORM the bound on the batch gradient's L2 norm (0: no clipping);
# POOLED_NOISE k > 1 when each batch gradient is the mean of 1/k of the
# mini-batch Adam's second moment should describe (``fastbp.dask``'s split
# mini-batches, see ``optimizers._adam_block_pooled``), 0 otherwise.
(LEARNING_RATE, MOMENTUM, NESTEROV, BETA_1, BETA_2, EPSILON, WEIGHT_DECAY,
 MAX_GRAD_NORM, POOLED_NOISE) = range(9)
N_HYPER = 9
# What a weight-gradient task does (``backprop._weight_gradient_task``):
# TASK_FUSED sums its rows of the gradient and steps those parameters at
# once. Under max_grad_norm a batch takes two passes over the tasks:
# TASK_NORM sums the gradient and its squared norm over the task's
# parameters, TASK_STEP then steps them once the batch's norm is known.
TASK_FUSED, TASK_NORM, TASK_STEP = 0, 1, 2

HIDDEN_CODES = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH,
                "relu": RELU, "leaky_relu": LEAKY_RELU, "elu": ELU,
                "softplus": SOFTPLUS, "gelu": GELU, "silu": SILU}
OUTPUT_CODES = {"identity": OUT_IDENTITY, "logistic": OUT_LOGISTIC,
                "softmax": OUT_SOFTMAX, "exp": OUT_EXP}
# Regression losses whose output is the identity: the output code training
# runs with instead of OUT_IDENTITY.
LOSS_CODES = {"huber": OUT_HUBER, "absolute_error": OUT_ABSOLUTE,
              "quantile": OUT_QUANTILE}
SOLVER_CODES = {"sgd": SGD, "adam": ADAM}

# The element types of dense X that training reads where it lies, each
# batch's rows converted to the training dtype as they are gathered
# (``gather``): the floats, pixels (uint8; bool is read as uint8, its 0 and
# 1) and numpy's default integer. Each costs two loops of the gather (C and
# Fortran order) compiled per training dtype, about 0.3-0.4 s of CPU each
# (float32, 2026-12-04), so the list is short; X of another type is
# converted to the training dtype before training, as scikit-learn does.
X_FLOAT32, X_FLOAT64, X_UINT8, X_INT64 = range(4)
X_KINDS = {"float32": X_FLOAT32, "float64": X_FLOAT64, "uint8": X_UINT8,
           "bool": X_UINT8, "int64": X_INT64}
