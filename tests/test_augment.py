"""Joint augmentation: masks stay labels, move with their images, photometric ones leave masks alone."""
import numpy as np
import pytest
import keras
import tensorflow as tf
from scipy import ndimage

from marslab.augment import (PRESETS, RandomAffine, augment_offline, build_augmentation, copy_paste, paste_region)
from marslab.pipeline import make_dataset

LEVELS = np.array([20, 70, 120, 170, 220])  # the image grey level of each label
GEOMETRIC = [dict(flip=True), dict(rotation=0.08), dict(shift=0.2), dict(zoom=0.3), PRESETS["geometric"]]
PHOTOMETRIC = [dict(blur=1.5), dict(noise=0.05), dict(brightness=0.2), dict(contrast=0.3), PRESETS["photometric"]]


@pytest.fixture(scope="module")
def banded():
    """Masks made of 8x8 label blocks and images whose grey level encodes the label."""
    rng = np.random.default_rng(1)
    masks = np.kron(rng.integers(0, 5, (16, 8, 16)), np.ones((1, 8, 8), np.int64)).astype(np.uint8)
    return LEVELS[masks].astype(np.uint8), masks


def labels_from_image(images):
    """Read the labels back from grey levels: the nearest level wins."""
    return np.abs(images[..., None] * 255.0 - LEVELS).argmin(axis=-1)


def one_batch(images, masks, augmentation):
    x, y = next(iter(make_dataset(images, masks, batch_size=len(images), augment=augmentation)))
    return x.numpy()[..., 0], y.numpy()


@pytest.mark.parametrize("strengths", GEOMETRIC)
def test_geometric_moves_image_and_mask_together(banded, strengths):
    images, masks = banded
    x, y = one_batch(images, masks, build_augmentation(seed=2, **strengths))
    assert not np.array_equal(y, masks), "the transform should have moved something"
    # Away from label edges the image (bilinear) and the mask (nearest) must tell the same story.
    interior = np.stack([ndimage.minimum_filter(m, 3) == ndimage.maximum_filter(m, 3) for m in y])
    agree = (labels_from_image(x) == y)[interior].mean()
    assert agree > 0.99
    control = (labels_from_image(x) == masks)[interior].mean()  # the mask left where it was
    assert control < 0.9


GEOMETRIC_LAYERS = [dict(rotation=0.1), dict(shift=0.2), dict(zoom=0.3), dict(flip=True),
                    dict(rotation=0.1, shift=0.2, zoom=0.3), PRESETS["geometric"]]


@pytest.mark.parametrize("strengths", GEOMETRIC_LAYERS)
@pytest.mark.parametrize("library", ["keras", "keras_cv"])
def test_geometric_layers_never_interpolate_masks(banded, strengths, library):
    """On every Keras the course admits (Colab's 3.13 included), a mask keeps exactly its class values."""
    if library == "keras_cv":
        pytest.importorskip("keras_cv", reason="keras-cv is the optional extra marslab[keras-cv]")
    _, masks = banded
    data = {"images": tf.random.uniform((len(masks), 64, 128, 1)),
            "segmentation_masks": tf.constant(masks[..., None], tf.float32)}
    for layer in build_augmentation(seed=0, library=library, **strengths).layers:
        data = layer(data, training=True)
    values = np.unique(data["segmentation_masks"].numpy())
    assert set(values.tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}, values


def test_random_affine_matches_scipy_on_images_and_masks(banded):
    """The layer's per-image maps, applied by scipy.ndimage (an independent implementation), give the same
    images (bilinear, order 1) and masks (nearest, order 0), with reflection at the borders."""
    images, masks = banded
    layer = RandomAffine(rotation=0.05, shift=0.1, zoom=0.2, seed=3)
    x = images[:4, ..., None].astype(np.float32)
    y = masks[:4, ..., None].astype(np.float32)
    transforms = np.asarray(layer.transforms(tf.constant(x)))
    out_x = keras.ops.image.affine_transform(x, transforms, interpolation="bilinear", fill_mode="reflect")
    assert transforms.shape == (4, 8) and np.allclose(transforms[:, 6:], 0)
    layer.seed_generator = keras.random.SeedGenerator(3)  # the same draws again
    out = layer({"images": tf.constant(x), "segmentation_masks": tf.constant(y)})
    for i, t in enumerate(transforms):
        matrix, offset = np.array([[t[4], t[3]], [t[1], t[0]]]), np.array([t[5], t[2]])  # (row, col) order
        want_x = ndimage.affine_transform(x[i, ..., 0], matrix, offset, order=1, mode="reflect")
        want_y = ndimage.affine_transform(y[i, ..., 0], matrix, offset, order=0, mode="reflect")
        np.testing.assert_allclose(np.asarray(out_x)[i, ..., 0], want_x, atol=0.5)
        assert (out["segmentation_masks"].numpy()[i, ..., 0] == want_y).mean() > 0.995
    assert not np.array_equal(out["segmentation_masks"].numpy(), y)


def test_random_affine_is_the_identity_outside_training_and_at_zero_strength(banded):
    images, masks = banded
    data = {"images": tf.constant(images[..., None], tf.float32), "segmentation_masks": tf.constant(masks[..., None])}
    same = RandomAffine(rotation=0.1, seed=0)(data, training=False)
    np.testing.assert_array_equal(same["segmentation_masks"].numpy(), masks[..., None])
    transforms = np.asarray(RandomAffine(seed=0).transforms(data["images"]))
    np.testing.assert_allclose(transforms, np.tile([1, 0, 0, 0, 1, 0, 0, 0], (len(images), 1)), atol=1e-5)
    with pytest.raises(ValueError, match="rotation must be in"):
        RandomAffine(rotation=0.7)


