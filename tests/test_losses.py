"""Every loss against its formula written in NumPy (report 000 Table 2 for BCE, CCE, Dice, focal)."""
import keras
import numpy as np
import pytest

from marslab import losses

C = 5
WEIGHTS = [0.0, 0.0198, 0.0275, 0.0359, 0.9168]   # report 000 Table 4, "0 excl." row
EPS = 1e-7


def sample(seed=0, shape=(2, 8, 16)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, C, shape)
    probs = rng.dirichlet(np.ones(C), shape).astype(np.float32)
    return labels, probs


def onehot(labels):
    return np.eye(C)[labels]


# --- NumPy references: i runs over all N pixels, c over classes, w class weights -----------------
def np_bce(y, p, w):
    p = np.clip(p, EPS, 1 - EPS)
    return -np.mean(np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1))


def np_cce(y, p, w):
    return -np.mean(np.sum(w * y * np.log(np.clip(p, EPS, 1)), axis=-1))


def np_focal(y, p, w, gamma=2.0):
    p = np.clip(p, EPS, 1 - EPS)
    return -np.mean(np.sum(w * (1 - p) ** gamma * y * np.log(p), axis=-1))


def np_dice_table2(y, p, w):
    """Report 000 Table 2, with class weights inside both sums."""
    return 1 - 2 * np.sum(w * y * p) / np.sum(w * (y + p))


def np_tversky(y, p, w, alpha, beta, smooth=1.0):
    """Per-class Tversky index over the batch, weighted mean of 1 - index."""
    tp, fp, fn = [np.sum(a.reshape(-1, y.shape[-1]), axis=0) for a in (y * p, (1 - y) * p, y * (1 - p))]
    index = (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)
    return np.sum(w * (1 - index)) / np.sum(w)


def np_dice_per_class(y, p, w, smooth=1.0):
    inter = np.sum((y * p).reshape(-1, y.shape[-1]), axis=0)
    total = np.sum((y + p).reshape(-1, y.shape[-1]), axis=0)
    return np.sum(w * (1 - (2 * inter + smooth) / (total + smooth))) / np.sum(w)


def np_jaccard_per_class(y, p, w, smooth=1.0):
    inter = np.sum((y * p).reshape(-1, y.shape[-1]), axis=0)
    union = np.sum((y + p - y * p).reshape(-1, y.shape[-1]), axis=0)
    return np.sum(w * (1 - (inter + smooth) / (union + smooth))) / np.sum(w)


def np_boundary(phi, p, w):
    return np.mean(np.sum(w * phi * p, axis=-1))


CASES = {
    "bce": (dict(), lambda y, p, w, phi: np_bce(y, p, w)),
    "cce": (dict(), lambda y, p, w, phi: np_cce(y, p, w)),
    "focal": (dict(gamma=2.0), lambda y, p, w, phi: np_focal(y, p, w)),
    "dice": (dict(), lambda y, p, w, phi: np_dice_per_class(y, p, w)),
    "dice_table2": (dict(per_class=False, smooth=0.0), lambda y, p, w, phi: np_dice_table2(y, p, w)),
    "jaccard": (dict(), lambda y, p, w, phi: np_jaccard_per_class(y, p, w)),
    "tversky": (dict(alpha=0.3, beta=0.7), lambda y, p, w, phi: np_tversky(y, p, w, 0.3, 0.7)),
    "boundary": (dict(), lambda y, p, w, phi: np_boundary(phi, p, w)),
}


def build(case, class_weights=None):
    name = "dice" if case == "dice_table2" else case
    return losses.get_loss(name, class_weights=class_weights, **CASES[case][0])


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("weights", [None, WEIGHTS, [1.0, 2.0, 0.5, 3.0, 0.0]])
def test_loss_matches_numpy_formula(case, weights):
    labels, probs = sample(seed=3)
    targets = losses.boundary_targets(labels)
    w = np.ones(C) if weights is None else np.array(weights)
    expected = CASES[case][1](onehot(labels), probs.astype(np.float64), w, targets[..., 1:])
    got = float(build(case, weights)(targets, probs))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("case", [c for c in CASES if c != "boundary"])
