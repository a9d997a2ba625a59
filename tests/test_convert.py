"""The AI4Mars converter, on tiny image and label files written here."""
import numpy as np
import pytest
from PIL import Image

from marslab.convert import convert_ai4mars, convert_frame, main, pair_files, remap_labels
from marslab.data import load_mars


def test_remap_follows_the_course_classes():
    label = np.array([[0, 1, 2, 3, 255]])
    assert remap_labels(label).tolist() == [[1, 2, 3, 4, 0]]
    with pytest.raises(ValueError, match=r"0, 1, 2, 3 or 255, found \[4, 7\]"):
        remap_labels(np.array([4, 7, 0]))


def test_a_frame_becomes_two_halves_area_averaged_image_nearest_label():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (256, 256)).astype(np.uint8)
    label = np.repeat(np.repeat(rng.choice([0, 1, 2, 3, 255], (64, 64)), 4, 0), 4, 1).astype(np.uint8)
    images, masks = convert_frame(image, label)
    assert images.shape == masks.shape == (2, 64, 128) and images.dtype == masks.dtype == np.uint8
    area = image.reshape(128, 2, 128, 2).astype(float).mean(axis=(1, 3))  # 2x2 block means
    assert np.abs(images.reshape(128, 128) - area).max() <= 1
    course = {0: 1, 1: 2, 2: 3, 3: 4, 255: 0}
    expected = np.vectorize(course.get)(label[::2, ::2]).astype(np.uint8)  # labels are constant over 4x4 blocks
    assert np.array_equal(masks.reshape(128, 128), expected)
    assert np.array_equal(masks[0], expected[:64]) and np.array_equal(masks[1], expected[64:])


def test_frame_errors():
    with pytest.raises(ValueError, match="grayscale"):
        convert_frame(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"image's shape \(8, 8\), found \(8, 4\)"):
        convert_frame(np.zeros((8, 8), np.uint8), np.zeros((8, 4), np.uint8))


def write_frames(tmp_path, n, size=32, bad=None):
    """n tiny frames: image i is a constant gray 10*i (JPG or PNG), its label a constant class i % 4."""
    image_dir, label_dir = tmp_path / "edr", tmp_path / "labels"
    image_dir.mkdir()
    label_dir.mkdir()
    for i in range(n):
        image = np.full((size, size), 10 * i, np.uint8)
        Image.fromarray(image).save(image_dir / f"NLB_{i:03d}.{'JPG' if i % 2 else 'png'}")
        label = np.full((size, size), i % 4, np.uint8)
        label[: size // 4] = 255  # unlabelled sky band
        if bad == i:
            label[0, 0] = 9
        suffix = "_merged" if i == 1 else ""
        Image.fromarray(label).save(label_dir / f"NLB_{i:03d}{suffix}.png")
    Image.fromarray(np.zeros((size, size), np.uint8)).save(label_dir / "no_image_for_this.png")
    return image_dir, label_dir


def test_convert_writes_a_course_file_that_load_mars_accepts(tmp_path):
    image_dir, label_dir = write_frames(tmp_path, 10)
    assert len(pair_files(image_dir, label_dir)) == 10  # the _merged label is matched, the orphan skipped
    out = tmp_path / "data" / "mars_for_students.npz"
    convert_ai4mars(image_dir, label_dir, out, test_fraction=0.3, seed=1)
    data = load_mars(out)
    assert data.source == "real"
    assert data.images.shape == (14, 64, 128) and data.test_images.shape == (6, 64, 128)
    assert data.test_masks.shape == (6, 64, 128)
    frames = np.concatenate([data.images, data.test_images])[:, 40, 40] // 10  # gray level tells the frame
    assert sorted(frames.tolist()) == sorted(2 * list(range(10)))
    for image, mask in zip(np.concatenate([data.images, data.test_images]), np.concatenate([data.masks, data.test_masks])):
        i = int(round(image[40, 40] / 10))
        terrain = mask[mask != 0]
        assert np.all(terrain == i % 4 + 1)  # AI4Mars class i % 4 -> course class i % 4 + 1
    assert np.all(data.masks[::2, :32] == 0) and np.all(data.masks[::2, 32:] != 0)  # unlabelled band -> Background


def test_both_halves_of_a_frame_stay_on_the_same_side(tmp_path):
    image_dir, label_dir = write_frames(tmp_path, 8)
    data = convert_ai4mars(image_dir, label_dir, tmp_path / "out.npz", test_fraction=0.25)
    train_frames = set((data.images[:, 40, 40] // 10).tolist())
    test_frames = set((data.test_images[:, 40, 40] // 10).tolist())
    assert not train_frames & test_frames and len(test_frames) == 2


def test_convert_errors_name_the_file_or_the_setting(tmp_path):
    image_dir, label_dir = write_frames(tmp_path, 4, bad=2)
    with pytest.raises(ValueError, match=r"NLB_002.png: AI4Mars labels must be .* found \[9\]"):
        convert_ai4mars(image_dir, label_dir, tmp_path / "out.npz")
    with pytest.raises(ValueError, match="test_fraction"):
        convert_ai4mars(image_dir, label_dir, tmp_path / "out.npz", test_fraction=0)
    with pytest.raises(FileNotFoundError, match="label_dir"):
        pair_files(image_dir, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no label PNG"):
        pair_files(image_dir, tmp_path / "empty")


def test_command_line(tmp_path, capsys):
    image_dir, label_dir = write_frames(tmp_path, 5)
    main([str(image_dir), str(label_dir), str(tmp_path / "c.npz"), "--test-fraction", "0.4"])
    assert "training_set 6 samples, test_set 4 samples" in capsys.readouterr().out
