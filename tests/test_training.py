"""Training: schedule values against the formula, strategy on CPU, callbacks, mixed precision, fit."""
import math

import keras
import numpy as np
import pytest

from marslab import training
from marslab.models import unet

PEAK, TOTAL, WARMUP, ALPHA = 1e-3, 100, 10, 0.01


def reference_lr(step):
    """Linear warmup 0 -> PEAK over WARMUP steps, then cosine from PEAK to ALPHA * PEAK at TOTAL."""
    if step < WARMUP:
        return PEAK * step / WARMUP
    t = min(step - WARMUP, TOTAL - WARMUP) / (TOTAL - WARMUP)
    return PEAK * (ALPHA + (1 - ALPHA) * 0.5 * (1 + math.cos(math.pi * t)))


@pytest.mark.parametrize("step", [0, 1, 5, 9, 10, 11, 32, 55, 99, 100, 150])
def test_schedule_matches_warmup_cosine_formula(step):
    schedule = training.cosine_schedule(PEAK, TOTAL, WARMUP, ALPHA)
    assert float(schedule(step)) == pytest.approx(reference_lr(step), rel=1e-5, abs=1e-9)


def test_schedule_landmarks_and_no_warmup():
    schedule = training.cosine_schedule(PEAK, TOTAL, WARMUP, ALPHA)
    assert float(schedule(WARMUP)) == pytest.approx(PEAK)             # peak right after warmup
    assert float(schedule((TOTAL + WARMUP) // 2)) == pytest.approx(PEAK * (1 + ALPHA) / 2)  # half-way
    assert float(schedule(TOTAL)) == pytest.approx(ALPHA * PEAK)      # floor at the end
    plain = training.cosine_schedule(PEAK, TOTAL, 0, 0.0)
    assert float(plain(0)) == pytest.approx(PEAK)
    assert float(plain(TOTAL // 2)) == pytest.approx(PEAK / 2)


@pytest.mark.parametrize("kwargs", [dict(peak_learning_rate=0.0, total_steps=10),
                                    dict(peak_learning_rate=1e-3, total_steps=10, warmup_steps=10)])
def test_schedule_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        training.cosine_schedule(**kwargs)


def test_optimizer_is_adamw_on_the_schedule():
    opt = training.make_optimizer(TOTAL, learning_rate=PEAK, weight_decay=1e-4, warmup_steps=WARMUP)
    assert isinstance(opt, keras.optimizers.AdamW)
    assert opt.weight_decay == pytest.approx(1e-4)
    assert float(opt.learning_rate) == pytest.approx(0.0)  # step 0 of the warmup


def test_strategy_on_cpu_is_the_default_strategy():
    import tensorflow as tf

    strategy = training.distribution_strategy()
    assert strategy.num_replicas_in_sync == 1
    if not tf.config.list_logical_devices("GPU"):
        assert strategy is tf.distribute.get_strategy()
    with training.strategy_scope():
        assert keras.layers.Dense(1) is not None


def test_mixed_precision_only_when_asked_or_on_gpu():
    try:
        assert training.set_mixed_precision(True) == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert training.set_mixed_precision(False) == "float32"
        expected = "mixed_float16" if training.list_gpus() else "float32"
        assert training.set_mixed_precision() == expected
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_check_float32_output_catches_a_float16_softmax():
    inputs = keras.Input((4,))
    bad = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", dtype="float16")(inputs))
    with pytest.raises(ValueError, match="float32"):
        training.check_float32_output(bad)
    good = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", dtype="float32")(inputs))
    training.check_float32_output(good)


def test_callbacks_monitor_validation_mean_iou(tmp_path):
    early, checkpoint, logger = training.make_callbacks(tmp_path, patience=3)
    assert isinstance(early, keras.callbacks.EarlyStopping) and early.monitor == "val_mean_iou"
    assert early.restore_best_weights and early.patience == 3
    assert isinstance(checkpoint, keras.callbacks.ModelCheckpoint) and checkpoint.monitor == "val_mean_iou"
    assert isinstance(logger, keras.callbacks.CSVLogger)


def test_steps_per_epoch_numpy_and_dataset():
    import tensorflow as tf

    x = np.zeros((10, 64, 128, 1), "float32")
    assert training.steps_per_epoch((x, x[..., 0]), batch_size=4) == 3
    assert training.steps_per_epoch(tf.data.Dataset.from_tensor_slices(x).batch(4), batch_size=99) == 3


def test_fit_trains_logs_and_checkpoints(tmp_path):
    from marslab.metrics import mean_iou
    from marslab.models import unet

    rng = np.random.default_rng(0)
    masks = np.where(rng.random((12, 64, 128)) < 0.5, 1, 2).astype("uint8")
    images = (masks[..., None] == 1).astype("float32")  # trivially learnable: brightness = class
    keras.utils.set_random_seed(0)
    model = unet(filters=4, depth=2)
    history = training.fit(model, (images, masks), (images[:4], masks[:4]), epochs=3, batch_size=4,
                           loss="sparse_categorical_crossentropy", out_dir=tmp_path, learning_rate=1e-2,
                           warmup_epochs=1, verbose=0)
    assert {"loss", "mean_iou", "val_loss", "val_mean_iou"} <= set(history.history)
    assert (tmp_path / "best.keras").is_file()
    log = (tmp_path / "history.csv").read_text().splitlines()
    assert len(log) == 1 + 3 and "val_mean_iou" in log[0]
    preds = model.predict(images[:4], verbose=0).argmax(-1)
    best = max(history.history["val_mean_iou"])  # early stopping restored the best epoch's weights
    assert mean_iou(masks[:4], preds) == pytest.approx(best, abs=1e-6)
    fig = training.plot_history(history)
    assert len(fig.axes) == 2
