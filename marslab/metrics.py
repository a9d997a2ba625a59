"""The competition metric and its parts: NumPy functions on label maps, and a Keras metric for `fit`.

Competition metric: for each class 1-4, IoU accumulated over the whole evaluated set on the pixels
whose TRUE label is not Background, then averaged over the classes present in truth or prediction.
Predictions on true-background pixels cost nothing.

Two look-alikes that are NOT it (see `iou_variants` for a toy example):
- all-pixels variant (`all_pixels=True`, = `keras.metrics.IoU(num_classes=5, target_class_ids=[1,2,3,4])`):
  keeps the true-background pixels, so predicting Soil on sky lowers Soil's IoU;
- `keras.metrics.MeanIoU(num_classes=5, ignore_class=0)`: drops those pixels but still averages a
  class-0 term (IoU of pixels *predicted* background among non-background truth, i.e. 0).
"""
from __future__ import annotations

import warnings
from typing import Literal

import keras
import numpy as np
from keras import ops

from marslab import CLASS_NAMES, NUM_CLASSES
from marslab.validation import check_labels, invalid

Normalize = Literal["true", "pred", "all"] | None


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES,
                     normalize: Normalize = None) -> np.ndarray:
    """Confusion matrix (num_classes, num_classes): row = true class, column = predicted class.

    y_true, y_pred: integer label maps of equal shape, e.g. (N, 64, 128). normalize: None gives counts
    (int64); "true" divides each row by its total (recall on the diagonal), "pred" each column
    (precision on the diagonal), "all" by the number of pixels. Empty rows/columns stay 0.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    y_true = check_labels(y_true, "y_true", num_classes=num_classes, any_shape=True)
    y_pred = check_labels(y_pred, "y_pred", num_classes=num_classes, any_shape=True)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    flat = y_true.astype(np.int64).ravel() * num_classes + y_pred.astype(np.int64).ravel()
    cm = np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    return normalize_confusion(cm, normalize) if normalize else cm


def normalize_confusion(cm: np.ndarray, normalize: Normalize = "true") -> np.ndarray:
    """Counts (C, C) -> fractions by row ("true"), column ("pred") or overall ("all"); 0 where empty."""
    axes = {"true": 1, "pred": 0, "all": None}
    if normalize not in axes:
        raise ValueError(f"normalize must be one of {list(axes)}, got {normalize!r}")
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=axes[normalize], keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, cm / totals, 0.0)


def iou_from_confusion(cm: np.ndarray, ignore_true_background: bool = True) -> np.ndarray:
    """Per-class IoU (C,) from a confusion matrix (C, C); NaN for a class absent from truth and prediction.

    ignore_true_background: drop the pixels whose true label is 0 (row 0) first, as the competition does.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"a confusion matrix must be square (C, C), got shape {cm.shape}")
    if ignore_true_background:
        cm = cm.copy()
        cm[0, :] = 0
    intersection = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def per_class_iou(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES,
                  all_pixels: bool = False) -> np.ndarray:
    """IoU of every class (num_classes,) from label maps; entry 0 is NaN unless all_pixels; NaN where undefined."""
    iou = iou_from_confusion(confusion_matrix(y_true, y_pred, num_classes), ignore_true_background=not all_pixels)
    if not all_pixels:
        iou[0] = np.nan
    return iou


def mean_iou(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES,
             all_pixels: bool = False) -> float:
    """The competition metric: mean IoU over classes 1..num_classes-1 (classes absent from both skipped).

    y_true, y_pred: integer label maps of equal shape, e.g. (N, 64, 128); argmax probabilities first.
    all_pixels=True keeps the pixels whose true label is Background (the variant that
    keras.metrics.IoU(num_classes=5, target_class_ids=[1, 2, 3, 4]) computes).
    """
    iou = per_class_iou(y_true, y_pred, num_classes, all_pixels=all_pixels)[1:]
    if np.all(np.isnan(iou)):
        raise ValueError(f"no class 1..{num_classes - 1} occurs in y_true or y_pred: the metric is undefined")
    return float(np.nanmean(iou))


def per_image_scores(true_masks: np.ndarray, preds: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """The competition metric of every image on its own: (N,64,128) x2 -> (N,) float, NaN where an image
    has no class 1..C-1 in truth or prediction. Sort it to find the worst images."""
    true_masks = check_labels(true_masks, "true_masks", image_shape=None, num_classes=num_classes)
    preds = check_labels(preds, "preds", image_shape=None, count=len(true_masks), num_classes=num_classes)
    if true_masks.shape != preds.shape:
        raise invalid("preds", f"have the shape of true_masks, {true_masks.shape}", preds.shape)
    n = len(true_masks)
    keep = true_masks.reshape(n, -1) > 0  # the metric ignores true-Background pixels
    t, p = true_masks.reshape(n, -1).astype(np.int64), preds.reshape(n, -1).astype(np.int64)
    iou = np.full((n, num_classes - 1), np.nan)
    for c in range(1, num_classes):
        inter = ((t == c) & (p == c) & keep).sum(1)
        union = (((t == c) | (p == c)) & keep).sum(1)
        iou[:, c - 1] = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: images with nothing to score
        return np.nanmean(iou, axis=1)


def plot_confusion_matrix(cm: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES,
                          normalize: Normalize = "true", ax=None):
    """Heatmap of a confusion matrix of counts (C, C), normalised as in `normalize_confusion`; returns the Axes."""
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

    values = normalize_confusion(cm, normalize) if normalize else np.asarray(cm)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.2))
    image = ax.imshow(values, cmap="Blues", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix ({'normalised by ' + normalize if normalize else 'counts'})")
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.2f}" if normalize else f"{int(v)}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if v > 0.6 * values.max() else "black")
    return ax


