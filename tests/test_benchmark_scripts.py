"""Run the benchmark scripts that reach into fastbp's internals, on their
smallest settings, in a subprocess each.

These scripts call private kernels and classes (``_train``, ``_gemm_atb``,
``Workspace``, the Dask trainer's round helpers and task names) that
change with the code; nothing else runs them, and two had stopped working
(``profile_epoch.py`` when the training targets became ``TrainingData``,
``dask_rounds.py`` when a round's tasks became one per share of blocks).
A test checks the exit code and the lines the script must print, not any
timing: speed is judged by running the scripts themselves
(``benchmarks/README.md``). Nothing may land in the working directory.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"

# Generous: a cold Numba cache compiles the kernels first.
TIMEOUT_SECONDS = 600
RATE = r"\d+ GFLOP/s"

CASES = {
    "profile_epoch": (
        ["profile_epoch.py", "tiny"], (),
        (r"^tiny: forward products \d+\.\d GFLOP per epoch",
         r"^  batch gradients \d+\.\d{3} s, whole epoch \d+\.\d{3} s")),
    "products": (
        ["products.py", "--quick"], (),
        (r"^CPU: .+; Numba threads \d+$",
         rf"^float32 _gemm_ab  64 x 784 times 784 x 512: {RATE}, packed \d+",
         rf"^float64 _gemm_atb \(256 x 784\)\^T times 256 x 512: {RATE}, "
         r"in tasks of 8 rows \d+")),
    "train_pack_ab": (
        ["train_pack_ab.py", "--shapes", "mnist", "--pairs", "1"], (),
        (r"^mnist float32 batch 200, layers packed \[0\]: packed "
         r"\d+\.\d+ s, in place \d+\.\d+ s",)),
    "dask_blocks": (
        ["dask_blocks.py", "--sections", "pairs", "--kinds",
         "classification", "--blocks", "4", "--epochs", "1", "--seeds", "1",
         "--no-write"], ("distributed", "dask.array"),
        (r"^\| classification \| 1 \| 4 \| initial-1-final16x5 \| "
         r"\d\.\d{3} \| \d\.\d{3} \|",)),
    "dask_worker_deaths": (
        ["dask_worker_deaths.py", "--runs", "1", "--hogs", "0", "--when",
         "any", "--shares", "block", "--no-write"],
        ("distributed", "dask.array"),
        (r"^\| any \| block \| 0 \| \d+ ms after it \(epoch \d+ ms\) \| "
         r"same \| [01] of \d+ \| \d+\.\d s \|$",)),
    "dask_rounds": (
        ["dask_rounds.py", "--quick"], ("distributed", "dask.array"),
        (r"^\| digits \(1347 rows, 4 blocks\) \| adam \| \d\.\d{4} \| "
         r"\d\.\d{4} \|",
         r"^\| synthetic \| 64 \| 2 \| \d\.\d{4} \| \d\.\d{4} \| "
         r"\d+\.\d{3} \| \d+ \| \d+\.\d{2} \|")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_script_runs(name, tmp_path):
    args, needs, prints = CASES[name]
    for package in needs:
        pytest.importorskip(package)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / args[0]), *args[1:]],
        cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=TIMEOUT_SECONDS)
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 0, report
    for pattern in prints:
        assert re.search(pattern, result.stdout, re.MULTILINE), (
            f"no line matches {pattern!r}\n{report}")
    assert list(tmp_path.iterdir()) == []
