"""Grade a class: submitted notebooks in, a gradebook CSV and one feedback file per submission out."""
from __future__ import annotations

import collections
import difflib
import importlib
import os
import re
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from marslab.grading import feedback as fb
from marslab.grading.extract import NotebookError, Program, extract
from marslab.grading.report import (QuestionInfo, Row, csv_text, feedback_name, read_gradebook, withhold,
                                    write_feedback, write_text)
from marslab.grading.runner import CRASHED, TIMED_OUT, Graded, Runner, Task, checks_modules
from marslab.grading.sources import Submission, collect

GRADED, NOT_A_NOTEBOOK, OTHER_EXERCISE, NO_EXERCISE = "graded", "not a notebook", "other exercise", "no exercise"
_WORST_FIRST = (CRASHED, TIMED_OUT, "out of memory")
_REPORTED = ("missing", "error", "out of memory", TIMED_OUT, CRASHED)
PRINTED_NOTE = 100_000  # characters printed during grading above which the row says so


@dataclass
class Gradebook:
    """The result of `grade`: the exercise, its questions, the rows written, where, and the time taken."""

    exercise: str
    questions: list[QuestionInfo]
    rows: list[Row]
    path: Path
    feedback: Path
    startup_seconds: float
    seconds: float


@dataclass
class _Entry:
    submission: Submission
    program: Program | None = None
    error: str = ""
    candidates: tuple[str, ...] = ()


def catalogue() -> dict[str, list[QuestionInfo]]:
    """{"ex01": [QuestionInfo(q1), ...], ...} for every checks module (questions without a function left out)."""
    found = {}
    for name in checks_modules():
        questions = importlib.import_module(name).QUESTIONS
        found[name.rsplit(".", 1)[1]] = [QuestionInfo(q.name, q.function, q.points, tuple(q.hints))
                                         for q in questions if q.function]
    return found


def exercise_id(text: str, known: Iterable[str]) -> str:
    """"ex03" for "ex03", "03", "3" or "03_class_weights.ipynb"; ValueError if no such exercise."""
    match = re.match(r"(?:ex)?0*(\d+)", Path(str(text)).name)
    exercise = f"ex{int(match.group(1)):02d}" if match else str(text)
    if exercise not in known:
        raise ValueError(f"unknown exercise {text!r}; expected one of {', '.join(sorted(known))}")
    return exercise


def identify(program: Program, exercises: dict[str, list[QuestionInfo]]) -> tuple[str, ...]:
    """The exercises whose question functions the program defines most of (ties broken by the checks module it
    imports); () if it defines none."""
    defined = program.defined()
    scores = {ex: sum(q.function in defined for q in qs) for ex, qs in exercises.items()}
    best = max(scores.values(), default=0)
    if best == 0:
        return ()
    top = tuple(ex for ex, score in sorted(scores.items()) if score == best)
    return tuple(ex for ex in top if ex in program.checks_imported) or top


def _read(submission: Submission, max_bytes: int) -> _Entry:
    try:
        return _Entry(submission, extract(submission.read(max_bytes)))
    except NotebookError as e:
        return _Entry(submission, error=str(e))
    except (ValueError, OSError, zipfile.BadZipFile, RecursionError, MemoryError) as e:
        return _Entry(submission, error=f"not a notebook: {e}")


def _target(entries: list[_Entry]) -> str:
    votes = collections.Counter(e.candidates[0] for e in entries if e.candidates)
    if not votes:
        raise ValueError(f"none of the {len(entries)} notebooks defines the functions of an exercise; "
                         "name the exercise with --exercise")
    (first, n), *rest = votes.most_common()
    if rest and rest[0][1] == n:
        raise ValueError(f"as many notebooks answer {first} as {rest[0][0]} ({n}); choose one with --exercise")
    return first


def _graded_row(entry: _Entry, exercise: str, questions: list[QuestionInfo], graded: Graded) -> Row:
    program, verdicts = entry.program, graded.verdicts
    points = {q.name: q.points if verdicts.get(q.name) and verdicts[q.name].outcome == "correct" else 0
              for q in questions}
    outcomes = {v.outcome for v in verdicts.values()}
    status = next((o for o in _WORST_FIRST if o in outcomes), GRADED)
    notes = list(program.problems) + graded.problems
    for q in questions:
        binding = program.last_binding(q.function)
        if binding is not None and binding.kind == "import":
            notes.append(f"{q.name}: `{q.function}` is imported from {binding.source_module}, "
                         "not written in the notebook")
    if graded.printed > PRINTED_NOTE:
        notes.append(f"printed {graded.printed:,} characters while being graded (discarded)")
    reported = [(q.name, verdicts[q.name]) for q in questions if verdicts.get(q.name)
                and verdicts[q.name].outcome in _REPORTED]  # an error's message may quote hidden cases
    problems = notes + [f"{name}: {v.outcome}: {withhold(v.message) if v.outcome == 'error' else v.message}"
                        for name, v in reported]
    row = Row(entry.submission.student, entry.submission.label, exercise, points, status, graded.seconds, problems)
    row.feedback = fb.graded_text(row, questions, verdicts, notes)
    return row


