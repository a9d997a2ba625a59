"""Writing files without losing work: atomic replacement, no silent overwrite, safe clean-up of leftovers.

Everything marslab writes (course files, cached data sets, checkpoints, exercise notebooks) goes to a
temporary name in the target's own folder first and is renamed into place in one step, so a crash or a
kill never leaves half a file under the real name. Temporary names carry this process's id,
`<name>.tmp-<pid>-<random>`, so a later run can tell a leftover of a dead process from a write that is
still going on, and delete only the former.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".tmp-"
STALE_SECONDS = 600  # a leftover temporary is only removed once it is this old and its process is gone
_TMP = re.compile(r"^(?P<name>.+)\.tmp-(?P<pid>\d+)-[a-z0-9_.]+$")


def output_dir() -> Path:
    """The folder lessons write their results to (training runs, submission files), created if missing:
    $MARSLAB_OUTPUT_DIR if set (the test suite points it outside notebooks/), else `outputs/` in the current
    folder, where JupyterLab's file browser shows it beside the lesson."""
    folder = Path(os.environ.get("MARSLAB_OUTPUT_DIR") or "outputs")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"MARSLAB_OUTPUT_DIR must name a folder; found a file at {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def refuse_to_overwrite(path: Path, what: str = "file", hint: str = "pass overwrite=True to replace it") -> None:
    """Raise FileExistsError (one line, with `hint`) if something already exists at `path`."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected the name of a {what} to write")
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} already exists; {hint}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, folder: bool = False, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `path` to write to (a file, or a folder if `folder`), ending in `suffix`;
    renamed to `path` in one step when the block ends normally (replacing a file there), removed when it
    raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{path.name}{TMP_MARK}{os.getpid()}-"
    if folder:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
        os.close(handle)
        tmp = Path(name)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.is_file() else 0o666 & ~_umask())  # as open() would
    try:
        yield tmp
        if folder:
            os.rename(tmp, path)  # fails if `path` exists: a folder is never replaced wholesale
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def remove_stale_temporaries(folder: Path, name_pattern: str, min_age: float = STALE_SECONDS) -> list[Path]:
    """Delete the leftovers of killed writers in `folder`: entries named `<name>.tmp-<pid>-<random>` whose
    <name> matches the regular expression `name_pattern`, whose process is no longer alive and which were
    last modified at least `min_age` seconds ago. Anything else is left alone. Returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        match = _TMP.match(entry.name)
        if not match or not re.fullmatch(name_pattern, match["name"]) or pid_alive(int(match["pid"])):
            continue
        try:
            if now - entry.lstat().st_mtime < min_age:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:  # another process cleaned it up first, or it is not ours to remove
            continue
    return removed
