"""The dropout-from-scratch grader on correct solutions written in different ways, and on one mutant
per check. Every variant is graded once (module fixture, side by side); the tests read the results."""

import json
import subprocess
import sys

import numpy as np
import pytest

from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch import power as grader_power
from task_lib.tasks.dropout_from_scratch.checks import PER_P_CHECKS, draw_shapes, make_job

from .solutions import BASE, CORRECT, MUTANTS, OPEN_HOLES
from .task_files import REFERENCE, SOLUTION_FILE, STUB, TEST_FILE, VISIBLE_TESTS

DETERMINISTIC_CHECKS = [
    "test_file_unchanged", "call_error", "rejects_invalid_p", "accepts_valid_p", "shape_and_dtype",
    "input_unmodified",
    "eval_identity", "p_zero_identity", "p_one_zeros", "survivor_scale",
]  # fmt: skip
CHECK_NAMES = DETERMINISTIC_CHECKS + list(PER_P_CHECKS)


def failed_checks(result) -> set[str]:
    return {check.name for check in result.checks if not check.passed}


@pytest.fixture(scope="module")
def graded(grade_dfs):
    variants = {name: {SOLUTION_FILE: source} for name, source in CORRECT.items()}
    variants["reference"] = {SOLUTION_FILE: REFERENCE}
    variants["base"] = {SOLUTION_FILE: BASE}
    variants["stub"] = {}
    variants |= {name: {SOLUTION_FILE: source} for name, (_, source, _) in MUTANTS.items()}
    variants |= {name: {SOLUTION_FILE: source} for name, (_, source) in OPEN_HOLES.items()}
    variants["edits_the_test_file"] = {SOLUTION_FILE: REFERENCE, TEST_FILE: VISIBLE_TESTS + "\n# edited\n"}
    return grade_dfs(variants)


@pytest.mark.parametrize("name", [*CORRECT, "reference", "base"])
def test_correct_solution_passes_every_check(graded, name):
    result = graded[name]
    assert result.passed, result.message
    assert failed_checks(result) == set()


def test_a_pass_reports_every_check_at_every_checked_p(graded):
    result = graded["reference"]
    assert [c.name for c in result.checks if c.p is None] == DETERMINISTIC_CHECKS
    per_p = {(c.name, c.p) for c in result.checks if c.p is not None}
    p_values = sorted({c.p for c in result.checks if c.p is not None})
    assert len(p_values) == len(design.FIXED_P) + 1 and set(design.FIXED_P) < set(p_values)
    fresh = (set(p_values) - set(design.FIXED_P)).pop()
    assert design.FRESH_P_RANGE[0] <= fresh <= design.FRESH_P_RANGE[1]
    assert per_p == {(name, p) for name in PER_P_CHECKS for p in p_values}


def test_the_stub_fails_as_a_call_error(graded):
    result = graded["stub"]
    assert result.failure == "call_error"
    assert "NotImplementedError" in result.message


def test_every_check_has_a_mutant():
    assert {check for check, _, _ in MUTANTS.values()} | {"test_file_unchanged"} == set(CHECK_NAMES)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_its_check(graded, name):
    check, _, only = MUTANTS[name]
    result = graded[name]
    assert result.failure == check, result.message
    if only:
        assert failed_checks(result) == {check}, result.message


@pytest.mark.xfail(strict=True, reason="open hole: no check looks where this solution breaks the contract")
@pytest.mark.parametrize("name", list(OPEN_HOLES))
def test_open_hole_fails_the_grade(graded, name):
    """Each breaks a clause of the contract (OPEN_HOLES) and passes every check today; when a check
    catches one, its strict xfail turns into a failure and the marker should go."""
    result = graded[name]
    assert not result.passed, f"passes although it breaks: {OPEN_HOLES[name][0]}"


def test_edited_test_file_fails_only_the_hash_check(graded):
    result = graded["edits_the_test_file"]
    assert failed_checks(result) == {"test_file_unchanged"}


def test_wrong_scales_are_measured_not_just_rejected(graded):
    by_name = {name: next(c for c in graded[name].checks if c.name == "survivor_scale")
               for name in ("scale_one_over_sqrt", "scale_exponent_0.9", "reference")}
    assert by_name["reference"].value <= 1e-6
    assert by_name["scale_one_over_sqrt"].value > 0.05 and by_name["scale_exponent_0.9"].value > 0.01


def stat_inputs(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: x for name, x in inputs.items() if name.startswith("stat@")}


