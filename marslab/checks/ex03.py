"""Checks for exercises/03_class_weights.ipynb: inverse frequency, background zeroed, oversampling."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, as_array, expect, expect_callable, expect_close

# Report 000, Table 1 (class pixel percentages) and Table 4 (weights), the numbers the checks reproduce.
TABLE1_FREQS = np.array([24.31, 33.90, 23.28, 18.38, 0.13]) / 100
TABLE4_INVERSE = np.array([0.82, 0.59, 0.86, 1.09, 152.22])


def _random_freqs(seed: int, num_classes: int) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(num_classes))


def _test_inverse(fn) -> None:
    expect_callable(fn)
    got = as_array(fn(TABLE1_FREQS.copy()), "inverse_frequency(freqs)", shape=(5,))
    if np.allclose(got, 1 / TABLE1_FREQS, rtol=1e-3):
        raise Incorrect("these are 1 / f, 5 times too large: divide by the number of classes too, 1 / (C f), "
                        "so that the pixel-weighted mean weight is 1")
    if np.isclose(got.sum(), 1.0) and not np.allclose(got, TABLE4_INVERSE, rtol=1e-2):
        raise Incorrect("your weights sum to 1: inverse frequency is 1 / (C f) without renormalising")
    # Table 1 rounds Big Rock to 0.13 %, so 1 / (5 * 0.0013) = 153.8 where Table 4 prints 152.22.
    expect_close(got, TABLE4_INVERSE, "weights for report 000's Table 1 frequencies (Table 4, first row)",
                 rtol=1.5e-2, atol=6e-3)
    for seed, num_classes in ((1, 5), (2, 3)):
        freqs = _random_freqs(seed, num_classes)
        got = as_array(fn(freqs.copy()), f"inverse_frequency of {num_classes} class frequencies",
                       shape=(num_classes,))
        expect_close(got, 1 / (num_classes * freqs), f"weights for {num_classes} classes (use len(freqs), "
                                                      "not a fixed 5)")


q1 = Question(
    "q1", "inverse_frequency(freqs) -> 1 / (C * f_c)",
    _test_inverse,
    function="inverse_frequency", points=1,
    hints=["A class that covers a fraction f of the pixels gets a weight proportional to 1 / f.",
           "Divide also by C = len(freqs): the weights 1 / (C f) average to 1 over the pixels, as in report 000, "
           "Table 4."],
    solution="""
    def inverse_frequency(freqs):
        return 1.0 / (len(freqs) * freqs)
    """,
    correct_message="Big Rock gets about 150 times the weight of Soil (report 000, Table 4).",
)


def _test_zero_background(fn) -> None:
    expect_callable(fn)
    given = TABLE4_INVERSE.copy()
    got = as_array(fn(given), "zero_background(class_weights)", shape=(5,))
    if not np.array_equal(given, TABLE4_INVERSE):
        raise Incorrect("your function changed the array it was given (the question says not to): work on a "
                        "copy, `np.array(class_weights, dtype=float)`, and change that")
    expect(got[0] == 0, f"the Background weight should be 0, got {got[0]:.4g}")
    if np.allclose(got[1:], TABLE4_INVERSE[1:]):
        raise Incorrect("you set Background to 0 but kept the other weights: rescale them so that they sum to 1")
    if np.isclose(got.sum(), 1 - TABLE4_INVERSE[0] / TABLE4_INVERSE.sum()):
        raise Incorrect(f"your weights sum to {got.sum():.4f}: you normalised before zeroing Background; zero it "
                        "first, then divide by the sum of what is left")
    expect(np.isclose(got.sum(), 1.0), f"the weights should sum to 1, yours sum to {got.sum():.4g}")
    expect_close(got, np.concatenate([[0.0], TABLE4_INVERSE[1:] / TABLE4_INVERSE[1:].sum()]),
                 "report 000's Table 4 first row with Background zeroed")
    w = np.random.default_rng(3).uniform(0.5, 3.0, 4)
    got = as_array(fn(w.copy()), "zero_background of 4 weights", shape=(4,))
    want = np.concatenate([[0.0], w[1:] / w[1:].sum()])
    expect_close(got, want, "zero_background of 4 random weights")


q2 = Question(
    "q2", "zero_background(class_weights) -> Background 0, the rest rescaled to sum to 1",
    _test_zero_background,
    function="zero_background", points=1,
    hints=["Work on a float copy (`np.array(class_weights, dtype=float)`) so that the caller's array is not changed.",
           "Set entry 0 to 0, then divide the whole array by its sum."],
    solution="""
    def zero_background(class_weights):
        w = np.array(class_weights, dtype=np.float64)
        w[0] = 0.0
        return w / w.sum()
    """,
    correct_message="predictions on true-Background pixels cost nothing in the competition metric, so "
                    "report 000 gave that class no weight.",
)


def _test_oversample(fn) -> None:
    expect_callable(fn)
    rng = np.random.default_rng(4)
    masks = rng.integers(0, 4, size=(10, 8, 16)).astype(np.uint8)
    rare = np.array([2, 3, 7])
    masks[rare, 2:4, 5:7] = 4
    for factor in (4, 2):
        got = as_array(fn(masks.copy(), class_id=4, factor=factor), "oversample_indices(masks)").ravel()
        counts = np.bincount(got.astype(np.int64), minlength=len(masks)) if got.size else np.zeros(len(masks), int)
        others = np.setdiff1d(np.arange(len(masks)), rare)
        expect(np.all(counts[others] >= 1), f"images {others[counts[others] == 0].tolist()} disappeared: every image "
                                            "should be listed at least once")
        if np.all(counts[rare] == factor + 1):
            raise Incorrect(f"images with class 4 appear {factor + 1} times: `factor` is the total number of copies, "
                            "the original included")
        expect(np.all(counts[rare] == factor), f"for factor={factor} each image with class 4 should appear {factor} "
                                               f"times, counts were {counts[rare].tolist()}")
        expect(np.all(counts[others] == 1), "images without class 4 should appear exactly once")


q3 = Question(
    "q3", "oversample_indices(masks, class_id, factor) -> indices listing rare-class images `factor` times",
    _test_oversample,
    function="oversample_indices", points=2,
    hints=["First find which images contain `class_id`: `(masks == class_id).any(axis=(1, 2))`.",
           "`np.repeat(np.arange(N), repeats)` repeats index i `repeats[i]` times; make `repeats` `factor` for the "
           "rare images and 1 for the others (`np.where`)."],
    solution="""
    def oversample_indices(masks, class_id=4, factor=4):
        has_class = (masks == class_id).any(axis=(1, 2))
        return np.repeat(np.arange(len(masks)), np.where(has_class, factor, 1))
    """,
    correct_message="report 000 quadrupled its Big Rock images this way in its last training phases.",
)

QUESTIONS = [q1, q2, q3]
