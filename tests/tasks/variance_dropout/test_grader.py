"""The grader on correct solutions written in different ways, and on one mutant per check.

Every variant is graded once (module fixture, side by side); the tests then read the results.
"""

import json
import math
from collections import Counter

import numpy as np
import pytest

from task_lib.grading.grader import GradeResult, UnusableWorkspace, grade_workspace
from task_lib.grading.tail_bounds import deviation_threshold
from task_lib.tasks.variance_dropout import design
from task_lib.tasks.variance_dropout import power as grader_power
from task_lib.tasks.variance_dropout.checks import (
    balanced_signs,
    make_inputs,
    make_job,
    make_plan,
    mask_p_values,
)
from tasks.variance_dropout.solutions import CORRECT, FRESH_P_MUTANTS, FRESH_P_SEED, IN_PLACE, MUTANTS
from tasks.variance_dropout.task_files import SOLUTION_FILE, TEST_FILE, template_text

CHECK_NAMES = [
    "test_file_unchanged", "rejects_invalid_p", "accepts_valid_p", "training_flag", "shape_and_dtype",
    "input_unmodified",
    "eval_identity", "p_zero_identity", "drop_fraction", "drop_count_spread", "single_scale", "fresh_mask",
    "mask_independent_of_values", "mask_independent_of_position", "mask_independent_of_neighbours",
    "variance_ratio", "expected_variance",
]  # fmt: skip
PER_MASK_P = ["drop_fraction", "single_scale", "fresh_mask", "mask_independent_of_values",
              "mask_independent_of_position", "mask_independent_of_neighbours", "expected_variance"]
EDITED_TEST_FILE = template_text(TEST_FILE) + "\n\ndef test_added_by_the_model():\n    pass\n"


def failed_checks(result: GradeResult) -> set[str]:
    return {check.name for check in result.checks if not check.passed}


@pytest.fixture(scope="module")
def graded(grade_many):
    variants = {name: {SOLUTION_FILE: source} for name, source in CORRECT.items()}
    variants["reference"] = {SOLUTION_FILE: template_text("reference_dropout.py")}
    variants |= {name: {SOLUTION_FILE: source} for name, (_, source) in MUTANTS.items()}
    variants["edits_the_test_file"] = {SOLUTION_FILE: template_text("reference_dropout.py"),
                                       TEST_FILE: EDITED_TEST_FILE}
    variants["in_place_on_x"] = {SOLUTION_FILE: IN_PLACE}
    return grade_many(variants)


# ---- correct solutions --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*CORRECT, "reference"])
def test_correct_solution_passes_every_check(graded, name):
    result = graded[name]
    assert result.passed, result.message
    assert result.failure is None
    assert failed_checks(result) == set()


def test_a_pass_reports_every_check_at_every_p(graded):
    result = graded["reference"]
    names = [check.name for check in result.checks]
    assert set(names) == set(CHECK_NAMES)
    _, plan = make_job(result.params, np.random.default_rng(result.seed))
    mask_p = mask_p_values(plan)
    per_p = {(c.name, c.p) for c in result.checks if c.p is not None}
    expected = {(n, p) for n in PER_MASK_P for p in mask_p} | {("variance_ratio", p) for p in design.P_VALUES}
    assert per_p == expected
    assert design.FRESH_P_RANGE[0] <= mask_p[-1] <= design.FRESH_P_RANGE[1]
    assert result.message == f"passed all {len(result.checks)} checks"


def test_reference_variance_ratio_is_within_one_percent(graded):
    ratios = [c.value for c in graded["reference"].checks if c.name == "variance_ratio"]
    assert len(ratios) == len(design.P_VALUES)
    assert all(abs(ratio - 1) < 0.01 for ratio in ratios), ratios


# ---- one mutant per check -----------------------------------------------------------------------


def test_every_check_has_a_mutant():
    mutated = {check for check, _ in (*MUTANTS.values(), *FRESH_P_MUTANTS.values())}
    assert mutated | {"test_file_unchanged"} == set(CHECK_NAMES)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_on_its_check(graded, name):
    check, _ = MUTANTS[name]
    result = graded[name]
    assert not result.passed
    assert result.failure == check, result.message
    assert check in failed_checks(result)


