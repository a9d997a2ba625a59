"""The course file format: `MarsData`, and reading and writing it as an .npz.

The course file holds `training_set` (N, 2, 64, 128) uint8 (`[:, 0]` images 0-255, `[:, 1]` masks 0-4) and
`test_set` (M, 64, 128) uint8; optionally `test_masks` (M, 64, 128) (labels for local scoring), `image_id`
(N,) / `test_image_id` (M,) (the frame each image was cut from, so splits keep frames whole) and `source`
("real", "synthetic" or "ai4mars"). A file without `test_set` is read as training images only. Everything read
is validated against this layout, and the .npy header of every array is checked (shape, dtype, size) before a
byte of it is decompressed, so a hostile or damaged file costs no more memory than a valid one
(`marslab.npz_reader`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES
from marslab.files import atomic_path, refuse_to_overwrite
from marslab.npz_reader import NpzReader
from marslab.validation import check_array

SOURCES = ("real", "synthetic", "ai4mars")
_said_no_test: set[str] = set()  # training-only files read in this session (said once each)


@dataclass(repr=False)
class MarsData:
    """The course data. images/masks (N, 64, 128) uint8, test_images (M, 64, 128) uint8 (M may be 0),
    source "real" | "synthetic" | "ai4mars".

    The synthetic set also knows its truth: clean_masks (N, 64, 128) (masks before label noise),
    test_masks / test_clean_masks (M, 64, 128) and alien_index (sorted indices of the alien images).
    Real data with a group key carries image_id (N,) / test_image_id (M,): the frame each image was cut
    from, so that a split keeps frames whole (cleaning.stratified_split(..., groups=image_id)).
    Fields a source does not have are None.
    """

    images: np.ndarray
    masks: np.ndarray
    test_images: np.ndarray
    source: str
    clean_masks: np.ndarray | None = None
    test_masks: np.ndarray | None = None
    test_clean_masks: np.ndarray | None = None
    alien_index: np.ndarray | None = None
    image_id: np.ndarray | None = None
    test_image_id: np.ndarray | None = None

    def __repr__(self) -> str:
        parts = [f"source={self.source!r}"]
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                parts.append(f"{f.name}={value.shape} {value.dtype}")
        return f"MarsData({', '.join(parts)})"


def _course_layout(reader: NpzReader) -> dict:
    """Check every header of the course layout (no array read); returns {key: shape} of what is there."""
    reader.require("training_set")
    train = reader.check_header("training_set", (None, 2, *IMAGE_SHAPE), "uint8")
    layout = {"training_set": train}
    if "test_set" in reader.keys:
        layout["test_set"] = reader.check_header("test_set", (None, *IMAGE_SHAPE), "uint8")
    else:
        for key in ("test_masks", "test_image_id"):
            if key in reader.keys:
                raise KeyError(f"{reader.path.name} has {key!r} but no 'test_set' for it to describe; "
                               f"found {reader.keys}")
    n_test = layout["test_set"][0] if "test_set" in layout else 0
    if "test_masks" in reader.keys:
        layout["test_masks"] = reader.check_header("test_masks", (n_test, *IMAGE_SHAPE), "uint8")
    for key, length in (("image_id", train[0]), ("test_image_id", n_test)):
        if key in reader.keys:
            try:
                layout[key] = reader.check_header(key, (length,), None)
            except ValueError as err:  # say what the ids are for: one per image, in the same order
                raise ValueError(str(err).replace(f"({length},)", f"({length},), one id per image", 1)) from None
    if "source" in reader.keys:
        reader.check_header("source", (), "str")
    return layout


def check_course_file(path: str | os.PathLike) -> str | None:
    """None if `path` looks like a course file from its headers alone (nothing decompressed), else the reason."""
    try:
        with NpzReader(path) as reader:
            _course_layout(reader)
    except (OSError, ValueError, KeyError) as err:
        return err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return None


def summarize_course_file(path: str | os.PathLike) -> tuple[str, int, int, bool]:
    """(source, training images, test images, whether the test images have masks) of a course file, from its
    headers (and its tiny `source` entry) alone; check it with `check_course_file` first."""
    with NpzReader(path) as reader:
        layout = _course_layout(reader)
        source = str(reader.read("source")) if "source" in reader.keys else "real"
    return source, layout["training_set"][0], layout.get("test_set", (0,))[0], "test_masks" in layout


def read_course_npz(path: str | os.PathLike) -> MarsData:
    """Read and validate a file in the course format (see module docstring); `test_set` (a file without it
    gives training images only, said once), `test_masks`, `image_id`, `test_image_id` and `source` are
    optional. Raises FileNotFoundError, KeyError (a missing key) or ValueError/TypeError, one line each."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no course file at {path}; expected an .npz with keys training_set and test_set")
    with NpzReader(path) as reader:
        layout = _course_layout(reader)
        train = check_array(reader.read("training_set"), "training_set", (None, 2, *IMAGE_SHAPE), "uint8")
        check_array(train[:, 1], "training_set[:, 1] (masks)", (None, *IMAGE_SHAPE), "uint8", NUM_CLASSES)
        if "test_set" in layout:
            test = check_array(reader.read("test_set"), "test_set", (None, *IMAGE_SHAPE), "uint8")
        else:
            test = np.zeros((0, *IMAGE_SHAPE), np.uint8)
            if str(Path(path).resolve()) not in _said_no_test:
                print(f"{Path(path).name} has no test_set: reading its {len(train)} training images only "
                      "(no test images).")
                _said_no_test.add(str(Path(path).resolve()))
        optional = {}
        if "test_masks" in layout:
            optional["test_masks"] = check_array(reader.read("test_masks"), "test_masks",
                                                 (test.shape[0], *IMAGE_SHAPE), "uint8", NUM_CLASSES)
        for key in ("image_id", "test_image_id"):
            if key in layout:
                optional[key] = reader.read(key)
                if optional[key].dtype.kind not in "USiu":
                    raise TypeError(f"{key} must hold strings or integers (one frame id per image), "
                                    f"found dtype {optional[key].dtype}")
        source = str(reader.read("source")) if "source" in reader.keys else "real"
    if source not in SOURCES:
        raise ValueError(f"{Path(path).name}: source must be one of {SOURCES}, found {source[:40]!r}")
    return MarsData(images=train[:, 0], masks=train[:, 1], test_images=test, source=source, **optional)


