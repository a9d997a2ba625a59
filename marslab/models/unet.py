"""U-Net (Ronneberger et al. 2015) and its variants, as keyword options of one builder.

The encoder is shared with UNet++ and UNet3+: `encoder` returns one feature map per level.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import keras
from keras import layers

from marslab.models.blocks import (UPSAMPLING_MODES, aspp, attention_gate, classifier_head, conv_block,
                                   residual_block, squeeze_excite, standardize, upsample, weighted_add)

MIN_DEPTH, MAX_DEPTH = 2, 6
SKIP_MERGES: tuple[str, ...] = ("concat", "weighted_add")


def level_widths(filters: int | Sequence[int], depth: int) -> list[int]:
    """Channels per level: `filters` doubled at every level (32, 64, ...) or an explicit list of `depth` ints."""
    if not isinstance(depth, int) or not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an int in {MIN_DEPTH}..{MAX_DEPTH}, got {depth!r}")
    if isinstance(filters, int) and not isinstance(filters, bool):
        widths = [filters * 2**i for i in range(depth)]
    else:
        widths = list(filters)
        if len(widths) != depth:
            raise ValueError(f"filters lists one width per level: expected {depth}, got {len(widths)} ({widths})")
    if not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"filters must be positive ints, got {widths}")
    return widths


def check_input(input_shape: Sequence[int], num_classes: int, depth: int) -> tuple[int, int, int]:
    """Validate (H, W, C) and num_classes: H and W must halve depth-1 times without remainder."""
    if len(input_shape) != 3 or not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1
                                        for d in input_shape):
        raise ValueError(f"input_shape must be (height, width, channels) of positive ints, got {tuple(input_shape)}")
    height, width, _ = input_shape
    step = 2 ** (depth - 1)
    if height % step or width % step:
        raise ValueError(f"input height and width must be divisible by 2**(depth-1) = {step} "
                         f"for depth {depth}, got {height}x{width}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return tuple(input_shape)


def block_fn(residual: bool) -> Callable:
    """The block every level uses: `residual_block` or the plain `conv_block`."""
    return residual_block if residual else conv_block


def encoder(x, widths: Sequence[int], *, residual: bool = False, se: bool = False, batch_norm: bool = True,
            aspp_bottleneck: bool = False, dropout: float = 0.0, standardize_input: bool = False,
            name: str = "enc") -> list:
    """The contracting path: block -> (SE) -> 2x2 max-pool at every level but the last (the bottleneck).

    x (B,H,W,C) -> [level 0 (B,H,W,widths[0]), ..., bottleneck (B,H/2^(D-1),W/2^(D-1),widths[-1])].
    aspp_bottleneck adds an ASPP after the bottleneck block; dropout follows the bottleneck.
    standardize_input: first bring every image to mean 0, variance 1 (`blocks.standardize`).
    """
    block = block_fn(residual)
    if standardize_input:
        x = standardize(x)
    features = []
    for i, w in enumerate(widths):
        if i > 0:
            x = layers.MaxPooling2D(2, name=f"{name}{i}_pool")(x)
        x = block(x, w, batch_norm=batch_norm, name=f"{name}{i}")
        if se:
            x = squeeze_excite(x, name=f"{name}{i}_se")
        features.append(x)
    if aspp_bottleneck:
        features[-1] = aspp(features[-1], widths[-1], batch_norm=batch_norm, name="aspp")
    if dropout:
        features[-1] = layers.Dropout(dropout, name="bottleneck_dropout")(features[-1])
    return features


def unet(input_shape: Sequence[int] = (64, 128, 1), num_classes: int = 5, filters: int | Sequence[int] = 32,
         depth: int = 4, *, residual: bool = False, upsampling: str = "bilinear", se: bool = False,
         attention: bool = False, skip_merge: str = "concat", aspp_bottleneck: bool = False,
         dropout: float = 0.0, batch_norm: bool = True, standardize_input: bool = False,
         name: str = "unet") -> keras.Model:
    """A U-Net: images (B,64,128,1) in [0,1] -> probs (B,64,128,num_classes), softmax over classes.

    filters: width of level 0, doubled per level (default 32, 64, 128, 256), or one width per level.
    depth: number of resolution levels, 2..6 (depth-1 poolings; the last level is the bottleneck).
    residual: residual blocks instead of plain conv blocks. upsampling: "bilinear" or "transpose".
    se: squeeze-and-excitation after every block. attention: attention gates on the skips, gated by
    the decoder level below. skip_merge: "concat" (U-Net) or "weighted_add" (learned weighted sum).
    aspp_bottleneck: ASPP after the bottleneck. dropout: rate after the bottleneck.
    standardize_input: every image to mean 0 and variance 1 first (`blocks.standardize`), so the
    network need not learn each illumination level separately (lesson 09).
    """
    widths = level_widths(filters, depth)
    check_input(input_shape, num_classes, depth)
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
    if skip_merge not in SKIP_MERGES:
        raise ValueError(f"skip_merge must be one of {SKIP_MERGES}, got {skip_merge!r}")
    block = block_fn(residual)
    inputs = keras.Input(input_shape, name="images")
    features = encoder(inputs, widths, residual=residual, se=se, batch_norm=batch_norm,
                       aspp_bottleneck=aspp_bottleneck, dropout=dropout, standardize_input=standardize_input)
    x = features[-1]
    for i in reversed(range(depth - 1)):
        skip = features[i]
        if attention:
            skip = attention_gate(skip, x, name=f"dec{i}_att")
        x = upsample(x, widths[i], mode=upsampling, name=f"dec{i}_up")
        if skip_merge == "concat":
            x = layers.Concatenate(name=f"dec{i}_concat")([skip, x])
        else:
            if x.shape[-1] != widths[i]:
                x = layers.Conv2D(widths[i], 1, name=f"dec{i}_project")(x)
            x = weighted_add([skip, x], name=f"dec{i}_wadd")
        x = block(x, widths[i], batch_norm=batch_norm, name=f"dec{i}")
        if se:
            x = squeeze_excite(x, name=f"dec{i}_se")
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)