# Mutants that break one behaviour and nothing a later check also sees. (Masks that repeat, or are
# shifted copies, also pool badly in the group checks, so those are left out.)
ONLY_THEIR_CHECK = ["accepts_p_equal_to_one", "tracks_mode_without_the_training_flag",
                    "returns_float64_for_float32", "modifies_x_after_computing_the_output",
                    "eval_mode_still_drops", "p_zero_goes_through_float16",
                    "drops_large_values_more_often", "exact_drop_count_by_permutation",
                    "exact_drop_count_by_choice", "outer_quartiles_of_abs_x_dropped_more",
                    "rate_swings_with_the_lowest_mantissa_bit",
                    "first_half_of_the_array_dropped_more", "neighbours_copy_each_other",
                    "rows_copy_the_row_above", "accepts_nan", "float64_output_for_three_or_more_dimensions",
                    "modifies_odd_sized_inputs"]


@pytest.mark.parametrize("name", ONLY_THEIR_CHECK)
def test_mutant_fails_only_its_check(graded, name):
    check, _ = MUTANTS[name]
    assert failed_checks(graded[name]) == {check}, graded[name].message


@pytest.fixture(scope="module")
def graded_at_fresh_p(grade_many):
    return grade_many({name: {SOLUTION_FILE: source} for name, (_, source) in FRESH_P_MUTANTS.items()},
                      seed=FRESH_P_SEED)


@pytest.mark.parametrize("name", list(FRESH_P_MUTANTS))
def test_a_scale_right_only_at_the_variance_checks_p_fails_at_the_fresh_p(graded_at_fresh_p, name):
    result = graded_at_fresh_p[name]
    check, _ = FRESH_P_MUTANTS[name]
    _, plan = make_job(result.params, np.random.default_rng(FRESH_P_SEED))
    assert result.failure == check, result.message
    assert failed_checks(result) == {check}
    assert {c.p for c in result.checks if not c.passed} == {plan["fresh_p"]}


def test_a_wrong_scale_fails_both_variance_checks(graded):
    for name in ("scale_exponent_0.45", "scale_exponent_0.55", "scale_one_over_sqrt_p", "the_starting_bug"):
        assert failed_checks(graded[name]) == {"variance_ratio", "expected_variance"}, name


def test_edited_test_file_fails_only_the_hash_check(graded):
    result = graded["edits_the_test_file"]
    assert result.failure == "test_file_unchanged"
    assert failed_checks(result) == {"test_file_unchanged"}
    assert result.checks[0].value == "test_dropout.py changed"


def test_in_place_dropout_is_reported_as_modifying_the_input(graded):
    # Each call gets its own copy of x, so the outputs are right and only the modification shows.
    result = graded["in_place_on_x"]
    assert result.failure == "input_unmodified"
    assert failed_checks(result) == {"input_unmodified"}


def test_starting_bug_variance_ratio_matches_theory(graded):
    ratios = {c.p: c.value for c in graded["the_starting_bug"].checks if c.name == "variance_ratio"}
    for p, ratio in ratios.items():
        assert ratio == pytest.approx(1 / (1 - p), rel=0.02)


def test_failure_message_names_check_value_and_threshold(graded):
    result = graded["scale_exponent_0.45"]
    assert result.message.startswith("failed variance_ratio at p=0.7: 0.8")
    assert "required [0.9, 1.1]" in result.message


def test_statistical_thresholds_come_from_the_power_analysis(graded):
    result = graded["reference"]
    inputs, _ = make_job(result.params, np.random.default_rng(result.seed))
    n_mask = inputs["mask_x"].size
    alpha = grader_power.event_budget()
    seen = set()
    for check in result.checks:
        p = check.p
        if check.name == "fresh_mask":
            agree = p**2 + (1 - p) ** 2
            assert check.threshold == pytest.approx(agree + deviation_threshold(n_mask, agree, alpha))
        elif check.name == "drop_fraction":
            delta = check.threshold[1] - p
            sizes = [n_mask, n_mask * design.TRAIN_CALLS, inputs["var_x"].size]
            assert any(delta == pytest.approx(deviation_threshold(n, p, alpha)) for n in sizes)
        elif check.name == "variance_ratio":
            assert check.threshold == [1 - design.DEFAULT_TOLERANCE, 1 + design.DEFAULT_TOLERANCE]
        elif check.name == "expected_variance":
            bounds = grader_power.expected_variance_bounds(p, design.DEFAULT_TOLERANCE)
            assert check.threshold == pytest.approx(bounds)
        seen.add(check.name)
    assert {"fresh_mask", "drop_fraction", "variance_ratio", "expected_variance"} <= seen