def iou_variants(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES) -> dict[str, float]:
    """The competition metric next to its two look-alikes, on the same label maps (any equal shapes)."""
    all_pixels = keras.metrics.IoU(num_classes=num_classes, target_class_ids=list(range(1, num_classes)))
    ignore_bg = keras.metrics.MeanIoU(num_classes=num_classes, ignore_class=0)
    for metric in (all_pixels, ignore_bg):
        metric.update_state(np.ravel(y_true), np.ravel(y_pred))
    return {
        "competition (marslab.metrics.mean_iou)": mean_iou(y_true, y_pred, num_classes),
        "all pixels (mean_iou(all_pixels=True))": mean_iou(y_true, y_pred, num_classes, all_pixels=True),
        "keras.metrics.IoU(target_class_ids=[1..4])": float(all_pixels.result()),
        "keras.metrics.MeanIoU(ignore_class=0)": float(ignore_bg.result()),
    }


def toy_example() -> tuple[np.ndarray, np.ndarray]:
    """A 2x4 label map and a prediction on which the three IoU variants all differ: (y_true, y_pred)."""
    y_true = np.array([[0, 0, 1, 1],
                       [2, 2, 3, 3]])
    y_pred = np.array([[1, 3, 1, 1],   # background predicted as Soil and Sand: free in the competition
                       [2, 0, 3, 2]])  # one Bedrock missed (predicted background), one Sand called Bedrock
    return y_true, y_pred


def _check_label_values(y_true: np.ndarray, pred_ndim: int, num_classes: int) -> None:
    """Raise unless y_true (labels, or packed targets whose channel 0 holds them) holds integers 0..C-1."""
    labels = y_true[..., 0] if y_true.ndim == pred_ndim else y_true
    values = labels.astype(np.float64, copy=False)
    bad = ~np.isfinite(values) | (values < 0) | (values >= num_classes) | (values != np.floor(values))
    if bad.any():
        raise invalid("y_true", f"hold labels 0..{num_classes - 1} (integers)", f"values {np.unique(labels[bad])[:5]}")


@keras.saving.register_keras_serializable(package="marslab")
class CompetitionMeanIoU(keras.metrics.Metric):
    """The competition metric as a Keras metric: accumulates the confusion matrix over an epoch.

    update_state(y_true, y_pred): y_true integer labels (B, H, W) or (B, H, W, 1) (or the packed
    labels + distance maps of `marslab.losses.boundary_targets`, channel 0 = labels); y_pred softmax
    probabilities (B, H, W, num_classes), argmaxed here. result() equals `mean_iou` on all pixels seen
    since the last reset (0.0 while no class 1.. has occurred). sample_weight is not supported. A label
    that is not an integer 0..C-1 raises at once for NumPy input and makes result() NaN inside fit.
    Counts are kept in `dtype` (float32 by default: exact up to 2**24 pixels per cell, and after that
    off by at most a few pixels in tens of millions).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, all_pixels: bool = False,
                 name: str = "mean_iou", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = int(num_classes)
        self.all_pixels = bool(all_pixels)
        self.total_cm = self.add_variable(shape=(self.num_classes, self.num_classes),
                                          initializer="zeros", dtype=self.dtype, name="total_cm")
        self.invalid_labels = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype,
                                                name="invalid_labels")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("CompetitionMeanIoU does not support sample_weight; got one")
        if isinstance(y_true, (np.ndarray, list)):  # eager NumPy input: a bad label is an error right here
            _check_label_values(np.asarray(y_true), np.ndim(y_pred), self.num_classes)
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):   # (B, H, W, 1) or packed labels + maps
            y_true = y_true[..., 0]
        values = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        # Inside fit the labels are symbolic: a label that is not an integer 0..C-1 cannot raise there, so it
        # is counted, and result() turns NaN instead of scoring the pixel as some class.
        valid = (values >= 0) & (values < self.num_classes) & (values == ops.floor(values))
        self.invalid_labels.assign_add(ops.sum(ops.cast(ops.logical_not(valid), self.dtype)))
        labels = ops.where(valid, ops.cast(values, "int32"), 0)
        preds = ops.reshape(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), (-1,))
        # segment_sum rather than bincount: a fixed number of bins works on every backend (JAX included).
        flat = labels * self.num_classes + preds
        counts = ops.segment_sum(ops.cast(valid, self.dtype), flat, num_segments=self.num_classes ** 2)
        self.total_cm.assign_add(ops.cast(ops.reshape(counts, (self.num_classes, self.num_classes)), self.dtype))

    def result(self):
        cm = self.total_cm
        if not self.all_pixels:
            keep_rows = ops.cast(ops.arange(self.num_classes) > 0, self.dtype)[:, None]
            cm = cm * keep_rows
        intersection = ops.diagonal(cm)
        union = ops.sum(cm, axis=0) + ops.sum(cm, axis=1) - intersection
        present = ops.cast(union > 0, self.dtype)[1:]
        iou = ops.divide_no_nan(intersection, union)[1:]
        score = ops.divide_no_nan(ops.sum(iou * present), ops.sum(present))
        return ops.where(self.invalid_labels > 0, ops.cast(float("nan"), self.dtype), score)

    def reset_state(self):
        self.total_cm.assign(ops.zeros(self.total_cm.shape, dtype=self.dtype))
        self.invalid_labels.assign(ops.zeros((), dtype=self.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "all_pixels": self.all_pixels}
