"""The grader on correct solutions written in different ways, and on one mutant per check.

Every variant is graded once (module fixture, side by side); the tests then read the results.
"""

import json
import math
from collections import Counter

import numpy as np
import pytest

from task_lib.grading import mask_statistics as stats
from task_lib.grading.grader import GradeResult, UnusableWorkspace, grade_workspace
from task_lib.tasks.variance_dropout import design
from task_lib.tasks.variance_dropout import power as grader_power
from task_lib.tasks.variance_dropout.checks import (
    ZERO_TYPES,
    balanced_signs,
    expected_flags,
    make_job,
)
from tasks.variance_dropout.solutions import CORRECT, IN_PLACE, MUTANTS, OPEN_HOLES
from tasks.variance_dropout.task_files import SOLUTION_FILE, TEST_FILE, template_text

CHECK_NAMES = [
    "test_file_unchanged", "rejects_invalid_p", "accepts_valid_p", "training_flag", "shape_and_dtype",
    "input_unmodified",
    "eval_identity", "p_zero_identity", "drop_fraction", "drop_count_dispersion", "single_scale",
    "fresh_mask",
    "mask_independent_of_values", "mask_independent_of_position", "mask_independent_of_neighbours",
    "variance_ratio", "expected_variance",
]  # fmt: skip
MASK_FAMILIES = ["fresh_mask", "mask_independent_of_neighbours", "mask_independent_of_position",
                 "mask_independent_of_values"]
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
    variants |= {name: {SOLUTION_FILE: source} for name, (_, source) in OPEN_HOLES.items()}
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
    assert {check.name for check in result.checks} == set(CHECK_NAMES)
    _, plan = make_job(result.params, np.random.default_rng(result.seed))
    group_p = {c["p"]["value"] for c in plan["calls"] if c["role"] == "mask"}
    big_p = next(c["p"]["value"] for c in plan["calls"] if c["role"] == "big")
    per_p = [(c.name, c.p) for c in result.checks if c.name in MASK_FAMILIES and c.p is not None]
    expected = [(name, p) for name in MASK_FAMILIES for p in group_p]
    expected.append(("mask_independent_of_neighbours", big_p))
    assert sorted(per_p) == sorted(expected)
    assert sorted(c.p for c in result.checks if c.name == "variance_ratio") == sorted(design.P_VALUES)
    assert result.message == f"passed all {len(result.checks)} checks"


def test_reference_variance_ratio_is_within_one_percent(graded):
    ratios = [c.value for c in graded["reference"].checks if c.name == "variance_ratio"]
    assert len(ratios) == len(design.P_VALUES)
    assert all(abs(ratio - 1) < 0.01 for ratio in ratios), ratios


# ---- one mutant per check -----------------------------------------------------------------------


def test_every_check_has_a_mutant():
    assert {check for check, _ in MUTANTS.values()} | {"test_file_unchanged"} == set(CHECK_NAMES)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_on_its_check(graded, name):
    """Its pinned check fails; another may fail too, and first, where the mutant breaks that one's
    sentence as well (a tiled big mask moves the big call's drop fraction, a value-dependent rate the
    per-position counts on the group's one input)."""
    check, _ = MUTANTS[name]
    result = graded[name]
    assert not result.passed
    assert check in failed_checks(result), result.message


@pytest.mark.xfail(strict=True, reason="open hole: no probe looks where this solution breaks the contract")
@pytest.mark.parametrize("name", list(OPEN_HOLES))
def test_open_hole_fails_the_grade(graded, name):
    """Each breaks a sentence of the prompt (OPEN_HOLES) and passes every grade today; when a check
    catches one, its strict xfail turns into a failure and the hole comes off the docs' list."""
    assert not graded[name].passed, f"passes although it breaks: {OPEN_HOLES[name][0]}"


# Mutants that break one behaviour and nothing another check also sees, by construction or by a
# margin far beyond their bands (swept over many grades). Masks that repeat or are shifted copies also
# pool badly in the position checks, so those are left out.
ONLY_THEIR_CHECK = ["accepts_p_equal_to_one", "tracks_mode_without_the_training_flag",
                    "returns_float64_for_float32", "modifies_x_after_computing_the_output",
                    "numpy_float64_p_promotes_float32", "modifies_big_inputs_in_place",
                    "modifies_fortran_ordered_inputs", "eval_mode_still_drops", "p_zero_goes_through_float16",
                    "accepts_nan", "float64_output_for_three_or_more_dimensions", "modifies_odd_sized_inputs",
                    "scale_capped_above_p_0_94", "wrong_scale_on_small_inputs", "big_masks_tile_one_block",
                    "exact_drop_count_by_permutation", "rows_copy_the_row_above",
                    "neighbours_copy_each_other",
                    "first_half_of_the_array_dropped_more", "scale_right_only_at_the_graded_p"]


