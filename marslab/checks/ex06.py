"""Checks for exercises/06_unet_variants.ipynb: a squeeze-and-excitation block, an attention gate and strip
pooling (report 003's bottleneck, lesson 06b)."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, expect, expect_callable
from marslab.checks._keras import block_model, predict


def _gate(out: np.ndarray, x: np.ndarray) -> np.ndarray:
    """out / x where x is not tiny (the multiplicative gate the block applied), NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x) > 1e-3, out / x, np.nan)


def _test_se(fn) -> None:
    expect_callable(fn)
    channels, ratio = 16, 4
    model = block_model(fn, [(6, 10, channels)], ratio=ratio)
    expect(tuple(model.output_shape) == (None, 6, 10, channels), f"the block should keep the shape (None, 6, 10, "
                                                                 f"{channels}), got {tuple(model.output_shape)}")
    hidden = channels // ratio
    want_params = channels * hidden + hidden + hidden * channels + channels
    params = model.count_params()
    if params == 2 * (channels * channels + channels):
        raise Incorrect(f"both Dense layers have {channels} units: the first one squeezes to channels // ratio "
                        f"= {hidden}")
    expect(params == want_params, f"expected {want_params} parameters (Dense {channels}->{hidden}->{channels} with "
                                  f"biases), got {params}")
    x = np.random.default_rng(0).normal(size=(2, 6, 10, channels))
    gate = _gate(predict(model, x), x)
    expect(np.nanmin(gate) >= -1e-5 and np.nanmax(gate) <= 1 + 1e-5,
           "the output should be the input times a gate between 0 and 1: use a sigmoid on the second Dense layer "
           "and multiply")
    spread = np.nanmax(gate, axis=(1, 2)) - np.nanmin(gate, axis=(1, 2))
    expect(np.nanmax(spread) < 1e-4, "the gate varies across the image: squeeze-and-excitation gives one weight per "
                                     "channel (global average pooling over height and width), the same everywhere")
    expect(np.ptp(np.nanmean(gate, axis=(1, 2))) > 1e-6, "every channel got the same weight: the gate should be "
                                                         "computed per channel")


q1 = Question(
    "q1", "squeeze_excite(x, ratio) -> x reweighted per channel",
    _test_se,
    function="squeeze_excite", points=2,
    hints=["Squeeze: `layers.GlobalAveragePooling2D(keepdims=True)(x)` gives one number per channel, shape "
           "(B, 1, 1, C).",
           "Excite: Dense(C // ratio, relu) then Dense(C, sigmoid); scale: `layers.Multiply()([x, s])`. "
           "C is `x.shape[-1]`."],
    solution="""
    def squeeze_excite(x, ratio=8):
        channels = x.shape[-1]
        s = layers.GlobalAveragePooling2D(keepdims=True)(x)
        s = layers.Dense(channels // ratio, activation="relu")(s)
        s = layers.Dense(channels, activation="sigmoid")(s)
        return layers.Multiply()([x, s])
    """,
    correct_message="report 004 put this block in its bottleneck; `marslab.models.unet(se=True)` puts one after "
                    "every block.",
)


def _test_attention(fn) -> None:
    expect_callable(fn)
    c_skip, c_gate, inter = 6, 10, 4
    model = block_model(fn, [(8, 12, c_skip), (4, 6, c_gate)], inter_channels=inter)
    expect(tuple(model.output_shape) == (None, 8, 12, c_skip),
           f"the output should have the skip's shape (None, 8, 12, {c_skip}), got {tuple(model.output_shape)}")
    rng = np.random.default_rng(1)
    skip, gating = rng.normal(size=(2, 8, 12, c_skip)), rng.normal(size=(2, 4, 6, c_gate))
    gate = _gate(predict(model, skip, gating), skip)
    expect(np.nanmin(gate) >= -1e-5 and np.nanmax(gate) <= 1 + 1e-5,
           "the output should be the skip map times a coefficient between 0 and 1 (a sigmoid), then multiplied")
    across_channels = np.nanmax(gate, axis=-1) - np.nanmin(gate, axis=-1)
    expect(np.nanmax(across_channels) < 1e-4,
           "the coefficient differs between channels: an attention gate gives one coefficient per pixel "
           "(a 1-filter conv, psi), shared by all channels")
    expect(np.nanmax(gate) - np.nanmin(gate) > 1e-4, "the coefficient is the same everywhere: it should depend on "
                                                     "the pixel")
    other = predict(model, skip, rng.normal(size=gating.shape))
    expect(not np.allclose(other, predict(model, skip, gating)), "changing the gating signal does not change the "
                                                                "output: the coefficients must depend on `gating`")


