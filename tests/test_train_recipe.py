"""train_recipe, the recipe in one call, on tiny array sets: shapes, a history, a frame-level split, a model
that predicts, absent classes (weight 0, no paste, one warning) and the recipe's batches against NumPy."""
import warnings

import numpy as np
import pytest

from marslab.recipe import RecipeBatches, TimeBudget, recipe_weights, train_recipe
from marslab.synthetic import make_mars


@pytest.fixture(scope="module")
def tiny():
    data = make_mars(seed=3, n_train=48, n_test=8, n_aliens=0)
    groups = np.repeat(np.arange(24), 2)  # two crops per "frame", as in the real AI4Mars sample
    return data, groups


@pytest.fixture(scope="module")
def run(tiny):
    data, groups = tiny
    return train_recipe(data.images, data.masks, groups=groups, profile="smoke", epochs=2, copies=4, seed=0)


def test_train_recipe_returns_a_model_that_predicts_and_a_history(run, tiny):
    data, _ = tiny
    probs = np.asarray(run.model.predict(data.test_images[..., None] / 255.0, verbose=0))
    assert probs.shape == (8, 64, 128, 5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)
    assert set(run.history) >= {"loss", "val_loss", "mean_iou", "val_mean_iou"}
    assert all(len(v) == 2 and np.isfinite(v).all() for v in run.history.values())
    assert run.seconds > 0


def test_train_recipe_splits_by_frame_and_covers_every_image(run, tiny):
    _, groups = tiny
    assert len(np.intersect1d(run.train_index, run.val_index)) == 0
    np.testing.assert_array_equal(np.union1d(run.train_index, run.val_index), np.arange(48))
    assert not set(groups[run.train_index]) & set(groups[run.val_index])  # no frame on both sides
    assert 0.05 < len(run.val_index) / 48 < 0.3


def test_train_recipe_weights_are_the_recipe_weights_of_its_training_masks(run, tiny):
    data, _ = tiny
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = recipe_weights(data.masks[run.train_index])
    np.testing.assert_allclose(run.class_weights, expected, rtol=1e-6)
    assert run.class_weights[0] == 0


def test_absent_class_gets_weight_zero_no_paste_and_one_warning(tiny):
    data, groups = tiny
    masks = data.masks.copy()
    masks[masks == 4] = 1  # no Big Rock anywhere
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = train_recipe(data.images, masks, groups=groups, profile="smoke", epochs=1, copies=4)
    ours = [w for w in caught if "train_recipe" in str(w.message)]
    assert len(ours) == 1 and "Big Rock" in str(ours[0].message) and "copy-paste" in str(ours[0].message)
    assert not [w for w in caught if "copy_paste" in str(w.message) or "have no pixels" in str(w.message)]
    assert run.absent == [4] and run.class_weights[4] == 0 and (run.class_weights[1:4] > 0).all()
    assert np.isfinite(run.history["loss"]).all()


def test_explicit_validation_and_fine_tuning_an_existing_model(run, tiny):
    data, _ = tiny
    before = [w.copy() for w in run.model.get_weights()]
    again = train_recipe(data.images[:16], data.masks[:16], validation=(data.images[16:24], data.masks[16:24]),
                         model=run.model, profile="smoke", epochs=1, copies=2)
    assert again.model is run.model and len(again.val_index) == 0 and len(again.train_index) == 16
    assert any(not np.allclose(a, b) for a, b in zip(before, again.model.get_weights()))


def test_recipe_batches_repeat_big_rock_four_times_and_flip_every_image_once():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 64, 128), dtype=np.uint8)
    masks = np.ones((5, 64, 128), np.uint8)
    masks[2, 10:20, 30:40] = 4  # image 2 holds Big Rock
    batches = RecipeBatches(images, masks, batch_size=4, seed=1)
    xs, ys = zip(*(batches[i] for i in range(len(batches))))
    x, y = np.concatenate(xs), np.concatenate(ys)
    assert x.shape == (2 * (4 + 4), 64, 128, 1) and x.dtype == np.float32 and len(batches) == 4
    flat = np.round(x[..., 0] * 255).astype(np.uint8)
    for k in range(5):  # each image, as is and mirrored, as often as the recipe says (4x with Big Rock)
        n = 4 if k == 2 else 1
        assert sum(np.array_equal(f, images[k]) for f in flat) == n
        assert sum(np.array_equal(f, images[k][:, ::-1]) for f in flat) == n
    assert (y == 4).any(axis=(1, 2)).sum() == 8


def test_time_budget_and_bad_input():
    with pytest.raises(ValueError, match="minutes"):
        TimeBudget(0)
    with pytest.raises(ValueError, match="schedule"):
        train_recipe(np.zeros((4, 64, 128), np.uint8), np.zeros((4, 64, 128), np.uint8), schedule="step")
    with pytest.raises(ValueError):
        train_recipe(np.zeros((4, 64, 128), np.uint8), np.zeros((3, 64, 128), np.uint8))


def test_training_module_names_the_same_function():
    from marslab import recipe, training

    assert training.train_recipe is recipe.train_recipe and training.RecipeRun is recipe.RecipeRun
    with pytest.raises(AttributeError):
        training.no_such_name  # noqa: B018
