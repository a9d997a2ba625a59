"""Turn your own AI4Mars download into a course file (training_set, test_set, test_masks).

AI4Mars (Swan et al., CVPR Workshops 2021) pairs NAVCAM frames (grayscale JPG/PNG, e.g. 1024x1024)
with crowd-sourced label PNGs of the same name (test labels may end in `_merged`): 0 soil, 1 bedrock,
2 sand, 3 big rock, 255 unlabelled. Each frame becomes two course samples:
resize to 128x128 (area average for the image, nearest neighbour for the label), split into the
top and bottom 64x128 halves, and remap the labels to the course classes
(soil 0 -> 1, bedrock 1 -> 2, sand 2 -> 3, big rock 3 -> 4, unlabelled 255 -> 0 Background).

    python -m marslab.convert IMAGE_DIR LABEL_DIR data/mars_for_students.npz
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from marslab import IMAGE_SHAPE
from marslab.course_file import MarsData, npz_path, save_course_npz
from marslab.files import refuse_to_overwrite
from marslab.validation import check_int

FRAME_SIZE = 2 * IMAGE_SHAPE[0]  # frames are resized to 128x128, then cut into two 64x128 halves
AI4MARS_TO_COURSE = {0: 1, 1: 2, 2: 3, 3: 4, 255: 0}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def remap_labels(label: np.ndarray) -> np.ndarray:
    """AI4Mars labels (any shape) of {0, 1, 2, 3, 255} -> course labels uint8 of {1, 2, 3, 4, 0}."""
    label = np.asarray(label)
    unknown = np.setdiff1d(np.unique(label), list(AI4MARS_TO_COURSE))
    if unknown.size:
        raise ValueError(f"AI4Mars labels must be 0, 1, 2, 3 or 255, found {unknown[:5].tolist()}")
    table = np.zeros(256, np.uint8)
    for old, new in AI4MARS_TO_COURSE.items():
        table[old] = new
    return table[label.astype(np.uint8)]


def convert_frame(image: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame: image (H, W) uint8 gray and label (H, W) AI4Mars values -> images, masks (2, 64, 128) uint8
    (index 0 the top half, 1 the bottom half)."""
    image, label = np.asarray(image), np.asarray(label)
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"image must be a grayscale (H, W) uint8 array, found shape {image.shape} dtype {image.dtype}")
    if label.shape != image.shape:
        raise ValueError(f"label must have the image's shape {image.shape}, found {label.shape}")
    size = (FRAME_SIZE, FRAME_SIZE)
    small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))  # area average
    labels = remap_labels(np.asarray(Image.fromarray(label.astype(np.uint8)).resize(size, Image.Resampling.NEAREST)))
    half = IMAGE_SHAPE[0]
    return np.stack([small[:half], small[half:]]), np.stack([labels[:half], labels[half:]])


def pair_files(image_dir: str | os.PathLike, label_dir: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(image, label) paths matched by name (a label's `_merged` suffix is ignored), sorted by label name."""
    image_dir, label_dir = Path(image_dir), Path(label_dir)
    for name, folder in (("image_dir", image_dir), ("label_dir", label_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{name} {folder} is not a folder")
    images = {p.stem: p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    pairs = []
    for label in sorted(label_dir.glob("*.png")):
        stem = label.stem.removesuffix("_merged")
        if stem in images:
            pairs.append((images[stem], label))
    if not pairs:
        raise FileNotFoundError(f"no label PNG in {label_dir} has an image of the same name in {image_dir}")
    return pairs


def read_pair(image_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one frame: the image as grayscale uint8 (H, W), the label PNG's values (H, W)."""
    with Image.open(image_path) as im:
        image = np.asarray(im.convert("L"))
    with Image.open(label_path) as lab:
        label = np.asarray(lab if lab.mode in ("L", "P") else lab.convert("L"))
    return image, label


def convert_ai4mars(image_dir: str | os.PathLike, label_dir: str | os.PathLike, out_path: str | os.PathLike,
                    test_fraction: float = 0.2, seed: int = 0, limit: int | None = None,
                    overwrite: bool = False) -> MarsData:
    """Convert every labelled frame in label_dir (with its image in image_dir) and write the course file.

    A random `test_fraction` of the frames (both halves of a frame together) becomes test_set, with
    its masks saved as test_masks for local scoring. limit: use at most this many frames. An existing
    out_path is refused unless `overwrite` (checked before any frame is read).
    Returns the MarsData written (source "real").
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (the course file needs a test_set), "
                         f"got {test_fraction}")
    if limit is not None:
        check_int(limit, "limit", 1)
    if not overwrite:
        refuse_to_overwrite(npz_path(out_path), "course file", "choose another name, or replace it with --force")
    pairs = pair_files(image_dir, label_dir)[:limit]
    images, masks = [], []
    for image_path, label_path in pairs:
        try:
            frame_images, frame_masks = convert_frame(*read_pair(image_path, label_path))
        except ValueError as err:
            raise ValueError(f"{label_path.name}: {err}") from err
        images.append(frame_images)
        masks.append(frame_masks)
    frames = np.random.default_rng(seed).permutation(len(pairs))
    n_test = int(round(test_fraction * len(pairs)))
    if not 1 <= n_test < len(pairs):
        raise ValueError(f"{len(pairs)} frames cannot be split into training and test sets with "
                         f"test_fraction={test_fraction}")
    train, test = np.sort(frames[n_test:]), np.sort(frames[:n_test])
    data = MarsData(images=np.concatenate([images[i] for i in train]), masks=np.concatenate([masks[i] for i in train]),
                    test_images=np.concatenate([images[i] for i in test]), source="real",
                    test_masks=np.concatenate([masks[i] for i in test]))
    save_course_npz(data, out_path, with_test_masks=True, overwrite=overwrite)
    return data


def main(argv: list[str] | None = None) -> int:
    """`python -m marslab.convert IMAGE_DIR LABEL_DIR OUT`; an error is one line and exit status 2."""
    parser = argparse.ArgumentParser(prog="python -m marslab.convert",
                                     description="Convert an AI4Mars download into the course file format.")
    parser.add_argument("image_dir", help="folder of NAVCAM frames (e.g. msl/images/edr)")
    parser.add_argument("label_dir", help="folder of label PNGs (e.g. msl/labels/train)")
    parser.add_argument("out", help="output .npz, e.g. data/mars_for_students.npz")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="convert at most this many frames")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists (never done without it)")
    args = parser.parse_args(argv)
    try:
        data = convert_ai4mars(args.image_dir, args.label_dir, args.out, args.test_fraction, args.seed, args.limit,
                               overwrite=args.force)
    except (ValueError, TypeError, OSError) as err:  # PIL's UnidentifiedImageError is an OSError
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no file was left half-written", file=sys.stderr)
        return 130
    print(f"wrote {npz_path(args.out)}: training_set {len(data.images)} samples, test_set {len(data.test_images)} "
          "samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
