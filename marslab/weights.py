"""Class weights for an imbalanced segmentation set, and oversampling of rare-class images.

Every scheme takes integer masks (N, H, W) or numbers derived from them and returns one weight per
class, a NumPy array of length num_classes. A class with no pixels has no defined weight: the
functions raise a ValueError naming it instead of returning an infinity.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from marslab import BIG_ROCK, CLASS_NAMES, NUM_CLASSES
from marslab.validation import check_int, check_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _class_name(c: int, num_classes: int) -> str:
    return f"class {c} ({CLASS_NAMES[c]})" if num_classes == NUM_CLASSES else f"class {c}"


def _check_positive(name: str, values: np.ndarray) -> np.ndarray:
    """A 1-D float array with every entry finite and > 0 (a zero means a class with no pixels)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (one entry per class), got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {values}")
    zero = np.flatnonzero(values == 0)
    if zero.size:
        names = ", ".join(_class_name(int(c), values.size) for c in zero)
        raise ValueError(f"{names} has no pixels, so its weight would be infinite; "
                         "drop the class or merge it before weighting")
    return values


def class_counts(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Pixel count of each class over all masks (N, H, W): int64 array (num_classes,)."""
    masks = check_labels(masks, image_shape=None, num_classes=num_classes)
    return np.bincount(masks.ravel(), minlength=num_classes).astype(np.int64)


def class_frequencies(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Fraction of all pixels that belong to each class: float array (num_classes,), summing to 1."""
    counts = class_counts(masks, num_classes)
    return counts / counts.sum()


def class_presence(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(N, num_classes) bool: does mask i contain class c? masks (N, H, W) integer labels 0..num_classes-1.
    `class_presence(masks)[:, c]` picks the images that show class c."""
    masks = check_labels(masks, image_shape=None, num_classes=num_classes)
    flat = masks.reshape(len(masks), -1).astype(np.int64) + num_classes * np.arange(len(masks))[:, None]
    counts = np.bincount(flat.ravel(), minlength=num_classes * len(masks))
    return counts.reshape(len(masks), num_classes) > 0


def inverse_frequency(freqs: np.ndarray) -> np.ndarray:
    """Inverse-frequency weights 1 / (C f_c) for class fractions `freqs` (C,) that sum to 1.

    The pixel-weighted mean of these weights is 1 (report 000, Table 4, first row).
    """
    freqs = _check_positive("freqs", freqs)
    if not np.isclose(freqs.sum(), 1.0, atol=1e-3):
        raise ValueError(f"freqs must be class fractions summing to 1, got sum {freqs.sum():.4f} "
                         "(pass class_frequencies(masks), not pixel counts)")
    return 1.0 / (freqs.size * freqs)


def zero_background(class_weights: np.ndarray, background: int = 0) -> np.ndarray:
    """Set the `background` class weight to 0 and rescale the others to sum to 1: (C,) -> (C,).

    For a metric that ignores true-Background pixels (report 000 did this to its Table 4 weights).
    """
    w = np.array(class_weights, dtype=np.float64)
    if w.ndim != 1 or not 0 <= background < w.size:
        raise ValueError(f"class_weights must be 1-D with an entry for class {background}, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"class_weights must be finite and non-negative, got {w}")
    w[background] = 0.0
    if w.sum() == 0:
        raise ValueError("every class weight except the background one is 0: nothing left to renormalise")
    return w / w.sum()


def median_frequency(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus 2015): weight_c = median(freq) / freq(c), (num_classes,).

    freq(c) is the pixel count of class c divided by the total pixel count of the images in which c
    is present (not of all images), so a class that is rare in the set but large where it occurs is
    not over-weighted. The median is over the num_classes values of freq.
    """
    masks = check_labels(masks, image_shape=None, num_classes=num_classes)
    counts = class_counts(masks, num_classes)
    _check_positive("class pixel counts", counts)
    present = class_presence(masks, num_classes)  # (N, C)
    pixels_per_image = masks.shape[1] * masks.shape[2]
    freq = counts / (present.sum(axis=0) * pixels_per_image)
    return np.median(freq) / freq


def effective_number(counts: np.ndarray, beta: float = 0.9999) -> np.ndarray:
    """Class-balanced weights (Cui et al. 2019): (1 - beta) / (1 - beta**n_c), scaled to sum to C.

    counts: samples per class (C,) -- pixel counts or image counts. beta in [0, 1): beta = 0 gives
    equal weights, beta -> 1 approaches inverse frequency; (1 - beta**n) / (1 - beta) is the
    "effective number" of samples of a class.
    """
    counts = _check_positive("counts", counts)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    w = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return w * counts.size / w.sum()


def oversample_indices(masks: np.ndarray, class_id: int = BIG_ROCK, factor: int = 4) -> np.ndarray:
    """Indices (M,) that list every image once and each image containing `class_id` `factor` times.

    Index the images and masks with them (report 000 quadrupled its Big Rock images); shuffling is
    left to the input pipeline. Sorted, so a repeated image's copies sit together.
    """
    check_int(factor, "factor", 1)
    check_int(class_id, "class_id", 0, NUM_CLASSES - 1)
    repeats = np.where(class_presence(masks)[:, class_id], factor, 1)
    return np.repeat(np.arange(len(repeats)), repeats)


def weighting_schemes(masks: np.ndarray, num_classes: int = NUM_CLASSES,
                      beta: float = 0.9999) -> dict[str, np.ndarray]:
    """Every scheme on one set of masks (N, H, W), each scaled to sum to 1 so they compare on one axis."""
    schemes = {
        "inverse frequency": inverse_frequency(class_frequencies(masks, num_classes)),
        "background zeroed": zero_background(inverse_frequency(class_frequencies(masks, num_classes))),
        "median frequency": median_frequency(masks, num_classes),
        f"effective number (beta={beta})": effective_number(class_counts(masks, num_classes), beta),
    }
    return {name: w / w.sum() for name, w in schemes.items()}


def plot_weights(schemes: dict[str, np.ndarray], class_names: tuple[str, ...] = CLASS_NAMES,
                 ax: Axes | None = None) -> Axes:
    """Grouped bar chart of weight schemes ({name: (C,) weights}) on a log axis; returns the Axes."""
    import matplotlib.pyplot as plt  # drawing only (about a second to import)

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(class_names))
    width = 0.8 / max(len(schemes), 1)
    for i, (name, w) in enumerate(schemes.items()):
        w = np.asarray(w, dtype=np.float64)
        if w.shape != (len(class_names),):
            raise ValueError(f"scheme {name!r} has shape {w.shape}, expected ({len(class_names)},)")
        ax.bar(x + (i - (len(schemes) - 1) / 2) * width, np.where(w > 0, w, np.nan), width, label=name)
    ax.set_xticks(x, class_names)
    ax.set_yscale("log")
    ax.set_ylabel("weight (each scheme sums to 1)")
    ax.legend(fontsize="small")
    return ax
