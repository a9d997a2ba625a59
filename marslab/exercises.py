"""Generate the student notebooks in exercises/ from the solved notebooks in solutions/.

Solution code sits between nbgrader's markers:

    def class_pixel_counts(masks, num_classes=5):
        ### BEGIN SOLUTION
        return np.bincount(masks.ravel(), minlength=num_classes)
        ### END SOLUTION

and becomes a stub that points to the question's hint (the question is the cell's nbgrader
`grade_id`, e.g. "q1"):

    def class_pixel_counts(masks, num_classes=5):
        # YOUR CODE HERE
        raise NotImplementedError("Write your solution here; check.q1.hint() helps")

Markdown answers between the same markers become "YOUR ANSWER HERE". Outputs are cleared and the
Colab badge points to the exercise; nothing else changes. The work is done by nbgrader's own
`ClearSolutions` preprocessor, run standalone (no course database), so an instructor can also feed
solutions/ to nbgrader itself and get the same stubs.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor

from marslab.files import atomic_path

try:
    from nbgrader.preprocessors import ClearSolutions
except ImportError as e:  # an instructor tool: students never need it
    raise ImportError("generating exercises needs nbgrader: pip install 'marslab[instructor]'") from e

STUB = "# YOUR CODE HERE\nraise NotImplementedError(\"Write your solution here{pointer}\")"
TEXT_STUB = "YOUR ANSWER HERE"


def code_stub(question: str | None) -> str:
    """The code that replaces a solution region of the cell answering `question` (e.g. "q1")."""
    return STUB.format(pointer=f"; check.{question}.hint() helps" if question else "")


class _ClearSolutionsWithHint(ClearSolutions):
    """ClearSolutions whose stub names the hint of the question the cell answers."""

    def preprocess_cell(self, cell, resources, cell_index):  # noqa: D102 (nbconvert's signature)
        question = cell.metadata.get("nbgrader", {}).get("grade_id")
        self.code_stub = dict(self.code_stub, python=code_stub(question))
        return super().preprocess_cell(cell, resources, cell_index)


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student version of the solved notebook `solution` (stored as `name`); returns a new notebook."""
    nb = nbformat.from_dict(solution)  # a deep copy: the source stays as it was
    try:
        nb, _ = _ClearSolutionsWithHint(enforce_metadata=False, text_stub=TEXT_STUB).preprocess(nb, {})
    except RuntimeError as e:  # nbgrader's words for unbalanced markers
        raise ValueError(f"{name}: {e} (every '### BEGIN SOLUTION' needs its '### END SOLUTION')") from None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and re.search(r"^raise NotImplementedError", cell.source, re.M):
            raise ValueError(f"{name}, cell {index}: a solution region at the top level of a cell would stop the "
                             "exercise notebook there; put the markers inside a function body")
    nb, _ = ClearOutputPreprocessor().preprocess(nb, {})
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "colab.research.google.com/github/" in cell.source:
            cell.source = cell.source.replace(f"/solutions/{name}", f"/exercises/{name}")
    return nb


MARKER = "### BEGIN SOLUTION"


def _check_folders(solutions_dir: Path, exercises_dir: Path) -> None:
    """Refuse a pair of folders where writing the exercises could overwrite the solutions."""
    src, dst = solutions_dir.resolve(), exercises_dir.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise ValueError(f"the solutions folder {solutions_dir} and the exercises folder {exercises_dir} must be "
                         "two separate folders, neither inside the other (the exercises would overwrite the solutions)")


def generate_exercises(solutions_dir: str | os.PathLike = "solutions",
                       exercises_dir: str | os.PathLike = "exercises") -> list[Path]:
    """Write the exercise version of every solutions_dir/*.ipynb into exercises_dir; return the paths.

    Deterministic: the same solutions give byte-identical exercises. Refused before anything is written:
    the same folder twice or one inside the other, and an existing notebook in exercises_dir that holds
    solution markers (a solved notebook is never overwritten). Each notebook appears in one step.
    """
    solutions_dir, exercises_dir = Path(solutions_dir), Path(exercises_dir)
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"solutions folder {solutions_dir} does not exist; expected the solved notebooks there")
    _check_folders(solutions_dir, exercises_dir)
    sources = sorted(solutions_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no *.ipynb in {solutions_dir}: nothing to generate")
    for source in sources:
        target = exercises_dir / source.name
        if target.is_file() and MARKER in target.read_text(errors="replace"):
            raise ValueError(f"{target} holds solution markers ({MARKER!r}): it is a solved notebook, not a "
                             "generated exercise; move it away first, it is never overwritten")
    exercises = [(exercises_dir / s.name, make_exercise(nbformat.read(s, as_version=4), s.name)) for s in sources]
    exercises_dir.mkdir(parents=True, exist_ok=True)
    for target, exercise in exercises:
        nbformat.validate(exercise)
        with atomic_path(target) as tmp:
            nbformat.write(exercise, tmp)  # the same writer as tools/nb.py: sorted keys, stable bytes
    return [target for target, _ in exercises]


_CHECK_CELL = re.compile(r"^check\.(q\d+)(?:\.check)?\(", re.M)


def grade_notebook(path: str | os.PathLike, timeout: int = 600) -> dict[str, str]:
    """Run a student's exercise notebook top to bottom and collect what each check said.

    Returns {question: "correct" | "incorrect: why" | "not attempted" | "error: ExceptionName" | "not run"}
    for every check cell (`check.q1(...)`), the last one per question. Errors do not stop the run.
    """
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} does not exist")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    grades: dict[str, str] = {}
    for cell in nb.cells:
        match = _CHECK_CELL.search(cell.source) if cell.cell_type == "code" else None
        if not match:
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in cell.outputs)
        if errors:
            grades[match.group(1)] = f"error: {errors[0].ename}"
        elif text:
            outcome, _, message = text.strip().partition(": ")
            grades[match.group(1)] = outcome.lower() + (f": {message}" if outcome.lower() == "incorrect" else "")
        else:
            grades[match.group(1)] = "not run"
    return grades
