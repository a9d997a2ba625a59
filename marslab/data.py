"""Loading the course data: the real `mars_for_students.npz` when present, else the synthetic set."""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "MARSLAB_DATA"
FILE_NAME = "mars_for_students.npz"


def find_real_data(path: str | os.PathLike | None = None) -> Path | None:
    """Where the real course file is: `path`, else $MARSLAB_DATA, else a data/ folder in the working directory or its parent
    (so it works from the course root and from notebooks/), else None.

    An explicit `path` or $MARSLAB_DATA that does not exist is an error, not a silent fallback.
    A directory is searched for mars_for_students.npz.
    """
    for origin, candidate in (("path", path), (DATA_ENV, os.environ.get(DATA_ENV))):
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
