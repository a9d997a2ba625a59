"""The exercise machinery: generator, checks (on solutions, stubs and plausible wrong answers), notebooks."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from marslab.checks import (CORRECT, NOT_ATTEMPTED, Feedback, assert_check_failed, assert_check_not_attempted,
                            assert_check_passed)
from marslab.checks._core import Question
from marslab.exercises import code_stub, generate_exercises, make_exercise

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
KERAS_MODULES = {"ex04", "ex05", "ex06", "ex07", "ex08"}  # import Keras: slower, exercised once each


def _module_name(path: Path) -> str:
    return "ex" + path.name[:2]


def _solution_cells(nb) -> dict[str, str]:
    """{grade_id: source} of the code cells that hold a solution region."""
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and "nbgrader" in c.metadata and "### BEGIN SOLUTION" in c.source}


def _imports(nb) -> str:
    """The import lines of the notebook's code cells (the Colab install cell excluded)."""
    lines = [line for c in nb.cells if c.cell_type == "code" and "google.colab" not in c.source
             for line in c.source.splitlines() if re.match(r"(import|from) \S+", line)]
    return "\n".join(lines)


def _namespace(path: Path) -> tuple[dict, dict[str, str]]:
    """Execute the notebook's imports and all its solution cells; return the namespace and the cells."""
    nb = nbformat.read(path, as_version=4)
    namespace: dict = {}
    exec(_imports(nb), namespace)
    cells = _solution_cells(nb)
    for source in cells.values():
        exec(source, namespace)
    return namespace, cells


def _defined_name(source: str) -> str:
    return re.search(r"^def (\w+)", source, re.M).group(1)


# ---- generator --------------------------------------------------------------------------------

def test_exercises_are_exactly_what_the_generator_writes(tmp_path):
    written = generate_exercises(ROOT / "solutions", tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in (ROOT / "exercises").glob("*.ipynb"))
    for path in written:
        assert path.read_bytes() == (ROOT / "exercises" / path.name).read_bytes(), (
            f"exercises/{path.name} is out of date: run `marslab exercises`")


