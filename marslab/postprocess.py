"""From a trained model to the best label maps it can give: batched prediction, test-time
augmentation by the flips training used, class weights on the probabilities tuned on validation data, morphological
cleanup per class, two-stage refinement and a binary background model.

Shapes: images (N,64,128) uint8 or (N,64,128,1) float32 in [0,1]; probs (N,64,128,C) float32;
preds (N,64,128) uint8 label maps.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from marslab import NUM_CLASSES
from marslab.metrics import mean_iou
from marslab.pipeline import to_model_input
from marslab.validation import check_class_weights, check_int, check_labels, check_probs, invalid

FLIPS: dict[str, tuple[int, ...]] = {"none": (), "horizontal": (2,), "vertical": (1,), "both": (1, 2)}


def predict_probs(model, images: np.ndarray, batch_size: int = 64, flips: Sequence[str] = ("none",),
                  progress: bool = True) -> np.ndarray:
    """Softmax probabilities (N,64,128,C), batch by batch, averaged over the listed flips.

    flips: names from FLIPS; each batch is flipped, predicted and flipped back before averaging
    (test-time augmentation, report 003). A multi-output model's main output (its last) is used.
    model: one Keras model, or a list of them (an ensemble, e.g. one network trained with several
    seeds), whose probabilities are averaged too.
    """
    check_int(batch_size, "batch_size", 1)
    unknown = set(flips) - set(FLIPS)
    if unknown or not flips:
        raise ValueError(f"flips must be a non-empty list of {sorted(FLIPS)}, got {list(flips)}")
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise ValueError("model must be a Keras model or a non-empty list of them, got an empty list")
    images = to_model_input(images)
    batches = []
    for start in tqdm(range(0, len(images), batch_size), desc="predicting", disable=not progress):
        batch = images[start:start + batch_size]
        total = 0.0
        for member in models:
            for name in flips:
                axes = FLIPS[name]
                out = member.predict_on_batch(np.flip(batch, axes) if axes else batch)
                out = np.asarray(out[-1] if isinstance(out, (list, tuple)) else out, dtype=np.float32)
                total = total + (np.flip(out, axes) if axes else out)
        batches.append(total / (len(models) * len(flips)))
    return np.concatenate(batches)


# The training augmentation's flips name the test-time ones: `build_augmentation(flip=True)` flips left-right
# only ("the sky is up", lesson 04), so the default TTA averages the image and its horizontal flip.
_FLIP_MODES: dict[object, tuple[str, ...]] = {
    True: ("none", "horizontal"), "horizontal": ("none", "horizontal"), "vertical": ("none", "vertical"),
    "horizontal_and_vertical": ("none", "both")}  # Keras 3 draws one coin per image for both axes
TTA_FLIPS: tuple[str, ...] = _FLIP_MODES[True]


def augmentation_flips(augmentation=None) -> tuple[str, ...]:
    """The names in FLIPS of the flips a training augmentation applies, "none" first: TTA predicts those.

    augmentation: a `marslab.augment.Augmentation` (its `strengths["flip"]`: True or "horizontal",
    "vertical", "horizontal_and_vertical"), or None for the course default, `TTA_FLIPS` (horizontal).
    An augmentation without flips gives ("none",): no flip was learned, so none is averaged.
    """
    if augmentation is None:
        return TTA_FLIPS
    strengths = getattr(augmentation, "strengths", None)
    if not isinstance(strengths, dict):
        raise invalid("augmentation", "be a marslab.augment.Augmentation (build_augmentation) or None",
                      type(augmentation).__name__, TypeError)
    mode = strengths.get("flip")
    if not mode:
        return ("none",)
    if mode not in _FLIP_MODES:
        raise invalid("the augmentation's flip", f"be one of {list(_FLIP_MODES)}", repr(mode))
    return _FLIP_MODES[mode]


def predict_tta(model, images: np.ndarray, batch_size: int = 64, augmentation=None,
                flips: Sequence[str] | None = None, progress: bool = True) -> np.ndarray:
    """Probabilities (N,64,128,C) averaged over the image and the flips the training augmentation used.

    By default those of `augmentation_flips(augmentation)`: with no augmentation given, the course's
    horizontal flip, so TTA shows the network only scenes of the kind it was trained on (a vertical flip
    puts the sky at the bottom, lesson 04). flips: names from FLIPS, to measure others (e.g. vertical).
    """
    chosen = augmentation_flips(augmentation) if flips is None else tuple(flips)
    return predict_probs(model, images, batch_size, flips=chosen, progress=progress)


def to_labels(probs: np.ndarray) -> np.ndarray:
    """Label maps (N,64,128) uint8: the most probable class of every pixel."""
    return np.argmax(probs, axis=-1).astype(np.uint8)


def foreground_labels(probs: np.ndarray) -> np.ndarray:
    """Label maps (N,64,128) uint8 from classes 1..C-1 only: the most probable non-Background class.

    Under the competition's reading of the metric (`marslab.submission.READINGS`, lesson 10), pixels whose
    TRUE label is Background are not scored, so Background never earns a point: on a true Soil/Bedrock/
    Sand/Big Rock pixel it costs one false negative. A wrong foreground class costs that false negative
    plus a false positive, so this gains where the best foreground guess is right and loses where it is
    wrong; measure it on validation data (lesson 10).
    """
    return (np.argmax(np.asarray(probs)[..., 1:], axis=-1) + 1).astype(np.uint8)


def weighted_labels(probs: np.ndarray, class_weights: Sequence[float]) -> np.ndarray:
    """Label maps (N,64,128) uint8: argmax over classes of `class_weights[c] * probs[..., c]`.

    Weighting a class's probability moves the decision boundary after training: a weight above 1 makes
    the class win more pixels (more recall, less precision). A weight of 0 never predicts the class, so
    weights (0, 1, 1, 1, 1) give `foreground_labels`. A class-weighted loss does the same thing inside
    training (its optimum is probabilities tilted by the weights), where large weights also make the
    gradients noisy; here the weights can be tuned on validation data instead (`tune_class_weights`).
    """
    probs = check_probs(probs, image_shape=None)
    weights = check_class_weights(class_weights, probs.shape[-1]).astype(np.float32)
    return np.argmax(probs * weights, axis=-1).astype(np.uint8)


def tune_class_weights(probs: np.ndarray, masks: np.ndarray, grid: Sequence[float] = (0.25, 0.35, 0.5, 0.7, 1.0,
                       1.4, 2.0, 2.8, 4.0), rounds: int = 3, background: bool = False) -> np.ndarray:
    """Class weights for `weighted_labels` that maximise the competition metric on (probs, masks).

    Coordinate ascent: for each class 1..C-1 in turn, try its current weight times every factor in
    `grid` and keep the best; repeat `rounds` times (stops early once nothing changes). The Background
    weight stays 0 (`background=False`: never predict Background, see `foreground_labels`) or 1.
    Tune on VALIDATION probabilities, then apply the weights to the test set: tuned on the data it is
    scored on, the metric is optimistic. Returns the weights (C,) float32, scaled so the largest is 1.
    """
    probs = check_probs(probs, image_shape=None)
    masks = check_labels(masks, image_shape=None, count=len(probs), num_classes=probs.shape[-1])
    if masks.shape != probs.shape[:3]:
        raise invalid("masks", f"have the shape of probs without its class axis, {probs.shape[:3]} (the same N, "
                      "H and W)", masks.shape)
    if not grid or min(grid) <= 0 or rounds < 1:
        raise ValueError(f"grid must hold positive factors and rounds >= 1, got grid={list(grid)}, rounds={rounds}")
    weights = np.ones(probs.shape[-1], dtype=np.float32)
    weights[0] = 1.0 if background else 0.0
    best = mean_iou(masks, weighted_labels(probs, weights))
    for _ in range(rounds):
        changed = False
        for c in range(1, probs.shape[-1]):
            start = weights  # every factor scales the weight this class had before its turn
            for factor in grid:
                if factor == 1.0:
                    continue  # that is `start` itself, already scored
                trial = start.copy()
                trial[c] *= factor
                score = mean_iou(masks, weighted_labels(probs, trial))
                if score > best + 1e-6:
                    best, weights, changed = score, trial, True
        if not changed:
            break
    return weights / weights[1:].max()


def disk(radius: int) -> np.ndarray:
    """A digital disk (2r+1, 2r+1) bool: radius 1 is the 3x3 square, so openings keep rectangles whole."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return yy**2 + xx**2 <= radius**2 + radius


