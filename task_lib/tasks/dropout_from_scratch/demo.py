"""dropout-from-scratch's demo lines: what the starting stub and the reference do on the grader's
checks, next to the theory (E[y] = (1-p) * scale * x, so only scale = 1/(1-p) keeps the mean)."""

from __future__ import annotations

from task_lib.grading.verdict import GradeResult

from . import theory


def explain(bug: GradeResult, fix: GradeResult) -> list[str]:
    """The stub's first failure, the reference's survivor scale and worst drop fraction, and the
    expected output of two scales at the p of this grade's mask groups."""
    lines = [f"Starting stub: {bug.message}"]
    scale = next((c for c in fix.checks if c.name == "survivor_scale"), None)
    if scale is not None:
        lines.append(f"Reference survivors: largest relative error of y/x against 1/(1-p): "
                     f"{scale.value:.2g} (allowed {scale.threshold:g})")
    fraction = next((c for c in fix.checks if c.name == "drop_fraction"), None)
    if fraction is not None and isinstance(fraction.threshold, list):
        low, high = fraction.threshold
        lines.append(f"Reference drop fraction furthest into its band: {fraction.value:.4g} at p = "
                     f"{fraction.p:g} (band [{low:.4g}, {high:.4g}])")
    lines.append(f"  {'p':>8}  {'E[y]/x, scale 1/(1-p)':>22}  {'E[y]/x, 1/sqrt(1-p)':>20}")
    for p in sorted({c.p for c in fix.checks if c.name == "fresh_mask" and c.p is not None}):
        inverted, sqrt = theory.mean_ratio(p, "inverted"), theory.mean_ratio(p, "sqrt")
        lines.append(f"  {p:>8.4g}  {inverted:>22.3f}  {sqrt:>20.3f}")
    return lines
