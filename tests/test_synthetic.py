"""The synthetic Mars set: format, determinism, class balance, aliens, label noise, caching."""
import numpy as np
import pytest

from marslab import synthetic
from marslab.metrics import mean_iou
from marslab.synthetic import make_mars

# report 000, Table 1: % of pixels per class (Background, Soil, Bedrock, Sand, Big Rock), cleaned set
TABLE_1 = np.array([24.31, 33.90, 23.28, 18.38, 0.13])
SMALL = dict(n_train=400, n_test=60, n_aliens=20)


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def small():
    return make_mars(seed=0, cache=False, **SMALL)


def test_shapes_dtypes_and_labels(small):
    n, m = SMALL["n_train"], SMALL["n_test"]
    for name, count in (("images", n), ("masks", n), ("clean_masks", n), ("test_images", m), ("test_masks", m),
                        ("test_clean_masks", m)):
        array = getattr(small, name)
        assert array.shape == (count, 64, 128) and array.dtype == np.uint8, name
    for name in ("masks", "clean_masks", "test_masks", "test_clean_masks"):
        assert getattr(small, name).max() <= 4, name
    assert small.source == "synthetic"
    assert small.images.min() < 30 and small.images.max() > 200  # uses the 0-255 range


def test_same_seed_same_bytes_other_seed_differs(small):
    again = make_mars(seed=0, cache=False, **SMALL)
    for name in ("images", "masks", "clean_masks", "test_images", "test_masks", "alien_index"):
        assert getattr(again, name).tobytes() == getattr(small, name).tobytes(), name
    other = make_mars(seed=1, cache=False, **SMALL)
    assert not np.array_equal(other.images, small.images)
    assert not np.array_equal(other.masks, small.masks)


def test_class_balance_close_to_report_000_table_1(small):
    keep = np.setdiff1d(np.arange(len(small.masks)), small.alien_index)
    percent = 100 * np.bincount(small.masks[keep].ravel(), minlength=5) / small.masks[keep].size
    assert np.all(np.abs(percent[:4] - TABLE_1[:4]) < 5), percent
    assert 0.065 < percent[4] < 0.26, percent  # Big Rock: within a factor 2 of Table 1's 0.13 %, rare in pixels ...
    with_rock = (small.masks[keep] == 4).any(axis=(1, 2)).mean()
    assert 0.02 < with_rock < 0.3, with_rock  # ... and in only a minority of images


def test_brightness_alone_does_not_give_the_class_away(small):
    images, masks = small.images.astype(float), small.clean_masks
    means = np.array([images[masks == c].mean() for c in range(4)])
    pooled_std = np.mean([images[masks == c].std() for c in range(4)])
    assert means.max() - means.min() < pooled_std  # as on real NAVCAM crops (SYNTHETIC_MARS.md)


def test_aliens_share_one_mask_no_other_image_has(small):
    idx = small.alien_index
    assert len(idx) == SMALL["n_aliens"] and np.array_equal(idx, np.unique(idx))
    alien = small.masks[idx[0]]
    assert all(np.array_equal(small.masks[i], alien) for i in idx)
    others = np.setdiff1d(np.arange(len(small.masks)), idx)
    assert not any(np.array_equal(small.masks[i], alien) for i in others)
    assert not any(np.array_equal(m, alien) for m in small.test_masks)
    assert len(np.unique(alien)) >= 2  # a plausible mask, not an all-one-class one
    # the alien pictures are alike (one cartoon, shifted and relit) and unlike the terrain images
    corr = np.corrcoef(small.images[idx].reshape(len(idx), -1).astype(float))
    assert corr[np.triu_indices(len(idx), 1)].mean() > 0.6


def test_noisy_masks_are_coarse_versions_of_the_clean_ones(small):
    keep = np.setdiff1d(np.arange(len(small.masks)), small.alien_index)
    noisy, clean = small.masks[keep], small.clean_masks[keep]
    agree = (noisy == clean).mean()
    assert 0.75 < agree < 0.98, agree
    changed = noisy != clean
    # missed regions are left as Background (bedrock aside, whose dusted edges some labellers call Soil or Sand)
    assert (noisy[changed & (clean != 2)] == 0).mean() > 0.3
    assert ((noisy == 1) & (clean == 3)).any() and ((noisy == 3) & (clean == 1)).any()  # soil/sand confusion
    assert (noisy == 0).mean() > (clean == 0).mean()
    ceiling = mean_iou(small.test_masks, small.test_clean_masks)
    assert 0.5 < ceiling < 0.95, ceiling


