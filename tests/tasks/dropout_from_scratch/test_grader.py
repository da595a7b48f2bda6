"""The dropout-from-scratch grader on correct solutions written in different ways, on one mutant per
check and on the open holes; and the probe plan it draws. Every variant is graded once (module
fixture, side by side); the tests read the results."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from task_lib.grading import mask_statistics as stats
from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch import power as grader_power
from task_lib.tasks.dropout_from_scratch.checks import (
    MASK_ROLES,
    ONE_TYPES,
    STATISTICAL_CHECKS,
    ZERO_TYPES,
    make_job,
    sweep_slices,
)

from .solutions import BASE, CORRECT, MUTANTS, OPEN_HOLES
from .task_files import REFERENCE, SOLUTION_FILE, STUB, TEST_FILE, VISIBLE_TESTS

EXACT_CHECKS = [
    "test_file_unchanged", "call_error", "shape_and_dtype", "input_unmodified", "rejects_invalid_p",
    "accepts_valid_p", "eval_identity", "p_zero_identity", "p_one_zeros", "survivor_scale",
]  # fmt: skip
CHECK_NAMES = EXACT_CHECKS + list(STATISTICAL_CHECKS)
GROUP_FAMILIES = ["fresh_mask", "mask_independent_of_neighbours", "mask_independent_of_values",
                  "mask_independent_of_position"]


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


# ---- correct solutions, mutants, holes ----------------------------------------------------------


@pytest.mark.parametrize("name", [*CORRECT, "reference", "base"])
def test_correct_solution_passes_every_check(graded, name):
    result = graded[name]
    assert result.passed, result.message
    assert failed_checks(result) == set()


def test_a_pass_reports_every_check_in_the_prompts_order(graded):
    result = graded["reference"]
    names = [c.name for c in result.checks]
    assert names[: len(EXACT_CHECKS)] == EXACT_CHECKS
    assert list(dict.fromkeys(names[len(EXACT_CHECKS):])) == list(STATISTICAL_CHECKS)
    _, plan = make_job({}, np.random.default_rng(result.seed))
    group_p = sorted({c["p"]["value"] for c in plan["calls"] if c["role"] == "mask"})
    big_p = next(c["p"]["value"] for c in plan["calls"] if c["role"] == "big")
    pooled = {"mask_independent_of_values": 2, "mask_independent_of_position": 2}  # rates, contrasts
    for family in GROUP_FAMILIES:  # once per group at its p, the big call's, and the pooled ones
        found = sorted((c.p is None, c.p or 0) for c in result.checks if c.name == family)
        expected = [(False, p) for p in group_p] + [(True, 0)] * pooled.get(family, 0)
        expected += [(False, big_p)] * (family == "mask_independent_of_neighbours")
        assert found == sorted(expected), family
    assert result.message == f"passed all {len(result.checks)} checks"


def test_the_stub_fails_as_a_call_error(graded):
    result = graded["stub"]
    assert result.failure == "call_error"
    assert "NotImplementedError" in result.message


def test_every_check_has_a_mutant():
    assert {check for check, _, _ in MUTANTS.values()} | {"test_file_unchanged"} == set(CHECK_NAMES)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_mutant_fails_its_check_first(graded, name):
    check, _, only = MUTANTS[name]
    result = graded[name]
    assert result.failure == check, result.message
    if only:
        assert failed_checks(result) == {check}, result.message


@pytest.mark.xfail(strict=True, reason="open hole: no check looks where this solution breaks the contract")
@pytest.mark.parametrize("name", list(OPEN_HOLES))
def test_open_hole_fails_the_grade(graded, name):
    """Each breaks a clause of the contract (OPEN_HOLES) and passes every grade today; when a check
    catches one, its strict xfail turns into a failure and the hole comes off the docs' list."""
    assert not graded[name].passed, f"passes although it breaks: {OPEN_HOLES[name][0]}"


def test_edited_test_file_fails_only_the_hash_check(graded):
    result = graded["edits_the_test_file"]
    assert failed_checks(result) == {"test_file_unchanged"}


def test_wrong_scales_are_measured_not_just_rejected(graded):
    by_name = {name: next(c for c in graded[name].checks if c.name == "survivor_scale")
               for name in ("scale_one_over_sqrt", "scale_exponent_0.9", "reference")}
    assert by_name["reference"].value <= 1e-6
    assert by_name["scale_one_over_sqrt"].value > 0.05 and by_name["scale_exponent_0.9"].value > 0.01


def test_a_float32_rounded_scale_is_caught_on_float64_at_high_p(graded):
    check = next(c for c in graded["scale_through_float32_above_0.95"].checks if c.name == "survivor_scale")
    assert 1e-9 < check.value < 1e-7 and "float64" in check.detail


