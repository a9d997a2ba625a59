"""U-Net (Ronneberger et al. 2015) and its variants, as keyword options of one builder.

The encoder is shared with UNet++ and UNet3+: `encoder` returns one feature map per level.
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import keras
from keras import layers

from marslab.models.blocks import (NORMS, UPSAMPLING_MODES, aspp, attention_gate, classifier_head, conv_block,
                                   gated_skip, inception_block, residual_block, squeeze_excite, standardize,
                                   upsample, weighted_add)
from marslab.models.context import bottleneck as bottleneck_modules
from marslab.models.context import parse_bottleneck

MIN_DEPTH, MAX_DEPTH = 2, 6
SKIP_MERGES: tuple[str, ...] = ("concat", "weighted_add", "gated_concat", "gated_add")
ENCODER_BLOCKS: tuple[str, ...] = ("conv", "residual", "inception")


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


def block_fn(residual: bool, kind: str | None = None) -> Callable:
    """The block every level uses: `residual_block` or the plain `conv_block`; kind ("conv", "residual",
    "inception") overrides the residual switch."""
    kind = kind or ("residual" if residual else "conv")
    if kind not in ENCODER_BLOCKS:
        raise ValueError(f"encoder_block must be one of {ENCODER_BLOCKS}, got {kind!r}")
    return {"conv": conv_block, "residual": residual_block, "inception": inception_block}[kind]


def encoder(x, widths: Sequence[int], *, residual: bool = False, se: bool = False, batch_norm: bool = True,
            aspp_bottleneck: bool = False, dropout: float = 0.0, standardize_input: bool = False,
            norm: str = "batch", encoder_block: str | None = None, bottleneck: str | None = None,
            name: str = "enc") -> list:
    """The contracting path: block -> (SE) -> 2x2 max-pool at every level but the last (the bottleneck).

    x (B,H,W,C) -> [level 0 (B,H,W,widths[0]), ..., bottleneck (B,H/2^(D-1),W/2^(D-1),widths[-1])].
    aspp_bottleneck adds an ASPP after the bottleneck block; dropout follows the bottleneck.
    standardize_input: first bring every image to mean 0, variance 1 (`blocks.standardize`).
    norm: "batch" or "group". encoder_block: "inception" (report 003) or "conv"/"residual" (default: per
    `residual`). bottleneck: modules after the bottleneck block, e.g. "se" or "aspp+psa+strip" (`context.bottleneck`).
    """
    block = block_fn(residual, encoder_block)
    if standardize_input:
        x = standardize(x)
    features = []
    for i, w in enumerate(widths):
        if i > 0:
            x = layers.MaxPooling2D(2, name=f"{name}{i}_pool")(x)
        x = block(x, w, batch_norm=batch_norm, norm=norm, name=f"{name}{i}")
        if se:
            x = squeeze_excite(x, name=f"{name}{i}_se")
        features.append(x)
    if aspp_bottleneck:
        features[-1] = aspp(features[-1], widths[-1], batch_norm=batch_norm, norm=norm, name="aspp")
    features[-1] = bottleneck_modules(features[-1], bottleneck, widths[-1], batch_norm=batch_norm, norm=norm)
    if dropout:
        features[-1] = layers.Dropout(dropout, name="bottleneck_dropout")(features[-1])
    return features


def unet(input_shape: Sequence[int] = (64, 128, 1), num_classes: int = 5, filters: int | Sequence[int] = 32,
         depth: int = 4, *, residual: bool = False, upsampling: str = "bilinear", se: bool = False,
         attention: bool = False, skip_merge: str = "concat", aspp_bottleneck: bool = False,
         dropout: float = 0.0, batch_norm: bool = True, standardize_input: bool = False,
         norm: str = "batch", encoder_block: str | None = None, bottleneck: str | None = None,
         deep_supervision: bool = False, name: str = "unet") -> keras.Model:
    """A U-Net: images (B,64,128,1) in [0,1] -> probs (B,64,128,num_classes), softmax over classes.

    filters: width of level 0, doubled per level (default 32, 64, 128, 256), or one width per level.
    depth: number of resolution levels, 2..6 (depth-1 poolings; the last level is the bottleneck).
    residual: residual blocks instead of plain conv blocks. upsampling: "bilinear" or "transpose".
    se: squeeze-and-excitation after every block. attention: attention gates on the skips, gated by
    the decoder level below. skip_merge: "concat" (U-Net), "weighted_add" (learned weighted sum, report
    000), "gated_concat" or "gated_add" (report 004's gated skips, `blocks.gated_skip`).
    aspp_bottleneck: ASPP after the bottleneck. dropout: rate after the bottleneck.
    standardize_input: every image to mean 0 and variance 1 first (`blocks.standardize`), so the
    network need not learn each illumination level separately (lesson 09).
    norm: "batch" or "group" (GroupNorm, report 001's third model); batch_norm=False removes every norm.
    encoder_block: "inception" for report 003's Inception-ResNet encoder blocks (decoder per `residual`).
    bottleneck: context modules after the bottleneck block, "+"-joined from "aspp", "psa", "strip", "se":
    "se" is report 004's SE at the bottleneck only (`se=True` puts one after every block), "aspp+psa+strip"
    report 003's best (`models.context`). deep_supervision: also a head on every decoder level 1..depth-2,
    upsampled to full size, named "probs_<level>"; outputs [probs_<depth-2>, ..., probs_1, probs] (report 002).
    """
    widths = level_widths(filters, depth)
    check_input(input_shape, num_classes, depth)
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
    if skip_merge not in SKIP_MERGES:
        raise ValueError(f"skip_merge must be one of {SKIP_MERGES}, got {skip_merge!r}")
    if norm not in NORMS or (norm != "batch" and not batch_norm):
        raise ValueError(f"norm must be one of {NORMS} (with batch_norm=True), "
                         f"got norm={norm!r}, batch_norm={batch_norm}")
    if aspp_bottleneck and "aspp" in parse_bottleneck(bottleneck):
        raise ValueError(f"aspp_bottleneck=True and bottleneck={bottleneck!r} would add two ASPPs; use one")
    block = block_fn(residual)
    inputs = keras.Input(input_shape, name="images")
    features = encoder(inputs, widths, residual=residual, se=se, batch_norm=batch_norm,
                       aspp_bottleneck=aspp_bottleneck, dropout=dropout, standardize_input=standardize_input,
                       norm=norm, encoder_block=encoder_block, bottleneck=bottleneck)
    x, side = features[-1], []
    for i in reversed(range(depth - 1)):
        skip = features[i]
        if attention:
            skip = attention_gate(skip, x, name=f"dec{i}_att")
        x = upsample(x, widths[i], mode=upsampling, name=f"dec{i}_up")
        if skip_merge == "concat":
            x = layers.Concatenate(name=f"dec{i}_concat")([skip, x])
        elif skip_merge.startswith("gated_"):
            x = gated_skip(skip, x, skip_merge.removeprefix("gated_"), name=f"dec{i}_gate")
        else:
            if x.shape[-1] != widths[i]:
                x = layers.Conv2D(widths[i], 1, name=f"dec{i}_project")(x)
            x = weighted_add([skip, x], name=f"dec{i}_wadd")
        x = block(x, widths[i], batch_norm=batch_norm, norm=norm, name=f"dec{i}")
        if se:
            x = squeeze_excite(x, name=f"dec{i}_se")
        if deep_supervision and i > 0:
            side.append(layers.UpSampling2D(2**i, interpolation="bilinear", dtype="float32", name=f"probs_{i}")(
                classifier_head(x, num_classes, name=f"probs_{i}_low")))
    outputs = side + [classifier_head(x, num_classes)]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)
