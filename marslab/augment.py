"""Joint image+mask augmentation: each transform moves image and mask together, or leaves the mask alone.

Geometric transforms (flip, rotation, shift, zoom) move the mask with the image, resampling it with the
nearest neighbour so labels are never blended; photometric ones (blur, noise, brightness, contrast)
touch the image only. They are Keras 3 preprocessing layers called on a dict
{"images": (B,64,128,1), "segmentation_masks": (B,64,128,1)} inside tf.data; keras-cv 0.9 layers take
the same dict (`library="keras_cv"`), but its rotation blends one-hot masks bilinearly and its blur,
brightness and contrast do not repeat under a seed, so Keras' own layers are the default.
Report 000 (section 4.1) found noise and blur best and its geometric transforms worse; report 002 pasted
rare-class patches; report 004 grew the set offline to 32064 images.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Mapping

import keras
import numpy as np
from scipy import ndimage

from marslab.pipeline import validate_images, validate_masks

BIG_ROCK = 4
BLUR_PROBABILITY = 0.5  # blur half the images, each batch with its own sigma up to the strength
STRENGTH_NAMES = ("flip", "rotation", "shift", "zoom", "blur", "noise", "brightness", "contrast")
PHOTOMETRIC = {"blur": 1.0, "noise": 0.02, "brightness": 0.1, "contrast": 0.1}
GEOMETRIC = {"flip": True, "rotation": 0.02, "shift": 0.05, "zoom": 0.1}
PRESETS: dict[str, dict] = {"none": {}, "photometric": PHOTOMETRIC, "geometric": GEOMETRIC,
                            "all": {**GEOMETRIC, **PHOTOMETRIC}}


@keras.saving.register_keras_serializable(package="marslab")
class RandomGaussianNoise(keras.layers.Layer):
    """Adds N(0, stddev^2) noise to "images" of a dict (or to a tensor); masks pass through untouched."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev, self.seed = float(stddev), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, data, training=True):
        images = data["images"] if isinstance(data, dict) else data
        if training:
            images = images + keras.random.normal(keras.ops.shape(images), stddev=self.stddev, seed=self.seed_generator)
        return {**data, "images": images} if isinstance(data, dict) else images

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


def _layer(name: str, strength, seed: int, library: str):
    """One augmentation layer for a named strength (see `build_augmentation`)."""
    if library == "keras_cv":
        import keras_cv as lib
    elif library == "keras":
        lib = keras
    else:
        raise ValueError(f"library must be 'keras' or 'keras_cv', got {library!r}")
    value_range = (0.0, 1.0)
    if name == "flip":
        return lib.layers.RandomFlip("horizontal" if strength is True else strength, seed=seed)
    if name == "rotation":  # fraction of a full turn: 0.02 is up to +-7 degrees
        extra = {"segmentation_classes": 5} if library == "keras_cv" else {}
        return lib.layers.RandomRotation(strength, seed=seed, **extra)
    if name == "shift":  # fraction of height and width
        return lib.layers.RandomTranslation(strength, strength, seed=seed)
    if name == "zoom":  # fraction: 0.1 zooms in or out by up to 10%
        return lib.layers.RandomZoom(strength, seed=seed)
    if name == "blur":  # the largest Gaussian sigma, in pixels
        if library == "keras_cv":
            return lib.layers.RandomGaussianBlur(2 * int(np.ceil(2 * strength)) + 1, (0.0, strength), seed=seed)
        return keras.layers.RandomGaussianBlur(BLUR_PROBABILITY, 2 * int(np.ceil(2 * strength)) + 1,
                                               (0.1, strength), value_range=value_range, seed=seed)
    if name == "noise":  # standard deviation on the [0, 1] image scale
        return RandomGaussianNoise(strength, seed=seed)
    if name == "brightness":  # shift by up to this fraction of the value range
        return lib.layers.RandomBrightness(strength, value_range=value_range, seed=seed)
    if name == "contrast":  # scale contrast by a factor in [1 - strength, 1 + strength]
        return lib.layers.RandomContrast(value_range=value_range, factor=strength, seed=seed) if library == "keras_cv" \
            else lib.layers.RandomContrast(strength, value_range=value_range, seed=seed)
    raise ValueError(f"unknown augmentation {name!r}; expected one of {STRENGTH_NAMES}")


