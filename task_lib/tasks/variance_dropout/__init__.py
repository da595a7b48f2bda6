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
    tolerance = params["tolerance"]
    return {"p_values": ", ".join(f"{p:g}" for p in design.P_VALUES), "n_variance": design.N_VARIANCE,
            "tolerance": f"{tolerance:g}", "tolerance_pct": f"{tolerance:.0%}",
            "grade_seconds": design.GRADE_SECONDS, "small_calls": design.SMALL_CALLS,
            "small_p": design.SMALL_P, "grade_memory_gib": design.GRADE_MEMORY_GIB,
            "fresh_low": design.FRESH_P_RANGE[0], "fresh_high": design.FRESH_P_RANGE[1],
            "mask_calls": len(design.MASK_MODES), "mask_low": design.MASK_SIDES[0],
            "mask_high": design.MASK_SIDES[1], "mask_modes": ", ".join(design.MASK_MODES),
            "count_calls": design.TRAIN_CALLS * (len(design.P_VALUES) + 1),
            "count_sigmas": design.COUNT_WINDOW_SIGMAS, "spread": design.SCALE_SPREAD_LIMIT,
            "p_max": max(design.P_VALUES)}


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
)
