"""The report-technique questions (issue 26): exercise 06 q3 (strip pooling) and exercise 08 q3 (report 003's
margin loss). Their checks are tested here against references written independently of them: a hand count
of the parameters and a NumPy forward pass for strip pooling, a per-pixel Python loop and a hand-computed
pixel for the margin loss; then on the solution, the stub and plausible wrong answers."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from marslab.checks import assert_check_failed, assert_check_not_attempted, assert_check_passed
from marslab.checks import ex06, ex08

ROOT = Path(__file__).resolve().parents[1]


def _solution(name: str, question: str) -> tuple[dict, str]:
    """The namespace after the solution notebook's imports and the cell answering `question`, and its stub."""
    nb = nbformat.read(ROOT / "solutions" / name, as_version=4)
    ex = nbformat.read(ROOT / "exercises" / name, as_version=4)
    namespace: dict = {}
    imports = [line for c in nb.cells if c.cell_type == "code" and "google.colab" not in c.source
               for line in c.source.splitlines() if re.match(r"(import|from) \S+", line)]
    exec("\n".join(imports), namespace)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == question)
    stub = next(c for c in ex.cells if c.metadata.get("nbgrader", {}).get("grade_id") == question)
    exec(cell.source, namespace)
    return namespace, stub.source


# ---- strip pooling (exercise 06, q3) -------------------------------------------------------------

def _strip_numpy(x: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """Strip pooling in NumPy from the layer weights: the (3, 1) kernel + bias, the (1, 3) kernel + bias and
    the 1x1 kernel + bias, found by their shapes. x (B, H, W, C) -> (B, H, W, C)."""
    by_shape = {w.shape[:2]: w for w in weights if w.ndim == 4}
    biases = [w for w in weights if w.ndim == 1]
    kernels = [w for w in weights if w.ndim == 4]
    bias = {k.shape[:2]: b for k, b in zip(kernels, biases)}
    rows, cols = x.mean(axis=2), x.mean(axis=1)                           # (B, H, C), (B, W, C)

    def conv1d(strip, kernel, b):                                         # 'same' zero padding, kernel 3
        padded = np.pad(strip, ((0, 0), (1, 1), (0, 0)))
        return sum(padded[:, k:k + strip.shape[1]] @ kernel[k] for k in range(3)) + b

    r = conv1d(rows, by_shape[(3, 1)][:, 0], bias[(3, 1)])
    c = conv1d(cols, by_shape[(1, 3)][0], bias[(1, 3)])
    both = r[:, :, None, :] + c[:, None, :, :]
    gate = 1 / (1 + np.exp(-(both @ by_shape[(1, 1)][0, 0] + bias[(1, 1)])))
    return x * gate


def test_strip_parameter_count_by_hand_and_by_the_course_module():
    import keras

    from marslab.models import strip_pooling

    channels = 4  # (3*4*4 + 4) + (3*4*4 + 4) + (4*4 + 4) = 52 + 52 + 20
    assert ex06.strip_pooling_params(channels) == 124
    inputs = keras.Input((6, 10, channels))
    course = keras.Model(inputs, strip_pooling(inputs, batch_norm=False))
    assert course.count_params() == 124


def test_strip_solution_matches_numpy_and_passes():
    import keras

    namespace, stub = _solution("06_unet_variants.ipynb", "q3")
    fn = namespace["strip_pooling"]
    inputs = keras.Input((6, 10, 4))
    model = keras.Model(inputs, fn(inputs))
    x = np.random.default_rng(0).normal(size=(2, 6, 10, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), _strip_numpy(x, model.get_weights()), rtol=1e-4, atol=1e-5)
    assert_check_passed(ex06.q3, fn)
    stub_namespace = dict(namespace)
    exec(stub, stub_namespace)
    assert_check_not_attempted(ex06.q3, stub_namespace["strip_pooling"])


# ---- margin loss (exercise 08, q3) ---------------------------------------------------------------

def _margin_loop(labels: np.ndarray, probs: np.ndarray, weights) -> float:
    """Report 003 §3.3 pixel by pixel, in plain Python."""
    total, pixels = 0.0, 0
    for t, p in zip(labels.ravel(), probs.reshape(-1, probs.shape[-1])):
        p = [float(v) for v in p]
        wrong = [v for c, v in enumerate(p) if c != t]
        f_n = weights[t] * (sum(v**5 for v in wrong) ** 0.2 - p[t])
        f_p = sum(weights[c] * p[c]**5 for c in range(len(p)) if c != t) / sum(v**5 for v in p)
        total, pixels = total + 0.99 * f_n + 0.01 * f_p, pixels + 1
    return total / pixels


def test_margin_reference_against_a_loop_and_a_hand_pixel():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=(2, 3, 4))
    probs = rng.dirichlet(np.ones(5), size=(2, 3, 4))
    for weights in ex08.WEIGHTS:
        assert ex08.margin_reference(labels, probs, weights) == pytest.approx(_margin_loop(labels, probs, weights))
    hand = np.array([[[[0.5, 0.25, 0.25, 0.0, 0.0]]]])
    # ||(0.25, 0.25)||_5 = 0.25 * 2 ** 0.2 = 0.287175; f_n = 0.287175 - 0.5; f_p = (2 / 1024) / (34 / 1024)
    assert ex08.margin_reference(np.zeros((1, 1, 1), int), hand, ex08.WEIGHTS[0]) == pytest.approx(-0.21011, abs=1e-5)
    perfect = np.eye(5)[labels]
    assert ex08.margin_reference(labels, perfect, ex08.WEIGHTS[1]) == pytest.approx(
        -0.99 * np.mean(np.asarray(ex08.WEIGHTS[1])[labels]))


