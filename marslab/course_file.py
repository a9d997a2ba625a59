"""The course file format: `MarsData`, and reading and writing it as an .npz.

The course file holds `training_set` (N, 2, 64, 128) uint8 (`[:, 0]` images 0-255, `[:, 1]` masks 0-4)
and `test_set` (M, 64, 128) uint8; optionally `test_masks` (M, 64, 128) (labels for local scoring) and
`source` (what `marslab data` wrote). Everything read is validated against this layout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES
from marslab.validation import check_array


@dataclass(repr=False)
class MarsData:
    """The course data. images/masks (N, 64, 128) uint8, test_images (M, 64, 128) uint8, source "real"|"synthetic".

    The synthetic set also knows its truth: clean_masks (N, 64, 128) (masks before label noise),
    test_masks / test_clean_masks (M, 64, 128) and alien_index (sorted indices of the alien images).
    On real data these are None.
    """

    images: np.ndarray
    masks: np.ndarray
    test_images: np.ndarray
    source: str
    clean_masks: np.ndarray | None = None
    test_masks: np.ndarray | None = None
    test_clean_masks: np.ndarray | None = None
    alien_index: np.ndarray | None = None

    def __repr__(self) -> str:
        parts = [f"source={self.source!r}"]
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                parts.append(f"{f.name}={value.shape} {value.dtype}")
        return f"MarsData({', '.join(parts)})"


def read_course_npz(path: str | os.PathLike) -> MarsData:
    """Read and validate a file in the course format (see module docstring). Extra key `test_masks` is optional."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no course file at {path}; expected an .npz with keys training_set and test_set")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as err:  # a zip or pickle error from deep inside numpy
        raise ValueError(f"{path} is not a readable .npz file ({type(err).__name__}: {err})") from err
    with npz:
        for key in ("training_set", "test_set"):
            if key not in npz.files:
                raise KeyError(f"{path.name} has no key {key!r}; expected keys 'training_set' and 'test_set', "
                               f"found {npz.files}")
        train = check_array(npz["training_set"], "training_set", (None, 2, *IMAGE_SHAPE), "uint8")
        check_array(train[:, 1], "training_set[:, 1] (masks)", (None, *IMAGE_SHAPE), "uint8", NUM_CLASSES)
        test = check_array(npz["test_set"], "test_set", (None, *IMAGE_SHAPE), "uint8")
        test_masks = None
        if "test_masks" in npz.files:
            test_masks = check_array(npz["test_masks"], "test_masks", (test.shape[0], *IMAGE_SHAPE), "uint8",
                                     NUM_CLASSES)
        source = str(npz["source"]) if "source" in npz.files else "real"
    return MarsData(images=train[:, 0], masks=train[:, 1], test_images=test, source=source, test_masks=test_masks)


def save_course_npz(data: MarsData, path: str | os.PathLike, with_test_masks: bool = False) -> Path:
    """Write `data` in the course format (training_set (N,2,64,128), test_set (M,64,128)); optionally test_masks too."""
    check_array(data.images, "images", (None, *IMAGE_SHAPE), "uint8")
    check_array(data.masks, "masks", (data.images.shape[0], *IMAGE_SHAPE), "uint8", NUM_CLASSES)
    check_array(data.test_images, "test_images", (None, *IMAGE_SHAPE), "uint8")
    arrays = {"training_set": np.stack([data.images, data.masks], axis=1), "test_set": data.test_images,
              "source": np.array(data.source)}
    if with_test_masks:
        if data.test_masks is None:
            raise ValueError(f"with_test_masks=True, but this {data.source} data has no test_masks")
        arrays["test_masks"] = check_array(data.test_masks, "test_masks", (data.test_images.shape[0], *IMAGE_SHAPE),
                                           "uint8", NUM_CLASSES)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
