"""Generated Big Rock patches against copy-paste (report 001 §6 tried a GAN for the rare class and dropped
it for its cost; report 002 pasted real patches instead, `marslab.augment.copy_paste`).

A small conditional GAN: the generator turns a rock's shape (a binary crop) and noise into a grey crop;
the discriminator sees a shape and a crop and tells real from generated. It is trained the classic
Keras way, alternating `train_on_batch` on the discriminator and on the generator through a frozen
discriminator, so it needs no backend-specific gradient code. `paste_generated` pastes the generated rock
pixels into other images with `augment.paste_region`, as copy-paste does with real ones, and
`rock_features` measures both kinds of patch (brightness contrast with the surroundings, texture).

Shapes: images (N,64,128) uint8, masks (N,64,128) labels, crops (K,S,S) uint8, shapes (K,S,S) bool.
"""
from __future__ import annotations

import time

import keras
import numpy as np
from keras import layers
from scipy import ndimage

from marslab.augment import paste_region

BIG_ROCK = 4
CROP = 32         # crop side: the synthetic rocks are at most about 14 pixels across
NOISE = 4         # noise channels beside the shape channel
RING = 3          # pixels around a rock that count as its surroundings in `rock_features`


def rock_crops(images: np.ndarray, masks: np.ndarray, size: int = CROP, class_id: int = BIG_ROCK):
    """One crop per connected class_id region (centred on it, clipped to the image): (crops (K,S,S) uint8,
    shapes (K,S,S) bool). Regions larger than the crop are skipped."""
    crops, shapes = [], []
    for image, mask in zip(images, masks):
        blobs, count = ndimage.label(mask == class_id)
        for k, box in enumerate(ndimage.find_objects(blobs), start=1):
            if box[0].stop - box[0].start > size or box[1].stop - box[1].start > size:
                continue
            rows = [min(max((box[a].start + box[a].stop) // 2 - size // 2, 0), image.shape[a] - size) for a in (0, 1)]
            window = np.s_[rows[0]:rows[0] + size, rows[1]:rows[1] + size]
            crops.append(image[window])
            shapes.append(blobs[window] == k)
    if not crops:
        raise ValueError(f"no region of class {class_id} fits a {size}x{size} crop")
    return np.stack(crops), np.stack(shapes)


def build_generator(size: int = CROP, filters: int = 16) -> keras.Model:
    """(shape (B,S,S,1), noise (B,S,S,NOISE)) -> crop (B,S,S,1) in [0, 1]: a two-level conv encoder-decoder."""
    shape, noise = keras.Input((size, size, 1), name="shape"), keras.Input((size, size, NOISE), name="noise")
    x = layers.Concatenate()([shape, noise])
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(2 * filters, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(2 * filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(filters, 2, strides=2, activation="relu")(x)
    x = layers.Concatenate()([x, shape])
    return keras.Model([shape, noise], layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x), name="generator")


def build_discriminator(size: int = CROP, filters: int = 16) -> keras.Model:
    """(shape (B,S,S,1), crop (B,S,S,1)) -> probability that the crop is real (B,1)."""
    shape, crop = keras.Input((size, size, 1), name="shape"), keras.Input((size, size, 1), name="crop")
    x = layers.Concatenate()([shape, crop])
    for k in range(3):
        x = layers.Conv2D(filters * 2**k, 3, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model([shape, crop], layers.Dense(1, activation="sigmoid")(x), name="discriminator")


def train_gan(crops: np.ndarray, shapes: np.ndarray, steps: int = 400, batch_size: int = 32, seed: int = 0,
              learning_rate: float = 2e-4) -> tuple[keras.Model, keras.Model, float]:
    """Train the conditional GAN for `steps` alternating updates; returns (generator, discriminator, seconds).

    Keras 3 reads a model's trainable weights when it first traces its training step, so the
    discriminator takes its first step while trainable and the combined model is compiled only after
    that, with the discriminator frozen; the flag is then switched around every update.
    """
    if len(crops) != len(shapes) or crops.ndim != 3 or crops.shape != shapes.shape or steps < 1:
        raise ValueError(f"need crops and shapes (K,S,S) of one shape and steps >= 1, got {crops.shape}, "
                         f"{shapes.shape}, steps={steps}")
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    size = crops.shape[1]
    generator, discriminator = build_generator(size), build_discriminator(size)
    discriminator.compile(keras.optimizers.Adam(learning_rate, beta_1=0.5), "binary_crossentropy")
    combined = None
    real_x, real_s = crops[..., None].astype("float32") / 255.0, shapes[..., None].astype("float32")
    ones, zeros = np.ones((batch_size, 1), "float32"), np.zeros((batch_size, 1), "float32")
    start = time.perf_counter()
    for _ in range(steps):
        pick = rng.integers(len(crops), size=batch_size)
        noise = rng.standard_normal((batch_size, size, size, NOISE)).astype("float32")
        fake = generator.predict_on_batch([real_s[pick], noise])
        discriminator.trainable = True
        discriminator.train_on_batch([real_s[pick], real_x[pick]], ones)
        discriminator.train_on_batch([real_s[pick], fake], zeros)
        discriminator.trainable = False
        if combined is None:
            shape_in, noise_in = keras.Input((size, size, 1)), keras.Input((size, size, NOISE))
            combined = keras.Model([shape_in, noise_in], discriminator([shape_in, generator([shape_in, noise_in])]))
            combined.compile(keras.optimizers.Adam(learning_rate, beta_1=0.5), "binary_crossentropy")
        combined.train_on_batch([real_s[pick], noise], ones)
    return generator, discriminator, time.perf_counter() - start


def generate(generator: keras.Model, shapes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Crops (K,S,S) uint8 for the rock shapes (K,S,S) bool."""
    noise = np.random.default_rng(seed).standard_normal(shapes.shape + (NOISE,)).astype("float32")
    out = generator.predict([shapes[..., None].astype("float32"), noise], verbose=0)[..., 0]
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def paste_generated(images: np.ndarray, masks: np.ndarray, crops: np.ndarray, shapes: np.ndarray, n: int,
                    seed: int = 0, class_id: int = BIG_ROCK) -> tuple[np.ndarray, np.ndarray]:
    """`n` new (image, mask) pairs: a random image with a random generated rock pasted at a random place
    (its whole crop inside the image). Returns uint8 images (n,64,128) and masks (n,64,128)."""
    rng = np.random.default_rng(seed)
    size = crops.shape[1]
    out_images, out_masks = np.empty((n, *images.shape[1:]), np.uint8), np.empty((n, *images.shape[1:]), np.uint8)
    for k in range(n):
        target, patch = rng.integers(len(images)), rng.integers(len(crops))
        top, left = rng.integers(images.shape[1] - size + 1), rng.integers(images.shape[2] - size + 1)
        canvas = np.zeros(images.shape[1:], np.uint8)
        region = np.zeros(images.shape[1:], bool)
        canvas[top:top + size, left:left + size], region[top:top + size, left:left + size] = crops[patch], shapes[patch]
        out_images[k], out_masks[k] = paste_region(images[target], masks[target], canvas, region, (0, 0), class_id)
    return out_images, out_masks


def rock_features(images: np.ndarray, masks: np.ndarray, class_id: int = BIG_ROCK) -> np.ndarray:
    """Per class_id region of at least 4 pixels: (contrast, texture) (R,2) float, where contrast = mean
    inside - mean of the RING-pixel band around it, texture = standard deviation inside (grey levels)."""
    rows = []
    for image, mask in zip(images, masks):
        blobs, count = ndimage.label(mask == class_id)
        for k in range(1, count + 1):
            inside = blobs == k
            ring = ndimage.binary_dilation(inside, iterations=RING) & ~inside & (mask != class_id)
            if inside.sum() >= 4 and ring.any():
                values = image[inside].astype(float)
                rows.append((values.mean() - image[ring].mean(), values.std()))
    return np.asarray(rows, float).reshape(-1, 2)