@dataclass(eq=False)
class Augmentation:
    """A chain of augmentation layers, called on batches: (images (B,64,128,1) float32 in [0,1],
    masks (B,64,128) int) -> the same shapes, images clipped to [0,1], masks int32."""

    layers: list = field(default_factory=list)
    strengths: dict = field(default_factory=dict)

    def __call__(self, images, masks):
        import tensorflow as tf

        data = {"images": images, "segmentation_masks": tf.cast(masks, tf.float32)[..., None]}
        for layer in self.layers:
            data = layer(data, training=True)
        images = tf.clip_by_value(tf.cast(data["images"], tf.float32), 0.0, 1.0)
        return images, tf.cast(tf.round(data["segmentation_masks"][..., 0]), tf.int32)

    def __repr__(self) -> str:
        return f"Augmentation({self.strengths or 'none'})"


def build_augmentation(preset: str = "none", seed: int = 0, library: str = "keras", **strengths) -> Augmentation:
    """An `Augmentation` from a preset ("none", "photometric", "geometric", "all") and named strengths.

    Strengths (0/False switches one off; keywords override the preset): flip (True = horizontal),
    rotation (fraction of a turn), shift (fraction of the size), zoom (fraction), blur (max sigma in
    pixels), noise (std on [0,1]), brightness (fraction of the range), contrast (fraction).
    Geometric transforms run first, then blur, then noise, brightness and contrast.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {tuple(PRESETS)}")
    unknown = set(strengths) - set(STRENGTH_NAMES)
    if unknown:
        raise ValueError(f"unknown augmentation strength(s) {sorted(unknown)}; expected some of {STRENGTH_NAMES}")
    chosen = {**PRESETS[preset], **strengths}
    chosen = {name: chosen[name] for name in STRENGTH_NAMES if chosen.get(name)}
    for name, value in chosen.items():
        if name != "flip" and not (isinstance(value, (int, float)) and 0 < value):
            raise ValueError(f"strength {name}={value!r} must be a positive number (or 0 to switch it off)")
    layers = [_layer(name, value, seed + i, library) for i, (name, value) in enumerate(chosen.items())]
    return Augmentation(layers, chosen)


def augment_arrays(augmentation: Augmentation, images: np.ndarray, masks: np.ndarray,
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Run `augmentation` over uint8 images (N,64,128) and masks (N,64,128); returns uint8 arrays the same shape."""
    from marslab.pipeline import make_dataset

    out_images, out_masks = [], []
    for x, y in make_dataset(images, masks, batch_size=batch_size, augment=augmentation, cache=False):
        out_images.append(np.round(x.numpy()[..., 0] * 255).astype(np.uint8))
        out_masks.append(y.numpy().astype(np.uint8))
    return np.concatenate(out_images), np.concatenate(out_masks)


