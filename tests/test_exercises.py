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
    """The last function a solution cell defines (earlier ones are helpers)."""
    return re.findall(r"^def (\w+)", source, re.M)[-1]


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


def test_a_top_level_solution_region_is_refused():
    nb = _toy_solution()
    nb.cells[3].source = "### BEGIN SOLUTION\ny = 2\n### END SOLUTION"
    with pytest.raises(ValueError, match="cell 3: a solution region at the top level"):
        make_exercise(nb, "toy.ipynb")


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
    assert "color:#1565c0" in q.evaluate(stub)._repr_markdown_()
    assert "color:#2e7d32" in q.evaluate(lambda x: 2 * x)._repr_markdown_()
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
    q.hint(3)  # issue 24: a hint that does not exist is a message naming the hints there are, not a traceback
    q.hint("next")
    out = capsys.readouterr().out
    assert "q9 has 2 hints: `check.q9.hint(1)` to `check.q9.hint(2)`; there is no hint(3)." in out
    assert "there is no hint('next')" in out


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


def _wrong_keras_answers():
    """Plausible wrong answers to the exercises 04-09 (05-08 build Keras layers or use keras.ops)."""
    import keras
    from keras import layers, ops

    def flip_image_only(image, mask, rng, noise_std=0.05):
        if rng.random() < 0.5:
            image = image[:, ::-1]
        return np.clip(image + rng.normal(0, noise_std, image.shape), 0, 1), mask

    def flip_upside_down(image, mask, rng, noise_std=0.05):
        if rng.random() < 0.5:
            image, mask = image[::-1], mask[::-1]
        return np.clip(image + rng.normal(0, noise_std, image.shape), 0, 1), mask

    def no_clip(image, mask, rng, noise_std=0.05):
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        return image + rng.normal(0, noise_std, image.shape), mask

    def global_rng(image, mask, rng, noise_std=0.05):
        if np.random.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        return np.clip(image + np.random.normal(0, noise_std, image.shape), 0, 1), mask

    def noisy_mask(image, mask, rng, noise_std=0.05):
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        return np.clip(image + rng.normal(0, noise_std, image.shape), 0, 1), (mask + (rng.random(mask.shape) < 0.1)
                                                                              ).astype(mask.dtype)

    def metric_all_pixels(y_true, y_pred, num_classes=5):
        ious = [np.sum((y_true == c) & (y_pred == c)) / np.sum((y_true == c) | (y_pred == c))
                for c in range(1, num_classes) if np.any((y_true == c) | (y_pred == c))]
        return float(np.mean(ious))

    def metric_absent_as_zero(y_true, y_pred, num_classes=5):
        keep = y_true != 0
        t, p = y_true[keep], y_pred[keep]
        return float(np.mean([np.sum((t == c) & (p == c)) / max(np.sum((t == c) | (p == c)), 1)
                              for c in range(1, num_classes)]))

    def metric_per_image(y_true, y_pred, num_classes=5):
        from marslab.metrics import mean_iou
        return float(np.mean([mean_iou(t, p, num_classes) for t, p in zip(y_true, y_pred)]))

    def cbr(x, filters, kernel=3, padding="same", bn=True, relu=True):
        x = layers.Conv2D(filters, kernel, padding=padding)(x)
        x = layers.BatchNormalization()(x) if bn else x
        return layers.Activation("relu")(x) if relu else x

    def block_one_conv(x, filters):
        return cbr(x, filters)

    def block_valid_padding(x, filters):
        return cbr(cbr(x, filters, padding="valid"), filters, padding="valid")

    def block_without_relu(x, filters):
        return cbr(cbr(x, filters, relu=False), filters, relu=False)

    def block_without_bn(x, filters):
        return cbr(cbr(x, filters, bn=False), filters, bn=False)

    def block_1x1(x, filters):
        return cbr(cbr(x, filters, kernel=1), filters, kernel=1)

    def unet_without_skips(input_shape=(64, 128, 1), num_classes=5, filters=8, depth=4):
        inputs = keras.Input(input_shape)
        x = inputs
        for level in range(depth - 1):
            x = layers.MaxPooling2D(2)(cbr(x, filters))
        for level in range(depth - 1):
            x = cbr(layers.UpSampling2D(2)(x), filters)
        return keras.Model(inputs, layers.Conv2D(num_classes, 1, activation="softmax")(x))

    def unet_without_softmax(input_shape=(64, 128, 1), num_classes=5, filters=8, depth=4):
        inputs = keras.Input(input_shape)
        x, skips = inputs, []
        for level in range(depth - 1):
            skips.append(cbr(x, filters))
            x = layers.MaxPooling2D(2)(skips[-1])
        for level in reversed(range(depth - 1)):
            x = cbr(layers.Concatenate()([layers.UpSampling2D(2)(x), skips[level]]), filters)
        return keras.Model(inputs, layers.Conv2D(num_classes, 1)(x))

    def unet_pooling_depth_times(input_shape=(64, 128, 1), num_classes=5, filters=8, depth=4):
        inputs = keras.Input(input_shape)
        x, skips = inputs, []
        for level in range(depth):  # one level too many: depth counts the bottleneck too
            skips.append(cbr(x, filters))
            x = layers.MaxPooling2D(2)(skips[-1])
        for level in reversed(range(depth)):
            x = cbr(layers.Concatenate()([layers.UpSampling2D(2)(x), skips[level]]), filters)
        return keras.Model(inputs, layers.Conv2D(num_classes, 1, activation="softmax")(x))

    def se_without_sigmoid(x, ratio=8):
        s = layers.GlobalAveragePooling2D(keepdims=True)(x)
        s = layers.Dense(x.shape[-1])(layers.Dense(x.shape[-1] // ratio, activation="relu")(s))
        return layers.Multiply()([x, s])

    def se_without_squeeze_ratio(x, ratio=8):
        s = layers.GlobalAveragePooling2D(keepdims=True)(x)
        s = layers.Dense(x.shape[-1], activation="sigmoid")(layers.Dense(x.shape[-1], activation="relu")(s))
        return layers.Multiply()([x, s])

    def se_per_pixel(x, ratio=8):
        s = layers.Dense(x.shape[-1], activation="sigmoid")(layers.Dense(x.shape[-1] // ratio, activation="relu")(x))
        return layers.Multiply()([x, s])

    def gate_per_channel(skip, gating, inter_channels=8):
        f = layers.Activation("relu")(layers.Add()([layers.Conv2D(inter_channels, 2, strides=2)(skip),
                                                    layers.Conv2D(inter_channels, 1)(gating)]))
        alpha = layers.Conv2D(skip.shape[-1], 1, activation="sigmoid")(f)
        return layers.Multiply()([skip, layers.UpSampling2D(2, interpolation="bilinear")(alpha)])

    def gate_ignoring_gating(skip, gating, inter_channels=8):
        return layers.Multiply()([skip, layers.Conv2D(1, 1, activation="sigmoid")(skip)])

    def rescale_average(x, levels):
        if levels > 0:
            return layers.AveragePooling2D(2**levels)(x)
        return layers.UpSampling2D(2**-levels, interpolation="bilinear")(x) if levels < 0 else x

    def rescale_nearest(x, levels):
        if levels > 0:
            return layers.MaxPooling2D(2**levels)(x)
        return layers.UpSampling2D(2**-levels)(x) if levels < 0 else x

    def rescale_backwards(x, levels):
        if levels < 0:
            return layers.MaxPooling2D(2**-levels)(x)
        return layers.UpSampling2D(2**levels, interpolation="bilinear")(x) if levels > 0 else x

    def _rescale(x, levels):
        if levels > 0:
            return layers.MaxPooling2D(2**levels)(x)
        return layers.UpSampling2D(2**-levels, interpolation="bilinear")(x) if levels < 0 else x

    def stage_without_fusion(sources, cat_channels=16):
        return layers.Concatenate()([cbr(_rescale(x, lv), cat_channels) for x, lv in sources])

    def stage_adding(sources, cat_channels=16):
        return cbr(layers.Add()([cbr(_rescale(x, lv), cat_channels) for x, lv in sources]), cat_channels)

    def _onehot(y_true, y_pred):
        return ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1])

    def dice_pooled(y_true, y_pred, smooth=1.0):
        y = _onehot(y_true, y_pred)
        return 1.0 - (2.0 * ops.sum(y * y_pred) + smooth) / (ops.sum(y) + ops.sum(y_pred) + smooth)

    def dice_score_not_loss(y_true, y_pred, smooth=1.0):
        y = _onehot(y_true, y_pred)
        inter, total = ops.sum(y * y_pred, axis=(0, 1, 2)), ops.sum(y + y_pred, axis=(0, 1, 2))
        return ops.mean((2.0 * inter + smooth) / (total + smooth))

    def dice_without_smooth(y_true, y_pred, smooth=1.0):
        y = _onehot(y_true, y_pred)
        inter, total = ops.sum(y * y_pred, axis=(0, 1, 2)), ops.sum(y + y_pred, axis=(0, 1, 2))
        return ops.mean(1.0 - 2.0 * inter / total)

    def focal_wrong_factor(y_true, y_pred, gamma=2.0):
        p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        return ops.mean(ops.sum(-_onehot(y_true, y_pred) * p**gamma * ops.log(p), axis=-1))

    def focal_is_cce(y_true, y_pred, gamma=2.0):
        p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        return ops.mean(ops.sum(-_onehot(y_true, y_pred) * ops.log(p), axis=-1))

    def focal_mean_over_classes(y_true, y_pred, gamma=2.0):
        p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        return ops.mean(-_onehot(y_true, y_pred) * (1 - p) ** gamma * ops.log(p))

    def focal_per_pixel(y_true, y_pred, gamma=2.0):
        p = ops.clip(y_pred, 1e-7, 1 - 1e-7)
        return ops.sum(-_onehot(y_true, y_pred) * (1 - p) ** gamma * ops.log(p), axis=-1)

    def cosine_without_floor(step, peak_learning_rate, total_steps, warmup_steps=0, alpha=0.01):
        if step < warmup_steps:
            return peak_learning_rate * step / warmup_steps
        progress = min((step - warmup_steps) / (total_steps - warmup_steps), 1.0)
        return peak_learning_rate * 0.5 * (1 + np.cos(np.pi * progress))

    def cosine_without_warmup(step, peak_learning_rate, total_steps, warmup_steps=0, alpha=0.01):
        progress = min(step / total_steps, 1.0)
        return peak_learning_rate * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * progress)) + alpha)

    def cosine_too_long(step, peak_learning_rate, total_steps, warmup_steps=0, alpha=0.01):
        if step < warmup_steps:
            return peak_learning_rate * step / warmup_steps
        progress = min((step - warmup_steps) / total_steps, 1.0)
        return peak_learning_rate * ((1 - alpha) * 0.5 * (1 + np.cos(np.pi * progress)) + alpha)

    def confused_raw_counts(cm, k=3):
        pairs = [(t, p, cm[t, p]) for t in range(len(cm)) for p in range(len(cm)) if t != p]
        return sorted(pairs, key=lambda x: -x[2])[:k]

    def confused_with_diagonal(cm, k=3):
        rows = cm / cm.sum(axis=1, keepdims=True)
        pairs = [(t, p, rows[t, p]) for t in range(len(cm)) for p in range(len(cm))]
        return sorted(pairs, key=lambda x: -x[2])[:k]

    return [
        ("ex09", "q1", cosine_without_floor, "settle at alpha * peak"),
        ("ex09", "q1", cosine_without_warmup, "warm up linearly from 0"),
        ("ex09", "q1", cosine_too_long, "it lasts total_steps - warmup_steps"),
        ("ex09", "q2", confused_raw_counts, "largest raw counts"),
        ("ex09", "q2", confused_with_diagonal, "leave the diagonal out"),
        ("ex04", "q1", flip_image_only, "flipped differently"),
        ("ex04", "q1", flip_upside_down, "upside down"),
        ("ex04", "q1", no_clip, "clip after adding noise"),
        ("ex04", "q1", global_rng, "draw all randomness from `rng`"),
        ("ex04", "q1", noisy_mask, "noise belongs to the image only"),
        ("ex05", "q1", metric_all_pixels, "true label is Background"),
        ("ex05", "q1", metric_absent_as_zero, "skip it instead of counting its IoU as 0"),
        ("ex05", "q1", metric_per_image, "mean of per-image scores"),
        ("ex05", "q2", block_one_conv, "has one convolution"),
        ("ex05", "q2", block_valid_padding, "padding='same'"),
        ("ex05", "q2", block_without_relu, "followed by a ReLU"),
        ("ex05", "q2", block_without_bn, "no batch normalisation"),
        ("ex05", "q2", block_1x1, "parameters"),
        ("ex05", "q3", unet_without_skips, "skip connection"),
        ("ex05", "q3", unet_without_softmax, "softmax"),
        ("ex05", "q3", unet_pooling_depth_times, "pool depth - 1 times"),
        ("ex06", "q1", se_without_sigmoid, "use a sigmoid"),
        ("ex06", "q1", se_without_squeeze_ratio, "squeezes to channels // ratio"),
        ("ex06", "q1", se_per_pixel, "the gate varies across the image"),
        ("ex06", "q2", gate_per_channel, "one coefficient per pixel"),
        ("ex06", "q2", gate_ignoring_gating, "must depend on `gating`"),
        ("ex07", "q1", rescale_average, "average pooling"),
        ("ex07", "q1", rescale_nearest, "nearest-neighbour"),
        ("ex07", "q1", rescale_backwards, "must be pooled down"),
        ("ex07", "q2", stage_without_fusion, "fuse the"),
        ("ex07", "q2", stage_adding, "concatenate"),
        ("ex08", "q1", dice_pooled, "pooled all classes"),
        ("ex08", "q1", dice_score_not_loss, "return 1 - score"),
        ("ex08", "q1", dice_without_smooth, "add smooth=1"),
        ("ex08", "q2", focal_wrong_factor, "(1 - p) ** gamma: it shrinks"),
        ("ex08", "q2", focal_is_cce, "equals plain cross-entropy"),
        ("ex08", "q2", focal_mean_over_classes, "num_classes times too small"),
        ("ex08", "q2", focal_per_pixel, "(a scalar)"),
    ]


