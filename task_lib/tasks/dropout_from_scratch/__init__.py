"""Task `dropout-from-scratch`: implement inverted dropout as a NumPy function, from a stub that
raises NotImplementedError. Its `TASK` value is all the harness sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_lib.sandbox.run import SandboxLimits
from task_lib.task import Task

from . import design


def prompt_fields(params: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prompt states (this task has no parameters)."""
    return {"grade_seconds": design.GRADE_SECONDS, "grade_memory_gib": design.GRADE_MEMORY_GIB,
            "rtol32": design.SCALE_RTOL["float32"], "rtol64": design.SCALE_RTOL["float64"]}


TASK = Task(
    name="dropout-from-scratch",
    package=__name__,
    summary="Implement inverted dropout as a NumPy function (survivors scaled by exactly 1/(1-p)).",
    role="Python and NumPy engineer",
    starting_files=("dropout.py", "test_dropout.py"),
    solution_files=("dropout.py",),
    protected_files=("test_dropout.py",),
    visible_tests="test_dropout.py",
    grade_limits=SandboxLimits(wall_seconds=design.GRADE_SECONDS, cpu_seconds=design.GRADE_SECONDS,
                               memory_bytes=design.GRADE_MEMORY_GIB * 1024**3),
    prompt_fields=prompt_fields,
    defining_files=("driver.py", "checks.py", "power.py", "design.py"),
    child_parts=("child_arrays.py",),
)