def test_generation_is_deterministic(tmp_path):
    first = {p.name: p.read_bytes() for p in generate_exercises(ROOT / "solutions", tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in generate_exercises(ROOT / "solutions", tmp_path / "b")}
    assert first == second


def _toy_solution() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    badge = nbformat.v4.new_markdown_cell("[![Open In Colab](badge.svg)](https://colab.research.google.com/github/"
                                          "o/r/blob/main/solutions/toy.ipynb)")
    solved = nbformat.v4.new_code_cell("def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                                       "    ### END SOLUTION\n\nprint('kept')")
    solved.metadata["nbgrader"] = {"grade_id": "q3", "solution": True, "grade": False, "locked": False,
                                   "schema_version": 3}
    solved.outputs = [nbformat.v4.new_output("stream", text="old output\n")]
    solved.execution_count = 4
    answer = nbformat.v4.new_markdown_cell("Answer:\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    untouched = nbformat.v4.new_code_cell("y = 1  # no markers")
    nb.cells = [badge, solved, answer, untouched]
    return nb


def test_solution_region_becomes_a_stub_that_points_to_the_hint():
    source = _toy_solution()
    before = nbformat.writes(source)
    ex = make_exercise(source, "toy.ipynb")
    assert nbformat.writes(source) == before  # the source notebook is not modified
    assert ex.cells[1].source == ("def f(x):\n    \"\"\"Doc.\"\"\"\n    # YOUR CODE HERE\n"
                                  "    raise NotImplementedError(\"Write your solution here; check.q3.hint() helps\")"
                                  "\n\nprint('kept')")
    assert ex.cells[1].outputs == [] and ex.cells[1].execution_count is None
    assert ex.cells[2].source == "Answer:\nYOUR ANSWER HERE"
    assert ex.cells[3].source == "y = 1  # no markers"
    assert "/exercises/toy.ipynb" in ex.cells[0].source and "/solutions/" not in ex.cells[0].source
    namespace: dict = {}
    exec(ex.cells[1].source.replace("print('kept')", ""), namespace)
    with pytest.raises(NotImplementedError, match=r"check\.q3\.hint\(\)"):
        namespace["f"](1)


def test_stub_without_a_question_id_still_raises():
    assert code_stub(None).endswith('raise NotImplementedError("Write your solution here")')


def test_unbalanced_markers_are_a_clear_error(tmp_path):
    nb = _toy_solution()
    nb.cells[1].source = "def f(x):\n    ### BEGIN SOLUTION\n    return x"
    (tmp_path / "src").mkdir()
    nbformat.write(nb, tmp_path / "src" / "bad.ipynb")
    with pytest.raises(ValueError, match="bad.ipynb.*END SOLUTION"):
        generate_exercises(tmp_path / "src", tmp_path / "out")


def test_missing_solutions_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        generate_exercises(tmp_path / "nowhere", tmp_path / "out")


# ---- check framework -------------------------------------------------------------------------

def _toy_question() -> Question:
    def test(fn):
        from marslab.checks._core import expect
        expect(fn(2) == 4, f"double(2) should be 4, got {fn(2)}")
    return Question("q9", "double", test, hints=["Multiply.", "By two."], solution="def double(x):\n    return 2 * x")


def test_feedback_outcomes_and_rendering(capsys):
    q = _toy_question()
    assert q.evaluate(lambda x: 2 * x).outcome == CORRECT
    wrong = q.evaluate(lambda x: x + 1)
    assert str(wrong) == "Incorrect: double(2) should be 4, got 3"
    assert 'color:#c62828' in wrong._repr_markdown_() and "double(2) should be 4" in wrong._repr_markdown_()

    def stub(x):
        raise NotImplementedError("Write your solution here; check.q9.hint() helps")
    assert q.evaluate(stub).outcome == NOT_ATTEMPTED
    assert q.evaluate(None).outcome == NOT_ATTEMPTED
    q.check(lambda x: x + 1)  # no IPython kernel here: plain text
    q(lambda x: 2 * x)
    q.hint()
    q.hint(2)
    q.solution()
    out = capsys.readouterr().out
    assert "Incorrect: double(2)" in out and "Correct" in out
    assert "Hint 1/2: Multiply. (`check.q9.hint(2)` for more)" in out and "Hint 2/2: By two." in out
    assert "```python\ndef double(x):" in out
    with pytest.raises(ValueError, match="hints 1..2"):
        q.hint(3)


def test_a_real_error_in_the_answer_surfaces_as_itself():
    q = _toy_question()

    def broken(x):
        return x + "1"
    with pytest.raises(TypeError):
        q.evaluate(broken)


def test_feedback_is_a_value():
    assert Feedback("correct") == Feedback("correct") and str(Feedback("correct")) == "Correct"


# ---- every check: solution passes, stub is not attempted --------------------------------------

def _params():
    return [pytest.param(p, id=p.stem) for p in SOLUTIONS]


@pytest.mark.parametrize("path", _params())
def test_every_check_passes_on_the_solution_and_is_not_attempted_on_the_stub(path):
    module = importlib.import_module(f"marslab.checks.{_module_name(path)}")
    namespace, cells = _namespace(path)
    assert sorted(cells) == sorted(q.name for q in module.QUESTIONS), "one solution cell per question"
    exercise = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
    stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in exercise.cells
             if c.cell_type == "code" and "nbgrader" in c.metadata}
    for q in module.QUESTIONS:
        name = _defined_name(cells[q.name])
        assert_check_passed(q, namespace[name])
        stub_namespace = dict(namespace)
        exec(stubs[q.name], stub_namespace)
        assert_check_not_attempted(q, stub_namespace[name])
        # the solution the check shows is the notebook's, and it passes too
        shown: dict = dict(namespace)
        exec(q.solution_code, shown)
        assert_check_passed(q, shown[name])
        region = _stripped_lines(re.search(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cells[q.name], re.S).group(1))
        shown_lines = _stripped_lines(q.solution_code)
        assert any(shown_lines[i:i + len(region)] == region for i in range(len(shown_lines))), (
            f"{q.name}.solution() differs from the solution in {path.name}")


def _stripped_lines(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip()]


# ---- plausible wrong answers: each fails with its specific message -----------------------------

def _wrong_answers():
    """(module, question, wrong answer, expected substring of the feedback)."""
    def bincount_unnormalised(masks, num_classes=5):
        return np.bincount(masks.ravel(), minlength=num_classes)

    def unique_counts(masks, num_classes=5):
        _, counts = np.unique(masks, return_counts=True)
        return counts / counts.sum()

    def fixed_five(masks, num_classes=5):
        return np.bincount(masks.ravel(), minlength=5) / masks.size

    def presence_transposed(masks, num_classes=5):
        return np.stack([(masks == c).any(axis=(1, 2)) for c in range(num_classes)], axis=0)

    def presence_counts(masks, num_classes=5):
        return np.stack([(masks == c).sum(axis=(1, 2)) for c in range(num_classes)], axis=1)

    def intensity_zero_for_absent(images, masks, num_classes=5):
        return np.array([images[masks == c].mean() if (masks == c).any() else 0.0 for c in range(num_classes)])

    def intensity_per_image_mean(images, masks, num_classes=5):
        return np.array([np.nanmean([im[m == c].mean() if (m == c).any() else np.nan for im, m in zip(images, masks)])
                         for c in range(num_classes)])

    def shared_without_first(masks, min_count=10):
        seen, found = {}, []
        for i, m in enumerate(masks):
            key = m.tobytes()
            if key in seen:
                found.append(i)
            seen[key] = i
        counts = {}
        for m in masks:
            counts[m.tobytes()] = counts.get(m.tobytes(), 0) + 1
        return np.array([i for i in found if counts[masks[i].tobytes()] >= min_count], dtype=np.int64)

    def shared_ignoring_min_count(masks, min_count=10):
        groups = {}
        for i, m in enumerate(masks):
            groups.setdefault(m.tobytes(), []).append(i)
        return np.array(sorted(i for g in groups.values() if len(g) > 1 for i in g))

    def threshold_mean_std(scores, k=5.0):
        return float(scores.mean() + k * scores.std())

    def threshold_unscaled_mad(scores, k=5.0):
        med = np.median(scores)
        return float(med + k * np.median(np.abs(scores - med)))

    def precision_recall_swapped(found, truth):
        hits = len(set(found.tolist()) & set(truth.tolist()))
        return hits / len(truth), (hits / len(found) if len(found) else 0.0)

    def inverse_without_c(freqs):
        return 1.0 / freqs

    def inverse_normalised(freqs):
        w = 1.0 / freqs
        return w / w.sum()

    def zero_without_rescale(w):
        w = np.array(w, dtype=float)
        w[0] = 0
        return w

    def normalise_then_zero(w):
        w = np.array(w, dtype=float) / np.sum(w)
        w[0] = 0
        return w

    def oversample_extra_copy(masks, class_id=4, factor=4):
        has = (masks == class_id).any(axis=(1, 2))
        return np.repeat(np.arange(len(masks)), np.where(has, factor + 1, 1))

    def oversample_only_rare(masks, class_id=4, factor=4):
        has = (masks == class_id).any(axis=(1, 2))
        return np.repeat(np.flatnonzero(has), factor)

    def encode_column_major(image_id, pred):
        return f"{image_id}," + ",".join(str(v) for v in pred.T.ravel())

    def encode_str_list(image_id, pred):
        return f"{image_id},{pred.ravel().tolist()}"

    def encode_no_id(image_id, pred):
        return ",".join(str(v) for v in pred.ravel())

    def decode_flat(line):
        fields = line.split(",")
        return int(fields[0]), np.array(fields[1:], dtype=np.uint8)

    def decode_str_id(line):
        fields = line.split(",")
        return fields[0], np.array(fields[1:], dtype=np.uint8).reshape(64, 128)

    def text_ids_from_one(preds):
        header = "id," + ",".join(str(i) for i in range(64 * 128))
        rows = [f"{i + 1}," + ",".join(str(v) for v in p.ravel()) for i, p in enumerate(preds)]
        return "\n".join([header, *rows]) + "\n"

    def text_no_header(preds):
        return "\n".join(f"{i}," + ",".join(str(v) for v in p.ravel()) for i, p in enumerate(preds)) + "\n"

    return [
        ("ex01", "q1", bincount_unnormalised, "these are counts"),
        ("ex01", "q1", unique_counts, "every class needs an entry"),
        ("ex01", "q1", fixed_five, "use the argument, not a fixed 5"),
        ("ex01", "q2", presence_transposed, "is transposed"),
        ("ex01", "q2", presence_counts, "look like pixel counts"),
        ("ex01", "q3", intensity_zero_for_absent, "return NaN"),
        ("ex01", "q3", intensity_per_image_mean, "mean intensity per class"),
        ("ex02", "q1", shared_without_first, "the first copy is an alien too"),
        ("ex02", "q1", shared_ignoring_min_count, "use the min_count argument"),
        ("ex02", "q2", threshold_mean_std, "mean + k * std"),
        ("ex02", "q2", threshold_unscaled_mad, "scale the MAD by 1.4826"),
        ("ex02", "q3", precision_recall_swapped, "swapped"),
        ("ex03", "q1", inverse_without_c, "divide by the number of classes too"),
        ("ex03", "q1", inverse_normalised, "without renormalising"),
        ("ex03", "q2", zero_without_rescale, "rescale them so that they sum to 1"),
        ("ex03", "q2", normalise_then_zero, "you normalised before zeroing"),
        ("ex03", "q3", oversample_extra_copy, "the original included"),
        ("ex03", "q3", oversample_only_rare, "disappeared"),
        ("ex10", "q1", encode_column_major, "column-major"),
        ("ex10", "q1", encode_str_list, "without spaces or brackets"),
        ("ex10", "q1", encode_no_id, "should start with the image id"),
        ("ex10", "q2", decode_flat, "reshape them to (64, 128)"),
        ("ex10", "q2", decode_str_id, "should be an int"),
        ("ex10", "q3", text_ids_from_one, "ids start at 0"),
        ("ex10", "q3", text_no_header, "header"),
    ]


@pytest.mark.parametrize("module, question, answer, message", _wrong_answers(),
                         ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_plausible_wrong_answer_gets_its_specific_message(module, question, answer, message):
    q = getattr(importlib.import_module(f"marslab.checks.{module}"), question)
    assert_check_failed(q, answer, message)


def test_every_numpy_question_has_a_tested_wrong_answer():
    tested = {(m, q) for m, q, _, _ in _wrong_answers()}
    for path in SOLUTIONS:
        name = _module_name(path)
        module = importlib.import_module(f"marslab.checks.{name}")
        missing = [q.name for q in module.QUESTIONS if (name, q.name) not in tested]
        assert not missing or name in KERAS_MODULES, f"{name}: no wrong answer tested for {missing}"


def test_passing_the_result_instead_of_the_function_is_explained():
    from marslab.checks import ex01
    assert_check_failed(ex01.q1, np.ones(5) / 5, "pass the function itself")


# ---- the exercise notebooks run top to bottom with the stubs in place ---------------------------

@pytest.mark.parametrize("name", [p.name for p in SOLUTIONS])
def test_exercise_notebook_runs_with_stubs_and_reports_not_attempted(name):
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "exercises" / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "exercises")}}
                   ).execute()  # raises CellExecutionError if any cell fails
    checks = [c for c in nb.cells if c.cell_type == "code" and re.fullmatch(r"check\.q\d+\(\w+\)", c.source)]
    assert checks, "no check cells found"
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert text.startswith("Not attempted"), f"{cell.source}: {text!r}"
