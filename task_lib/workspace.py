"""Workspaces: create one from a task's starting files, copy the files worth keeping, and resolve a tool's
path argument safely (no escape through `..`, absolute paths or symlinks)."""

from __future__ import annotations

import shutil
from pathlib import Path

from task_lib.registry import get_task
from task_lib.task import Task


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


def snapshot(workspace: Path, destination: Path) -> Path:
    """Copy the workspace's regular files (not symlinks, not directories) into `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for item in workspace.iterdir():
        if item.is_file() and not item.is_symlink():
            shutil.copyfile(item, destination / item.name)
    return destination


def resolve_in_workspace(workspace: Path, relative: str) -> Path:
    """The real path `relative` names inside `workspace`; raises WorkspacePathError if it would leave it."""
    if not isinstance(relative, str) or not relative.strip():
        raise WorkspacePathError("path must be a non-empty string relative to the project directory")
    if "\x00" in relative:
        raise WorkspacePathError("path must not contain NUL characters")
    candidate = Path(relative)
    if candidate.is_absolute():
        raise WorkspacePathError(f"{relative!r} is absolute: use a path relative to the project directory")
    root = workspace.resolve()
    resolved = (root / candidate).resolve()  # follows symlinks, so a link pointing out is caught
    if resolved != root and root not in resolved.parents:
        raise WorkspacePathError(f"{relative!r} is outside the project directory")
    return resolved
