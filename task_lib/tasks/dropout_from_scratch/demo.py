"""dropout-from-scratch's demo lines: what the starting stub and the reference do on the grader's
checks, next to the theory (E[y] = (1-p) * scale * x, so only scale = 1/(1-p) keeps the mean)."""

from __future__ import annotations

from task_lib.grading.verdict import GradeResult

from . import theory


def explain(bug: GradeResult, fix: GradeResult) -> list[str]:
    """The stub's first failure, and the reference's survivor scale and drop fractions."""
    lines = [f"Starting stub: {bug.message}"]
    scale = next((c for c in fix.checks if c.name == "survivor_scale"), None)
    if scale is not None:
        lines.append(f"Reference survivors: largest relative error of y/x against 1/(1-p): "
                     f"{scale.value:.2g} (allowed {scale.threshold:g})")
    lines.append(f"  {'p':>6}  {'drop fraction':>13}  {'E[y]/x, scale 1/(1-p)':>22}"
                 f"  {'E[y]/x, 1/sqrt(1-p)':>20}")
    for check in fix.checks:
        if check.name == "drop_fraction" and check.p is not None:
            p = check.p
            lines.append(f"  {p:>6g}  {check.value:>13.4f}  {theory.mean_ratio(p, 'inverted'):>22.3f}"
                         f"  {theory.mean_ratio(p, 'sqrt'):>20.3f}")
    return lines
