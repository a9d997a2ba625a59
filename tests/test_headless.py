"""Headless execution of the notebooks that use widgets (issue 24): run their widget cells several times
with nbclient, as nbconvert, nbval and an instructor's grading do, and check that no run stalls.

The stall it guards against: with `ipywidgets.interact` (an Output widget), nbclient sends the Output
widget's state to the kernel on the shell channel while it waits there for the cell's reply, and in 5 of
10 runs of the old browser it saw that reply only when the cell's timeout ran out (never without one).
`marslab.plots.browse` therefore redraws an `ipywidgets.Image` from its slider: no Output widget."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
WIDGETS = re.compile(r"ipywidgets|\binteract\b|\bwidgets\.|\bbrowse\(")
RUNS = 4
STALL_SECONDS = 10.0  # a stalled run waits for the cell timeout (60 s here); a sound one moves on at once


def widget_cells() -> dict[str, str]:
    """{notebook path: source of its code cells that use widgets}, over lessons, solutions and exercises."""
    found = {}
    for path in sorted(p for d in ("notebooks", "solutions", "exercises") for p in (ROOT / d).glob("*.ipynb")):
        cells = [c["source"] for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        cells = ["".join(c) if isinstance(c, list) else c for c in cells]
        widget = [c for c in cells if WIDGETS.search(c) and "import" not in c.split("\n")[0]]
        if widget:
            found[path.relative_to(ROOT).as_posix()] = "\n".join(widget)
    return found


def test_notebooks_use_widgets_only_through_browse():
    cells = widget_cells()
    assert cells, "no notebook uses the widget browser any more: update this test"
    for path, source in cells.items():
        assert not re.search(r"ipywidgets|\binteract\b|\bwidgets\.|Output\(", source), (path, source)


def parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@pytest.mark.parametrize("lesson", sorted(widget_cells()))
def test_headless_runs_of_the_widget_cells_never_stall(tmp_path, lesson):
    """The lesson's own widget cells, on a small synthetic set, run RUNS times in fresh kernels."""
    setup = ("import marslab\nmarslab.quiet()\nimport numpy as np\nfrom marslab.plots import browse\n"
             "from marslab.synthetic import make_mars\n"
             "data = make_mars(n_train=12, n_test=2, n_aliens=2)\nsample = np.arange(6)")
    cells = [setup, widget_cells()[lesson], "print('after the widgets')"]
    for run in range(RUNS):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        NotebookClient(nb, timeout=60, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        assert nb.cells[-1].outputs[0]["text"] == "after the widgets\n"
        timing = [c.metadata["execution"] for c in nb.cells]
        gaps = [(parse(b["iopub.execute_input"]) - parse(a["iopub.status.idle"])).total_seconds()
                for a, b in zip(timing, timing[1:])]
        assert max(gaps) < STALL_SECONDS, f"run {run}: the next cell started {max(gaps):.0f} s after the last ended"