@pytest.mark.parametrize("strengths", PHOTOMETRIC)
def test_photometric_leave_masks_bit_identical(banded, strengths):
    images, masks = banded
    x, y = one_batch(images, masks, build_augmentation(seed=3, **strengths))
    np.testing.assert_array_equal(y, masks)
    assert not np.allclose(x, images / 255.0), "the image should have changed"
    assert x.min() >= 0.0 and x.max() <= 1.0


@pytest.mark.parametrize("preset", list(PRESETS))
def test_masks_keep_labels_0_to_4(banded, preset):
    images, masks = banded
    _, y = one_batch(images, masks, build_augmentation(preset, seed=4))
    assert y.dtype == np.int32 and set(np.unique(y).tolist()) <= set(range(5))


def test_seed_reproduces_a_batch(banded):
    images, masks = banded

    def first(seed):
        x, y = next(iter(make_dataset(images, masks, batch_size=8, shuffle=True, seed=seed,
                                     augment=build_augmentation("all", seed=seed))))
        return x.numpy(), y.numpy()

    (x1, y1), (x2, y2), (x3, _) = first(5), first(5), first(6)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)


def test_batches_get_fresh_draws(banded):
    images, masks = banded
    doubled_images, doubled_masks = np.concatenate([images, images]), np.concatenate([masks, masks])
    batches = [x.numpy() for x, _ in make_dataset(doubled_images, doubled_masks, batch_size=16,
                                                    augment=build_augmentation("photometric", seed=0))]
    assert not np.allclose(batches[0], batches[1]), "the same images in two batches must get different noise"


def test_paste_region_against_hand_made_case():
    image = np.full((64, 128), 100, np.uint8)
    mask = np.ones((64, 128), np.uint8)
    source = np.arange(64 * 128).reshape(64, 128).astype(np.uint8)
    region = np.zeros((64, 128), bool)
    region[10:14, 20:25] = True
    new_image, new_mask = paste_region(image, mask, source, region, offset=(3, -5))
    expected_image, expected_mask = image.copy(), mask.copy()
    expected_image[13:17, 15:20] = source[10:14, 20:25]
    expected_mask[13:17, 15:20] = 4
    np.testing.assert_array_equal(new_image, expected_image)
    np.testing.assert_array_equal(new_mask, expected_mask)
    assert image[0, 0] == 100 and mask.max() == 1, "inputs are not modified"


def test_paste_region_drops_pixels_moved_off_the_image():
    region = np.zeros((64, 128), bool)
    region[0:4, 0:4] = True
    _, new_mask = paste_region(np.zeros((64, 128), np.uint8), np.zeros((64, 128), np.uint8),
                               np.zeros((64, 128), np.uint8), region, offset=(-2, -2))
    assert (new_mask == 4).sum() == 4


def test_copy_paste_masks_match_pasted_pixels(banded):
    images, masks = banded
    masks = masks.copy()
    masks[masks == 4] = 3
    masks[0, 8:16, 8:24], masks[1, 30:38, 60:70] = 4, 4  # two rock sources
    images = np.where(masks == 4, 250, images).astype(np.uint8)  # rocks are bright
    new_images, new_masks = copy_paste(images, masks, n=12, seed=0)
    assert new_images.shape == (12, 64, 128) and new_images.dtype == np.uint8 and new_masks.dtype == np.uint8
    assert (new_masks == 4).any(axis=(1, 2)).all(), "every new pair carries a rock"
    np.testing.assert_array_equal(new_images == 250, new_masks == 4)  # rock pixels and rock labels coincide


def test_copy_paste_without_a_source_pastes_nothing_and_says_so(banded):
    images, masks = banded
    with pytest.warns(UserWarning, match="no image contains class 4, so nothing is pasted"):
        new_images, new_masks = copy_paste(images, np.minimum(masks, 3), n=2)
    assert new_images.shape == new_masks.shape == (0, 64, 128) and new_images.dtype == new_masks.dtype == np.uint8


def test_offline_augmentation_grows_the_set(banded):
    images, masks = banded
    big_images, big_masks = augment_offline(images, masks, 40, build_augmentation("all", seed=0), seed=0)
    assert big_images.shape == (40, 64, 128) and big_images.dtype == np.uint8
    assert big_masks.shape == (40, 64, 128) and big_masks.dtype == np.uint8
    np.testing.assert_array_equal(big_images[:16], images)
    assert set(np.unique(big_masks).tolist()) <= set(range(5))
    with pytest.raises(ValueError, match="at least"):
        augment_offline(images, masks, 10, build_augmentation("all"))


def test_bad_augmentation_options():
    with pytest.raises(ValueError, match="unknown preset"):
        build_augmentation("strong")
    with pytest.raises(ValueError, match="unknown augmentation strength"):
        build_augmentation(rotate=0.1)
    with pytest.raises(ValueError, match="positive"):
        build_augmentation(noise=-0.1)
    with pytest.raises(ValueError, match="library"):
        build_augmentation(noise=0.1, library="albumentations")
    assert build_augmentation("all", noise=0).strengths.get("noise") is None


def test_noise_layer_round_trips_through_keras_serialization():
    import keras

    from marslab.augment import RandomGaussianNoise

    layer = RandomGaussianNoise(0.1, seed=3)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomGaussianNoise) and restored.stddev == 0.1 and restored.seed == 3
    noisy = restored(np.zeros((64, 64, 128, 1), np.float32))
    assert abs(float(np.std(noisy)) - 0.1) < 0.01  # N(0, 0.1^2) noise on a blank batch
