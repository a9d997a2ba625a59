"""UNet++ (Zhou et al. 2018): the skip pathways become nested, densely connected conv blocks.

Node X[i][j] sits at level i (resolution 1/2^i) after j convolution steps along its skip pathway:
X[i][0] is the encoder, and X[i][j] = block(concat(X[i][0], ..., X[i][j-1], up(X[i+1][j-1]))).
The U-Net is the outer rim X[i][0] -> X[0][depth-1]; UNet++ fills the triangle in between.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from marslab.models.blocks import UPSAMPLING_MODES, classifier_head, squeeze_excite, upsample
from marslab.models.unet import block_fn, check_input, encoder, level_widths


def unet_plus_plus(input_shape: Sequence[int] = (64, 128, 1), num_classes: int = 5,
                   filters: int | Sequence[int] = 32, depth: int = 4, *, deep_supervision: bool = False,
                   residual: bool = False, upsampling: str = "bilinear", se: bool = False,
                   dropout: float = 0.0, batch_norm: bool = True, standardize_input: bool = False,
                   name: str = "unet_plus_plus") -> keras.Model:
    """UNet++: images (B,64,128,1) -> probs (B,64,128,num_classes) from the last top node X[0][depth-1].

    deep_supervision: also a head on every top node X[0][1..depth-2], named "probs_1", ...; the
    outputs are then a list [probs_1, ..., probs_{depth-2}, probs] (the full model last). Train with
    losses and targets as dicts keyed by these names (see `marslab.models.targets_for`).
    Other options as in `unet`.
    """
    widths = level_widths(filters, depth)
    check_input(input_shape, num_classes, depth)
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, got {upsampling!r}")
    block = block_fn(residual)
    inputs = keras.Input(input_shape, name="images")
    enc = encoder(inputs, widths, residual=residual, se=se, batch_norm=batch_norm, dropout=dropout,
                  standardize_input=standardize_input)
    nodes = {(i, 0): f for i, f in enumerate(enc)}
    for j in range(1, depth):
        for i in range(depth - j):
            up = upsample(nodes[i + 1, j - 1], widths[i], mode=upsampling, name=f"x{i}{j}_up")
            x = layers.Concatenate(name=f"x{i}{j}_concat")([nodes[i, k] for k in range(j)] + [up])
            x = block(x, widths[i], batch_norm=batch_norm, name=f"x{i}{j}")
            if se:
                x = squeeze_excite(x, name=f"x{i}{j}_se")
            nodes[i, j] = x
    outputs = classifier_head(nodes[0, depth - 1], num_classes, name="probs")
    if deep_supervision:
        side = [classifier_head(nodes[0, j], num_classes, name=f"probs_{j}") for j in range(1, depth - 1)]
        outputs = side + [outputs]
    return keras.Model(inputs, outputs, name=name)
