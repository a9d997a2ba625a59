"""Report 003's margin loss (§3.3) and full combination against NumPy formulas and hand-computed cases."""
import keras
import numpy as np
import pytest

from marslab import losses
from marslab.margin_loss import MARGIN_EMPHASIS, Margin, report_003_loss

C = 5
WEIGHTS = [0.0, 0.025, 0.035, 0.04, 0.88]   # report 000 Table 4, "Tweaked" row


def np_margin(labels, probs, w, power=5.0):
    """The report's two terms, pixel by pixel, written out with np.linalg.norm: mean of 0.99 f_n + 0.01 f_p."""
    w = np.asarray(w, float)
    total = []
    for c_i, p in zip(labels.ravel(), probs.reshape(-1, C).astype(np.float64)):
        others = np.delete(p, c_i)
        f_n = w[c_i] * (np.linalg.norm(others, ord=power) - p[c_i])
        q = p**power / np.sum(p**power)
        f_p = np.sum(np.delete(w * q, c_i))
        total.append(0.99 * f_n + 0.01 * f_p)
    return np.mean(total)


def np_dice(y, p, w, smooth=1.0):
    inter, total = (np.sum(a.reshape(-1, C), axis=0) for a in (y * p, y + p))
    return np.sum(w * (1 - (2 * inter + smooth) / (total + smooth))) / np.sum(w)


def np_jaccard(y, p, w, smooth=1.0):
    inter, union = (np.sum(a.reshape(-1, C), axis=0) for a in (y * p, y + p - y * p))
    return np.sum(w * (1 - (inter + smooth) / (union + smooth))) / np.sum(w)


def np_focal(y, p, w, gamma=2.0):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -np.mean(np.sum(w * (1 - p) ** gamma * y * np.log(p), axis=-1))


def sample(seed=0, shape=(2, 8, 16)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, C, shape), rng.dirichlet(np.ones(C) * 0.5, shape).astype(np.float32)


@pytest.mark.parametrize("weights", [None, WEIGHTS, [1.0, 2.0, 0.5, 3.0, 0.0]])
def test_margin_matches_the_reports_formula_in_numpy(weights):
    labels, probs = sample()
    expected = np_margin(labels, probs, np.ones(C) if weights is None else weights)
    assert float(Margin(class_weights=weights)(labels, probs)) == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_margin_by_hand():
    """p = (0.5, 0.25, 0.25, 0, 0), true class 0: f_n = ||(.25, .25, 0, 0)||_5 - 0.5 = 0.25 * 2^(1/5) - 0.5;
    p^5 = (1/32, 1/1024, 1/1024, 0, 0), so q = (32, 1, 1, 0, 0) / 34 and f_p = 2/34 (weights 1)."""
    probs = np.array([0.5, 0.25, 0.25, 0.0, 0.0], np.float32).reshape(1, 1, 1, C)
    labels = np.zeros((1, 1, 1), int)
    expected = 0.99 * (0.25 * 2 ** 0.2 - 0.5) + 0.01 * 2 / 34
    assert float(Margin()(labels, probs)) == pytest.approx(expected, rel=1e-5)
    # weights: f_n takes the true class's weight, f_p the wrong classes' weights
    w = [2.0, 3.0, 5.0, 7.0, 11.0]
    expected = 0.99 * 2.0 * (0.25 * 2 ** 0.2 - 0.5) + 0.01 * (3.0 + 5.0) / 34
    assert float(Margin(class_weights=w)(labels, probs)) == pytest.approx(expected, rel=1e-5)


def test_margin_is_lowest_at_the_truth_and_highest_at_a_confident_mistake():
    labels = np.array([[[4]]])
    right, wrong = np.eye(C, dtype=np.float32)[[4]], np.eye(C, dtype=np.float32)[[2]]
    loss = Margin(class_weights=WEIGHTS)
    assert float(loss(labels, right.reshape(1, 1, 1, C))) == pytest.approx(-0.99 * 0.88, rel=1e-6)
    assert float(loss(labels, wrong.reshape(1, 1, 1, C))) == pytest.approx(0.99 * 0.88 + 0.01 * 0.035, rel=1e-6)


def test_margin_gradient_is_finite_where_probabilities_underflow_to_zero():
    import tensorflow as tf  # the test reads a gradient; the loss itself uses keras.ops only

    logits = tf.Variable(np.array([[[[200.0, 0.0, -200.0, -200.0, -200.0]]]], np.float32))
    with tf.GradientTape() as tape:
        value = Margin()(np.zeros((1, 1, 1), int), tf.nn.softmax(logits))
    grad = tape.gradient(value, logits).numpy()
    assert np.isfinite(float(value)) and np.all(np.isfinite(grad))


def test_margin_is_a_registered_loss_name():
    labels, probs = sample(seed=3)
    assert isinstance(losses.get_loss("margin"), Margin)
    pair = losses.get_loss({"focal": 1.0, "margin": 0.5}, class_weights=WEIGHTS)
    y, w = np.eye(C)[labels], np.asarray(WEIGHTS)
    expected = np_focal(y, probs.astype(np.float64), w) + 0.5 * np_margin(labels, probs, WEIGHTS)
    assert float(pair(labels, probs)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("margin_weight", [MARGIN_EMPHASIS, 1.0])
def test_report_003_loss_is_dice_plus_focal_plus_iou_plus_weighted_margin(margin_weight):
    labels, probs = sample(seed=5)
    w, y, p = np.asarray(WEIGHTS), np.eye(C)[labels], probs.astype(np.float64)
    loss = report_003_loss(WEIGHTS, margin_weight=margin_weight)
    expected = (np_dice(y, p, w) + np_focal(y, p, w) + np_jaccard(y, p, w)
                + margin_weight * np_margin(labels, probs, WEIGHTS))
    assert [type(part).__name__ for part in loss.parts] == ["SoftDice", "Focal", "SoftJaccard", "Margin"]
    assert float(loss(labels, probs)) == pytest.approx(expected, rel=1e-4)


def test_report_003_loss_trains_saves_and_loads(tmp_path):
    inputs = keras.Input((4, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(C, 1, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss=report_003_loss(WEIGHTS))
    labels, _ = sample(seed=7, shape=(4, 4, 8))
    history = model.fit(np.random.default_rng(0).random((4, 4, 8, 1)), labels, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, losses.Combined) and isinstance(loaded.loss.parts[-1], Margin)
    assert loaded.loss.loss_weights == [1.0, 1.0, 1.0, MARGIN_EMPHASIS]


def test_bad_margin_arguments_are_named():
    with pytest.raises(ValueError, match="power"):
        Margin(power=0.5)
    with pytest.raises(ValueError, match="margin_weight"):
        report_003_loss(margin_weight=-1)
    with pytest.raises(ValueError, match="class_weights"):
        Margin(class_weights=[1, 2])
