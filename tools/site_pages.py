"""The course website's pages, written as Sphinx sources: lessons with their run note, exercise stubs, guides.

Used by tools/site.py. A page is the course file itself with a few changes for the web: the Colab badge
cell (an image on colab.research.google.com) becomes a note with local links, links to files that are
not pages point to the repository, widgets (live only in a kernel) become a sentence, and code between
nbgrader's solution markers in a guide is elided.
"""
from __future__ import annotations

import copy
import html
import posixpath
import re
from pathlib import Path

import nbformat

from tools.executed import META_KEY, ROOT
from tools.nb import BRANCH, REPO, colab_url

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ('<p class="marslab-widget">[An interactive widget: it is live when the lesson runs in '
               'Jupyter or Colab.]</p>')
PROFILE_MEANING = {
    "smoke": "the smoke profile trains small models briefly on subsets, so its numbers only show that the code "
             "works, not what the course's methods reach",
    "full": "the full profile runs the whole dataset and the real training recipe",
}
LINK = re.compile(r"(\]\()([^)\s]+)(\))")
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$", re.M | re.S)


def title(nb: nbformat.NotebookNode) -> str:
    """The text of a notebook's first level-1 heading ("05 U-Net: from blocks to a baseline")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    raise ValueError("the notebook has no level-1 heading ('# Title') to use as the page title")


def run_sentence(record: dict[str, str]) -> str:
    """One sentence (plain text) naming the run: profile, date, versions, devices and data."""
    ai4mars = record.get("ai4mars", "not found")
    return (f"executed in the {record['profile']} profile on {record['date']} with Python {record['python']}, "
            f"marslab {record['marslab']}, TensorFlow {record['tensorflow']}, Keras {record['keras']} "
            f"({record['keras backend']} backend), keras-cv {record['keras-cv']} and NumPy {record['numpy']}; "
            f"devices: {record['devices']}; data: {record['data']}"
            + (f", real AI4Mars sample {ai4mars}" if ai4mars != "not found" else ""))


def rewrite_links(text: str, origin: str, dest: str, pages: dict[str, str]) -> str:
    """Re-point relative Markdown links of a file moved from repo path `origin` to site path `dest`.

    pages: {repo path: site path} of the files that are pages; links to other files go to the repository.
    """
    def fix(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith(("#", "/")):
            return match.group(0)
        path, _, fragment = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(posixpath.dirname(origin), path))
        if repo_path in pages:
            new = posixpath.relpath(pages[repo_path], posixpath.dirname(dest) or ".")
        else:
            kind = "tree" if (ROOT / repo_path).is_dir() else "blob"
            new = f"https://github.com/{REPO}/{kind}/{BRANCH}/{repo_path}"
        return match.group(1) + new + ("#" + fragment if fragment else "") + match.group(3)

    return LINK.sub(fix, text)


def elide_solutions(text: str) -> str:
    """Replace the code between `### BEGIN SOLUTION` and `### END SOLUTION` by an indented `...`."""
    return SOLUTION.sub(lambda m: f"{m.group(1)}### BEGIN SOLUTION\n{m.group(1)}...\n{m.group(1)}### END SOLUTION",
                        text)


def _header(source: Path, note: str) -> nbformat.NotebookNode:
    """The note cell under a page's title: what the page shows, Open in Colab, download the notebook."""
    rel = source.relative_to(ROOT).as_posix()
    return nbformat.v4.new_markdown_cell(
        f'<div class="marslab-run">\n<p>{note}</p>\n<p class="marslab-links">'
        f'<a class="marslab-colab" href="{html.escape(colab_url(rel))}">Open in Colab</a>'
        f'<a class="marslab-download" href="{html.escape(source.name)}" download>Download the notebook</a>'
        f"</p>\n</div>")


def _web_notebook(nb: nbformat.NotebookNode, source: Path, note: str, pages: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of `nb` for the web: badge cell dropped, note cell after the title, links and widgets fixed."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    rel = source.relative_to(ROOT).as_posix()
    cells = [c for c in nb.cells if not (c.cell_type == "markdown" and "colab.research.google.com" in c.source
                                         and len(c.source.splitlines()) == 1)]
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, rel, pages.get(rel, rel), pages)
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out.data = {"text/html": WIDGET_NOTE}
    first = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("# "))
    heading, _, rest = cells[first].source.partition("\n")
    split = [nbformat.v4.new_markdown_cell(heading), _header(source, note)]
    if rest.strip():
        split.append(nbformat.v4.new_markdown_cell(rest.strip("\n")))
    nb.cells = split[:2] + cells[:first] + split[2:] + cells[first + 1:]  # title and note above the install cell
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"page-{i:03d}"
    return nb


def lesson_page(executed: nbformat.NotebookNode, source: Path, pages: dict[str, str]) -> nbformat.NotebookNode:
    """A lesson's page: its executed copy with the run note (profile, date, versions), Colab and download links."""
    record = executed.metadata[META_KEY]
    meaning = PROFILE_MEANING.get(record["profile"], "")
    note = ("<strong>The outputs on this page come from one run of this lesson</strong>, "
            f"{html.escape(run_sentence(record))}.")
    if meaning:
        note += f" {html.escape(meaning[0].upper() + meaning[1:])}."
    return _web_notebook(executed, source, note, pages)


def exercise_page(source: Path, pages: dict[str, str]) -> nbformat.NotebookNode:
    """An exercise's page: the stub notebook as generated (never run, so no outputs), with its links."""
    note = ("<strong>An exercise notebook with stubs to fill in.</strong> Run it in Colab or download it; the check "
            "after each question gives immediate feedback, <code>hint()</code> helps.")
    return _web_notebook(nbformat.read(source, as_version=4), source, note, pages)


def markdown_page(source: Path, dest: str, pages: dict[str, str]) -> str:
    """A Markdown file of the repository as a page at site path `dest`: links re-pointed, solutions elided."""
    text = elide_solutions(source.read_text())
    return rewrite_links(text, source.relative_to(ROOT).as_posix(), dest, pages)


def lesson_map(lessons: list[tuple[Path, str]], exercises: dict[str, Path]) -> str:
    """The home page's lesson table: number, title, exercise and Colab link; exercises matched by number."""
    rows = ["| # | lesson | exercise | run it |", "|---|---|---|---|"]
    for source, name in lessons:
        number, text = name.split(" ", 1) if name[:2].isdigit() else (source.name[:2], name)
        exercise = exercises.get(source.name[:2])
        ex_link = f"[exercise {number}](exercises/{exercise.stem})" if exercise else ""
        rel = source.relative_to(ROOT).as_posix()
        rows.append(f"| {number} | [{text}](notebooks/{source.stem}) | {ex_link} | [Open in Colab]({colab_url(rel)}) |")
    return "\n".join(rows)


def exercises_index(exercises: list[tuple[Path, str]]) -> str:
    """The exercises page: what they are and one line per exercise notebook."""
    lines = ["# Exercises", "",
             "One exercise notebook per lesson topic. Each question is a function with a stub; the check that "
             "follows it runs your function on hidden cases and says *Correct*, *Incorrect* with what is wrong, "
             "or *Not attempted*. The solutions are not on this site.", ""]
    lines += [f"- [{name}]({source.stem})" for source, name in exercises]
    lines += ["", "```{toctree}", ":hidden:", "", *[source.stem for source, _ in exercises], "```", ""]
    return "\n".join(lines)
