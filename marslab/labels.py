"""Improving or discarding noisy masks: report 004's two mask-quality experiments (§3, §5, Table 1).

Report 004 grew labelled regions into neighbouring pixels of near-constant intensity ("improved masks",
0.39320) and discarded images whose masks looked wrong ("bad masks removed", 0.38503); both scored below
the same baseline on the raw masks (0.40351). Report 000 found editing masks by hand lowered accuracy
too (§2). The synthetic set knows the clean masks, so here both steps can be scored against the truth.

- `grow_regions`: region growing in circular neighbourhoods (report 004's description made precise).
- `mask_fit_scores` / `discard_masks`: a measurable version of "visually wrong": how much of the image's
  local brightness and texture its mask explains (the correlation ratio); the worst-fitting are dropped.
  `prediction_agreement`: a second rule, the masks a model trained on them contradicts most.
- `agreement`: pixel agreement and the competition metric of masks against reference masks.

Shapes: images (N,64,128) uint8, masks (N,64,128) integer labels.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from marslab import NUM_CLASSES
from marslab.postprocess import disk

FOREGROUND: tuple[int, ...] = (1, 2, 3, 4)
TEXTURE_WINDOW = 5  # pixels: the side of the window for local mean and local standard deviation


def _check_pair(images: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    images, masks = np.asarray(images), np.asarray(masks)
    if images.ndim != 3 or images.shape != masks.shape:
        raise ValueError(f"need images and masks of one shape (N, H, W), got {images.shape} and {masks.shape}")
    if not np.issubdtype(masks.dtype, np.integer) or (masks.size and (masks.min() < 0 or masks.max() >= NUM_CLASSES)):
        raise ValueError(f"masks must be integer labels 0..{NUM_CLASSES - 1}, got {masks.dtype} "
                         f"{masks.min() if masks.size else ''}..{masks.max() if masks.size else ''}")
    return images, masks


def local_variation(image: np.ndarray, radius: int) -> np.ndarray:
    """Intensity range (max - min) in the disk of `radius` around every pixel: (H,W) -> (H,W) float32."""
    footprint = disk(radius)
    image = np.asarray(image, np.float32)
    return ndimage.maximum_filter(image, footprint=footprint) - ndimage.minimum_filter(image, footprint=footprint)


def grow_one(image: np.ndarray, mask: np.ndarray, radius: int, threshold: float, iterations: int,
             classes: Sequence[int], overwrite: Sequence[int] | None) -> np.ndarray:
    """`grow_regions` on one (H,W) image and mask -> the grown mask (H,W) uint8."""
    footprint = disk(radius).astype(np.float32)
    flat = local_variation(image, radius) < threshold
    mask = mask.astype(np.uint8).copy()
    for _ in range(iterations):
        votes = np.stack([ndimage.convolve((mask == c) & flat, footprint, mode="constant").astype(np.float32)
                          if c in classes else np.zeros(mask.shape, np.float32) for c in range(NUM_CLASSES)])
        winner = np.argmax(votes, axis=0)
        change = (votes.max(axis=0) > 0) & (winner != mask)
        if overwrite is not None:
            change &= np.isin(mask, overwrite)
        if not change.any():
            break
        mask[change] = winner[change]
    return mask


def grow_regions(images: np.ndarray, masks: np.ndarray, radius: int = 2, threshold: float = 12.0,
                 iterations: int = 3, classes: Sequence[int] = FOREGROUND,
                 overwrite: Sequence[int] | None = (0,)) -> np.ndarray:
    """Report 004's mask improvement: grow labelled regions into circular neighbourhoods of near-constant intensity.

    A pixel of class c in `classes` is a seed where the intensity range in the disk of `radius` around it is
    below `threshold` (grey levels); every pixel of a seed's disk is assigned class c (where seeds of
    several classes reach a pixel, the class with most seeds there wins). Repeated `iterations` times, so
    regions grow by up to radius * iterations pixels. overwrite: the labels that may be reassigned
    ((0,): only unlabelled Background, the default; None: any label, report 004's literal rule).
    Returns the grown masks (N,H,W) uint8; the input is not changed.
    """
    images, masks = _check_pair(images, masks)
    if int(radius) != radius or radius < 1 or iterations < 1 or threshold <= 0:
        raise ValueError(f"need radius >= 1 (int), iterations >= 1 and threshold > 0, got radius={radius}, "
                         f"iterations={iterations}, threshold={threshold}")
    return np.stack([grow_one(i, m, int(radius), threshold, iterations, tuple(classes), overwrite)
                     for i, m in zip(images, masks)])


def correlation_ratio(values: np.ndarray, labels: np.ndarray) -> float:
    """eta^2 = between-class variance / total variance of `values` grouped by `labels`, in [0, 1] (0 if constant)."""
    values, labels = np.ravel(values).astype(np.float64), np.ravel(labels)
    total = values.var() * values.size
    if total == 0:
        return 0.0
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    sums = np.bincount(labels, weights=values, minlength=NUM_CLASSES)
    present = counts > 0
    between = np.sum(sums[present] ** 2 / counts[present]) - values.sum() ** 2 / values.size
    return float(between / total)


def mask_fit_scores(images: np.ndarray, masks: np.ndarray, window: int = TEXTURE_WINDOW) -> np.ndarray:
    """How well each mask follows its image: (N,) float in [0, 1], higher = better fit.

    The mean of two correlation ratios: of the local mean brightness and of the local standard deviation
    (texture) in a `window` x `window` box, grouped by the mask's labels. A mask whose regions are shifted,
    swapped or left unlabelled groups unlike pixels together and explains less of either.
    """
    images, masks = _check_pair(images, masks)
    scores = np.empty(len(images))
    for n, (image, mask) in enumerate(zip(images, masks)):
        x = image.astype(np.float32)
        mean = ndimage.uniform_filter(x, window)
        std = np.sqrt(np.maximum(ndimage.uniform_filter(x * x, window) - mean**2, 0.0))
        scores[n] = 0.5 * (correlation_ratio(mean, mask) + correlation_ratio(std, mask))
    return scores


def keep_best(scores: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Sorted indices of the images to KEEP: all but the `fraction` with the lowest scores (N,)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    scores = np.asarray(scores)
    n_drop = int(round(fraction * len(scores)))
    return np.sort(np.argsort(scores, kind="stable")[n_drop:])


def discard_masks(images: np.ndarray, masks: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """Report 004's "bad masks removed", as a rule: the sorted indices of the images to KEEP, dropping the
    `fraction` whose masks fit their images worst (`mask_fit_scores`)."""
    return keep_best(mask_fit_scores(images, masks), fraction)


def prediction_agreement(preds: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """A second rule for wrong masks: the share of pixels (N,) where a model trained on the masks agrees
    with each mask; the masks it contradicts most are candidates to discard (`keep_best`)."""
    preds, masks = np.asarray(preds), np.asarray(masks)
    if preds.shape != masks.shape or preds.ndim != 3:
        raise ValueError(f"need preds and masks of one shape (N, H, W), got {preds.shape} and {masks.shape}")
    return np.mean(preds == masks, axis=(1, 2))


def agreement(masks: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How far `masks` agree with `reference` (e.g. noisy against clean), both (N,H,W) labels:
    "pixels" (share of equal labels) and "mean IoU" (the competition metric, reference as the truth)."""
    from marslab.metrics import mean_iou

    masks, reference = np.asarray(masks), np.asarray(reference)
    if masks.shape != reference.shape:
        raise ValueError(f"masks and reference must have one shape, got {masks.shape} and {reference.shape}")
    return {"pixels": float(np.mean(masks == reference)), "mean IoU": float(mean_iou(reference, masks))}
