"""The text of a student's feedback file (markdown): points, each check's outcome, message and hints."""
from __future__ import annotations

from marslab.grading.report import QuestionInfo, Row, withhold
from marslab.grading.runner import Verdict

_NOTES = {"missing": "no function of this name in the notebook",
          "timed out": "stopped at the time limit", "crashed": "the grading process stopped",
          "out of memory": "stopped at the memory limit"}


_WITHHELD_FROM = ("incorrect", "error")


def _file_name(label: str) -> str:
    """The notebook's own name, without the instructor's folders (or the zip it came in)."""
    return label.replace("\\", "/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _points(earned: int, possible: int) -> str:
    return f"{earned} of {possible} point{'s' if possible > 1 else ''}"


def graded_text(row: Row, questions: list[QuestionInfo], verdicts: dict[str, Verdict], notes: list[str]) -> str:
    """Feedback for a graded submission: per question the outcome, the message (values withheld) and hints."""
    possible = sum(q.points for q in questions)
    lines = [f"# Exercise {row.exercise}: feedback for {row.student}", "", f"Notebook: `{_file_name(row.file)}`", "",
             f"**{_points(row.total, possible)}**", ""]
    for q in questions:
        verdict = verdicts.get(q.name)
        outcome = verdict.outcome if verdict else "not graded"
        lines += [f"## {q.name} `{q.function}` ({_points(row.points.get(q.name, 0), q.points)}): {outcome}", ""]
        message = verdict.message if verdict else ""
        if outcome in _WITHHELD_FROM:  # the check's or the student's words may quote hidden cases
            message = withhold(message)
        message = message or _NOTES.get(outcome, "")
        if message:
            lines += [message, ""]
        if outcome != "correct":
            lines += ["Hints:", *[f"{i}. {hint}" for i, hint in enumerate(q.hints, start=1)], ""]
    if notes:
        lines += ["## Notes on the notebook", "", *[f"- {note}" for note in notes], ""]
    lines += ["Only the notebook's imports, functions, classes and plain assignments were run; then each check "
              "called your function on its own hidden cases."]
    return "\n".join(lines) + "\n"


def ungraded_text(row: Row, exercise: str, reason: str) -> str:
    """Feedback for a submission that could not be graded against `exercise`, saying why."""
    return (f"# Exercise {exercise}: feedback for {row.student}\n\nNotebook: `{_file_name(row.file)}`\n\n"
            f"**Not graded**: {reason}.\n")
