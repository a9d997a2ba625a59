"""The tf.data input pipeline: validated arrays in, batches a model can train on out.

    arrays -> cache -> shuffle (seeded, new order every epoch) -> batch -> normalise -> augment -> prefetch

Images go in as (N,64,128) uint8 and come out as float32 (B,64,128,1) in [0,1]; masks go in as integer
labels 0-4 and come out as int32 (B,64,128). Oversampling repeats the images that contain a rare class
before shuffling (report 000 quadrupled the images with Big Rock in its last training phases).
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module import time

AugmentFn = Callable  # (images (B,64,128,1) float32, masks (B,64,128) int32) -> same shapes and dtypes


def validate_images(images: np.ndarray, name: str = "images") -> None:
    """Raise a clear error unless `images` is a NumPy uint8 array of shape (N,64,128) with N >= 1."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (N, 64, 128), got {type(images).__name__}")
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE or images.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, 64, 128) with N >= 1, got {images.shape}")
    if images.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8 (0-255), got {images.dtype}")


def validate_masks(masks: np.ndarray, num_images: int | None = None, num_classes: int = NUM_CLASSES) -> None:
    """Raise a clear error unless `masks` is an integer (N,64,128) array of labels 0..num_classes-1."""
    if not isinstance(masks, np.ndarray):
        raise TypeError(f"masks must be a NumPy array of shape (N, 64, 128), got {type(masks).__name__}")
    if masks.ndim != 3 or masks.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"masks must have shape (N, 64, 128), got {masks.shape}")
    if num_images is not None and masks.shape[0] != num_images:
        raise ValueError(f"masks must have one mask per image: {num_images} images but {masks.shape[0]} masks")
    if not np.issubdtype(masks.dtype, np.integer):
        raise TypeError(f"masks must hold integer labels, got {masks.dtype}")
    low, high = int(masks.min()), int(masks.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"mask labels must be in 0..{num_classes - 1}, found values in {low}..{high}")


def _oversample_index(masks: np.ndarray, factors: Mapping[int, int]) -> np.ndarray:
    """Indices (sorted, with repeats) showing an image `times` times if it contains a class of
    `factors` ({class_id: times}); with several classes the largest factor wins."""
    from marslab.weights import oversample_indices

    counts = []
    for class_id, times in factors.items():
        if not (isinstance(class_id, (int, np.integer)) and 0 <= class_id < NUM_CLASSES):
            raise ValueError(f"oversample class {class_id!r} is not a label 0..{NUM_CLASSES - 1}")
        counts.append(np.bincount(oversample_indices(masks, int(class_id), times), minlength=len(masks)))
    return np.repeat(np.arange(len(masks)), np.maximum.reduce(counts))


def normalise(images, masks=None):
    """uint8 (B,64,128) images -> float32 (B,64,128,1) in [0,1]; masks -> int32 (B,64,128) (tf tensors)."""
    import tensorflow as tf

    images = tf.cast(images, tf.float32)[..., None] / 255.0
    if masks is None:
        return images
    return images, tf.cast(masks, tf.int32)


def make_dataset(
    images: np.ndarray,
    masks: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: AugmentFn | str | None = None,
    cache: bool = True,
    oversample: Mapping[int, int] | None = None,
    drop_remainder: bool = False,
    deterministic: bool = True,
):
    """A batched tf.data.Dataset of (images float32 (B,64,128,1) in [0,1], masks int32 (B,64,128)).

    images: (N,64,128) uint8. masks: (N,64,128) integer labels 0-4, or None for images-only batches
    (e.g. the test set). shuffle: a new order every epoch, the same sequence of orders for the same
    `seed` (and the same TensorFlow global seed, which `marslab.seed_everything` sets).
    augment: a function (images, masks) -> (images, masks) on batches (see `marslab.augment`), or a
    preset name ("none", "photometric", "geometric", "all") built with `seed`.
    cache: keep the pairs after the first pass (saves work when the arrays come from a slow
    source; with arrays already in memory it saves little). oversample: {class_id: times}, e.g. {4: 4}
    shows every image containing Big Rock 4 times per epoch (`marslab.weights.oversample_indices`).
    deterministic: run augmentation sequentially so a seed reproduces every batch (False lets tf.data
    run it in parallel, faster on many cores but not repeatable).
    """
    import tensorflow as tf

    validate_images(images)
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if masks is not None:
        validate_masks(masks, num_images=len(images))
    if masks is None and (augment is not None or oversample):
        raise ValueError("augment and oversample need masks: pass masks=... or leave them None")
    if oversample:
        index = _oversample_index(masks, oversample)
        images, masks = images[index], masks[index]
    if isinstance(augment, str):
        from marslab.augment import build_augmentation

        augment = build_augmentation(augment, seed=seed)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a function (images, masks) -> (images, masks) or a preset name, got {augment!r}")

    ds = tf.data.Dataset.from_tensor_slices(images if masks is None else (images, masks))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(normalise)  # whole batches at once: cheap, so no parallel calls needed
    if augment is not None:
        ds = ds.map(augment) if deterministic else ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=False)
    return ds.prefetch(AUTOTUNE)


def images_per_second(dataset, passes: int = 1) -> float:
    """Throughput of a (images, masks) dataset: images per second over `passes` full passes, after one
    warm-up pass that traces the functions and fills the cache."""
    import time

    for _ in dataset:
        pass
    start, count = time.perf_counter(), 0
    for _ in range(passes):
        for batch in dataset:
            count += int((batch[0] if isinstance(batch, tuple) else batch).shape[0])
    return count / (time.perf_counter() - start)
