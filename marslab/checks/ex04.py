"""Checks for exercises/04_joint_augmentation.ipynb: a horizontal flip and sensor noise on an image/mask pair."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, as_array, expect, expect_callable

NOISE_STD = 0.05


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An image (H, W) float in [0, 1] with a bright right half, and its asymmetric mask (H, W)."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.2, 0.4, size=(16, 32))
    image[:, 20:] = 0.97  # bright, near 1: noise must be clipped there
    mask = np.zeros((16, 32), np.uint8)
    mask[:, 20:] = 4
    mask[2:6, 3:9] = 2
    return image, mask


def _test_flip_noise(fn) -> None:
    expect_callable(fn)
    image, mask = _pair(0)
    flips, residuals = 0, []
    for seed in range(40):
        out = fn(image.copy(), mask.copy(), np.random.default_rng(seed), noise_std=NOISE_STD)
        expect(isinstance(out, tuple) and len(out) == 2, f"expected a tuple (image, mask), got {type(out).__name__}")
        out_image = as_array(out[0], "the augmented image", shape=image.shape)
        out_mask = as_array(out[1], "the augmented mask", shape=mask.shape)
        expect(out_mask.dtype == mask.dtype,
               f"the mask should keep its dtype {mask.dtype} (labels), got {out_mask.dtype}")
        if np.array_equal(out_mask, mask[::-1]) or np.array_equal(out_mask, mask[::-1, ::-1]):
            raise Incorrect("the mask was flipped upside down: flip left-right (axis 1, the width); the sky "
                            "must stay on top")
        flipped = np.array_equal(out_mask, mask[:, ::-1])
        if not flipped and not np.array_equal(out_mask, mask):
            raise Incorrect("the mask changed other than by a flip: noise belongs to the image only, labels "
                            "must stay exact integers")
        expect(out_image.min() >= 0 and out_image.max() <= 1,
               f"image values should stay in [0, 1] (clip after adding noise), got "
               f"{out_image.min():.3f}..{out_image.max():.3f}")
        reference = image[:, ::-1] if flipped else image
        other = image if flipped else image[:, ::-1]
        if np.abs(out_image - other).mean() < np.abs(out_image - reference).mean():
            raise Incorrect("the image and the mask were flipped differently: draw the coin once and flip both "
                            "with it, or the labels no longer match the pixels")
        flips += flipped
        residuals.append((out_image - reference)[:, :20])  # the dark part, where clipping does not bite
    expect(0 < flips < 40, f"out of 40 calls with different seeds, {flips} flipped: flip with probability 0.5 "
                           "using the `rng` you are given")
    noise = np.concatenate([r.ravel() for r in residuals])
    expect(noise.std() > NOISE_STD / 3, "no noise was added to the image (or far too little): add "
                                        "rng.normal(0, noise_std, image.shape)")
    expect(abs(noise.std() - NOISE_STD) < 0.2 * NOISE_STD,
           f"the noise has standard deviation {noise.std():.4f}, expected noise_std={NOISE_STD}")
    expect(abs(noise.mean()) < 0.01, f"the noise should have mean 0, it has mean {noise.mean():.4f}")
    first = fn(image.copy(), mask.copy(), np.random.default_rng(123), noise_std=NOISE_STD)[0]
    again = fn(image.copy(), mask.copy(), np.random.default_rng(123), noise_std=NOISE_STD)[0]
    expect(np.array_equal(np.asarray(first), np.asarray(again)),
           "two calls with identically seeded rngs gave different images: draw all randomness from `rng`")


q1 = Question(
    "q1", "flip_and_noise(image, mask, rng, noise_std) -> (image, mask)",
    _test_flip_noise,
    function="flip_and_noise", points=2,
    hints=["Draw one coin, `rng.random() < 0.5`, and use it for both arrays: a flip that hits the image but not "
           "the mask teaches the model wrong labels.",
           "Flip left-right with `[:, ::-1]`; add `rng.normal(0.0, noise_std, image.shape)` to the image only, then "
           "`np.clip(..., 0.0, 1.0)`."],
    solution="""
    def flip_and_noise(image, mask, rng, noise_std=0.05):
        if rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        noisy = image + rng.normal(0.0, noise_std, image.shape)
        return np.clip(noisy, 0.0, 1.0), mask
    """,
    correct_message="Keras' preprocessing layers do the same on whole batches, with one random draw per image "
                    "(lesson 04).",
)

QUESTIONS = [q1]
