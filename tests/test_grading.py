"""`marslab grade`: a synthetic class made from solutions/ and exercises/ graded into an exact gradebook.

The class (exercise 03, whose checks are NumPy only, plus one exercise-01 notebook) holds a solved
notebook, the stubs, wrong answers the checks recognise, a notebook with cells deleted, reordered and
outputs left in, an endless loop, an unbounded allocation, megabytes of printing, a hard exit, a
function that raises with hidden data in its message, not-JSON, another exercise, no exercise, and an
LMS zip. It is graded once (module fixture) with small limits; the tests read the gradebook and the
feedback files it wrote.
"""
from __future__ import annotations

import copy
import csv
import importlib
import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import nbformat
import numpy as np
import pytest

from marslab.checks import ex03
from marslab.cli import main
from marslab.grading import grade, student_from_name, withhold
from marslab.grading.batch import catalogue, identify
from marslab.grading.extract import NotebookError, extract
from marslab.grading.report import feedback_name
from marslab.grading.sources import _students

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
TIMEOUT, MEMORY_MB = 3.0, 300
# Report 000: Table 1 (the input of ex03's q1 check) and Table 4, first row (the input of its q2 check).
TABLE1 = np.array([24.31, 33.90, 23.28, 18.38, 0.13]) / 100
TABLE4 = np.array([0.82, 0.59, 0.86, 1.09, 152.22])

WRONG_Q1 = "def inverse_frequency(freqs):\n    return 1.0 / freqs\n"
NORMALISE_THEN_ZERO = ("def zero_background(w):\n    w = np.array(w, dtype=float) / np.sum(w)\n    w[0] = 0\n"
                       "    return w\n")
EXTRA_COPY = ("def oversample_indices(masks, class_id=4, factor=4):\n    has = (masks == class_id).any(axis=(1, 2))\n"
              "    return np.repeat(np.arange(len(masks)), np.where(has, factor + 1, 1))\n")
ENDLESS = "def inverse_frequency(freqs):\n    while True:\n        pass\n"
GREEDY = "def oversample_indices(masks, class_id=4, factor=4):\n    kept = []\n    while True:\n" \
         "        kept.append(bytearray(10**7))\n"
CHATTY = ("def zero_background(w):\n    for _ in range(20000):\n        print('x' * 100)\n"
          "    w = np.array(w, dtype=float)\n    w[0] = 0\n    return w / w.sum()\n")
HARD_EXIT = "def zero_background(w):\n    import os\n    os._exit(3)\n"
LEAKY = "def inverse_frequency(freqs):\n    raise ValueError(f'cannot handle {freqs.tolist()} nor {freqs[0]}')\n"


def _notebook(name: str, folder: str = "solutions") -> dict:
    return json.loads((ROOT / folder / name).read_text())


