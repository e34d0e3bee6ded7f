"""fastbp across processes: forked workers, an unwritable package directory,
and a compiled-code cache that must never outlive the source it came from.

Each test runs fresh Python processes on a private copy of the package, so
that Numba's on-disk cache belongs to the test alone: empty where the test
is about compiling into it, or, where it is about loading from it, copied
from a package whose first process compiled it (``compiled_package``).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp

from fastbp._kernels._capabilities import FAST_PATH

from .conftest import fast_path_only

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


def _copy_package(source, tmp_path, with_caches=False):
    """A copy of the package ``source`` in ``tmp_path``, with or without its
    compiled caches, and an environment that imports it and keeps Numba's
    user-wide cache inside ``tmp_path``."""
    root = tmp_path / "site"
    shutil.copytree(source, root / "fastbp", ignore=None if with_caches
                    else shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(root),
               XDG_CACHE_HOME=str(tmp_path / "user-cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    return root / "fastbp", env


@pytest.fixture
def private_package(tmp_path):
    """A copy of fastbp without compiled caches, and an environment that
    imports it and keeps Numba's user-wide cache inside ``tmp_path``."""
    return _copy_package(PACKAGE, tmp_path)


@pytest.fixture(scope="module")
def compiled_package(tmp_path_factory):
    """A copy of fastbp without compiled caches, and the report of the first
    process that fitted with it (``FIT_AND_REPORT``): that process compiled
    the float32 training kernels into the copy's in-tree cache.

    Compiled once for the tests below that need a cold process's report or
    a warm cache, not the cold compilation itself; they take copies
    (``warm_package``) and must not change this one."""
    package, env = _copy_package(PACKAGE, tmp_path_factory.mktemp("compiled"))
    compiled = _fit_report(package, env)
    assert compiled["misses"] > 0 and compiled["hits"] == 0
    return package, compiled


@pytest.fixture
def warm_package(compiled_package, tmp_path):
    """A copy of ``compiled_package`` with its in-tree cache, the report of
    the process that compiled it, and an environment as ``private_package``'s.

    The cache moves with the package: Numba's index keys an entry on the
    function's name, argument types, bytecode and target machine, not on
    the file's path, and fastbp stamps it with a digest of the kernel
    sources (``_cache_stamp``), which the copy has unchanged."""
    template, compiled = compiled_package
    package, env = _copy_package(template, tmp_path, with_caches=True)
    return package, env, json.loads(json.dumps(compiled))


def _unimportable(folder, *names):
    """A folder whose packages ``names`` raise ImportError when imported:
    first on PYTHONPATH, it hides the installed ones from every process."""
    for name in names:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ImportError('{name} is not in this environment')\n")
    return folder


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


@pytest.mark.cold_compile
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
    if FAST_PATH:  # Numba compiles its runtime functions in every process
        assert second["runtime compiled"] == 0  # loaded from the user cache
    assert second["coef"] == first["coef"]
    index_files = list((tmp_path / "user-cache").rglob("*.nbi"))
    assert index_files, "nothing was cached in the user cache directory"


@fast_path_only
@pytest.mark.cold_compile
def test_loading_kernels_imports_none_of_numbas_implementations(
        warm_package):
    """A process that finds the kernels cached loads their machine code and
    nothing else: not Numba's typing and lowering registries (which
    compiling installs, importing numba.np.linalg among ~90 modules), nor
    the implementation modules a kernel's environment would name if it
    reshaped an array (numba.np.arrayobj) or read ``.dtype`` in a parallel
    loop (numba.np.npyimpl), nor does it compile Numba's runtime
    functions.

    ``compiled`` is the first process on an empty cache, ``loaded`` the next
    one, here on a copy of that package and its cache."""
    package, env, compiled = warm_package
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


@fast_path_only
@pytest.mark.cold_compile
def test_editing_any_kernel_file_invalidates_the_cache(warm_package):
    """Numba keys a function's cache on its own file only: a change to a
    kernel it calls from another file would run stale machine code.
    fastbp stamps every kernel with a digest of all kernel sources."""
    package, env, _ = warm_package
    warm = _fit_report(package, env)
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
    # X read in place, of each element type and order the epoch gathers.
    pixels = (X * 255).astype(np.uint8)
    for Xi in (np.asfortranarray(X), pixels, np.asfortranarray(pixels),
               pixels > 127, pixels.astype(np.int64), X.astype(np.float32)):
        for solver in ("adam", "lbfgs"):
            MLPClassifier((6,), solver=solver, max_iter=2,
                          early_stopping=solver == "adam",
                          dtype=dtype).fit(Xi, y)
print(json.dumps({kernel.__name__: [sum(kernel.stats.cache_misses.values()),
                                    sum(kernel.stats.cache_hits.values())]
                  for kernel in (_train_kernel, _predict_kernel)}))