def test_plain_label_shapes_give_the_same_value(case):
    labels, probs = sample(seed=4)
    loss = build(case, WEIGHTS)
    packed = float(loss(losses.boundary_targets(labels), probs))
    assert float(loss(labels, probs)) == pytest.approx(packed, rel=1e-6)
    assert float(loss(labels[..., None], probs)) == pytest.approx(packed, rel=1e-6)


@pytest.mark.parametrize("case", CASES)
def test_perfect_predictions_give_the_minimum(case):
    labels, probs = sample(seed=5)
    targets = losses.boundary_targets(labels)
    loss = build(case, [0.5, 1.0, 1.0, 2.0, 4.0])
    perfect = float(loss(targets, onehot(labels).astype(np.float32)))
    noisy = 0.9 * onehot(labels) + 0.1 * probs
    assert perfect < float(loss(targets, noisy.astype(np.float32))) < float(loss(targets, probs))
    if case != "boundary":              # boundary's minimum is the (negative) sum of inside distances
        assert perfect == pytest.approx(0.0, abs=1e-4)
    else:
        assert perfect == pytest.approx(np_boundary(targets[..., 1:], onehot(labels), [0.5, 1, 1, 2, 4]), rel=1e-5)


@pytest.mark.parametrize("case", CASES)
def test_zero_weight_ignores_that_class(case):
    """Weights (0, 1, 1, 1, 1) give exactly the formula summed over classes 1-4 only."""
    labels, probs = sample(seed=6)
    targets = losses.boundary_targets(labels)
    keep = np.array([1, 2, 3, 4])
    y, p, phi = onehot(labels)[..., keep], probs[..., keep].astype(np.float64), targets[..., 1:][..., keep]
    expected = CASES[case][1](y, p, np.ones(4), phi)
    got = float(build(case, [0, 1, 1, 1, 1])(targets, probs))
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("case", ["cce", "focal"])
def test_zero_weight_pixelwise_ignores_pixels_of_that_class(case):
    labels, probs = sample(seed=7)
    other = probs.copy()
    other[labels == 0] = np.random.default_rng(0).dirichlet(np.ones(C), (labels == 0).sum())
    loss = build(case, [0, 1, 1, 1, 1])
    assert float(loss(labels, probs)) == pytest.approx(float(loss(labels, other)), rel=1e-6)


def test_dice_and_tversky_pooled_match_keras_on_one_hot_targets():
    labels, probs = sample(seed=8)
    y = onehot(labels).astype(np.float32)
    ours = losses.SoftDice(per_class=False, smooth=0.0)
    assert float(ours(labels, probs)) == pytest.approx(float(keras.losses.Dice()(y, probs)), rel=1e-5)
    # keras' alpha multiplies the false negatives, ours the false positives: swapped arguments agree.
    tv = losses.SoftTversky(alpha=0.3, beta=0.7, per_class=False, smooth=0.0)
    assert float(tv(labels, probs)) == pytest.approx(float(keras.losses.Tversky(alpha=0.7, beta=0.3)(y, probs)),
                                                     rel=1e-5)


def test_focal_with_gamma_zero_is_weighted_cce():
    labels, probs = sample(seed=9)
    focal = losses.Focal(gamma=0.0, class_weights=WEIGHTS)
    assert float(focal(labels, probs)) == pytest.approx(float(losses.CategoricalCE(class_weights=WEIGHTS)(labels, probs)),
                                                        rel=1e-5)


def test_combined_is_the_weighted_sum():
    labels, probs = sample(seed=10)
    targets = losses.boundary_targets(labels)
    combo = losses.get_loss({"cce": 1.0, "dice": 0.5, "boundary": 0.01}, class_weights=WEIGHTS)
    w, y, p = np.array(WEIGHTS), onehot(labels), probs.astype(np.float64)
    expected = np_cce(y, p, w) + 0.5 * np_dice_per_class(y, p, w) + 0.01 * np_boundary(targets[..., 1:], p, w)
    assert float(combo(targets, probs)) == pytest.approx(expected, rel=1e-4)
    assert combo.needs_distance_maps and not losses.get_loss("cce+dice").needs_distance_maps
    assert float(losses.get_loss("cce+dice")(labels, probs)) == pytest.approx(
        np_cce(y, p, 1.0) + np_dice_per_class(y, p, np.ones(C)), rel=1e-4)


