"""variance-dropout's demo lines: the variance error of the bug and of the reference at every
checked p, next to the theory."""

from __future__ import annotations

from task_lib.grading.verdict import GradeResult

from . import design


def variance_errors(result: GradeResult) -> dict[float, float]:
    """Measured Var(y)/Var(x) - 1 at each p, from a grade's variance checks."""
    return {c.p: c.value - 1 for c in result.checks if c.name == "variance_ratio" and c.p is not None}


def explain(bug: GradeResult, fix: GradeResult) -> list[str]:
    """A table of the variance errors of the bug (s = 1/(1-p)) and the fix (s = 1/sqrt(1-p))."""
    bug_err, fix_err = variance_errors(bug), variance_errors(fix)
    lines = [
        "Output variance / input variance - 1, on zero-mean inputs "
        f"(tolerance +-{fix.params.get('tolerance', design.DEFAULT_TOLERANCE):.0%}):",
        f"  {'p':>4}  {'bug: s=1/(1-p)':>16}  {'theory 1/(1-p)-1':>17}  {'fix: s=1/sqrt(1-p)':>19}",
    ]
    for p in design.P_VALUES:
        lines.append(
            f"  {p:>4g}  {bug_err.get(p, float('nan')):>+16.1%}  {1 / (1 - p) - 1:>+17.1%}"
            f"  {fix_err.get(p, float('nan')):>+19.2%}"
        )
    return lines
