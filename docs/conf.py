"""Sphinx configuration of fastbp's documentation.

Build from the repository root:

    pip install ".[docs]" && sphinx-build -W -b html docs docs/_build/html

``-D plot_gallery=0`` renders the example gallery without running the
examples (the test suite builds the site that way). Intersphinx links to
scikit-learn, NumPy, SciPy, Dask and Python only where their inventories can
be reached; offline the references render as plain text.
"""

import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
try:  # the installed fastbp, whose kernels pip compiled while installing
    import fastbp
except ImportError:  # or this tree's, compiled on first use
    sys.path.insert(0, str(ROOT))
    import fastbp

project = "fastbp"
author = "The fastbp developers"
copyright = "2026, The fastbp developers"
version = release = fastbp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "**.codeobj.json"]
suppress_warnings = ["myst.header"]  # CHANGELOG.md starts at level 1

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # the class template lists them
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_static_path = []
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 7,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"changelog": [], "getting_started": [], "index": [],
                 "how_it_works": [], "performance": [], "api": []}

# Equations are drawn by MathJax, loaded from its CDN by default. To read
# the site offline, point FASTBP_DOCS_MATHJAX at a local copy, e.g. Debian's
# libjs-mathjax: "file:///usr/share/javascript/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML".
if os.environ.get("FASTBP_DOCS_MATHJAX"):
    mathjax_path = os.environ["FASTBP_DOCS_MATHJAX"]
html_show_sourcelink = False

# -- Example gallery ---------------------------------------------------------
# The examples save their figures to $FASTBP_EXAMPLES_OUT (the test suite
# checks them there); sphinxext/gallery_hooks.py moves them into the
# gallery. Only the examples that draw or print something short are run;
# the others (Dask clusters, ONNX, MNIST-1D) are shown without running.
sys.path.insert(0, str(ROOT / "docs" / "sphinxext"))
os.environ.setdefault("MPLBACKEND", "Agg")

RUN_EXAMPLES = ["quickstart_digits", "loss_curves", "beyond_sklearn",
                "early_stopping_on_loss",
                "regression_diabetes"]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/(" + "|".join(RUN_EXAMPLES) + r")\.py$",
    "image_scrapers": ("gallery_hooks",),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "gallery_hooks.example_order",
    "backreferences_dir": None,
    "show_memory": False,
    "abort_on_example_error": True,
}

# -- Intersphinx -------------------------------------------------------------
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "dask": "https://docs.dask.org/en/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
}


def _reachable(url, timeout=2.0):
    """Whether the host of ``url`` resolves and accepts a connection."""
    if os.environ.get("FASTBP_DOCS_OFFLINE", "0") not in ("", "0"):
        return False
    host = urlparse(url).hostname
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


intersphinx_mapping = {name: (url, None) for name, url in _INVENTORIES.items()
                       if _reachable(url)}
intersphinx_timeout = 10


# -- Docstrings inherited from scikit-learn ----------------------------------
# ``score`` and friends come from scikit-learn, whose docstrings refer to
# labels and glossary terms of scikit-learn's own documentation. Without its
# inventory (offline) those become plain text instead of broken links.
_SK_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")


def _plain_sklearn_refs(app, what, name, obj, options, lines):
    if "sklearn" in intersphinx_mapping:
        return
    module = getattr(obj, "__module__", "") or ""
    if module.startswith("sklearn") or name.rsplit(".", 1)[-1] in (
            "score", "get_metadata_routing"):
        lines[:] = [_SK_ROLE.sub(r"\1", line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _plain_sklearn_refs)
