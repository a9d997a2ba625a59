"""The disk cache of generated data sets: one folder of .npy files per set, checked on every read.

    cache_dir() / <key>/images.npy, masks.npy, ..., manifest.json

`save_set` writes a set to a temporary folder with a manifest (shape, dtype, size and CRC-32 of every
file) and renames it into place in one step, so a crash or a parallel run never leaves half a set under
the real name. `load_set` reads a set memory-mapped (copy-on-write: edits stay in memory) after checking
it against the manifest and against what the caller expects (shapes, dtypes, label range); a set that
fails returns None with a one-line note, and the caller regenerates it. Nothing is deleted that this
process did not create: a set that failed its check is moved aside (and named in the note), sets of
other generator versions are left where they are, and only temporary folders of writers that died are
cleaned up (`marslab.files.remove_stale_temporaries`).
"""
from __future__ import annotations

import json
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from marslab.course_file import MarsData
from marslab.files import atomic_path, remove_stale_temporaries
from marslab.validation import check_label_values

CACHE_ENV = "MARSLAB_CACHE"
MANIFEST = "manifest.json"
Layout = dict[str, tuple[tuple[int, ...], str, int | None]]  # {array: (shape, dtype, labels 0..n-1 or None)}


def cache_dir() -> Path:
    """Where generated data is cached: $MARSLAB_CACHE, else ~/.cache/marslab."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "marslab").expanduser()


def crc32(path: Path) -> int:
    """CRC-32 of a file's bytes, read in 16 MB blocks (about 0.3 s for the course-sized set's 311 MB)."""
    value = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            value = zlib.crc32(block, value)
    return value


def _problem(path: Path, layout: Layout) -> tuple[str | None, dict]:
    """(None, arrays) if the set at `path` matches its manifest and `layout`, else (the reason, {})."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())["arrays"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"no readable {MANIFEST} ({type(err).__name__})", {}
    if set(manifest) != set(layout):
        return f"it holds {sorted(manifest)}, expected {sorted(layout)}", {}
    arrays = {}
    for name, (shape, dtype, num_classes) in layout.items():
        file, entry = path / f"{name}.npy", manifest[name]
        try:
            if file.stat().st_size != entry["bytes"] or crc32(file) != entry["crc32"]:
                return f"{file.name} differs from the manifest written with it (size or checksum)", {}
            array = np.load(file, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"{file.name} cannot be read ({type(err).__name__}: {err})", {}
        if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
            return f"{file.name} is {array.shape} {array.dtype}, expected {tuple(shape)} {dtype}", {}
        if num_classes is not None:
            try:
                check_label_values(array, file.name, num_classes)
            except ValueError as err:
                return str(err), {}
        arrays[name] = array
    return None, arrays


def load_set(path: Path, layout: Layout, source: str) -> MarsData | None:
    """The cached set at `path` if it exists and passes its checks (see the module docstring), else None.
    A set that fails is moved aside to `<path>.invalid-<time>` and a one-line note says so."""
    if not path.is_dir():
        return None
    problem, arrays = _problem(path, layout)
    if problem is None:
        return MarsData(source=source, **arrays)
    aside = path.with_name(f"{path.name}.invalid-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.rename(path, aside)
        kept = f"the old folder is kept as {aside.name} (delete it when you like)"
    except OSError as err:
        raise OSError(f"the cached set {path} failed its check ({problem}) and could not be moved aside "
                      f"({err}); remove it by hand") from None
    print(f"marslab: the cached set {path} failed its check ({problem}); regenerating it; {kept}.",
          file=sys.stderr)
    return None


def save_set(path: Path, data: MarsData, stale_pattern: str = r".+") -> None:
    """Write the arrays of `data` and their manifest to a temporary folder beside `path`, then rename it to
    `path` in one step (another process that finished the same set first wins, and ours is removed).
    Leftover temporary folders of dead writers whose names match `stale_pattern` are removed first."""
    remove_stale_temporaries(path.parent, stale_pattern)
    arrays = {name: value for name, value in vars(data).items() if isinstance(value, np.ndarray)}
    try:
        with atomic_path(path, folder=True) as tmp:
            manifest = {}
            for name, value in arrays.items():
                np.save(tmp / f"{name}.npy", value)
                manifest[name] = {"shape": list(value.shape), "dtype": str(value.dtype),
                                  "bytes": (tmp / f"{name}.npy").stat().st_size, "crc32": crc32(tmp / f"{name}.npy")}
            (tmp / MANIFEST).write_text(json.dumps({"arrays": manifest}, indent=1))
    except OSError:
        if not path.is_dir():  # not a parallel writer's finished set: a real failure
            raise
