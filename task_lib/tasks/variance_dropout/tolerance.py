"""What the grading tolerance changes: which scales (1-p)^-a the variance check accepts on average,
how often the grader errs at its pinned sample size, and a saved run's pass rate at that tolerance.

Pure functions over `task_lib.grader_power` and saved grades. A saved run is re-thresholded
instantly: each attempt's grade stores its measured variance ratios, and `verdict_at_tolerance`
re-applies a tolerance to them (same inputs, no sandbox). `python -m task_lib regrade RUN_DIR
--tolerance T` instead re-grades the saved workspaces afresh (new inputs, every check run again).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from task_lib.calibration.stats import wilson_interval

from . import design
from . import power as grader_power

VARIANCE_CHECK = "variance_ratio"
# Checks whose value is a variance ratio held to 1 +- tolerance: re-thresholded at another tolerance.
RETHRESHOLDED = (VARIANCE_CHECK, "expected_variance")
CORRECT_EXPONENT = 0.5
BUG_EXPONENT = 1.0
GRADED_OUTCOMES = ("passed", "failed")


# ---- the variance check on average ---------------------------------------------------------------


def _check_arguments(tolerance: float, p_values: Sequence[float]) -> tuple[float, ...]:
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be between 0 and 1 (e.g. 0.1), got {tolerance}")
    p_values = tuple(float(p) for p in p_values)
    if not p_values:
        raise ValueError("choose at least one p value")
    if not all(0 < p < 1 for p in p_values):
        raise ValueError(f"every p must be strictly between 0 and 1, got {list(p_values)}")
    return p_values


def expected_ratio_in_bounds(scale_sq_at: grader_power.ScaleSq, p_values: Sequence[float],
                             tolerance: float) -> bool:
    """True when a scale's expected variance ratio c^2 (1-p) lies within 1 +- tolerance at every p:
    then no sample size makes the grader reject it."""
    return all(1 - tolerance <= scale_sq_at(p) * (1 - p) <= 1 + tolerance for p in p_values)


def tolerance_curves(
    tolerances: Sequence[float], p_values: Sequence[float] = design.P_VALUES,
    n: int = design.N_VARIANCE,
) -> dict[str, Any]:
    """Across `tolerances`: the accepted exponent interval (`low`, `high`), the bound on a correct
    solution failing (`false_fail`) and, per near miss, the bound on it passing (`false_pass`)."""
    accepted = [grader_power.accepted_exponents(p_values, t) for t in tolerances]
    near = grader_power.near_misses()
    return {
        "tolerances": np.asarray(tolerances, dtype=float),
        "low": np.array([interval[0] for interval in accepted]),
        "high": np.array([interval[1] for interval in accepted]),
        "false_fail": np.array([grader_power.false_fail_probability(n, p_values, t) for t in tolerances]),
        "false_pass": {name: np.array([grader_power.false_pass_probability(n, p_values, t, wrong)
                                       for t in tolerances]) for name, wrong in near.items()},
        "n": n,
    }


# ---- a stored grade at another tolerance ----------------------------------------------------------


def _selected(check: Mapping[str, Any], p_values: set[float] | None) -> bool:
    return p_values is None or check.get("p") is None or round(float(check["p"]), 9) in p_values


def _p_set(p_values: Iterable[float] | None) -> set[float] | None:
    return None if p_values is None else {round(float(p), 9) for p in p_values}


def _finite(value: Any) -> float | None:
    """`value` as a finite float, or None (stored non-finite values are the strings "nan", "inf")."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def variance_ratios(grade: Mapping[str, Any] | None) -> dict[float, float | None]:
    """The measured Var(y)/Var(x) at each p in a stored grade (None where there is no number)."""
    checks = (grade or {}).get("checks") or []
    return {float(c["p"]): _finite(c["value"]) for c in checks if c["name"] == VARIANCE_CHECK}


def verdict_at_tolerance(
    grade: Mapping[str, Any] | None, tolerance: float, p_values: Iterable[float] | None = None
) -> bool:
    """Would this stored grade (GradeResult.to_dict()) pass at `tolerance`? Every other check must
    have passed, and every measured variance ratio must lie within 1 +- tolerance.

    With `p_values`, checks made at other p are left out, as if the grader had checked only these.
    A grade without checks (nothing was graded) never passes.
    """
    wanted = _p_set(p_values)
    checks = [c for c in ((grade or {}).get("checks") or []) if _selected(c, wanted)]
    if not checks:
        return False
    for check in checks:
        if check["name"] not in RETHRESHOLDED:
            if not check["passed"]:
                return False
            continue
        ratio = _finite(check["value"])
        low, high = (1 - tolerance, 1 + tolerance) if check["name"] == VARIANCE_CHECK \
            else grader_power.expected_variance_bounds(float(check["p"]), tolerance)
        if ratio is None or not low <= ratio <= high:
            return False
    return True