def test_statistical_thresholds_come_from_the_power_analysis(graded):
    result = graded["reference"]
    inputs, plan = make_job({}, np.random.default_rng(result.seed))
    sizes = {}
    for call in plan["calls"]:
        if call["role"] in MASK_ROLES:
            n = (math.prod(plan["seeded"]["big"]["shape"]) if call["input"] == "big"
                 else inputs[call["input"]].size)
            sizes.setdefault(call["p"]["value"], set()).update({n, n * design.MASK_CALLS})
    alpha = grader_power.event_budget()
    fraction = next(c for c in result.checks if c.name == "drop_fraction")
    p = fraction.p
    below, above = p - fraction.threshold[0], fraction.threshold[1] - p
    assert any((below, above) == pytest.approx(stats.band_sides(n, p, alpha), rel=1e-9) for n in sizes[p])
    for check in result.checks:
        if check.name in GROUP_FAMILIES and check.threshold == 1:
            assert 0 <= check.value <= 1, check.name
    big = next(c for c in result.checks if c.name == "mask_independent_of_neighbours" and c.p is not None
               and c.threshold != 1)
    n = math.prod(plan["seeded"]["big"]["shape"])
    assert big.threshold == f"< {stats.repeat_threshold(n, 1 - big.p, alpha)}"


def test_grade_result_is_strict_json(graded):
    for result in graded.values():
        data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert isinstance(data["passed"], bool) and data["task"] == "dropout-from-scratch"


# ---- the probe plan ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plans():
    return [make_job({}, np.random.default_rng(seed)) for seed in range(30)]


def dtype_of(inputs, plan, call) -> str:
    seeded = plan["seeded"].get(call["input"])
    return seeded["dtype"] if seeded else str(inputs[call["input"]].dtype)


def test_jobs_are_fresh_per_seed_and_reproducible_for_one():
    first, plan = make_job({}, np.random.default_rng(1))
    again, plan_again = make_job({}, np.random.default_rng(1))
    other, other_plan = make_job({}, np.random.default_rng(2))
    assert json.dumps(plan) == json.dumps(plan_again) != json.dumps(other_plan)
    assert first.keys() == again.keys() and all(np.array_equal(first[k], again[k]) for k in first)
    assert not np.array_equal(first["mask0"], other["mask0"])


def test_inputs_are_finite_and_nonzero_and_the_groups_sign_balanced(plans):
    for inputs, _ in plans:
        assert all(np.all(np.isfinite(x)) and np.all(x != 0) for x in inputs.values())
        for group in range(len(design.MASK_P)):
            x = inputs[f"mask{group}"]
            assert np.count_nonzero(x < 0) == x.size // 2


def test_every_grade_probes_every_dtype_p_type_and_layout_in_training(plans):
    for inputs, plan in plans:
        training = [c for c in plan["calls"] if c["role"] in MASK_ROLES]
        assert {(dtype_of(inputs, plan, c), c["p"]["type"]) for c in training} == {
            (d, t) for d in design.DTYPES for t in design.P_TYPES}
        assert {(dtype_of(inputs, plan, c), c["layout"]) for c in training} == {
            (d, layout) for d in design.DTYPES for layout in design.LAYOUTS}
        assert {c["style"] for c in training} == set(design.TRAINING_STYLES)
        assert all(c["training"] is True for c in training)


def test_every_grade_probes_an_input_above_8_mib_first(plans):
    for _, plan in plans:
        big, spec = plan["calls"][0], plan["seeded"]["big"]
        assert big["role"] == "big" and big["input"] == "big" and big["training"]
        assert design.BIG_BYTES[0] <= math.prod(spec["shape"]) * np.dtype(spec["dtype"]).itemsize \
            <= design.BIG_BYTES[1]
        assert design.BIG_KEEP[0] * 0.999 <= 1 - big["p"]["value"] <= design.BIG_KEEP[1] * 1.001
        assert big["p"]["type"] in ("float", "float32", "float64")
    assert {len(plan["seeded"]["big"]["shape"]) for _, plan in plans} == set(design.RANKS)
    assert {plan["calls"][0]["layout"] for _, plan in plans} == set(design.LAYOUTS)


def test_mask_groups_are_drawn_in_their_strata(plans):
    for inputs, plan in plans:
        for group, (low, high) in enumerate(design.MASK_P):
            calls = [c for c in plan["calls"] if c.get("group") == group]
            assert [c["index"] for c in calls] == list(range(design.MASK_CALLS))
            assert len({json.dumps(c["p"]) for c in calls}) == 1 and low <= calls[0]["p"]["value"] <= high
            half = design.MASK_CALLS // design.MASK_SHAPES
            assert [c["input"] for c in calls] == [f"mask{group}"] * half + [f"mask{group}.1"] * half
            assert np.array_equal(inputs[f"mask{group}"].reshape(-1), inputs[f"mask{group}.1"].reshape(-1))
            assert design.MASK_SIZE[0] <= inputs[f"mask{group}"].size <= design.MASK_SIZE[1]
            for options, key in ((design.LAYOUTS, "layout"), (design.TRAINING_STYLES, "style")):
                spread = [sum(c[key] == option for c in calls) for option in options]
                assert max(spread) - min(spread) <= 1, key
        assert {str(inputs[f"mask{g}"].dtype) for g in range(len(design.MASK_P))} == set(design.DTYPES)
        ranks = [inputs[name].ndim for name in ("mask0", "mask0.1", "mask1", "mask1.1")]
        assert sorted(ranks) == list(design.RANKS)  # every rank meets the mask tests in every grade
    assert {inputs["mask0"].ndim for inputs, _ in plans} == set(design.RANKS)


