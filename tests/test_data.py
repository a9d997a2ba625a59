"""load_mars: the real course file (validated, with clear errors), the synthetic fallback, save_course_npz."""
import os
from pathlib import Path

import numpy as np
import pytest

from marslab import course_file
from marslab import data as data_module
from marslab.course_file import MarsData, read_course_npz, save_course_npz
from marslab.data import load_mars

SHARED_AI4MARS = Path(os.environ.get("MARSLAB_AI4MARS") or
                      Path(__file__).resolve().parents[2] / "shared" / "data" / "ai4mars_train_64x128.npz")


def course_arrays(n=4, m=3):
    rng = np.random.default_rng(0)
    train = np.stack([rng.integers(0, 256, (n, 64, 128)), rng.integers(0, 5, (n, 64, 128))], axis=1).astype(np.uint8)
    return {"training_set": train, "test_set": rng.integers(0, 256, (m, 64, 128)).astype(np.uint8)}


def write(tmp_path, name="mars_for_students.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def no_real_data_around(tmp_path, monkeypatch):
    """Each test starts with no $MARSLAB_DATA, an empty working directory and its own cache."""
    monkeypatch.delenv("MARSLAB_DATA", raising=False)
    monkeypatch.setenv("MARSLAB_CACHE", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def test_loads_a_valid_course_file(tmp_path):
    arrays = course_arrays()
    data = load_mars(write(tmp_path, **arrays))
    assert data.source == "real"
    assert np.array_equal(data.images, arrays["training_set"][:, 0])
    assert np.array_equal(data.masks, arrays["training_set"][:, 1])
    assert np.array_equal(data.test_images, arrays["test_set"])
    assert data.clean_masks is None and data.test_masks is None and data.alien_index is None


def test_finds_the_file_through_the_environment_and_data_folder(tmp_path, monkeypatch):
    arrays = course_arrays()
    folder = tmp_path / "somewhere"
    folder.mkdir()
    write(folder, **arrays)
    monkeypatch.setenv("MARSLAB_DATA", str(folder))  # a folder holding the file
    assert load_mars().source == "real"
    monkeypatch.delenv("MARSLAB_DATA")
    (Path.cwd() / "data").mkdir()
    write(Path.cwd() / "data", **arrays)  # data/ in the course root
    assert np.array_equal(load_mars().images, arrays["training_set"][:, 0])


def test_a_path_that_does_not_exist_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_mars(tmp_path / "missing.npz")
    monkeypatch.setenv("MARSLAB_DATA", str(tmp_path / "nowhere.npz"))
    with pytest.raises(FileNotFoundError, match="MARSLAB_DATA"):
        load_mars()


def test_a_file_that_is_not_an_npz(tmp_path):
    path = tmp_path / "mars_for_students.npz"
    path.write_text("not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_mars(path)


def test_missing_training_set(tmp_path):
    arrays = course_arrays()
    del arrays["training_set"]
    with pytest.raises(KeyError, match="no key 'training_set'.*found"):
        load_mars(write(tmp_path, **arrays))


def test_a_training_only_file_is_read_without_test_images_said_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(course_file, "_said_no_test", set())
    arrays = course_arrays(n=5)
    del arrays["test_set"]
    path = write(tmp_path, **arrays)
    first, second = load_mars(path), load_mars(path)
    assert first.images.shape == (5, 64, 128) and np.array_equal(second.masks, arrays["training_set"][:, 1])
    assert first.test_images.shape == (0, 64, 128) and first.test_images.dtype == np.uint8
    out = capsys.readouterr().out
    assert out.count("no test_set") == 1 and "5 training images only" in out
    with pytest.raises(KeyError, match="'test_masks' but no 'test_set'"):
        load_mars(write(tmp_path, "other.npz", **arrays, test_masks=np.zeros((2, 64, 128), np.uint8)))
    back = read_course_npz(save_course_npz(first, tmp_path / "again.npz"))  # saved without a test_set
    assert back.test_images.shape == (0, 64, 128) and np.array_equal(back.images, first.images)


def test_frame_ids_are_read_checked_and_saved(tmp_path):
    arrays = course_arrays(n=4, m=3)
    ids, test_ids = np.array(["a", "a", "b", "b"]), np.array([7, 7, 9])
    data = load_mars(write(tmp_path, **arrays, image_id=ids, test_image_id=test_ids))
    assert np.array_equal(data.image_id, ids) and np.array_equal(data.test_image_id, test_ids)
    back = read_course_npz(save_course_npz(data, tmp_path / "saved.npz"))
    assert np.array_equal(back.image_id, ids) and np.array_equal(back.test_image_id, test_ids)
    with pytest.raises(ValueError, match=r"image_id must have shape \(4,\), one id per image, found \(3,\)"):
        load_mars(write(tmp_path, "short.npz", **arrays, image_id=ids[:3]))
    with pytest.raises(TypeError, match=r"test_image_id must hold strings or integers \(one frame id per image\), found dtype float64"):
        load_mars(write(tmp_path, "float.npz", **arrays, test_image_id=np.zeros(3)))


def test_the_ai4mars_name_without_its_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(data_module, "sample_path", lambda: tmp_path / "gone.npz")
    with pytest.raises(FileNotFoundError, match="asks for the AI4Mars sample.*reinstall marslab"):
        load_mars("ai4mars")
    monkeypatch.setenv("MARSLAB_DATA", "ai4mars")
    with pytest.raises(FileNotFoundError, match="MARSLAB_DATA asks for the AI4Mars sample"):
        load_mars()


BAD_CASES = {
    "training_set without the image/mask axis": ("training_set", np.zeros((4, 64, 128), np.uint8), r"training_set must have shape \(N, 2, 64, 128\), found \(4, 64, 128\)"),
    "three channels": ("training_set", np.zeros((4, 3, 64, 128), np.uint8), r"\(N, 2, 64, 128\), found \(4, 3, 64, 128\)"),
    "wrong image size": ("training_set", np.zeros((4, 2, 64, 64), np.uint8), r"found \(4, 2, 64, 64\)"),
    "empty training set": ("training_set", np.zeros((0, 2, 64, 128), np.uint8), r"at least one sample, found shape \(0, 2, 64, 128\)"),
    "float images": ("training_set", np.zeros((4, 2, 64, 128), np.float32), "training_set must be uint8, found dtype float32"),
    "int64 images": ("training_set", np.zeros((4, 2, 64, 128), np.int64), "must be uint8, found dtype int64"),
    "test_set of pairs": ("test_set", np.zeros((3, 2, 64, 128), np.uint8), r"test_set must have shape \(N, 64, 128\), found \(3, 2, 64, 128\)"),
    "test_set float": ("test_set", np.zeros((3, 64, 128), np.float64), "test_set must be uint8, found dtype float64"),
    "test_masks of another length": ("test_masks", np.zeros((2, 64, 128), np.uint8), r"test_masks must have shape \(3, 64, 128\), found \(2, 64, 128\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_malformed_arrays_get_an_error_naming_key_expected_and_found(tmp_path, case):
    key, value, message = BAD_CASES[case]
    arrays = {**course_arrays(), key: value}
    with pytest.raises((ValueError, TypeError), match=message):
        load_mars(write(tmp_path, **arrays))


@pytest.mark.parametrize("label", [5, 255])
def test_mask_labels_outside_0_to_4(tmp_path, label):
    arrays = course_arrays()
    arrays["training_set"][1, 1, 3, 7] = label
    with pytest.raises(ValueError, match=rf"masks\) must hold labels 0..4, found values \[{label}\]"):
        load_mars(write(tmp_path, **arrays))


def test_without_a_real_file_it_says_so_once_and_returns_the_synthetic_set(monkeypatch, capsys):
    from marslab.synthetic import make_mars

    small = make_mars(n_train=20, n_test=5, n_aliens=2, cache=False)
    monkeypatch.setattr(data_module, "make_mars", lambda: small)
    monkeypatch.setattr(data_module, "_said_synthetic", False)
    first, second = load_mars(), load_mars()
    assert first.source == "synthetic" and second is small
    assert capsys.readouterr().out.count("synthetic") == 1


def test_save_and_read_back(tmp_path):
    from marslab.synthetic import make_mars

    synthetic = make_mars(n_train=12, n_test=4, n_aliens=2, cache=False)
    path = save_course_npz(synthetic, tmp_path / "course.npz", with_test_masks=True)
    with np.load(path) as npz:  # the course layout, checked independently of the reader
        assert npz["training_set"].shape == (12, 2, 64, 128)
        assert np.array_equal(npz["training_set"][:, 1], synthetic.masks)
    back = load_mars(path)
    assert back.source == "synthetic"
    for name in ("images", "masks", "test_images", "test_masks"):
        assert np.array_equal(getattr(back, name), getattr(synthetic, name)), name
    real = read_course_npz(write(tmp_path, **course_arrays()))
    with pytest.raises(ValueError, match="no test_masks"):
        save_course_npz(real, tmp_path / "x.npz", with_test_masks=True)
    with pytest.raises(ValueError, match="labels 0..4"):
        save_course_npz(MarsData(real.images, real.masks + 5, real.test_images, "real"), tmp_path / "y.npz")


def test_repr_is_short():
    data = MarsData(np.zeros((2, 64, 128), np.uint8), np.zeros((2, 64, 128), np.uint8), np.zeros((1, 64, 128), np.uint8), "real")
    assert repr(data) == "MarsData(source='real', images=(2, 64, 128) uint8, masks=(2, 64, 128) uint8, test_images=(1, 64, 128) uint8)"


@pytest.mark.skipif(not SHARED_AI4MARS.is_file(), reason="the shared AI4Mars sample is not beside this checkout")
def test_real_ai4mars_images_go_through_the_course_path(tmp_path):
    with np.load(SHARED_AI4MARS) as npz:
        pairs = npz["training_set"]
    # README of the shared file: Background 43.1 %, Soil 21.0 %, Bedrock 28.6 %, Sand 6.7 %, Big Rock 0.51 %
    percent = 100 * np.bincount(pairs[:, 1].ravel(), minlength=5) / pairs[:, 1].size
    assert np.allclose(percent, [43.1, 21.0, 28.6, 6.7, 0.51], atol=0.1)
    path = write(tmp_path, training_set=pairs[:300], test_set=pairs[300:400, 0])
    data = load_mars(path)
    assert data.source == "real" and data.images.shape == (300, 64, 128) and data.test_images.shape == (100, 64, 128)
    assert np.array_equal(data.masks, pairs[:300, 1])
    whole = load_mars(SHARED_AI4MARS)  # training images only, with their frame ids
    assert whole.images.shape == (8400, 64, 128) and whole.test_images.shape == (0, 64, 128)
    assert len(np.unique(whole.image_id)) == 4200


def test_class_appearance_on_images_with_known_statistics():
    from marslab.data import APPEARANCE_COLUMNS, class_appearance

    images = np.zeros((2, 64, 128), np.uint8)
    images[0] = 50  # flat: no texture, no gradient
    images[1] = np.arange(128)[None, :]  # a ramp of 1 per pixel: Sobel x = (1 + 1) * (1 + 2 + 1) = 8 inside
    masks = np.zeros((2, 64, 128), np.uint8)
    masks[1, 10:20, 10:20] = 2  # a patch well inside the ramp
    table = class_appearance(images, masks)
    assert table.shape == (5, len(APPEARANCE_COLUMNS))
    pct, mean, std, local_std, gradient, in_images = table[2]
    assert np.isclose(pct, 100 * 100 / masks.size) and np.isclose(in_images, 50)
    assert np.isclose(mean, np.arange(10, 20).mean()) and np.isclose(std, np.arange(10, 20).std())
    assert np.isclose(local_std, np.sqrt(2.0), atol=1e-3)  # std of 5 consecutive integers
    assert np.isclose(gradient, 8.0)
    assert np.all(np.isnan(table[1]))  # an absent class
    with pytest.raises(ValueError, match="both be"):
        class_appearance(images, masks[:1])


def test_find_ai4mars_follows_the_environment(tmp_path, monkeypatch):
    from marslab.data import find_ai4mars

    monkeypatch.setenv("MARSLAB_AI4MARS", str(tmp_path / "absent.npz"))
    with pytest.raises(FileNotFoundError, match="MARSLAB_AI4MARS"):
        find_ai4mars()
    write(tmp_path, "ai4mars.npz", **course_arrays())
    monkeypatch.setenv("MARSLAB_AI4MARS", str(tmp_path / "ai4mars.npz"))
    assert find_ai4mars() == tmp_path / "ai4mars.npz"
