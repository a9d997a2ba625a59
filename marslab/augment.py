"""Joint image+mask augmentation: each transform moves image and mask together, or leaves the mask alone.

Geometric transforms move the mask with the image. Flips come from Keras (`RandomFlip`, exact by nature);
rotation, shift and zoom from the course's own `RandomAffine`, which draws one affine map per image and
resamples the image bilinearly and the mask with the nearest neighbour, so labels are never blended on any
Keras version. (Keras' own `RandomRotation`, `RandomTranslation` and `RandomZoom` take the same
{"images", "segmentation_masks"} dict, but before Keras 3.14 they resampled masks bilinearly: on Keras 3.13,
Google Colab's version in 2026, a rotated mask holds values such as 0.0002 and 3.9999; keras#22192 fixed it.)
Photometric ones (blur, noise, brightness, contrast) touch the image only. All are Keras 3 preprocessing
layers called on a dict {"images": (B,64,128,1), "segmentation_masks": (B,64,128,1)} inside tf.data.
keras-cv 0.9 layers take the same dict (`library="keras_cv"`, the optional extra `marslab[keras-cv]`), but
keras-cv is no longer developed and its blur, brightness and contrast do not repeat under a seed.
Report 000 (section 4.1) found noise and blur best and its geometric transforms worse; report 002 pasted
rare-class patches; report 004 grew the set offline to 32064 images.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import keras
import numpy as np
from scipy import ndimage

from marslab import BIG_ROCK
from marslab.pipeline import make_dataset
from marslab.validation import check_images, check_labels

BLUR_PROBABILITY = 0.5  # blur half the images, each batch with its own sigma up to the strength
STRENGTH_NAMES = ("flip", "rotation", "shift", "zoom", "blur", "noise", "brightness", "contrast")
PHOTOMETRIC = {"blur": 1.0, "noise": 0.02, "brightness": 0.1, "contrast": 0.1}
GEOMETRIC = {"flip": True, "rotation": 0.02, "shift": 0.05, "zoom": 0.1}
PRESETS: dict[str, dict] = {"none": {}, "photometric": PHOTOMETRIC, "geometric": GEOMETRIC,
                            "all": {**GEOMETRIC, **PHOTOMETRIC}}
AFFINE = ("rotation", "shift", "zoom")  # resampled together by RandomAffine
LIBRARIES = ("keras", "keras_cv")


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


@keras.saving.register_keras_serializable(package="marslab")
class RandomAffine(keras.layers.Layer):
    """Random rotation, shift and zoom as ONE affine map per image, applied to "images" (bilinear) and
    "segmentation_masks" (nearest neighbour: labels stay labels) of a dict, or to an image tensor.

    rotation: up to +-rotation of a full turn (0.02 is +-7.2 degrees); shift: up to +-shift of the height
    and width; zoom: the sampled area scaled by a factor in [1 - zoom, 1 + zoom] (above 1 zooms out).
    Pixels mapped from outside the image are filled by reflection, in the image and the mask alike.
    For an output pixel p (x = column, y = row) the input read is c + s R(theta) (p - c) - t, c the centre.
    """

    def __init__(self, rotation: float = 0.0, shift: float = 0.0, zoom: float = 0.0, seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("rotation", rotation), ("shift", shift), ("zoom", zoom)):
            if not 0 <= value < (1 if name == "zoom" else 0.5):
                raise ValueError(f"{name} must be in [0, {1 if name == 'zoom' else 0.5}), got {value!r}")
        self.rotation, self.shift, self.zoom, self.seed = float(rotation), float(shift), float(zoom), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, limit: float, centre: float = 0.0):
        return keras.random.uniform((batch,), centre - limit, centre + limit, seed=self.seed_generator)

    def transforms(self, images):
        """(B, 8) affine maps in the layout of keras.ops.image.affine_transform, one per image of (B,H,W,C)."""
        ops = keras.ops
        batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
        theta = self._uniform(batch, 2 * np.pi * self.rotation)
        scale = self._uniform(batch, self.zoom, 1.0)
        tx, ty = self._uniform(batch, self.shift * width), self._uniform(batch, self.shift * height)
        cos, sin = scale * ops.cos(theta), scale * ops.sin(theta)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        zero = ops.zeros_like(cos)
        return ops.stack([cos, -sin, cx - cos * cx + sin * cy - tx,
                          sin, cos, cy - sin * cx - cos * cy - ty, zero, zero], axis=1)

    def call(self, data, training=True):
        images = data["images"] if isinstance(data, dict) else data
        if not training:
            return data
        transforms = self.transforms(images)

        def warp(x, interpolation):
            return keras.ops.image.affine_transform(x, transforms, interpolation=interpolation, fill_mode="reflect")

        if not isinstance(data, dict):
            return warp(images, "bilinear")
        out = {**data, "images": warp(images, "bilinear")}
        if "segmentation_masks" in data:
            out["segmentation_masks"] = warp(data["segmentation_masks"], "nearest")
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "rotation": self.rotation, "shift": self.shift, "zoom": self.zoom,
                "seed": self.seed}


def _keras_cv_layer(name: str, strength, seed: int):
    """The keras-cv 0.9 layer for one named strength (the optional extra marslab[keras-cv])."""
    try:
        import keras_cv  # optional and heavy: imported only when asked for
    except ImportError:
        raise ImportError("library='keras_cv' needs the optional keras-cv package: pip install 'marslab[keras-cv]'") \
            from None
    value_range = (0.0, 1.0)
    layers = keras_cv.layers
    if name == "flip":
        return layers.RandomFlip("horizontal" if strength is True else strength, seed=seed)
    if name == "rotation":
        return layers.RandomRotation(strength, seed=seed, segmentation_classes=5)
    if name == "shift":
        return layers.RandomTranslation(strength, strength, seed=seed)
    if name == "zoom":
        return layers.RandomZoom(strength, seed=seed)
    if name == "blur":
        return layers.RandomGaussianBlur(2 * int(np.ceil(2 * strength)) + 1, (0.0, strength), seed=seed)
    if name == "noise":
        return RandomGaussianNoise(strength, seed=seed)
    if name == "brightness":
        return layers.RandomBrightness(strength, value_range=value_range, seed=seed)
    return layers.RandomContrast(value_range=value_range, factor=strength, seed=seed)


def _keras_layer(name: str, strength, seed: int):
    """The Keras layer for one named photometric strength or flip (see `build_augmentation`)."""
    value_range = (0.0, 1.0)
    if name == "flip":
        return keras.layers.RandomFlip("horizontal" if strength is True else strength, seed=seed)
    if name == "blur":  # the largest Gaussian sigma, in pixels
        return keras.layers.RandomGaussianBlur(BLUR_PROBABILITY, 2 * int(np.ceil(2 * strength)) + 1,
                                               (0.1, strength), value_range=value_range, seed=seed)
    if name == "noise":  # standard deviation on the [0, 1] image scale
        return RandomGaussianNoise(strength, seed=seed)
    if name == "brightness":  # shift by up to this fraction of the value range
        return keras.layers.RandomBrightness(strength, value_range=value_range, seed=seed)
    return keras.layers.RandomContrast(strength, value_range=value_range, seed=seed)  # factor in [1 -+ strength]


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
    Flip first, then rotation, shift and zoom as one `RandomAffine` (one resampling), then blur, noise,
    brightness and contrast. library="keras_cv" builds each from keras-cv instead (optional extra).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {tuple(PRESETS)}")
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {LIBRARIES}, got {library!r}")
    unknown = set(strengths) - set(STRENGTH_NAMES)
    if unknown:
        raise ValueError(f"unknown augmentation strength(s) {sorted(unknown)}; expected some of {STRENGTH_NAMES}")
    chosen = {**PRESETS[preset], **strengths}
    chosen = {name: chosen[name] for name in STRENGTH_NAMES if chosen.get(name)}
    for name, value in chosen.items():
        if name != "flip" and not (isinstance(value, (int, float)) and 0 < value):
            raise ValueError(f"strength {name}={value!r} must be a positive number (or 0 to switch it off)")
    if library == "keras_cv":
        import tensorflow as tf

        # keras-cv draws from TensorFlow's global generator, which op determinism (seed_everything in the
        # smoke profile) refuses to create implicitly: seed it here, which also makes the draws repeat.
        tf.random.set_global_generator(tf.random.Generator.from_seed(seed))
        layers = [_keras_cv_layer(name, value, seed + i) for i, (name, value) in enumerate(chosen.items())]
        return Augmentation(layers, chosen)
    affine = {name: chosen[name] for name in AFFINE if name in chosen}
    layers = [_keras_layer("flip", chosen["flip"], seed)] if "flip" in chosen else []
    if affine:
        layers.append(RandomAffine(**affine, seed=seed + 1))
    layers += [_keras_layer(name, value, seed + 2 + i) for i, (name, value) in enumerate(chosen.items())
               if name != "flip" and name not in AFFINE]
    return Augmentation(layers, chosen)


def augment_arrays(augmentation: Augmentation, images: np.ndarray, masks: np.ndarray,
                   batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Run `augmentation` over uint8 images (N,64,128) and masks (N,64,128); returns uint8 arrays the same shape."""
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
    check_images(images)
    check_labels(masks, count=len(images))
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
    check_images(images)
    check_labels(masks, count=len(images))
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
        out_images[k], out_masks[k] = paste_region(images[target], masks[target], images[source], region, offset,
                                                   class_id)
    return out_images, out_masks
