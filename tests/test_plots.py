"""The course palette and the sample grid."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from marslab import CLASS_NAMES  # noqa: E402
from marslab.plots import PALETTE, colorize, legend_handles, overlay, show_samples  # noqa: E402


def test_palette_has_one_distinct_colour_per_class():
    assert PALETTE.shape == (5, 3) and PALETTE.dtype == np.uint8
    assert len({tuple(c) for c in PALETTE}) == 5


def test_colorize_paints_each_label_in_its_palette_colour():
    masks = np.array([[[0, 1, 2], [3, 4, 0]]], np.uint8)
    rgb = colorize(masks)
    assert rgb.shape == (1, 2, 3, 3) and rgb.dtype == np.uint8
    for y in range(2):
        for x in range(3):
            assert tuple(rgb[0, y, x]) == tuple(PALETTE[masks[0, y, x]])


@pytest.mark.parametrize("bad, error", [(np.array([[5]]), ValueError), (np.array([[-1]]), ValueError),
                                        (np.array([[1.0]]), TypeError)])
def test_colorize_refuses_non_labels(bad, error):
    with pytest.raises(error):
        colorize(bad)


def test_overlay_blends_gray_image_and_colour():
    images = np.full((2, 4, 4), 100, np.uint8)
    masks = np.zeros((2, 4, 4), np.uint8)
    masks[1] = 4
    assert np.array_equal(overlay(images, masks, alpha=0.0)[..., 0], images)
    assert np.array_equal(overlay(images, masks, alpha=1.0), colorize(masks))
    half = overlay(images, masks, alpha=0.5)
    assert np.allclose(half[1, 0, 0], 0.5 * 100 + 0.5 * PALETTE[4].astype(float), atol=1)
    assert np.array_equal(overlay(images / 255.0, masks, 0.0)[..., 0], images)  # floats in [0, 1] too
    with pytest.raises(ValueError, match="same shape"):
        overlay(images, masks[:1])


def test_show_samples_grid_and_legend():
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 64, 128)).astype(np.uint8)
    masks = rng.integers(0, 5, (10, 64, 128)).astype(np.uint8)
    probs = rng.random((10, 64, 128, 5)).astype(np.float32)
    fig = show_samples(images, masks, probs, n=3)
    assert len(fig.axes) == 3 * 3
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [f"{c} {n}" for c, n in enumerate(CLASS_NAMES)]
    shown = fig.axes[2].images[0].get_array()  # the prediction panel of the first row: argmax of probs
    assert np.array_equal(np.asarray(shown), overlay(images[0], np.argmax(probs[0], -1)))
    plt.close(fig)
    fig = show_samples(images[..., None], n=2, index=[4, 7])
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="masks must have the shape"):
        show_samples(images, masks[:, :32])
    assert len(legend_handles()) == 5


def test_browse_has_a_slider_over_all_images_and_redraws():
    import matplotlib.pyplot as plt

    from marslab.plots import browse

    plt.close("all")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 64, 128)).astype(np.uint8)
    masks = rng.integers(0, 5, (4, 64, 128)).astype(np.uint8)
    slider, image = browse(images, masks, masks, start=1).children
    assert (slider.min, slider.max, slider.value) == (0, 3, 1)
    first = bytes(image.value)
    assert first.startswith(b"\x89PNG")
    slider.value = 3  # moving the slider draws the new image without error
    assert slider.value == 3 and bytes(image.value) != first and bytes(image.value).startswith(b"\x89PNG")
    assert not plt.get_fignums(), "the pictures are PNGs in a display, no figure is left open"
    with pytest.raises(ValueError, match="start must be an int >= 0 and <= 3"):
        browse(images, masks, start=4)