"""


@pytest.mark.cold_compile
def test_compile_command_covers_every_fit_and_prediction(private_package,
                                                         tmp_path):
    """``python -m fastbp.compile`` (which the package build runs) compiles
    the argument types the estimators use: a new process then compiles
    nothing for dense and sparse X, writable or read-only, every solver,
    sample weights, early stopping, classifiers and regressors, in both
    dtypes.

    It runs as in pip's isolated build environment, which holds the build
    requirements (numba, numpy) but neither scipy nor scikit-learn: the
    compile command must not import them, or the wheel carries no kernels
    and a user's first fit compiles them."""
    package, env = private_package
    cwd = package.parent.parent
    build_env = dict(env, PYTHONPATH=os.pathsep.join(
        [str(_unimportable(tmp_path / "blocked", "scipy", "sklearn")),
         env["PYTHONPATH"]]))
    out = subprocess.run([sys.executable, "-m", "fastbp.compile"],
                         env=build_env, cwd=cwd, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "float32 kernels compiled" in out.stdout
    assert list((package / "_kernels" / "__pycache__").glob("*.nbi"))

    report = json.loads(_run(USES_EVERY_ENTRY_POINT, env, cwd)
                        .strip().splitlines()[-1])
    assert report == {"_train_kernel": [0, 2], "_predict_kernel": [0, 2]}


@fast_path_only
@pytest.mark.cold_compile
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
    # kernel again for a literal argument. The exceptions: isinstance() and
    # a scalar's .view() in elementary.py, which Numba compiles as small
    # functions of its own into the kernel that uses them, once per dtype,
    # and caches with it (a fit on a warm cache compiles nothing).
    own = {"numba.cpython.builtins": "class(", "numba.cpython.numbers":
           "class("}
    assert compiled and all(
        module.startswith("fastbp._kernels.")
        or module in own and own[module] in sig
        for module, sig in compiled), compiled
    assert len([m for m, _ in compiled if m in own]) <= 8, compiled
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


@fast_path_only
def test_a_process_that_only_predicts_needs_only_prediction_kernels(
        warm_package, tmp_path):
    """Loading a pickled model and predicting compiles (or loads from the
    cache) the prediction kernels alone, none of training's: in the process
    that compiles them and in one that loads them. (The package's cache
    holds training's kernels, from a fit, and not prediction's.)"""
    package, env, _ = warm_package
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


def test_kernel_cpu_features_rules():
    from fastbp._cpu_features import kernel_cpu_features
    host = "+avx2,+avx512f,+fma"
    assert kernel_cpu_features(host, environ={}) == host + ",-prefer-256-bit"
    # The user's NUMBA_CPU_FEATURES, FASTBP_AVX512=0, no AVX-512: as given.
    assert kernel_cpu_features(host, user_set=True, environ={}) == host
    assert kernel_cpu_features(host, environ={"FASTBP_AVX512": "0"}) == host
    assert kernel_cpu_features("+avx2,-avx512f", environ={}) == (
        "+avx2,-avx512f")


USER_MODULE = """
import numba
import numpy as np


@numba.njit(cache=True, fastmath=True)
def user_sum_of_squares(a):
    total = a.dtype.type(0)
    for i in range(a.shape[0]):
        total += a[i] * a[i]
    return total
"""

USER_CALL = """
import json, os, sys, warnings
import sklearn  # sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK itself
warnings.simplefilter("ignore")
environ = dict(os.environ)
report = {{}}
if {import_fastbp}:
    import fastbp
    from fastbp import MLPClassifier
    report["environ after import"] = dict(os.environ) == environ
    import numpy as np
    X = np.random.RandomState(0).rand(64, 5)
    MLPClassifier((4,), max_iter=2).fit(X, X[:, 0] > 0.5)
    report["environ after fit"] = dict(os.environ) == environ
import numpy as np
from numba.core.registry import cpu_target
import user_code
value = user_code.user_sum_of_squares(np.arange(100, dtype=np.float32))
stats = user_code.user_sum_of_squares.stats
report.update(value=float(value),
              hits=sum(stats.cache_hits.values()),
              misses=sum(stats.cache_misses.values()),
              magic=list(cpu_target.target_context.codegen().magic_tuple()))
print(json.dumps(report))
"""


def test_import_and_fit_leave_environ_and_other_numba_code_alone(tmp_path):
    """``import fastbp`` and a fit change neither ``os.environ`` nor how
    Numba compiles other code: a user's function cached by a process
    without fastbp is a cache hit in one that imports fastbp first and
    fits, compiled for the same CPU features."""
    (tmp_path / "user_code.py").write_text(USER_MODULE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(PACKAGE.parent)]))
    env.pop("NUMBA_CPU_FEATURES", None)
    env.pop("NUMBA_CACHE_DIR", None)
    without = json.loads(_run(USER_CALL.format(import_fastbp=False), env,
                              tmp_path).strip().splitlines()[-1])
    with_fastbp = json.loads(_run(USER_CALL.format(import_fastbp=True), env,
                                  tmp_path).strip().splitlines()[-1])
    assert without["misses"] == 1 and without["hits"] == 0
    assert with_fastbp["environ after import"]
    assert with_fastbp["environ after fit"]
    assert with_fastbp["misses"] == 0 and with_fastbp["hits"] == 1
    assert with_fastbp["magic"] == without["magic"]
    assert with_fastbp["value"] == without["value"]


