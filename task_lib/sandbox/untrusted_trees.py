"""Directory trees that untrusted code wrote (a workspace after the model's code ran in it, or what a
child left behind): scanning them and removing them, whatever they hold.

Contract: `scan_tree` and `remove_tree` never raise and never block. They walk iteratively (any
depth: Python 3.11's `os.walk` and `shutil.rmtree` recurse), through directory descriptors (no path
grows past PATH_MAX, however deep or long-named the tree), open nothing but directories, with
O_NOFOLLOW and O_NONBLOCK (a symlink, loop, FIFO or socket is an entry like any other), and take any
name the kernel takes (non-UTF-8 bytes included). `remove_tree` also unlocks directories without
permissions on its way down.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def display_name(name: str) -> str:
    """A file name as text that is always valid UTF-8 (undecodable bytes shown as \\xNN escapes)."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


@dataclass
class TreeScan:
    """What `scan_tree` saw: regular files (relative paths, display-safe), entries counted, the
    deepest directory level reached, and whether the scan stopped at a bound."""

    files: list[str] = field(default_factory=list)
    entries: int = 0
    depth: int = 0
    cut: bool = False
    unreadable: int = 0  # directories that could not be listed


def scan_tree(root: Path | str, *, max_entries: int, max_depth: int, skip: frozenset[str] = frozenset()
              ) -> TreeScan:
    """Walk `root` depth-first (in each directory its files first, then its subdirectories, by name), up
    to `max_entries` entries and `max_depth` levels of directories below it (`cut` when a bound left
    something out); directories named in `skip` are not entered."""
    scan = TreeScan()
    try:
        top = os.open(root, DIRECTORY_FLAGS)
    except OSError:
        scan.unreadable += 1
        return scan
    stack: list[tuple[int, list[os.DirEntry], str]] = []  # (directory fd, entries left, relative prefix)
    _push(stack, top, "", scan)
    try:
        while stack and not scan.cut:
            fd, entries, prefix = stack[-1]
            if not entries:
                os.close(stack.pop()[0])
                continue
            entry = entries.pop()
            scan.entries += 1
            if scan.entries > max_entries:
                scan.cut = True
                break
            relative = prefix + display_name(entry.name)
            if _is_directory(entry):
                if entry.name in skip:
                    continue
                if len(stack) > max_depth:
                    scan.cut = True  # not entered; the rest is still scanned
                    continue
                try:
                    sub = os.open(entry.name, DIRECTORY_FLAGS, dir_fd=fd)
                except OSError:
                    scan.unreadable += 1
                    continue
                _push(stack, sub, relative + "/", scan)
            elif _is_regular(entry):
                scan.files.append(relative)
    finally:
        for fd, _, _ in stack:
            os.close(fd)
    return scan


def _push(stack: list, fd: int, prefix: str, scan: TreeScan) -> None:
    try:
        with os.scandir(fd) as listing:
            entries = sorted(listing, key=lambda entry: (_is_directory(entry), entry.name), reverse=True)
    except OSError:
        scan.unreadable += 1
        entries = []
    stack.append((fd, entries, prefix))
    scan.depth = max(scan.depth, len(stack) - 1)


def _is_directory(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_regular(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def remove_tree(path: Path | str) -> bool:
    """Delete `path` (a directory tree, or any single entry) whatever it holds; True when it is gone.

    Descends one directory at a time, holding one descriptor, and climbs back through "..": memory
    and descriptors stay constant at any depth. What cannot be removed (e.g. a mount point) is left
    and skipped, so the walk always ends.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return not os.path.lexists(path)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)  # a directory, not a link (lstat): nothing else of the tree is running
    try:
        fd = os.open(path, DIRECTORY_FLAGS)
    except OSError:
        return False
    names: list[str] = []  # the way down from `path` to the directory `fd` is open on
    kept: list[set[str]] = [set()]  # per level: entries that could not be removed
    try:
        while True:
            child = _clear_files(fd, kept[-1])
            if child is not None:
                with contextlib.suppress(OSError):
                    os.chmod(child, 0o700, dir_fd=fd)  # listed as a directory, not a link
                try:
                    sub = os.open(child, DIRECTORY_FLAGS, dir_fd=fd)
                except OSError:
                    kept[-1].add(child)
                    continue
                os.close(fd)
                fd, names, kept = sub, [*names, child], [*kept, set()]
                continue
            if not names:
                break
            try:
                parent = os.open("..", DIRECTORY_FLAGS, dir_fd=fd)
            except OSError:
                return False
            os.close(fd)
            fd, name = parent, names.pop()
            kept.pop()
            try:
                os.rmdir(name, dir_fd=fd)
            except OSError:
                kept[-1].add(name)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return not os.path.lexists(path)


def _clear_files(fd: int, kept: set[str]) -> str | None:
    """Unlink every entry of the directory `fd` that is not a directory; the name of a subdirectory
    still to empty, or None when only entries in `kept` are left."""
    subdirectory = None
    try:
        with os.scandir(fd) as listing:
            for entry in listing:
                if entry.name in kept:
                    continue
                if _is_directory(entry):
                    subdirectory = subdirectory or entry.name
                    continue
                try:
                    os.unlink(entry.name, dir_fd=fd)
                except FileNotFoundError:
                    pass
                except OSError:
                    kept.add(entry.name)
    except OSError:
        return None
    return subdirectory
