"""Checks for exercises/02_alien_detector.ipynb: shared-mask fingerprint, robust threshold, precision/recall."""
from __future__ import annotations

import numpy as np

from marslab.checks._core import Incorrect, Question, as_array, expect, expect_callable

MAD_TO_STD = 1.4826  # scales a median absolute deviation to a normal standard deviation


def _planted_set(seed: int, n: int = 40, n_aliens: int = 7, n_pair: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Random masks (n, 8, 16) with one mask copied into `n_aliens` images and another into `n_pair`."""
    rng = np.random.default_rng(seed)
    masks = rng.integers(0, 5, size=(n, 8, 16)).astype(np.uint8)
    order = rng.permutation(n)
    aliens, pair = np.sort(order[:n_aliens]), order[n_aliens:n_aliens + n_pair]
    masks[aliens] = rng.integers(0, 5, size=(8, 16))
    masks[pair] = rng.integers(0, 5, size=(8, 16))
    return masks, aliens


def _test_shared(fn) -> None:
    expect_callable(fn)
    for seed, min_count in ((0, 5), (1, 3)):
        masks, aliens = _planted_set(seed)
        got = as_array(fn(masks.copy(), min_count=min_count), "shared_mask_images(masks)").ravel()
        expect(np.issubdtype(got.dtype, np.integer) or got.size == 0,
               f"expected integer image indices, got dtype {got.dtype} (np.flatnonzero turns booleans into indices)")
        got_set, want_set = set(got.tolist()), set(aliens.tolist())
        missed, extra = sorted(want_set - got_set), sorted(got_set - want_set)
        if len(missed) == 1 and len(extra) == 0 and missed[0] == aliens[0]:
            raise Incorrect(f"you missed image {missed[0]}, the first image with the shared mask: the first copy "
                            "is an alien too, not an original")
        expect(not missed, f"images {missed} share one mask with {len(aliens) - 1} others but you did not flag them")
        expect(not extra, f"you flagged images {extra}, whose mask occurs fewer than min_count={min_count} times "
                          "(two images sharing a mask can happen by chance; use the min_count argument)")
        expect(np.array_equal(got, np.sort(got)), "return the indices sorted (np.sort)")
    clean = np.random.default_rng(5).integers(0, 5, size=(12, 8, 16)).astype(np.uint8)
    got = as_array(fn(clean, min_count=3), "shared_mask_images(masks) on a set without aliens")
    expect(got.size == 0, f"a set where every mask is different has no aliens, you flagged {got.ravel().tolist()}")


q1 = Question(
    "q1", "shared_mask_images(masks, min_count) -> sorted indices of images whose exact mask repeats",
    _test_shared,
    function="shared_mask_images", points=2,
    hints=["Two masks are the same when every pixel agrees; `mask.tobytes()` turns a mask into a key you can "
           "put in a dict.",
           "Group the image indices by `masks[i].tobytes()`, keep the groups with at least `min_count` members, "
           "and return their indices sorted."],
    solution="""
    def shared_mask_images(masks, min_count=10):
        groups = {}
        for i, mask in enumerate(masks):
            groups.setdefault(mask.tobytes(), []).append(i)
        found = [i for members in groups.values() if len(members) >= min_count for i in members]
        return np.array(sorted(found), dtype=np.int64)
    """,
    correct_message="this is the fingerprint that `marslab.cleaning.find_aliens` uses (reports 001, 004).",
)


def _test_threshold(fn) -> None:
    expect_callable(fn)
    rng = np.random.default_rng(7)
    for k in (5.0, 3.0):
        scores = np.concatenate([rng.normal(1.0, 0.1, 200), rng.normal(4.0, 0.5, 12)])
        median = np.median(scores)
        mad = np.median(np.abs(scores - median))
        want = median + k * MAD_TO_STD * mad
        got = fn(scores.copy(), k=k)
        expect(np.ndim(got) == 0, f"expected one number (the cut-off), got shape {np.shape(got)}")
        got = float(got)
        if np.isclose(got, scores.mean() + k * scores.std(), rtol=1e-3):
            raise Incorrect("this is mean + k * std: the outliers themselves inflate both; use the median and "
                            "the median absolute deviation instead")
        if np.isclose(got, median + k * mad, rtol=1e-4):
            raise Incorrect(f"close: scale the MAD by {MAD_TO_STD} so that it matches a standard deviation on "
                            "normal data")
        expect(np.isclose(got, want, rtol=1e-4), f"for k={k} the cut-off should be {want:.4f}, got {got:.4f}")


q2 = Question(
    "q2", "robust_threshold(scores, k) -> median + k * 1.4826 * MAD",
    _test_threshold,
    function="robust_threshold", points=1,
    hints=["The median absolute deviation (MAD) is the median of |score - median(score)|.",
           f"Multiply the MAD by {MAD_TO_STD} to put it on the scale of a standard deviation, then return "
           "`median + k * that`."],
    solution="""
    def robust_threshold(scores, k=5.0):
        median = np.median(scores)
        mad = 1.4826 * np.median(np.abs(scores - median))
        return float(median + k * mad)
    """,
)


def _test_precision_recall(fn) -> None:
    expect_callable(fn)
    cases = [(np.array([1, 2, 3, 9]), np.array([2, 3, 5])),  # 2 of 4 flags right, 2 of 3 aliens found
             (np.array([4, 5, 6]), np.array([4, 5, 6, 7, 8, 9])),
             (np.array([], dtype=np.int64), np.array([1, 2]))]
    for found, truth in cases:
        hits = len(set(found.tolist()) & set(truth.tolist()))
        want = (hits / len(found) if len(found) else 0.0, hits / len(truth))
        got = fn(found.copy(), truth.copy())
        expect(isinstance(got, tuple) and len(got) == 2, f"expected a tuple (precision, recall), got {got!r}")
        got = (float(got[0]), float(got[1]))
        what = f"for found={found.tolist()}, truth={truth.tolist()}"
        if np.allclose(got, want[::-1]) and not np.isclose(want[0], want[1]):
            raise Incorrect(f"{what} your precision and recall are swapped: precision = right flags / all flags, "
                            "recall = aliens found / all aliens")
        expect(np.allclose(got, want), f"{what} expected (precision, recall) = ({want[0]:.3f}, {want[1]:.3f}), "
                                       f"got ({got[0]:.3f}, {got[1]:.3f})")


q3 = Question(
    "q3", "precision_recall(found, truth) -> (precision, recall)",
    _test_precision_recall,
    function="precision_recall", points=1,
    hints=["Count the hits: indices that are both in `found` and in `truth` (Python sets make it one line).",
           "precision = hits / len(found) (0.0 when nothing is flagged), recall = hits / len(truth)."],
    solution="""
    def precision_recall(found, truth):
        hits = len(set(found.tolist()) & set(truth.tolist()))
        precision = hits / len(found) if len(found) else 0.0
        return precision, hits / len(truth)
    """,
)

QUESTIONS = [q1, q2, q3]
