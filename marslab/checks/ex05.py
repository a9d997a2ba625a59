"""Checks for exercises/05_unet.ipynb: the competition metric, the U-Net conv block, a U-Net builder."""
from __future__ import annotations

import keras
import numpy as np

from marslab.checks._core import Incorrect, Question, expect, expect_callable
from marslab.checks._keras import block_model, predict


# ---- q1: the competition metric (NumPy) -------------------------------------------------------

def _reference_metric(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    keep = y_true != 0
    t, p = y_true[keep], y_pred[keep]
    ious = []
    for c in range(1, num_classes):
        inter = np.sum((t == c) & (p == c))
        union = np.sum((t == c) | (p == c))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def _metric_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    rng = np.random.default_rng(11)
    cases = []
    for n, absent in ((4, ()), (3, (4,)), (5, ())):
        present = [c for c in range(5) if c not in absent]
        y_true = rng.choice(present, size=(n, 8, 16)).astype(np.uint8)
        y_pred = np.where(rng.random(y_true.shape) < 0.6, y_true,
                          rng.choice(present, size=y_true.shape)).astype(np.uint8)
        y_true[0] = 1  # images differ in their class content, so per-image means differ from the pooled one
        cases.append((y_true, y_pred, 5))
    return cases


def _all_pixels(y_true, y_pred, num_classes):
    return float(np.nanmean([np.sum((y_true == c) & (y_pred == c)) / max(np.sum((y_true == c) | (y_pred == c)), 1)
                             if np.any((y_true == c) | (y_pred == c)) else np.nan for c in range(1, num_classes)]))


def _test_metric(fn) -> None:
    expect_callable(fn)
    for y_true, y_pred, num_classes in _metric_cases():
        want = _reference_metric(y_true, y_pred, num_classes)
        got = fn(y_true.copy(), y_pred.copy(), num_classes=num_classes)
        expect(np.ndim(got) == 0, f"expected one number, got shape {np.shape(got)}")
        got = float(got)
        if np.isclose(want, got, atol=1e-6):
            continue
        if np.isclose(got, _all_pixels(y_true, y_pred, num_classes)):
            raise Incorrect("you kept the pixels whose true label is Background: the competition ignores them "
                            "(a prediction there costs nothing)")
        absent = [c for c in range(1, num_classes) if not np.any(((y_true == c) | (y_pred == c)) & (y_true != 0))]
        if absent and np.isclose(got, want * (num_classes - 1 - len(absent)) / (num_classes - 1)):
            raise Incorrect(f"class {absent[0]} occurs neither in the truth nor in the prediction: skip it instead "
                            "of counting its IoU as 0")
        per_image = np.mean([_reference_metric(t[None], p[None], num_classes) for t, p in zip(y_true, y_pred)])
        if np.isclose(got, per_image):
            raise Incorrect("this is the mean of per-image scores: accumulate intersections and unions over the "
                            "whole set first, then divide")
        raise Incorrect(f"for a {y_true.shape} set expected {want:.4f}, got {got:.4f}")


q1 = Question(
    "q1", "competition_metric(y_true, y_pred, num_classes) -> mean IoU over classes 1..C-1",
    _test_metric,
    function="competition_metric", points=2,
    hints=["Keep only the pixels whose TRUE label is not 0: `keep = y_true != 0`.",
           "For each class c >= 1 on those pixels: intersection = both say c, union = either says c; skip a class "
           "whose union is 0, and average the rest."],
    solution="""
    def competition_metric(y_true, y_pred, num_classes=5):
        keep = y_true != 0
        t, p = y_true[keep], y_pred[keep]
        ious = []
        for c in range(1, num_classes):
            union = np.sum((t == c) | (p == c))
            if union:
                ious.append(np.sum((t == c) & (p == c)) / union)
        return float(np.mean(ious))
    """,
    correct_message="it agrees with `marslab.metrics.mean_iou`. Note that `keras.metrics.MeanIoU(ignore_class=0)` "
                    "is not this metric (lesson 05).",
)


# ---- q2: the conv block (Keras) ---------------------------------------------------------------

def _conv_params(c_in: int, filters: int, bias: bool, bn: bool) -> int:
    return 9 * c_in * filters + (filters if bias else 0) + (4 * filters if bn else 0)


def _test_conv_block(fn) -> None:
    expect_callable(fn)
    c_in, filters = 3, 4
    model = block_model(fn, [(9, 13, c_in)], filters)
    shape = tuple(model.output_shape)
    if shape[1:3] != (9, 13):
        raise Incorrect(f"the block changed the image size from (9, 13) to {shape[1:3]}: use padding='same'")
    expect(shape == (None, 9, 13, filters), f"expected output shape (None, 9, 13, {filters}), got {shape}")
    params = model.count_params()
    two = {_conv_params(c_in, filters, b, True) + _conv_params(filters, filters, b, True) for b in (False, True)}
    one = {_conv_params(c_in, filters, b, bn) for b in (False, True) for bn in (False, True)}
    no_bn = _conv_params(c_in, filters, True, False) + _conv_params(filters, filters, True, False)
    if params in one:
        raise Incorrect("the block has one convolution: the U-Net block stacks two (conv -> BN -> ReLU) layers")
    if params == no_bn:
        raise Incorrect("there is no batch normalisation: put `layers.BatchNormalization()` after each convolution")
    expect(params in two, f"expected {min(two)} parameters (two 3x3 convolutions with batch norm), got {params}")
    x = np.random.default_rng(0).normal(size=(2, 9, 13, c_in))
    out = predict(model, x)
    expect(out.min() >= 0, "the block's output has negative values: each convolution should be followed by a ReLU")
    base = predict(model, np.zeros((1, 9, 13, c_in)))
    delta = np.zeros((1, 9, 13, c_in))
    delta[0, 4, 6, :] = 10.0
    changed = np.argwhere(np.abs(predict(model, delta) - base).max(axis=-1)[0] > 1e-6)
    reach = np.abs(changed - [4, 6]).max() if changed.size else 0
    expect(reach == 2, f"one input pixel influences outputs up to {reach} pixels away; two 3x3 convolutions "
                       "should reach exactly 2 (kernel_size=3)")


q2 = Question(
    "q2", "conv_block(x, filters) -> (conv3x3 -> BN -> ReLU) x 2",
    _test_conv_block,
    function="conv_block", points=1,
    hints=["Apply layers to the tensor one after the other: `x = layers.Conv2D(filters, 3, padding='same')(x)`.",
           "Twice: Conv2D(filters, 3, padding='same', use_bias=False) -> BatchNormalization() -> Activation('relu')."],
    solution="""
    def conv_block(x, filters):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        return x
    """,
    correct_message="the same block as `marslab.models.blocks.conv_block`.",
)


# ---- q3: a U-Net builder (Keras) --------------------------------------------------------------

def _test_unet(fn) -> None:
    expect_callable(fn)
    for depth in (3, 4):
        model = fn(input_shape=(32, 64, 1), num_classes=5, filters=4, depth=depth)
        expect(isinstance(model, keras.Model), f"expected a keras.Model, got a {type(model).__name__}")
        expect(tuple(model.output_shape) == (None, 32, 64, 5), f"for a (32, 64, 1) input the output should be "
                                                               f"(None, 32, 64, 5), got {tuple(model.output_shape)}")
        probs = predict(model, np.random.default_rng(depth).random((2, 32, 64, 1)))
        expect(probs.min() >= 0 and np.allclose(probs.sum(-1), 1, atol=1e-4),
               "the outputs should be probabilities that sum to 1 over the classes: end with a 1x1 Conv2D with "
               "activation='softmax'")
        sizes = [layer.output.shape[1] for layer in model.layers if len(layer.output.shape) == 4]
        expected = 32 // 2 ** (depth - 1)
        if min(sizes) == expected // 2:
            raise Incorrect(f"with depth={depth} the model pools {depth} times; `depth` counts resolution levels, "
                            "the bottleneck included (as in marslab.models.unet), so pool depth - 1 times")
        expect(min(sizes) == expected,
               f"with depth={depth} the smallest feature map should be {expected} pixels high (a 32-pixel input "
               f"pooled depth - 1 = {depth - 1} times), got {min(sizes)}")
        concats = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
        expect(len(concats) >= depth - 1, f"found {len(concats)} concatenations for depth={depth}: each of the "
                                          f"{depth - 1} decoder levels should concatenate the encoder's feature map "
                                          "of the same size (the skip connection)")


q3 = Question(
    "q3", "build_unet(input_shape, num_classes, filters, depth) -> keras.Model",
    _test_unet,
    function="build_unet", points=3,
    hints=["Encoder: for each of the first depth - 1 levels, `skip = conv_block(x, f)`, keep it, then "
           "`x = layers.MaxPooling2D(2)(skip)` and double f. Then one conv_block as the bottleneck (the last level).",
           "Decoder: for the kept skips in reverse: `x = layers.UpSampling2D(2)(x)`, "
           "`x = layers.Concatenate()([x, skip])`, `x = conv_block(x, f)`. Finish with "
           "`layers.Conv2D(num_classes, 1, activation='softmax')`."],
    solution="""
    def build_unet(input_shape=(64, 128, 1), num_classes=5, filters=8, depth=4):
        inputs = keras.Input(input_shape)
        x, skips = inputs, []
        for level in range(depth - 1):
            x = conv_block(x, filters * 2**level)
            skips.append(x)
            x = layers.MaxPooling2D(2)(x)
        x = conv_block(x, filters * 2**(depth - 1))
        for level in reversed(range(depth - 1)):
            x = layers.UpSampling2D(2)(x)
            x = layers.Concatenate()([x, skips[level]])
            x = conv_block(x, filters * 2**level)
        outputs = layers.Conv2D(num_classes, 1, activation="softmax")(x)
        return keras.Model(inputs, outputs)
    """,
    correct_message="`marslab.models.unet` builds the same network with its variants as options.",
)

QUESTIONS = [q1, q2, q3]