@pytest.mark.parametrize("name", list(losses.LOSSES) + ["cce+dice+boundary"])
def test_serialization_round_trip(name):
    labels, probs = sample(seed=11)
    targets = losses.boundary_targets(labels)
    loss = losses.get_loss(name, class_weights=[0, 1, 2, 3, 4])
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(clone) is type(loss) and clone.get_config() == loss.get_config()
    assert float(clone(targets, probs)) == pytest.approx(float(loss(targets, probs)), rel=1e-6)


def test_model_with_custom_loss_saves_and_loads(tmp_path):
    inputs = keras.Input((4, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(C, 1, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss=losses.get_loss({"focal": 1.0, "tversky": 0.5}, class_weights=WEIGHTS))
    labels, _ = sample(seed=12, shape=(4, 4, 8))
    model.fit(np.random.default_rng(0).random((4, 4, 8, 1)), labels, epochs=1, verbose=0)   # graph mode
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.loss, losses.Combined) and loaded.loss.class_weights == WEIGHTS
    assert loaded.loss.name == "focal_tversky"


def brute_force_signed_distance(mask, c):
    inside = np.argwhere(mask == c)
    outside = np.argwhere(mask != c)
    out = np.zeros(mask.shape)
    for (i, j) in np.ndindex(mask.shape):
        if mask[i, j] == c:
            out[i, j] = -(np.min(np.hypot(*(outside - (i, j)).T)) - 1)
        else:
            out[i, j] = np.min(np.hypot(*(inside - (i, j)).T))
    return out


def test_signed_distance_maps_against_brute_force():
    mask = np.zeros((6, 9), int)
    mask[1:4, 2:6] = 1
    mask[5, :] = 3
    maps = losses.signed_distance_maps(mask[None])[0]
    for c in (0, 1, 3):
        np.testing.assert_allclose(maps[..., c], brute_force_signed_distance(mask, c), atol=1e-5)
    assert np.all(maps[..., 2] == 0) and np.all(maps[..., 4] == 0)      # absent classes: no term
    assert np.all(maps[..., 1][mask == 1] <= 0) and np.all(maps[..., 1][mask != 1] >= 1)


def test_bad_input_is_named():
    labels, probs = sample()
    with pytest.raises(KeyError, match="unknown loss"):
        losses.get_loss("hinge")
    with pytest.raises(ValueError, match="class_weights"):
        losses.get_loss("cce", class_weights=[1, 2, 3])
    with pytest.raises(ValueError, match="class_weights"):
        losses.get_loss("cce", class_weights=[0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match="boundary_targets"):
        losses.get_loss("boundary")(labels, probs)
    with pytest.raises(ValueError, match=r"\(B,H,W,5\)"):
        losses.get_loss("dice")(labels, probs[..., :4])
    with pytest.raises(ValueError, match="y_true"):
        losses.get_loss("cce")(np.zeros((2, 8, 16, 3)), probs)
    with pytest.raises(ValueError, match="integer labels"):
        losses.signed_distance_maps(probs[..., 0])
    with pytest.raises(ValueError, match="0..4"):
        losses.signed_distance_maps(labels + 1)


# --- the losses lesson 08 compares (marslab.loss_comparison; its runs: tests/test_experiments.py) ----
def test_lesson_losses_weight_each_kind():
    from marslab.loss_comparison import lesson_losses, metric_weights

    chosen = lesson_losses([1.0, 2.0, 3.0, 4.0, 5.0])
    assert chosen["CCE"].class_weights == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert chosen["Dice"].class_weights == metric_weights() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert chosen["CCE+Boundary"].needs_distance_maps and not chosen["CCE+Dice"].needs_distance_maps


@pytest.mark.parametrize("name", list(losses.LOSSES) + ["cce+dice+boundary"])
def test_every_loss_trains_in_graph_mode(name):
    labels, _ = sample(seed=13, shape=(4, 4, 8))
    inputs = keras.Input((4, 8, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(C, 1, activation="softmax")(inputs))
    loss = losses.get_loss(name, class_weights=WEIGHTS)
    model.compile(optimizer="adam", loss=loss)
    y = losses.boundary_targets(labels) if loss.needs_distance_maps else labels
    history = model.fit(np.random.default_rng(0).random((4, 4, 8, 1)), y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
