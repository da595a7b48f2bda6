"""Remove a directory tree whatever a child left in it: deep trees, folders without permissions,
symlinks (never followed), FIFOs, sockets, odd names.

Contract: `remove_tree(path)` never raises and never blocks; it walks the tree iteratively through
directory descriptors (no recursion, no path longer than one name), so depth is no limit, and it
removes all it is allowed to.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _clear(fd: int) -> list[str]:
    """Unlock the directory open at `fd`, remove everything in it but its subdirectories, and
    return their names."""
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o700)
    subdirectories = []
    try:
        names = os.listdir(fd)
    except OSError:
        return []
    for name in names:
        try:
            os.unlink(name, dir_fd=fd)
        except IsADirectoryError:
            subdirectories.append(name)
        except OSError:
            pass
    return subdirectories


def remove_tree(path: Path | str) -> None:
    """Delete `path` and everything below it (see the module docstring)."""
    try:
        fd = os.open(path, _DIRECTORY)
    except OSError:  # not a directory (or a symlink to one), or gone
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    names: list[str] = []  # the directories from `path` down to the one open at `fd`
    pending = [_clear(fd)]  # per level: the subdirectories still to remove
    try:
        while True:
            if pending[-1]:
                name = pending[-1].pop()
                try:
                    child = os.open(name, _DIRECTORY, dir_fd=fd)
                except OSError:
                    continue
                os.close(fd)
                fd = child
                names.append(name)
                pending.append(_clear(fd))
                continue
            pending.pop()
            if not names:
                break
            parent = os.open("..", _DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = parent
            with contextlib.suppress(OSError):
                os.rmdir(names.pop(), dir_fd=fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)
