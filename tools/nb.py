"""Write course notebooks in one shape: Colab badge, Colab-only install cell, then the lesson's cells.

Used by whoever authors a lesson or solution notebook:

    from tools.nb import write_notebook, md, code
    write_notebook("notebooks/05_unet.ipynb", [md("# 05 U-Net ..."), code("import marslab"), ...])

The first two cells are always COLAB cells (a test checks every notebook starts with them), and the
notebook is stored output-free.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

REPO = "marslab-course/marslab"
BRANCH = "main"

COLAB_INSTALL = '''\
# Google Colab only: add the course package. Colab's own TensorFlow and Keras are kept (--no-deps).
import sys
if "google.colab" in sys.modules:
    %pip install -q --no-deps "marslab @ git+https://github.com/{repo}.git"
    %pip install -q "keras-cv>=0.9,<1"'''.format(repo=REPO)


def colab_url(path: str) -> str:
    """The Open-in-Colab address of a notebook path relative to the repository root."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{path}"


def colab_badge(path: str) -> str:
    """Markdown for the Open-in-Colab badge of a notebook."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def md(source: str) -> nbformat.NotebookNode:
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(source.strip("\n"))


def code(source: str) -> nbformat.NotebookNode:
    """A code cell (no outputs, no execution count)."""
    return nbformat.v4.new_code_cell(source.strip("\n"))


def write_notebook(path: str | Path, cells: list[nbformat.NotebookNode]) -> Path:
    """Write `cells` after the badge and Colab install cell, output-free, with a python3 kernelspec."""
    path = Path(path)
    rel = path.resolve().relative_to(Path(__file__).resolve().parents[1]).as_posix()
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.cells = [md(colab_badge(rel)), code(COLAB_INSTALL), *cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
