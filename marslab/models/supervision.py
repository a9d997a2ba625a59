"""Targets and losses for models with several outputs (deep supervision, the classification head).

Keras 3 matches a list of losses or targets to the outputs by position in a way that is easy to get
wrong, so multi-output models are trained with dicts keyed by output name:
    model.compile(loss=losses_for(model, loss), ...); model.fit(images, targets_for(model, masks))
"""
from __future__ import annotations

import keras
import numpy as np

PRESENCE = "presence"


def class_presence(masks: np.ndarray, num_classes: int = 5) -> np.ndarray:
    """Which classes appear in each mask: (N,H,W) integer labels -> (N,num_classes) float32 of 0/1."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must be integer labels of shape (N,H,W), got {masks.dtype} {masks.shape}")
    if masks.size and (masks.min() < 0 or masks.max() >= num_classes):
        raise ValueError(f"mask labels must lie in 0..{num_classes - 1}, found {masks.min()}..{masks.max()}")
    flat = masks.reshape(len(masks), -1)
    return np.stack([(flat == c).any(axis=1) for c in range(num_classes)], axis=1).astype("float32")


def targets_for(model: keras.Model, masks: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
    """The training targets of every output of `model`: the masks for each segmentation output and
    `class_presence(masks)` for the "presence" output. A single-output model gets the masks themselves.
    """
    if len(model.outputs) == 1:
        return masks
    num_classes = model.outputs[-1].shape[-1]
    return {name: class_presence(masks, num_classes) if name == PRESENCE else masks
            for name in model.output_names}


def losses_for(model: keras.Model, loss, presence_loss="binary_crossentropy"):
    """One loss per output, keyed by output name: `loss` for segmentation outputs, `presence_loss` for
    the classification head. A single-output model gets `loss` itself.
    """
    if len(model.outputs) == 1:
        return loss
    return {name: presence_loss if name == PRESENCE else loss for name in model.output_names}
