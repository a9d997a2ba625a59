"""Checks for exercises/06_unet_variants.ipynb: a squeeze-and-excitation block and an attention gate."""
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

QUESTIONS = [q1, q2]
