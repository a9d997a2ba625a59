"""Class weights against report 000's tables and independent NumPy formulas."""
from __future__ import annotations

import numpy as np
import pytest

from marslab import weights

# Report 000, Table 1 (class distribution over all pixels, %) and Table 4 (loss weights).
TABLE1 = np.array([24.31, 33.90, 23.28, 18.38, 0.13]) / 100
TABLE4_INV_FREQ = np.array([0.82, 0.59, 0.86, 1.09, 152.22])
TABLE4_ZERO_BG = np.array([0.0, 0.0198, 0.0275, 0.0359, 0.9168])


def toy_masks(seed: int = 0, n: int = 12) -> np.ndarray:
    """Masks with every class present; class 4 in only a few images, as Big Rock."""
    rng = np.random.default_rng(seed)
    masks = rng.choice(4, size=(n, 8, 16), p=[0.3, 0.3, 0.25, 0.15]).astype(np.uint8)
    masks[1, :2, :3] = 4
    masks[5, 4:, 10:] = 4
    masks[6, 0, 0] = 4
    return masks


def test_class_frequencies_are_pixel_fractions():
    masks = toy_masks()
    f = weights.class_frequencies(masks)
    expected = np.array([(masks == c).sum() for c in range(5)]) / masks.size
    np.testing.assert_allclose(f, expected)
    assert f.sum() == pytest.approx(1.0)


def test_inverse_frequency_reproduces_report_000_table_4_row_1():
    w = weights.inverse_frequency(TABLE1)
    np.testing.assert_allclose(w[:4], TABLE4_INV_FREQ[:4], atol=0.005)
    # Table 1 rounds Big Rock to 0.13 %, so 1/(5*0.0013) = 153.8 against the report's 152.22.
    assert w[4] == pytest.approx(TABLE4_INV_FREQ[4], rel=0.015)
    assert np.dot(w, TABLE1) == pytest.approx(1.0)  # pixel-weighted mean weight is 1


def test_zero_background_is_row_1_rescaled_without_background():
    w = weights.zero_background(weights.inverse_frequency(TABLE1))
    ref = 1 / TABLE1[1:]
    np.testing.assert_allclose(w, np.r_[0.0, ref / ref.sum()])


def test_zero_background_against_report_000_table_4_row_2():
    """Row 2 of Table 4 keeps Soil:Bedrock:Sand in inverse-frequency proportion (within 5 %), but
    gives Big Rock 0.9168 where zeroing and renormalising Table 1's weights gives 0.984: the report's
    row cannot be reproduced from its Table 1 (its Big Rock weight is about 5x smaller relative to
    Soil than 1/f implies), so the rule is tested on what the report does agree with."""
    w = weights.zero_background(weights.inverse_frequency(TABLE1))
    assert w[0] == 0.0 and w.sum() == pytest.approx(1.0)
    ours, report = w[1:4] / w[1:4].sum(), TABLE4_ZERO_BG[1:4] / TABLE4_ZERO_BG[1:4].sum()
    np.testing.assert_allclose(ours, report, rtol=0.05)
    assert np.argmax(w) == 4 and w[4] > TABLE4_ZERO_BG[4]


def test_median_frequency_matches_eigen_fergus_definition():
    masks = toy_masks()
    freq = []
    for c in range(5):
        has_c = [m for m in masks if (m == c).any()]
        freq.append(sum((m == c).sum() for m in has_c) / sum(m.size for m in has_c))
    freq = np.array(freq)
    np.testing.assert_allclose(weights.median_frequency(masks), np.median(freq) / freq)


def test_median_frequency_uses_images_where_the_class_is_present():
    masks = np.zeros((4, 2, 2), np.uint8)
    masks[:, 0] = 1  # class 1: half of every image
    masks[0, 1, 0] = 2  # class 2: a quarter of one image, 1/16 of the set
    w = weights.median_frequency(masks, num_classes=3)
    freq = np.array([7 / 16, 8 / 16, 1 / 4])  # class 0 is in all 4 images
    np.testing.assert_allclose(w, np.median(freq) / freq)


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.99999])
def test_effective_number_matches_cui_et_al(beta):
    counts = np.array([5000, 8000, 3000, 2500, 20])
    expected = np.array([(1 - beta) / (1 - beta ** n) for n in counts.tolist()])
    expected = expected / expected.sum() * 5
    np.testing.assert_allclose(weights.effective_number(counts, beta), expected, rtol=1e-10)


