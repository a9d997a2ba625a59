"""The competition metric and its parts, on integer label maps (NumPy).

Competition metric: for each class 1-4, IoU accumulated over the whole evaluated set on the pixels
whose TRUE label is not Background, then averaged over the classes present in truth or prediction.
"""
from __future__ import annotations

import numpy as np

from marslab import NUM_CLASSES


def _check_labels(name: str, labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels (argmax the probabilities first), got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} must hold labels 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    return labels


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts (num_classes, num_classes): row = true class, column = predicted class. Any equal shapes."""
    y_true = _check_labels("y_true", y_true, num_classes)
    y_pred = _check_labels("y_pred", y_pred, num_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}")
    flat = y_true.astype(np.int64).ravel() * num_classes + y_pred.astype(np.int64).ravel()
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_from_confusion(cm: np.ndarray, ignore_true_background: bool = True) -> np.ndarray:
    """Per-class IoU from a confusion matrix; NaN for a class absent from truth and prediction.

    ignore_true_background: drop the pixels whose true label is 0 (row 0) first, as the competition does.
    """
    cm = np.asarray(cm, dtype=np.float64)
    if ignore_true_background:
        cm = cm.copy()
        cm[0, :] = 0
    intersection = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def per_class_iou(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES,
                  all_pixels: bool = False) -> np.ndarray:
    """IoU of every class (length num_classes; entry 0 is NaN unless all_pixels), NaN where undefined."""
    iou = iou_from_confusion(confusion_matrix(y_true, y_pred, num_classes), ignore_true_background=not all_pixels)
    if not all_pixels:
        iou[0] = np.nan
    return iou


def mean_iou(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = NUM_CLASSES,
             all_pixels: bool = False) -> float:
    """The competition metric: mean IoU over classes 1..num_classes-1 (classes absent from both skipped).

    all_pixels=True keeps the pixels whose true label is Background (the variant that
    keras.metrics.IoU(num_classes=5, target_class_ids=[1, 2, 3, 4]) computes).
    """
    iou = per_class_iou(y_true, y_pred, num_classes, all_pixels=all_pixels)[1:]
    if np.all(np.isnan(iou)):
        raise ValueError("no class 1..%d occurs in y_true or y_pred: the metric is undefined" % (num_classes - 1))
    return float(np.nanmean(iou))
