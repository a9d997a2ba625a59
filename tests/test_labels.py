"""marslab.labels: region growing (report 004 §3), a measurable rule for wrong masks, label agreement."""
import numpy as np
import pytest

from marslab import labels
from marslab.postprocess import disk


def flat_and_textured(h=8, w=16):
    """Left half constant 100 (flat), right half a 0/200 checkerboard (anything but flat)."""
    image = np.full((h, w), 100, np.uint8)
    image[:, w // 2:] = np.where(np.indices((h, w // 2)).sum(0) % 2, 200, 0)
    return image


def test_local_variation_is_the_range_in_the_disk_by_brute_force():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (7, 9)).astype(np.uint8)
    footprint = disk(2)
    expected = np.zeros(image.shape)
    for r, c in np.ndindex(image.shape):
        values = [image[r + dr, c + dc] for dr, dc in np.argwhere(footprint) - 2
                  if 0 <= r + dr < 7 and 0 <= c + dc < 9]
        expected[r, c] = max(values) - min(values)
    np.testing.assert_array_equal(labels.local_variation(image, 2), expected)


def test_a_region_grows_over_the_flat_half_and_stops_at_the_texture():
    image = flat_and_textured()
    mask = np.zeros(image.shape, np.uint8)
    mask[3, 1] = 1                                   # one labelled pixel of Soil in the flat half
    grown = labels.grow_regions(image[None], mask[None], radius=1, threshold=10, iterations=20)[0]
    # column 6's 3x3 disks are flat, so they are seeds and claim column 7; column 7's disks reach the
    # checkerboard, so it seeds nothing and column 8 stays unlabelled
    expected = np.zeros_like(mask)
    expected[:, :8] = 1
    np.testing.assert_array_equal(grown, expected)
    one_step = labels.grow_regions(image[None], mask[None], radius=1, threshold=10, iterations=1)[0]
    np.testing.assert_array_equal(np.argwhere(one_step == 1), np.argwhere(disk(1)) + [2, 0])  # one 3x3 disk


def test_growing_only_overwrites_the_labels_it_is_allowed_to():
    image = np.full((6, 6), 50, np.uint8)           # flat everywhere: every labelled pixel is a seed
    mask = np.full((6, 6), 2, np.uint8)             # Bedrock,
    mask[2, 2] = 3                                   # one Sand pixel inside it,
    mask[:, 5] = 0                                   # and an unlabelled column
    only_background = labels.grow_regions(image[None], mask[None], radius=1, threshold=5, iterations=1)[0]
    expected = np.full((6, 6), 2, np.uint8)
    expected[2, 2] = 3                               # labels other than Background are kept
    np.testing.assert_array_equal(only_background, expected)
    anything = labels.grow_regions(image[None], mask[None], radius=1, threshold=5, iterations=1, overwrite=None)[0]
    np.testing.assert_array_equal(anything, np.full((6, 6), 2))   # the Sand pixel: 8 Bedrock seeds against 1


def test_correlation_ratio_against_the_group_means_formula():
    rng = np.random.default_rng(1)
    values, groups = rng.normal(size=200), rng.integers(0, 5, 200)
    means = {g: values[groups == g].mean() for g in np.unique(groups)}
    between = sum((groups == g).sum() * (m - values.mean()) ** 2 for g, m in means.items())
    assert labels.correlation_ratio(values, groups) == pytest.approx(between / (values.var() * 200))
    assert labels.correlation_ratio(np.ones(10), np.arange(10) % 5) == 0.0


def test_a_mask_that_follows_its_image_fits_better_than_a_shifted_one():
    rng = np.random.default_rng(2)
    image = np.where(np.arange(64)[None, :] < 32, 60, 160) + rng.normal(0, 3, (32, 64))
    image = np.clip(image, 0, 255).astype(np.uint8)
    aligned = np.where(np.arange(64)[None, :] < 32, 1, 2).repeat(32, 0).astype(np.uint8)
    shifted = np.roll(aligned, 12, axis=1)
    scores = labels.mask_fit_scores(np.stack([image, image]), np.stack([aligned, shifted]))
    assert scores[0] > scores[1] and 0 <= scores.min() and scores.max() <= 1
    keep = labels.discard_masks(np.stack([image, image, image]), np.stack([aligned, shifted, aligned]), 1 / 3)
    np.testing.assert_array_equal(keep, [0, 2])


def test_prediction_agreement_and_keep_best_by_hand():
    masks = np.zeros((3, 2, 2), np.uint8)
    preds = masks.copy()
    preds[1, 0, :] = 1                                  # image 1: half the pixels disagree
    preds[2, 0, 0] = 1                                  # image 2: a quarter
    scores = labels.prediction_agreement(preds, masks)
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.75])
    np.testing.assert_array_equal(labels.keep_best(scores, 1 / 3), [0, 2])
    np.testing.assert_array_equal(labels.keep_best(scores, 0.0), [0, 1, 2])


def test_agreement_by_hand():
    reference = np.array([[[0, 1, 1, 2]]])
    masks = np.array([[[1, 1, 2, 2]]])
    row = labels.agreement(masks, reference)
    assert row["pixels"] == pytest.approx(0.5)
    # the metric ignores the true-Background pixel: Soil 1/2, Bedrock 1/2 (classes 3, 4 absent: not counted)
    assert row["mean IoU"] == pytest.approx(0.5)


def test_bad_input_is_named():
    image, mask = np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8)
    with pytest.raises(ValueError, match="one shape"):
        labels.grow_regions(image, mask[:, :3])
    with pytest.raises(ValueError, match="labels 0..4"):
        labels.grow_regions(image, mask + 7)
    with pytest.raises(ValueError, match="radius"):
        labels.grow_regions(image, mask, radius=0)
    with pytest.raises(ValueError, match="fraction"):
        labels.discard_masks(image, mask, 1.0)