def test_effective_number_limits():
    counts = np.array([5000, 8000, 3000, 2500, 20])
    np.testing.assert_allclose(weights.effective_number(counts, 0.0), np.ones(5))
    near_inverse = weights.effective_number(counts, 1 - 1e-9)
    inverse = 1 / counts
    np.testing.assert_allclose(near_inverse, inverse / inverse.sum() * 5, rtol=1e-4)


def test_oversample_indices_repeats_rare_class_images():
    masks = toy_masks()
    idx = weights.oversample_indices(masks, class_id=4, factor=4)
    counts = np.bincount(idx, minlength=len(masks))
    expected = np.where([(m == 4).any() for m in masks], 4, 1)
    np.testing.assert_array_equal(counts, expected)
    share = weights.class_frequencies(masks[idx])[4]
    assert share > weights.class_frequencies(masks)[4]
    np.testing.assert_array_equal(weights.oversample_indices(masks, factor=1), np.arange(len(masks)))


def test_weighting_schemes_each_sum_to_one_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    schemes = weights.weighting_schemes(toy_masks())
    assert len(schemes) == 4
    for w in schemes.values():
        assert w.shape == (5,) and w.sum() == pytest.approx(1.0)
    ax = weights.plot_weights(schemes)
    assert len(ax.patches) == 4 * 5


def test_zero_pixel_class_is_a_clear_error():
    masks = toy_masks()
    masks[masks == 4] = 0
    with pytest.raises(ValueError, match="Big Rock.*no pixels"):
        weights.inverse_frequency(weights.class_frequencies(masks))
    with pytest.raises(ValueError, match="no pixels"):
        weights.median_frequency(masks)
    with pytest.raises(ValueError, match="no pixels"):
        weights.effective_number(weights.class_counts(masks))


@pytest.mark.parametrize("bad, error, match", [
    (np.zeros((0, 64, 128), np.uint8), ValueError, "empty"),
    (np.zeros((2, 4, 4), np.float32), TypeError, "integer"),
    (np.zeros((4, 4), np.uint8), ValueError, r"\(N, H, W\)"),
    (np.full((2, 4, 4), 5, np.uint8), ValueError, "0..4"),
])
def test_bad_masks_are_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        weights.class_frequencies(bad)


def test_bad_weight_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="sum"):
        weights.inverse_frequency(np.array([100, 200, 300, 400, 5]))
    with pytest.raises(ValueError, match="1-D"):
        weights.inverse_frequency(np.array([]))
    with pytest.raises(ValueError, match="beta"):
        weights.effective_number(np.array([1, 2]), beta=1.0)
    with pytest.raises(ValueError, match="factor"):
        weights.oversample_indices(toy_masks(), factor=0)
    with pytest.raises(ValueError, match="nothing left"):
        weights.zero_background(np.array([1.0, 0, 0]))


# ---- class_presence: the one presence table (lesson 01, oversampling, UNet3+'s presence targets) ----
def test_class_presence_matches_a_loop():
    masks = np.random.default_rng(0).choice([0, 1, 3], size=(7, 8, 16)).astype(np.uint8)
    masks[2] = 4
    expected = np.array([[(m == c).any() for c in range(5)] for m in masks])
    assert np.array_equal(weights.class_presence(masks), expected)


def test_class_presence_matches_a_direct_count():
    masks = np.random.default_rng(1).integers(0, 5, (2, 64, 128)).astype("int32")
    expected = np.array([[np.count_nonzero(m == c) > 0 for c in range(5)] for m in masks], "float32")
    m = masks.copy()
    m[0] = 2
    expected[0] = [0, 0, 1, 0, 0]
    np.testing.assert_array_equal(weights.class_presence(m), expected)
    with pytest.raises(ValueError, match="0..4"):
        weights.class_presence(m + 5)
