"""The tf.data pipeline: shapes, dtypes, normalisation, shuffling, oversampling, input errors."""
import numpy as np
import pytest

from marslab import pipeline
from marslab.pipeline import make_dataset


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (70, 64, 128), dtype=np.uint8)
    masks = rng.integers(0, 4, (70, 64, 128), dtype=np.uint8)  # labels 0-3 ...
    masks[[3, 10, 11, 40], 5:9, 7:20] = 4  # ... and Big Rock in four images only
    return images, masks


def epoch(ds):
    """All batches of one pass, concatenated: (images, masks) as NumPy arrays."""
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_shapes_dtypes_and_normalisation(pairs):
    images, masks = pairs
    x, y = epoch(make_dataset(images, masks, batch_size=32))
    assert x.shape == (70, 64, 128, 1) and x.dtype == np.float32
    assert y.shape == (70, 64, 128) and y.dtype == np.int32
    np.testing.assert_allclose(x[..., 0], images / 255.0, atol=1e-6)  # unshuffled: same order
    np.testing.assert_array_equal(y, masks)


def test_batch_sizes_and_drop_remainder(pairs):
    images, masks = pairs
    sizes = [len(y) for _, y in make_dataset(images, masks, batch_size=32)]
    assert sizes == [32, 32, 6]
    sizes = [len(y) for _, y in make_dataset(images, masks, batch_size=32, drop_remainder=True)]
    assert sizes == [32, 32]


def test_images_only(pairs):
    images, _ = pairs
    batches = list(make_dataset(images, batch_size=50))
    assert [b.shape for b in batches] == [(50, 64, 128, 1), (20, 64, 128, 1)]


def test_shuffle_is_a_permutation_new_each_epoch_and_seeded(pairs):
    images, masks = pairs
    ds = make_dataset(images, masks, batch_size=16, shuffle=True, seed=3)
    x1, y1 = epoch(ds)
    x2, _ = epoch(ds)
    # Every image exactly once, each still with its own mask.
    order = [int(np.flatnonzero((images == (x * 255).round()[..., 0].astype(np.uint8)).all(axis=(1, 2)))[0]) for x in x1]
    assert sorted(order) == list(range(70))
    np.testing.assert_array_equal(y1, masks[order])
    assert not np.array_equal(x1, x2), "a new order every epoch"
    again, _ = epoch(make_dataset(images, masks, batch_size=16, shuffle=True, seed=3))
    np.testing.assert_array_equal(x1, again)
    other, _ = epoch(make_dataset(images, masks, batch_size=16, shuffle=True, seed=4))
    assert not np.array_equal(x1, other)


def image_counts(ds, images):
    """How often each of `images` appears in one pass of `ds` (images identified by their pixels)."""
    x, _ = epoch(ds)
    seen = np.round(x[..., 0] * 255).astype(np.uint8).reshape(len(x), -1)
    lookup = {row.tobytes(): i for i, row in enumerate(images.reshape(len(images), -1))}
    return np.bincount([lookup[row.tobytes()] for row in seen], minlength=len(images))


def test_oversample_counts(pairs):
    images, masks = pairs
    counts = image_counts(make_dataset(images, masks, batch_size=32, shuffle=True, oversample={4: 4}), images)
    has_rock = (masks == 4).any(axis=(1, 2))
    assert has_rock.sum() == 4
    assert (counts[has_rock] == 4).all() and (counts[~has_rock] == 1).all()  # 70 + 3 * 4 pairs


def test_oversample_largest_factor_wins(pairs):
    images, masks = pairs
    counts = image_counts(make_dataset(images, masks, batch_size=32, oversample={4: 3, 1: 2}), images)
    has_rock = (masks == 4).any(axis=(1, 2))
    assert (counts[has_rock] == 3).all() and (counts[~has_rock] == 2).all()  # every image has Soil


@pytest.mark.parametrize(
    "images, masks, error, words",
    [
        (np.zeros((4, 64, 64), np.uint8), None, ValueError, "(N, 64, 128)"),
        (np.zeros((4, 64, 128), np.float32), None, TypeError, "uint8"),
        ([[0]], None, TypeError, "NumPy array"),
        (np.zeros((0, 64, 128), np.uint8), None, ValueError, "N >= 1"),
        (np.zeros((4, 64, 128), np.uint8), np.zeros((3, 64, 128), np.uint8), ValueError, "one mask per image"),
        (np.zeros((4, 64, 128), np.uint8), np.full((4, 64, 128), 5, np.uint8), ValueError, "0..4"),
        (np.zeros((4, 64, 128), np.uint8), np.full((4, 64, 128), -1, np.int32), ValueError, "0..4"),
        (np.zeros((4, 64, 128), np.uint8), np.zeros((4, 64, 128), np.float32), TypeError, "integer"),
    ],
)
def test_bad_input_errors(images, masks, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_dataset(images, masks)


def test_bad_options(pairs):
    images, masks = pairs
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(images, masks, batch_size=0)
    with pytest.raises(ValueError, match="need masks"):
        make_dataset(images, oversample={4: 2})
    with pytest.raises(ValueError, match="factor"):
        make_dataset(images, masks, oversample={4: 0})
    with pytest.raises(ValueError, match="class 7"):
        make_dataset(images, masks, oversample={7: 2})


def test_images_per_second_counts_every_image(pairs):
    images, masks = pairs
    assert pipeline.images_per_second(make_dataset(images, masks, batch_size=32), passes=2) > 0
    assert pipeline.images_per_second(make_dataset(images, batch_size=32)) > 0
