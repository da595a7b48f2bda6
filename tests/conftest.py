"""Shared fixtures: workspaces of a task (default variance-dropout) built from file texts, and
grading many of them once, concurrently, each on a fixed seed."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from task_lib.agent.workspace import create_workspace
from task_lib.grading.grader import GradeResult, grade_workspace
from task_lib.task import Task

Files = dict[str, str | bytes]


@pytest.fixture(scope="session")
def make_workspace(tmp_path_factory):
    """Make a starting workspace with some files replaced or added: make_workspace({name: text}, task=...)."""

    def make(files: Files | None = None, name: str = "ws", task: Task | None = None) -> Path:
        directory = create_workspace(tmp_path_factory.mktemp(name), task)
        for filename, content in (files or {}).items():
            path = directory / filename
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return directory

    return make


@pytest.fixture(scope="session")
def grade_many(make_workspace):
    """Grade several workspaces, each once and side by side: {name: files} -> {name: GradeResult}. Each
    is graded on `seed` if given, else on a fixed seed of its own drawn from its name, so that a test's
    plans are the same in every run (a grade on a fresh seed would make the suite a lottery)."""

    def grade(variants: dict[str, Files], task: Task | None = None, seed: int | None = None,
              **options) -> dict[str, GradeResult]:
        paths = {name: make_workspace(files, name="graded", task=task) for name, files in variants.items()}
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(grade_workspace, path, task, seed=variant_seed(name, seed),
                                         **options) for name, path in paths.items()}
            return {name: future.result() for name, future in futures.items()}

    return grade


def variant_seed(name: str, seed: int | None) -> int:
    """`seed`, or a fixed one drawn from the variant's name."""
    return seed if seed is not None else zlib.crc32(name.encode("utf-8"))
