"""Checks for the exercise notebooks: one module per notebook (`ex01` for exercises/01_*.ipynb, ...).

    from marslab.checks import ex01 as check
    check.q1(my_function)     # Correct / Incorrect (why) / Not attempted
    check.q1.hint()           # staged hints: hint(1), hint(2), ...
    check.q1.solution()

Each module lists its questions in `QUESTIONS`. The framework is in `marslab.checks._core`.
"""
from marslab.checks._core import (CORRECT, INCORRECT, NOT_ATTEMPTED, Feedback, Incorrect, Question,
                                  assert_check_failed, assert_check_not_attempted, assert_check_passed)

__all__ = ["Question", "Feedback", "Incorrect", "CORRECT", "INCORRECT", "NOT_ATTEMPTED",
           "assert_check_passed", "assert_check_failed", "assert_check_not_attempted"]
