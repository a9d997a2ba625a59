"""The gradebook CSV and the feedback files, written atomically and never over an instructor's files.

Feedback files show each check's message and hints, never the solution, and never the values of the
hidden test cases: the checks' messages quote them ("expected [0.2, 0.3], got ..."), so in feedback
every list, quoted string holding a digit, decimal number, number of three or more digits and run of
five or more numbers in a message is replaced by "…". Words, code such as `padding='same'`, and small
integers (a class index, a shape such as (5,)) stay.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

WITHHELD = "…"
_LIST = re.compile(rf"\[(?:[^\[\]]|\[{WITHHELD}\])*\]")  # a list of values or of lists already withheld
_QUOTED = re.compile(r"""(?<![\w'"`])(['"])[^'"\n\d]*\d[^'"\n]*\1(?![\w'"])""")  # with a digit: data, not a word
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+(?=[eE][-+]?\d))(?:[eE][-+]?\d+)?(?![\w.])"
                     r"|(?<![\w.])\d{3,}(?![\w.])")
_RUN = re.compile(rf"(?:{WITHHELD}|\d+)(?:[\s,;]+(?:{WITHHELD}|\d+)){{4,}}")
MESSAGE_CHARS = 600


def withhold(message: str) -> str:
    """`message` with the values it quotes replaced by "…" (see the module docstring)."""
    previous = None
    while previous != message:  # innermost lists first
        previous, message = message, _LIST.sub(f"[{WITHHELD}]", message)
    message = _NUMBER.sub(WITHHELD, _QUOTED.sub(f"'{WITHHELD}'", message))
    message = _RUN.sub(WITHHELD, message)
    return message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + " …"


@dataclass(frozen=True)
class QuestionInfo:
    """What the gradebook and the feedback need of a question (never its tests or its solution)."""

    name: str
    function: str
    points: int
    hints: tuple[str, ...]


@dataclass
class Row:
    """One gradebook row: a submission, its points per question and what went wrong."""

    student: str
    file: str
    exercise: str
    points: dict[str, int]  # empty when the submission was not graded against the gradebook's exercise
    status: str
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    feedback: str = ""

    @property
    def total(self) -> int:
        """The sum of the question points."""
        return sum(self.points.values())


def columns(questions: list[QuestionInfo]) -> list[str]:
    """The gradebook's header: student, file, exercise, q1, q2, ..., total, status, seconds, problems."""
    return ["student", "file", "exercise", *[q.name for q in questions], "total", "status", "seconds", "problems"]


def csv_text(rows: list[Row], questions: list[QuestionInfo], kept: list[dict[str, str]] = ()) -> str:
    """The gradebook as CSV text: `kept` rows (from an earlier gradebook) and `rows`, sorted by student and file."""
    records = [dict(r) for r in kept]
    for row in rows:
        record = {"student": row.student, "file": row.file, "exercise": row.exercise, "total": row.total,
                  "status": row.status, "seconds": f"{row.seconds:.2f}", "problems": "; ".join(row.problems)[:2000]}
        record.update({q.name: row.points.get(q.name, "") for q in questions})
        records.append(record)
    records.sort(key=lambda r: (r["student"], r["file"]))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(questions), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def read_gradebook(path: Path, questions: list[QuestionInfo]) -> list[dict[str, str]]:
    """The rows of an existing gradebook; ValueError unless its columns are this exercise's."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        header = reader.fieldnames or []
    if header != columns(questions):
        raise ValueError(f"{path} has the columns {','.join(header)}; expected {','.join(columns(questions))} "
                         "(a gradebook of another exercise?)")
    return rows


def feedback_name(student: str) -> str:
    """A file name for the student's feedback (characters other than letters, digits, @ . - and space -> _)."""
    return (re.sub(r"[^\w@. -]+", "_", student).strip(" .") or "student") + ".md"


def write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, so that no reader sees half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_feedback(folder: Path, files: dict[str, str], replace: bool) -> None:
    """Write {name: text} as the folder's files. replace: the folder becomes exactly these files (built aside,
    then swapped in); otherwise they are added to the existing folder, one atomic write each."""
    if not replace:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            write_text(folder / name, text)
        return
    building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        for name, text in files.items():
            (building / name).write_text(text, encoding="utf-8")
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old."))
            os.replace(folder, old / folder.name)
        os.replace(building, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
