"""Checks for exercises/01_data_statistics.ipynb: class frequencies, class presence, class intensities."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, as_array, expect, expect_callable, expect_close


def _masks(seed: int, shape=(6, 8, 16), num_classes: int = 5, absent: tuple[int, ...] = ()) -> np.ndarray:
    """Random label maps with the classes in `absent` left out."""
    rng = np.random.default_rng(seed)
    present = [c for c in range(num_classes) if c not in absent]
    return rng.choice(present, size=shape).astype(np.uint8)


def _cases() -> list[tuple[np.ndarray, int]]:
    """(masks, num_classes): all classes; class 4 absent; a 3-class problem."""
    return [(_masks(1), 5), (_masks(2, absent=(4,)), 5), (_masks(3, shape=(3, 4, 5), num_classes=3), 3)]


# ---- q1 --------------------------------------------------------------------------------------

def _test_frequencies(fn) -> None:
    expect_callable(fn)
    for masks, num_classes in _cases():
        want = np.bincount(masks.ravel().astype(np.int64), minlength=num_classes) / masks.size
        got = as_array(fn(masks.copy(), num_classes=num_classes), "class_frequencies(masks)")
        absent = [c for c in range(num_classes) if want[c] == 0]
        if got.shape == (num_classes - len(absent),) and absent:
            raise Incorrect(f"for masks without class {absent[0]} you returned {got.size} entries: every class needs "
                             f"an entry, 0 for an absent one (np.bincount has a `minlength` argument)")
        expect(got.shape == (num_classes,), f"expected one entry per class, shape ({num_classes},), got {got.shape} "
                                            f"(num_classes={num_classes}: use the argument, not a fixed 5)")
        if np.isclose(got.sum(), masks.size):
            raise Incorrect(f"your entries sum to {got.sum():.0f}, the number of pixels: these are counts; "
                             "divide by the total number of pixels so that they sum to 1")
        expect(np.isclose(got.sum(), 1.0), f"class frequencies should sum to 1, yours sum to {got.sum():.4g}")
        expect_close(got, want, f"class frequencies of a {masks.shape} mask set")


q1 = Question(
    "q1", "class_frequencies(masks, num_classes) -> (num_classes,) pixel fractions",
    _test_frequencies,
    function="class_frequencies", points=1,
    hints=["Count the pixels of each class over all masks at once, then divide by the number of pixels.",
           "`np.bincount(masks.ravel(), minlength=num_classes)` counts every label, including the ones that "
           "never occur (they get 0)."],
    solution="""
    def class_frequencies(masks, num_classes=5):
        counts = np.bincount(masks.ravel(), minlength=num_classes)
        return counts / counts.sum()
    """,
    correct_message="the same numbers as `marslab.weights.class_frequencies`, which lesson 03 builds on.",
)


# ---- q2 --------------------------------------------------------------------------------------

def _test_presence(fn) -> None:
    expect_callable(fn)
    for masks, num_classes in _cases():
        n = len(masks)
        want = np.stack([(masks == c).any(axis=(1, 2)) for c in range(num_classes)], axis=1)
        got = as_array(fn(masks.copy(), num_classes=num_classes), "class_presence(masks)")
        if got.shape == (num_classes, n) and n != num_classes:
            raise Incorrect(f"shape {got.shape} is transposed: one row per image, one column per class, "
                             f"({n}, {num_classes})")
        expect(got.shape == (n, num_classes), f"expected one row per image and one column per class, "
                                              f"shape ({n}, {num_classes}), got {got.shape}")
        if got.dtype != bool and got.max() > 1:
            raise Incorrect("these look like pixel counts; presence is a yes/no question: compare the count "
                             "with 0 (or use `.any(...)`) to get booleans")
        expect(set(np.unique(got)) <= {0, 1, False, True}, "entries should be True/False (booleans)")
        wrong = np.argwhere(got.astype(bool) != want)
        if wrong.size:
            i, c = wrong[0]
            raise Incorrect(f"image {i}: class {c} is {'present' if want[i, c] else 'absent'} but you say "
                             f"{bool(got[i, c])}")


q2 = Question(
    "q2", "class_presence(masks, num_classes) -> (N, num_classes) booleans",
    _test_presence,
    function="class_presence", points=1,
    hints=["For one class c, `masks == c` is a boolean (N, H, W) array; ask whether any pixel of each image is True.",
           "`(masks == c).any(axis=(1, 2))` gives one boolean per image; stack the columns for c = 0..num_classes-1 "
           "with `np.stack(..., axis=1)`."],
    solution="""
    def class_presence(masks, num_classes=5):
        return np.stack([(masks == c).any(axis=(1, 2)) for c in range(num_classes)], axis=1)
    """,
    correct_message="`presence.mean(axis=0)` is then the fraction of images that show each class.",
)


# ---- q3 --------------------------------------------------------------------------------------

def _test_intensity(fn) -> None:
    expect_callable(fn)
    for seed, (masks, num_classes) in enumerate(_cases()):
        rng = np.random.default_rng(10 + seed)
        images = rng.integers(0, 256, size=masks.shape, dtype=np.uint8)
        images = np.clip(images.astype(int) + 40 * masks, 0, 255).astype(np.uint8)  # classes differ in brightness
        want = np.array([images[masks == c].astype(np.float64).mean() if (masks == c).any() else np.nan
                         for c in range(num_classes)])
        got = as_array(fn(images.copy(), masks.copy(), num_classes=num_classes), "class_mean_intensity(images, masks)")
        expect(got.shape == (num_classes,), f"expected one mean per class, shape ({num_classes},), got {got.shape}")
        absent = np.isnan(want)
        if absent.any():
            c = int(np.flatnonzero(absent)[0])
            expect(np.isnan(got[c]), f"class {c} has no pixels in these masks, so its mean is undefined: return NaN "
                                     f"(np.nan) for it, not {got[c]:.4g}")
        expect(not np.isnan(got[~absent]).any(), "you returned NaN for a class that has pixels")
        expect_close(got, want, f"mean intensity per class of a {masks.shape} set", rtol=1e-4)


q3 = Question(
    "q3", "class_mean_intensity(images, masks, num_classes) -> (num_classes,) mean pixel value per class",
    _test_intensity,
    function="class_mean_intensity", points=2,
    hints=["Boolean indexing `images[masks == c]` picks the pixels of class c from every image at once.",
           "A class with no pixels has no mean: `np.nan` for it (and avoid NumPy's 'mean of empty slice' warning "
           "by testing `(masks == c).any()` first)."],
    solution="""
    def class_mean_intensity(images, masks, num_classes=5):
        means = np.full(num_classes, np.nan)
        for c in range(num_classes):
            pixels = images[masks == c]
            if pixels.size:
                means[c] = pixels.astype(np.float64).mean()
        return means
    """,
    correct_message="if the classes differ this much in brightness alone, a model could just threshold; "
                    "look at how much they overlap in lesson 01's histograms.",
)

QUESTIONS = [q1, q2, q3]
