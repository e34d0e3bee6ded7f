"""fastbp across processes: forked workers, an unwritable package directory,
and a compiled-code cache that must never outlive the source it came from.

Each test runs fresh Python processes on a private copy of the package, so
that Numba's on-disk cache starts empty and belongs to the test alone.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp

PACKAGE = Path(fastbp.__file__).resolve().parent
TIMEOUT = 600

FIT_AND_REPORT = """
import json
import sys
import warnings
import numpy as np
import fastbp
from fastbp import MLPClassifier
from fastbp._kernels import epoch

from numba.core.runtime import nrtdynmod

# Counts compilations of Numba's runtime functions (see _cache_stamp).
nrt_compiled = []
create_nrt_module = nrtdynmod.create_nrt_module
nrtdynmod.create_nrt_module = lambda ctx: (
    nrt_compiled.append(1) or create_nrt_module(ctx))

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(120, 6).astype(np.float32)
y = (X[:, 0] > 0.5).astype(int)
model = MLPClassifier((8,), max_iter=2, batch_size=32, random_state=0)
model.fit(X, y)
stats = epoch._train_kernel.stats
print(json.dumps({
    "package": fastbp.__file__,
    "numba modules": sorted(m for m in sys.modules if m.startswith("numba.")),
    "hits": sum(stats.cache_hits.values()),
    "misses": sum(stats.cache_misses.values()),
    "coef": model.coefs_[0].tolist(),
    "runtime compiled": len(nrt_compiled),
}))
"""


@pytest.fixture
def private_package(tmp_path):
    """A copy of fastbp without compiled caches, and an environment that
    imports it and keeps Numba's user-wide cache inside ``tmp_path``."""
    root = tmp_path / "site"
    shutil.copytree(PACKAGE, root / "fastbp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(root),
               XDG_CACHE_HOME=str(tmp_path / "user-cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    return root / "fastbp", env


def _run(code, env, cwd):
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _fit_report(package, env):
    report = json.loads(_run(FIT_AND_REPORT, env, package.parent.parent)
                        .strip().splitlines()[-1])
    assert Path(report["package"]).parent == package  # the copy under test
    return report


def test_unwritable_package_dir_uses_user_cache_and_never_recompiles(
        private_package, tmp_path):
    package, env = private_package
    # A file where the cache directory would go: nobody, not even root, can
    # write the in-tree cache now, as in a read-only site-packages.
    (package / "_kernels" / "__pycache__").write_text("")

    first = _fit_report(package, env)
    second = _fit_report(package, env)

    assert first["misses"] > 0 and first["hits"] == 0
    # A new process loads every specialisation from the user-wide cache.
    assert second["misses"] == 0 and second["hits"] > 0
    assert second["runtime compiled"] == 0  # loaded from the user cache
    assert second["coef"] == first["coef"]
    index_files = list((tmp_path / "user-cache").rglob("*.nbi"))
    assert index_files, "nothing was cached in the user cache directory"


def test_loading_kernels_imports_none_of_numbas_implementations(
        private_package):
    """A process that finds the kernels cached loads their machine code and
    nothing else: not Numba's typing and lowering registries (which
    compiling installs, importing numba.np.linalg among ~90 modules), nor
    the implementation modules a kernel's environment would name if it
    reshaped an array (numba.np.arrayobj) or read ``.dtype`` in a parallel
    loop (numba.np.npyimpl), nor does it compile Numba's runtime
    functions."""
    package, env = private_package
    compiled = _fit_report(package, env)
    loaded = _fit_report(package, env)
    assert loaded["misses"] == 0 and loaded["hits"] > 0
    assert "numba.np.linalg" in compiled["numba modules"]
    implementations = {"numba.np.linalg", "numba.np.arrayobj",
                       "numba.np.npyimpl", "numba.cpython.unicode"}
    assert not implementations & set(loaded["numba modules"])
    assert loaded["coef"] == compiled["coef"]

    # Numba's runtime functions: compiled once, then loaded from the cache
    # directory; compiled again if their file is damaged.
    assert compiled["runtime compiled"] == 1
    assert loaded["runtime compiled"] == 0
    runtime_file, = (package / "_kernels" / "__pycache__").glob("nrt-*.nbo")
    runtime_file.write_bytes(runtime_file.read_bytes()[:100])
    damaged = _fit_report(package, env)
    assert damaged["runtime compiled"] == 1 and damaged["misses"] == 0
    assert damaged["coef"] == compiled["coef"]
    assert _fit_report(package, env)["runtime compiled"] == 0

    # Loading skips parsing each library's cached bitcode (_cache_stamp);
    # a new compilation that links a loaded kernel in parses it then.
    linked = json.loads(_run(LINK_A_LOADED_KERNEL, env, package.parent.parent)
                        .strip().splitlines()[-1])
    assert linked == {"starts": [0, 48, 100, 148, 200], "hits": 1,
                      "defines": True}


LINK_A_LOADED_KERNEL = """
import json
import numba
import numpy as np
from fastbp._kernels import backprop

@numba.njit
def starts(n_chunks, m):  # int64 arguments, as the cached kernel's
    out = np.empty(n_chunks + 1, np.int64)
    for c in range(n_chunks + 1):
        out[c] = backprop._chunk_start(c, n_chunks, m)
    return out

result = starts(4, 200).tolist()  # loads _chunk_start, links it in
cres, = backprop._chunk_start.overloads.values()
module = cres.library._get_module_for_linking()  # the cached bitcode
print(json.dumps({
    "starts": result,
    "hits": sum(backprop._chunk_start.stats.cache_hits.values()),
    "defines": any(f.name == cres.fndesc.llvm_func_name
                   and not f.is_declaration for f in module.functions),
}))
"""


def test_editing_any_kernel_file_invalidates_the_cache(private_package):
    """Numba keys a function's cache on its own file only: a change to a
    kernel it calls from another file would run stale machine code.
    fastbp stamps every kernel with a digest of all kernel sources."""
    package, env = private_package
    warm = [_fit_report(package, env) for _ in range(2)][-1]
    assert warm["misses"] == 0

    # The epoch lives in epoch.py; change only a file it calls into.
    activations = package / "_kernels" / "activations.py"
    activations.write_text(activations.read_text() + "\n# edited\n")

    after_edit = _fit_report(package, env)
    assert after_edit["misses"] > 0 and after_edit["hits"] == 0
    assert after_edit["coef"] == warm["coef"]


USES_EVERY_ENTRY_POINT = """
import json
import warnings
import numpy as np
import scipy.sparse as sp
from fastbp import MLPClassifier, MLPRegressor
from fastbp._kernels import _predict_kernel, _train_kernel

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(150, 7)
y = (X[:, 0] > 0.5).astype(int)
for dtype in ("float32", "float64"):
    for solver in ("adam", "sgd", "lbfgs"):
        model = MLPClassifier((6,), solver=solver, max_iter=3, batch_size=40,
                              early_stopping=solver != "lbfgs",
                              random_state=0, dtype=dtype)
        model.fit(X, y).predict_proba(X)
    MLPClassifier((6,), max_iter=2, dtype=dtype).fit(sp.csr_matrix(X), y)
    MLPRegressor(hidden_layer_sizes=(6, 5), max_iter=2, dtype=dtype).fit(
        X, X[:, :2], sample_weight=rng.rand(150)).predict(X[:3])
    # Read-only inputs, as joblib's memory maps give every worker of a
    # parallel search: another Numba type, and the same kernels.
    frozen = [a.astype(dtype) for a in (X, X[:, :2], rng.rand(150))]
    for a in frozen:
        a.setflags(write=False)
    Xr, Yr, swr = frozen
    for solver in ("adam", "lbfgs"):
        model = MLPRegressor(hidden_layer_sizes=(6,), solver=solver,
                             max_iter=2, dtype=dtype)
        model.fit(Xr, Yr, sample_weight=swr).predict(Xr)
        model.predict(Xr[:3])
    Xs = sp.csr_matrix(Xr)
    for a in (Xs.data, Xs.indices, Xs.indptr):
        a.setflags(write=False)
    MLPClassifier((6,), max_iter=2, dtype=dtype).fit(Xs, y).predict(Xs)
print(json.dumps({kernel.__name__: [sum(kernel.stats.cache_misses.values()),
                                    sum(kernel.stats.cache_hits.values())]
                  for kernel in (_train_kernel, _predict_kernel)}))
"""


def test_compile_command_covers_every_fit_and_prediction(private_package):
    """``python -m fastbp.compile`` (which the package build runs) compiles
    the argument types the estimators use: a new process then compiles
    nothing for dense and sparse X, writable or read-only, every solver,
    sample weights, early stopping, classifiers and regressors, in both
    dtypes."""
    package, env = private_package
    cwd = package.parent.parent
    out = subprocess.run([sys.executable, "-m", "fastbp.compile"], env=env,
                         cwd=cwd, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "float32 kernels compiled" in out.stdout
    assert list((package / "_kernels" / "__pycache__").glob("*.nbi"))

    report = json.loads(_run(USES_EVERY_ENTRY_POINT, env, cwd)
                        .strip().splitlines()[-1])
    assert report == {"_train_kernel": [0, 2], "_predict_kernel": [0, 2]}


def test_kernels_call_each_other_through_registered_handles(
        private_package):
    """Compiling every entry point, for every input the estimators pass,
    calls no kernel outside the signatures its handle registered: such a
    call would silently compile that kernel once more into its caller
    (see ``fastbp/_kernels/_extern.py``)."""
    package, env = private_package
    code = COMPILE_EVENTS + USES_EVERY_ENTRY_POINT + (
        "from fastbp._kernels import _extern\n"
        "print(json.dumps([[str(call) for call in _extern.LINKED_CALLS],\n"
        "                  compiled]))\n")
    out = _run(code, env, package.parent.parent)
    linked, compiled = json.loads(out.strip().splitlines()[-1])
    assert linked == []
    # Nothing compiled but fastbp's kernels (Numba compiles builtins such
    # as min() and int() as functions of their own; _minmax), and no
    # kernel again for a literal argument.
    assert compiled and all(module.startswith("fastbp._kernels.")
                            for module, _ in compiled), compiled
    assert not [sig for _, sig in compiled if "Literal" in sig]


# Records the module and argument types of every function Numba compiles.
COMPILE_EVENTS = """
from numba.core import event
compiled = []


class _Recorder(event.Listener):
    def on_start(self, e):
        pass

    def on_end(self, e):
        dispatcher = e.data["dispatcher"]
        compiled.append([dispatcher.py_func.__module__, str(e.data["args"])])


event.register("numba:compile", _Recorder())
"""


FIT_AND_PICKLE = """
import pickle, sys, warnings
import numpy as np
from fastbp import MLPClassifier
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(200, 6).astype(np.float32)
y = (X[:, 0] > 0.5).astype(int)
model = MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
with open(sys.argv[1], "wb") as f:
    pickle.dump((model, X), f)
"""

PREDICT_ONLY = """
import json, pickle, sys
from fastbp._kernels import _extern, _predict_kernel, backprop, optimizers
with open(sys.argv[1], "rb") as f:
    model, X = pickle.load(f)
proba = model.predict_proba(X).tolist() + model.predict_proba(X[:3]).tolist()


def used(kernel):
    stats = kernel.stats
    return [sum(stats.cache_misses.values()), sum(stats.cache_hits.values())]


print(json.dumps({
    "proba": proba,
    "numba modules": sorted(m for m in sys.modules if m.startswith("numba.")),
    "linked": [str(call) for call in _extern.LINKED_CALLS],
    "predict": used(_predict_kernel),
    "training kernels": [used(k) for k in (
        backprop._forward_backward_chunk, backprop._weight_gradient_task,
        optimizers._step_range)],
}))
"""


def test_a_process_that_only_predicts_needs_only_prediction_kernels(
        private_package, tmp_path):
    """Loading a pickled model and predicting compiles (or loads from the
    cache) the prediction kernels alone, none of training's: in the process
    that compiles them and in one that loads them."""
    package, env = private_package
    cwd = package.parent.parent
    model_file = tmp_path / "model.pkl"
    out = subprocess.run(
        [sys.executable, "-c", FIT_AND_PICKLE, str(model_file)], env=env,
        cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    reports = []
    for _ in range(2):  # compiles prediction, then loads it from the cache
        out = subprocess.run(
            [sys.executable, "-c", PREDICT_ONLY, str(model_file)], env=env,
            cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
        assert out.returncode == 0, out.stderr[-3000:]
        reports.append(json.loads(out.stdout.strip().splitlines()[-1]))
    compiled, loaded = reports
    for report in reports:
        assert report["linked"] == []
        assert report["training kernels"] == [[0, 0]] * 3
    assert compiled["predict"][0] > 0 and loaded["predict"] == [0, 1]
    assert loaded["proba"] == compiled["proba"]
    # Loading imports none of Numba's implementation modules (see
    # test_loading_kernels_imports_none_of_numbas_implementations).
    assert not {"numba.np.linalg", "numba.np.arrayobj", "numba.np.npyimpl",
                "numba.cpython.unicode"} & set(loaded["numba modules"])


FORKED_FITS = """
import multiprocessing
import warnings
import numpy as np
from sklearn.datasets import load_digits
from fastbp import MLPClassifier

warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)


def fit(seed):
    model = MLPClassifier(max_iter=3, random_state=seed).fit(X, y)
    return model.coefs_[0].sum()


if __name__ == "__main__":
    parent = [fit(seed) for seed in (1, 2)]  # the thread pool is running
    with multiprocessing.get_context("fork").Pool(2) as pool:
        children = pool.map(fit, (1, 2))
    assert children == parent, (children, parent)
    print("ok")
"""


def test_forked_workers_fit_after_the_parent_did(tmp_path):
    """GNU OpenMP aborts a forked child that starts a parallel region
    ("fork() called from a process already using GNU OpenMP"); fastbp
    depends on TBB, whose threading layer survives fork."""
    script = tmp_path / "forked.py"
    script.write_text(FORKED_FITS)
    try:
        out = subprocess.run([sys.executable, str(script)],
                             capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:  # a crashed child hangs Pool
        raise AssertionError(f"forked fits hung: {exc.stderr}") from None
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


CONCURRENT_FITS = """
import threading
import warnings
import numpy as np
import numba
from sklearn.datasets import load_digits
from fastbp import MLPClassifier

warnings.simplefilter("ignore")
X, y = load_digits(return_X_y=True)
X = np.repeat(X, 4, axis=0)  # big enough batches for parallel regions
y = np.repeat(y, 4)


def fit(seed, out):
    model = MLPClassifier((64,), max_iter=2, batch_size=256,
                          random_state=seed).fit(X, y)
    out[seed] = (model.coefs_[0].copy(), model.predict_proba(X[:500]))


serial, concurrent = {}, {}
for seed in range(4):
    fit(seed, serial)
threads = [threading.Thread(target=fit, args=(seed, concurrent))
           for seed in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
assert numba.threading_layer() == "workqueue", numba.threading_layer()
for seed in range(4):
    for a, b in zip(serial[seed], concurrent[seed]):
        assert np.array_equal(a, b)
print("ok")
"""


def test_concurrent_fits_under_the_workqueue_layer():
    """Numba aborts the process ("Numba workqueue threading layer is
    terminating: Concurrent access has been detected.") when two threads use
    the workqueue layer at once; where it is the only layer, fastbp
    serialises its compiled sections."""
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue",
               NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", CONCURRENT_FITS], env=env,
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_avx512_default_and_opt_out_rules(monkeypatch):
    import llvmlite.binding as llvm

    from fastbp import _cpu_features
    from fastbp._cpu_features import prefer_512_bit_vectors
    assert prefer_512_bit_vectors({"FASTBP_AVX512": "0"}) is None
    user = {"NUMBA_CPU_FEATURES": "+avx2"}
    assert prefer_512_bit_vectors(user) is None
    assert user["NUMBA_CPU_FEATURES"] == "+avx2"  # the user's value wins
    # Numba has compiled code in this process: too late. Silent by default,
    # a warning when the user asked explicitly.
    monkeypatch.setattr(_cpu_features, "_numba_codegen_started", lambda: True)
    env = {}
    assert prefer_512_bit_vectors(env) is None
    assert env == {}
    env = {"FASTBP_AVX512": "1"}
    with pytest.warns(RuntimeWarning, match="Numba compiled code before"):
        assert prefer_512_bit_vectors(env) is None
    assert "NUMBA_CPU_FEATURES" not in env
    # As if Numba had compiled nothing yet: set by default where AVX-512
    # exists.
    monkeypatch.setattr(_cpu_features, "_numba_codegen_started",
                        lambda: False)
    env = {}
    host = llvm.get_host_cpu_features().flatten()
    result = prefer_512_bit_vectors(env)
    if "+avx512f" in host.split(","):
        assert result == env["NUMBA_CPU_FEATURES"] == host + ",-prefer-256-bit"
    else:
        assert result is None and env == {}
    assert prefer_512_bit_vectors({"FASTBP_AVX512": "0"}) is None


AVX512_FIT = """
import json, warnings
import numpy as np
import fastbp
import numba
from fastbp import MLPClassifier
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(600, 40).astype(np.float32)
y = (X[:, :3].sum(axis=1) > 1.5).astype(int)
model = MLPClassifier((64,), max_iter=3, batch_size=200, random_state=0)
model.fit(X, y)
print(json.dumps({"features": numba.config.CPU_FEATURES or "",
                  "coef": model.coefs_[0].tolist()}))
"""


NUMBA_FIRST = """
import json, warnings
import numba
if {jit_first}:
    numba.njit(lambda x: x)(1)  # another library's kernel, compiled
import fastbp
from numba.core.registry import cpu_target
print(json.dumps(cpu_target.target_context.codegen()._tm_features))
"""


@pytest.mark.parametrize("jit_first", [False, True])
def test_importing_numba_first_keeps_512_bit_kernels(tmp_path, jit_first):
    """Numba reads its CPU features when it creates its code generator, at
    the first jitted function: ``import numba`` before fastbp still gets the
    512-bit kernels the install compiled; after another library's jitted
    code, Numba's choice stands, silently."""
    import llvmlite.binding as llvm
    if "+avx512f" not in llvm.get_host_cpu_features().flatten().split(","):
        pytest.skip("this CPU has no AVX-512")
    env = dict(os.environ)
    env.pop("NUMBA_CPU_FEATURES", None)
    env.pop("FASTBP_AVX512", None)
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c",
         NUMBA_FIRST.format(jit_first=jit_first)],
        env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    features = json.loads(out.stdout.strip().splitlines()[-1])
    assert features.endswith(",-prefer-256-bit") != jit_first


def test_avx512_default_compiles_512_bit_kernels_that_agree(tmp_path):
    import llvmlite.binding as llvm
    if "+avx512f" not in llvm.get_host_cpu_features().flatten().split(","):
        pytest.skip("this CPU has no AVX-512")
    runs = {}
    for flag in ("0", "1"):
        env = dict(os.environ, FASTBP_AVX512=flag)
        env.pop("NUMBA_CPU_FEATURES", None)
        if flag == "0":  # its kernels compile into a cache of their own
            env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
        out = _run(AVX512_FIT, env, tmp_path)
        runs[flag] = json.loads(out.strip().splitlines()[-1])
    assert runs["1"]["features"].endswith(",-prefer-256-bit")
    assert runs["0"]["features"] == ""
    # Other vector widths sum in another order: the same model to rounding.
    import numpy as np
    np.testing.assert_allclose(runs["1"]["coef"], runs["0"]["coef"],
                               rtol=1e-4, atol=1e-6)
