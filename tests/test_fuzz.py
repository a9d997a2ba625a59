"""Fuzzing the two readers of files from outside (issue 24): `read_course_npz` (and `load_mars`, which calls
it) and `submission.read_csv`. Every input must end in one of two ways: the data, equal to what an
independent strict reference makes of the file, or one of the promised one-line errors. No other
exception (a traceback), and no file accepted that the reference refuses (silent acceptance).
The number of examples is bounded so that the file runs in seconds."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marslab.course_file import read_course_npz
from marslab.data import load_mars
from marslab.submission import HEADER, NUM_PIXELS, read_csv

PROMISED = (ValueError, KeyError, TypeError, FileNotFoundError)
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def damaged(path, data: bytes, edits: list[tuple[float, int]], cut: float | None):
    """`data` with byte values set at relative positions and cut at a relative length, written to `path`."""
    data = bytearray(data)
    for where, value in edits:
        data[int(where * (len(data) - 1))] = value
    if cut is not None:
        data = data[:int(cut * len(data))]
    path.write_bytes(bytes(data))
    return path


# -------------------------------------------------------------------------------------------- .npz
def reference_npz(path) -> dict | None:
    """What a strict reader accepts, written independently with np.load: {key: array} or None (refused)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files if k in ("training_set", "test_set", "test_masks", "source")}
    except Exception:  # noqa: BLE001 (any failure to load means: refuse)
        return None
    train, test = arrays.get("training_set"), arrays.get("test_set")
    if train is None or test is None:
        return None
    shapes_ok = (train.ndim == 4 and train.shape[1:] == (2, 64, 128) and len(train) > 0
                 and test.ndim == 3 and test.shape[1:] == (64, 128) and len(test) > 0)
    if not shapes_ok or train.dtype != np.uint8 or test.dtype != np.uint8 or train[:, 1].max() > 4:
        return None
    masks = arrays.get("test_masks")
    if masks is not None and (masks.dtype != np.uint8 or masks.shape != test.shape or masks.max() > 4):
        return None
    source = arrays.get("source")
    if source is not None and (source.dtype.kind != "U" or source.shape != () or str(source) not in
                               ("real", "synthetic")):
        return None
    return arrays


def valid_npz_bytes(n: int = 2, m: int = 2, compressed: bool = True) -> bytes:
    rng = np.random.default_rng(n + 10 * m)
    train = np.stack([rng.integers(0, 256, (n, 64, 128)), rng.integers(0, 5, (n, 64, 128))], 1).astype(np.uint8)
    arrays = {"training_set": train, "test_set": rng.integers(0, 256, (m, 64, 128)).astype(np.uint8),
              "test_masks": rng.integers(0, 5, (m, 64, 128)).astype(np.uint8), "source": np.array("synthetic")}
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def check_npz(path) -> None:
    expected = reference_npz(path)
    try:
        got = read_course_npz(path)
    except PROMISED as err:
        assert expected is None, f"refused a file the reference accepts: {err}"
        message = err.args[0] if isinstance(err, KeyError) else str(err)
        assert "\n" not in message
        return
    assert expected is not None, "accepted a file the reference refuses"
    np.testing.assert_array_equal(got.images, expected["training_set"][:, 0])
    np.testing.assert_array_equal(got.masks, expected["training_set"][:, 1])
    np.testing.assert_array_equal(got.test_images, expected["test_set"])
    if "test_masks" in expected:
        np.testing.assert_array_equal(got.test_masks, expected["test_masks"])


