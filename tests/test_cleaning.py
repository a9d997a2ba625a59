"""Alien detectors on the synthetic ground truth, the cleaned set, and the stratified split."""
from __future__ import annotations

import numpy as np
import pytest

from marslab import cleaning
from marslab.synthetic import make_mars

ALIEN_BOX = (14, 40, 40, 48)  # (top, left, height, width): the face of the synthetic alien


@pytest.fixture(scope="module")
def mars():
    return make_mars(seed=0, n_train=300, n_test=10, n_aliens=12)


@pytest.mark.parametrize("seed", [0, 1])
def test_fingerprint_finds_exactly_the_generators_aliens(seed):
    data = make_mars(seed=seed, n_train=300, n_test=10, n_aliens=12)
    np.testing.assert_array_equal(cleaning.find_aliens(data.masks), data.alien_index)


def test_fingerprint_flags_nothing_when_no_mask_repeats_often():
    masks = np.random.default_rng(0).integers(0, 5, (40, 8, 16)).astype(np.uint8)
    masks[:9] = masks[9]  # shared 10 times: at min_count
    np.testing.assert_array_equal(cleaning.find_aliens(masks), np.arange(10))
    assert cleaning.find_aliens(masks[1:]).size == 0  # shared 9 times: below it


def test_fingerprint_flags_every_shared_scene_but_no_shared_one_class_mask():
    rng = np.random.default_rng(3)
    masks = rng.integers(0, 5, (120, 8, 16)).astype(np.uint8)
    bordered = np.zeros((8, 16), np.uint8)
    bordered[:-1, :-1] = 1  # Soil with an unlabelled edge, as 69 real AI4Mars crops share it
    band = np.full((8, 16), 2, np.uint8)
    band[:3] = 0  # a Background band over Bedrock
    masks[:40], masks[40:60] = bordered, band  # both more frequent than any alien group below
    first, second = np.arange(60, 72), np.arange(90, 101)
    masks[first], masks[second] = masks[72], masks[101]  # two different scenes, each copied many times
    expected = np.sort(np.r_[first, 72, second, 101])
    np.testing.assert_array_equal(cleaning.find_aliens(masks), expected)
    np.testing.assert_array_equal(cleaning.find_aliens(masks, min_count=13), np.r_[first, 72])


def test_fingerprint_ignores_one_class_masks_and_rare_repeats():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 5, (60, 8, 16)).astype(np.uint8)
    masks[:20] = 0  # unlabelled images: identical, but not copied labels
    masks[20:25] = 2  # all Bedrock
    aliens = np.array([30, 33, 41, 50, 51, 52, 58, 59, 27, 44, 45])
    masks[aliens] = masks[26]
    masks[[1, 2, 3]] = masks[4] = rng.integers(0, 5, (8, 16))  # a second, smaller repeat
    np.testing.assert_array_equal(cleaning.find_aliens(masks), np.sort(np.r_[aliens, 26]))
    assert cleaning.find_aliens(masks, min_count=13).size == 0


def ncc_reference(image: np.ndarray, template: np.ndarray) -> float:
    """Peak normalised cross-correlation by brute force over every valid placement."""
    h, w = template.shape
    t = template - template.mean()
    best = -np.inf
    for i in range(image.shape[0] - h + 1):
        for j in range(image.shape[1] - w + 1):
            win = image[i:i + h, j:j + w] - image[i:i + h, j:j + w].mean()
            denom = np.sqrt((win ** 2).sum() * (t ** 2).sum())
            best = max(best, (win * t).sum() / denom if denom > 0 else 0.0)
    return best


def test_template_scores_match_brute_force_ncc():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 12, 20)).astype(np.uint8)
    template = images[1, 3:8, 4:11].astype(float) * 0.5 + 7  # same pattern, other brightness/contrast
    expected = [ncc_reference(im.astype(float), template) for im in images]
    np.testing.assert_allclose(cleaning.template_scores(images, template), expected, atol=1e-9)
    assert expected[1] == pytest.approx(1.0)


def test_template_matching_separates_the_aliens(mars):
    template = cleaning.crop_template(mars.images[mars.alien_index[0]], ALIEN_BOX)
    scores = cleaning.template_scores(mars.images, template)
    found = cleaning.flag(scores, cleaning.TEMPLATE_THRESHOLD)
    precision, recall = cleaning.precision_recall(found, mars.alien_index)
    # measured on this set: aliens score >= 0.87, other images <= 0.51
    assert precision >= 0.9 and recall >= 0.9


def test_autoencoder_reconstruction_error_flags_aliens(mars):
    model = cleaning.fit_autoencoder(mars.images, epochs=10, batch_size=32, seed=0)
    scores = cleaning.autoencoder_scores(model, mars.images)
    assert scores.shape == (300,)
    found = cleaning.flag(scores, cleaning.robust_threshold(scores, k=5))
    precision, recall = cleaning.precision_recall(found, mars.alien_index)
    # measured (seeds 0-2, 10 epochs, k=5): precision 0.80-0.92, recall 0.92-1.0; chance precision is 0.04
    assert precision >= 0.6 and recall >= 0.75


def test_robust_threshold_is_median_plus_k_mad():
    scores = np.array([1.0, 2.0, 2.5, 3.0, 100.0])
    med = np.median(scores)
    mad = np.median(np.abs(scores - med))
    assert cleaning.robust_threshold(scores, k=3) == pytest.approx(med + 3 * 1.4826 * mad)
    np.testing.assert_array_equal(cleaning.flag(scores, 10.0), [4])