def _ungraded_row(entry: _Entry, exercise: str, exercises: dict[str, list[QuestionInfo]]) -> Row:
    submission = entry.submission
    if entry.error:
        row, reason = Row(submission.student, submission.label, "", {}, NOT_A_NOTEBOOK), entry.error
    elif entry.candidates:
        other = entry.candidates[0]
        functions = ", ".join(q.function for q in exercises[other] if q.function in entry.program.defined())
        row = Row(submission.student, submission.label, other, {}, OTHER_EXERCISE)
        reason = f"this notebook answers exercise {other} (it defines {functions}), not {exercise}"
    else:
        row = Row(submission.student, submission.label, "", {}, NO_EXERCISE)
        wanted = ", ".join(q.function for q in exercises[exercise])
        reason = f"the notebook defines none of the functions of exercise {exercise} ({wanted})"
    row.problems.append(reason)
    row.feedback = fb.ungraded_text(row, exercise, reason)
    return row


def _check_outputs(out: Path, feedback: Path, force: bool, update: bool) -> None:
    if force and update:
        raise ValueError("--force replaces the gradebook, --update adds to it: choose one")
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder; expected the path of the gradebook CSV")
    if update and not out.is_file():
        raise FileNotFoundError(f"--update: gradebook {out} does not exist")
    for path in (out, feedback):
        if path.exists() and not (force or update):
            raise FileExistsError(f"{path} already exists; --force replaces it, --update re-grades into it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"folder {out.parent} for the gradebook does not exist")


def grade(sources: list[str | os.PathLike], out: str | os.PathLike, *, exercise: str | None = None,
          feedback: str | os.PathLike | None = None, jobs: int | None = None, timeout: float = 60.0,
          memory_mb: int = 1024, students: Iterable[str] | None = None, force: bool = False, update: bool = False,
          max_notebook_mb: float = 50.0, start_method: str = "forkserver",
          progress: Callable[[str], None] | None = None) -> Gradebook:
    """Grade every notebook in `sources` (folders, zips, files) and write the gradebook `out` (CSV) and one
    feedback file per submission (markdown, in `feedback`, default `<out stem>_feedback/`).

    exercise: "ex03" etc. (default: the one most notebooks answer); timeout: seconds per step (definitions,
    each question); memory_mb: new memory per grading process; students: grade only these ids;
    update: replace these students' rows of an existing gradebook (and their feedback), keep the others.
    """
    out = Path(out)
    feedback_dir = Path(feedback) if feedback is not None else out.with_name(out.stem + "_feedback")
    _check_outputs(out, feedback_dir, force, update)
    submissions = collect(list(sources))
    if not submissions:
        raise ValueError(f"no submitted notebooks in {', '.join(map(str, sources))} (expected *.ipynb files, in "
                         "folders or zips)")
    if students is not None:
        found = {s.student for s in submissions}
        for student in students:
            if student not in found:
                close = difflib.get_close_matches(student, found, n=3) or sorted(found)[:3]
                raise ValueError(f"no submission of student {student!r}; ids found include {', '.join(close)}")
        submissions = [s for s in submissions if s.student in set(students)]
    exercises = catalogue()
    entries = [_read(s, int(max_notebook_mb * 2**20)) for s in submissions]
    for entry in entries:
        entry.candidates = identify(entry.program, exercises) if entry.program else ()
    target = exercise_id(exercise, exercises) if exercise else _target(entries)
    questions = exercises[target]
    kept = read_gradebook(out, questions) if update else []
    rows: dict[int, Row] = {}
    to_grade = {i: e for i, e in enumerate(entries) if not e.error and target in e.candidates}
    for i, entry in enumerate(entries):
        if i not in to_grade:
            rows[i] = _ungraded_row(entry, target, exercises)

    def done(key: int, graded: Graded) -> None:
        rows[key] = row = _graded_row(to_grade[key], target, questions, graded)
        if progress is not None:
            progress(f"{len(rows) - len(entries) + len(to_grade):>5}/{len(to_grade)}  {row.student:<24} "
                     f"{row.total}/{sum(q.points for q in questions)}  {row.status}  {row.seconds:.1f} s")

    runner = Runner(jobs or os.cpu_count() or 1, timeout, memory_mb, start_method)
    startup = runner.warm_up() if to_grade else 0.0
    start = time.perf_counter()
    runner.run([Task(i, f"marslab.checks.{target}", e.program.statements, [q.name for q in questions])
                for i, e in to_grade.items()], on_done=done)
    ordered = [rows[i] for i in sorted(rows, key=lambda i: (rows[i].student, rows[i].file))]
    counts = collections.Counter(r.student for r in ordered)
    for row in ordered:
        if counts[row.student] > 1:
            row.problems.append(f"{counts[row.student]} notebooks of this student in this batch")
    files, used = {}, collections.Counter()
    for row in ordered:
        name = feedback_name(row.student)
        used[name] += 1
        files[name if used[name] == 1 else f"{name[:-3]}-{used[name]}.md"] = row.feedback
    replaced = {r.student for r in ordered}
    if update and feedback_dir.is_dir():  # the re-graded students' old files go, the others' stay
        stale = re.compile("|".join(rf"{re.escape(feedback_name(s)[:-3])}(-\d+)?\.md" for s in replaced))
        for path in feedback_dir.glob("*.md"):
            if stale.fullmatch(path.name):
                path.unlink()
    write_feedback(feedback_dir, files, replace=not update)
    write_text(out, csv_text(ordered, questions, [r for r in kept if r["student"] not in replaced]))
    return Gradebook(target, questions, ordered, out, feedback_dir, startup, time.perf_counter() - start)
