"""Cost per epoch of the training losses fastbp adds to scikit-learn's MLP.

For each shape, the default fit and each option run one ``partial_fit``
epoch (Adam, relu, float32) in turn, round after round, so that the
machine's load drifts alike over all of them; the report gives the median
seconds per epoch over the rounds and each option's ratio to the default.

Shapes (``benchmarks/common.py``): ``mnist`` (60,000 x 784, (100,), 10
classes, batches of 200) for ``label_smoothing``; its regression variant
``mnist-reg`` (the same X and network, one target: the teacher's output)
and ``reg`` (50,000 x 50, (64, 64), one target, batches of 64, where the
output layer's share of the work is largest) for the regression losses.

Usage (from the repository root)::

    python benchmarks/beyond_losses.py [--rounds 9] [--out PATH.md]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks.common import ALL_SHAPES, Shape, cpu_model, make_data  # noqa: E402

SHAPES = {
    "mnist": ALL_SHAPES["mnist"],
    "mnist-reg": Shape(60_000, 784, (100,), 1, 200, "regression"),
    "reg": ALL_SHAPES["reg"],
}
OPTIONS = {
    "mnist": [("default (log-loss)", {}),
              ("label_smoothing=0.1", dict(label_smoothing=0.1))],
    "mnist-reg": [("default (squared_error)", {}),
                  ("loss='huber'", dict(loss="huber")),
                  ("loss='absolute_error'", dict(loss="absolute_error")),
                  ("loss='quantile', quantile=0.9",
                   dict(loss="quantile", quantile=0.9))],
}
OPTIONS["reg"] = OPTIONS["mnist-reg"]


def _model(shape, params):
    import fastbp

    spec = SHAPES[shape]
    cls = (fastbp.MLPClassifier if spec.task == "classification"
           else fastbp.MLPRegressor)
    return cls(hidden_layer_sizes=spec.hidden_layer_sizes, activation="relu",
               solver="adam", batch_size=spec.batch_size, random_state=0,
               dtype="float32", **params)


def time_shape(shape, rounds):
    """Median seconds per epoch of each option of ``shape``."""
    spec = SHAPES[shape]
    X, _, y, _ = make_data(spec, dtype="float32")
    extra = ({"classes": np.arange(spec.n_outputs)}
             if spec.task == "classification" else {})
    models = []
    for name, params in OPTIONS[shape]:
        model = _model(shape, params)
        model.partial_fit(X, y, **extra)  # initialise; kernels loaded
        models.append((name, model))
    samples = {name: [] for name, _ in models}
    for _ in range(rounds):
        for name, model in models:
            start = time.perf_counter()
            model.partial_fit(X, y)
            samples[name].append(time.perf_counter() - start)
    return {name: float(np.median(s)) for name, s in samples.items()}, samples


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES),
                        choices=list(SHAPES))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import numba

    lines = []
    with threadpool_limits(limits=1, user_api="blas"):
        for shape in args.shapes:
            medians, _ = time_shape(shape, args.rounds)
            spec = SHAPES[shape]
            base = next(iter(medians.values()))
            lines.append(
                f"\n**{shape}** ({spec.n_samples} x {spec.n_features}, "
                f"hidden {spec.hidden_layer_sizes}, {spec.n_outputs} "
                f"output{'s' if spec.n_outputs > 1 else ''}, batch "
                f"{spec.batch_size})\n")
            lines.append("| option | s/epoch (median) | vs default |")
            lines.append("|---|---|---|")
            for name, seconds in medians.items():
                lines.append(f"| {name} | {seconds:.4f} | "
                             f"{seconds / base:.3f}x |")
            print("\n".join(lines[-len(medians) - 3:]), flush=True)
    header = (f"CPU: {cpu_model()}, {numba.get_num_threads()} Numba "
              f"threads, float32, Adam, relu; median of {args.rounds} "
              "rounds, each option timed once per round.")
    text = header + "\n" + "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(header)


if __name__ == "__main__":
    main()