VECTOR_WIDTHS = """
import json, re
import numba
import numpy as np
from fastbp._kernels import dense
from fastbp._kernels._extern import register


@numba.njit(fastmath=True)
def user_sum_of_squares(a):
    total = a.dtype.type(0)
    for i in range(a.shape[0]):
        total += a[i] * a[i]
    return total


user_sum_of_squares(np.ones(64, np.float32))
register(np.float32, ("activations", "dense"))
kernel = dense._gemm_ab
user = user_sum_of_squares.inspect_asm(user_sum_of_squares.signatures[0])
ours = kernel.inspect_asm(next(iter(kernel.overloads)))
print(json.dumps({"user": len(re.findall("zmm", user)),
                  "kernel": len(re.findall("zmm", ours))}))
"""


@fast_path_only
@pytest.mark.cold_compile
def test_kernels_use_512_bit_vectors_where_llvm_prefers_256(tmp_path):
    """Where LLVM's tuning prefers 256-bit vectors (Intel's server cores;
    here ``NUMBA_CPU_NAME`` asks for one), fastbp's kernels still get
    512-bit ones and other code keeps LLVM's choice."""
    import llvmlite.binding as llvm
    if "+avx512f" not in llvm.get_host_cpu_features().flatten().split(","):
        pytest.skip("this CPU has no AVX-512")
    env = dict(os.environ, NUMBA_CPU_NAME="icelake-server",
               NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("NUMBA_CPU_FEATURES", None)
    env.pop("FASTBP_AVX512", None)
    widths = json.loads(_run(VECTOR_WIDTHS, env, tmp_path)
                        .strip().splitlines()[-1])
    assert widths["user"] == 0
    assert widths["kernel"] > 0


AVX512_FIT = """
import json, warnings
import numpy as np
import fastbp
from fastbp import MLPClassifier
from fastbp._kernels._target import kernel_target
warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.rand(600, 40).astype(np.float32)
y = (X[:, :3].sum(axis=1) > 1.5).astype(int)
model = MLPClassifier((64,), max_iter=3, batch_size=200, random_state=0)
model.fit(X, y)
print(json.dumps({"features": kernel_target.target_context.codegen()
                  .magic_tuple()[2],
                  "coef": model.coefs_[0].tolist()}))
"""


NUMBA_FIRST = """
import json, warnings
import numba
if {jit_first}:
    numba.njit(lambda x: x)(1)  # another library's kernel, compiled
import fastbp
from fastbp._kernels._target import kernel_target
from numba.core.registry import cpu_target
print(json.dumps([kernel_target.target_context.codegen().magic_tuple()[2],
                  cpu_target.target_context.codegen().magic_tuple()[2]]))
"""


@fast_path_only
@pytest.mark.parametrize("jit_first", [False, True])
def test_importing_numba_first_keeps_512_bit_kernels(tmp_path, jit_first):
    """fastbp's code generator is its own: whether or not other code was
    compiled first, its kernels get 512-bit vectors and Numba's own code
    generator keeps LLVM's features."""
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
    ours, numbas = json.loads(out.stdout.strip().splitlines()[-1])
    assert ours == numbas + ",-prefer-256-bit"


@fast_path_only
@pytest.mark.cold_compile
def test_avx512_default_compiles_512_bit_kernels_that_agree(tmp_path):
    import llvmlite.binding as llvm
    if "+avx512f" not in llvm.get_host_cpu_features().flatten().split(","):
        pytest.skip("this CPU has no AVX-512")
    runs = {}
    for flag in ("0", "1"):
        env = dict(os.environ, FASTBP_AVX512=flag)
        env.pop("NUMBA_CPU_FEATURES", None)
        if flag == "0":
            # Other CPU features: compiled into a cache of its own. The
            # default ("1") finds its kernels where every default fit of
            # the suite does (Numba keys entries on the CPU features).
            env["NUMBA_CACHE_DIR"] = str(tmp_path / "cache")
        out = _run(AVX512_FIT, env, tmp_path)
        runs[flag] = json.loads(out.strip().splitlines()[-1])
    assert runs["1"]["features"].endswith(",-prefer-256-bit")
    assert not runs["0"]["features"].endswith(",-prefer-256-bit")
    # Other vector widths sum in another order: the same model to rounding.
    import numpy as np
    np.testing.assert_allclose(runs["1"]["coef"], runs["0"]["coef"],
                               rtol=1e-4, atol=1e-6)