@pytest.mark.parametrize("name", ONLY_THEIR_CHECK)
def test_mutant_fails_only_its_check(graded, name):
    check, _ = MUTANTS[name]
    assert failed_checks(graded[name]) == {check}, graded[name].message


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
    inputs, plan = make_job(result.params, np.random.default_rng(result.seed))
    sizes = {c["p"]["value"]: set() for c in plan["calls"]}
    for call in plan["calls"]:
        big = call["input"] == "big"
        n = math.prod(plan["seeded"]["big"]["shape"]) if big else inputs[call["input"]].size
        sizes[call["p"]["value"]] |= {n, n * design.TRAIN_CALLS * 2}
    alpha = grader_power.event_budget()
    seen = set()
    for check in result.checks:
        p = check.p
        if check.name == "drop_fraction":
            below, above = p - check.threshold[0], check.threshold[1] - p  # rounded in p ± width
            assert any((below, above) == pytest.approx(stats.band_sides(n, p, alpha), rel=1e-12, abs=1e-15)
                       for n in sizes[p])
        elif check.name in MASK_FAMILIES and check.threshold == 1:
            assert 0 <= check.value <= 1
        elif check.name == "variance_ratio":
            assert check.threshold == [1 - design.DEFAULT_TOLERANCE, 1 + design.DEFAULT_TOLERANCE]
        elif check.name == "expected_variance":
            bounds = grader_power.expected_variance_bounds(p, design.DEFAULT_TOLERANCE)
            assert check.threshold == pytest.approx(list(bounds))
        seen.add(check.name)
    assert {"fresh_mask", "drop_fraction", "variance_ratio", "expected_variance"} <= seen


def test_grade_result_is_json_serialisable(graded):
    for result in graded.values():
        data = json.loads(json.dumps(result.to_dict()))
        assert isinstance(data["passed"], bool)
        assert all(isinstance(check["passed"], bool) for check in data["checks"])


# ---- inputs, seeds, arguments -------------------------------------------------------------------


def test_inputs_are_fresh_per_seed_and_reproducible_for_one():
    first, first_plan = make_job({"tolerance": 0.1}, np.random.default_rng(1))
    again, again_plan = make_job({"tolerance": 0.1}, np.random.default_rng(1))
    other, other_plan = make_job({"tolerance": 0.1}, np.random.default_rng(2))
    assert first.keys() == again.keys() and all(np.array_equal(first[k], again[k]) for k in first)
    assert json.dumps(first_plan) == json.dumps(again_plan) != json.dumps(other_plan)
    assert not np.array_equal(first["var_x"], other["var_x"])


def test_variance_inputs_are_exactly_zero_mean_and_large_enough():
    x = make_job({"tolerance": 0.1}, np.random.default_rng(3))[0]["var_x"]
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


@pytest.fixture(scope="module")
def plans():
    return [make_job({"tolerance": 0.1}, np.random.default_rng(seed)) for seed in range(20)]


def test_every_grade_probes_every_dtype_p_type_and_layout_in_training(plans):
    for inputs, plan in plans:
        training = [c for c in plan["calls"] if c["mode"] == "train" and c["role"] != "zero"]
        dtype = {c["input"]: (plan["seeded"][c["input"]]["dtype"] if c["input"] in plan["seeded"]
                              else str(inputs[c["input"]].dtype)) for c in plan["calls"]}
        assert {(dtype[c["input"]], c["p"]["type"]) for c in training} == {
            (d, t) for d in design.DTYPES for t in design.P_TYPES}
        assert {(dtype[c["input"]], c["layout"]) for c in training} == {
            (d, layout) for d in design.DTYPES for layout in design.LAYOUTS}
        assert {c["p"]["type"] for c in plan["calls"] if c["role"] == "zero"} == set(ZERO_TYPES)
        assert {c["role"] for c in plan["calls"] if c["mode"] == "eval"} == {"eval"}


