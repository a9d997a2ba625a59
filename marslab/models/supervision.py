"""Targets and losses for models with several outputs (deep supervision, the classification head).

Keras 3 matches a list of losses or targets to the outputs by position in a way that is easy to get
wrong, so multi-output models are trained with dicts keyed by output name:
    model.compile(loss=losses_for(model, loss), ...); model.fit(images, targets_for(model, masks))
"""
from __future__ import annotations

import keras
import numpy as np

from marslab.weights import class_presence

PRESENCE = "presence"


def targets_for(model: keras.Model, masks: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
    """The training targets of every output of `model`: the masks for each segmentation output and
    `marslab.weights.class_presence(masks)` as float32 0/1 for the "presence" output. A single-output
    model gets the masks themselves.
    """
    if len(model.outputs) == 1:
        return masks
    num_classes = model.outputs[-1].shape[-1]
    return {name: class_presence(masks, num_classes).astype("float32") if name == PRESENCE else masks
            for name in model.output_names}


def losses_for(model: keras.Model, loss, presence_loss="binary_crossentropy"):
    """One loss per output, keyed by output name: `loss` for segmentation outputs, `presence_loss` for
    the classification head. A single-output model gets `loss` itself.
    """
    if len(model.outputs) == 1:
        return loss
    return {name: presence_loss if name == PRESENCE else loss for name in model.output_names}
