"""Tests of the helpers around the model builders: skip_table, compare/predict_labels, and a smoke run
of benchmarks/bench_models.py (whose plain hand-written U-Net must be the same network as `unet`)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from marslab.models import compare, predict_labels, skip_table, unet, unet3plus

ROOT = Path(__file__).resolve().parents[1]


def test_skip_table_has_one_source_per_level_in_every_stage():
    rows = skip_table(unet3plus(filters=2, depth=5, cat_channels=2))
    assert [r["stage"] for r in rows] == ["dec3", "dec2", "dec1", "dec0"]
    for row in rows:
        assert sorted(k for k in row if k != "stage") == [f"level {k}" for k in range(5)]
    assert rows[-1]["level 0"] == "enc0 as is" and rows[-1]["level 4"] == "bottleneck up x16"
    assert rows[0]["level 0"] == "enc0 pool /8"
    with pytest.raises(ValueError, match="no UNet3\\+ decoder"):
        skip_table(unet(filters=2, depth=2))


def test_compare_trains_and_scores_with_the_competition_metric():
    rng = np.random.default_rng(0)
    x = rng.random((8, 64, 128, 1)).astype("float32")
    y = rng.integers(0, 5, (8, 64, 128)).astype("int32")
    build = lambda: unet(filters=2, depth=2)  # noqa: E731
    table = compare({"tiny": build}, (x, y), (x, y), epochs=1, batch_size=4)
    assert list(table.index) == ["tiny"]
    assert table.loc["tiny", "params"] == build().count_params()
    assert 0.0 <= table.loc["tiny", "mean IoU"] <= 1.0
    assert {"s/epoch", "IoU Soil", "IoU Big Rock"} <= set(table.columns)


def test_predict_labels_is_the_argmax_of_the_main_output():
    model = unet3plus(filters=2, depth=2, cat_channels=2, deep_supervision=True)
    x = np.random.default_rng(0).random((2, 64, 128, 1)).astype("float32")
    preds = predict_labels(model, x)
    probs = model.predict(x, verbose=0)[model.output_names.index("probs")]
    np.testing.assert_array_equal(preds, probs.argmax(-1))
    with pytest.raises(ValueError, match="N, H, W, 1"):
        predict_labels(model, x[..., 0])


def test_benchmark_quick_run_matches_the_hand_written_unet(capsys):
    spec = importlib.util.spec_from_file_location("bench_models", ROOT / "benchmarks" / "bench_models.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--quick", "--xla", "off", "--models", "plain_unet,unet"])
    by_name = {r["model"]: r for r in rows}
    assert by_name["plain_unet"]["params"] == by_name["unet"]["params"]
    assert all(r["images_per_s"] > 0 for r in rows)
    assert "vs plain" in capsys.readouterr().out


def test_unet_is_layer_for_layer_the_hand_written_unet():
    """Why the abstraction costs nothing: the builder's default graph is the benchmark's plain U-Net."""
    spec = importlib.util.spec_from_file_location("bench_models", ROOT / "benchmarks" / "bench_models.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    plain, ours = bench.plain_unet(), unet()
    assert len(plain.layers) == len(ours.layers)
    for a, b in zip(plain.layers, ours.layers):
        config_a, config_b = a.get_config(), b.get_config()
        config_a.pop("name"), config_b.pop("name")
        assert type(a) is type(b) and config_a == config_b, (a.name, b.name)