def test_labellers_disagree_on_dusted_bedrock(small):
    """Some labellers call the dusted edges of bedrock outcrops Soil: a share of the clean Bedrock pixels is
    labelled Soil, image by image (not pixel by pixel), and the other way round far less."""
    keep = np.setdiff1d(np.arange(len(small.masks)), small.alien_index)
    noisy, clean = small.masks[keep], small.clean_masks[keep]
    bedrock_as_soil = ((clean == 2) & (noisy == 1)).sum() / (clean == 2).sum()
    soil_as_bedrock = ((clean == 1) & (noisy == 2)).sum() / (clean == 1).sum()
    assert 0.04 < bedrock_as_soil < 0.25, bedrock_as_soil
    assert soil_as_bedrock < bedrock_as_soil / 2, (soil_as_bedrock, bedrock_as_soil)
    per_image = ((clean == 2) & (noisy == 1)).sum(axis=(1, 2)) / np.maximum((clean == 2).sum(axis=(1, 2)), 1)
    with_bedrock = (clean == 2).sum(axis=(1, 2)) > 500
    disagreeing = per_image[with_bedrock] > 0.1
    assert 0.15 < disagreeing.mean() < 0.7, disagreeing.mean()  # a minority of labellers, not every image


def test_illumination_varies_per_image(small):
    per_image = small.images.reshape(len(small.images), -1).mean(1)
    assert np.percentile(per_image, 95) - np.percentile(per_image, 5) > 30


def test_cache_is_written_once_and_reused(tmp_cache, monkeypatch):
    first = make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    entries = list(tmp_cache.iterdir())
    assert len(entries) == 1 and entries[0].is_dir() and not entries[0].name.endswith(".tmp")  # nothing half-written
    monkeypatch.setattr(synthetic, "_generate", lambda *a: pytest.fail("regenerated instead of reading the cache"))
    second = make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    for name in ("images", "masks", "clean_masks", "test_images", "test_masks", "test_clean_masks", "alien_index"):
        assert np.array_equal(getattr(first, name), getattr(second, name)), name
    assert second.source == "synthetic"
    second.masks[0] = 4  # a cached set can be edited in memory; the cache on disk stays as it was
    assert np.array_equal(make_mars(seed=3, n_train=30, n_test=10, n_aliens=3).masks, first.masks)


def test_cache_key_includes_every_argument(tmp_cache):
    make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    make_mars(seed=4, n_train=30, n_test=10, n_aliens=3)
    make_mars(seed=3, n_train=30, n_test=11, n_aliens=3)
    make_mars(seed=3, n_train=30, n_test=10, n_aliens=2)
    assert len(list(tmp_cache.iterdir())) == 4


@pytest.mark.parametrize("kwargs", [dict(seed=-1), dict(n_train=0), dict(n_test=1.5), dict(n_aliens=50, n_train=10),
                                    dict(seed=True)])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        make_mars(cache=False, **{"n_train": 20, "n_test": 5, "n_aliens": 2, **kwargs})


def test_default_sizes(monkeypatch):
    """The course-sized set (2615 + 10022); uses the normal cache, so it is generated once per machine."""
    monkeypatch.delenv("MARSLAB_CACHE")
    data = make_mars()
    assert data.images.shape == (2615, 64, 128) and data.test_images.shape == (10022, 64, 128)
    assert len(data.alien_index) == 110


def test_benchmark_smoke_run(tmp_cache):
    """benchmarks/bench_synthetic.py --quick runs and prints its tables."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_synthetic.py"), "--quick"], cwd=root,
                         capture_output=True, text=True, env={**os.environ, "MARSLAB_CACHE": str(tmp_cache)}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    for line in ("generation wall s", "cached reload", "Per-class appearance", "label-noise ceiling", "texture features"):
        assert line in out.stdout, line


def test_caches_of_older_generator_versions_are_left_alone(tmp_cache):
    """Issue 24: writing a set deletes nothing this process did not create (old versions, users' files)."""
    tmp_cache.mkdir(parents=True)
    (tmp_cache / "mars_v0_seed0_30_10_3").mkdir()
    (tmp_cache / "mars_v0_seed0_30_10_3.npz").write_bytes(b"old")
    (tmp_cache / "notes.txt").write_text("not ours")
    make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    names = sorted(p.name for p in tmp_cache.iterdir())
    assert names == ["mars_v0_seed0_30_10_3", "mars_v0_seed0_30_10_3.npz",
                     f"mars_v{synthetic.GENERATOR_VERSION}_seed3_30_10_3", "notes.txt"]
