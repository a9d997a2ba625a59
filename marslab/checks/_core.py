"""The check framework behind the exercises, in the style of Kaggle Learn.

A `Question` runs hidden test cases against the student's function and shows one of three outcomes:
Correct, Incorrect (with a specific message) or Not attempted (the stub still raises
NotImplementedError). It also gives staged hints and the solution:

    from marslab.checks import ex01 as check
    check.q1(class_pixel_counts)      # or check.q1.check(class_pixel_counts)
    check.q1.hint()                   # first hint; check.q1.hint(2) the next one
    check.q1.solution()

Only `Incorrect` (raised by the check's own tests) and `NotImplementedError` (raised by the stub) are
caught: any other error in the student's code surfaces as itself, with its traceback.
"""
from __future__ import annotations

import html
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CORRECT = "correct"
INCORRECT = "incorrect"
NOT_ATTEMPTED = "not attempted"

_COLOURS = {CORRECT: "#2e7d32", INCORRECT: "#c62828", NOT_ATTEMPTED: "#1565c0", "hint": "#6a1b9a",
            "solution": "#37474f"}


class Incorrect(Exception):
    """Raised by a check's test when the answer is wrong; its message says what is wrong."""


@dataclass(frozen=True)
class Feedback:
    """What a check (or a hint, or a solution) shows: a coloured label and a message (markdown)."""

    outcome: str
    message: str = ""

    def _label(self) -> str:
        return self.outcome[0].upper() + self.outcome[1:]

    def __str__(self) -> str:
        return f"{self._label()}: {self.message}" if self.message else self._label()

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        colour = _COLOURS.get(self.outcome) or _COLOURS.get(self.outcome.split()[0], "#000000")  # "hint 1/2" -> hint
        label = f'<span style="color:{colour}"><b>{html.escape(self._label())}</b></span>'
        return f"{label}: {self.message}" if self.message else label