def test_every_grade_probes_an_input_above_8_mib_first_and_sizes_from_empty_to_one_element(plans):
    for inputs, plan in plans:
        big = plan["seeded"]["big"]
        assert math.prod(big["shape"]) * np.dtype(big["dtype"]).itemsize > 8 * 2**20
        assert plan["calls"][0]["input"] == "big" and plan["calls"][0]["mode"] == "train"
        sizes = {inputs[c["input"]].size for c in plan["calls"] if c["input"] in inputs}
        assert {0, 1} <= sizes
        masks = [inputs[f"mask{g}"] for g in range(len(design.MASK_P))]
        assert all(design.MASK_SIZE[0] <= x.size <= design.MASK_SIZE[1] for x in masks)
        assert {str(x.dtype) for x in masks} == set(design.DTYPES)
    ranks = {inputs["mask0"].ndim for inputs, _ in plans}
    assert ranks == set(design.RANKS)


def test_every_rank_meets_the_mask_tests_in_every_grade(plans):
    names = lambda group: [f"mask{group}", f"mask{group}.1"]  # noqa: E731
    for inputs, plan in plans:
        for group in range(len(design.MASK_P)):
            calls = sorted((c for c in plan["calls"] if c["role"] == "mask" and c["group"] == group),
                           key=lambda c: c["index"])
            seen = [c["input"] for c in calls]
            assert seen == [names(group)[k] for order in design.MASK_SHAPE_ORDER for k in order]
            first, twin = seen[: design.TRAIN_CALLS], seen[design.TRAIN_CALLS:]
            assert first[0] == twin[0] and first[-1] == twin[-1]  # the compared twins: identical inputs
            assert max(Counter(first).values()) >= 3 and max(Counter(twin).values()) >= 3
            assert np.array_equal(inputs[f"mask{group}"].reshape(-1), inputs[f"mask{group}.1"].reshape(-1))
        ranks = [inputs[name].ndim for name in ("mask0", "mask0.1", "mask1", "mask1.1")]
        assert sorted(ranks) == list(design.RANKS)


def test_p_values_cover_both_ends_and_the_middle_in_every_grade(plans):
    for _, plan in plans:
        ps = [c["p"]["value"] for c in plan["calls"] if c["mode"] == "train" and c["role"] != "zero"]
        assert all(0 < p < 1 for p in ps)
        assert min(ps) < design.LOW_P[1] and max(ps) > design.HIGH_P[0]
        assert sum(design.SWEEP_P[0] <= p <= design.SWEEP_P[1] for p in ps) >= design.SWEEP_CALLS
        assert {c["p"]["value"] for c in plan["calls"] if c["role"] == "var"} == set(design.P_VALUES)


def test_mode_switches_are_drawn_with_repeats_and_eval_first(plans):
    seen = set()
    for _, plan in plans:
        switches = plan["flag_switches"]
        adjacent = set(zip(switches, switches[1:], strict=False))
        assert ("eval", "eval") in adjacent and ("train", "train") in adjacent
        assert len(expected_flags(switches)) == len(switches) + 1
        seen |= {tuple(c["switches"]) for c in plan["calls"]}
    assert {("eval", "eval"), ("train", "eval"), ("eval", "train"), ()} <= seen


def test_constructions_hold_every_type_and_both_ends(plans):
    for _, plan in plans:
        specs = plan["constructions"]
        assert {s["type"] for s in specs} == {"int", *design.P_TYPES}
        valid = [s for s in specs if 0 <= s["value"] < 1]
        invalid = [s for s in specs if not 0 <= s["value"] < 1]
        assert {s["type"] for s in valid} == {s["type"] for s in invalid} == {"int", *design.P_TYPES}
        assert any(math.isnan(s["value"]) for s in invalid) and any(s["value"] == 1 for s in invalid)
        assert all(any(s["type"] == t and s["value"] > 0.999 for s in valid) for t in design.P_TYPES)


def test_unusable_workspace_raises(tmp_path):
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path / "missing")
    with pytest.raises(UnusableWorkspace):
        grade_workspace(tmp_path)


@pytest.mark.parametrize("tolerance", [0.0, -0.1, 1.0, float("nan")])
def test_tolerance_outside_zero_one_is_rejected(tmp_path, tolerance):
    with pytest.raises(ValueError, match="tolerance"):
        grade_workspace(tmp_path, params={"tolerance": tolerance})
