"""Root pytest configuration: tests and notebooks run in the smoke profile unless told otherwise.

With $MARSLAB_EXECUTED_DIR set (CI sets it), every lesson that nbval runs completely is also written
there with its outputs and the run's record (tools/executed.py), for the site build to reuse; and the
site test runs after the notebooks, whatever order pytest collected them in.
"""
import os
from pathlib import Path

os.environ.setdefault("MARSLAB_PROFILE", "smoke")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if not os.environ.get("MARSLAB_OUTPUT_DIR"):  # lessons' runs and submissions go here, not into notebooks/
    import tempfile

    os.environ["MARSLAB_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="marslab-outputs-")

LESSONS = Path(__file__).resolve().parent / "notebooks"
_run = {"record": None, "cells": {}}  # this session's run record; {lesson path: [(passed, outputs)]}


def pytest_collection_modifyitems(session, config, items):
    """Move the site test last, so that it sees the executed copies of this session's lessons."""
    site = [item for item in items if item.nodeid.startswith("tests/test_site.py")]
    if site:
        items[:] = [item for item in items if item not in site] + site


def _lesson_cell(item) -> bool:
    """Whether `item` is an nbval cell of a lesson in notebooks/ (and the hook is on)."""
    return (bool(os.environ.get("MARSLAB_EXECUTED_DIR")) and hasattr(item, "test_outputs")
            and hasattr(item, "cell_num") and item.path.parent == LESSONS)


def pytest_runtest_makereport(item, call):
    """Keep each lesson cell's outputs (nbval's item.test_outputs) and whether it passed."""
    if call.when == "call" and _lesson_cell(item):
        cells = _run["cells"].setdefault(item.path, [])
        cells.append((call.excinfo is None, list(item.test_outputs or [])))


def pytest_runtest_teardown(item, nextitem):
    """After a lesson's last cell: write its executed copy if every code cell ran and passed."""
    if not _lesson_cell(item) or (nextitem is not None and nextitem.path == item.path):
        return
    from tools import executed

    path = item.path
    cells = _run["cells"].pop(path, [])
    code_cells = sum(cell.cell_type == "code" for cell in item.parent.nb.cells)
    if len(cells) != code_cells or not all(passed for passed, _ in cells):
        return
    if _run["record"] is None:
        _run["record"] = executed.run_record()
    out_dir = Path(os.environ["MARSLAB_EXECUTED_DIR"]).resolve()
    executed.write_copy(path, [outs for _, outs in cells], _run["record"], out_dir)
