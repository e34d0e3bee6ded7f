"""The documentation builds with no warning (``sphinx-build -W``).

The gallery is rendered without running the examples (``plot_gallery=0``;
tests/test_examples.py runs them) and without intersphinx, so the build
takes seconds and needs no network. Skipped when the ``docs`` extra is not
installed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery",
                   "pydata_sphinx_theme", "myst_parser", "dask", "distributed"):
        pytest.importorskip(module)
    env = dict(os.environ, FASTBP_DOCS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E",
         "-b", "html", "-D", "plot_gallery=0",
         "-d", str(tmp_path / "doctrees"), str(REPO / "docs"),
         str(tmp_path / "html")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    html = tmp_path / "html"
    for page in ("index.html", "how_it_works.html", "api.html",
                 "generated/fastbp.MLPClassifier.html",
                 "generated/fastbp.MLPRegressor.html",
                 "auto_examples/index.html", "changelog.html"):
        assert (html / page).is_file(), page
