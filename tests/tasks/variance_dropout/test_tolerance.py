"""What the tolerance changes: the accepted exponents, the error bounds, and re-thresholding stored
grades (a saved run's pass rate at another tolerance, with limit and error outcomes kept)."""

import json
import math
import re
from dataclasses import asdict

import pytest

from task_lib.agent.loop import AttemptRecord
from task_lib.calibration.runs import ATTEMPTS_FILE, RUN_FILE, RunConfig
from task_lib.calibration.stats import wilson_interval
from task_lib.tasks.variance_dropout import power as grader_power
from task_lib.tasks.variance_dropout.tolerance import (
    explore_tolerance,
    outcomes_at_tolerance,
    pass_rate_curve,
    run_pass_rate,
    tolerance_curves,
    variance_ratios,
    verdict_at_tolerance,
)
from tasks.variance_dropout.solutions import BASE, BASE_SCALE, BUG, edit
from tasks.variance_dropout.task_files import TASK

NEAR_MISS = edit(BASE, (BASE_SCALE, "* (1.0 - self.p) ** -0.45"))
NAIVE_NP_SQRT = edit(BASE, ("return (x * keep / math.sqrt(1.0 - self.p)).astype(x.dtype)",
                            "return x * keep / np.sqrt(1.0 - self.p)"))
# The line the browser test reads from the explorer's output.
EXPLORER_LINE = re.compile(r"^Accepted exponents a in \(1-p\)\^-a: \[(\d+\.\d{4}), (\d+\.\d{4})\]$")


@pytest.fixture(scope="module")
def grades(grade_many):
    """Real stored grades (GradeResult.to_dict()) of a correct file, the near miss, the bug and the
    naive np.sqrt fix, all graded at the task's tolerance 0.1."""
    results = grade_many({"correct": {"dropout.py": BASE}, "near_miss": {"dropout.py": NEAR_MISS},
                          "bug": {"dropout.py": BUG}, "naive": {"dropout.py": NAIVE_NP_SQRT}}, seed=7)
    return {name: result.to_dict() for name, result in results.items()}


def record(outcome, grade, index=0, **fields):
    return AttemptRecord(outcome, index=index, grade=grade, model="scripted:test", **fields)