def _replace(nb: dict, **sources: str) -> dict:
    """A copy of nb whose cells with nbgrader grade_id q1, q2, ... get the given sources."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell["source"] = sources[grade_id]
    return nb


def _mangled(nb: dict) -> dict:
    """Markdown and check cells deleted, code cells reversed, outputs left in, saved like Colab (nbformat 4.0)."""
    nb = copy.deepcopy(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "check." not in "".join(c["source"])]
    for cell in code:
        cell.pop("id", None)
        cell["execution_count"] = 7
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["profile: smoke\n"]},
                           {"output_type": "error", "ename": "NameError", "evalue": "x", "traceback": ["..."]}]
    nb["cells"] = code[::-1]
    nb["nbformat_minor"] = 0
    nb["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    return nb


def _lms_notebook(solved: dict) -> dict:
    """The solution with IPython syntax, a %%time cell holding q1 and a cell that does not parse."""
    nb = _replace(solved, q1="%%time\ndef inverse_frequency(freqs):\n    return 1.0 / (len(freqs) * freqs)\n")
    extra = nbformat.v4.new_code_cell("%matplotlib inline\n!pip list\nfiles = !ls\nprint(zero_background(\n")
    nb["cells"].insert(4, dict(extra, id="broken"))
    return nb


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The synthetic class graded once: (gradebook rows by student, feedback folder, Gradebook)."""
    base = tmp_path_factory.mktemp("class")
    solved, stub = _notebook("03_class_weights.ipynb"), _notebook("03_class_weights.ipynb", "exercises")
    class_ = {"alice": solved, "bob": stub, "carol": _replace(solved, q2=NORMALISE_THEN_ZERO, q3=EXTRA_COPY),
              "dave": _mangled(solved), "erin": _replace(solved, q1=ENDLESS), "frank": _replace(solved, q3=GREEDY),
              "grace": _replace(solved, q2=CHATTY), "ivan": _notebook("01_data_statistics.ipynb"),
              "leo": _replace(solved, q1=LEAKY), "nina": _replace(solved, q2=HARD_EXIT),
              "mallory": {"cells": [nbformat.v4.new_code_cell("x = 1")], "metadata": {}, "nbformat": 4,
                          "nbformat_minor": 5}}
    folder = base / "submissions"
    for student, nb in class_.items():
        (folder / student).mkdir(parents=True)
        (folder / student / "03_class_weights.ipynb").write_text(json.dumps(nb))
    (folder / "heidi").mkdir()
    (folder / "heidi" / "03_class_weights.ipynb").write_text('{"cells": [ truncated upload')
    (folder / "alice" / ".ipynb_checkpoints").mkdir()
    (folder / "alice" / ".ipynb_checkpoints" / "03_class_weights-checkpoint.ipynb").write_text("{}")
    with zipfile.ZipFile(base / "lms.zip", "w") as archive:  # Canvas names, inside a wrapper folder
        archive.writestr("export/kim_12345_678_03_class_weights.ipynb", json.dumps(_lms_notebook(solved)))
        archive.writestr("export/lou_LATE_23456_789_03_class_weights.ipynb", json.dumps(_replace(solved, q1=WRONG_Q1)))
        archive.writestr("__MACOSX/export/._kim_12345_678_03_class_weights.ipynb", "junk")
    book = grade([folder, base / "lms.zip"], base / "gradebook.csv", timeout=TIMEOUT, memory_mb=MEMORY_MB, jobs=2)
    with open(base / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return rows, base / "gradebook_feedback", book


# student: exercise, q1, q2, q3, total, status
EXPECTED = {
    "alice": ("ex03", "1", "1", "2", "4", "graded"),
    "bob": ("ex03", "0", "0", "0", "0", "graded"),
    "carol": ("ex03", "1", "0", "0", "1", "graded"),
    "dave": ("ex03", "1", "1", "2", "4", "graded"),
    "erin": ("ex03", "0", "1", "2", "3", "timed out"),
    "frank": ("ex03", "1", "1", "0", "2", "out of memory"),
    "grace": ("ex03", "1", "1", "2", "4", "graded"),
    "heidi": ("", "", "", "", "0", "not a notebook"),
    "ivan": ("ex01", "", "", "", "0", "other exercise"),
    "kim_12345": ("ex03", "1", "1", "2", "4", "graded"),
    "leo": ("ex03", "0", "1", "2", "3", "graded"),
    "lou_23456": ("ex03", "0", "1", "2", "3", "graded"),
    "mallory": ("", "", "", "", "0", "no exercise"),
    "nina": ("ex03", "1", "0", "2", "3", "crashed"),
}


def test_gradebook_rows_columns_and_points_are_exact(graded_class):
    rows, _, book = graded_class
    assert list(next(iter(rows.values()))) == ["student", "file", "exercise", "q1", "q2", "q3", "total", "status",
                                               "seconds", "problems"]
    got = {s: (r["exercise"], r["q1"], r["q2"], r["q3"], r["total"], r["status"]) for s, r in rows.items()}
    assert got == EXPECTED
    assert book.exercise == "ex03" and [(q.name, q.points) for q in book.questions] == [("q1", 1), ("q2", 1), ("q3", 2)]
    assert rows["kim_12345"]["file"].endswith("lms.zip:export/kim_12345_678_03_class_weights.ipynb")
    assert Path(rows["alice"]["file"]).as_posix().endswith("submissions/alice/03_class_weights.ipynb")


def test_each_problem_gets_its_reason(graded_class):
    rows, _, _ = graded_class
    problems = {s: r["problems"] for s, r in rows.items()}
    assert problems["alice"] == problems["bob"] == problems["carol"] == problems["dave"] == ""
    assert problems["erin"] == f"q1: timed out: did not finish within {TIMEOUT:g} s"
    assert problems["frank"] == f"q3: out of memory: ran out of memory (the limit is {MEMORY_MB} MB)"
    # the q2 check calls zero_background on 2 cases; each call prints 20000 lines of 100 x's and a newline
    assert problems["grace"] == f"printed {2 * 20000 * 101:,} characters while being graded (discarded)"
    assert problems["heidi"].startswith("not a notebook: not valid JSON")
    assert problems["ivan"] == ("this notebook answers exercise ex01 (it defines class_frequencies, class_presence, "
                                "class_mean_intensity), not ex03")
    assert problems["kim_12345"] == "cell 5 does not parse (SyntaxError: '(' was never closed, line 4); its other " \
                                    "lines were kept"
    assert problems["leo"] == "q1: error: raised ValueError: cannot handle […] nor … (cell 6, line 2)"
    assert problems["mallory"].startswith("the notebook defines none of the functions of exercise ex03")
    assert problems["nina"] == "q2: crashed: the grading process exited early (status 3)"


def test_the_batch_stays_within_its_bounds(graded_class):
    rows, _, _ = graded_class
    assert TIMEOUT <= float(rows["erin"]["seconds"]) < TIMEOUT + 10  # killed at its limit, the rest graded after
    for student in ("alice", "bob", "carol", "dave", "kim_12345"):
        assert float(rows[student]["seconds"]) < TIMEOUT


def test_feedback_has_messages_and_hints_but_no_hidden_values_or_solution(graded_class):
    _, folder, _ = graded_class
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{s}.md" for s in EXPECTED)
    carol = (folder / "carol.md").read_text()
    assert "**1 of 4 points**" in carol and "## q2 `zero_background` (0 of 1 point): incorrect" in carol
    assert "you normalised before zeroing Background" in carol and ex03.q2.hints[0] in carol
    # what the check says in a notebook quotes the sum of the student's weights: the feedback does not
    weights = TABLE4 / TABLE4.sum()
    weights[0] = 0
    in_notebook = ex03.q2.evaluate(_defined(NORMALISE_THEN_ZERO, "zero_background")).message
    assert f"{weights.sum():.4f}" in in_notebook and f"{weights.sum():.4f}" not in carol
    leo = (folder / "leo.md").read_text()  # leo's function raised an error quoting the hidden input, Table 1
    assert "raised ValueError: cannot handle […] nor …" in leo
    assert not any(str(value)[:5] in leo for value in TABLE1.tolist())
    for student in EXPECTED:
        text = (folder / f"{student}.md").read_text()
        messages = [line for line in text.splitlines() if line and not line[0] in "#*-N" and not line[0].isdigit()]
        assert not any(re.search(r"\d\.\d", line) for line in messages), student
        for q in ex03.QUESTIONS:
            body = [line.strip() for line in q.solution_code.splitlines()[1:] if line.strip()]
            assert not any(line in text for line in body), (student, q.name)
    assert "not ex03" in (folder / "ivan.md").read_text() and "Not graded" in (folder / "heidi.md").read_text()


def _defined(source: str, name: str):
    namespace = {"np": np}
    exec(source, namespace)
    return namespace[name]


def test_nothing_is_overwritten_without_force_and_update_regrades_one_student(graded_class, tmp_path):
    rows, folder, book = graded_class
    before = book.path.read_bytes(), (folder / "alice.md").read_bytes()
    with pytest.raises(FileExistsError, match="--force replaces it"):
        grade([book.path.parent / "submissions"], book.path)
    assert (book.path.read_bytes(), (folder / "alice.md").read_bytes()) == before
    work = tmp_path / "class"
    for student in ("alice", "bob"):
        (work / student).mkdir(parents=True)
        (work / student / "nb.ipynb").write_bytes((book.path.parent / "submissions" / "alice" /
                                                    "03_class_weights.ipynb").read_bytes())
    out = tmp_path / "book.csv"
    out.write_bytes(book.path.read_bytes())
    (tmp_path / "book_feedback").mkdir()
    (tmp_path / "book_feedback" / "alice.md").write_text("kept")
    assert main(["grade", str(work), "--out", str(out), "--update", "--student", "bob", "--quiet"]) == 0
    with open(out, newline="") as f:
        updated = {row["student"]: row for row in csv.DictReader(f)}
    assert updated["bob"]["total"] == "4" and updated["bob"]["file"].endswith("bob/nb.ipynb")
    assert {s: r for s, r in updated.items() if s != "bob"} == {s: r for s, r in rows.items() if s != "bob"}
    assert (tmp_path / "book_feedback" / "alice.md").read_text() == "kept"
    assert "**4 of 4 points**" in (tmp_path / "book_feedback" / "bob.md").read_text()


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b.csv")]) == 2
    assert "does not exist (expected a notebook, a folder or a zip" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "b.csv")]) == 2
    assert "no submitted notebooks" in capsys.readouterr().err
    (tmp_path / "empty" / "a.ipynb").write_text(json.dumps(_notebook("03_class_weights.ipynb")))
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "b.csv"), "--exercise", "ex42"]) == 2
    assert "unknown exercise 'ex42'; expected one of ex01" in capsys.readouterr().err
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "b.csv"), "--student", "b"]) == 2
    assert "no submission of student 'b'; ids found include a" in capsys.readouterr().err
    assert not (tmp_path / "b.csv").exists()


