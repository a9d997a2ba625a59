"""Issue 24: every entry point under bad input and interruption. One test per reported case (and per case
of the same kind elsewhere): no work lost, no traceback where one line was promised, nothing silently
accepted, memory bounded. The table of what each input gets is in docs/instructors.md."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from numpy.lib import format as npy

from marslab import BIG_ROCK
from marslab.cli import main as cli
from marslab.course_file import MarsData, read_course_npz, save_course_npz
from marslab.synthetic import GENERATOR_VERSION

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MARSLAB_DATA", raising=False)


def course(n=4, m=3, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    train = np.stack([rng.integers(0, 256, (n, 64, 128)), rng.integers(0, 5, (n, 64, 128))], 1).astype(np.uint8)
    return {"training_set": train, "test_set": rng.integers(0, 256, (m, 64, 128)).astype(np.uint8),
            "test_masks": rng.integers(0, 5, (m, 64, 128)).astype(np.uint8)}


def one_line_error(capsys, rc: int) -> str:
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------------------------------- work lost
def solutions_folder(tmp_path) -> Path:
    folder = tmp_path / "solutions"
    folder.mkdir()
    source = (ROOT / "solutions" / "03_class_weights.ipynb").read_text()
    (folder / "03_class_weights.ipynb").write_text(source)
    return folder


@pytest.mark.parametrize("layout", ["same", "exercises inside", "solutions inside"])
def test_exercises_refuse_folders_that_would_overwrite_the_solutions(tmp_path, capsys, layout):
    solutions = solutions_folder(tmp_path)
    exercises = {"same": solutions, "exercises inside": solutions / "ex", "solutions inside": tmp_path}[layout]
    before = {p: p.read_bytes() for p in solutions.rglob("*")}
    err = one_line_error(capsys, cli(["exercises", "--solutions", str(solutions), "--exercises", str(exercises)]))
    assert "two separate folders" in err
    assert {p: p.read_bytes() for p in solutions.rglob("*")} == before


def test_exercises_never_overwrite_a_notebook_with_solution_markers(tmp_path, capsys):
    solutions = solutions_folder(tmp_path)
    exercises = tmp_path / "exercises"
    exercises.mkdir()
    solved = exercises / "03_class_weights.ipynb"
    solved.write_text((solutions / "03_class_weights.ipynb").read_text())
    err = one_line_error(capsys, cli(["exercises", "--solutions", str(solutions), "--exercises", str(exercises)]))
    assert "holds solution markers" in err and "### BEGIN SOLUTION" in solved.read_text()
    solved.unlink()  # once it is gone, the exercise is written (and only it: no temporary file is left)
    assert cli(["exercises", "--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    assert [p.name for p in exercises.iterdir()] == ["03_class_weights.ipynb"]
    assert "### BEGIN SOLUTION" not in solved.read_text()


def test_exercises_without_nbgrader_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "nbgrader.preprocessors", None)  # as if nbgrader were not installed
    monkeypatch.delitem(sys.modules, "marslab.exercises", raising=False)
    err = one_line_error(capsys, cli(["exercises", "--solutions", str(solutions_folder(tmp_path))]))
    assert "nbgrader" in err


def test_data_refuses_to_overwrite_without_force_and_writes_atomically(tmp_path, capsys):
    out = tmp_path / "existing.npz"
    out.write_bytes(b"a user's real course file")
    sizes = ["--n-train", "8", "--n-test", "4", "--n-aliens", "2"]
    err = one_line_error(capsys, cli(["data", "--out", str(out), *sizes]))
    assert "already exists" in err and "--force" in err
    assert out.read_bytes() == b"a user's real course file"
    assert cli(["data", "--out", str(out), "--force", *sizes]) == 0
    assert read_course_npz(out).images.shape == (8, 64, 128)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["existing.npz"]  # no temporary left


def test_data_reports_the_file_it_really_wrote(tmp_path, capsys):
    assert cli(["data", "--out", str(tmp_path / "name"), "--n-train", "8", "--n-test", "4", "--n-aliens", "2"]) == 0
    assert f"wrote {tmp_path / 'name.npz'}:" in capsys.readouterr().out
    assert (tmp_path / "name.npz").is_file() and not (tmp_path / "name").exists()


def test_save_course_npz_interrupted_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_course_npz(read_course_npz(write_npz(tmp_path / "a.npz", course())), tmp_path / "b.npz")
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        save_course_npz(read_course_npz(path), path, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz"]


def tiny_model():
    inputs = keras.Input((64, 128, 1))
    return keras.Model(inputs, keras.layers.Conv2D(5, 1, activation="softmax")(inputs))


def fit_into(folder, learning_rate, epochs=1, overwrite=False):
    from marslab.training import fit

    rng = np.random.default_rng(0)
    masks = np.where(rng.random((8, 64, 128)) < 0.5, 1, 2).astype("uint8")
    images = (masks[..., None] == 1).astype("float32")
    keras.utils.set_random_seed(0)
    model = tiny_model()
    fit(model, (images, masks), (images, masks), epochs=epochs, loss="sparse_categorical_crossentropy",
        out_dir=folder, batch_size=4, learning_rate=learning_rate, warmup_epochs=0, verbose=0)
    return model


def test_a_second_run_never_replaces_a_better_checkpoint(tmp_path):
    fit_into(tmp_path, learning_rate=5e-2, epochs=3)  # learns the trivial task
    first = json.loads((tmp_path / "best.json").read_text())
    saved = (tmp_path / "best.keras").read_bytes()
    fit_into(tmp_path, learning_rate=1e-9)  # learns nothing: its best is worse
    assert json.loads((tmp_path / "best.json").read_text()) == first
    assert (tmp_path / "best.keras").read_bytes() == saved
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 3 + 1  # the log is appended to


def test_an_unrecorded_earlier_checkpoint_is_kept_aside(tmp_path, capsys):
    from marslab.training import make_callbacks

    (tmp_path / "best.keras").write_bytes(b"a model from an older run")
    make_callbacks(tmp_path)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("best.earlier-")]
    assert len(kept) == 1 and kept[0].read_bytes() == b"a model from an older run"
    assert kept[0].name in capsys.readouterr().err and not (tmp_path / "best.keras").exists()
    (tmp_path / "best.keras").write_bytes(b"another")
    make_callbacks(tmp_path, overwrite=True)  # told to replace it: it stays until a better save replaces it
    assert (tmp_path / "best.keras").read_bytes() == b"another"


def test_a_checkpoint_killed_during_its_save_leaves_the_old_one_whole(tmp_path, monkeypatch):
    from marslab.training import SafeCheckpoint

    fit_into(tmp_path, learning_rate=1e-9)
    saved = (tmp_path / "best.keras").read_bytes()
    checkpoint = SafeCheckpoint(tmp_path / "best.keras", overwrite=True)
    model = tiny_model()
    checkpoint.set_model(model)

    def killed(path, *args, **kwargs):
        Path(path).write_bytes(b"half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(0, {"val_mean_iou": 0.99})
    assert (tmp_path / "best.keras").read_bytes() == saved
    assert keras.models.load_model(tmp_path / "best.keras") is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.json", "best.keras", "history.csv"]


def test_the_cache_deletes_nothing_it_did_not_create(tmp_path):
    from marslab.synthetic import make_mars

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"mars_v{GENERATOR_VERSION - 1}_seed0_30_10_3").mkdir()  # another generator version's set
    (cache / "mars_v0_seed0_30_10_3.npz").write_bytes(b"a user's file")
    v = GENERATOR_VERSION
    young = cache / f"mars_v{v}_seed9_30_10_3.tmp-1-abc"  # a writer that died a moment ago: not yet stale
    young.mkdir()
    alive = cache / f"mars_v{v}_seed9_30_10_3.tmp-{os.getpid()}-abc"  # a writer that is still running
    alive.mkdir()
    dead = cache / f"mars_v{v}_seed8_30_10_3.tmp-999999999-abc"  # a writer killed an hour ago
    dead.mkdir()
    (dead / "images.npy").write_bytes(b"x" * 1000)
    os.utime(alive, (time.time() - 3600,) * 2)
    os.utime(dead, (time.time() - 3600,) * 2)
    make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted([f"mars_v{GENERATOR_VERSION - 1}_seed0_30_10_3", "mars_v0_seed0_30_10_3.npz",
                            young.name, alive.name,
                            f"mars_v{v}_seed3_30_10_3"])


def cached_set(tmp_path):
    from marslab.synthetic import make_mars

    data = make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    return data, tmp_path / "cache" / f"mars_v{GENERATOR_VERSION}_seed3_30_10_3"


@pytest.mark.parametrize("damage", ["masks changed to 7", "test_masks.npy missing", "images float64 (8, 32, 32)",
                                    "truncated file", "manifest missing"])
def test_a_damaged_cache_is_noticed_named_and_regenerated(tmp_path, capsys, damage):
    from marslab.synthetic import make_mars

    first, folder = cached_set(tmp_path)
    if damage == "masks changed to 7":
        masks = np.load(folder / "masks.npy")
        masks[0, 0, 0] = 7
        np.save(folder / "masks.npy", masks)
    elif damage == "test_masks.npy missing":
        (folder / "test_masks.npy").unlink()
    elif damage == "images float64 (8, 32, 32)":
        np.save(folder / "images.npy", np.zeros((8, 32, 32)))
    elif damage == "truncated file":
        data = (folder / "images.npy").read_bytes()
        (folder / "images.npy").write_bytes(data[:len(data) // 2])
    else:
        (folder / "manifest.json").unlink()
    again = make_mars(seed=3, n_train=30, n_test=10, n_aliens=3)
    note = capsys.readouterr().err
    assert str(folder) in note and "failed its check" in note and "regenerating" in note
    for name in ("images", "masks", "test_masks", "alien_index"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert make_mars(seed=3, n_train=30, n_test=10, n_aliens=3) is not None and capsys.readouterr().err == ""
    assert any(p.name.startswith(folder.name + ".invalid-") for p in folder.parent.iterdir())  # kept aside


# ------------------------------------------------------------------------------------------ silently wrong
def conv_model():
    inputs = keras.Input((64, 128, 1))
    return keras.Model(inputs, keras.layers.Conv2D(5, 3, padding="same", activation="softmax")(inputs))


@pytest.mark.parametrize("images, words", [
    (np.full((2, 64, 128, 1), 200.0, np.float32), "values in [0, 1]"),
    (np.full((2, 64, 128, 1), np.nan, np.float32), "NaN"),
    (np.zeros((2, 64, 128, 1), np.uint8), "uint8 (N, 64, 128) or float32"),
])
def test_predict_refuses_images_it_would_misread(images, words):
    from marslab.postprocess import predict_probs

    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        predict_probs(conv_model(), images, progress=False)


@pytest.mark.parametrize("shape", [(64, 128, 0), (64, -128, 1), (64, 128), (64.0, 128, 1)])
def test_builders_refuse_an_impossible_input_shape(shape):
    from marslab.models import unet, unet3plus, unet_plus_plus

    for builder in (unet, unet_plus_plus, unet3plus):
        with pytest.raises(ValueError, match="input_shape"):
            builder(input_shape=shape, filters=2, depth=2)


@pytest.mark.parametrize("label", [-1, 7, 1.5])
def test_metric_refuses_labels_that_are_not_classes(label):
    from marslab.metrics import CompetitionMeanIoU

    y = np.ones((1, 4, 4), np.float32)
    y[0, 0, 0] = label
    probs = np.full((1, 4, 4, 5), 0.2, np.float32)
    with pytest.raises(ValueError, match="y_true must hold labels 0..4"):
        CompetitionMeanIoU().update_state(y, probs)
    metric = CompetitionMeanIoU()  # symbolic labels (inside fit) cannot raise: the result turns NaN
    metric.update_state(keras.ops.convert_to_tensor(y), probs)
    assert np.isnan(float(metric.result()))


@pytest.mark.parametrize("name", ["cce", "focal", "dice", "cce+dice"])
def test_losses_refuse_a_label_that_is_no_class(name):
    from marslab.losses import get_loss

    labels = np.ones((1, 4, 4), np.int64)
    labels[0, 0, 0] = 7
    probs = np.full((1, 4, 4, 5), 0.2, np.float32)
    with pytest.raises(ValueError, match="y_true must hold labels 0..4"):
        get_loss(name)(labels, probs)
    assert np.isnan(float(get_loss(name)(keras.ops.convert_to_tensor(labels), probs)))  # symbolic: NaN, not 0


@pytest.mark.parametrize("weights", [[np.nan, 1, 1, 1, 1], [1, np.inf, 1, 1, 1], [1, 1, -1, 1, 1]])
def test_class_weights_must_be_finite_and_non_negative(weights):
    from marslab.losses import get_loss
    from marslab.postprocess import weighted_labels

    with pytest.raises(ValueError, match="class_weights must be 5 finite, non-negative"):
        get_loss("cce", class_weights=weights)
    with pytest.raises(ValueError, match="finite, non-negative"):
        weighted_labels(np.full((1, 4, 4, 5), 0.2, np.float32), weights)


def submission_with_id(tmp_path, first_id: str) -> Path:
    from marslab.submission import HEADER

    row = ",".join(["0"] * 8192)
    path = tmp_path / "s.csv"
    path.write_text(f"{HEADER}\n{first_id},{row}\n1,{row}\n")
    return path


@pytest.mark.parametrize("bad_id", [" 0 ", "+0", "0_0", "00", "0.0", "-0"])
def test_submission_ids_must_be_plain_decimals(tmp_path, bad_id):
    from marslab.submission import read_csv

    assert read_csv(submission_with_id(tmp_path, "0"), progress=False).shape == (2, 64, 128)
    with pytest.raises(ValueError, match="not a plain decimal"):
        read_csv(submission_with_id(tmp_path, bad_id), progress=False)


def write_npz(path: Path, arrays: dict) -> Path:
    np.savez_compressed(path, **arrays)
    return path


@pytest.mark.parametrize("source", ["banana", "real "])
def test_an_npz_cannot_claim_any_source(tmp_path, source):
    with pytest.raises(ValueError, match="source must be one of"):
        read_course_npz(write_npz(tmp_path / "c.npz", {**course(), "source": np.array(source)}))
    assert read_course_npz(write_npz(tmp_path / "d.npz", {**course(), "source": np.array("synthetic")})).source \
        == "synthetic"


def test_info_opens_the_course_file_it_reports(tmp_path, monkeypatch):
    from marslab.info import environment_report

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    write_npz(tmp_path / "data" / "mars_for_students.npz", {"images": np.zeros((2, 64, 128), np.uint8)})
    assert environment_report()["data"].startswith("unusable: ")
    assert "no key 'training_set'" in environment_report()["data"]
    write_npz(tmp_path / "data" / "mars_for_students.npz", course())
    assert environment_report()["data"].startswith("real (")


# ------------------------------------------------------------------------------ one line, not a traceback
def damaged_crc(tmp_path) -> Path:
    path = write_npz(tmp_path / "crc.npz", course(n=40, m=30))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("test_masks.npy")
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF  # mid-data
    path.write_bytes(bytes(data))
    return path


def huge_header(tmp_path) -> Path:
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, shape in (("training_set", (10_000_000, 2, 64, 128)), ("test_set", (5, 64, 128))):
            header = io.BytesIO()  # training_set declares 153 GiB and holds a few bytes
            npy.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
            zf.writestr(f"{key}.npy", header.getvalue())
    return path


def npy_renamed(tmp_path) -> Path:
    path = tmp_path / "renamed.npz"
    np.save(tmp_path / "x.npy", course()["test_set"])
    (tmp_path / "x.npy").rename(path)
    return path


def text_renamed(tmp_path) -> Path:
    path = tmp_path / "notes.npz"
    path.write_text("these are my notes\n")
    return path


@pytest.mark.parametrize("make, words", [(damaged_crc, "test_masks is damaged"), (huge_header, "GiB"),
                                         (npy_renamed, "single .npy array"),
                                         (text_renamed, "zip archive of .npy arrays")])
def test_score_truth_from_a_bad_file_is_one_line(tmp_path, capsys, make, words):
    from marslab.submission import to_csv

    to_csv(np.zeros((30, 64, 128), np.uint8), tmp_path / "s.csv", progress=False)
    err = one_line_error(capsys, cli(["score", str(tmp_path / "s.csv"), "--truth", str(make(tmp_path))]))
    assert words in err and "allow_pickle" not in err


@pytest.mark.parametrize("case", ["missing folders", "empty folders", "bad test fraction", "existing output"])
def test_convert_errors_are_one_line(tmp_path, case):
    images, labels = tmp_path / "images", tmp_path / "labels"
    if case != "missing folders":
        images.mkdir(), labels.mkdir()
    out = tmp_path / "out.npz"
    if case == "existing output":
        out.write_bytes(b"keep me")
    extra = ["--test-fraction", "1.5"] if case == "bad test fraction" else []
    result = subprocess.run([sys.executable, "-m", "marslab.convert", str(images), str(labels), str(out), *extra],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not out.exists() or out.read_bytes() == b"keep me"


# --------------------------------------------------------------------------------------- bounded memory
def deflate_bomb(path: Path, megabytes: int = 64) -> Path:
    """A small course-looking file whose training_set declares a wrong shape over `megabytes` of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("training_set.npy", "w", force_zip64=True) as member:
            npy.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False,
                                                "shape": (megabytes * 128, 64, 128)})  # no image/mask axis
            zeros = bytes(1 << 20)
            for _ in range(megabytes):
                member.write(zeros)
        zf.writestr("test_set.npy", b"")
    return path


