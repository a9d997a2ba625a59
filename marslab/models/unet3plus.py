"""UNet3+ (Huang et al. 2020): full-scale skip connections, deep supervision, classification guidance.

The decoder stage at level i fuses one map from EVERY level, `depth` sources (five at depth 5):
the shallower encoder maps max-pooled down to level i, the encoder map of level i itself, the deeper
decoder stages and the bottleneck upsampled to level i. Each source goes through a 3x3 conv to
`cat_channels`; the `depth * cat_channels` concatenation is fused by a 3x3 conv -> BN -> ReLU.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import keras
from keras import layers, ops

from marslab.models.blocks import UPSAMPLING_MODES, conv_bn_relu
from marslab.models.unet import check_input, encoder, level_widths


@keras.saving.register_keras_serializable(package="marslab")
class ClassGate(layers.Layer):
    """Classification-guided module, differentiable: scale each class's probability by the predicted
    chance that the class is present in the image, then renormalise over classes.

    inputs [probs (B,H,W,K), presence (B,K)] -> probs (B,H,W,K), summing to 1 over K.
    """

    def __init__(self, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        probs, presence = inputs
        gated = probs * ops.expand_dims(ops.expand_dims(presence, 1), 1) + self.epsilon
        return gated / ops.sum(gated, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def resize_source(x, levels_up: int, cat_channels: int, *, upsampling: str, batch_norm: bool, name: str):
    """One full-scale skip: bring x to the stage's resolution, then 3x3 conv -> BN -> ReLU to cat_channels.

    levels_up > 0: x is that many levels deeper; enlarge it by 2**levels_up (bilinear, or a transposed
    conv with kernel and stride 2**levels_up). levels_up < 0: x is shallower; max-pool it by 2**-levels_up.
    """
    factor = 2 ** abs(levels_up)
    if levels_up > 0 and upsampling == "bilinear":
        x = layers.UpSampling2D(factor, interpolation="bilinear", name=f"{name}_up")(x)
    elif levels_up > 0:
        x = layers.Conv2DTranspose(cat_channels, factor, strides=factor, name=f"{name}_up")(x)
    elif levels_up < 0:
        x = layers.MaxPooling2D(factor, name=f"{name}_pool")(x)
    return conv_bn_relu(x, cat_channels, batch_norm=batch_norm, name=name)


def decoder_stage(encoded: Sequence, decoded: dict, level: int, cat_channels: int, *,
                  upsampling: str = "bilinear", batch_norm: bool = True, name: str = "dec"):
    """The UNet3+ decoder stage at `level` (Huang et al. 2020, Fig. 2).

    encoded: the encoder maps of every level, the bottleneck last; decoded: {level: decoder map} of the
    deeper stages. Returns (B, H/2^level, W/2^level, depth*cat_channels).
    """
    depth = len(encoded)
    sources = []
    for k in range(depth):
        src = decoded[k] if level < k < depth - 1 else encoded[k]
        kind = "dec" if level < k < depth - 1 else "enc"
        sources.append(resize_source(src, k - level, cat_channels, upsampling=upsampling,
                                     batch_norm=batch_norm, name=f"{name}{level}_from_{kind}{k}"))
    x = layers.Concatenate(name=f"{name}{level}_concat")(sources)
    return conv_bn_relu(x, depth * cat_channels, batch_norm=batch_norm, name=f"{name}{level}_fuse")


def side_output(x, num_classes: int, factor: int, presence=None, *, name: str):
    """Deep-supervision head (the paper's): 3x3 conv to classes, bilinear upsampling by factor, softmax.

    With presence (B,K) from the classification-guided module, the probabilities are gated by it.
    """
    x = layers.Conv2D(num_classes, 3, padding="same", name=f"{name}_conv")(x)
    if factor > 1:
        x = layers.UpSampling2D(factor, interpolation="bilinear", name=f"{name}_up")(x)
    activation = "softmax" if num_classes > 1 else "sigmoid"
    if presence is None:
        return layers.Activation(activation, dtype="float32", name=name)(x)
    x = layers.Activation(activation, dtype="float32", name=f"{name}_ungated")(x)
    return ClassGate(dtype="float32", name=name)([x, presence])


def cgm_head(bottleneck, num_classes: int, *, name: str = "presence"):
    """Classification-guided module: dropout -> 1x1 conv -> global max-pool -> sigmoid. (B,h,w,C) -> (B,K)."""
    z = layers.Dropout(0.5, name="cgm_dropout")(bottleneck)
    z = layers.Conv2D(num_classes, 1, name="cgm_conv")(z)
    z = layers.GlobalMaxPooling2D(name="cgm_pool")(z)
    return layers.Activation("sigmoid", dtype="float32", name=name)(z)


def unet3plus(input_shape: Sequence[int] = (64, 128, 1), num_classes: int = 5,
              filters: int | Sequence[int] = 32, depth: int = 4, cat_channels: int = 32, *,
              deep_supervision: bool = False, cgm: bool = False, residual: bool = False,
              upsampling: str = "bilinear", batch_norm: bool = True, dropout: float = 0.0,
              standardize_input: bool = False, name: str = "unet3plus") -> keras.Model:
    """UNet3+: images (B,64,128,1) -> probs (B,64,128,num_classes) from the top decoder stage.

    filters/depth: encoder widths as in `unet` (the paper: 64..1024, depth 5, a 4x8 bottleneck at 64x128).
    cat_channels: channels of each full-scale skip (the paper: 64).
    deep_supervision: one more output per deeper stage and the bottleneck, upsampled to full size and
    named "probs_<level>"; outputs are [probs_<depth-1>, ..., probs_1, probs].
    cgm: classification-guided module: a trained head on the bottleneck predicting which classes are
    present, output "presence" (B, num_classes) sigmoid (put first in the outputs), which also scales
    every segmentation output (`ClassGate`). Train it with binary cross-entropy on
    `marslab.weights.class_presence(masks)`; see `targets_for` and `losses_for`.
    standardize_input: every image to mean 0 and variance 1 first, as in `unet`.
    """
    widths = level_widths(filters, depth)
    check_input(input_shape, num_classes, depth)
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
    if not isinstance(cat_channels, int) or cat_channels < 1:
        raise ValueError(f"cat_channels must be a positive int, got {cat_channels!r}")
    inputs = keras.Input(input_shape, name="images")
    enc = encoder(inputs, widths, residual=residual, batch_norm=batch_norm, dropout=dropout,
                  standardize_input=standardize_input)
    decoded: dict = {}
    for level in reversed(range(depth - 1)):
        decoded[level] = decoder_stage(enc, decoded, level, cat_channels, upsampling=upsampling,
                                       batch_norm=batch_norm)
    presence = cgm_head(enc[-1], num_classes) if cgm else None
    outputs = [side_output(decoded[0], num_classes, 1, presence, name="probs")]
    if deep_supervision:
        deeper = {**decoded, depth - 1: enc[-1]}
        outputs = [side_output(deeper[k], num_classes, 2**k, presence, name=f"probs_{k}")
                   for k in reversed(range(1, depth))] + outputs
    if cgm:
        outputs = [presence] + outputs
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)


def skip_table(model: keras.Model) -> list[dict[str, str]]:
    """The full-scale skips of a UNet3+ as rows, one per decoder stage (deepest first), read from the
    layer names: {"stage": "dec<i>", "level 0": "enc0 pool /8", ..., "level 4": "bottleneck up x2"}."""
    pattern = re.compile(r"dec(\d+)_from_(enc|dec)(\d+)_conv$")
    found = [(int(m[1]), m[2], int(m[3])) for m in map(pattern.match, (la.name for la in model.layers)) if m]
    if not found:
        raise ValueError(f"model {model.name!r} has no UNet3+ decoder stages (layers named dec<i>_from_...)")
    deepest = max(k for _, _, k in found)
    rows = []
    for level in sorted({lv for lv, _, _ in found}, reverse=True):
        row = {"stage": f"dec{level}"}
        for lv, kind, k in sorted(t for t in found if t[0] == level):
            source = "bottleneck" if k == deepest else f"{kind}{k}"
            factor = 2 ** abs(k - level)
            how = "as is" if k == level else (f"pool /{factor}" if k < level else f"up x{factor}")
            row[f"level {k}"] = f"{source} {how}"
        rows.append(row)
    return rows
