"""Write course notebooks in one shape: Colab badge, Colab-only install cell, then the lesson's cells.

Used by whoever authors a lesson or solution notebook:

    from tools.nb import write_notebook, md, code
    write_notebook("notebooks/05_unet.ipynb", [md("# 05 U-Net ..."), code("import marslab"), ...])

The first two cells are always COLAB cells (a test checks every notebook starts with them), and the
notebook is stored output-free.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

# Where the course lives: the one place that names it. The Colab badges and the Colab install cell of every
# notebook, and the README's badges, are made from these two constants. A fork or a release changes them
# with `python -m tools.nb source OWNER/NAME REF` (e.g. a tag such as v0.2.0), which rewrites all of those.
REPO = "marslab-course/marslab"
BRANCH = "main"


def install_source(repo: str = REPO, ref: str = BRANCH) -> str:
    """The pip requirement that installs marslab from the course repository at `ref`."""
    return f"marslab @ git+https://github.com/{repo}.git@{ref}"


def colab_install(repo: str = REPO, ref: str = BRANCH) -> str:
    """The second cell of every notebook: installs marslab in Colab only, keeping Colab's own packages."""
    return (
        "# Google Colab only: add the course package. Colab's own TensorFlow and Keras are kept (--no-deps).\n"
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q --no-deps "{install_source(repo, ref)}"'
    )


COLAB_INSTALL = colab_install()


def colab_url(path: str, repo: str = REPO, ref: str = BRANCH) -> str:
    """The Open-in-Colab address of a notebook path relative to the repository root."""
    return f"https://colab.research.google.com/github/{repo}/blob/{ref}/{path}"


def colab_badge(path: str, repo: str = REPO, ref: str = BRANCH) -> str:
    """Markdown for the Open-in-Colab badge of a notebook."""
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path, repo, ref)})"


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


ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")
_COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+?/"
                         r"((?:notebooks|solutions|exercises)/[\w.-]+\.ipynb)")


def set_source(repo: str, ref: str, root: Path = ROOT) -> list[Path]:
    """Point every notebook's badge and Colab install cell, and the README's badges, at `repo` (OWNER/NAME)
    at `ref` (a branch or tag); returns the files changed. Also edit REPO and BRANCH above to match."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo) or not re.fullmatch(r"[\w./-]+", ref):
        raise ValueError(f"expected OWNER/NAME and a branch or tag, got {repo!r} and {ref!r}")
    changed = []
    for path in sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        rel = path.relative_to(root).as_posix()
        nb.cells[0].source = colab_badge(rel, repo, ref)
        nb.cells[1].source = colab_install(repo, ref)
        nbformat.write(nb, path)
        changed.append(path)
    readme = root / "README.md"
    readme.write_text(_COLAB_LINK.sub(lambda m: colab_url(m.group(1), repo, ref), readme.read_text()))
    return changed + [readme]


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "source":
        sys.exit("usage: python -m tools.nb source OWNER/NAME REF")
    for changed in set_source(sys.argv[2], sys.argv[3]):
        print(f"updated {changed.relative_to(ROOT)}")