def test_statistical_thresholds_come_from_the_power_analysis_at_each_arrays_shape(graded):
    result = graded["reference"]
    inputs, _ = make_job({}, np.random.default_rng(result.seed))
    shapes = {p: [x.shape for name, x in stat_inputs(inputs).items() if name.startswith(f"stat@{p:g}:")]
              for p in {c.p for c in result.checks if c.p is not None}}
    for check in result.checks:
        if check.name == "drop_fraction":
            intervals = [list(grader_power.thresholds(check.p, s)["drop_fraction"]) for s in shapes[check.p]]
            assert len(intervals) == len(design.STAT_DTYPES)
            assert any(check.threshold == pytest.approx(interval) for interval in intervals)
            widest = grader_power.thresholds(check.p)["drop_fraction"]  # at the smallest size
            assert widest[0] <= check.threshold[0] < check.threshold[1] <= widest[1]
        elif check.name == "drop_count_spread":
            assert check.value > design.COUNT_SLACK


def test_grade_result_is_strict_json(graded):
    for result in graded.values():
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert isinstance(data["passed"], bool) and data["task"] == "dropout-from-scratch"


# ---- inputs and plan ----------------------------------------------------------------------------


def test_jobs_are_fresh_per_seed_and_reproducible_for_one():
    first, plan = make_job({}, np.random.default_rng(1))
    again, plan_again = make_job({}, np.random.default_rng(1))
    other, other_plan = make_job({}, np.random.default_rng(2))
    assert plan == plan_again and all(np.array_equal(first[k], again[k]) for k in first)
    assert plan["fresh_p"] != other_plan["fresh_p"]
    assert not np.array_equal(first["stat@0.5:float32"], other["stat@0.5:float32"])
    assert [x.shape for x in stat_inputs(first).values()] != [x.shape for x in stat_inputs(other).values()]
    assert [c["name"] for c in plan["calls"]] != [c["name"] for c in other_plan["calls"]]  # order shuffled


def test_inputs_are_nonzero_and_the_statistical_ones_sign_balanced():
    inputs, _ = make_job({}, np.random.default_rng(3))
    assert all(np.all(x != 0) for x in inputs.values())
    for name, x in stat_inputs(inputs).items():
        assert name.endswith(x.dtype.name) and np.sum(np.sign(x)) == x.size % 2


@pytest.mark.parametrize("seed", range(30))
def test_statistical_arrays_are_fresh_shapes_of_every_rank_within_the_stated_sizes(seed):
    inputs, _ = make_job({}, np.random.default_rng(seed))
    arrays = list(stat_inputs(inputs).values())
    low, high = design.STAT_SIZE_RANGE
    assert len(arrays) == (len(design.FIXED_P) + 1) * len(design.STAT_DTYPES)
    assert all(low <= x.size <= high and all(side >= 2 for side in x.shape[:-1]) for x in arrays)
    assert sorted(x.ndim for x in arrays) == sorted(design.STAT_RANKS * 2)
    assert sorted(x.size % 2 for x in arrays if x.ndim == 1) == [0, 1]
    assert len({x.shape for x in arrays}) == len(arrays)
    assert sorted(x.dtype.name for x in arrays) == sorted(design.STAT_DTYPES * (len(design.FIXED_P) + 1))


def test_statistical_shapes_vary_across_grades():
    shapes = [tuple(x.shape for x in stat_inputs(make_job({}, np.random.default_rng(seed))[0]).values())
              for seed in range(20)]
    sizes = {x for grade in shapes for s in grade for x in [int(np.prod(s))]}
    assert len(set(shapes)) == 20 and len(sizes) > 100
    assert {s[0] for grade in shapes for s in grade if len(s) == 4} != {2}  # leading sides vary too


def test_shapes_are_drawn_fresh_with_one_to_four_dimensions():
    shapes = [draw_shapes(np.random.default_rng(seed)) for seed in range(20)]
    assert {len(s) for grade in shapes for s in grade.values()} == {1, 2, 3, 4}
    assert all(grade["odd1d"][0] % 2 == 1 and np.prod(grade["large"]) <= 20_000 for grade in shapes)
    assert len({tuple(grade.values()) for grade in shapes}) == 20


def test_plan_calls_every_statistical_array_n_calls_times_at_its_p():
    inputs, plan = make_job({}, np.random.default_rng(4))
    stat = [c for c in plan["calls"] if c["role"] == "stat"]
    for p in (*design.FIXED_P, plan["fresh_p"]):
        for dtype in design.STAT_DTYPES:
            name = f"stat@{p:g}:{dtype}"
            assert sum(c["input"] == name and c["p"][1] == p for c in stat) == design.N_CALLS
    assert len(stat) == design.N_CALLS * len(stat_inputs(inputs))


# ---- the visible tests --------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "code"), [(REFERENCE, 0), (STUB, 1)])
def test_visible_tests_run_as_a_script(make_dfs_workspace, source, code):
    workspace = make_dfs_workspace({SOLUTION_FILE: source})
    run = subprocess.run([sys.executable, TEST_FILE], cwd=workspace, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == code, run.stdout + run.stderr
    assert ("0 failed" in run.stdout) == (code == 0)
