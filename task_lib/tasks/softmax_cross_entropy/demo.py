"""softmax-cross-entropy's demo lines: each check's measurement for the bug (softmax at the end of
forward, then CrossEntropyLoss) and for the reference (logits into CrossEntropyLoss)."""

from __future__ import annotations

from task_lib.grading.grade_tables import format_measurement
from task_lib.grading.verdict import GradeResult

SHOWN = ("loss_identity", "loss_gradient", "heldout_accuracy", "heldout_nll")


def _values(result: GradeResult) -> dict[str, object]:
    return {c.name: c.value for c in result.checks}


def explain(bug: GradeResult, fix: GradeResult) -> list[str]:
    """A table of the bug's and the fix's measurements, next to each check's threshold."""
    bug_values, fix_values = _values(bug), _values(fix)
    thresholds = {c.name: c.threshold for c in fix.checks}
    lines = ["softmax before CrossEntropyLoss (the bug) vs logits into it (the fix):",
             f"  {'check':<18} {'bug':>14} {'fix':>14}  required"]
    for name in SHOWN:
        bug_value, fix_value = (format_measurement(values.get(name)) for values in (bug_values, fix_values))
        required = format_measurement(thresholds.get(name))
        lines.append(f"  {name:<18} {bug_value:>14} {fix_value:>14}  {required}")
    lines.append("  (loss and gradient: relative errors against the NLL of predict_proba; "
                 "accuracy at least, NLL at most)")
    return lines
