"""DeepLabV3+ (Chen et al. 2018) from scratch: a small residual encoder, the course's ASPP, and the
paper's decoder. No pretrained weights (the competition forbade them).

Reports 000 (§4.3) and 004 (Table 1: 0.46136 against 0.51108 for a larger U-Net) found DeepLabV3+
clearly worse than U-Nets when its encoder is trained from scratch. The paper's figure, at our size:
encoder (output stride 16: a 4x8 map from a 64x128 image) -> ASPP -> 4x bilinear upsampling ->
concatenated with the stride-4 encoder map reduced to a few channels by a 1x1 conv -> two 3x3 convs ->
4x bilinear upsampling -> classifier. Only two encoder maps reach the decoder, where a U-Net uses all.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from marslab.models.blocks import NORMS, aspp, classifier_head, conv_bn_relu
from marslab.models.unet import check_input, encoder, level_widths

OUTPUT_STRIDES: tuple[int, ...] = (8, 16)
LOW_LEVEL_STRIDE = 4  # the paper's decoder takes the encoder map at 1/4 of the input size


def deeplab_v3_plus(input_shape: Sequence[int] = (64, 128, 1), num_classes: int = 5, filters: int = 32,
                    output_stride: int = 16, rates: Sequence[int] = (1, 2, 4), *, norm: str = "batch",
                    name: str = "deeplab_v3_plus") -> keras.Model:
    """DeepLabV3+: images (B,64,128,1) in [0,1] -> probs (B,64,128,num_classes), softmax over classes.

    filters: width of the first encoder level, doubled per level (residual blocks, 2x2 max-pools)
    down to `output_stride` (16: five levels, a 4x8 map; 8: four levels). rates: the ASPP's dilation
    rates (the paper's 6, 12, 18 suit a 33x33 map; ours is 4x8). ASPP and decoder width: 4 * filters
    (the paper's 256 over a 64-wide stem); the low-level map is reduced to 1.5 * filters channels
    (the paper's 48 for 256 decoder channels, the same ratio).
    """
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    depth = output_stride.bit_length()  # 16 -> 5 levels, 8 -> 4
    widths = level_widths(filters, depth)
    check_input(input_shape, num_classes, depth)
    width = 4 * widths[0]
    inputs = keras.Input(input_shape, name="images")
    features = encoder(inputs, widths, residual=True, norm=norm)
    low = conv_bn_relu(features[LOW_LEVEL_STRIDE.bit_length() - 1], max(3 * widths[0] // 2, 1), 1, norm=norm,
                       name="low_level")
    x = aspp(features[-1], width, rates, norm=norm, name="aspp")
    x = layers.UpSampling2D(output_stride // LOW_LEVEL_STRIDE, interpolation="bilinear", name="aspp_up")(x)
    x = layers.Concatenate(name="decoder_concat")([x, low])
    x = conv_bn_relu(x, width, norm=norm, name="decoder_1")
    x = conv_bn_relu(x, width, norm=norm, name="decoder_2")
    x = layers.UpSampling2D(LOW_LEVEL_STRIDE, interpolation="bilinear", name="decoder_up")(x)
    return keras.Model(inputs, classifier_head(x, num_classes), name=name)