@dataclass(frozen=True)
class RunPassRate:
    """A saved run's pass rate with every graded attempt re-thresholded at `tolerance`.

    `limit` and `error` outcomes are kept as they are; errors stay out of the denominator.
    """

    run_dir: str
    model: str
    label: str
    run_tolerance: float
    tolerance: float
    p_values: tuple[float, ...]
    outcomes: dict[str, int]
    saved_passed: int
    interval: tuple[float, float] = (0.0, 1.0)

    @property
    def passed(self) -> int:
        return self.outcomes["passed"]

    @property
    def graded(self) -> int:
        """Attempts in the pass rate's denominator: every outcome but `error`."""
        return sum(self.outcomes.values()) - self.outcomes["error"]

    @property
    def rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


def outcomes_at_tolerance(records: Iterable[Any], tolerance: float,
                          p_values: Iterable[float] | None = None) -> dict[str, int]:
    """Outcome counts of attempt records (AttemptRecord) with passed/failed decided at `tolerance`."""
    counts: Counter[str] = Counter()
    for record in records:
        outcome = record.outcome
        if outcome in GRADED_OUTCOMES:
            outcome = "passed" if verdict_at_tolerance(record.grade, tolerance, p_values) else "failed"
        counts[outcome] += 1
    return {name: counts.get(name, 0) for name in ("passed", "failed", "limit", "error")}


def measured_p_values(records: Iterable[Any]) -> tuple[float, ...]:
    """Every p at which some record's grade measured a variance ratio, in order."""
    return tuple(sorted({p for record in records for p in variance_ratios(record.grade)}))


def run_pass_rate(run_dir: Path | str, tolerance: float,
                  p_values: Iterable[float] | None = None) -> RunPassRate:
    """The saved run's pass rate at `tolerance` (only the checks at `p_values`, when given), with a
    95% Wilson interval. The result's `p_values` are those used: the given ones the run measured.
    CalibrationError if `run_dir` holds no run."""
    from task_lib.calibration.runs import load_attempts, load_config

    config, records = load_config(run_dir), load_attempts(run_dir)
    measured = measured_p_values(records)
    wanted = _p_set(p_values)
    used = measured if wanted is None else tuple(p for p in measured if round(p, 9) in wanted)
    outcomes = outcomes_at_tolerance(records, tolerance, None if wanted is None else used)
    run_tolerance = config.params.get("tolerance", design.DEFAULT_TOLERANCE)
    graded = sum(outcomes.values()) - outcomes["error"]
    return RunPassRate(str(run_dir), config.model, config.label, run_tolerance, tolerance, used,
                       outcomes, saved_passed=sum(record.outcome == "passed" for record in records),
                       interval=wilson_interval(outcomes["passed"], graded))


def pass_rate_curve(records: Sequence[Any], tolerances: Sequence[float]) -> dict[str, np.ndarray]:
    """Passed count, graded count and 95% Wilson interval of `records` at each tolerance."""
    passed, graded, low, high = [], [], [], []
    for tolerance in tolerances:
        outcomes = outcomes_at_tolerance(records, tolerance)
        n = sum(outcomes.values()) - outcomes["error"]
        interval = wilson_interval(outcomes["passed"], n)
        passed.append(outcomes["passed"])
        graded.append(n)
        low.append(interval[0])
        high.append(interval[1])
    return {"tolerances": np.asarray(tolerances, dtype=float), "passed": np.array(passed),
            "graded": np.array(graded), "low": np.array(low), "high": np.array(high)}


# ---- the explorer's report ----------------------------------------------------------------------


