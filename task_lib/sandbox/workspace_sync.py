"""Bring a sandbox's workspace back to the host: the child's tmpfs workspace arrives as a tar stream
(written inside the sandbox once its program has ended), and replaces the host directory's contents.

Contract: `ArchiveReader` drains the stream in a thread, keeping at most `limit` bytes; `replace_contents`
never raises and never follows anything the archive holds out of the directory: only regular files,
directories and symlinks pointing inside are kept (tarfile's `data` filter), with plain permissions
(owner read-write, readable by all); FIFOs, devices, links out, absolute or `..` names are dropped. The
new contents are unpacked beside the old ones first, so a stream that cannot be read changes nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import threading
from pathlib import Path

from task_lib.sandbox.untrusted_trees import remove_tree

MAX_MEMBERS = 20_000  # files, directories and links kept from one run


class ArchiveReader:
    """The read end of the pipe the sandbox writes its workspace archive to, drained in a thread."""

    def __init__(self, limit: int):
        self.limit = limit
        self.read_fd, self.child_fd = os.pipe()
        self._chunks: list[bytes] = []
        self._size = 0
        self.overflowed = False
        self._thread = threading.Thread(target=self._drain, daemon=True)

    def start(self) -> None:
        """Close our copy of the child's end and start draining (call once the child has started)."""
        os.close(self.child_fd)
        self.child_fd = -1
        self._thread.start()

    def _drain(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self.read_fd, 1 << 16):
                if self._size + len(chunk) > self.limit:
                    self.overflowed = True  # go on reading (so the writer never blocks), keep nothing
                    self._chunks.clear()
                    continue
                self._chunks.append(chunk)
                self._size += len(chunk)

    def archive(self, timeout: float) -> bytes | None:
        """The whole stream once every writer has gone (within `timeout` s), or None if it overflowed
        or did not end."""
        self._thread.join(timeout)
        if self._thread.is_alive() or self.overflowed:
            return None
        return b"".join(self._chunks)

    def close(self) -> None:
        for fd in (self.read_fd, self.child_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read_fd = self.child_fd = -1


def _plain(member, destination: str):
    """tarfile's `data` filter, then plain permissions; None (skip) for what it refuses."""
    import tarfile

    try:
        member = tarfile.data_filter(member, destination)
    except tarfile.FilterError:
        return None
    if member.isdir():
        return member.replace(mode=0o755, deep=False)
    if member.isreg():
        executable = member.mode is not None and member.mode & 0o111
        return member.replace(mode=0o755 if executable else 0o644, deep=False)
    return member  # a symlink pointing inside


def replace_contents(directory: Path, archive: bytes) -> str | None:
    """Make `directory` hold what `archive` holds (see the module docstring); None when done, else why
    nothing was changed."""
    import tarfile  # only when a workspace comes back: not on the grader's path

    try:
        staging = Path(tempfile.mkdtemp(prefix=".sync-", dir=directory.parent))
    except OSError as exc:
        return f"no room beside the workspace to unpack it ({exc.strerror})"
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:", errorlevel=0) as tar:
                members = []
                for member in tar:
                    if len(members) == MAX_MEMBERS:
                        return f"it holds more than {MAX_MEMBERS:,} files and folders"
                    members.append(member)
                tar.extractall(staging, members=members, filter=_plain)
        except (tarfile.TarError, OSError, ValueError, EOFError) as exc:
            return f"its archive could not be read ({type(exc).__name__})"
        return _swap_contents(directory, staging)
    finally:
        remove_tree(staging)


def _swap_contents(directory: Path, staging: Path) -> str | None:
    """Empty `directory`, then move every entry of `staging` into it."""
    try:
        for entry in os.scandir(directory):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                remove_tree(path)
            else:
                os.unlink(path)
        for entry in os.scandir(staging):
            os.rename(entry.path, directory / entry.name)
    except OSError as exc:
        return f"the workspace could not be rewritten ({exc.strerror})"
    with contextlib.suppress(OSError):
        os.chmod(directory, stat.S_IMODE(os.lstat(directory).st_mode) | 0o755)
    return None