# ---- parts, without processes ------------------------------------------------------------------

@pytest.mark.parametrize("name, student", [
    ("smithjohn_12345_67890_03_class_weights.ipynb", "smithjohn_12345"),
    ("smithjohn_LATE_12345_67890_03_class_weights-1.ipynb", "smithjohn_12345"),
    ("John Smith_123456_assignsubmission_file_", "John Smith_123456"),
    ("HW3_jsmith_attempt_2026-01-05-10-00-00_03_class_weights.ipynb", "jsmith"),
    ("alice.ipynb", "alice"), ("alice", "alice"), ("03_class_weights.ipynb", "03_class_weights")])
def test_student_id_from_lms_names(name, student):
    assert student_from_name(name) == student


def test_feedback_file_names_are_safe():
    assert feedback_name("John Smith_123456") == "John Smith_123456.md"
    assert feedback_name("../a/b:c") == "_a_b_c.md" and feedback_name("..") == "student.md"


def test_student_id_from_folder_layouts():
    def ids(*paths):
        return _students([PurePosixPath(p) for p in paths])
    assert ids("alice/ex.ipynb", "bob/sub/ex.ipynb") == ["alice", "bob"]
    assert ids("wrap/alice/ex.ipynb", "wrap/bob/ex.ipynb") == ["alice", "bob"]
    assert ids("export/kim_1_2_ex.ipynb", "export/lou_3_4_ex.ipynb") == ["kim_1", "lou_3"]
    assert ids("alice/ex.ipynb") == ["alice"] and ids("kim_1_2_ex.ipynb") == ["kim_1"]


