"""The real AI4Mars sample shipped in the package, the tool that rebuilds it, and what real data asks of marslab:
frame-level splits, no false aliens, a recipe that survives a subset without Big Rock."""
import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from marslab.data import find_ai4mars, load_mars, sample_path

ROOT = Path(__file__).resolve().parents[1]
# the whole converted file: $MARSLAB_AI4MARS, else ../shared/data/ beside the checkout (absent in CI: tests skip)
SHARED_AI4MARS = find_ai4mars() or ROOT.parent / "shared" / "data" / "ai4mars_train_64x128.npz"
# ../shared/data/README.md: % of pixels of the 8,400 real crops (Background, Soil, Bedrock, Sand, Big Rock)
SHARED_PERCENT = np.array([43.1, 21.0, 28.6, 6.7, 0.51])


def load_tool():
    spec = importlib.util.spec_from_file_location("make_ai4mars_sample", ROOT / "tools" / "make_ai4mars_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("MARSLAB_DATA", raising=False)
    monkeypatch.setenv("MARSLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def sample():
    return load_mars("ai4mars")


@pytest.fixture(scope="module")
def raw():
    with np.load(sample_path(), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def test_the_sample_is_package_data_under_8_mb_with_its_note():
    assert sample_path().is_file() and sample_path().parent.name == "samples"
    assert sample_path().stat().st_size <= 8_000_000
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["tool"]["setuptools"]["package-data"]["marslab"]
    assert "samples/ai4mars_sample.npz" in declared and "samples/README.md" in declared  # so a wheel carries them
    note = (sample_path().parent / "README.md").read_text()
    for needed in ("CC0-1.0", "Swan", "CVPR", "tools/make_ai4mars_sample.py"):
        assert needed in note, needed


def test_load_mars_ai4mars_is_the_course_format(sample):
    assert sample.source == "ai4mars"
    n, m = len(sample.images), len(sample.test_images)
    assert n >= 500 and m >= 100
    for name, count in (("images", n), ("masks", n), ("test_images", m), ("test_masks", m)):
        array = getattr(sample, name)
        assert array.shape == (count, 64, 128) and array.dtype == np.uint8, name
    assert sample.masks.max() <= 4 and sample.test_masks.max() <= 4
    assert sample.image_id.shape == (n,) and sample.test_image_id.shape == (m,)
    assert sample.clean_masks is None and sample.alien_index is None  # real labels: no truth beyond them


def test_the_environment_variable_gives_the_same_sample(sample, monkeypatch):
    monkeypatch.setenv("MARSLAB_DATA", "ai4mars")
    again = load_mars()
    assert again.source == "ai4mars"
    np.testing.assert_array_equal(again.images, sample.images)
    np.testing.assert_array_equal(again.test_masks, sample.test_masks)


def test_whole_frames_only_and_no_frame_in_both_splits(raw):
    for ids, halves in ((raw["image_id"], raw["half"]), (raw["test_image_id"], raw["test_half"])):
        frames, counts = np.unique(ids, return_counts=True)
        assert np.all(counts == 2), "each frame contributes its two halves"
        for frame in frames[:50]:
            assert sorted(halves[ids == frame].tolist()) == ["bottom", "top"]
    assert np.intersect1d(raw["image_id"], raw["test_image_id"]).size == 0


def test_big_rock_in_both_splits_and_class_shares_like_the_whole_file(sample):
    assert (sample.masks == 4).any(axis=(1, 2)).sum() >= 20
    assert (sample.test_masks == 4).any(axis=(1, 2)).sum() >= 5
    percent = 100 * np.bincount(sample.masks.ravel(), minlength=5) / sample.masks.size
    np.testing.assert_allclose(percent[:4], SHARED_PERCENT[:4], atol=3.0)
    assert 0.25 < percent[4] < 1.0, percent


def test_no_aliens_in_real_data(sample):
    from marslab.cleaning import find_aliens

    assert find_aliens(sample.masks).size == 0
    assert find_aliens(np.concatenate([sample.masks, sample.test_masks]), min_count=2).size == 0


@pytest.mark.skipif(not SHARED_AI4MARS.is_file(), reason="the 8,400-crop AI4Mars file is not beside this checkout")
def test_no_aliens_in_the_whole_real_file_although_simple_masks_repeat():
    from marslab.cleaning import find_aliens, mask_repeats

    with np.load(SHARED_AI4MARS) as npz:
        masks = npz["training_set"][:, 1]
    repeats = mask_repeats(masks, top=3)
    assert [count for count, _, _ in repeats] == [155, 69, 46]  # the honest repeats the old rule tripped over
    assert find_aliens(masks).size == 0
    assert find_aliens(masks, min_count=2).size == 0


@pytest.mark.skipif(not SHARED_AI4MARS.is_file(), reason="the 8,400-crop AI4Mars file is not beside this checkout")
def test_the_tool_rebuilds_the_shipped_file_byte_for_byte(tmp_path):
    tool = load_tool()
    out = tmp_path / "sample.npz"
    assert tool.main(["--source", str(SHARED_AI4MARS), "--out", str(out)]) == 0
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (out, sample_path())]
    assert digest[0] == digest[1]


def fake_source(path, n_frames=700, seed=0):
    """A course-format file of n_frames frames (two halves each), Big Rock in about one frame in six."""
    rng = np.random.default_rng(seed)
    pairs = np.zeros((2 * n_frames, 2, 64, 128), np.uint8)
    pairs[:, 1] = rng.integers(0, 4, (2 * n_frames, 1, 1))
    rock_frames = rng.random(n_frames) < 1 / 6
    pairs[2 * np.flatnonzero(rock_frames) + 1, 1, 10:14, 20:26] = 4  # in the bottom half
    pairs[:, 0] = np.arange(2 * n_frames)[:, None, None] % 251  # each image tells where it came from
    ids = np.repeat([f"F{k:04d}" for k in rng.permutation(n_frames)], 2)
    np.savez(path, training_set=pairs, image_id=ids, half=np.tile(["top", "bottom"], n_frames))
    return rock_frames


def test_the_tool_keeps_frames_whole_stratifies_and_never_overwrites(tmp_path, capsys):
    tool = load_tool()
    source, out = tmp_path / "source.npz", tmp_path / "sample.npz"
    rock_frames = fake_source(source)
    assert tool.main(["--source", str(source), "--out", str(out)]) == 0
    with np.load(out) as npz:
        got = {key: npz[key] for key in npz.files}
    train_frames, test_frames = np.unique(got["image_id"]), np.unique(got["test_image_id"])
    assert (len(train_frames), len(test_frames)) == (tool.TRAIN_FRAMES, tool.TEST_FRAMES)
    assert np.intersect1d(train_frames, test_frames).size == 0
    with np.load(source) as npz:  # every image is its source image, with its own mask and frame id
        pairs, ids = npz["training_set"], npz["image_id"]
    for images, masks, frame_ids in ((got["training_set"][:, 0], got["training_set"][:, 1], got["image_id"]),
                                     (got["test_set"], got["test_masks"], got["test_image_id"])):
        rows = np.flatnonzero(np.isin(ids, frame_ids))
        np.testing.assert_array_equal(images, pairs[rows, 0])
        np.testing.assert_array_equal(masks, pairs[rows, 1])
    rock_share = rock_frames.mean()
    for frame_ids, masks in ((got["image_id"], got["training_set"][:, 1]), (got["test_image_id"], got["test_masks"])):
        share = (masks == 4).any(axis=(1, 2)).sum() / len(np.unique(frame_ids))
        assert abs(share - rock_share) < 0.02, (share, rock_share)
    before = out.read_bytes()
    assert tool.main(["--source", str(source), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.read_bytes() == before
    assert tool.main(["--source", str(tmp_path / "absent.npz"), "--out", str(tmp_path / "x.npz")]) == 2


def test_marslab_info_names_and_counts_the_sample(monkeypatch):
    from marslab.info import environment_report

    monkeypatch.setenv("MARSLAB_DATA", "ai4mars")
    line = environment_report()["data"]
    assert line.startswith("ai4mars (the real AI4Mars sample") and "960 training and 240 test images" in line
    monkeypatch.setenv("MARSLAB_DATA", str(ROOT / "nowhere.npz"))
    assert environment_report()["data"].startswith("unusable: MARSLAB_DATA points to")


def test_local_scoring_against_the_sample(sample, tmp_path, capsys):
    from marslab.cli import main
    from marslab.submission import to_csv

    to_csv(sample.test_masks, tmp_path / "perfect.csv", progress=False)
    assert main(["score", str(tmp_path / "perfect.csv"), "--truth", "ai4mars"]) == 0
    assert "1.0000  mean IoU" in capsys.readouterr().out


def test_a_frame_level_split_of_the_sample(sample):
    from marslab.cleaning import stratified_split

    train, val = stratified_split(sample.masks, val_fraction=0.2, seed=0, groups=sample.image_id)
    assert np.intersect1d(sample.image_id[train], sample.image_id[val]).size == 0
    assert abs(len(np.unique(sample.image_id[val])) - 0.2 * len(np.unique(sample.image_id))) <= 1
    assert (sample.masks[val] == 4).any() and (sample.masks[train] == 4).any()
    by_image = stratified_split(sample.masks, val_fraction=0.2, seed=0)[1]  # what a split by image does instead
    assert np.isin(sample.image_id[by_image], sample.image_id[np.setdiff1d(train, by_image)]).mean() > 0.5


def test_the_recipe_parts_survive_a_subset_without_big_rock(sample):
    from marslab.augment import copy_paste
    from marslab.recipe import recipe_loss, recipe_weights

    no_rock = np.flatnonzero(~(sample.masks == 4).any(axis=(1, 2)))[:64]
    images, masks = sample.images[no_rock], sample.masks[no_rock]
    with pytest.warns(UserWarning, match="no image contains class 4"):
        pasted_images, pasted_masks = copy_paste(images, masks, n=8, seed=0)
    assert pasted_images.shape == pasted_masks.shape == (0, 64, 128)
    with pytest.warns(UserWarning, match=r"classes \[4\] have no pixels"):
        weights = recipe_weights(masks)
    freqs = np.bincount(masks.ravel(), minlength=5) / masks.size
    expected = np.r_[0.0, freqs[1:4] ** -0.5, 0.0]  # inverse frequency ** 0.5 on the classes that are there
    np.testing.assert_allclose(weights, expected / (freqs @ expected), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loss = recipe_loss(masks)
    probs = np.full((2, 64, 128, 5), 0.2, np.float32)
    value = float(loss(masks[:2].astype("int32"), probs))
    assert np.isfinite(value) and value > 0

