"""The grader's verdict types: one `Check` per graded behaviour and the `GradeResult` holding them.
Plain data, JSON-ready through `GradeResult.to_dict()`; no numpy."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Check:
    """One graded behaviour: what was measured, against what, and whether it passed."""

    name: str
    passed: bool
    value: Any
    threshold: Any
    p: float | None = None
    detail: str = ""
    clause: str = ""  # the sentence of the task's prompt that announces this check

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))  # a NumPy bool would not be JSON


@dataclass(frozen=True)
class GradeResult:
    """The verdict: every check in order, and the first failure's category (None when passed).
    `isolation` is the sandbox mechanism the child ran under (`task_lib.sandbox.run.isolation()`)."""

    passed: bool
    failure: str | None
    message: str
    checks: list[Check] = field(default_factory=list)
    task: str = ""
    task_version: str = ""
    params: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    seconds: float = 0.0
    isolation: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data: non-finite measurements become the strings "nan", "inf", "-inf"."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
