"""Workspaces: create one from a task's starting files, copy the files worth keeping, open a tool's
path argument safely.

Contract: `open_in_workspace` resolves a path one component at a time through directory descriptors,
opening each with O_NOFOLLOW and O_NONBLOCK; it follows a symlink only by reading it and only while
its target stays in the workspace, so no `..`, absolute path, symlink (pointing out, dangling or
looping), FIFO or socket can make it leave the workspace, block or recurse. `snapshot` never raises
for anything the workspace holds (`untrusted_trees.remove_tree` removes one).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from task_lib.registry import get_task
from task_lib.sandbox.untrusted_files import read_open_prefix
from task_lib.sandbox.untrusted_trees import display_name
from task_lib.task import Task

MAX_PATH_CHARS = 4096
MAX_SYMLINK_HOPS = 40  # as the kernel's own limit
MAX_COMPONENTS = 256  # path components walked, symlink targets included
SNAPSHOT_FILE_BYTES = 4 * 1024**2  # a saved workspace keeps regular files up to this size
SNAPSHOT_FILES = 200  # and at most this many of them
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class WorkspacePathError(ValueError):
    """A tool asked for a path outside the workspace, or one that cannot be used."""


def create_workspace(directory: Path | str, task: Task | None = None) -> Path:
    """Write `task`'s starting files (default task: variance-dropout) into `directory` (created if
    needed; existing task files are replaced)."""
    task = task or get_task()
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{directory} exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    for name in task.starting_files:
        (directory / name).write_text(task.starting_text(name), encoding="utf-8")
    return directory


def write_reference_solution(directory: Path | str, task: Task | None = None) -> Path:
    """A workspace holding `task`'s reference solution: used by the demo and the tests."""
    task = task or get_task()
    directory = create_workspace(directory, task)
    for name in task.solution_files:
        (directory / name).write_text(task.reference_text(name), encoding="utf-8")
    return directory


def snapshot(workspace: Path, destination: Path) -> list[str]:
    """Copy the workspace's top-level regular files (at most SNAPSHOT_FILES, each of at most
    SNAPSHOT_FILE_BYTES; no symlink, directory, FIFO or socket) into `destination`; returns what
    was left out and why. Never raises for anything the workspace holds."""
    destination.mkdir(parents=True, exist_ok=True)
    left_out: list[str] = []
    try:
        with os.scandir(workspace) as listing:
            names = sorted(entry.name for entry in listing)
    except OSError as exc:
        return [f"the workspace could not be listed ({exc.strerror or exc})"]
    copied = 0
    for name in names:
        try:
            fd = os.open(os.path.join(workspace, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # a symlink, socket or FIFO without writer: not a file to keep
        try:
            found = read_open_prefix(fd, SNAPSHOT_FILE_BYTES + 1)
        finally:
            os.close(fd)
        if found is None:
            continue
        data, size = found
        if size > SNAPSHOT_FILE_BYTES:
            left_out.append(f"{display_name(name)} ({size:,} bytes)")
        elif copied >= SNAPSHOT_FILES:
            left_out.append(f"{display_name(name)} (more than {SNAPSHOT_FILES} files)")
        else:
            (destination / name).write_bytes(data)
            copied += 1
    return left_out


def open_in_workspace(workspace: Path, relative: str, flags: int, *, make_dirs: bool = False) -> int:
    """A descriptor for the file `relative` names in `workspace`, opened with `flags` plus O_NOFOLLOW,
    O_NONBLOCK and O_CLOEXEC (created 0o644 under O_CREAT; missing directories made with
    `make_dirs`). WorkspacePathError when the path is unusable or would leave the workspace; OSError
    (ENOENT, EACCES, ENXIO for a FIFO or socket, ...) as the kernel reports it."""
    parts = _split(relative)
    root = os.open(workspace, _PATH_FLAGS)
    real_root = os.path.realpath(workspace)
    stack = [root]  # descriptors of the directories from the workspace down to the current one
    hops = walked = 0
    try:
        while parts:
            name = parts.pop(0)
            walked += 1
            if walked > MAX_COMPONENTS:
                raise WorkspacePathError(f"{relative!r} has too many components (symlinks included)")
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) == 1:
                    raise WorkspacePathError(f"{relative!r} is outside the project directory")
                os.close(stack.pop())
                continue
            try:
                info = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
            except FileNotFoundError:
                info = None
            if info is not None and stat.S_ISLNK(info.st_mode):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise WorkspacePathError(f"{relative!r} goes through a loop of symbolic links")
                target = os.readlink(name, dir_fd=stack[-1])
                if os.path.isabs(target):
                    inside = os.path.relpath(target, real_root)
                    if inside == ".." or inside.startswith("../"):
                        raise WorkspacePathError(f"{relative!r} is outside the project directory")
                    while len(stack) > 1:
                        os.close(stack.pop())
                    target = inside
                parts = target.split("/") + parts
                continue
            if not parts:  # the last component: the file itself
                return os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644,
                               dir_fd=stack[-1])
            if info is None and make_dirs:
                os.mkdir(name, 0o755, dir_fd=stack[-1])
            stack.append(os.open(name, _PATH_FLAGS, dir_fd=stack[-1]))
        if flags & (os.O_WRONLY | os.O_RDWR):
            raise WorkspacePathError(f"{relative!r} is a directory: give a file path")
        return os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def _split(relative: str) -> list[str]:
    if not isinstance(relative, str) or not relative.strip():
        raise WorkspacePathError("path must be a non-empty string relative to the project directory")
    if "\x00" in relative:
        raise WorkspacePathError("path must not contain NUL characters")
    if len(relative) > MAX_PATH_CHARS:
        raise WorkspacePathError(f"path is {len(relative):,} characters; the limit is {MAX_PATH_CHARS:,}")
    if relative.startswith("/"):
        raise WorkspacePathError(f"{relative!r} is absolute: use a path relative to the project directory")
    try:
        os.fsencode(relative)
    except UnicodeEncodeError:
        raise WorkspacePathError("path holds a character that is not valid in a file name") from None
    parts, depth = relative.split("/"), 0
    for part in parts:  # `..` past the top leaves the workspace whatever the directories hold
        depth += {"": 0, ".": 0, "..": -1}.get(part, 1)
        if depth < 0:
            raise WorkspacePathError(f"{relative!r} is outside the project directory")
    return parts


def describe_os_error(path: str, exc: OSError) -> str:
    """What an OSError met on the tool path `path` means, in one line for the model."""
    what = {
        errno.ENOENT: "does not exist (or a directory on its way does not)",
        errno.ENOTDIR: "goes through something that is not a directory",
        errno.EISDIR: "is a directory: give a file path",
        errno.ELOOP: "is a symbolic link the tools do not follow here",
        errno.ENXIO: "is a FIFO or a socket, not a regular file",
        errno.EACCES: "cannot be opened: permission denied (change its mode with run_python)",
        errno.EPERM: "cannot be opened: operation not permitted",
        errno.ENAMETOOLONG: "has a name too long for the file system",
        errno.ENOSPC: "cannot be written: the disk is full",
        errno.EDQUOT: "cannot be written: the workspace's disk quota is used up",
        errno.EFBIG: "cannot be written: the file would be too large",
    }.get(exc.errno, f"cannot be used: {exc.strerror or exc}")
    return f"{path!r} {what}"
