"""Rebuild the AI4Mars sample that ships with marslab (marslab/samples/ai4mars_sample.npz) from a local copy
of the real AI4Mars file in the course format. It reads files only; it never downloads anything.

    python tools/make_ai4mars_sample.py --source PATH/ai4mars_train_64x128.npz [--force]

The source holds `training_set` (N, 2, 64, 128) uint8 with the `top` and `bottom` halves of NAVCAM frames,
`image_id` (N,) and `half` (N,); without --source, marslab.data.find_ai4mars() looks for it.

The rule that picks the sample (seeded, so the same source always gives the same bytes):
1. frames are whole: both halves of an `image_id` always travel together;
2. the frames are split in two strata, with and without a Big Rock pixel in either half, and each
   stratum is shuffled with numpy's default_rng(SEED);
3. TRAIN_FRAMES + TEST_FRAMES frames are taken, each stratum in proportion to its share of the source;
4. of the frames taken, TEST_SHARE of each stratum becomes the labelled test split (`test_set`,
   `test_masks`), the rest the training split. Big Rock is therefore in both splits.
Within each split the samples keep their order in the source.
"""
from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from marslab.data import find_ai4mars, sample_path  # noqa: E402

SEED = 2021  # the year of the AI4Mars paper
TRAIN_FRAMES, TEST_FRAMES = 480, 120  # 960 training and 240 test images: about 7 MB compressed
BIG_ROCK = 4
MAX_BYTES = 8_000_000  # the budget for package data: 8 MB
ZIP_TIME = (2021, 6, 1, 0, 0, 0)  # fixed member timestamps: the same arrays give the same file


def pick_frames(image_id: np.ndarray, has_rock: np.ndarray, seed: int = SEED, train_frames: int = TRAIN_FRAMES,
                test_frames: int = TEST_FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """The sorted frame ids (train, test) picked by the rule in the module docstring.

    image_id (N,) frame id of each sample; has_rock (N,) bool, does the sample hold Big Rock.
    """
    frames, inverse = np.unique(image_id, return_inverse=True)
    frame_rock = np.zeros(len(frames), bool)
    np.logical_or.at(frame_rock, inverse, has_rock)
    total = train_frames + test_frames
    if total > len(frames):
        raise ValueError(f"asked for {total} frames, the source has {len(frames)}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for stratum in (frames[frame_rock], frames[~frame_rock]):
        take = int(round(total * len(stratum) / len(frames)))
        chosen = rng.permutation(stratum)[:take]
        n_test = int(round(test_frames / total * take))
        test.append(chosen[:n_test])
        train.append(chosen[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def build_sample(source: Path) -> dict[str, np.ndarray]:
    """The sample's arrays, in the course format plus image_id/half of both splits and `source`."""
    with np.load(source, allow_pickle=False) as npz:
        missing = {"training_set", "image_id", "half"} - set(npz.files)
        if missing:
            raise KeyError(f"{source} lacks {sorted(missing)}; expected training_set, image_id and half")
        pairs, image_id, half = npz["training_set"], npz["image_id"], npz["half"]
    if pairs.ndim != 4 or pairs.shape[1:] != (2, 64, 128) or pairs.dtype != np.uint8:
        raise ValueError(f"training_set must be (N, 2, 64, 128) uint8, found {pairs.shape} {pairs.dtype}")
    frames, counts = np.unique(image_id, return_counts=True)
    if np.any(counts != 2) or set(np.unique(half).tolist()) != {"top", "bottom"}:
        raise ValueError("every image_id must have exactly two samples, its top and bottom halves")
    train_frames, test_frames = pick_frames(image_id, (pairs[:, 1] == BIG_ROCK).any(axis=(1, 2)))
    train, test = np.isin(image_id, train_frames), np.isin(image_id, test_frames)
    return {"training_set": pairs[train], "test_set": pairs[test, 0], "test_masks": pairs[test, 1],
            "image_id": image_id[train], "half": half[train], "test_image_id": image_id[test],
            "test_half": half[test], "source": np.array("ai4mars")}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz that np.load reads, with fixed timestamps so that it is byte-for-byte reproducible."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="the AI4Mars file in course format (default: find_ai4mars())")
    parser.add_argument("--out", type=Path, default=sample_path(), help="where to write (default: the shipped sample)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    source = args.source or find_ai4mars()
    if source is None or not Path(source).is_file():
        print(f"no source file: pass --source PATH (ai4mars_train_64x128.npz); found {source}", file=sys.stderr)
        return 2
    if args.out.exists() and not args.force:
        print(f"{args.out} exists; pass --force to replace it", file=sys.stderr)
        return 2
    arrays = build_sample(Path(source))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    write_npz(tmp, arrays)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        print(f"the sample would take {size / 1e6:.2f} MB, over the {MAX_BYTES / 1e6:.0f} MB budget",
              file=sys.stderr)
        return 1
    tmp.replace(args.out)
    rock = [(m == BIG_ROCK).any(axis=(1, 2)).sum() for m in (arrays["training_set"][:, 1], arrays["test_masks"])]
    print(f"wrote {args.out}: {len(arrays['training_set'])} training and {len(arrays['test_set'])} test images "
          f"({len(np.unique(arrays['image_id']))} + {len(np.unique(arrays['test_image_id']))} frames; "
          f"Big Rock in {rock[0]} + {rock[1]} images), {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
