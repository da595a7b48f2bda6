"""dropout-from-scratch's derived design: the number of calls, the error budget over every tail
event, and the nearest wrong solutions' pass probabilities."""

import numpy as np
import pytest

from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch import power as grader_power


def test_n_calls_is_the_derived_smallest_number():
    assert design.N_CALLS == grader_power.calls_needed()


def test_count_spread_false_fail_stays_within_its_tail_budget_over_the_fresh_range():
    worst = max(grader_power.count_spread_false_fail(p) for p in grader_power.checkable_p())
    assert worst <= grader_power.event_budget()
    assert grader_power.count_spread_false_fail(0.5, calls=design.N_CALLS - 1) > 0


def test_pooled_count_slack_is_the_derived_largest_one():
    assert design.POOLED_COUNT_SLACK == grader_power.pooled_count_slack() >= 2


def test_equal_counts_false_fail_stays_within_its_tail_budget_over_the_fresh_range():
    worst = max(grader_power.equal_counts_false_fail(p) for p in grader_power.checkable_p())
    assert 0 < worst <= grader_power.event_budget()


def test_the_budget_is_split_over_every_tail_event():
    events = grader_power.tail_events_per_group() * grader_power.group_count()
    assert grader_power.event_budget() * events == pytest.approx(grader_power.FALSE_FAIL_BUDGET)


@pytest.mark.parametrize("slack", [0, design.COUNT_SLACK, design.POOLED_COUNT_SLACK])
@pytest.mark.parametrize("p", [0.1, 0.2, 0.37, 0.5, 0.8, 0.9])
def test_count_window_bound_holds_and_falls_with_n(p, slack):
    low, high = design.STAT_SIZE_RANGE
    sizes = [*range(low, low + 40), *range(low, high + 1, 97), high]
    exact, bound = grader_power.count_window_probability, grader_power.count_window_bound
    assert all(exact(n, p, slack) <= bound(n, p, slack) for n in sizes)
    bounds = [bound(n, p, slack) for n in range(low, high + 1, 7)]
    assert all(a > b for a, b in zip(bounds, bounds[1:], strict=False))
    assert bound(low, p, slack) < 3 * exact(low, p, slack)


def test_thresholds_narrow_as_the_array_grows():
    low, high = design.STAT_SIZE_RANGE
    for p in (0.1, 0.5, 0.9):
        smallest, larger = grader_power.thresholds(p), grader_power.thresholds(p, (3, high // 3))
        for name, (lo, hi) in larger.items():
            if name in smallest:
                assert smallest[name][0] < lo < hi < smallest[name][1], name
        assert "rows" in larger and "rows" not in smallest  # a 1-D array has no rows


def test_count_window_probability_matches_a_simulation():
    n, p = 200, 0.3
    counts = np.random.default_rng(0).binomial(n, p, size=200_000)
    measured = np.mean(np.abs(counts - n * p) <= design.COUNT_SLACK)
    assert grader_power.count_window_probability(n, p) == pytest.approx(measured, abs=0.005)


@pytest.mark.parametrize("name", list(grader_power.false_pass_bounds()))
def test_nearest_wrong_solutions_pass_with_probability_within_budget(name):
    assert grader_power.false_pass_bounds()[name] <= grader_power.FALSE_PASS_BUDGET


def test_wrong_scales_are_far_outside_the_survivor_tolerance():
    for p in (0.1, 0.5, 0.9):
        assert grader_power.scale_error(p, (1 - p) ** -0.9) > 1e3 * design.SCALE_RTOL["float32"]
        assert grader_power.scale_error(p, 1 / (1 - p)) < 1e-12


def test_thresholds_are_two_sided_around_the_expected_value():
    for p in (0.2, 0.5, 0.8):
        q = p**2 + (1 - p) ** 2
        for name, (low, high) in grader_power.thresholds(p).items():
            mean = q if name.startswith(("shift", "neighbours", "rows")) else p
            assert low < mean < high and (low + high) / 2 == pytest.approx(mean, abs=1e-3), name
