"""Model input: `to_model_input` (images -> what a model takes) and the tf.data pipeline around it.

    arrays -> oversample -> cache -> shuffle (seeded, new order every epoch) -> batch -> to_model_input
           -> augment -> prefetch

Images go in as (N,64,128) uint8 and come out as float32 (B,64,128,1) in [0,1]; masks go in as integer
labels 0-4 and come out as int32 (B,64,128). Oversampling repeats the images that contain a rare class
before shuffling (report 000 quadrupled the images with Big Rock in its last training phases).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES
from marslab.config import tensorflow
from marslab.validation import check_array, check_images, check_int, check_labels, invalid
from marslab.weights import oversample_indices

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module import time
PIXEL_SCALE = 255.0  # uint8 grey levels 0..255 -> floats 0..1

AugmentFn = Callable  # (images (B,64,128,1) float32, masks (B,64,128) int32) -> same shapes and dtypes


def to_model_input(images, image_shape: tuple[int, int] | None = IMAGE_SHAPE):
    """Images as a model takes them: uint8 (N,64,128) -> float32 (N,64,128,1) in [0,1].

    NumPy in, NumPy out: float32 (N,64,128,C) arrays with values in [0,1] (e.g. the two-channel input
    of a refinement model) pass through unchanged; anything else is refused with its shape and dtype.
    A TensorFlow tensor of uint8 images (a batch inside tf.data) -> a float32 tensor, the same values.
    image_shape: the (H, W) required of NumPy input (None: any).
    """
    if type(images).__module__.startswith("tensorflow"):
        tf = tensorflow()
        return tf.cast(images, tf.float32)[..., None] / PIXEL_SCALE
    hw = image_shape or (None, None)
    array = np.asarray(images)
    if array.ndim == 3 and array.dtype == np.uint8:
        check_images(array, image_shape=image_shape)
        return array[..., None].astype(np.float32) / np.float32(PIXEL_SCALE)
    if array.ndim == 4 and array.dtype.kind == "f":
        array = check_array(array, "images", (None, *hw, None), "float").astype(np.float32, copy=False)
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if low < 0 or high > 1:
            raise invalid("float images", "hold values in [0, 1] (divide uint8 images by 255, or pass them as "
                          "uint8)", f"values in {low:g}..{high:g}")
        return array
    want = f"(N, {hw[0] or 'H'}, {hw[1] or 'W'})"
    raise invalid("images", f"be uint8 {want} or float32 {want[:-1]}, C) in [0, 1]",
                  f"shape {array.shape} dtype {array.dtype}")


def _oversample_index(masks: np.ndarray, factors: Mapping[int, int]) -> np.ndarray:
    """Indices (sorted, with repeats) showing an image `times` times if it contains a class of
    `factors` ({class_id: times}); with several classes the largest factor wins."""
    counts = []
    for class_id, times in factors.items():
        check_int(class_id, f"oversample class {class_id!r}", 0, NUM_CLASSES - 1)
        counts.append(np.bincount(oversample_indices(masks, int(class_id), times), minlength=len(masks)))
    return np.repeat(np.arange(len(masks)), np.maximum.reduce(counts))


def make_dataset(
    images: np.ndarray,
    masks: np.ndarray | None = None,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: AugmentFn | None = None,
    cache: bool = True,
    oversample: Mapping[int, int] | None = None,
    drop_remainder: bool = False,
    deterministic: bool = True,
):
    """A batched tf.data.Dataset of (images float32 (B,64,128,1) in [0,1], masks int32 (B,64,128)).

    images: (N,64,128) uint8. masks: (N,64,128) integer labels 0-4, or None for images-only batches
    (e.g. the test set). shuffle: a new order every epoch, the same sequence of orders for the same
    `seed` (and the same TensorFlow global seed, which `marslab.seed_everything` sets).
    augment: a function (images, masks) -> (images, masks) on batches, e.g.
    `marslab.augment.build_augmentation("photometric", seed=seed)`.
    cache: keep the pairs after the first pass (saves work when the arrays come from a slow
    source; with arrays already in memory it saves little). oversample: {class_id: times}, e.g. {4: 4}
    shows every image containing Big Rock 4 times per epoch (`marslab.weights.oversample_indices`).
    deterministic: run augmentation sequentially so a seed reproduces every batch (False lets tf.data
    run it in parallel, faster on many cores but not repeatable).
    """
    check_images(images)
    check_int(batch_size, "batch_size", 1)
    if masks is not None:
        check_labels(masks, count=len(images))
    if masks is None and (augment is not None or oversample):
        raise ValueError("augment and oversample need masks: pass masks=... or leave them None")
    if augment is not None and not callable(augment):
        raise invalid("augment", "be a function (images, masks) -> (images, masks), e.g. "
                      "marslab.augment.build_augmentation(...)", repr(augment), TypeError)
    if oversample:
        index = _oversample_index(masks, oversample)
        images, masks = images[index], masks[index]

    tf = tensorflow()
    ds = tf.data.Dataset.from_tensor_slices(images if masks is None else (images, masks))
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # whole batches at once: cheap, so no parallel calls needed
    ds = ds.map(to_model_input) if masks is None else ds.map(lambda x, y: (to_model_input(x), tf.cast(y, tf.int32)))
    if augment is not None:
        ds = ds.map(augment) if deterministic else ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=False)
    return ds.prefetch(AUTOTUNE)


def images_per_second(dataset, passes: int = 1) -> float:
    """Throughput of a (images, masks) dataset: images per second over `passes` full passes, after one
    warm-up pass that traces the functions and fills the cache."""
    for _ in dataset:
        pass
    start, count = time.perf_counter(), 0
    for _ in range(passes):
        for batch in dataset:
            count += int((batch[0] if isinstance(batch, tuple) else batch).shape[0])
    return count / (time.perf_counter() - start)
