"""The demo of a task: grade its starting files and its reference solution with the same inputs, and
show what the task's own `demo.explain(bug, reference)` says about the two, then both verdicts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from task_lib.agent.workspace import create_workspace, write_reference_solution
from task_lib.grading.grader import grade_workspace
from task_lib.registry import get_task
from task_lib.task import Task


def run_demo(task: Task | None = None, seed: int = 0) -> str:
    """Grade the starting files and the reference of `task` (default: variance-dropout); the report
    as text."""
    task = task or get_task()
    with tempfile.TemporaryDirectory() as tmp:
        bug = grade_workspace(create_workspace(Path(tmp, "bug"), task), task, seed=seed)
        fix = grade_workspace(write_reference_solution(Path(tmp, "reference"), task), task, seed=seed)
    lines = [f"task {task.name} (version {task.version}): {task.summary}"]
    lines += task.module("demo").explain(bug, fix)
    lines.append(f"starting files: {'PASSED' if bug.passed else 'FAILED'}: {bug.message}")
    lines.append(f"reference:      {'PASSED' if fix.passed else 'FAILED'}: {fix.message}")
    return "\n".join(lines)
