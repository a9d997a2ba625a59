"""Where the course data comes from: the real `mars_for_students.npz` when present, else the synthetic set.

`load_mars()` returns a `marslab.course_file.MarsData`: the real course file if one is found (read and
validated by `marslab.course_file.read_course_npz`), else the synthetic stand-in from
`marslab.synthetic.make_mars()` (generated once, then read from the disk cache).
`load_mars("ai4mars")` (or MARSLAB_DATA=ai4mars) reads the real AI4Mars sample shipped in marslab/samples/
(whole NAVCAM frames, a labelled test split, `image_id` per image; see its README). Also here: finding the
full real AI4Mars file (a development aid) and the per-class appearance table of lesson 01.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from marslab import NUM_CLASSES
from marslab.course_file import MarsData, read_course_npz
from marslab.synthetic import make_mars
from marslab.validation import check_images, check_labels, invalid
from marslab.weights import class_presence

DATA_ENV = "MARSLAB_DATA"
FILE_NAME = "mars_for_students.npz"
AI4MARS_ENV = "MARSLAB_AI4MARS"
AI4MARS_NAME = "ai4mars_train_64x128.npz"  # real AI4Mars samples in the course format (a development aid)
SAMPLE_NAME = "ai4mars"  # load_mars("ai4mars") / MARSLAB_DATA=ai4mars: the real sample shipped in the package
SAMPLE_FILE = "ai4mars_sample.npz"
APPEARANCE_COLUMNS = ("pixels %", "mean", "std", "local std", "gradient", "in % of images")

_said_synthetic = False  # load_mars says once per session that it fell back to the synthetic set


def sample_path() -> Path:
    """The real AI4Mars sample shipped inside the package (marslab/samples/ai4mars_sample.npz)."""
    return Path(__file__).resolve().parent / "samples" / SAMPLE_FILE


def find_real_data(path: str | os.PathLike | None = None) -> Path | None:
    """Where the real course file is: `path`, else $MARSLAB_DATA, else a data/ folder in the working directory
    or its parent (so it works from the course root and from notebooks/), else None.

    The name "ai4mars" (as `path` or $MARSLAB_DATA) means the AI4Mars sample shipped in the package.
    An explicit `path` or $MARSLAB_DATA that does not exist is an error, not a silent fallback.
    A directory is searched for mars_for_students.npz.
    """
    for origin, candidate in (("path", path), (DATA_ENV, os.environ.get(DATA_ENV))):
        if candidate and str(candidate) == SAMPLE_NAME:
            found = sample_path()
            if not found.is_file():
                raise FileNotFoundError(f"{origin} asks for the AI4Mars sample, but {found} is missing from this "
                                        "installation; reinstall marslab (or run tools/make_ai4mars_sample.py)")
            return found
        if candidate:
            found = Path(candidate).expanduser()
            if found.is_dir():
                found = found / FILE_NAME
            if not found.is_file():
                raise FileNotFoundError(f"{origin} points to {found}, which does not exist; expected the course "
                                        f"file {FILE_NAME}")
            return found
    for folder in (Path.cwd(), Path.cwd().parent):  # the course root, or notebooks/ inside it
        local = folder / "data" / FILE_NAME
        if local.is_file():
            return local
    return None


def load_mars(path: str | os.PathLike | None = None) -> MarsData:
    """The course data: the real file if found (`path`, $MARSLAB_DATA, data/), else the synthetic set;
    `path="ai4mars"` (or MARSLAB_DATA=ai4mars) gives the real AI4Mars sample shipped with marslab.

    Returns a MarsData with images/masks (N, 64, 128) uint8 and test_images (M, 64, 128) uint8.
    """
    global _said_synthetic
    real = find_real_data(path)
    if real is not None:
        return read_course_npz(real)
    if not _said_synthetic:
        print(f"No {FILE_NAME} found (set {DATA_ENV} or put it in data/): using the synthetic Mars set.")
        _said_synthetic = True
    return make_mars()


def find_ai4mars() -> Path | None:
    """The full real AI4Mars file in course format (8,400 images; a development aid, not shipped), if it is
    around: $MARSLAB_AI4MARS, else ../shared/data/ai4mars_train_64x128.npz beside the course root (from the
    root or notebooks/), else None. The shipped sample is sample_path()."""
    if os.environ.get(AI4MARS_ENV):
        found = Path(os.environ[AI4MARS_ENV]).expanduser()
        if not found.is_file():
            raise FileNotFoundError(f"{AI4MARS_ENV} points to {found}, which does not exist; expected {AI4MARS_NAME}")
        return found
    for root in (Path.cwd(), Path.cwd().parent):
        candidate = root.parent / "shared" / "data" / AI4MARS_NAME
        if candidate.is_file():
            return candidate
    return None


def class_appearance(images: np.ndarray, masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-class appearance (num_classes, 6), columns APPEARANCE_COLUMNS: % of pixels, intensity mean and std,
    mean local std (5x5 window), mean Sobel gradient magnitude (per image), % of images containing the class.
    images, masks (N, H, W). Rows of an absent class are NaN."""
    images = check_images(images, image_shape=None)
    masks = check_labels(masks, image_shape=None, num_classes=num_classes)
    if masks.shape != images.shape:
        raise invalid("images and masks", "both be (N, H, W) of one shape", f"{images.shape} and {masks.shape}")
    x = images.astype(np.float32)
    local_mean = ndi.uniform_filter(x, (1, 5, 5))
    local_std = np.sqrt(np.maximum(ndi.uniform_filter(x * x, (1, 5, 5)) - local_mean ** 2, 0))
    sobel = [ndi.correlate1d(ndi.correlate1d(x, [-1, 0, 1], axis=a), [1, 2, 1], axis=3 - a) for a in (1, 2)]
    gradient = np.hypot(*sobel)  # within each image (scipy's N-d sobel would also smooth across images)
    presence = class_presence(masks, num_classes)
    table = np.full((num_classes, len(APPEARANCE_COLUMNS)), np.nan)
    for c in range(num_classes):
        sel = masks == c
        if sel.any():
            v = x[sel]
            table[c] = [100 * sel.mean(), v.mean(), v.std(), local_std[sel].mean(), gradient[sel].mean(),
                        100 * presence[:, c].mean()]
    return table
