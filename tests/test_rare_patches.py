"""marslab.rare_patches: rock crops, the conditional GAN's training, pasting and the patch features."""
import numpy as np
import pytest

from marslab import rare_patches as rp


def scene(n=6, seed=0):
    """Flat images with one bright 5x5 rock each (class 4) on Soil (class 1)."""
    rng = np.random.default_rng(seed)
    images = np.full((n, 64, 128), 60, np.uint8)
    masks = np.ones((n, 64, 128), np.uint8)
    for k in range(n):
        r, c = rng.integers(5, 50), rng.integers(5, 110)
        images[k, r:r + 5, c:c + 5] = 160
        masks[k, r:r + 5, c:c + 5] = 4
    return images, masks


def test_rock_crops_centre_each_rock_and_keep_its_shape():
    images, masks = scene()
    crops, shapes = rp.rock_crops(images, masks, size=16)
    assert crops.shape == shapes.shape == (6, 16, 16)
    assert np.all(shapes.sum((1, 2)) == 25) and np.all(crops[shapes] == 160) and np.all(crops[~shapes] == 60)
    with pytest.raises(ValueError, match="no region of class 4"):
        rp.rock_crops(images, np.ones_like(masks))


def test_rock_features_by_hand():
    images, masks = scene(n=2)
    np.testing.assert_allclose(rp.rock_features(images, masks), [[100.0, 0.0], [100.0, 0.0]])


def test_the_gan_trains_both_networks_and_generates_bytes():
    images, masks = scene(n=8)
    crops, shapes = rp.rock_crops(images, masks, size=16)
    generator, discriminator, seconds = rp.train_gan(crops, shapes, steps=3, batch_size=4)
    untrained_g, untrained_d = rp.build_generator(16), rp.build_discriminator(16)
    # every weight of both networks moved away from a fresh initialisation with the same seed
    import keras
    keras.utils.set_random_seed(0)
    fresh_g, fresh_d = rp.build_generator(16), rp.build_discriminator(16)
    for trained, fresh in ((generator, fresh_g), (discriminator, fresh_d)):
        moved = [not np.allclose(a, b) for a, b in zip(trained.get_weights(), fresh.get_weights())]
        assert all(moved), trained.name
    out = rp.generate(generator, shapes[:3])
    assert out.shape == (3, 16, 16) and out.dtype == np.uint8 and seconds > 0
    assert untrained_g.count_params() == generator.count_params()
    assert untrained_d.count_params() == discriminator.count_params()


def test_paste_generated_labels_exactly_the_pasted_rock():
    images, masks = scene(n=4)
    images[:], masks[:] = 60, 1                      # targets without rocks
    crop, shape = np.full((1, 8, 8), 250, np.uint8), np.zeros((1, 8, 8), bool)
    shape[0, 2:5, 2:6] = True
    new_images, new_masks = rp.paste_generated(images, masks, crop, shape, n=5)
    assert np.all((new_masks == 4).sum((1, 2)) == 12)
    assert np.all(new_images[new_masks == 4] == 250) and np.all(new_images[new_masks != 4] == 60)
