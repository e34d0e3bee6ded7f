"""sphinx-gallery image scraper for the figures fastbp's examples save.

The examples write their figures as PNG files to ``$FASTBP_EXAMPLES_OUT``
(the test suite checks them there) rather than leaving them open in
matplotlib. conf.py points that variable at ``FIGURE_DIR``; after each code
block this scraper moves the PNGs found there into the gallery.
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
