"""Loading the course data: the real `mars_for_students.npz` when present, else the synthetic set.

The course file holds `training_set` (N, 2, 64, 128) uint8 (`[:, 0]` images 0-255, `[:, 1]` masks 0-4)
and `test_set` (M, 64, 128) uint8. `load_mars()` returns it as a `MarsData`; without it, the synthetic
stand-in from `marslab.synthetic.make_mars()` (generated once, then read from the disk cache).
`load_mars("ai4mars")` (or MARSLAB_DATA=ai4mars) reads the real AI4Mars sample shipped in
marslab/samples/ (whole NAVCAM frames, labelled test split, `image_id` per image; see its README).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from marslab import IMAGE_SHAPE, NUM_CLASSES

DATA_ENV = "MARSLAB_DATA"
CACHE_ENV = "MARSLAB_CACHE"
FILE_NAME = "mars_for_students.npz"
AI4MARS_ENV = "MARSLAB_AI4MARS"
AI4MARS_NAME = "ai4mars_train_64x128.npz"  # real AI4Mars samples in the course format (a development aid)
SAMPLE_NAME = "ai4mars"  # load_mars("ai4mars") / MARSLAB_DATA=ai4mars: the real sample shipped in the package
SAMPLE_FILE = "ai4mars_sample.npz"
APPEARANCE_COLUMNS = ("pixels %", "mean", "std", "local std", "gradient", "in % of images")

_said_synthetic = False  # load_mars says once per session that it fell back to the synthetic set
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


def cache_dir() -> Path:
    """Where generated data is cached: $MARSLAB_CACHE, else ~/.cache/marslab."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "marslab").expanduser()


def sample_path() -> Path:
    """The real AI4Mars sample shipped inside the package (marslab/samples/ai4mars_sample.npz)."""
    return Path(__file__).resolve().parent / "samples" / SAMPLE_FILE


def find_real_data(path: str | os.PathLike | None = None) -> Path | None:
    """Where the real course file is: `path`, else $MARSLAB_DATA, else a data/ folder in the working directory or its parent
    (so it works from the course root and from notebooks/), else None.

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
                raise FileNotFoundError(f"{origin} points to {found}, which does not exist; expected the course file {FILE_NAME}")
            return found
    for folder in (Path.cwd(), Path.cwd().parent):  # the course root, or notebooks/ inside it
        local = folder / "data" / FILE_NAME
        if local.is_file():
            return local
    return None


def check_array(name: str, array: np.ndarray, shape: tuple, labels: bool = False) -> np.ndarray:
    """Check one array of the course format; `shape` uses None for a free length. Returns the array.

    Raises ValueError/TypeError naming `name`, what was expected and what was found.
    """
    want = "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        raise ValueError(f"{name} must have shape {want}, found {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, found shape {array.shape}")
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8, found dtype {array.dtype}")
    if labels and array.max() >= NUM_CLASSES:
        bad = np.unique(array[array >= NUM_CLASSES])[:5].tolist()
        raise ValueError(f"{name} must hold labels 0..{NUM_CLASSES - 1}, found values {bad}")
    return array


def check_group_key(name: str, array: np.ndarray, length: int) -> np.ndarray:
    """Check a group key (one frame id per image): shape (length,), strings or integers. Returns it."""
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), one id per image, found {array.shape}")
    if array.dtype.kind not in "USiu":
        raise TypeError(f"{name} must hold strings or integers, found dtype {array.dtype}")
    return array


def read_course_npz(path: str | os.PathLike) -> MarsData:
    """Read and validate a file in the course format (see module docstring).

    Optional keys: `test_masks` (M, 64, 128), `image_id` (N,) and `test_image_id` (M,) frame ids, `source`.
    A file without `test_set` is read as training images only (test_images of shape (0, 64, 128)), said once.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no course file at {path}; expected an .npz with keys training_set and test_set")
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as err:  # a zip or pickle error from deep inside numpy
        raise ValueError(f"{path} is not a readable .npz file ({type(err).__name__}: {err})") from err
    with npz:
        if "training_set" not in npz.files:
            raise KeyError(f"{path.name} has no key 'training_set'; expected keys 'training_set' and 'test_set', "
                           f"found {npz.files}")
        train = check_array("training_set", npz["training_set"], (None, 2, *IMAGE_SHAPE))
        check_array("training_set[:, 1] (masks)", train[:, 1], (None, *IMAGE_SHAPE), labels=True)
        if "test_set" in npz.files:
            test = check_array("test_set", npz["test_set"], (None, *IMAGE_SHAPE))
        else:
            for key in ("test_masks", "test_image_id"):
                if key in npz.files:
                    raise KeyError(f"{path.name} has {key!r} but no 'test_set' for it to describe; found {npz.files}")
            test = np.zeros((0, *IMAGE_SHAPE), np.uint8)
            if str(path.resolve()) not in _said_no_test:
                print(f"{path.name} has no test_set: reading its {len(train)} training images only (no test images).")
                _said_no_test.add(str(path.resolve()))
        optional = {}
        if "test_masks" in npz.files:
            test_masks = npz["test_masks"]
            optional["test_masks"] = check_array("test_masks", test_masks, (len(test), *IMAGE_SHAPE), labels=True)
        for key, length in (("image_id", len(train)), ("test_image_id", len(test))):
            if key in npz.files:
                optional[key] = check_group_key(key, npz[key], length)
        source = str(npz["source"]) if "source" in npz.files else "real"
    return MarsData(images=train[:, 0], masks=train[:, 1], test_images=test, source=source, **optional)