q2 = Question(
    "q2", "attention_gate(skip, gating, inter_channels) -> skip * alpha",
    _test_attention,
    function="attention_gate", points=2,
    hints=["Bring both inputs to the gating map's size and inter_channels: "
           "`theta = layers.Conv2D(inter_channels, 2, strides=2)(skip)`, "
           "`phi = layers.Conv2D(inter_channels, 1)(gating)`.",
           "alpha = Conv2D(1, 1, activation='sigmoid') of relu(theta + phi), upsampled by 2 "
           "(`layers.UpSampling2D(2, interpolation='bilinear')`), then `layers.Multiply()([skip, alpha])`."],
    solution="""
    def attention_gate(skip, gating, inter_channels=8):
        theta = layers.Conv2D(inter_channels, 2, strides=2)(skip)
        phi = layers.Conv2D(inter_channels, 1)(gating)
        f = layers.Activation("relu")(layers.Add()([theta, phi]))
        alpha = layers.Conv2D(1, 1, activation="sigmoid")(f)
        alpha = layers.UpSampling2D(2, interpolation="bilinear")(alpha)
        return layers.Multiply()([skip, alpha])
    """,
    correct_message="the additive attention gate of Oktay et al. (2018), the Attention U-Net that report 004 tried; "
                    "reports 002 and 003 gated their skips too.",
)



def strip_pooling_params(channels: int) -> int:
    """Hand count for strip pooling without normalization: a 3x1 and a 1x3 conv C -> C and a 1x1 conv C -> C,
    each with biases: 3C^2 + C + 3C^2 + C + C^2 + C = 7C^2 + 3C."""
    return 7 * channels * channels + 3 * channels


def _test_strip(fn) -> None:
    expect_callable(fn)
    height, width, channels = 6, 10, 4
    model = block_model(fn, [(height, width, channels)])
    expect(tuple(model.output_shape) == (None, height, width, channels),
           f"the block should keep the shape (None, {height}, {width}, {channels}), got {tuple(model.output_shape)}")
    params, want = model.count_params(), strip_pooling_params(channels)
    if params == 19 * channels * channels + 3 * channels:
        raise Incorrect("your strip convolutions are 3x3: a strip is one row (H x 1) or one column (1 x W), so "
                        "refine it with a (3, 1) and a (1, 3) kernel")
    expect(params == want, f"expected {want} parameters (a (3, 1) conv and a (1, 3) conv {channels}->{channels} and "
                           f"a 1x1 conv {channels}->{channels}, all with biases), got {params}")
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, height, width, channels)) + 0.5
    out = predict(model, x)
    gate = _gate(out, x)
    expect(np.nanmin(gate) >= -1e-5 and np.nanmax(gate) <= 1 + 1e-5,
           "the output should be x times a gate between 0 and 1: a 1x1 conv with a sigmoid, then multiply")
    spread = np.nanmax(gate, axis=(1, 2)) - np.nanmin(gate, axis=(1, 2))
    expect(np.nanmax(spread) > 1e-4, "the gate is the same at every position: pool each row and each column "
                                     "separately (strips), not the whole map")
    row, col = 1, 2
    poked = x.copy()
    poked[:, row, col, :] += 3.0
    moved = np.abs(predict(model, poked) - out).max(axis=(0, 3))   # (H, W): where the output changed
    moved[row, col] = 0.0  # x itself changed there
    far_rows = [r for r in range(height) if abs(r - row) > 1]
    far_cols = [c for c in range(width) if abs(c - col) > 1]
    ends_of_row = [c for c in range(width) if abs(c - col) > 2]     # beyond any small local kernel
    ends_of_col = [r for r in range(height) if abs(r - row) > 2]
    expect(moved[row, ends_of_row].max() > 1e-5 and moved[ends_of_col, col].max() > 1e-5,
           "changing one pixel does not reach the far end of its row and column: every position should see the "
           "mean of its whole row (pool over the width) and of its whole column (pool over the height)")
    expect(moved[np.ix_(far_rows, far_cols)].max() < 1e-5,
           "changing one pixel changed positions outside its own rows and columns: the gate at a position "
           "should depend only on the (refined) means of its row and its column")


q3 = Question(
    "q3", "strip_pooling(x) -> x times a gate computed from row means and column means",
    _test_strip,
    function="strip_pooling", points=2,
    hints=["Row strips: `layers.AveragePooling2D((1, W))(x)` gives (B, H, 1, C); column strips: "
           "`layers.AveragePooling2D((H, 1))(x)` gives (B, 1, W, C). H, W, C = x.shape[1:].",
           "Refine: `Conv2D(C, (3, 1), padding='same')` on the rows, `Conv2D(C, (1, 3), padding='same')` on the "
           "columns; expand back with `UpSampling2D((1, W))` and `UpSampling2D((H, 1))`; add; "
           "`Conv2D(C, 1, activation='sigmoid')`; `layers.Multiply()([x, gate])`."],
    solution="""
    def strip_pooling(x):
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        rows = layers.AveragePooling2D((1, width))(x)
        rows = layers.Conv2D(channels, (3, 1), padding="same")(rows)
        cols = layers.AveragePooling2D((height, 1))(x)
        cols = layers.Conv2D(channels, (1, 3), padding="same")(cols)
        both = layers.Add()([layers.UpSampling2D((1, width))(rows), layers.UpSampling2D((height, 1))(cols)])
        gate = layers.Conv2D(channels, 1, activation="sigmoid")(both)
        return layers.Multiply()([x, gate])
    """,
    correct_message="the strip pooling module of Hou et al. (2020), report 003's \"strip pyramid pooling\"; "
                    "`marslab.models.strip_pooling` adds batch normalization, and `unet(bottleneck=\"strip\")` "
                    "puts it at the bottleneck.",
)

QUESTIONS = [q1, q2, q3]