@dataclass(frozen=True)
class ToleranceReport:
    """Everything the tolerance explorer shows for one tolerance and one set of p values."""

    tolerance: float
    p_values: tuple[float, ...]
    n_variance: int
    accepted: tuple[float, float]
    false_fail: float
    false_pass: dict[str, float]
    right_on_average: tuple[str, ...] = ()
    run: RunPassRate | None = None
    run_note: str = ""
    graded_p_values: tuple[float, ...] = design.P_VALUES

    def accepts(self, exponent: float) -> bool:
        """Whether the scale (1-p)^-exponent has its expected variance ratio within the bounds."""
        return self.accepted[0] <= exponent <= self.accepted[1]

    def format(self) -> str:
        """The report as lines of text; exactly one line starts with "Accepted exponents"."""
        t, ps = self.tolerance, ", ".join(f"{p:g}" for p in self.p_values)
        low, high = self.accepted
        lines = [
            f"Tolerance {t:g} at p = {ps}: Var(y)/Var(x) must lie in [{1 - t:g}, {1 + t:g}].",
            f"Accepted exponents a in (1-p)^-a: [{low:.4f}, {high:.4f}]",
            "  (on average; the correct a = 0.5 is always inside) "
            + "; ".join(f"a = {a:g} {'accepted' if self.accepts(a) else 'rejected'}"
                        for a in (*grader_power.NEAR_MISS_EXPONENTS, BUG_EXPONENT)),
            f"Grader error bounds with n = {self.n_variance:,} zero-mean inputs per p "
            "(Chernoff and Hoeffding upper bounds):",
            f"  a correct solution fails the variance checks: {_probability(self.false_fail)}",
        ]
        for name, bound in self.false_pass.items():
            if name in self.right_on_average:
                lines.append(f"  {name} passes: right on average at these p, so no sample size rejects it")
            else:
                lines.append(f"  {name} passes: {_probability(bound)}")
        lines.append(f"  budget for each: {grader_power.FALSE_PASS_BUDGET:.0e} (the grader checks p = "
                     + ", ".join(f"{p:g}" for p in self.graded_p_values) + ")")
        lines += self._run_lines()
        return "\n".join(lines)

    __str__ = format

    def _run_lines(self) -> list[str]:
        if self.run is None:
            return [self.run_note] if self.run_note else []
        run, t = self.run, self.tolerance
        low, high = run.interval
        rate = "n/a" if run.rate is None else f"{run.rate:.0%}"
        o = run.outcomes
        used = ", ".join(f"{p:g}" for p in run.p_values)
        return [
            f"Saved run {run.run_dir}: {sum(o.values())} attempts of {run.model} ({run.label}), "
            f"graded at tolerance {run.run_tolerance:g} ({run.saved_passed} passed)",
            f"  pass rate at tolerance {t:g}: {run.passed}/{run.graded} = {rate}, "
            f"95% Wilson interval [{low:.1%}, {high:.1%}]",
            f"  passed {o['passed']}  failed {o['failed']}  limit {o['limit']}  error {o['error']}"
            " (limit and error outcomes are kept as they were)",
            f"  re-thresholded instantly from the variance ratios each grade stored, at p = {used};",
            f"  `python -m task_lib regrade {run.run_dir} --tolerance {t:g}` re-grades the saved "
            "workspaces afresh",
        ]


def _probability(bound: float) -> str:
    if bound >= 1:
        return "no useful bound (1)"
    return "below 1e-300" if bound == 0 else f"at most {bound:.1e}"


def explore_tolerance(
    tolerance: float = design.DEFAULT_TOLERANCE,
    p_values: Sequence[float] = design.P_VALUES,
    run_dir: Path | str | None = None,
    n: int = design.N_VARIANCE,
) -> ToleranceReport:
    """What `tolerance` changes at `p_values` for the grader's pinned `n`: (a) the accepted exponent
    interval, (b) the false-fail and false-pass bounds, (c) a saved run's pass rate, when `run_dir`
    holds one (re-thresholded on the stored measurements, at the p values it measured among these)."""
    from task_lib.calibration.runs import RUN_FILE, CalibrationError

    p_values = _check_arguments(tolerance, p_values)
    near = grader_power.near_misses()
    report = ToleranceReport(
        tolerance=tolerance,
        p_values=p_values,
        n_variance=n,
        accepted=grader_power.accepted_exponents(p_values, tolerance),
        false_fail=grader_power.false_fail_probability(n, p_values, tolerance),
        false_pass={name: grader_power.false_pass_probability(n, p_values, tolerance, wrong)
                    for name, wrong in near.items()},
        right_on_average=tuple(name for name, wrong in near.items()
                               if expected_ratio_in_bounds(wrong, p_values, tolerance)),
    )
    if run_dir is None:
        return report
    if not (Path(run_dir) / RUN_FILE).is_file():
        note = (f"No saved run in {run_dir}: 04_calibration (or `python -m task_lib calibrate --out "
                f"{run_dir} --runs 10`) makes one, and its pass rate at this tolerance shows here.")
        return replace(report, run_note=note)
    try:
        run = run_pass_rate(run_dir, tolerance, p_values)
    except CalibrationError as exc:
        return replace(report, run_note=f"Saved run unusable: {exc}")
    if not run.p_values:
        note = (f"The saved run in {run_dir} measured no variance ratio at p = "
                + ", ".join(f"{p:g}" for p in p_values) + ": choose p values it checked.")
        return replace(report, run_note=note)
    return replace(report, run=run)
