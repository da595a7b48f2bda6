"""Fixtures for dropout-from-scratch's tests: its workspaces, and grading many of them side by side."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_lib.grader import GradeResult, grade_workspace
from task_lib.workspace import create_workspace

from .task_files import TASK

Files = dict[str, str | bytes]


@pytest.fixture(scope="session")
def make_dfs_workspace(tmp_path_factory):
    """A dropout-from-scratch starting workspace with some files replaced or added."""

    def make(files: Files | None = None, name: str = "dfs") -> Path:
        directory = create_workspace(tmp_path_factory.mktemp(name), TASK)
        for filename, content in (files or {}).items():
            path = directory / filename
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return directory

    return make


@pytest.fixture(scope="session")
def grade_dfs(make_dfs_workspace):
    """Grade several dropout-from-scratch workspaces once each, side by side."""

    def grade(variants: dict[str, Files], **options) -> dict[str, GradeResult]:
        paths = {name: make_dfs_workspace(files, name="graded") for name, files in variants.items()}
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(grade_workspace, path, TASK, **options)
                       for name, path in paths.items()}
            return {name: future.result() for name, future in futures.items()}

    return grade