def cleanup_one(pred: np.ndarray, opening: int = 1, closing: int = 1, min_size: int = 16,
                classes: Sequence[int] = range(NUM_CLASSES)) -> np.ndarray:
    """Morphological cleanup of one label map (64,128) -> (64,128) uint8 (report 002).

    For every class in `classes`: pixels that an opening with a disk of radius `opening` removes, and
    connected regions (4-connectivity) smaller than `min_size` pixels, become undecided. Undecided pixels
    inside a class's closing (disk of radius `closing`) take that class (gaps filled), the rest take the
    label of the nearest decided pixel. 0 disables a step.
    """
    undecided = np.zeros(pred.shape, bool)
    for c in classes:
        region = pred == c
        if opening:
            undecided |= region & ~ndimage.binary_opening(region, disk(opening))
        if min_size > 1:
            labels, n = ndimage.label(region)
            small = np.flatnonzero(np.bincount(labels.ravel(), minlength=n + 1)[1:] < min_size) + 1
            undecided |= np.isin(labels, small)
    if not undecided.any() or undecided.all():
        return pred.astype(np.uint8)
    out = np.where(undecided, 255, pred).astype(np.uint8)
    if closing:
        for c in classes:
            closed = ndimage.binary_closing(out == c, disk(closing))
            out[closed & (out == 255)] = c
    if (out == 255).any():
        nearest = ndimage.distance_transform_edt(out == 255, return_distances=False, return_indices=True)
        out = out[tuple(nearest)]
    return out