def augment_offline(images: np.ndarray, masks: np.ndarray, size: int, augmentation: Augmentation,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grow a training set to `size` pairs before training (report 004: 2615 -> 32064).

    The N originals come first, then `size - N` augmented copies of randomly chosen originals.
    Returns uint8 images (size,64,128) and masks (size,64,128), ready for `make_dataset`.
    """
    validate_images(images)
    validate_masks(masks, num_images=len(images))
    if size < len(images):
        raise ValueError(f"size must be at least the number of images ({len(images)}), got {size}")
    picks = np.random.default_rng(seed).integers(0, len(images), size - len(images))
    if len(picks) == 0:
        return images.copy(), masks.astype(np.uint8)
    new_images, new_masks = augment_arrays(augmentation, images[picks], masks[picks])
    return np.concatenate([images, new_images]), np.concatenate([masks.astype(np.uint8), new_masks])


def paste_region(image: np.ndarray, mask: np.ndarray, source_image: np.ndarray, region: np.ndarray,
                 offset: tuple[int, int] = (0, 0), class_id: int = BIG_ROCK) -> tuple[np.ndarray, np.ndarray]:
    """Paste the pixels of `source_image` where `region` is True into a copy of (image, mask), moved by
    `offset` (rows, cols); pasted pixels get label `class_id`. Pixels moved off the image are dropped.
    All arrays (64,128); region bool. Returns (image, mask)."""
    rows, cols = np.nonzero(region)
    new_rows, new_cols = rows + offset[0], cols + offset[1]
    inside = (new_rows >= 0) & (new_rows < image.shape[0]) & (new_cols >= 0) & (new_cols < image.shape[1])
    image, mask = image.copy(), mask.copy()
    image[new_rows[inside], new_cols[inside]] = source_image[rows[inside], cols[inside]]
    mask[new_rows[inside], new_cols[inside]] = class_id
    return image, mask


def _random_offset(rng: np.random.Generator, region: np.ndarray, max_shift: int) -> tuple[int, int]:
    """A (rows, cols) shift of up to `max_shift` that keeps the whole `region` on the image."""
    offset = []
    for axis, coords in enumerate(np.nonzero(region)):
        low, high = max(-max_shift, -coords.min()), min(max_shift, region.shape[axis] - 1 - coords.max())
        offset.append(int(rng.integers(low, high + 1)))
    return offset[0], offset[1]


def copy_paste(images: np.ndarray, masks: np.ndarray, n: int, class_id: int = BIG_ROCK, max_shift: int = 16,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` new pairs, each a random image with one `class_id` region (a connected blob, e.g. one Big Rock)
    cut from another image and pasted, shifted by up to `max_shift` pixels but kept whole on the image
    (report 002's patch pasting).

    images (N,64,128) uint8, masks (N,64,128) labels. Returns uint8 images (n,64,128) and masks (n,64,128);
    when no image contains `class_id` (a small or skewed subset) there is nothing to paste: it says so in a
    warning and returns no pairs, (0,64,128) each.
    """
    validate_images(images)
    validate_masks(masks, num_images=len(images))
    sources = np.flatnonzero((masks == class_id).any(axis=(1, 2)))
    if len(sources) == 0:
        warnings.warn(f"copy_paste: no image contains class {class_id}, so nothing is pasted", stacklevel=2)
        return np.empty((0, *images.shape[1:]), np.uint8), np.empty((0, *images.shape[1:]), np.uint8)
    rng = np.random.default_rng(seed)
    out_images, out_masks = np.empty((n, *images.shape[1:]), np.uint8), np.empty((n, *images.shape[1:]), np.uint8)
    for k in range(n):
        source, target = rng.choice(sources), rng.integers(len(images))
        blobs, count = ndimage.label(masks[source] == class_id)
        region = blobs == rng.integers(1, count + 1)
        offset = _random_offset(rng, region, max_shift)
        out_images[k], out_masks[k] = paste_region(images[target], masks[target], images[source], region, offset, class_id)
    return out_images, out_masks


# ------------------------------------------------------------------------------------ for the lesson
def show_augmentations(images: np.ndarray, masks: np.ndarray, augmentations: Mapping[str, Augmentation],
                       n: int = 3, width: float = 12.0):
    """A grid: one row per augmentation (the originals first), n image | mask-overlay pairs per row.

    images (>=n,64,128) uint8, masks (>=n,64,128) labels. Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    from marslab.plots import legend_handles, overlay

    rows = {"original": (images[:n], masks[:n])}
    rows.update({name: augment_arrays(aug, images[:n], masks[:n]) for name, aug in augmentations.items()})
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(width, width / (2 * n) * 0.55 * len(rows) + 0.6),
                             squeeze=False)
    for row, (name, (x, y)) in enumerate(rows.items()):
        for i in range(n):
            axes[row, 2 * i].imshow(x[i], cmap="gray", vmin=0, vmax=255)
            axes[row, 2 * i + 1].imshow(overlay(x[i], y[i]))
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    fig.legend(handles=legend_handles(), loc="lower center", ncol=5, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def compare_augmentations(augmentations: Mapping[str, Augmentation | str], train: tuple, val: tuple,
                          build_model: Callable[[], keras.Model], epochs: int, batch_size: int = 32,
                          learning_rate: float = 1e-3, seed: int = 0):
    """Train the model of `build_model` once per augmentation, from the same initial weights, with the
    same data, epochs and seed; score each run on `val`.

    train, val: (images (N,64,128) uint8, masks (N,64,128) labels). Returns a pandas DataFrame, one row
    per augmentation: mean IoU (the competition metric), per-class IoU and seconds per epoch (the first
    run's also pays for tracing the train step).
    """
    import time

    import pandas as pd

    from marslab import CLASS_NAMES, seed_everything
    from marslab.metrics import mean_iou, per_class_iou
    from marslab.models import predict_labels
    from marslab.pipeline import make_dataset

    seed_everything(seed)
    model = build_model()  # one model, one compiled train step, reset to the same start for each run
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    initial_weights = model.get_weights()
    rows = []
    for label, augmentation in augmentations.items():
        model.set_weights(initial_weights)
        for variable in model.optimizer.variables:  # Adam's moments and step counter back to zero
            variable.assign(keras.ops.zeros_like(variable))
        dataset = make_dataset(*train, batch_size=batch_size, shuffle=True, seed=seed, augment=augmentation)
        start = time.perf_counter()
        model.fit(dataset, epochs=epochs, shuffle=False, verbose=0)
        seconds = (time.perf_counter() - start) / epochs
        preds = predict_labels(model, val[0][..., None] / np.float32(255), batch_size)
        row = {"augmentation": label, "mean IoU": round(mean_iou(val[1], preds), 3),
               "s/epoch": round(seconds, 1)}
        row.update({f"IoU {name}": round(float(iou), 3) for name, iou in zip(CLASS_NAMES[1:], per_class_iou(val[1], preds)[1:])})
        rows.append(row)
    return pd.DataFrame(rows).set_index("augmentation")