def save_course_npz(data: MarsData, path: str | os.PathLike, with_test_masks: bool = False) -> Path:
    """Write `data` in the course format (training_set (N,2,64,128), test_set (M,64,128)); optionally test_masks too.

    Frame ids (image_id, test_image_id) are written when `data` has them; no test_set when M is 0.
    """
    check_array("images", data.images, (None, *IMAGE_SHAPE))
    check_array("masks", data.masks, (data.images.shape[0], *IMAGE_SHAPE), labels=True)
    arrays = {"training_set": np.stack([data.images, data.masks], axis=1), "source": np.array(data.source)}
    if len(data.test_images):
        arrays["test_set"] = check_array("test_images", data.test_images, (None, *IMAGE_SHAPE))
    for key, length in (("image_id", len(data.images)), ("test_image_id", len(data.test_images))):
        if getattr(data, key, None) is not None and length:
            arrays[key] = check_group_key(key, np.asarray(getattr(data, key)), length)
    if with_test_masks:
        if data.test_masks is None:
            raise ValueError(f"with_test_masks=True, but this {data.source} data has no test_masks")
        arrays["test_masks"] = check_array("test_masks", data.test_masks, (data.test_images.shape[0], *IMAGE_SHAPE), labels=True)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def load_mars(path: str | os.PathLike | None = None) -> MarsData:
    """The course data: the real file if found (`path`, $MARSLAB_DATA, data/), else the synthetic set;
    `path="ai4mars"` (or MARSLAB_DATA=ai4mars) gives the real AI4Mars sample shipped with marslab.

    Returns a MarsData with images/masks (N, 64, 128) uint8 and test_images (M, 64, 128) uint8.
    """
    global _said_synthetic
    real = find_real_data(path)
    if real is not None:
        return read_course_npz(real)
    from marslab.synthetic import make_mars

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


def class_presence(masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(N, num_classes) bool: does image i contain class c? masks (N, H, W) integer labels."""
    masks = np.asarray(masks)
    flat = masks.reshape(len(masks), -1).astype(np.int64) + num_classes * np.arange(len(masks))[:, None]
    counts = np.bincount(flat.ravel(), minlength=num_classes * len(masks))
    return counts.reshape(len(masks), num_classes) > 0


def class_appearance(images: np.ndarray, masks: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Per-class appearance (num_classes, 6), columns APPEARANCE_COLUMNS: % of pixels, intensity mean and std,
    mean local std (5x5 window), mean Sobel gradient magnitude (per image), % of images containing the class.
    images, masks (N, H, W). Rows of an absent class are NaN."""
    from scipy import ndimage as ndi

    x = np.asarray(images, np.float32)
    if x.ndim != 3 or np.shape(masks) != x.shape:
        raise ValueError(f"images and masks must both be (N, H, W), got {x.shape} and {np.shape(masks)}")
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