def test_zero_one_and_eval_calls_cover_every_type_and_only_valid_p(plans):
    for _, plan in plans:
        calls = plan["calls"]
        assert {c["p"]["type"] for c in calls if c["role"] == "zero"} == set(ZERO_TYPES)
        assert {c["p"]["type"] for c in calls if c["role"] == "one"} == set(ONE_TYPES)
        assert all(c["p"]["value"] == 1 for c in calls if c["role"] == "one")
        evals = [c for c in calls if not c["training"]]
        assert {c["role"] for c in evals} == {"eval"} and len(evals) == design.EVAL_CALLS
        assert {0, 1} <= {c["p"]["value"] for c in evals}
        assert all(0 <= c["p"]["value"] <= 1 for c in evals) and {c["style"] for c in evals} <= {
            "keyword", "positional"}


def test_validity_is_probed_with_every_type_and_edge(plans):
    for _, plan in plans:
        probes = [c for c in plan["calls"] if c["role"] in ("valid", "invalid")]
        roles = {(c["p"]["type"], repr(c["p"]["value"])): c["role"] for c in probes}
        assert all(c["role"] == ("valid" if 0 <= c["p"]["value"] <= 1 else "invalid") for c in probes)
        assert all(c["training"] for c in probes)
        for kind in design.P_TYPES:
            assert roles[(kind, "-0.0")] == roles[(kind, "0.0")] == roles[(kind, "1.0")] == "valid"
            assert roles[(kind, "nan")] == roles[(kind, "inf")] == roles[(kind, "-inf")] == "invalid"
            values = [c["p"]["value"] for c in probes if c["p"]["type"] == kind]
            assert any(1 < v < 1.01 for v in values) and any(-1e-7 < v < 0 for v in values)
            assert any(0.999 < v < 1 for v in values) and any(0 < v < 1e-7 for v in values)
        assert roles[("int", "-1")] == roles[("int", "2")] == "invalid"
        assert roles[("int", "0")] == roles[("int", "1")] == "valid"


def test_sizes_run_from_empty_and_tiny_to_the_low_p_call(plans):
    for inputs, plan in plans:
        by_role = {}
        for call in plan["calls"]:
            if call["input"] in inputs:
                by_role.setdefault(call["role"], []).append((inputs[call["input"]].size, call["p"]["value"]))
        assert sorted(inputs[c["input"]].shape for c in plan["calls"] if c["role"] == "empty") == sorted(
            design.EMPTY_SHAPES)
        assert all(design.TINY_SIZE[0] <= n <= design.TINY_SIZE[1] for n, _ in by_role["tiny"])
        (n, p), = by_role["low"]
        assert design.LOW_P[0] <= p <= design.LOW_P[1] and n * p >= design.LOW_DROPS


def test_the_sweep_takes_one_p_in_each_slice_and_every_dtype_and_type_in_each_half(plans):
    slices = sweep_slices()
    assert len(slices) == design.SWEEP_CALLS and slices[0][0] == design.SWEEP_P[0]
    assert slices[-1][1] == pytest.approx(design.SWEEP_P[2])
    half = design.SWEEP_CALLS // 2
    assert all(b - a > 0 for a, b in slices) and slices[half][0] == design.SWEEP_P[1]
    for inputs, plan in plans:
        sweep = sorted((c for c in plan["calls"] if c["role"] == "sweep"), key=lambda c: int(c["name"][5:]))
        for call, (low, high) in zip(sweep, slices, strict=True):
            assert low - 5e-4 <= call["p"]["value"] <= high + 5e-4  # float16 rounds by up to 2^-12
            n = inputs[call["input"]].size
            assert n >= design.SWEEP_SURVIVORS / (1 - call["p"]["value"]) and n >= design.SWEEP_SIZE[0]
        for part in (sweep[:half], sweep[half:]):
            assert {(dtype_of(inputs, plan, c), c["p"]["type"]) for c in part} == {
                (d, t) for d in design.DTYPES for t in design.P_TYPES}


def test_call_order_is_drawn_fresh(plans):
    orders = {tuple(c["name"] for c in plan["calls"]) for _, plan in plans}
    assert len(orders) == len(plans)


# ---- the visible tests --------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "code"), [(REFERENCE, 0), (STUB, 1)])
def test_visible_tests_run_as_a_script(make_dfs_workspace, source, code):
    workspace = make_dfs_workspace({SOLUTION_FILE: source})
    run = subprocess.run([sys.executable, TEST_FILE], cwd=workspace, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == code, run.stdout + run.stderr
    assert ("0 failed" in run.stdout) == (code == 0)
