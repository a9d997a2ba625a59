"""The disk cache of generated data sets: one folder of .npy files per set, written atomically.

    cache_dir() / <key>/images.npy, masks.npy, ...

`load_set` reads a set memory-mapped (instant; edits stay in memory), `save_set` writes it to a temporary
folder and renames it into place in one step, so a crash or a parallel run never leaves half a set.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from marslab.course_file import MarsData

CACHE_ENV = "MARSLAB_CACHE"


def cache_dir() -> Path:
    """Where generated data is cached: $MARSLAB_CACHE, else ~/.cache/marslab."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "marslab").expanduser()


def load_set(path: Path, source: str) -> MarsData:
    """Read a cached set: one .npy per array, memory-mapped copy-on-write (instant; edits stay in memory)."""
    arrays = {f.stem: np.load(f, mmap_mode="c") for f in path.glob("*.npy")}
    return MarsData(source=source, **arrays)


def save_set(path: Path, data: MarsData, stale_prefix: str | None = None, current_prefix: str = "") -> None:
    """Write the arrays of `data` as .npy files in a temporary folder, then rename it to `path` in one step,
    so a crash or a parallel run never leaves half a cache. stale_prefix: other entries named
    `<stale_prefix>*` but not `<current_prefix>*` are older sets, deleted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent))
    for name, value in vars(data).items():
        if isinstance(value, np.ndarray):
            np.save(tmp / f"{name}.npy", value)
    try:
        os.rename(tmp, path)
    except OSError:  # another process finished the same set first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    if stale_prefix is None:
        return
    for stale in path.parent.glob(stale_prefix + "*"):  # sets of older generator versions are never read again
        if not stale.name.startswith(current_prefix) and not stale.name.endswith(".tmp"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