def test_extraction_keeps_definitions_and_drops_everything_that_runs():
    cells = ["import numpy as np\n%matplotlib inline\n!ls\ndata = np.load('big.npz')\nSEED = 3",
             "%%time\ndef f(x):\n    return x\n", "%%bash\ndef hidden():", "model.fit(x)\nfor i in range(9): pass",
             "class A:\n    pass\nsquare = lambda v: np.square(v)\nK, (M, N) = 1, (2, 3)\ndef g(:\n",
             "@staticmethod\ndef h():\n    pass"]
    nb = {"cells": [{"cell_type": "code", "source": c} for c in cells], "nbformat": 4}
    program = extract(json.dumps(nb).encode())
    assert [(s.where, s.kind, s.names) for s in program.statements] == [
        ("cell 1, line 1", "import", ("np",)), ("cell 1, line 5", "assign", ("SEED",)),
        ("cell 2, line 2", "def", ("f",)), ("cell 5, line 1", "def", ("A",)), ("cell 5, line 3", "assign", ("square",)),
        ("cell 5, line 4", "assign", ("K", "M", "N")), ("cell 6, line 2", "def", ("h",))]
    assert program.problems == ["cell 5 does not parse (SyntaxError: invalid syntax, line 5); its other lines were "
                                "kept"]
    v3 = {"nbformat": 3, "worksheets": [{"cells": [{"cell_type": "code", "input": ["def f(x):\n", "    return x"]}]}]}
    assert [s.names for s in extract(json.dumps(v3).encode()).statements] == [("f",)]
    for bad, message in ((b"{", "not valid JSON"), (b"[]", "expected an object"), (b'{"a": 1}', "without a list")):
        with pytest.raises(NotebookError, match=message):
            extract(bad)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SOLUTIONS])
