"""The experiment harness: one score row (against counts by hand), one run, one table of variants."""
import keras
import numpy as np
import pytest

from marslab import experiments
from marslab import loss_comparison as lc
from marslab.augment import build_augmentation
from marslab.models import unet

C = 5


def test_score_row_is_the_competition_metric():
    true = np.ones((1, 64, 128), "uint8")
    true[0, :, :64] = 3
    row = experiments.score_row(true, true)
    assert row["mean IoU"] == 1.0 and row["IoU Sand"] == 1.0 and np.isnan(row["IoU Big Rock"])
    assert list(row) == ["mean IoU", "IoU Soil", "IoU Bedrock", "IoU Sand", "IoU Big Rock"]


def test_score_row_pixel_columns_match_pixel_counts():
    masks = np.array([[[0, 0, 1, 1], [2, 2, 3, 4]]])
    preds = np.array([[[0, 1, 1, 1], [2, 3, 3, 0]]])
    row = experiments.score_row(masks, preds, pixel_columns=True)
    assert row["accuracy"] == pytest.approx(5 / 8)
    assert row["IoU Background"] == pytest.approx(1 / 3)     # all pixels: 1 hit, 3 in the union
    assert row["IoU Soil"] == pytest.approx(1.0)             # the background pixel called Soil is free
    assert row["IoU Bedrock"] == pytest.approx(1 / 2) and row["IoU Sand"] == pytest.approx(1 / 2)
    assert row["IoU Big Rock"] == 0.0
    assert row["mean IoU"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)


def test_score_row_refuses_a_set_without_any_scored_class():
    with pytest.raises(ValueError, match="undefined"):
        experiments.score_row(np.zeros((1, 4, 4), int), np.zeros((1, 4, 4), int))


def test_compare_trains_and_scores_with_the_competition_metric():
    rng = np.random.default_rng(0)
    x = rng.random((8, 64, 128, 1)).astype("float32")
    y = rng.integers(0, 5, (8, 64, 128)).astype("int32")
    build = lambda: unet(filters=2, depth=2)  # noqa: E731
    table = experiments.compare({"tiny": build}, (x, y), (x, y), vary="model", epochs=1, batch_size=4)
    assert list(table.index) == ["tiny"] and table.index.name == "model"
    assert table.loc["tiny", "params"] == build().count_params()
    assert 0.0 <= table.loc["tiny", "mean IoU"] <= 1.0
    assert {"s/epoch", "IoU Soil", "IoU Big Rock"} <= set(table.columns)


def tiny_model(height=64, width=128):
    inputs = keras.Input((height, width, 1))
    return keras.Model(inputs, keras.layers.Conv2D(C, 3, padding="same", activation="softmax")(inputs))


def test_compare_losses_runs_every_loss_and_seed():
    rng = np.random.default_rng(0)
    masks = np.kron(rng.integers(0, C, (8, 8, 16)), np.ones((1, 8, 8), np.int64))  # 8x8 blocks: 64x128 maps
    images = np.clip(masks[..., None] / 4.0 + rng.normal(0, 0.1, (8, 64, 128, 1)), 0, 1).astype(np.float32)
    chosen = {k: v for k, v in lc.lesson_losses(np.ones(C)).items() if k in ("CCE", "Dice", "CCE+Boundary")}
    table = experiments.compare(chosen, (images[:6], masks[:6]), (images[6:], masks[6:]), vary="loss",
                                model=tiny_model, seed=[0, 1], epochs=1, batch_size=4, run_eagerly=True,
                                pixel_columns=True)
    records = table.reset_index().to_dict("records")
    assert [(r["loss"], r["seed"]) for r in records] == [(k, s) for k in chosen for s in (0, 1)]
    assert all(0 <= r["mean IoU"] <= 1 and 0 <= r["accuracy"] <= 1 for r in records)
    stats = lc.summarize(records)
    cce = [r["mean IoU"] for r in records if r["loss"] == "CCE"]
    assert stats["CCE"]["mean IoU"] == pytest.approx((np.mean(cce), np.std(cce)))
    text = lc.format_table(records)
    assert "CCE+Boundary" in text and "+-" in text and "Big Rock" in text
    assert len(lc.plot_comparison(records).patches) >= 3 * 6


def test_compare_augmentations_starts_every_run_from_the_same_weights():
    """Two identical augmentations, same seed and data: the same weights at the start, so the same scores."""
    rng = np.random.default_rng(1)
    masks = np.kron(rng.integers(0, C, (6, 8, 16)), np.ones((1, 8, 8), np.int64)).astype(np.uint8)
    images = (masks * 50 + rng.integers(0, 10, masks.shape)).astype(np.uint8)
    same = {"first": build_augmentation("none", seed=0), "again": build_augmentation("none", seed=0)}
    table = experiments.compare(same, (images, masks), (images, masks), vary="augment", name="augmentation",
                                model=tiny_model, epochs=2, batch_size=3)
    assert list(table.index) == ["first", "again"] and table.index.name == "augmentation"
    scores = table.drop(columns=["s/epoch"])
    np.testing.assert_allclose(scores.loc["first"].to_numpy(dtype=float), scores.loc["again"].to_numpy(dtype=float))


def test_compare_refuses_to_vary_a_fixed_setting():
    with pytest.raises(ValueError, match="vary must be one of"):
        experiments.compare({}, (None, None), (None, None), vary="epochs", epochs=1)
    with pytest.raises(ValueError, match="leave out 'loss'"):
        experiments.compare({}, (None, None), (None, None), vary="loss", loss="cce", epochs=1)