def show(feedback: Feedback) -> None:
    """Display `feedback` as coloured markdown in IPython/Jupyter, as plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python without IPython installed
        print(feedback)
        return
    if get_ipython() is None:
        print(feedback)
    else:
        display(feedback)


class Question:
    """One exercise question: hidden tests, staged hints and the solution.

    test: called with the student's answer; raises `Incorrect("what is wrong")` or returns normally.
    hints: staged hints, most general first (markdown).
    solution: the solution code (shown as a Python block).
    function: the name of the function the student writes (how `marslab grade` finds the answer;
        None for a question that `marslab grade` cannot grade).
    points: what a correct answer is worth in the gradebook (shown in the exercise's question heading).
    """

    def __init__(self, name: str, title: str, test: Callable[[Any], None], hints: Sequence[str],
                 solution: str, correct_message: str = "", *, function: str | None = None, points: int = 1) -> None:
        if not hints:
            raise ValueError(f"question {name} needs at least one hint")
        if function is not None and not function.isidentifier():
            raise ValueError(f"question {name}: function should be a Python name, got {function!r}")
        if not (isinstance(points, int) and points > 0):
            raise ValueError(f"question {name}: points should be a positive int, got {points!r}")
        self.name = name
        self.function = function
        self.points = points
        self.title = title
        self._test = test
        self.hints = [textwrap.dedent(h).strip() for h in hints]
        self.solution_code = textwrap.dedent(solution).strip("\n")
        self.correct_message = correct_message

    def evaluate(self, answer: Any = None) -> Feedback:
        """Run the hidden tests on `answer` and return the Feedback without showing it."""
        if answer is None:
            return Feedback(NOT_ATTEMPTED, f"pass your answer to the check, e.g. `check.{self.name}(my_function)`.")
        try:
            self._test(answer)
        except NotImplementedError:
            return Feedback(NOT_ATTEMPTED, f"replace the `raise NotImplementedError` stub with your code, run "
                                           f"its cell, then this check again (`check.{self.name}.hint()` helps).")
        except Incorrect as wrong:
            return Feedback(INCORRECT, str(wrong))
        return Feedback(CORRECT, self.correct_message)

    def check(self, answer: Any = None) -> None:
        """Run the hidden tests on `answer` and show Correct / Incorrect (why) / Not attempted."""
        show(self.evaluate(answer))

    __call__ = check

    def assert_correct(self, answer: Any) -> None:
        """Raise AssertionError (with the feedback) unless `answer` is correct: for autograder test cells."""
        feedback = self.evaluate(answer)
        if feedback.outcome != CORRECT:
            raise AssertionError(f"{self.name}: {feedback}")

    def hint(self, n: int = 1) -> None:
        """Show hint number `n` (1 = the most general); for a number that is not a hint, say which there are."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(self.hints):
            there = "one hint: `hint()`" if len(self.hints) == 1 else \
                f"{len(self.hints)} hints: `check.{self.name}.hint(1)` to `check.{self.name}.hint({len(self.hints)})`"
            show(Feedback("hint", f"{self.name} has {there}; there is no hint({n!r})."))
            return
        more = f" (`check.{self.name}.hint({n + 1})` for more)" if n < len(self.hints) else ""
        show(Feedback(f"hint {n}/{len(self.hints)}", self.hints[n - 1] + more))

    def solution(self) -> None:
        """Show the solution code."""
        show(Feedback("solution", f"\n```python\n{self.solution_code}\n```"))

    def __repr__(self) -> str:
        return f"<Question {self.name}: {self.title}; call .check(answer), .hint(), .solution()>"


# ---- helpers for writing tests ---------------------------------------------------------------

def expect(condition: bool, message: str) -> None:
    """Raise Incorrect(message) unless `condition` holds."""
    if not condition:
        raise Incorrect(message)


def expect_callable(answer: Any, what: str = "a function") -> None:
    """The answer must be callable (the student passed their function, not its result)."""
    expect(callable(answer), f"expected {what}, got a {type(answer).__name__}: pass the function itself, "
                             "without calling it (no parentheses)")


def as_array(result: Any, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """`result` as a NumPy array with the expected shape, or Incorrect naming what was returned."""
    expect(result is not None, f"{what} is None: did the function forget to `return` its result?")
    try:
        array = np.asarray(result)
    except (TypeError, ValueError):
        raise Incorrect(f"{what} should be an array, got a {type(result).__name__}") from None
    expect(array.dtype != object, f"{what} should be a numeric array, got {type(result).__name__} of objects")
    if shape is not None:
        expect(array.shape == tuple(shape), f"{what} should have shape {tuple(shape)}, got {array.shape}")
    return array


def expect_close(got: np.ndarray, want: np.ndarray, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Incorrect unless `got` matches `want` elementwise; the message shows both (rounded)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    expect(got.shape == want.shape, f"{what} should have shape {want.shape}, got {got.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        raise Incorrect(f"{what}: expected {_fmt(want)}, got {_fmt(got)}")


def _fmt(x: np.ndarray) -> str:
    if x.size > 8:
        return f"an array with mean {np.nanmean(x):.4g} (shape {x.shape})"
    return np.array2string(x, precision=4, separator=", ", suppress_small=True)


# ---- helpers for testing the checks themselves ------------------------------------------------

def assert_check_passed(question: Question, answer: Any) -> None:
    """Assert that `answer` is judged correct."""
    feedback = question.evaluate(answer)
    assert feedback.outcome == CORRECT, f"{question.name} should pass, got: {feedback}"


def assert_check_failed(question: Question, answer: Any, message: str = "") -> None:
    """Assert that `answer` is judged incorrect, with `message` (a substring) in the feedback."""
    feedback = question.evaluate(answer)
    assert feedback.outcome == INCORRECT, f"{question.name} should fail, got: {feedback}"
    assert message in feedback.message, f"{question.name}: expected {message!r} in the feedback, got: {feedback}"


def assert_check_not_attempted(question: Question, answer: Any) -> None:
    """Assert that `answer` (a stub that raises NotImplementedError) is judged not attempted."""
    feedback = question.evaluate(answer)
    assert feedback.outcome == NOT_ATTEMPTED, f"{question.name} should be not attempted, got: {feedback}"