def write_run(run_dir, records, tolerance=0.1):
    """A saved run directory holding `records`, as run_calibration writes one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    config = RunConfig("offline", "scripted:test", "offline, scripted policies: not a model", len(records),
                       TASK.name, TASK.version, {"tolerance": tolerance})
    (run_dir / RUN_FILE).write_text(json.dumps(asdict(config)))
    lines = [json.dumps(r.to_dict()) for r in records]
    (run_dir / ATTEMPTS_FILE).write_text("\n".join(lines) + "\n")
    return run_dir


# ---- the accepted exponents and the error bounds -------------------------------------------------


def test_accepted_interval_contains_one_half_and_widens_with_tolerance():
    intervals = [explore_tolerance(t).accepted for t in (0.02, 0.05, 0.1, 0.2, 0.4)]
    for (low, high), (wider_low, wider_high) in zip(intervals, intervals[1:], strict=False):
        assert low < 0.5 < high
        assert wider_low < low and high < wider_high


def test_accepted_interval_is_set_by_the_largest_p():
    low, high = explore_tolerance(0.1, (0.3, 0.5, 0.7)).accepted
    assert low == pytest.approx((1 - math.log(0.9) / math.log(0.3)) / 2)
    assert high == pytest.approx((1 - math.log(1.1) / math.log(0.3)) / 2)
    assert explore_tolerance(0.1, (0.7,)).accepted == pytest.approx((low, high))


def test_at_the_task_tolerance_near_misses_are_rejected_within_budget():
    report = explore_tolerance()
    assert not report.accepts(0.45) and not report.accepts(0.55) and report.accepts(0.5)
    assert report.false_fail <= grader_power.FALSE_FAIL_BUDGET
    assert max(report.false_pass.values()) <= grader_power.FALSE_PASS_BUDGET
    assert report.right_on_average == ()


def test_a_loose_tolerance_says_a_near_miss_is_right_on_average():
    report = explore_tolerance(0.3, (0.5,))
    assert set(report.right_on_average) == {"(1-p)^-0.45", "(1-p)^-0.55", "1/sqrt(p)"}
    assert "no sample size rejects it" in str(report)


def test_tolerance_curves_trade_false_fails_for_false_passes():
    tolerances = [0.01, 0.05, 0.1, 0.2, 0.4]
    curves = tolerance_curves(tolerances)
    assert list(curves["false_fail"]) == sorted(curves["false_fail"], reverse=True)
    for bound in curves["false_pass"].values():
        assert list(bound) == sorted(bound)
    assert curves["false_pass"]["(1-p)^-0.45"][-1] == 1.0
    assert (curves["low"][2], curves["high"][2]) == grader_power.accepted_exponents((0.3, 0.5, 0.7), 0.1)


@pytest.mark.parametrize("tolerance, p_values, message", [
    (0.0, (0.5,), "tolerance"), (1.0, (0.5,), "tolerance"), (0.1, (), "at least one p"),
    (0.1, (0.0, 0.5), "strictly between 0 and 1"),
])
def test_bad_arguments_name_what_to_change(tolerance, p_values, message):
    with pytest.raises(ValueError, match=message):
        explore_tolerance(tolerance, p_values)


# ---- re-thresholding stored grades ---------------------------------------------------------------


def test_near_miss_grade_passes_at_0_2_and_fails_at_0_1(grades):
    near_miss = grades["near_miss"]
    assert near_miss["failure"] == "variance_ratio"
    assert verdict_at_tolerance(near_miss, 0.2)
    assert not verdict_at_tolerance(near_miss, 0.1)


def test_rethresholding_at_the_graded_tolerance_reproduces_every_verdict(grades):
    for grade in grades.values():
        assert verdict_at_tolerance(grade, 0.1) == grade["passed"]


def test_a_failure_outside_the_variance_check_fails_at_every_tolerance(grades):
    assert grades["naive"]["failure"] == "shape_and_dtype"
    assert not any(verdict_at_tolerance(grades["naive"], t) for t in (0.01, 0.1, 0.5, 0.99))


def test_a_correct_grade_fails_once_the_tolerance_is_tighter_than_its_noise(grades):
    worst = max(abs(ratio - 1) for ratio in variance_ratios(grades["correct"]).values())
    assert verdict_at_tolerance(grades["correct"], worst)
    assert not verdict_at_tolerance(grades["correct"], worst * 0.99)


def test_p_values_leave_out_the_checks_at_other_p(grades):
    assert verdict_at_tolerance(grades["near_miss"], 0.1, p_values=(0.3, 0.5))
    assert not verdict_at_tolerance(grades["near_miss"], 0.1, p_values=(0.7,))


def test_missing_or_non_finite_ratios_and_empty_grades_never_pass(grades):
    for value in ("nan", "inf", "no output", None, True):
        grade = json.loads(json.dumps(grades["correct"]))
        next(c for c in grade["checks"] if c["name"] == "variance_ratio")["value"] = value
        assert not verdict_at_tolerance(grade, 0.5)
    assert not verdict_at_tolerance(None, 0.5)
    assert not verdict_at_tolerance({"passed": False, "failure": "no_solution", "checks": []}, 0.5)


def test_limit_and_error_outcomes_stay_as_they_were(grades):
    records = [record("failed", grades["near_miss"], 0, failure="variance_ratio"),
               record("limit", grades["correct"], 1, limit="steps"),
               record("error", grades["correct"], 2, error="529 overloaded_error"),
               record("passed", grades["correct"], 3)]
    assert outcomes_at_tolerance(records, 0.2) == {"passed": 2, "failed": 0, "limit": 1, "error": 1}
    assert outcomes_at_tolerance(records, 0.1) == {"passed": 1, "failed": 1, "limit": 1, "error": 1}


def test_run_pass_rate_has_a_wilson_interval_without_errors_in_the_denominator(grades, tmp_path):
    records = [record("failed", grades["near_miss"], 0, failure="variance_ratio"),
               record("failed", grades["bug"], 1, failure="variance_ratio"),
               record("passed", grades["correct"], 2),
               record("error", None, 3, error="529 overloaded_error")]
    run_dir = write_run(tmp_path / "run", records)
    rate = run_pass_rate(run_dir, 0.2)
    assert (rate.passed, rate.graded, rate.saved_passed) == (2, 3, 1)
    assert rate.interval == wilson_interval(2, 3) and rate.p_values == (0.3, 0.5, 0.7)
    curve = pass_rate_curve(records, [0.1, 0.2])
    assert list(curve["passed"]) == [1, 2] and list(curve["graded"]) == [3, 3]


# ---- the report ----------------------------------------------------------------------------------


def test_report_prints_exactly_one_accepted_exponents_line_with_four_decimals():
    report = explore_tolerance(0.15, (0.3, 0.7))
    matches = [EXPLORER_LINE.match(line) for line in str(report).splitlines()]
    found = [m for m in matches if m]
    assert len(found) == 1
    low, high = report.accepted
    assert (found[0][1], found[0][2]) == (f"{low:.4f}", f"{high:.4f}")


def test_report_with_a_saved_run_gives_its_pass_rate_and_the_regrade_command(grades, tmp_path):
    records = [record("failed", grades["near_miss"], 0, failure="variance_ratio"),
               record("passed", grades["correct"], 1), record("limit", grades["bug"], 2, limit="steps")]
    run_dir = write_run(tmp_path / "run", records)
    text = str(explore_tolerance(0.2, (0.3, 0.5, 0.7), run_dir))
    assert "pass rate at tolerance 0.2: 2/3 = 67%" in text
    assert "limit 1" in text and f"python -m task_lib regrade {run_dir} --tolerance 0.2" in text
    assert "scripted policies: not a model" in text


def test_report_without_a_saved_run_says_how_to_make_one(tmp_path):
    report = explore_tolerance(0.1, (0.5,), tmp_path / "missing")
    assert report.run is None and "calibrate" in str(report)


def test_report_for_p_values_the_run_never_measured_says_so(grades, tmp_path):
    run_dir = write_run(tmp_path / "run", [record("passed", grades["correct"])])
    report = explore_tolerance(0.1, (0.9,), run_dir)
    assert report.run is None and "measured no variance ratio at p = 0.9" in str(report)
