"""sphinx-gallery hooks: the examples' order, and a scraper for the
figures they save.

The examples write their figures as PNG files to ``$FASTBP_EXAMPLES_OUT``
(the test suite checks them there) rather than leaving them open in
matplotlib. conf.py points that variable at ``FIGURE_DIR``; after each code
block this scraper moves the PNGs found there into the gallery.

``example_order`` lists the examples from a first fit to the cluster.
"""

import os
import shutil
from pathlib import Path

FIGURE_DIR = Path(__file__).resolve().parents[1] / "_build" / "example_figures"


def _scraper(block, block_vars, gallery_conf):
    from sphinx_gallery.scrapers import figure_rst

    names = []
    for png in sorted(FIGURE_DIR.glob("*.png")):
        target = block_vars["image_path_iterator"].next()
        shutil.move(str(png), target)
        names.append(target)
    return figure_rst(names, gallery_conf["src_dir"])


def _get_sg_image_scraper():
    """The hook sphinx-gallery calls for ``image_scrapers = ("<module>",)``."""
    FIGURE_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["FASTBP_EXAMPLES_OUT"] = str(FIGURE_DIR)
    return _scraper


ORDER = ["quickstart_digits.py", "regression_diabetes.py", "loss_curves.py",
         "beyond_sklearn.py", "early_stopping_on_loss.py", "activations.py",
         "prediction_intervals.py", "huber_outliers.py",
         "grid_search_pipeline.py", "onnx_export.py",
         "dask_scale_out.py", "dask_one_model.py", "mnist1d_benchmark.py"]


def example_order(filename):
    """Sort key of an example file: its place in ``ORDER``, then its name."""
    name = os.path.basename(filename)
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)