def peak_bytes(call) -> tuple[int, Exception | None]:
    tracemalloc.start()
    try:
        call()
        error = None
    except Exception as err:  # noqa: BLE001 (the error is the point)
        error = err
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, error


def test_a_deflate_bomb_is_refused_from_its_header(tmp_path):
    path = deflate_bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 1_000_000
    peak, error = peak_bytes(lambda: read_course_npz(path))
    assert isinstance(error, ValueError) and "training_set must have shape (N, 2, 64, 128)" in str(error)
    assert peak < 5_000_000, peak  # the 64 MB behind the header were never decompressed


def test_a_garbage_csv_is_refused_after_its_first_line(tmp_path):
    from marslab.submission import read_csv

    path = tmp_path / "garbage.csv"
    with open(path, "wb") as f:
        for _ in range(40):
            f.write(os.urandom(1 << 20).replace(b"\n", b"x"))  # 40 MB, no line end
    peak, error = peak_bytes(lambda: read_csv(path, progress=False))
    assert isinstance(error, ValueError) and "header must be" in str(error)
    assert peak < 2_000_000, peak


def test_an_endless_csv_row_is_refused_without_reading_it_whole(tmp_path):
    from marslab.submission import HEADER, read_csv

    path = tmp_path / "long.csv"
    with open(path, "wb") as f:
        f.write(HEADER.encode() + b"\n0")
        for _ in range(20):
            f.write(b",1" * (1 << 19))  # one 20 MB row
    peak, error = peak_bytes(lambda: read_csv(path, progress=False))
    assert isinstance(error, ValueError) and "longer than a submission row" in str(error)
    assert peak < 6_000_000, peak  # the reader's fixed 4 MB block of rows, not the 20 MB row