def test_precision_recall():
    assert cleaning.precision_recall([1, 2, 3, 4], [2, 4, 6]) == (0.5, pytest.approx(2 / 3))
    assert cleaning.precision_recall([], [2, 4]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="truth is empty"):
        cleaning.precision_recall([1], [])


def test_remove_images_gives_the_cleaned_set(mars):
    clean = cleaning.remove_images(mars, mars.alien_index)
    assert len(clean.images) == len(clean.masks) == len(clean.clean_masks) == 300 - 12
    assert clean.alien_index.size == 0
    alien_mask = mars.masks[mars.alien_index[0]]
    assert not (clean.masks == alien_mask).all(axis=(1, 2)).any()
    assert clean.test_images is mars.test_images and len(mars.images) == 300  # original untouched
    partial = cleaning.remove_images(mars, [0, 1, mars.alien_index[0]])
    np.testing.assert_array_equal(partial.masks[partial.alien_index], mars.masks[mars.alien_index[1:]])


def test_split_by_group_keeps_every_group_on_one_side():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (200, 4, 4)).astype(np.uint8)
    groups = np.repeat(rng.permutation(100), 2)  # 100 frames of two images each
    rock_groups = rng.permutation(100)[:20]
    masks[np.isin(groups, rock_groups) & (np.arange(200) % 2 == 1), 0, 0] = 4  # Big Rock in one half only
    train, val = cleaning.stratified_split(masks, val_fraction=0.25, seed=1, groups=groups)
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(200))
    assert np.intersect1d(groups[train], groups[val]).size == 0
    assert len(np.unique(groups[val])) == 25
    assert len(np.intersect1d(groups[val], rock_groups)) == 5  # a quarter of the Big Rock frames
    for seed in (0, 3):  # every image its own group: the split by image, as before groups existed
        for a, b in zip(cleaning.stratified_split(masks, 0.25, seed, groups=np.arange(200)),
                        cleaning.stratified_split(masks, 0.25, seed)):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"groups must hold one key per mask, shape \(200,\), got shape \(199,\)"):
        cleaning.stratified_split(masks, groups=groups[1:])


def test_remove_images_keeps_the_frame_ids_aligned():
    from marslab.data import MarsData

    images = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((6, 64, 128), np.uint8)
    data = MarsData(images, np.zeros_like(images), images[:1], "ai4mars", image_id=np.array(list("aabbcc")))
    kept = cleaning.remove_images(data, [1, 4])
    np.testing.assert_array_equal(kept.image_id, list("abbc"))
    np.testing.assert_array_equal(kept.images[:, 0, 0], [0, 2, 3, 5])


def test_stratified_split_keeps_the_rare_class_share_and_repeats(mars):
    train, val = cleaning.stratified_split(mars.masks, val_fraction=0.2, seed=3)
    assert np.intersect1d(train, val).size == 0
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(300))
    has_rock = (mars.masks == 4).any(axis=(1, 2))
    assert abs(has_rock[val].sum() - 0.2 * has_rock.sum()) <= 0.5
    assert abs(len(val) - 60) <= 1
    again = cleaning.stratified_split(mars.masks, val_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(cleaning.stratified_split(mars.masks, val_fraction=0.2, seed=4)[1], val)


@pytest.mark.parametrize("call, error, match", [
    (lambda: cleaning.find_aliens(np.zeros((0, 64, 128), np.uint8)), ValueError, "empty"),
    (lambda: cleaning.find_aliens(np.zeros((64, 128), np.uint8)), ValueError, r"\(N, H, W\)"),
    (lambda: cleaning.find_aliens(np.zeros((2, 64, 128), np.float32)), TypeError, "integer"),
    (lambda: cleaning.find_aliens(np.zeros((2, 4, 4), np.uint8), min_count=1), ValueError, "min_count"),
    (lambda: cleaning.template_scores(np.zeros((2, 8, 8), np.uint8), np.ones((9, 2))), ValueError, "fit inside"),
    (lambda: cleaning.template_scores(np.zeros((2, 8, 8), np.uint8), np.ones((3, 3))), ValueError, "flat"),
    (lambda: cleaning.crop_template(np.zeros((8, 8)), (4, 4, 8, 2)), ValueError, "does not fit"),
    (lambda: cleaning.robust_threshold(np.array([])), ValueError, "non-empty"),
    (lambda: cleaning.stratified_split(np.zeros((4, 2, 2), np.uint8), val_fraction=1.0), ValueError, "val_fraction"),
    (lambda: cleaning.build_autoencoder(depth=7), ValueError, "depth"),
])
def test_bad_input_is_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mask_repeats_counts_identical_masks():
    masks = np.random.default_rng(2).integers(0, 5, (20, 4, 4)).astype(np.uint8)
    masks[[3, 8, 9, 15]] = masks[2]
    masks[[11, 12]] = 0
    repeats = cleaning.mask_repeats(masks, top=3)
    assert repeats[0] == (5, 2, len(np.unique(masks[2])))
    assert repeats[1] == (2, 11, 1)
    assert repeats[2][0] == 1


def test_lesson_helpers_draw_and_tabulate(mars):
    import matplotlib

    matplotlib.use("Agg")
    table = cleaning.detector_table({"perfect": mars.alien_index, "half": mars.alien_index[::2]}, mars.alien_index)
    assert "perfect" in table and "1.000   1.000" in table and "1.000   0.500" in table
    scores = np.random.default_rng(0).random(300)
    ax = cleaning.plot_scores(scores, 0.9, mars.alien_index, "title")
    assert ax.get_title() == "title" and len(ax.lines) == 1
    fig = cleaning.show_images(mars.images, mars.alien_index, "aliens", n=4)
    assert len(fig.axes) == 4
