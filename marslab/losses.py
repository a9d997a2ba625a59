"""Segmentation losses for softmax outputs, all class-weighted, Keras-serializable, `keras.ops` only.

Every loss takes y_true as integer labels (B, H, W) or (B, H, W, 1), or the packed targets of
`boundary_targets` (B, H, W, 1 + C) = labels then one signed distance map per class, and y_pred as
softmax probabilities (B, H, W, C). `class_weights` (length C, default all 1) multiplies each class's
term; a zero weight removes that class's term. Names follow report 000 Table 2: i runs over the N
pixels of the batch, c over the classes, y one-hot truth, p probabilities, w class weights.

| name     | per-pixel or region | formula                                                         |
|----------|---------------------|-----------------------------------------------------------------|
| bce      | pixel  | -1/N sum_i sum_c w_c [y log p + (1 - y) log(1 - p)]  (one-vs-all)            |
| cce      | pixel  | -1/N sum_i sum_c w_c y log p                                                 |
| focal    | pixel  | -1/N sum_i sum_c w_c alpha_c (1 - p)^gamma y log p                           |
| boundary | pixel  | 1/N sum_i sum_c w_c phi_c p   (phi: signed distance to class c's boundary)   |
| dice, jaccard, tversky | region | 1 - score from soft counts TP, FP, FN summed over the batch   |

Region losses: TP_c = sum_i y p, FP_c = sum_i (1 - y) p, FN_c = sum_i y (1 - p); Tversky score
(TP + s) / (TP + alpha FP + beta FN + s); Dice is alpha = beta = 1/2, Jaccard (soft IoU) alpha = beta = 1.
per_class=True (default) scores each class and takes the w-weighted mean of 1 - score_c;
per_class=False pools the w-weighted counts of all classes first: report 000's Dice (Table 2), which
for softmax outputs is just 1 - mean probability of the true class.

Keras' own losses and where they fit: `CategoricalCE` and `Focal` call Keras' categorical
cross-entropy / focal functions. keras.losses.Dice and keras.losses.Tversky pool all classes (our
per_class=False, smooth=0) and take no class weights; keras.losses.Tversky's `alpha` multiplies
sum y (1 - p), the false negatives (our `beta`), although its docstring says false positives.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import keras
import numpy as np
from keras import ops
from scipy import ndimage

from marslab import NUM_CLASSES
from marslab.validation import check_class_weights, check_labels

register = keras.saving.register_keras_serializable(package="marslab")


def split_targets(y_true, num_classes: int):
    """y_true (B,H,W) | (B,H,W,1) | (B,H,W,1+C) -> (one-hot (B,H,W,C) float, distance maps (B,H,W,C) or None,
    and a scalar that is NaN if some label is not an integer 0..C-1, else 0: add it to the loss, so that a
    bad label inside a compiled train step shows as a NaN loss instead of counting as no class at all)."""
    y_true = ops.convert_to_tensor(y_true)
    maps = None
    if len(y_true.shape) == 4:
        if y_true.shape[-1] == 1 + num_classes:
            maps = ops.cast(y_true[..., 1:], "float32")
        elif y_true.shape[-1] != 1:
            raise ValueError(f"y_true must be labels (B,H,W) or (B,H,W,1), or packed (B,H,W,{1 + num_classes}) "
                             f"from boundary_targets; got shape {tuple(y_true.shape)}")
        y_true = y_true[..., 0]
    elif len(y_true.shape) != 3:
        raise ValueError(f"y_true must have rank 3 or 4, got shape {tuple(y_true.shape)}")
    values = ops.cast(y_true, "float32")
    valid = (values >= 0) & (values < num_classes) & (values == ops.floor(values))
    poison = ops.where(ops.all(valid), 0.0, float("nan"))
    labels = ops.where(valid, ops.cast(values, "int32"), 0)
    return ops.one_hot(labels, num_classes, dtype="float32"), maps, poison


class SegmentationLoss(keras.losses.Loss):
    """Base: checks shapes, turns y_true into one-hot (+ maps), holds num_classes and class_weights."""

    needs_distance_maps = False

    def __init__(self, class_weights: Sequence[float] | None = None, num_classes: int = NUM_CLASSES,
                 name: str | None = None, reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_classes = int(num_classes)
        if class_weights is not None:
            class_weights = check_class_weights(np.ravel(class_weights), self.num_classes).tolist()
        self.class_weights = class_weights

    @property
    def class_weight_vector(self):
        """Class weights as a tensor (C,)."""
        return ops.convert_to_tensor(self.class_weights or [1.0] * self.num_classes, dtype="float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        if isinstance(y_true, (np.ndarray, list)):  # eager NumPy labels: a bad one is an error right here
            labels = np.asarray(y_true)
            labels = labels[..., 0] if labels.ndim == 4 else labels
            bad = ~np.isfinite(labels.astype(np.float64)) | (labels < 0) | (labels >= self.num_classes) \
                | (labels != np.floor(labels))
            if bad.any():
                raise ValueError(f"y_true must hold labels 0..{self.num_classes - 1} (integers), found values "
                                 f"{np.unique(labels[bad])[:5]}")
        return super().__call__(y_true, y_pred, sample_weight)

    def call(self, y_true, y_pred):
        if y_pred.shape[-1] != self.num_classes:
            raise ValueError(f"y_pred must be softmax probabilities (B,H,W,{self.num_classes}), "
                             f"got shape {tuple(y_pred.shape)}")
        onehot, maps, poison = split_targets(y_true, self.num_classes)
        return self.compute(onehot, ops.cast(y_pred, "float32"), maps) + poison

    def compute(self, onehot, probs, maps):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {**super().get_config(), "class_weights": self.class_weights, "num_classes": self.num_classes}


@register
class OneVsAllBCE(SegmentationLoss):
    """Binary cross-entropy of every class channel against its one-hot column, summed over classes (per pixel)."""

    def compute(self, onehot, probs, maps):
        return ops.sum(ops.binary_crossentropy(onehot, probs) * self.class_weight_vector, axis=-1)


@register
class CategoricalCE(SegmentationLoss):
    """Class-weighted categorical cross-entropy (per pixel): w_label * -log p_label (Keras' own CCE)."""

    def compute(self, onehot, probs, maps):
        return ops.categorical_crossentropy(onehot * self.class_weight_vector, probs)


@register
class Focal(SegmentationLoss):
    """Focal loss, Lin et al. 2017 (per pixel), via keras.losses.categorical_focal_crossentropy.

    alpha: a number or one per class, multiplied with class_weights (report 000 uses alpha_c = the
    class weights, i.e. alpha=1 and class_weights=...). gamma=0 gives the weighted CCE.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | Sequence[float] = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.gamma = float(gamma)
        self.alpha = [float(a) for a in alpha] if np.ndim(alpha) else float(alpha)

    def compute(self, onehot, probs, maps):
        alpha = ops.convert_to_tensor(self.alpha, dtype="float32") * self.class_weight_vector
        return keras.losses.categorical_focal_crossentropy(onehot, probs, alpha=alpha, gamma=self.gamma)

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


@register
class SoftTversky(SegmentationLoss):
    """Tversky loss, Salehi et al. 2017 (region): alpha weighs false positives, beta false negatives.

    per_class: score each class and average 1 - score_c with the class weights (True), or pool the
    weighted counts of all classes first (False). smooth: added to numerator and denominator, so a
    class absent from truth and prediction scores 1. Counts are summed over the whole batch.
    """

    smooth_scale = 1.0   # the index gets smooth_scale * smooth (Dice: 1/2, so its familiar form keeps s)

    def __init__(self, alpha: float = 0.3, beta: float = 0.7, per_class: bool = True, smooth: float = 1.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.beta = float(alpha), float(beta)
        self.per_class, self.smooth = bool(per_class), float(smooth)

    def compute(self, onehot, probs, maps):
        axes = tuple(range(len(probs.shape) - 1))
        tp = ops.sum(onehot * probs, axis=axes)
        fp = ops.sum((1.0 - onehot) * probs, axis=axes)
        fn = ops.sum(onehot * (1.0 - probs), axis=axes)
        w = self.class_weight_vector
        if not self.per_class:
            tp, fp, fn = ops.sum(w * tp), ops.sum(w * fp), ops.sum(w * fn)
        s = self.smooth_scale * self.smooth
        score = (tp + s) / (tp + self.alpha * fp + self.beta * fn + s)
        if not self.per_class:
            return 1.0 - score
        return ops.sum(w * (1.0 - score)) / ops.sum(w)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta,
                "per_class": self.per_class, "smooth": self.smooth}


@register
class SoftDice(SoftTversky):
    """Soft Dice loss (region): Tversky with alpha = beta = 1/2, i.e. 1 - (2 TP + s) / (2 TP + FP + FN + s)."""

    smooth_scale = 0.5

    def __init__(self, per_class: bool = True, smooth: float = 1.0, **kwargs):
        kwargs.pop("alpha", None), kwargs.pop("beta", None)
        super().__init__(alpha=0.5, beta=0.5, per_class=per_class, smooth=smooth, **kwargs)


@register
class SoftJaccard(SoftTversky):
    """Soft Jaccard / IoU loss (region): Tversky with alpha = beta = 1, i.e. 1 - (TP + s) / (TP + FP + FN + s)."""

    def __init__(self, per_class: bool = True, smooth: float = 1.0, **kwargs):
        kwargs.pop("alpha", None), kwargs.pop("beta", None)
        super().__init__(alpha=1.0, beta=1.0, per_class=per_class, smooth=smooth, **kwargs)


@register
class Boundary(SegmentationLoss):
    """Boundary loss, Kervadec et al. 2019 (per pixel): sum_c w_c phi_c p_c, phi from `boundary_targets`.

    y_true must be the packed (B,H,W,1+C) targets; phi_c < 0 inside class c, > 0 outside, all zero
    for a class absent from the image (no term). Its minimum is negative; it is meant to be combined
    with a region or cross-entropy loss (Kervadec et al. pair it with Dice), e.g. {"cce": 1, "boundary": 0.01}.
    """

    needs_distance_maps = True

    def compute(self, onehot, probs, maps):
        if maps is None:
            raise ValueError("Boundary loss needs y_true packed with distance maps (B,H,W,1+C): "
                             "build it with marslab.losses.boundary_targets(masks)")
        return ops.sum(maps * probs * self.class_weight_vector, axis=-1)


@register
class Combined(SegmentationLoss):
    """Weighted sum of losses: Combined({"cce": 1.0, "dice": 1.0}, class_weights=w).

    losses: {name: weight} (names from LOSSES, built with class_weights) or a list of Loss objects with
    `weights` beside it. Each part is reduced to a number first, then the numbers are added.
    """

    def __init__(self, losses: Mapping[str, float] | Sequence[keras.losses.Loss],
                 loss_weights: Sequence[float] | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(losses, Mapping):
            loss_weights = list(losses.values())
            losses = [get_loss(n, class_weights=self.class_weights, num_classes=self.num_classes) for n in losses]
        self.parts = [keras.saving.deserialize_keras_object(p) if isinstance(p, dict) else p for p in losses]
        self.loss_weights = [float(w) for w in (loss_weights or [1.0] * len(self.parts))]
        if len(self.loss_weights) != len(self.parts) or not self.parts:
            raise ValueError(f"need one weight per loss, got {len(self.parts)} losses and weights {loss_weights}")
        self.needs_distance_maps = any(getattr(p, "needs_distance_maps", False) for p in self.parts)

    def call(self, y_true, y_pred):
        return sum(w * p(y_true, y_pred) for w, p in zip(self.loss_weights, self.parts))

    def get_config(self) -> dict:
        return {**super().get_config(), "loss_weights": self.loss_weights,
                "losses": [keras.saving.serialize_keras_object(p) for p in self.parts]}


LOSSES: dict[str, type[SegmentationLoss]] = {
    "bce": OneVsAllBCE, "cce": CategoricalCE, "focal": Focal, "dice": SoftDice,
    "jaccard": SoftJaccard, "tversky": SoftTversky, "boundary": Boundary,
}


def get_loss(name: str | Mapping[str, float], class_weights: Sequence[float] | None = None,
             **kwargs) -> SegmentationLoss:
    """A loss by name: "dice", a sum "cce+dice", or {"cce": 1.0, "boundary": 0.01}; kwargs go to the class."""
    if isinstance(name, Mapping) or "+" in name:
        parts = name if isinstance(name, Mapping) else {n.strip(): 1.0 for n in name.split("+")}
        return Combined(dict(parts), class_weights=class_weights, name="_".join(parts), **kwargs)
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; known: {sorted(LOSSES)} (or 'a+b', or a dict of weights)")
    return LOSSES[name](class_weights=class_weights, name=name, **kwargs)


def signed_distance_maps(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Signed distance to each class's boundary (N,H,W) labels -> (N,H,W,C) float32, in pixels.

    Kervadec et al.'s convention: outside class c, the distance to the nearest class-c pixel (>= 1);
    inside, minus (distance to the nearest other pixel - 1) (<= 0). All zero where class c is absent
    from the image or fills it.
    """
    masks = check_labels(masks, image_shape=None, num_classes=num_classes, allow_empty=True)
    maps = np.zeros(masks.shape + (num_classes,), dtype=np.float32)
    for n, mask in enumerate(masks):
        for c in range(num_classes):
            inside = mask == c
            if inside.any() and not inside.all():
                maps[n, ..., c] = (ndimage.distance_transform_edt(~inside) * ~inside
                                   - (ndimage.distance_transform_edt(inside) - 1) * inside)
    return maps


def boundary_targets(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Targets for any loss here incl. Boundary: (N,H,W) labels -> (N,H,W,1+C) float32 = labels, maps.

    Compute once before training and pass as `y` to `fit` (NumPy arrays, or a dataset sliced from them);
    every loss in this module and `marslab.metrics.CompetitionMeanIoU` read channel 0 as the labels.
    """
    maps = signed_distance_maps(masks, num_classes)
    return np.concatenate([np.asarray(masks, np.float32)[..., None], maps], axis=-1)


# Report 003's margin loss lives in its own module; importing it registers "margin" in LOSSES.
import marslab.margin_loss  # noqa: E402,F401
