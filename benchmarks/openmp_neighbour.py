#!/usr/bin/env python
"""Does an OpenMP library in the same process keep its speed after a fit?

The neighbour is a PyTorch training epoch (the ``reg`` shape of
``benchmarks/common.py``: 50000 x 50 -> (64, 64) -> 1, batch 64, Adam, 2
threads). It is timed twice, each in a fresh process: alone, and after
fastbp fitted a model in that process (fastbp first, then PyTorch is
imported and run, as in a notebook that tries both). The ratio after /
alone is the slowdown a fit leaves behind. This runs once with Numba's
``tbb`` layer (what fastbp sets up) and, for comparison, with GNU OpenMP
(``NUMBA_THREADING_LAYER=omp``), whose threads compete with PyTorch's own
OpenMP pool.

Without PyTorch the neighbour is scikit-learn's
``HistGradientBoostingRegressor`` (OpenMP too), fitted for 30 iterations.

Usage (from the repository root)::

    python benchmarks/openmp_neighbour.py [--repeats 5] [--layers tbb omp]

Prints one line per layer: median seconds per neighbour epoch alone and
after a fit, their ratio, and the layer Numba reported.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.neighbour import run  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layers", nargs="+", default=["tbb", "omp"])
    args = parser.parse_args()
    for layer in args.layers:
        alone = run(layer, args.repeats, after_fit=False)
        after = run(layer, args.repeats, after_fit=True)
        print(f"{alone['neighbour']} epoch, Numba layer {after['layer']}: "
              f"alone {alone['seconds']:.3f} s, after a fastbp fit "
              f"{after['seconds']:.3f} s, after / alone "
              f"{after['seconds'] / alone['seconds']:.2f}")


if __name__ == "__main__":
    main()