# ----------------------------------------------------------------------------- checks that passed wrongs
def test_exercise_08_focal_in_numpy_is_incorrect():
    from marslab.checks import assert_check_failed, ex08

    def focal_numpy(y_true, y_pred, gamma=2.0):
        p = np.clip(np.asarray(y_pred), 1e-7, 1 - 1e-7)
        onehot = np.eye(p.shape[-1])[np.asarray(y_true)]
        return np.mean(np.sum(-onehot * (1 - p) ** gamma * np.log(p), axis=-1))

    def dice_numpy(y_true, y_pred, smooth=1.0):
        onehot = np.eye(np.shape(y_pred)[-1])[np.asarray(y_true)]
        inter = (onehot * np.asarray(y_pred)).sum((0, 1, 2))
        total = onehot.sum((0, 1, 2)) + np.asarray(y_pred).sum((0, 1, 2))
        return np.mean(1 - (2 * inter + smooth) / (total + smooth))

    assert_check_failed(ex08.q2, focal_numpy, "not a Keras backend tensor")
    assert_check_failed(ex08.q1, dice_numpy, "not a Keras backend tensor")

    def focal_numpy_inside(y_true, y_pred, gamma=2.0):  # tensors in and out, NumPy in between
        from keras import ops

        return ops.convert_to_tensor(focal_numpy(ops.convert_to_numpy(y_true), ops.convert_to_numpy(y_pred), gamma))

    assert_check_failed(ex08.q2, focal_numpy_inside, "fails inside model.fit")


