"""Checks for exercises/08_losses.ipynb: soft Dice, focal and report 003's margin loss written with keras.ops."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from marslab.checks._core import Incorrect, Question, expect, expect_callable
from marslab.checks._keras import scalar

EPSILON = 1e-7  # probabilities are clipped to [EPSILON, 1 - EPSILON] before the log


def _cases(num_classes: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(labels (B, H, W) int32, softmax probs (B, H, W, C) float32); the second case lacks class 4 in the truth."""
    rng = np.random.default_rng(8)
    cases = []
    for b, top in ((2, num_classes), (3, num_classes - 1)):
        labels = rng.integers(0, top, size=(b, 6, 10)).astype(np.int32)
        logits = rng.normal(size=(b, 6, 10, num_classes)) + 2.0 * np.eye(num_classes)[labels]
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        cases.append((labels, probs.astype(np.float32)))
    return cases


def _dice(labels, probs, smooth=1.0, per_class=True):
    onehot = np.eye(probs.shape[-1])[labels]
    inter = (onehot * probs).sum(axis=(0, 1, 2))
    total = onehot.sum(axis=(0, 1, 2)) + probs.sum(axis=(0, 1, 2))
    if not per_class:
        return 1 - (2 * inter.sum() + smooth) / (total.sum() + smooth)
    return float(np.mean(1 - (2 * inter + smooth) / (total + smooth)))


def _focal(labels, probs, gamma, flipped=False):
    """The focal loss; flipped=True uses p ** gamma instead of (1 - p) ** gamma (a plausible mistake)."""
    p = np.clip(probs, EPSILON, 1 - EPSILON)
    onehot = np.eye(probs.shape[-1])[labels]
    factor = p ** gamma if flipped else (1 - p) ** gamma
    return float(np.mean(np.sum(-onehot * factor * np.log(p), axis=-1)))


def _call(fn, labels, probs, **kwargs) -> float:
    return scalar(fn(ops.convert_to_tensor(labels), ops.convert_to_tensor(probs), **kwargs), "the loss")