def test_course_margin_loss_agrees_with_the_reference():
    from marslab.margin_loss import Margin

    rng = np.random.default_rng(4)
    labels = rng.integers(0, 5, size=(2, 3, 4))
    probs = rng.dirichlet(np.ones(5), size=(2, 3, 4)).astype("float32")
    weights = ex08.WEIGHTS[1]
    got = float(Margin(class_weights=list(weights))(labels, probs))
    assert got == pytest.approx(ex08.margin_reference(labels, probs, weights), rel=1e-4)


def test_margin_solution_passes_and_stub_is_not_attempted():
    namespace, stub = _solution("08_losses.ipynb", "q3")
    assert_check_passed(ex08.q3, namespace["margin_loss"])
    stub_namespace = dict(namespace)
    exec(stub, stub_namespace)
    assert_check_not_attempted(ex08.q3, stub_namespace["margin_loss"])


# ---- plausible wrong answers ---------------------------------------------------------------------

def wrong_answers():
    """(module, question, wrong answer, expected substring of the feedback)."""
    from keras import layers, ops

    def strip(x, kernels=((3, 1), (1, 3)), pool="strips", activation="sigmoid"):
        """Strip pooling with one mistake; every variant but the square kernels has 7C^2 + 3C weights."""
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        if pool == "global":   # one mean for the whole map instead of one per row and column
            g = layers.GlobalAveragePooling2D(keepdims=True)(x)
            rows = layers.UpSampling2D((h, w))(layers.Conv2D(c, kernels[0], padding="same")(g))
            cols = layers.UpSampling2D((h, w))(layers.Conv2D(c, kernels[1], padding="same")(g))
        elif pool == "local":  # the 1D convolutions on the map itself: no pooling at all
            rows = layers.Conv2D(c, kernels[0], padding="same")(x)
            cols = layers.Conv2D(c, kernels[1], padding="same")(x)
        else:
            rows = layers.Conv2D(c, kernels[0], padding="same")(layers.AveragePooling2D((1, w))(x))
            cols = layers.Conv2D(c, kernels[1], padding="same")(layers.AveragePooling2D((h, 1))(x))
            rows, cols = layers.UpSampling2D((1, w))(rows), layers.UpSampling2D((h, 1))(cols)
        both = layers.Add()([rows, cols])
        return layers.Multiply()([x, layers.Conv2D(c, 1, activation=activation)(both)])

    def strip_square_kernels(x):
        return strip(x, kernels=(3, 3))

    def strip_without_sigmoid(x):
        return strip(x, activation=None)

    def strip_global(x):
        return strip(x, pool="global")

    def strip_local_convs(x):
        return strip(x, pool="local")

    def strip_rows_only(x):
        h, w, c = x.shape[1], x.shape[2], x.shape[3]
        rows = layers.Conv2D(c, (3, 1), padding="same")(layers.AveragePooling2D((1, w))(x))
        rows = layers.Conv2D(c, (3, 1), padding="same")(rows)  # the columns' weights spent on the rows again
        gate = layers.Conv2D(c, 1, activation="sigmoid")(layers.UpSampling2D((1, w))(rows))
        return layers.Multiply()([x, gate])

    def margin(y_true, y_pred, class_weights=(1.0,) * 5, include_true=False, hard_max=False, normalise=True,
               fn_weight=0.99, fp_weight=0.01, use_weights=True, reduce="mean"):
        onehot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1])
        w = ops.convert_to_tensor(class_weights if use_weights else (1.0,) * 5, dtype=y_pred.dtype)
        wrong = y_pred if include_true else y_pred * (1.0 - onehot)
        largest = ops.max(wrong, axis=-1) if hard_max else ops.sum(wrong**5, axis=-1) ** 0.2
        f_n = ops.sum(onehot * w, axis=-1) * (largest - ops.sum(onehot * y_pred, axis=-1))
        sharp = y_pred**5 / ops.sum(y_pred**5, axis=-1, keepdims=True) if normalise else y_pred**5
        f_p = ops.sum((1.0 - onehot) * w * sharp, axis=-1)
        per_pixel = fn_weight * f_n + fp_weight * f_p
        return ops.mean(per_pixel) if reduce == "mean" else ops.sum(per_pixel)

    def margin_norm_with_true_class(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, include_true=True)

    def margin_hard_max(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, hard_max=True)

    def margin_unnormalised_fp(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, normalise=False)

    def margin_swapped_weights(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, fn_weight=0.01, fp_weight=0.99)

    def margin_without_class_weights(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, use_weights=False)

    def margin_summed(y_true, y_pred, class_weights=(1.0,) * 5):
        return margin(y_true, y_pred, class_weights, reduce="sum")

    def margin_numpy(y_true, y_pred, class_weights=(1.0,) * 5):
        return np.float32(ex08.margin_reference(np.asarray(y_true), np.asarray(y_pred), class_weights))

    return [
        ("ex06", "q3", strip_square_kernels, "3x3"),
        ("ex06", "q3", strip_without_sigmoid, "a gate between 0 and 1"),
        ("ex06", "q3", strip_global, "the same at every position"),
        ("ex06", "q3", strip_local_convs, "does not reach the far end of its row"),
        ("ex06", "q3", strip_rows_only, "does not reach the far end of its row and column"),
        ("ex08", "q3", margin_norm_with_true_class, "leave the true class out"),
        ("ex08", "q3", margin_hard_max, "not the max itself"),
        ("ex08", "q3", margin_unnormalised_fp, "normalise p ** 5"),
        ("ex08", "q3", margin_swapped_weights, "not the other way round"),
        ("ex08", "q3", margin_without_class_weights, "ignores class_weights"),
        ("ex08", "q3", margin_summed, "take the mean"),
        ("ex08", "q3", margin_numpy, "not a Keras backend tensor"),
    ]


@pytest.mark.parametrize("module, question, answer, message", wrong_answers(),
                         ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_plausible_wrong_answer_gets_its_specific_message(module, question, answer, message):
    q = getattr({"ex06": ex06, "ex08": ex08}[module], question)
    assert_check_failed(q, answer, message)
