"""The task interface: one frozen `Task` value per task holds everything that defines it.

A task lives in its own package under `task_lib/tasks/`, laid out by convention:
`prompt.md` (the prompt, `str.format` fields filled from `prompt_fields(params)`), `files/` (the
starting workspace), `reference/` (the reference solution files), `driver.py` (the grader's child
side: loads the candidate and calls it; runs only in the sandbox), `checks.py` (the parent side: the
job it draws and every check), `policies.py` (its scripted policies and calibration mix). The harness
reads a `Task` and knows no task. Pure data and standard library: no NumPy here.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from types import ModuleType
from typing import Any

from task_lib.sandbox.run import SandboxLimits


@dataclass(frozen=True)
class AgentLimits:
    """Per-attempt limits; hitting one ends the attempt as `limit`, not as a wrong answer.

    `attempt_seconds` bounds the tool-use loop's wall-clock time (the limit `wall_time`; the final
    workspace is still saved and graded). `tool_call_seconds` bounds one tool call: one past it is
    abandoned and the model is told so in the tool's result, and the attempt goes on. It is a
    backstop above the sandbox's own wall-clock limit (SandboxLimits.wall_seconds), which code the
    model runs meets first.
    """

    max_steps: int = 40
    max_tokens_per_response: int = 8192
    max_total_tokens: int = 2_000_000
    attempt_seconds: float = 1800.0
    tool_call_seconds: float = 120.0


@dataclass(frozen=True)
class Param:
    """A named grading parameter: a number strictly between `low` and `high`, `default` unless set."""

    name: str
    default: float
    help: str
    low: float = -math.inf
    high: float = math.inf

    def parse(self, value: Any) -> float:
        """`value` (a number or its text) as this parameter's value; ValueError saying what to change."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number, got {value!r}") from None
        if not self.low < number < self.high:
            raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g} "
                             f"(e.g. {self.default:g}), got {value}")
        return number


class TaskUnavailable(RuntimeError):
    """The task needs a package this environment does not have; the message says how to install it."""


@dataclass(frozen=True)
class Task:
    """Everything that defines one task. See the module docstring for the folder it points at."""

    name: str
    package: str
    summary: str
    role: str  # who the agent is asked to be, e.g. "Python and NumPy engineer"
    starting_files: tuple[str, ...]
    solution_files: tuple[str, ...]  # graded; read from the final workspace
    protected_files: tuple[str, ...]  # must stay byte-for-byte as they started
    visible_tests: str  # the file `run_tests` runs
    grade_limits: SandboxLimits
    prompt_fields: Callable[[Mapping[str, float]], dict[str, Any]]
    params: tuple[Param, ...] = ()
    agent_limits: AgentLimits = field(default_factory=AgentLimits)
    libraries: tuple[str, ...] = ("NumPy",)  # what the tools tell the model it can import
    requires: tuple[str, ...] = ()  # importable modules the grader's child and the tools need
    install_hint: str = ""
    # Files of the package that define the grade (with the prompt and starting files): see `version`.
    defining_files: tuple[str, ...] = ("driver.py", "checks.py")
    # Harness helpers of the grader's child (files of task_lib/grading/, e.g. "child_arrays.py") that
    # its program holds between child_kit.py and the task's driver.
    child_parts: tuple[str, ...] = ()

    # ---- files of the task's folder ----

    def file_text(self, relative: str) -> str:
        """The text of one file of the task's folder, e.g. "files/dropout.py"."""
        return resources.files(self.package).joinpath(relative).read_text(encoding="utf-8")

    def starting_text(self, name: str) -> str:
        return self.file_text(f"files/{name}")

    def reference_text(self, name: str) -> str:
        return self.file_text(f"reference/{name}")

    def module(self, name: str) -> ModuleType:
        """One of the task's own modules ("checks", "policies", ...), imported on first use."""
        return importlib.import_module(f"{self.package}.{name}")

    # ---- parameters and prompt ----

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The defaults with `overrides` applied; ValueError naming the parameters that exist."""
        known = {param.name: param for param in self.params}
        values = {name: param.default for name, param in known.items()}
        for name, value in (overrides or {}).items():
            if name not in known:
                names = ", ".join(known) or "none"
                raise ValueError(f"task {self.name} has no parameter {name!r} (its parameters: {names})")
            values[name] = known[name].parse(value)
        return values

    def prompt(self, params: Mapping[str, Any] | None = None) -> str:
        """The prompt as the model sees it, with the numbers of `params` (default: the defaults)."""
        return self.file_text("prompt.md").format(**self.prompt_fields(self.resolve_params(params)))

    # ---- identity and availability ----

    @cached_property
    def version(self) -> str:
        """A content hash of what defines the task: prompt, starting files, driver, checks, thresholds
        and limits. Any edit to them gives a new version, so results are never mixed across edits."""
        digest = hashlib.sha256()
        parts = [self.name, self.file_text("prompt.md"), repr(self.params), repr(self.grade_limits),
                 repr((self.solution_files, self.protected_files))]
        parts += [f"files/{n}\0{self.starting_text(n)}" for n in self.starting_files]
        parts += [f"{n}\0{self.file_text(n)}" for n in self.defining_files]
        helpers = resources.files("task_lib.grading")
        parts += [f"{n}\0{helpers.joinpath(n).read_text(encoding='utf-8')}" for n in self.child_parts]
        for part in parts:
            digest.update(part.encode("utf-8") + b"\0\0")
        return digest.hexdigest()[:12]

    def missing_requirement(self) -> str | None:
        """Why the task cannot run here (a required package is not installed), or None."""
        missing = [name for name in self.requires if importlib.util.find_spec(name) is None]
        if not missing:
            return None
        return f"task {self.name} needs {', '.join(missing)}: install it with {self.install_hint}"

    def check_available(self) -> None:
        """Raise TaskUnavailable when `missing_requirement` has a reason."""
        reason = self.missing_requirement()
        if reason:
            raise TaskUnavailable(reason)

    def describe(self) -> dict[str, Any]:
        """What `tasks --json` lists for this task."""
        return {"name": self.name, "version": self.version, "summary": self.summary,
                "solution_files": list(self.solution_files),
                "params": {p.name: p.default for p in self.params},
                "available": self.missing_requirement() is None,
                "unavailable_reason": self.missing_requirement()}
