"""The course's final recipe: its network, its class weights and its loss, each chosen by a measurement.

The measurements (training loss and validation mean IoU per class-weight power, Dice weight and network;
the recipe against the lesson-05 baseline on the hidden test split) are in benchmarks/README.md
("Loss, class-weight power and network" and "Quality"); lesson 09 shows the table. Training goes
through `marslab.training.fit`. A one-call recipe (data in, trained model out) belongs here too.
"""
from __future__ import annotations

import warnings

import keras
import numpy as np

from marslab.losses import Combined, SegmentationLoss, get_loss
from marslab.models import unet, unet3plus
from marslab.validation import check_number, invalid
from marslab.weights import class_frequencies, zero_background

RECIPE_ARCHITECTURES: tuple[str, ...] = ("unet", "unet3plus")
RECIPE_LOSS_POWER = 0.5  # recipe_loss's class-weight power (benchmarks/bench_loss_power.py)


def recipe_model(filters: int = 32, depth: int = 4, architecture: str = "unet",
                 cat_channels: int | None = None, standardize_input: bool = False) -> keras.Model:
    """The course's final network: images (B,64,128,1) -> probs (B,64,128,5).

    architecture "unet" (default): lesson 05's U-Net, the lesson-05 baseline's own network, so the
    recipe's gain comes from how it is trained. "unet3plus": report 000's best, a UNet3+ with residual
    blocks and transposed convolutions (§4.4), with `cat_channels` (default `filters`); on the synthetic
    set it trained worse with the recipe's loss and schedule (benchmarks/README.md).
    standardize_input: every image to mean 0 and variance 1 before the first layer
    (`marslab.models.standardize`, no weights); off, since it did not help the recipe (benchmarks/README.md).
    """
    if architecture == "unet":
        if cat_channels is not None:
            raise invalid("cat_channels", "be None with architecture='unet' (it sets the skip width of "
                          "'unet3plus'; the U-Net has none)", cat_channels)
        return unet(filters=filters, depth=depth, standardize_input=standardize_input, name="recipe_unet")
    if architecture == "unet3plus":
        return unet3plus(filters=filters, depth=depth, cat_channels=cat_channels or filters, residual=True,
                         upsampling="transpose", standardize_input=standardize_input, name="recipe_unet3plus")
    raise ValueError(f"architecture must be one of {RECIPE_ARCHITECTURES}, found {architecture!r}")


def recipe_weights(masks: np.ndarray, power: float = RECIPE_LOSS_POWER) -> np.ndarray:
    """Class weights (5,): inverse frequency of `masks` (N,64,128) raised to `power`, Background zeroed,
    scaled so the average pixel weight of `masks` is 1 (report 000 Table 4, second row, at power 1;
    power 0 only drops Background; values in between soften the weight of Big Rock).

    The scaling: weights summing to 1 (Table 4's rows) shrink a cross-entropy by the average pixel
    weight, about 50x on Table 1's frequencies (lesson 08, section 6). The default power 0.5: at power 1
    the recipe's loss hardly fell on the synthetic set (benchmarks/README.md, lesson 09). A class without
    pixels in `masks` (a small or skewed subset) gets weight 0, with a warning, instead of an infinite one.
    """
    power = check_number(power, "power")
    freqs = class_frequencies(masks)
    if (freqs[1:] == 0).any():
        warnings.warn(f"classes {(np.flatnonzero(freqs[1:] == 0) + 1).tolist()} have no pixels here: weight 0",
                      stacklevel=2)
    weights = zero_background(np.where(freqs > 0, (len(freqs) * np.maximum(freqs, 1e-12)) ** -power, 0.0))
    return weights / float(freqs @ weights)


def recipe_loss(masks: np.ndarray, power: float = RECIPE_LOSS_POWER, dice: float = 1.0) -> SegmentationLoss:
    """The recipe's loss: class-weighted cross-entropy + `dice` x class-weighted per-class soft Dice, both
    with `recipe_weights(masks, power)` (Background's weight 0). dice=0 gives the cross-entropy alone.

    The Dice part scores each class's overlap over the whole batch, as the metric does over the test
    set, so a rare class is judged by its overlap, not by its share of the pixels (reports 003 and 004
    ended with such sums).
    """
    if not isinstance(dice, (int, float)) or not dice >= 0:
        raise ValueError(f"dice must be >= 0 (the weight of the Dice term), found {dice!r}")
    weights = recipe_weights(masks, power)
    if dice == 0:
        return get_loss("cce", class_weights=weights)
    return Combined([get_loss("cce", class_weights=weights), get_loss("dice", class_weights=weights)],
                    [1.0, float(dice)], class_weights=weights, name="cce_dice")
