"""Sphinx configuration of the course website; `python -m tools.site` writes the pages and runs Sphinx with it.

Everything the pages load is served from the site itself (theme assets from PyPI packages, figures
embedded in the pages); nothing comes from a CDN, so the site works offline and on any static host.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tools.nb import BRANCH, REPO  # noqa: E402  (the Colab badges' repository: one source for both)

project = "marslab"
author = "the marslab contributors"
html_title = "marslab: semantic segmentation of Mars terrain"
language = "en"

extensions = ["myst_nb"]
exclude_patterns = ["**.ipynb_checkpoints"]
myst_enable_extensions = ["colon_fence"]  # no dollarmath: "$" in prose stays text, and no MathJax CDN

# The lessons arrive executed (tools/executed.py); the exercises are shown as stubs, never run.
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # widget manager scripts would come from a CDN; widgets are replaced by a note

html_theme = "sphinx_book_theme"
html_theme_options = {
    "repository_url": f"https://github.com/{REPO}",
    "repository_branch": BRANCH,
    "use_repository_button": True,
    "use_download_button": False,  # each page has its own download link (the output-free notebook)
    "home_page_in_toc": True,
    "show_toc_level": 2,
}
html_static_path = ["_static"]
html_css_files = ["marslab.css"]
html_copy_source = False  # no _sources/ copies: the pages are the site
html_show_sourcelink = False
html_last_updated_fmt = None
html_favicon = "_static/favicon.svg"
html_context = {"default_mode": "light"}  # the theme's colour mode before a reader picks one
