"""The grader on correct solutions written in different ways, and on one mutant per check.

Every variant is graded once (module fixture, side by side); the tests then read the results.
"""

import json

import numpy as np
import pytest

from task_lib.grader import GradeResult, UnusableWorkspace, grade_workspace
from task_lib.tail_bounds import deviation_threshold
from task_lib.tasks.variance_dropout import design
from task_lib.tasks.variance_dropout import power as grader_power
from task_lib.tasks.variance_dropout.checks import make_inputs, make_plan
from tasks.variance_dropout.solutions import CORRECT, IN_PLACE, MUTANTS
from tasks.variance_dropout.task_files import SOLUTION_FILE, TEST_FILE, template_text

CHECK_NAMES = [
    "test_file_unchanged", "rejects_invalid_p", "training_flag", "shape_and_dtype", "input_unmodified",
    "eval_identity", "p_zero_identity", "drop_fraction", "single_scale", "fresh_mask",
    "mask_independent_of_values", "variance_ratio",
]  # fmt: skip
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
    per_p = [c for c in result.checks if c.p is not None]
    assert {(c.name, c.p) for c in per_p} == {(n, p) for n in CHECK_NAMES[7:] for p in design.P_VALUES}
    assert result.message == f"passed all {len(result.checks)} checks"


def test_reference_variance_ratio_is_within_one_percent(graded):
    ratios = [c.value for c in graded["reference"].checks if c.name == "variance_ratio"]
    assert len(ratios) == len(design.P_VALUES)
    assert all(abs(ratio - 1) < 0.01 for ratio in ratios), ratios


# ---- one mutant per check -----------------------------------------------------------------------


def test_every_check_has_a_mutant():
    assert {check for check, _ in MUTANTS.values()} | {"test_file_unchanged"} == set(CHECK_NAMES)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_exactly_its_check(graded, name):
    check, _ = MUTANTS[name]
    result = graded[name]
    assert not result.passed
    assert result.failure == check, result.message
    assert failed_checks(result) == {check}, result.message


def test_edited_test_file_fails_only_the_hash_check(graded):
    result = graded["edits_the_test_file"]
    assert result.failure == "test_file_unchanged"
    assert failed_checks(result) == {"test_file_unchanged"}
    assert result.checks[0].value == "test_dropout.py changed"


def test_in_place_dropout_is_reported_as_modifying_the_input(graded):
    # Later calls see the already-dropped x, so other checks fail too; the category names the cause.
    result = graded["in_place_on_x"]
    assert result.failure == "input_unmodified"
    assert "input_unmodified" in failed_checks(result)


def test_starting_bug_variance_ratio_matches_theory(graded):
    ratios = {c.p: c.value for c in graded["the_starting_bug"].checks if c.name == "variance_ratio"}
    for p, ratio in ratios.items():
        assert ratio == pytest.approx(1 / (1 - p), rel=0.02)


def test_failure_message_names_check_value_and_threshold(graded):
    result = graded["scale_exponent_0.45"]
    assert result.message.startswith("failed variance_ratio at p=0.7: 0.8")
    assert "required [0.9, 1.1]" in result.message


def test_statistical_thresholds_come_from_the_power_analysis(graded):
    alpha = grader_power.event_budget(design.P_VALUES)
    for check in graded["reference"].checks:
        p = check.p
        if check.name == "drop_fraction":
            delta = deviation_threshold(design.N_VARIANCE, p, alpha)
            assert check.threshold == pytest.approx([p - delta, p + delta])
        elif check.name == "fresh_mask":
            agree = p**2 + (1 - p) ** 2
            assert check.threshold == pytest.approx(
                agree + deviation_threshold(design.N_MASK, agree, alpha))
        elif check.name == "mask_independent_of_values":
            assert check.threshold == pytest.approx(
                2 * deviation_threshold(design.N_MASK // 2, p, alpha))
        elif check.name == "variance_ratio":
            assert check.threshold == [1 - design.DEFAULT_TOLERANCE, 1 + design.DEFAULT_TOLERANCE]


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


def test_variance_inputs_are_exactly_zero_mean():
    x = make_inputs(np.random.default_rng(3))["var_x"]
    assert x.size == design.N_VARIANCE and x.dtype == np.float32
    assert np.sum(np.sign(x)) == 0 and len(np.unique(np.abs(x))) == 1


def test_plan_checks_every_p_of_the_spec():
    plan = make_plan()
    assert {c["p"] for c in plan["calls"] if c["name"].startswith("var@")} == set(design.P_VALUES)


def test_unusable_workspace_raises(tmp_path):
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path / "missing")
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path)


@pytest.mark.parametrize("tolerance", [0.0, -0.1, 1.0, float("nan")])
def test_tolerance_outside_zero_one_is_rejected(tmp_path, tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        grade_workspace(tmp_path, params={"tolerance": tolerance})
