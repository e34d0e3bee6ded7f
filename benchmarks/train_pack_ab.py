"""Training with the forward weights packed vs read in place, in one process.

Training's forward products read the W of layers larger than the L1 data
cache packed in column panels, from batches of ``TRAIN_PACK_MIN_ROWS`` rows
on (``fastbp._network.packed_training_layers``). This script times whole
epochs both ways: two models of the same network on the same data, one
fitted with the rule as it stands, one with every W read in place (the L1
size seen by the rule set to 1 TiB), their epochs (``partial_fit`` over the
whole set) alternating, the order swapped every pair. On a shared host
whose speed drifts from minute to minute, the pairs' ratios hold where
separate processes do not; the median of the pairs is what to quote.

Both models compute the same weights bitwise (the tests check that); the
CPU and the layers packed are printed at the top.

Usage::

    python benchmarks/train_pack_ab.py                       # every shape
    python benchmarks/train_pack_ab.py --shapes wide --batch 64 --pairs 6
"""

import argparse
import platform
import time
import warnings

import numpy as np

import fastbp._network as network
from fastbp import MLPClassifier

SHAPES = {  # samples, features, hidden layers, classes, batch
    "wide": (60000, 784, (512, 256), 10, 256),
    "mnist": (60000, 784, (100,), 10, 200),
    "deep": (30000, 100, (256, 256, 256, 256), 10, 128),
    "reg": (50000, 50, (64, 64), 2, 64),
}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(shape, dtype, batch, pairs):
    n, d, hidden, k, default_batch = SHAPES[shape]
    batch = batch or default_batch
    rng = np.random.RandomState(0)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.randint(0, k, n)
    rule = network.l1_data_cache_bytes
    l1 = {"packed": rule, "in place": lambda: 1 << 40}
    units = [d, *hidden, k]
    packed = network.packed_training_layers(units, np.dtype(dtype).itemsize,
                                            batch)
    models = {}
    for mode, size in l1.items():
        network.l1_data_cache_bytes = size
        models[mode] = MLPClassifier(hidden, batch_size=batch, dtype=dtype,
                                     random_state=0)
        models[mode].partial_fit(X, y, classes=np.arange(k))  # warm-up
    times = {mode: [] for mode in l1}
    try:
        for pair in range(pairs):
            order = list(l1) if pair % 2 == 0 else list(l1)[::-1]
            for mode in order:
                network.l1_data_cache_bytes = l1[mode]
                start = time.perf_counter()
                models[mode].partial_fit(X, y)
                times[mode].append(time.perf_counter() - start)
    finally:
        network.l1_data_cache_bytes = rule
    ratios = np.array(times["packed"]) / np.array(times["in place"])
    print(f"{shape} {dtype} batch {batch}, layers packed {packed}: "
          f"packed {np.median(times['packed']):.4f} s, in place "
          f"{np.median(times['in place']):.4f} s, packed / in place "
          f"{np.median(ratios):.3f} (pairs {ratios.min():.2f}-"
          f"{ratios.max():.2f})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES),
                        default=list(SHAPES))
    parser.add_argument("--dtypes", nargs="+", default=["float32"],
                        choices=["float32", "float64"])
    parser.add_argument("--batch", type=int, default=None,
                        help="batch size (default: the shape's)")
    parser.add_argument("--pairs", type=int, default=8)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"CPU: {cpu_model()}; L1 data cache "
          f"{network.l1_data_cache_bytes() // 1024} KiB")
    for shape in args.shapes:
        for dtype in args.dtypes:
            run(shape, dtype, args.batch, args.pairs)


if __name__ == "__main__":
    main()
