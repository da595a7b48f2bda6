"""The registry of tasks: names mapped to their packages under `task_lib/tasks/`.

`get_task(name)` imports only the package of the task asked for (its `TASK` value); nothing here
imports NumPy, torch or another task.
"""

from __future__ import annotations

import importlib

from task_lib.task import Task

DEFAULT_TASK_NAME = "variance-dropout"
TASK_PACKAGES: dict[str, str] = {
    "variance-dropout": "task_lib.tasks.variance_dropout",
    "dropout-from-scratch": "task_lib.tasks.dropout_from_scratch",
    "softmax-cross-entropy": "task_lib.tasks.softmax_cross_entropy",
}


class UnknownTask(ValueError):
    """No task of that name: the message lists the registered ones."""


def task_names() -> list[str]:
    """The registered task names, default first."""
    return list(TASK_PACKAGES)


def get_task(name: str | None = None) -> Task:
    """The task called `name` (default: variance-dropout)."""
    name = name or DEFAULT_TASK_NAME
    package = TASK_PACKAGES.get(name)
    if package is None:
        raise UnknownTask(f"unknown task {name!r}: choose one of {', '.join(TASK_PACKAGES)}")
    return importlib.import_module(package).TASK


def all_tasks() -> list[Task]:
    """Every registered task (imports each task's package, but none of their heavy modules)."""
    return [get_task(name) for name in TASK_PACKAGES]
