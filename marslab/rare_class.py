"""A binary model for the rarest class, merged with the multi-class prediction (report 003 §4.3).

Report 003 trained a second network for the least frequent class (Big Rock) and combined its output
with the main U-Net's ("double U-Net"), then dropped it for its small effect. Report 000 §4.6 did the
same for Background (`marslab.postprocess.merge_background`). On the synthetic set a binary Big Rock
U-Net merged three ways moved the recipe by less than 0.003 mean IoU (benchmarks/README.md, Quality).

    model = rare_class_model(filters=16)                  # unet(num_classes=1): a sigmoid per pixel
    model.fit(images, rare_class_targets(masks), ...)
    preds = merge_rare_class(probs, model.predict(images), mode="average")

Shapes: probs (N,64,128,C) softmax; rare_probs (N,64,128) or (N,64,128,1) sigmoid; preds (N,64,128) uint8.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from marslab.postprocess import to_labels, weighted_labels

BIG_ROCK = 4
MERGE_MODES: tuple[str, ...] = ("threshold", "replace", "average")


def rare_class_targets(masks: np.ndarray, class_id: int = BIG_ROCK) -> np.ndarray:
    """Binary targets (N,64,128) float32: 1 where masks == class_id, else 0."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"masks must be integer labels (N, H, W), got {masks.dtype} {masks.shape}")
    return (masks == class_id).astype(np.float32)


def rare_class_model(filters: int = 16, depth: int = 4, name: str = "rare_class_unet", **unet_options):
    """The binary network: `marslab.models.unet` with one sigmoid output, (B,64,128,1) -> (B,64,128,1)."""
    from marslab.models import unet

    return unet(num_classes=1, filters=filters, depth=depth, name=name, **unet_options)


def merge_rare_class(probs: np.ndarray, rare_probs: np.ndarray, class_id: int = BIG_ROCK, mode: str = "threshold",
                     threshold: float = 0.5, class_weights: Sequence[float] | None = None) -> np.ndarray:
    """Label maps (N,64,128) uint8 from the multi-class probs and the binary model's probability of class_id.

    mode "threshold": the multi-class labels, with class_id wherever rare_probs >= threshold (> 1: never).
    "replace": class_id's probability replaced by rare_probs, then the argmax. "average": class_id's
    probability replaced by the mean of the two, then the argmax. class_weights: the argmax weighted as
    in `postprocess.weighted_labels` (e.g. tuned on validation by `tune_class_weights`).
    """
    probs, rare_probs = np.asarray(probs, np.float32), np.asarray(rare_probs, np.float32)
    if rare_probs.ndim == 4 and rare_probs.shape[-1] == 1:
        rare_probs = rare_probs[..., 0]
    if probs.ndim != 4 or rare_probs.shape != probs.shape[:3] or not 0 <= class_id < probs.shape[-1]:
        raise ValueError(f"need probs (N,64,128,C), rare_probs (N,64,128[,1]) and class_id < C; got "
                         f"{probs.shape}, {np.shape(rare_probs)} and class_id {class_id}")
    if mode not in MERGE_MODES:
        raise ValueError(f"mode must be one of {MERGE_MODES}, got {mode!r}")

    def labels(p: np.ndarray) -> np.ndarray:
        return to_labels(p) if class_weights is None else weighted_labels(p, class_weights)

    if mode == "threshold":
        return np.where(rare_probs >= threshold, class_id, labels(probs)).astype(np.uint8)
    merged = probs.copy()
    merged[..., class_id] = rare_probs if mode == "replace" else 0.5 * (probs[..., class_id] + rare_probs)
    return labels(merged)


def tune_threshold(probs: np.ndarray, rare_probs: np.ndarray, masks: np.ndarray, class_id: int = BIG_ROCK,
                   grid: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)) -> tuple[float, float]:
    """The threshold of `grid` whose "threshold" merge scores best (competition metric) on (probs, masks),
    as (threshold, mean IoU); 1.01 means "never override"; ties go to the higher threshold (fewer overrides).
    Tune on validation data, apply to the test set."""
    from marslab.metrics import mean_iou

    scores = [(mean_iou(masks, merge_rare_class(probs, rare_probs, class_id, "threshold", t)), t) for t in grid]
    best, threshold = max(scores)
    return threshold, best