def test_grade_result_is_json_serialisable(graded):
    for result in graded.values():
        data = json.loads(json.dumps(result.to_dict()))
        assert isinstance(data["passed"], bool)
        assert all(isinstance(check["passed"], bool) for check in data["checks"])


# ---- inputs, seeds, arguments -------------------------------------------------------------------


def test_inputs_are_fresh_per_seed_and_reproducible_for_one():
    first = make_inputs(np.random.default_rng(1))
    again = make_inputs(np.random.default_rng(1))
    other = make_inputs(np.random.default_rng(2))
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert not any(np.array_equal(first[k], other[k]) for k in first)


def test_variance_inputs_are_exactly_zero_mean_and_large_enough():
    x = make_inputs(np.random.default_rng(3))["var_x"]
    assert x.size >= design.N_VARIANCE and x.dtype == np.float32 and x.ndim == 2 and x.shape[0] % 2 == 1
    assert np.sum(np.sign(x)) == 0 and len(np.unique(np.abs(x))) == 1


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def testbalanced_signs_hold_half_minus_ones_in_every_arrangement_alike(n):
    rng = np.random.default_rng(0)
    draws = 4000 * math.comb(n, n // 2)
    counts = Counter(tuple(balanced_signs(rng, n)) for _ in range(draws))
    assert all(sorted(signs).count(-1.0) == n // 2 and set(signs) <= {-1.0, 1.0} for signs in counts)
    assert len(counts) == math.comb(n, n // 2)
    assert all(abs(count - 4000) < 5 * math.sqrt(4000) for count in counts.values()), counts


def test_shapes_are_drawn_fresh_with_odd_sides():
    shapes = [{k: v.shape for k, v in make_inputs(np.random.default_rng(seed)).items()} for seed in range(20)]
    for key in ("var_x", "mask_x", "small32", "small64"):
        assert len({s[key] for s in shapes}) > 5, key
    for s in shapes:
        assert all(side % 2 for side in (*s["mask_x"], *s["small32"], *s["small64"]))
        assert len(s["small32"]) == 3 and len(s["small64"]) == 4 and s["single"] == (1,)
        assert all(design.MASK_SIDES[0] <= side <= design.MASK_SIDES[1] for side in s["mask_x"])


def test_plan_checks_every_p_of_the_spec_and_a_fresh_one():
    _, plan = make_job({"tolerance": 0.1}, np.random.default_rng(5))
    assert {c["p"]["value"] for c in plan["calls"] if c["name"].startswith("var@")} == set(design.P_VALUES)
    fresh = plan["fresh_p"]
    assert design.FRESH_P_RANGE[0] <= fresh <= design.FRESH_P_RANGE[1]
    for i in range(len(mask_p_values(plan))):
        modes = [c["mode"] for c in plan["calls"] if c["layer"] == f"mask{i}"]
        assert modes == list(design.MASK_MODES)
    assert make_plan(0.25)["fresh_p"] == 0.25


def test_the_drop_count_window_is_below_its_event_budget_at_the_smallest_sizes():
    smallest = design.MASK_SIDES[0] ** 2
    for fresh in design.FRESH_P_RANGE:
        calls = [(smallest, p) for p in (*design.P_VALUES, fresh) for _ in range(design.TRAIN_CALLS)]
        assert grader_power.count_spread_false_fail(calls) <= grader_power.event_budget()


def test_unusable_workspace_raises(tmp_path):
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path / "missing")
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path)


@pytest.mark.parametrize("tolerance", [0.0, -0.1, 1.0, float("nan")])
def test_tolerance_outside_zero_one_is_rejected(tmp_path, tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        grade_workspace(tmp_path, params={"tolerance": tolerance})
