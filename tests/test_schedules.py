"""Reduce-on-plateau (report 002) beside cosine annealing: a hand-computed run of the callback and `fit`'s option."""
import keras
import numpy as np
import pytest

from marslab import training
from marslab.schedules import plateau_callback, plateau_optimizer


def run_callback(callback, scores, learning_rate=1e-3):
    """Feed the callback one validation score per epoch; return the learning rate after every epoch."""
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=plateau_optimizer(learning_rate), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    rates = []
    for epoch, score in enumerate(scores):
        callback.on_epoch_end(epoch, {"val_mean_iou": score})
        rates.append(float(model.optimizer.learning_rate))
    return rates


def test_plateau_halves_the_rate_after_three_epochs_without_a_better_score():
    """Scores 0.5, 0.6, then no gain: epochs 2, 3, 4 do not beat 0.6, so the rate halves after epoch 4;
    three more stale epochs (5, 6, 7) halve it again; a new best (epoch 8) resets the count."""
    scores = [0.5, 0.6, 0.6, 0.59, 0.6, 0.55, 0.55, 0.55, 0.7, 0.7]
    rates = run_callback(plateau_callback(), scores)
    expected = [1e-3] * 4 + [5e-4] * 3 + [2.5e-4] * 3
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


def test_plateau_respects_the_floor_and_the_direction_of_a_loss():
    rates = run_callback(plateau_callback(patience=1, factor=0.1, min_learning_rate=5e-5), [0.5] * 5)
    assert rates[-1] == pytest.approx(5e-5)
    falling_loss = [1.0, 0.9, 0.8, 0.7]  # a loss that keeps improving: mode "min" never reduces
    assert run_callback(plateau_callback(mode="min", patience=1), falling_loss) == pytest.approx([1e-3] * 4)


def test_fit_with_the_plateau_schedule_trains_on_a_constant_rate_and_logs_it(tmp_path):
    from marslab.models import unet

    rng = np.random.default_rng(0)
    masks = np.where(rng.random((8, 64, 128)) < 0.5, 1, 2).astype("uint8")
    images = (masks[..., None] == 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = unet(filters=4, depth=2)
    history = training.fit(model, (images, masks), (images[:4], masks[:4]), epochs=2, batch_size=4,
                           loss="sparse_categorical_crossentropy", out_dir=tmp_path, learning_rate=2e-3,
                           schedule="plateau", verbose=0)
    assert not isinstance(model.optimizer.learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    assert history.history["learning_rate"][0] == pytest.approx(2e-3)
    assert np.all(np.isfinite(history.history["loss"]))


def test_bad_schedule_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="schedule must be one of"):
        training.fit(None, None, None, 1, "cce", tmp_path, schedule="linear")
    with pytest.raises(ValueError, match="factor"):
        plateau_callback(factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        plateau_callback(mode="up")
