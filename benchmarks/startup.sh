#!/usr/bin/env bash
# What a newcomer's first minute costs: install time, the first fit after
# installing (empty user cache) and a warm process, for one commit.
#
#   bash benchmarks/startup.sh [COMMIT]      (default: HEAD)
#
# Clones this repository at COMMIT into a temporary directory, creates two
# new virtualenvs there and prints wall times of
# - `pip install .` (which compiles the kernels while building) and
#   `FASTBP_BUILD_COMPILE=0 pip install .` (which does not);
# - a new process's import + 5-epoch digits fit in each dtype, three times,
#   each with an empty HOME (no user-wide Numba cache), after each install;
# - import + 50-epoch digits fit in a warm process, fastbp and scikit-learn
#   alternately, five times each.
# pip's own cache is used as it is (downloads are not timed).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=${1:-HEAD}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/src"
cd "$work/src"
git checkout -q "$commit"
# Everything printed also goes to benchmarks/results/startup.txt, with the
# date and the CPU it was measured on.
mkdir -p "$repo/benchmarks/results"
exec > >(tee "$repo/benchmarks/results/startup.txt") 2>&1
echo "date $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "commit $(git rev-parse --short HEAD)"

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

for v in built plain; do
  python3 -m venv "$work/$v"
  "$work/$v/bin/pip" install -q --upgrade pip > /dev/null 2>&1
done
t=$(now); "$work/built/bin/pip" install -q . > /dev/null 2>&1
echo "pip install .: $(since "$t") s"
rm -rf build
t=$(now); FASTBP_BUILD_COMPILE=0 "$work/plain/bin/pip" install -q . > /dev/null 2>&1
echo "FASTBP_BUILD_COMPILE=0 pip install .: $(since "$t") s"

cd "$work"
fit='import warnings; warnings.simplefilter("ignore")
from fastbp import MLPClassifier
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
MLPClassifier(max_iter=5, random_state=0, dtype=DTYPE).fit(X / 16, y)'
for v in built plain; do
  for dtype in float32 float64; do
    runs=3; [ "$v" = plain ] && runs=1
    for i in $(seq "$runs"); do
      home=$(mktemp -d -p "$work")
      t=$(now)
      HOME=$home XDG_CACHE_HOME=$home/.cache "$work/$v/bin/python" -c "${fit/DTYPE/\"$dtype\"}"
      echo "first fit after the $v install, $dtype, run $i: $(since "$t") s"
    done
  done
done

warm='import warnings
from sklearn.datasets import load_digits
from MODULE import MLPClassifier
X, y = load_digits(return_X_y=True)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MLPClassifier(max_iter=50, random_state=0).fit(X, y)'
for i in 1 2 3 4 5; do
  for module in fastbp sklearn.neural_network; do
    t=$(now); "$work/built/bin/python" -c "${warm/MODULE/$module}"
    echo "warm import + 50-epoch fit, $module: $(since "$t") s"
  done
done