def cleanup(preds: np.ndarray, opening: int = 1, closing: int = 1, min_size: int = 16,
            classes: Sequence[int] = range(NUM_CLASSES), progress: bool = True) -> np.ndarray:
    """`cleanup_one` on every label map of preds (N,64,128) -> (N,64,128) uint8."""
    preds = check_labels(preds, "preds", image_shape=None, allow_empty=True)
    for name, value in (("opening", opening), ("closing", closing), ("min_size", min_size)):
        check_int(value, name, 0)
    return np.stack([cleanup_one(p, opening, closing, min_size, classes)
                     for p in tqdm(preds, desc="cleaning up", disable=not progress)])


def two_stage_inputs(images: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Input of the second (refinement) model: the image and the first model's background probability
    as two channels, (N,64,128) uint8 or (N,64,128,1) floats + (N,64,128,C) -> (N,64,128,2) float32 (report 002)."""
    images = to_model_input(images)
    probs = check_probs(probs, count=len(images)).astype(np.float32, copy=False)
    return np.concatenate([images[..., :1], probs[..., :1]], axis=-1)


def predict_two_stage(first, second, images: np.ndarray, batch_size: int = 64, flips: Sequence[str] = ("none",),
                      progress: bool = True) -> np.ndarray:
    """Probabilities (N,64,128,C) of the second model, fed the images and the first model's background
    probability (both predicted with the same flips)."""
    first_probs = predict_probs(first, images, batch_size, flips, progress)
    return predict_probs(second, two_stage_inputs(images, first_probs), batch_size, flips, progress)


def merge_background(probs: np.ndarray, background_probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Label maps (N,64,128) uint8 from a multi-class model and a binary background model (report 000 §4.6).

    A pixel is Background where background_probs >= threshold, otherwise the most probable of the
    classes 1..C-1 of `probs`. background_probs: (N,64,128) or (N,64,128,1) sigmoid outputs.
    threshold > 1 never predicts Background.
    """
    probs = check_probs(probs, image_shape=None)
    background_probs = np.asarray(background_probs)
    if background_probs.ndim == 4 and background_probs.shape[-1] == 1:
        background_probs = background_probs[..., 0]
    if background_probs.shape != probs.shape[:3]:
        raise invalid("background_probs", f"have shape {probs.shape[:3]} or {(*probs.shape[:3], 1)} (one per "
                      "pixel of probs)", np.shape(background_probs))
    return np.where(background_probs >= threshold, 0, foreground_labels(probs)).astype(np.uint8)
