"""Fixtures for dropout-from-scratch's tests: the shared workspace fixtures, bound to this task."""

from __future__ import annotations

import functools

import pytest

from .task_files import TASK


@pytest.fixture(scope="session")
def make_dfs_workspace(make_workspace):
    """A dropout-from-scratch starting workspace with some files replaced or added."""
    return functools.partial(make_workspace, name="dfs", task=TASK)


@pytest.fixture(scope="session")
def grade_dfs(grade_many):
    """Grade several dropout-from-scratch workspaces once each, side by side."""
    return functools.partial(grade_many, task=TASK)
