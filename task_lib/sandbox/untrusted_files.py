"""Reading files that untrusted code wrote (the grader's child, or the model in its workspace): only
regular files (no FIFO, device or symlink, so a read can neither block, run forever nor leave the
directory), of bounded size, and `.npz` arrays whose headers are checked before anything is allocated.
Nothing is unpickled.

Contract: `read_untrusted_prefix` / `read_untrusted_file` return None for anything that is not a
(small) regular file; `load_untrusted_arrays` raises ValueError for anything that is not a plain
archive of small arrays.
"""

from __future__ import annotations

import io
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def read_untrusted_prefix(path: Path, limit: int) -> tuple[bytes, int] | None:
    """The first `limit` bytes of `path` and its whole size, if it is a regular file; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return read_open_prefix(fd, limit)
    finally:
        os.close(fd)


def read_open_prefix(fd: int, limit: int) -> tuple[bytes, int] | None:
    """The first `limit` bytes of the open descriptor `fd` and its whole size, if it is a regular
    file; None otherwise (or when reading fails)."""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1024**2))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), info.st_size
    except OSError:
        return None


def read_untrusted_file(path: Path, max_bytes: int) -> bytes | None:
    """The bytes of `path` if it is a regular file of at most `max_bytes`; None otherwise."""
    found = read_untrusted_prefix(path, max_bytes + 1)
    if found is None or found[1] > max_bytes or len(found[0]) > max_bytes:
        return None
    return found[0]


def _declared_bytes(member: zipfile.ZipExtFile) -> int:
    import numpy as np

    version = np.lib.format.read_magic(member)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read_header is None:
        raise ValueError(f"unsupported .npy version {version}")
    shape, _, dtype = read_header(member)
    if dtype.hasobject:
        raise ValueError("an array of Python objects")
    return math.prod(shape) * dtype.itemsize


def load_untrusted_arrays(data: bytes, max_array_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` archive held in `data`, each at most `max_array_bytes` large."""
    import numpy as np  # here, not at the top: the grader imports it only once its child is starting

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.file_size > max_array_bytes + 4096:
                    raise ValueError(f"{info.filename} is too large")
                with archive.open(info) as member:
                    if _declared_bytes(member) > max_array_bytes:
                        raise ValueError(f"{info.filename} declares too large an array")
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, MemoryError) as exc:
        raise ValueError(f"not a readable archive of arrays: {exc}") from None
