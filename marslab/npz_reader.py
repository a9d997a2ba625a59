"""Reading an .npz safely: every array's .npy header is checked before a byte of the array is decompressed.

`np.load` on an .npz decompresses an array to learn that it has the wrong shape, so a small hostile file
(a "deflate bomb") can take gigabytes, and damaged files fail with errors from deep inside zipfile.
`NpzReader` opens the zip itself, reads each member's header (shape, dtype, byte order) from its first
bytes, checks it against what the caller expects and against the sizes the zip declares, and only then
reads the data. Every problem is one line naming the file and the array.
"""
from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy

from marslab.validation import check_dtype, check_shape

MAX_ARRAY_BYTES = 4 * 2**30  # the largest array marslab reads (the course file's largest holds 82 MB)
NPY_MAGIC, ZIP_MAGIC = b"\x93NUMPY", b"PK"
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError)


class NpzReader:
    """An .npz opened for checked reading: `require`, `check_header`, then `read`. Use it in a `with`."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} does not exist (or is not a file); expected an .npz archive")
        with open(self.path, "rb") as f:
            start = f.read(8)
        if start.startswith(NPY_MAGIC):
            raise ValueError(f"{self.path} is not a readable .npz file: it is a single .npy array (write an "
                             ".npz with np.savez, or marslab data)")
        if not start.startswith(ZIP_MAGIC):
            raise ValueError(f"{self.path} is not a readable .npz file: an .npz is a zip archive of .npy arrays, "
                             f"this file starts with {start!r}")
        try:
            self.zip = zipfile.ZipFile(self.path)
            self.members = {Path(i.filename).stem if i.filename.endswith(".npy") else i.filename: i
                            for i in self.zip.infolist()}
        except (zipfile.BadZipFile, OSError, ValueError) as err:
            raise ValueError(f"{self.path} is not a readable .npz file: damaged zip archive ({err})") from None
        self.keys = sorted(self.members)
        self._checked: dict[str, tuple] = {}

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.zip.close()

    def require(self, *keys: str) -> None:
        """Raise KeyError (one line) unless every key is in the archive."""
        for key in keys:
            if key not in self.members:
                wanted = " and ".join(repr(k) for k in keys)
                raise KeyError(f"{self.path.name} has no key {key!r}; expected keys {wanted}, found {self.keys}")

    def check_header(self, key: str, shape: tuple[int | None, ...], dtype: str) -> tuple[int, ...]:
        """The shape of array `key` after checking its header against `shape` (None: any size, at least one
        sample) and `dtype` ("uint8", "str", ...), and its size against the zip entry and MAX_ARRAY_BYTES.
        Nothing of the array is decompressed beyond its header."""
        info = self.members[key]
        try:
            with self.zip.open(info) as stream:
                version = npy.read_magic(stream)
                read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                actual, _, found_dtype = read_header(stream)
                header_bytes = stream.tell()
        except _READ_ERRORS as err:
            raise ValueError(f"{self.path.name}: {key} has no readable .npy header ({err})") from None
        check_shape(actual, key, shape)
        check_dtype(found_dtype, key, dtype)
        if found_dtype.hasobject:
            raise ValueError(f"{self.path.name}: {key} holds Python objects, which marslab never reads")
        data_bytes = math.prod(actual) * found_dtype.itemsize
        if data_bytes > MAX_ARRAY_BYTES:
            raise ValueError(f"{self.path.name}: {key} declares {data_bytes / 2**30:.1f} GiB, more than the "
                             f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB marslab reads")
        if header_bytes + data_bytes != info.file_size:
            raise ValueError(f"{self.path.name}: {key} declares {data_bytes} bytes of data but the archive "
                             f"holds {info.file_size - header_bytes}: the file is damaged")
        self._checked[key] = actual
        return actual

    def read(self, key: str) -> np.ndarray:
        """Array `key`, after `check_header` (its size is then known and bounded); a damaged entry (bad CRC,
        truncated data) is a ValueError naming it."""
        if key not in self._checked:
            raise RuntimeError(f"check the header of {key!r} before reading it")
        try:
            with self.zip.open(self.members[key]) as stream:
                return npy.read_array(stream, allow_pickle=False)
        except _READ_ERRORS as err:
            raise ValueError(f"{self.path.name}: {key} is damaged and cannot be read ({type(err).__name__}: "
                             f"{err})") from None