def npz_path(path: str | os.PathLike) -> Path:
    """`path` as the name NumPy writes to: with ".npz" appended unless it ends so already."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_course_npz(data: MarsData, path: str | os.PathLike, with_test_masks: bool = False,
                    overwrite: bool = False) -> Path:
    """Write `data` in the course format (training_set (N,2,64,128), test_set (M,64,128) unless M is 0, source, the
    frame ids when `data` has them; optionally test_masks) to `path` (".npz" appended if missing); returns
    the path written. An existing file is refused unless `overwrite`; the file appears in one step (written
    under a temporary name first)."""
    check_array(data.images, "images", (None, *IMAGE_SHAPE), "uint8")
    check_array(data.masks, "masks", (data.images.shape[0], *IMAGE_SHAPE), "uint8", NUM_CLASSES)
    if data.source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, found {data.source!r}")
    arrays = {"training_set": np.stack([data.images, data.masks], axis=1), "source": np.array(data.source)}
    if len(data.test_images):  # a training-only set is written without test_set
        arrays["test_set"] = check_array(data.test_images, "test_images", (None, *IMAGE_SHAPE), "uint8")
    for key, length in (("image_id", len(data.images)), ("test_image_id", len(data.test_images))):
        ids = getattr(data, key, None)
        if ids is not None and length:
            ids = np.asarray(ids)
            if ids.shape != (length,) or ids.dtype.kind not in "USiu":
                raise ValueError(f"{key} must be ({length},) strings or integers, found {ids.shape} {ids.dtype}")
            arrays[key] = ids
    if with_test_masks:
        if data.test_masks is None:
            raise ValueError(f"with_test_masks=True, but this {data.source} data has no test_masks")
        arrays["test_masks"] = check_array(data.test_masks, "test_masks", (data.test_images.shape[0], *IMAGE_SHAPE),
                                           "uint8", NUM_CLASSES)
    path = npz_path(path)
    if not overwrite:
        refuse_to_overwrite(path, "course file", "choose another name, or replace it on purpose (--force)")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path
