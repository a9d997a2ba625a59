"""Grade a class: `marslab grade SUBMISSIONS... --out gradebook.csv` (or `marslab.grading.grade`).

Each submitted notebook is identified by the functions it defines (not by its file name); its imports,
functions, classes and plain assignments are extracted without running the notebook (`extract`), then
run with the course's checks in a separate process per submission, under a time and memory limit
(`runner`, `child`). The result is a gradebook CSV with one row per submission and one markdown
feedback file per submission that never shows hidden test values or solutions (`report`, `feedback`).
Student ids come from file and folder names, LMS export layouts included (`sources`).
"""
from marslab.grading.batch import Gradebook, grade
from marslab.grading.report import withhold
from marslab.grading.sources import student_from_name

__all__ = ["grade", "Gradebook", "withhold", "student_from_name"]