def test_every_exercise_is_identified_by_what_it_defines(path):
    exercises = catalogue()
    exercise = "ex" + path.name[:2]
    for folder in ("solutions", "exercises"):
        nb = json.loads((ROOT / folder / path.name).read_text())
        for cell in nb["cells"]:  # without the checks import, only the functions say which exercise it is
            cell["source"] = re.sub(r"from marslab.checks import ex\d+ as check", "", "".join(cell["source"]))
        assert identify(extract(json.dumps(nb).encode()), exercises) == (exercise,)


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in SOLUTIONS])
def test_points_and_functions_agree_with_the_notebooks(path):
    module = importlib.import_module("marslab.checks.ex" + path.name[:2])
    for folder in ("solutions", "exercises"):
        nb = nbformat.read(ROOT / folder / path.name, as_version=4)
        headings = re.findall(r"^## Question (\d+): .*\((\d+) points?\)$", "\n".join(
            c.source.split("\n")[0] for c in nb.cells if c.cell_type == "markdown"), re.M)
        assert headings == [(q.name[1:], str(q.points)) for q in module.QUESTIONS]
    solved = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "nbgrader" in c.metadata}
    for q in module.QUESTIONS:  # the function named is the last one the question's cell defines
        assert re.findall(r"^def (\w+)", solved[q.name], re.M)[-1] == q.function


def test_withhold_keeps_words_and_small_numbers_only():
    assert withhold("class frequencies of a (6, 8, 16) mask set: expected [0.2, 0.3], got [[1 2]\n [3 4]]") == \
        "class frequencies of a (6, 8, 16) mask set: expected […], got […]"
    assert withhold("your entries sum to 768, the number of pixels; sum to 1, not 1e-05 or -0.25") == \
        "your entries sum to …, the number of pixels; sum to 1, not … or …"
    assert withhold("the line should start with 7, got '3,1' and \"x2\"; the caller's array, padding='same'") == \
        "the line should start with 7, got '…' and '…'; the caller's array, padding='same'"
    assert withhold("labels 0 1 2 3 4 1 0, conv3x3 float64 q1") == "labels …, conv3x3 float64 q1"


def test_grade_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["grade", "--help"])
    assert exit_.value.code == 0 and "--timeout S" in capsys.readouterr().out


def test_grading_from_a_script_on_stdin(tmp_path):
    # multiprocessing re-runs __main__ in each child by default: from stdin that fails, from a script it repeats it
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.ipynb").write_text(json.dumps(_notebook("03_class_weights.ipynb")))
    script = f"from marslab.grading import grade\nprint(grade([{str(tmp_path / 'in')!r}], " \
             f"{str(tmp_path / 'g.csv')!r}).rows[0].total)\n"
    run = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "4", run.stderr[-2000:]


def test_benchmark_quick_run(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_grade", ROOT / "benchmarks" / "bench_grade.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["bench_grade.py", "--quick"])
    bench.main()  # in this process, whose fork server is already running: a smoke test, not a measurement
    out = capsys.readouterr().out
    assert "rows by status: graded 5, timed out 1" in out
    assert re.search(r"peak memory, PSS of all processes \(MB\)\s+\d+", out)
