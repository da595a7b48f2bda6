"""A grade as an RL engine takes it: the pack's verdict on a workspace as plain JSON data (a workspace
with nothing to grade is a failed verdict of category `unusable_workspace`, never an exception), the
categories a task can fail with, and the numbers-only rewards of a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from task_lib.task import Task

UNUSABLE = "unusable_workspace"


def failure_categories(task: Task) -> list[str]:
    """Every category a grade of `task` can fail with: its checks' names, and `unusable_workspace`."""
    return sorted({*task.module("checks").CLAUSES, UNUSABLE})


def failure_flags(task: Task, verdict: dict[str, Any]) -> dict[str, int]:
    """`failure_<category>`: 1 for the verdict's failure category, 0 for every other one of `task`."""
    failure = verdict["failure"]
    return {f"failure_{category}": int(category == failure) for category in failure_categories(task)}


def reward_values(task: Task, verdict: dict[str, Any]) -> dict[str, int]:
    """`reward` (1 passed, 0 failed), then `failure_flags`: numbers only."""
    return {"reward": int(bool(verdict["passed"]))} | failure_flags(task, verdict)


def grade_artifact(task: Task, workspace: Path, params: dict[str, float]) -> dict[str, Any]:
    """The pack's verdict on `workspace` at `params` as plain JSON data; raises only for a harness bug."""
    from task_lib.grading.grader import UnusableWorkspace, grade_workspace

    try:
        return grade_workspace(workspace, task, params).to_dict()
    except UnusableWorkspace as exc:
        return {"passed": False, "failure": UNUSABLE, "message": str(exc), "checks": [], "task": task.name,
                "task_version": task.version, "params": params}