def test_exercise_03_zero_background_must_not_change_its_input():
    from marslab.checks import assert_check_failed, ex03

    def in_place(class_weights):
        class_weights[0] = 0.0
        return class_weights / class_weights.sum()

    assert_check_failed(ex03.q2, in_place, "changed the array it was given")


def test_copy_paste_of_a_class_without_pixels_says_so_and_changes_nothing():
    # A real subset can lack Big Rock (the shipped AI4Mars sample's small splits do), so this is a warning
    # and no pairs to add, not an error that stops a recipe run.
    from marslab.augment import copy_paste

    images, masks = np.zeros((2, 64, 128), np.uint8), np.ones((2, 64, 128), np.uint8)
    with pytest.warns(UserWarning, match=f"no image contains class {BIG_ROCK}, so nothing is pasted"):
        out_images, out_masks = copy_paste(images, masks, 1)
    assert out_images.shape == out_masks.shape == (0, 64, 128)


def test_cli_interrupted_is_one_line(capsys, monkeypatch, tmp_path):
    import marslab.cli

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(marslab.cli, "make_mars", interrupted)
    assert cli(["data", "--out", str(tmp_path / "x.npz")]) == 130
    assert "interrupted" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_course_data_roundtrip_still_works(tmp_path):
    data = read_course_npz(write_npz(tmp_path / "c.npz", course()))
    assert isinstance(data, MarsData) and data.source == "real"
    path = save_course_npz(data, tmp_path / "again.npz", with_test_masks=True)
    back = read_course_npz(path)
    np.testing.assert_array_equal(back.masks, data.masks)
    np.testing.assert_array_equal(back.test_masks, data.test_masks)
