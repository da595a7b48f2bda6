"""The demo: grade the buggy starting file and the reference fix, and show the variance error of
each at every checked p next to the theory."""

from __future__ import annotations

import tempfile
from pathlib import Path

from task_lib.grader import GradeResult, grade_workspace
from task_lib.task import DEFAULT_TASK
from task_lib.workspace import create_workspace, write_reference_solution


def variance_errors(result: GradeResult) -> dict[float, float]:
    """Measured Var(y)/Var(x) - 1 at each p, from a grade's variance checks."""
    return {c.p: c.value - 1 for c in result.checks if c.name == "variance_ratio" and c.p is not None}


def run_demo(seed: int = 0) -> str:
    """Grade the bug and the reference with the same inputs; return the report as text."""
    with tempfile.TemporaryDirectory() as tmp:
        bug = grade_workspace(create_workspace(Path(tmp, "bug")), seed=seed)
        fix = grade_workspace(write_reference_solution(Path(tmp, "reference")), seed=seed)
    bug_err, fix_err = variance_errors(bug), variance_errors(fix)
    lines = [
        "Output variance / input variance - 1, on zero-mean inputs "
        f"(tolerance +-{DEFAULT_TASK.tolerance:.0%}):",
        f"  {'p':>4}  {'bug: s=1/(1-p)':>16}  {'theory 1/(1-p)-1':>17}  {'fix: s=1/sqrt(1-p)':>19}",
    ]
    for p in DEFAULT_TASK.p_values:
        lines.append(
            f"  {p:>4g}  {bug_err.get(p, float('nan')):>+16.1%}  {1 / (1 - p) - 1:>+17.1%}"
            f"  {fix_err.get(p, float('nan')):>+19.2%}"
        )
    lines.append(f"bug:       {'PASSED' if bug.passed else 'FAILED'}: {bug.message}")
    lines.append(f"reference: {'PASSED' if fix.passed else 'FAILED'}: {fix.message}")
    return "\n".join(lines)