@pytest.mark.parametrize("module, question, answer, message", _wrong_answers() + _wrong_keras_answers(),
                         ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_plausible_wrong_answer_gets_its_specific_message(module, question, answer, message):
    q = getattr(importlib.import_module(f"marslab.checks.{module}"), question)
    assert_check_failed(q, answer, message)


def test_every_numpy_question_has_a_tested_wrong_answer():
    from test_exercise11 import ex11_wrong_answers  # exercise 11's wrong answers, tested in their own file
    from test_exercises_techniques import wrong_answers as technique_wrong_answers  # issue 26's questions

    tested = {(m, q) for m, q, _, _ in (_wrong_answers() + _wrong_keras_answers() + technique_wrong_answers()
                                        + ex11_wrong_answers())}
    for path in SOLUTIONS:
        name = _module_name(path)
        module = importlib.import_module(f"marslab.checks.{name}")
        missing = [q.name for q in module.QUESTIONS if (name, q.name) not in tested]
        assert not missing, f"{name}: no wrong answer tested for {missing}"


def test_passing_the_result_instead_of_the_function_is_explained():
    from marslab.checks import ex01
    assert_check_failed(ex01.q1, np.ones(5) / 5, "pass the function itself")


# ---- the exercise notebooks run top to bottom with the stubs in place ---------------------------

@pytest.fixture(scope="module")
def executed_exercises() -> dict[str, list]:
    """Every exercise notebook executed top to bottom, all in one kernel (one start-up, one Keras import)
    with the namespace reset between notebooks; {notebook name: its code cells with outputs}."""
    from nbclient import NotebookClient

    combined = nbformat.v4.new_notebook()
    owners = []
    for path in SOLUTIONS:
        nb = nbformat.read(ROOT / "exercises" / path.name, as_version=4)
        combined.cells.append(nbformat.v4.new_code_cell("%reset -f"))
        owners.append(None)
        for cell in nb.cells:
            if cell.cell_type == "code":
                combined.cells.append(cell)
                owners.append(path.name)
    NotebookClient(combined, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "exercises")}}).execute()  # raises on any error
    cells: dict[str, list] = {}
    for owner, cell in zip(owners, combined.cells):
        if owner:
            cells.setdefault(owner, []).append(cell)
    return cells


