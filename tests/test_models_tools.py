"""Tests of the helpers around the model builders: skip_table, and a smoke run of
benchmarks/bench_models.py (whose plain hand-written U-Net must be the same network as `unet`)."""
import importlib.util
from pathlib import Path

import pytest

from marslab.models import skip_table, unet, unet3plus

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