def _expect_keras_loss(fn, **kwargs) -> None:
    """The question asks for keras.ops: the loss must return a backend tensor and run inside `model.fit`,
    where its inputs are symbolic tensors that NumPy cannot compute with."""
    labels, probs = _cases()[0]
    out = fn(ops.convert_to_tensor(labels), ops.convert_to_tensor(probs), **kwargs)
    if not ops.is_tensor(out):
        raise Incorrect(f"your loss returned a {type(out).__name__}, not a Keras backend tensor: Keras must "
                        "differentiate it inside model.fit, so write it with keras.ops (ops.sum, ops.log, "
                        "ops.one_hot, ...) instead of NumPy")
    inputs = keras.Input(probs.shape[1:3] + (1,))
    model = keras.Model(inputs, keras.layers.Conv2D(probs.shape[-1], 1, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: fn(y_true, y_pred, **kwargs))
    try:  # a stub has raised NotImplementedError in the eager call above; anything raised here is the answer's
        model.train_on_batch(np.zeros(labels.shape + (1,), "float32"), labels)
    except Exception as err:  # (TensorFlow says NotImplementedError when NumPy meets a symbolic tensor)
        raise Incorrect(f"your loss fails inside model.fit, where it gets symbolic tensors "
                        f"({type(err).__name__}: {str(err).splitlines()[0][:120]}): use keras.ops, not NumPy, "
                        "and no Python `if` on tensor values") from None


def _test_dice(fn) -> None:
    expect_callable(fn)
    for labels, probs in _cases():
        got, want = _call(fn, labels, probs), _dice(labels, probs)
        if np.isclose(got, want, rtol=1e-4):
            continue
        if np.isclose(got, _dice(labels, probs, per_class=False), rtol=1e-4):
            raise Incorrect("you pooled all classes into one Dice score: score each class separately (sum over "
                            "batch and pixels only, axis=(0, 1, 2)), then average 1 - score over the classes")
        if np.isclose(got, _dice(labels, probs, smooth=0.0), rtol=1e-4):
            raise Incorrect("add smooth=1 to the numerator and the denominator, so that a class absent from truth "
                            "and prediction scores 1 instead of 0/0")
        if np.isclose(got, 1 - _dice(labels, probs), rtol=1e-4):
            raise Incorrect("this is the Dice score, not the loss: return 1 - score, which is 0 for a perfect "
                            "prediction")
        raise Incorrect(f"for a batch of {labels.shape[0]} the loss should be {want:.5f}, got {got:.5f}")
    labels = _cases()[0][0]
    perfect = np.eye(5, dtype=np.float32)[labels]
    expect(abs(_call(fn, labels, perfect)) < 1e-5, "a perfect prediction should have loss 0")
    _expect_keras_loss(fn)


q1 = Question(
    "q1", "dice_loss(y_true, y_pred) -> 1 - mean over classes of soft Dice (smooth = 1)",
    _test_dice,
    function="dice_loss", points=2,
    hints=["Turn the labels into one-hot vectors like the probabilities: `ops.one_hot(y_true, num_classes)` with "
           "num_classes = `y_pred.shape[-1]`.",
           "Per class c, summed over batch and pixels (axis=(0, 1, 2)): intersection = sum(y * p), total = "
           "sum(y) + sum(p); score = (2 * intersection + 1) / (total + 1); loss = mean(1 - score)."],
    solution="""
    def dice_loss(y_true, y_pred, smooth=1.0):
        onehot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1])
        intersection = ops.sum(onehot * y_pred, axis=(0, 1, 2))
        total = ops.sum(onehot, axis=(0, 1, 2)) + ops.sum(y_pred, axis=(0, 1, 2))
        return ops.mean(1.0 - (2.0 * intersection + smooth) / (total + smooth))
    """,
    correct_message="`marslab.losses.SoftDice` is this loss with class weights (lesson 08).",
)


def _test_focal(fn) -> None:
    expect_callable(fn)
    for labels, probs in _cases():
        for gamma in (2.0, 0.0):
            got, want = _call(fn, labels, probs, gamma=gamma), _focal(labels, probs, gamma)
            if np.isclose(got, want, rtol=1e-4):
                continue
            if gamma and np.isclose(got, _focal(labels, probs, gamma, flipped=True), rtol=1e-4):
                raise Incorrect("the modulating factor is (1 - p) ** gamma: it shrinks the loss of pixels that are "
                                "already right (p near 1), not of the wrong ones")
            if gamma and np.isclose(got, _focal(labels, probs, 0.0), rtol=1e-4):
                raise Incorrect("with gamma=2 your loss equals plain cross-entropy: multiply by (1 - p) ** gamma "
                                "(and use the `gamma` argument)")
            if np.isclose(got * probs.shape[-1], want, rtol=1e-4):
                raise Incorrect("your loss is num_classes times too small: you averaged over the classes too; sum "
                                "over the classes (axis=-1), then average over the pixels")
            raise Incorrect(f"gamma={gamma}: expected {want:.5f}, got {got:.5f}")
    _expect_keras_loss(fn, gamma=2.0)


q2 = Question(
    "q2", "focal_loss(y_true, y_pred, gamma) -> mean over pixels of -sum_c y (1 - p)^gamma log p",
    _test_focal,
    function="focal_loss", points=2,
    hints=["Clip the probabilities first, `ops.clip(y_pred, 1e-7, 1 - 1e-7)`, so that log never sees 0.",
           "With onehot from `ops.one_hot`: `ops.mean(ops.sum(-onehot * (1 - p) ** gamma * ops.log(p), axis=-1))`."],
    solution="""
    def focal_loss(y_true, y_pred, gamma=2.0):
        onehot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1])
        p = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        return ops.mean(ops.sum(-onehot * (1.0 - p) ** gamma * ops.log(p), axis=-1))
    """,
    correct_message="gamma=0 gives plain cross-entropy; `marslab.losses.Focal` adds class weights "
                    "(report 000, Table 2).",
)



def margin_reference(labels, probs, class_weights, fn_weight=0.99, fp_weight=0.01, hard_max=False,
                     include_true=False, normalise=True) -> float:
    """Report 003's margin loss (§3.3) in NumPy, mean over pixels; the keyword switches make plausible mistakes."""
    p = np.asarray(probs, np.float64)
    onehot = np.eye(p.shape[-1])[labels]
    w = np.asarray(class_weights, np.float64)
    wrong = p if include_true else p * (1 - onehot)
    largest = wrong.max(axis=-1) if hard_max else np.linalg.norm(wrong, ord=5, axis=-1)
    f_n = w[labels] * (largest - (onehot * p).sum(-1))
    sharp = p**5 / (p**5).sum(-1, keepdims=True) if normalise else p**5
    f_p = ((1 - onehot) * w * sharp).sum(-1)
    return float(np.mean(fn_weight * f_n + fp_weight * f_p))


WEIGHTS = ((1.0, 1.0, 1.0, 1.0, 1.0), (0.0, 1.0, 2.0, 0.5, 4.0))


def _test_margin(fn) -> None:
    expect_callable(fn)
    hand = np.array([[[[0.5, 0.25, 0.25, 0.0, 0.0]]]], np.float32)  # one pixel, true class 0
    mistakes = {
        "the 5-norm is a smooth maximum of the WRONG classes: leave the true class out of it (multiply by 1 - onehot)":
            dict(include_true=True),
        "report 003 uses the 5-norm (a smooth, differentiable max), not the max itself": dict(hard_max=True),
        "normalise p ** 5 by its sum over the classes before taking the wrong classes' share":
            dict(normalise=False),
        "0.99 weighs the false-negative term and 0.01 the false-positive term, not the other way round":
            dict(fn_weight=0.01, fp_weight=0.99),
    }
    for labels, probs in _cases():
        for weights in WEIGHTS:
            got = _call(fn, labels, probs, class_weights=weights)
            want = margin_reference(labels, probs, weights)
            if np.isclose(got, want, rtol=1e-4, atol=1e-6):
                continue
            for message, mistake in mistakes.items():
                if np.isclose(got, margin_reference(labels, probs, weights, **mistake), rtol=1e-4, atol=1e-6):
                    raise Incorrect(message)
            if np.isclose(got, margin_reference(labels, probs, WEIGHTS[0]), rtol=1e-4, atol=1e-6):
                raise Incorrect("your loss ignores class_weights: f_n takes the weight of the pixel's true class, "
                                "f_p the weight of each wrong class")
            if np.isclose(got, want * labels.size, rtol=1e-4):
                raise Incorrect("your loss is the sum over pixels: take the mean, so that it does not grow with "
                                "the batch")
            raise Incorrect(f"with class_weights={weights} the loss should be {want:.5f}, got {got:.5f}")
    got = _call(fn, np.zeros((1, 1, 1), np.int32), hand, class_weights=WEIGHTS[0])
    want = 0.99 * (0.25 * 2 ** 0.2 - 0.5) + 0.01 * 2 / 34  # ||(.25, .25)||_5 = .25 * 2^(1/5); q = (2/32) / (34/32)
    expect(np.isclose(got, want, atol=1e-5),
           f"for one pixel p = (0.5, 0.25, 0.25, 0, 0) of class 0 the loss should be {want:.5f}, got {got:.5f}")
    _expect_keras_loss(fn, class_weights=WEIGHTS[1])


q3 = Question(
    "q3", "margin_loss(y_true, y_pred, class_weights) -> mean over pixels of 0.99 f_n + 0.01 f_p (report 003)",
    _test_margin,
    function="margin_loss", points=2,
    hints=["onehot = `ops.one_hot(y_true, C)`, w = `ops.convert_to_tensor(class_weights)`; the true class's "
           "probability is `ops.sum(onehot * y_pred, -1)`, the wrong ones `y_pred * (1 - onehot)`.",
           "f_n = sum(onehot * w, -1) * (sum(wrong ** 5, -1) ** 0.2 - p_true); q = y_pred ** 5 / sum(y_pred ** 5, "
           "-1, keepdims=True); f_p = sum((1 - onehot) * w * q, -1); return mean(0.99 * f_n + 0.01 * f_p)."],
    solution="""
    def margin_loss(y_true, y_pred, class_weights=(1.0, 1.0, 1.0, 1.0, 1.0)):
        onehot = ops.one_hot(ops.cast(y_true, "int32"), y_pred.shape[-1])
        w = ops.convert_to_tensor(class_weights, dtype=y_pred.dtype)
        true_prob = ops.sum(onehot * y_pred, axis=-1)
        wrong = y_pred * (1.0 - onehot)
        f_n = ops.sum(onehot * w, axis=-1) * (ops.sum(wrong ** 5, axis=-1) ** 0.2 - true_prob)
        sharp = y_pred ** 5 / ops.sum(y_pred ** 5, axis=-1, keepdims=True)
        f_p = ops.sum((1.0 - onehot) * w * sharp, axis=-1)
        return ops.mean(0.99 * f_n + 0.01 * f_p)
    """,
    correct_message="report 003's margin loss (§3.3); `marslab.margin_loss.Margin` is this loss, written to keep "
                    "its gradient finite when probabilities underflow. Note it is negative: -0.99 times the true "
                    "class's weight at a perfect prediction.",
)

QUESTIONS = [q1, q2, q3]
