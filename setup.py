"""Build hook: compile fastbp's kernels for this machine while building.

``pip install .`` builds a wheel on the machine it installs on. After
setuptools has copied the package into the build directory, this runs
``python -m fastbp.compile`` there, which fills the package's Numba cache
(``fastbp/_kernels/__pycache__``) for this CPU; the wheel carries it, and
the first fit after installing loads the kernels instead of compiling them.
Numba is therefore a build requirement (pyproject.toml).

Set ``FASTBP_BUILD_COMPILE=0`` to build without compiling (for instance a
wheel meant for other machines, whose CPUs would not use this cache). A
failed compilation never fails the build: the kernels are then compiled on
first use, as without this step.
"""

import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithKernels(build_py):
    """build_py, then compile the kernels inside the build directory."""

    def run(self):
        super().run()
        if self.dry_run or os.environ.get("FASTBP_BUILD_COMPILE") == "0":
            return
        build_lib = os.path.abspath(self.build_lib)
        # pip's isolated build environment reaches its packages (numba)
        # through PYTHONPATH: keep it, with the built package first.
        path = os.environ.get("PYTHONPATH")
        env = dict(os.environ, PYTHONPATH=build_lib + (
            os.pathsep + path if path else ""))
        env.pop("NUMBA_CACHE_DIR", None)  # the cache must land in the package
        result = subprocess.run(
            [sys.executable, "-m", "fastbp.compile"], cwd=build_lib, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(result.stdout)
        if result.returncode != 0:
            print("fastbp: compiling the kernels while building failed; they "
                  "will be compiled on first use instead.", file=sys.stderr)


setup(cmdclass={"build_py": BuildPyWithKernels})
