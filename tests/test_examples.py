"""Run every script in examples/ in a subprocess, in its quick mode.

Each script runs with ``FASTBP_EXAMPLES_QUICK=1`` (small data, few epochs),
``MPLBACKEND=Agg`` and ``FASTBP_EXAMPLES_OUT`` pointing at a fresh temporary
directory. A test checks the exit code, the lines the script must print and
the PNG files it must write. A script that needs an optional package
(matplotlib, mnist1d, dask, skl2onnx, ...) is skipped when that package is
not installed.

Once Numba's on-disk cache is warm each test takes a few seconds; the first
run after a kernel changed also pays for compilation.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

# Generous: a cold Numba cache compiles every kernel in both dtypes first.
TIMEOUT_SECONDS = 600

ACCURACY = r"0\.\d{4}|1\.0000"
SECONDS = r"\d+\.\d+ s"


@dataclass(frozen=True)
class Example:
    """What one example script needs, and what it must produce."""

    script: str
    needs: tuple = ()  # optional packages, imported with importorskip
    prints: tuple = ()  # regular expressions, each matched on some line
    writes: tuple = ()  # file names expected in FASTBP_EXAMPLES_OUT


CASES = [
    Example(
        "quickstart_digits.py",
        prints=(
            rf"^compile/warm-up: {SECONDS}",
            rf"^fastbp \(float32\)\s+({ACCURACY})\s+{SECONDS}\s+\d+$",
            rf"^fastbp \(float64\)\s+({ACCURACY})\s+{SECONDS}\s+\d+$",
            rf"^scikit-learn\s+({ACCURACY})\s+{SECONDS}\s+\d+$",
            r"^speed-up of fastbp \(float32\) over scikit-learn: \d+\.\d+x$",
        ),
    ),
    Example(
        "grid_search_pipeline.py",
        prints=(
            rf"^grid search: \d+ fits \+ 1 refit in {SECONDS}$",
            r"^best params: \{'mlp__alpha': .+, "
            r"'mlp__hidden_layer_sizes': \(.+\)\}$",
            rf"^best CV accuracy: ({ACCURACY})$",
            rf"^test accuracy of the refitted best pipeline: ({ACCURACY}) ",
            rf"^scikit-learn best CV accuracy: ({ACCURACY}), "
            rf"test accuracy: ({ACCURACY})$",
        ),
    ),
    Example(
        "regression_diabetes.py",
        prints=(
            rf"^compile/warm-up: {SECONDS}",
            r"^linear least squares baseline: test R\^2 = -?\d+\.\d{4}$",
            rf"^lbfgs\s+\S+\s+fastbp \(float32\)\s+-?\d+\.\d{{4}}\s+{SECONDS}",
            rf"^lbfgs\s+\S+\s+scikit-learn\s+-?\d+\.\d{{4}}\s+{SECONDS}",
            rf"^adam\s+\S+\s+fastbp \(float32\)\s+-?\d+\.\d{{4}}\s+{SECONDS}",
            rf"^adam\s+\S+\s+scikit-learn\s+-?\d+\.\d{{4}}\s+{SECONDS}",
        ),
    ),
    Example(
        "activations.py",
        needs=("matplotlib",),
        prints=(
            rf"^relu\s+\d+\.\d+\s+({ACCURACY})\s+{SECONDS}$",
            rf"^gelu\s+\d+\.\d+\s+({ACCURACY})\s+{SECONDS}$",
            rf"^gelu \+ relu\s+\d+\.\d+\s+({ACCURACY})\s+{SECONDS}$",
            r"^figure written to .*activations\.png$",
        ),
        writes=("activations.png",),
    ),
    Example(
        "loss_curves.py",
        needs=("matplotlib",),
        prints=(
            rf"^fastbp float32\s+\d+\s+\d+\.\d+\s+({ACCURACY})\s+({ACCURACY})$",
            rf"^scikit-learn\s+\d+\s+\d+\.\d+\s+({ACCURACY})\s+({ACCURACY})$",
            r"^max \|loss_curve_ difference\| fastbp float64 vs scikit-learn",
            r"^figure written to .*loss_curves\.png$",
        ),
        writes=("loss_curves.png",),
    ),
    Example(
        "mnist1d_benchmark.py",
        needs=("matplotlib", "mnist1d"),
        prints=(
            r"^MNIST-1D generated locally in ",
            rf"^compile/warm-up: {SECONDS}",
            rf"^fastbp \(float32\)\s+({ACCURACY})\s+({ACCURACY})\s+{SECONDS}",
            rf"^scikit-learn\s+({ACCURACY})\s+({ACCURACY})\s+{SECONDS}",
            r"^speed-up of fastbp over scikit-learn: \d+\.\d+x$",
        ),
    ),
    Example(
        "beyond_sklearn.py",
        needs=("matplotlib",),
        prints=(
            rf"^None\s+({ACCURACY})\s+({ACCURACY})$",
            rf"^balanced\s+({ACCURACY})\s+({ACCURACY})$",
            r"^validation loss: lowest \d+\.\d{4} at epoch \d+; "
            r"last \d+\.\d{4}$",
            r"^epochs run: \d+ \((stopped by the callback|ran all epochs)\)$",
            r"^figure written to .*validation_curves\.png$",
        ),
        writes=("validation_curves.png",),
    ),
    Example(
        "early_stopping_on_loss.py",
        needs=("matplotlib",),
        prints=(
            rf"^accuracy\s+\d+\s+\d+\.\d{{4}}\s+({ACCURACY})$",
            rf"^loss\s+\d+\s+\d+\.\d{{4}}\s+({ACCURACY})$",
            rf"^adam\s+final train ({ACCURACY})  test ({ACCURACY})$",
            rf"^adam \+ dropout=0\.5\s+final train ({ACCURACY})  "
            rf"test ({ACCURACY})$",
            rf"^adam \+ weight_decay \+ cosine\s+final train ({ACCURACY})  "
            rf"test ({ACCURACY})$",
            r"^figure written to .*early_stopping_on_loss\.png$",
        ),
        writes=("early_stopping_on_loss.png",),
    ),
    Example(
        "prediction_intervals.py",
        needs=("matplotlib",),
        prints=(
            r"^nominal coverage: 0\.90$",
            r"^quantile MLPs \(0\.05, 0\.95\)(\s+\d\.\d{3}){3}\s+\d+\.\d{3}$",
            r"^mean MLP \+- 1\.645 sigma(\s+\d\.\d{3}){3}\s+\d+\.\d{3}$",
            r"^pinball loss at q=0\.05 on test data: \d+\.\d{4} ",
            r"^pinball loss at q=0\.95 on test data: \d+\.\d{4} ",
            r"^figure written to .*prediction_intervals\.png$",
        ),
        writes=("prediction_intervals.png",),
    ),
    Example(
        "huber_outliers.py",
        needs=("matplotlib",),
        prints=(
            r"^\d+ training rows, \d+ of them with gross errors in y",
            r"^squared error\s+\d+\.\d{4}\s+\d+\.\d{4}$",
            r"^huber, delta=0\.5\s+\d+\.\d{4}\s+\d+\.\d{4}$",
            r"^squared error, clean y\s+\d+\.\d{4}\s+\d+\.\d{4}$",
            r"^RMSE ratio squared error / huber: \d+\.\d{2}$",
            r"^figure written to .*huber_outliers\.png$",
        ),
        writes=("huber_outliers.png",),
    ),
    Example(
        "dask_scale_out.py",
        needs=("dask", "distributed", "dask_ml"),
        prints=(
            rf"^cluster: 2 worker processes x 1 thread, started in {SECONDS}$",
            rf"^worker warm-up \(first fit, kernels from Numba's cache\): "
            rf"{SECONDS}$",
            r"^OMP_NUM_THREADS in the workers: 1 ",
            rf"^grid search: \d+ fits \+ 1 refit, serial {SECONDS}, "
            rf"dask {SECONDS}$",
            r"^best params: \{'alpha': .+, 'hidden_layer_sizes': \(.+\)\}$",
            rf"^best CV accuracy: ({ACCURACY})$",
            r"^dask and serial cv_results_ scores identical: True$",
            rf"^incremental: \d+ passes x \d+ blocks of up to \d+ rows in "
            rf"{SECONDS}$",
            rf"^incremental test accuracy: ({ACCURACY}) \(\d+ samples seen\)$",
        ),
    ),
    Example(
        "dask_one_model.py",
        needs=("dask", "distributed"),
        prints=(
            r"^training data: \d+ rows in \d+ blocks on 2 workers x 1 thread",
            rf"^lbfgs\s+in memory ({ACCURACY}) \(\d+ iterations, {SECONDS}\)"
            rf"\s+on dask ({ACCURACY}) \(\d+ iterations, {SECONDS}\)$",
            r"^lbfgs: largest weight difference dask vs in memory: "
            r"\d\.\de-\d+$",
            rf"^adam\s+in memory ({ACCURACY}) \(\d+ iterations, {SECONDS}\)"
            rf"\s+on dask ({ACCURACY}) \(\d+ iterations, {SECONDS}\)$",
            r"^predict on a dask array: Array of \d+ blocks; equal to "
            r"in-memory predictions: True$",
            rf"^to_fastbp\(\): fastbp\.MLPClassifier, test accuracy "
            rf"({ACCURACY})$",
        ),
    ),
    Example(
        "onnx_export.py",
        needs=("skl2onnx", "onnxruntime"),
        prints=(
            rf"^fit: {SECONDS}",
            r"^ONNX model written to .*digits_mlp\.onnx \(\d+ bytes\)$",
            r"^labels equal to predict: (\d+)/\1$",
            # float32 rounding: below 1e-5
            r"^max \|predict_proba - onnxruntime\|: "
            r"(\d\.\de-(0[6-9]|[1-9]\d)|0\.0e\+00)$",
            rf"^onnxruntime test accuracy: ({ACCURACY})$",
        ),
    ),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _run(script, cwd, out_dir):
    """Run ``examples/<script>`` in quick mode; return the CompletedProcess.

    The repository root goes first on PYTHONPATH so that the fastbp under
    test is imported even when the package is not installed.
    """
    env = dict(os.environ)
    env.update(FASTBP_EXAMPLES_QUICK="1", MPLBACKEND="Agg",
               FASTBP_EXAMPLES_OUT=str(out_dir))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS)


def test_every_example_is_listed():
    on_disk = {p.name for p in EXAMPLES.glob("*.py")}
    assert on_disk == {case.script for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.script for c in CASES])
def test_example_runs(case, tmp_path):
    for package in case.needs:
        pytest.importorskip(package)
    # The output directory is not the working directory, so a script that
    # ignored FASTBP_EXAMPLES_OUT would leave its figure in the wrong place.
    out_dir = tmp_path / "out"
    work_dir = tmp_path / "cwd"
    work_dir.mkdir()

    result = _run(case.script, work_dir, out_dir)

    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    for pattern in case.prints:
        assert re.search(pattern, result.stdout, re.MULTILINE), (
            f"no line matches {pattern!r}\n{report}")
    for name in case.writes:
        path = out_dir / name
        assert path.is_file(), f"{path} was not written\n{report}"
        assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is no PNG"
    # Nothing else lands in the working directory (mnist1d, for one, would
    # cache a downloaded or regenerated dataset there as a .pkl file).
    assert list(work_dir.iterdir()) == []