@FUZZ
@given(compressed=st.booleans(), edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_read_course_npz_on_damaged_files(tmp_path, compressed, edits, cut):
    check_npz(damaged(tmp_path / "fuzz.npz", valid_npz_bytes(compressed=compressed), edits, cut))


arrays = st.builds(
    lambda shape, dtype, fill: np.full(shape, fill, dtype=dtype) if dtype != "U5" else np.full(shape, "real"),
    shape=st.sampled_from([(), (0,), (3,), (2, 64, 128), (2, 2, 64, 128), (2, 3, 64, 128), (0, 2, 64, 128),
                           (2, 64, 64), (1, 2, 64, 128, 1)]),
    dtype=st.sampled_from(["uint8", "int64", "float32", "bool", "U5"]),
    fill=st.sampled_from([0, 1, 4, 5, 255]))


@FUZZ
@given(content=st.dictionaries(st.sampled_from(["training_set", "test_set", "test_masks", "source", "junk"]),
                               arrays, max_size=5))
def test_read_course_npz_on_wrong_layouts(tmp_path, monkeypatch, content):
    path = tmp_path / "mars_for_students.npz"
    np.savez(path, **content)
    check_npz(path)
    monkeypatch.setenv("MARSLAB_DATA", str(path))  # load_mars finds it and reads it the same way
    try:
        load_mars()
    except PROMISED:
        assert reference_npz(path) is None


@FUZZ
@given(junk=st.binary(max_size=200))
def test_read_course_npz_on_arbitrary_bytes(tmp_path, junk):
    check_npz(damaged(tmp_path / "junk.npz", junk, [], None))


# -------------------------------------------------------------------------------------------- .csv
def reference_csv(text: bytes) -> np.ndarray | None:
    """A strict, plain-Python reading of a submission: the label maps, or None (refused)."""
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    if not lines or lines[0] != HEADER.encode():
        return None
    rows = {}
    for line in lines[1:]:
        fields = line.split(b",")
        if len(fields) != NUM_PIXELS + 1:
            return None
        image_id = fields[0]
        if not image_id.isdigit() or not image_id.isascii() or (len(image_id) > 1 and image_id.startswith(b"0")):
            return None
        if any(f not in (b"0", b"1", b"2", b"3", b"4") for f in fields[1:]):
            return None
        rows[int(image_id)] = [int(f) for f in fields[1:]]
    if not rows or sorted(rows) != list(range(len(lines) - 1)):
        return None
    return np.array([rows[i] for i in range(len(rows))], np.uint8).reshape(-1, 64, 128)


def valid_csv_bytes(n: int = 2) -> bytes:
    rng = np.random.default_rng(n)
    rows = [f"{i}," + ",".join(map(str, rng.integers(0, 5, NUM_PIXELS))) for i in range(n)]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def check_csv(path) -> None:
    expected = reference_csv(path.read_bytes())
    try:
        got = read_csv(path, progress=False)
    except PROMISED as err:
        assert expected is None, f"refused a file the reference accepts: {err}"
        assert "\n" not in str(err)
        return
    assert expected is not None, "accepted a file the reference refuses"
    np.testing.assert_array_equal(got, expected)


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.sampled_from(b"0123456789,\n\r +-_x\x00")), max_size=3),
       cut=st.one_of(st.none(), st.floats(0, 1)), swap=st.booleans())
def test_read_csv_on_damaged_submissions(tmp_path, edits, cut, swap):
    data = valid_csv_bytes()
    if swap:  # rows in another order are fine
        header, first, second = data.split(b"\n")[:3]
        data = b"\n".join([header, second, first]) + b"\n"
    check_csv(damaged(tmp_path / "fuzz.csv", data, edits, cut))


@FUZZ
@given(junk=st.binary(max_size=300))
def test_read_csv_on_arbitrary_bytes(tmp_path, junk):
    check_csv(damaged(tmp_path / "junk.csv", junk, [], None))


@pytest.mark.parametrize("n", [1, 3])
def test_the_references_accept_valid_files(tmp_path, n):
    (tmp_path / "ok.csv").write_bytes(valid_csv_bytes(n))
    check_csv(tmp_path / "ok.csv")
    assert reference_csv(valid_csv_bytes(n)) is not None
    (tmp_path / "ok.npz").write_bytes(valid_npz_bytes(n, n))
    assert reference_npz(tmp_path / "ok.npz") is not None
    check_npz(tmp_path / "ok.npz")