@pytest.mark.parametrize("name", [p.name for p in SOLUTIONS])
def test_exercise_notebook_runs_with_stubs_and_reports_not_attempted(executed_exercises, name):
    checks = [c for c in executed_exercises[name] if re.fullmatch(r"check\.q\d+\(\w+\)", c.source)]
    assert checks, "no check cells found"
    for cell in checks:
        text = "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        assert text.startswith("Not attempted"), f"{cell.source}: {text!r}"


def test_assert_correct_for_autograder_cells():
    q = _toy_question()
    q.assert_correct(lambda x: 2 * x)
    with pytest.raises(AssertionError, match="q9: Incorrect: double"):
        q.assert_correct(lambda x: x)


def test_grade_notebook_reports_each_question(tmp_path):
    from marslab.exercises import grade_notebook

    nb = nbformat.read(ROOT / "exercises" / "03_class_weights.ipynb", as_version=4)
    answers = {"q1": "def inverse_frequency(freqs):\n    return 1.0 / (len(freqs) * freqs)",
               "q2": "def zero_background(class_weights):\n    w = np.array(class_weights, dtype=float)\n"
                     "    w[0] = 0\n    return w",
               "q3": "def oversample_indices(masks, class_id=4, factor=4):\n    return masks.nonexistent"}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    nbformat.write(nb, tmp_path / "student.ipynb")
    grades = grade_notebook(tmp_path / "student.ipynb")
    assert grades["q1"] == "correct"
    assert grades["q2"].startswith("incorrect: ") and "rescale them" in grades["q2"]
    assert grades["q3"] == "error: AttributeError"  # the student's own bug, not "incorrect"


def test_exercises_named_by_the_lessons_exist():
    named = {m for path in (ROOT / "notebooks").glob("*.ipynb")
             for m in re.findall(r"exercises/(\w+\.ipynb)", path.read_text(encoding="utf-8"))}
    missing = sorted(n for n in named if not (ROOT / "exercises" / n).is_file())
    assert not missing, f"lessons point to exercises that do not exist: {missing}"
