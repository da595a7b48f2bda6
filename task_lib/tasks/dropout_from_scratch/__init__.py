"""Task `dropout-from-scratch`: implement inverted dropout as a NumPy function, from a stub that
raises NotImplementedError. Its `TASK` value is all the harness sees."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_lib.sandbox.run import SandboxLimits
from task_lib.task import Task

from . import design

SHAPE_WORDS = ("a 1-D one of odd length up to 999, a 2-D, a 3-D and a 4-D one with sides from 1 to 12, and a "
               "2-D one of up to 20,000 elements")

TIMES = {1: "once", 2: "twice", 3: "three times"}


def prompt_fields(params: Mapping[str, float]) -> dict[str, Any]:
    """The numbers the prompt states (this task has no parameters)."""
    from . import power

    half = power.thresholds(0.5)
    fraction, group = half["drop_fraction"], half["value_group"]
    arrays = (len(design.FIXED_P) + 1) * len(design.STAT_DTYPES)
    return {"shape_words": SHAPE_WORDS, "stat_arrays": arrays, "stat_low": design.STAT_SIZE_RANGE[0],
            "stat_high": design.STAT_SIZE_RANGE[1], "rank_repeats": TIMES[arrays // len(design.STAT_RANKS)],
            "grade_seconds": design.GRADE_SECONDS, "grade_memory_gib": design.GRADE_MEMORY_GIB,
            "rtol32": design.SCALE_RTOL["float32"], "rtol64": design.SCALE_RTOL["float64"],
            "fixed_p": ", ".join(f"{p:g}" for p in design.FIXED_P), "fresh_low": design.FRESH_P_RANGE[0],
            "fresh_high": design.FRESH_P_RANGE[1], "n_calls": design.N_CALLS,
            "count_slack": design.COUNT_SLACK, "pooled_count_slack": design.POOLED_COUNT_SLACK,
            "false_fail": power.FALSE_FAIL_BUDGET,
            "fraction_margin": (fraction[1] - fraction[0]) / 2, "group_margin": (group[1] - group[0]) / 2}


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
)
