"""Grades as tables: plain text for the command line, Markdown for the notebooks (one grade's checks,
or several grades side by side).

Every function takes a `GradeResult` or its dict (`GradeResult.to_dict()`, as attempt records store
it) and returns text; `IPython.display.Markdown` renders the Markdown ones. No pandas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PASS_MARK, FAIL_MARK = "✓", "✗"
CELL_CHARS = 60


def grade_dict(grade: Any) -> dict[str, Any]:
    """A grade as a dict, whether it came as a GradeResult or already as its dict (None: empty)."""
    if grade is None:
        return {"passed": False, "checks": [], "message": "no grade"}
    return grade if isinstance(grade, Mapping) else grade.to_dict()


def format_measurement(value: Any) -> str:
    """A measured value or threshold as text: floats (alone or in a list) to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(f"{v:.6g}" for v in value) + "]"
    return str(value)


def format_value(value: Any, chars: int = CELL_CHARS) -> str:
    """A measured value or threshold for a table cell: floats to 6 significant digits, cut to `chars`."""
    text = format_measurement(value)
    text = text if len(text) <= chars else text[: chars - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


def _row_key(check: Mapping[str, Any]) -> tuple[str, float | None]:
    return check["name"], check.get("p")


def _p_cell(p: float | None) -> str:
    return "" if p is None else f"{p:g}"


def text_table(grade: Any) -> str:
    """One grade as the command line prints it: a line per check, then the verdict."""
    grade = grade_dict(grade)
    lines = []
    for check in grade["checks"]:
        mark = "ok  " if check["passed"] else "FAIL"
        name = check["name"] + (f" p={check['p']:g}" if check.get("p") is not None else "")
        lines.append(f"  {mark} {name:34} {format_measurement(check['value']):>28}   "
                     f"{format_measurement(check['threshold'])}")
    verdict = "PASSED" if grade["passed"] else "FAILED"
    setting = [f"{name} {value:g}" for name, value in (grade.get("params") or {}).items()]
    setting += [f"seed {grade['seed']}"] if "seed" in grade else []
    where = f"{grade['task']} {grade.get('task_version', '')}".rstrip() if grade.get("task") else ""
    note = f" ({', '.join(([where] if where else []) + setting)})" if where or setting else ""
    lines.append(f"{verdict}: {grade.get('message') or 'no grade'}{note}")
    return "\n".join(lines)


def checks_table(grade: Any) -> str:
    """One grade: a row per check with its p, measured value, requirement and pass mark, then the verdict."""
    grade = grade_dict(grade)
    rows = ["| | check | p | measured | required |", "|---|---|---|---|---|"]
    for check in grade["checks"]:
        mark = PASS_MARK if check["passed"] else FAIL_MARK
        rows.append(f"| {mark} | `{check['name']}` | {_p_cell(check.get('p'))} | "
                    f"{format_value(check['value'])} | {format_value(check['threshold'])} |")
    verdict = "**PASSED**" if grade["passed"] else "**FAILED**"
    return "\n".join(rows) + f"\n\n{verdict}: {format_value(grade.get('message', ''), 300)}"


def comparison_table(grades: Mapping[str, Any], ratio_decimals: int = 2) -> str:
    """Several grades side by side: a row per check (in the order first seen), a column per grade.

    A cell shows the pass mark, and the measured value for variance ratios (to `ratio_decimals`, so
    that the sampling noise of a rerun rarely shows) and for every failure. The last row is each
    grade's verdict.
    """
    grades = {name: grade_dict(grade) for name, grade in grades.items()}
    rows: dict[tuple[str, float | None], dict[str, Any]] = {}
    for grade in grades.values():
        for check in grade["checks"]:
            rows.setdefault(_row_key(check), check)
    names = list(grades)
    lines = ["| check | p | required | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for key, first in rows.items():
        cells = []
        for name in names:
            check = next((c for c in grades[name]["checks"] if _row_key(c) == key), None)
            cells.append(_comparison_cell(check, ratio_decimals))
        lines.append(f"| `{key[0]}` | {_p_cell(key[1])} | {format_value(first['threshold'], 40)} | "
                     + " | ".join(cells) + " |")
    verdicts = [f"**{'passed' if grades[name]['passed'] else 'failed'}**" for name in names]
    lines.append("| **verdict** | | | " + " | ".join(verdicts) + " |")
    return "\n".join(lines)


def _comparison_cell(check: Mapping[str, Any] | None, ratio_decimals: int) -> str:
    if check is None:
        return "–"
    mark = PASS_MARK if check["passed"] else FAIL_MARK
    if check["name"] == "variance_ratio" and isinstance(check["value"], float):
        return f"{mark} {check['value']:.{ratio_decimals}f}"
    return mark if check["passed"] else f"{mark} {format_value(check['value'], 50)}"
