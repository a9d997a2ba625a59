"""Find the submitted notebooks in folders, zips and files, and name the student of each.

The student id rule (documented in docs/instructors.md, "Grading a class"):

1. Where the notebooks sit in folders below the folder or zip you gave (one folder per student), the id
   comes from the first folder level at which their paths differ (so a `submissions/` folder that wraps
   the whole zip is skipped); a single notebook takes its top folder. A notebook with no folder of its
   own left (directly in the folder or zip, or a file you named) gets its id from its file name.
2. LMS names are shortened to the student: `smithjohn_12345_67890_ex01.ipynb` (Canvas; also with
   `_LATE_`) and `John Smith_123456_assignsubmission_file_` (Moodle) give `smithjohn_12345` and
   `John Smith_123456`; `HW1_jsmith_attempt_2026-01-05-10-00-00_ex01.ipynb` (Blackboard) gives `jsmith`.
   Any other name is kept whole, without `.ipynb`.
"""
from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

_NUMBERED = re.compile(r"^(?P<name>.+?)_(?:late_)?(?P<number>\d+)_.", re.I)  # Canvas, Moodle
_ATTEMPT = re.compile(r"^.+?_(?P<user>[^_]+)_attempt_\d", re.I)  # Blackboard
_SKIPPED_PARTS = ("__MACOSX", ".ipynb_checkpoints")


@dataclass(frozen=True)
class Submission:
    """One submitted file: the student it belongs to, where it is, and how to read it.

    label: the path shown in the gradebook ("subs.zip:smith/ex01.ipynb" for a zip member).
    zip_path / member: set for a notebook inside a zip; path: set for a file on disk.
    """

    student: str
    label: str
    path: Path | None = None
    zip_path: Path | None = None
    member: str | None = None

    def read(self, max_bytes: int) -> bytes:
        """The file's bytes; ValueError if it is larger than max_bytes (never reads more than that)."""
        if self.zip_path is not None:
            with zipfile.ZipFile(self.zip_path) as archive, archive.open(self.member) as f:
                data = f.read(max_bytes + 1)
        else:
            with open(self.path, "rb") as f:
                data = f.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ValueError(f"larger than the {max_bytes / 2**20:g} MB limit for a notebook")
        return data


def student_from_name(name: str) -> str:
    """The student id in a file or folder name, by the LMS rules above (no folder, no extension)."""
    stem = name[:-6] if name.lower().endswith(".ipynb") else name
    match = _ATTEMPT.match(stem)
    if match:
        return match.group("user")
    match = _NUMBERED.match(stem)
    if match:
        return f"{match.group('name')}_{match.group('number')}"
    return stem


def _students(relative: list[PurePosixPath]) -> list[str]:
    """Student ids of the notebooks at these paths relative to one folder or zip (rule 1, then rule 2)."""
    folders = [p.parts[:-1] for p in relative]
    common = 0
    if len(relative) > 1:  # skip the folders that every notebook shares (a wrapper, not a student)
        while all(len(f) > common for f in folders) and len({f[common] for f in folders}) == 1:
            common += 1
    return [student_from_name(f[common] if len(f) > common else p.name) for f, p in zip(folders, relative)]


def _skipped(parts: tuple[str, ...]) -> bool:
    return any(part in _SKIPPED_PARTS or part.startswith(".") for part in parts)


def _from_zip(path: Path, shown: str) -> list[Submission]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [i.filename for i in archive.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        raise ValueError(f"{shown} is not a zip file (expected a notebook, a folder or a zip)") from None
    notebooks = sorted(m for m in members if m.lower().endswith(".ipynb") and not _skipped(PurePosixPath(m).parts))
    relative = [PurePosixPath(m) for m in notebooks]
    return [Submission(student, f"{shown}:{m}", zip_path=path, member=m)
            for student, m in zip(_students(relative), notebooks)]


def _from_folder(path: Path, shown: str) -> list[Submission]:
    notebooks = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not _skipped((d,)))
        notebooks += [Path(folder, f) for f in sorted(files) if f.lower().endswith(".ipynb") and not f.startswith(".")]
    relative = [PurePosixPath(p.relative_to(path).as_posix()) for p in notebooks]
    return [Submission(student, str(Path(shown, r)), path=p) for student, r, p in zip(_students(relative), relative,
                                                                                     notebooks)]


def collect(sources: list[str | os.PathLike]) -> list[Submission]:
    """Every notebook in `sources` (folders searched recursively, zips read in place, files taken as they are).

    A file you name is graded whatever its extension (a broken upload gets its own row); in folders and
    zips only `*.ipynb` files count. Raises FileNotFoundError for a source that does not exist.
    """
    found: list[Submission] = []
    for source in sources:
        path, shown = Path(source), str(source)
        if path.is_dir():
            found += _from_folder(path, shown)
        elif path.is_file() and zipfile.is_zipfile(path) and not path.name.lower().endswith(".ipynb"):
            found += _from_zip(path, shown)
        elif path.is_file():
            found.append(Submission(student_from_name(path.name), shown, path=path))
        else:
            raise FileNotFoundError(f"{shown} does not exist (expected a notebook, a folder or a zip of submissions)")
    return found
