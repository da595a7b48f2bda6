"""The softmax-cross-entropy task, its variants and a way to grade many workspaces of it at once; every
test module here skips (with the task's own reason) where torch is not installed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_lib.agent.workspace import create_workspace
from task_lib.grading.grader import GradeResult, grade_workspace
from task_lib.registry import get_task

TASK = get_task("softmax-cross-entropy")
MISSING = TASK.missing_requirement()
requires_torch = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
Files = dict[str, str | bytes]


def variants():
    """The policies' file texts: name -> Variant(description, model, train, expected_failure)."""
    return TASK.module("policies").VARIANTS


def make_workspace(directory: Path, files: Files | None = None) -> Path:
    """A starting workspace of the task in `directory`, with `files` replaced or added."""
    create_workspace(directory, TASK)
    for name, content in (files or {}).items():
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return directory


def grade_all(root: Path, workspaces: dict[str, Files], **options) -> dict[str, GradeResult]:
    """Grade each {name: files} workspace once, two at a time: {name: GradeResult}."""
    paths = {name: make_workspace(root / name, files) for name, files in workspaces.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(grade_workspace, path, TASK, **options) for name, path in paths.items()}
        return {name: future.result() for name, future in futures.items()}
