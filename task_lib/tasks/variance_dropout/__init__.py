"""Task `variance-dropout`: fix a NumPy dropout layer that scales survivors by 1/(1-p) where
variance stabilization needs 1/sqrt(1-p). Its `TASK` value is all the harness sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_lib.sandbox.run import SandboxLimits
from task_lib.task import Param, Task

from . import design


def prompt_fields(params: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prompt states, for these parameters."""
    return {"tolerance": f"{params['tolerance']:g}", "grade_seconds": design.GRADE_SECONDS,
            "grade_memory_gib": design.GRADE_MEMORY_GIB, "p_max": max(design.P_VALUES)}


TASK = Task(
    name="variance-dropout",
    package=__name__,
    summary="Fix a NumPy dropout layer so that it keeps the variance of zero-mean inputs (1/sqrt(1-p)).",
    role="Python and NumPy engineer",
    starting_files=("dropout.py", "test_dropout.py"),
    solution_files=("dropout.py",),
    protected_files=("test_dropout.py",),
    visible_tests="test_dropout.py",
    grade_limits=SandboxLimits(wall_seconds=design.GRADE_SECONDS, cpu_seconds=design.GRADE_SECONDS,
                               memory_bytes=design.GRADE_MEMORY_GIB * 1024**3),
    prompt_fields=prompt_fields,
    params=(Param("tolerance", design.DEFAULT_TOLERANCE,
                  "relative tolerance of the variance check: Var(y)/Var(x) within 1 +- t", 0.0, 1.0),),
    defining_files=("driver.py", "checks.py", "power.py", "design.py"),
    child_parts=("child_arrays.py",),
)
