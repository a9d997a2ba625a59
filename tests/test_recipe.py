"""The course's final recipe: its network, class weights (against the formula) and loss (against NumPy)."""
import keras
import numpy as np
import pytest

from marslab import recipe
from marslab.models import unet


def test_recipe_model_architectures():
    model = recipe.recipe_model(filters=4, depth=3)
    assert model.output_shape == (None, 64, 128, 5)
    assert model.count_params() == unet(filters=4, depth=3).count_params()  # the baseline's own network
    assert "standardize" not in [layer.name for layer in model.layers]
    standardized = recipe.recipe_model(filters=4, depth=3, standardize_input=True)
    assert standardized.get_layer("standardize").count_params() == 0  # a weightless first layer
    assert standardized.count_params() == model.count_params()
    other = recipe.recipe_model(filters=4, depth=3, architecture="unet3plus", cat_channels=4)
    assert other.output_shape == (None, 64, 128, 5) and other.name == "recipe_unet3plus"
    with pytest.raises(ValueError, match="architecture must be one of"):
        recipe.recipe_model(architecture="segformer")


def test_recipe_weights_are_inverse_frequency_to_a_power_with_mean_pixel_weight_one():
    masks = np.random.default_rng(0).integers(0, 5, (2, 64, 128)).astype("uint8")
    freqs = np.bincount(masks.ravel(), minlength=5) / masks.size
    for power, weights in ((1.0, recipe.recipe_weights(masks, power=1.0)),
                           (0.5, recipe.recipe_weights(masks))):  # the default power is 0.5
        expected = np.r_[0.0, (1 / freqs[1:]) ** power]  # inverse frequency ** power, background zeroed,
        np.testing.assert_allclose(weights, expected / (freqs @ expected), rtol=1e-6)  # mean pixel weight 1


def reference_recipe_loss(labels, probs, w, dice):
    """NumPy: mean over pixels of w_y * -log p_y, plus dice * the w-weighted mean over classes of
    1 - (2 TP + 1) / (2 TP + FP + FN + 1), counts summed over the whole batch."""
    onehot = np.eye(5)[labels]
    cce = np.mean(np.sum(onehot * w * -np.log(probs), axis=-1))
    tp = (onehot * probs).sum((0, 1, 2))
    fp = ((1 - onehot) * probs).sum((0, 1, 2))
    fn = (onehot * (1 - probs)).sum((0, 1, 2))
    soft_dice = 1 - (2 * tp + 1) / (2 * tp + fp + fn + 1)
    return cce + dice * np.sum(w * soft_dice) / np.sum(w)


@pytest.mark.parametrize("dice", [0.0, 1.0, 2.5])
def test_recipe_loss_is_weighted_cross_entropy_plus_weighted_dice(dice):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 5, (3, 64, 128))
    labels[0, :4, :4] = 4                                   # Big Rock present, rare
    logits = rng.normal(size=(3, 64, 128, 5))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    loss = recipe.recipe_loss(labels.astype("uint8"), dice=dice)
    w = recipe.recipe_weights(labels.astype("uint8"))
    got = float(loss(labels, probs.astype("float32")))
    assert got == pytest.approx(reference_recipe_loss(labels, probs, w, dice), rel=1e-4)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))  # saves with a model
    assert float(restored(labels, probs.astype("float32"))) == pytest.approx(got, rel=1e-6)
    with pytest.raises(ValueError, match="dice must be >= 0"):
        recipe.recipe_loss(labels.astype("uint8"), dice=-1)
