"""dropout-from-scratch's derived design: the error budget split over every tail event of a grade, the
bounds the plan's numbers rest on, the nearest wrong solutions' pass probabilities, and the task's own
statistics (repeated counts, pooled contrasts) against exact values and fixed-seed simulations."""

import math

import numpy as np
import pytest

from task_lib.grading import mask_leans as leans
from task_lib.grading import mask_statistics as stats
from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch import power as grader_power
from task_lib.tasks.dropout_from_scratch.checks import (
    MASK_ROLES,
    make_job,
    mode_probability,
    poisson_binomial_limit,
    repeated_counts,
)


def test_mask_calls_cover_the_derived_minimum():
    needed = grader_power.mask_calls_needed()
    assert design.MASK_CALLS >= needed and grader_power.exact_counts_fail(design.MASK_CALLS)
    assert not grader_power.exact_counts_fail(needed - 1)


@pytest.mark.parametrize("p", [1e-4, 0.01, 0.1, 0.3, 0.5, 0.8, 0.99])
def test_narrow_mass_bound_holds_at_every_size_and_falls_with_the_variance(p):
    variances = []
    for n in sorted({math.ceil(v / (p * (1 - p))) for v in (25, 25.5, 27, 31, 40, 64, 100, 400, 2500)}):
        variance = n * p * (1 - p)
        exact = stats.window_mass(n, p, stats.NARROW_SIGMAS * math.sqrt(variance))
        assert exact <= grader_power.narrow_mass_bound(variance)
        variances.append(variance)
    bounds = [grader_power.narrow_mass_bound(v) for v in variances]
    assert all(a > b for a, b in zip(bounds, bounds[1:], strict=False))


def test_the_budget_is_split_over_every_tail_event():
    assert grader_power.event_budget() * grader_power.TAIL_EVENTS * 2 == pytest.approx(
        grader_power.FALSE_FAIL_BUDGET)
    assert grader_power.mask_event_budget() * grader_power.MASK_EVENTS * 2 == pytest.approx(
        grader_power.FALSE_FAIL_BUDGET)
    assert grader_power.MASK_EVENTS == len(design.MASK_P) * stats.group_events(
        design.MASK_SIZE[1], design.MASK_CALLS, len(design.MASK_PAIRS), design.MASK_SHAPES)


@pytest.mark.parametrize("seed", range(5))
def test_tail_events_count_every_statistic_of_a_grade(seed):
    inputs, plan = make_job({}, np.random.default_rng(seed))
    rated = [c for c in plan["calls"] if c["role"] in MASK_ROLES]
    assert len(rated) == grader_power.TRAINING_CALLS
    pooled_names = set(stats.value_features(inputs["mask0"]))
    for call in plan["calls"]:
        if call["role"] == "mask":
            pooled_names |= set(stats.position_groups(inputs[call["input"]].shape))
    contrasts = len(leans.VALUE_CONTRASTS) + len(leans.POSITION_CONTRASTS)
    assert 2 * (len(pooled_names) + contrasts) <= leans.POOLED_EVENTS
    groups = len(design.MASK_P)
    assert grader_power.TAIL_EVENTS == (2 * (len(rated) + groups) + stats.COUNT_DISPERSION_EVENTS + groups + 1
                                        + leans.POOLED_EVENTS)


@pytest.mark.parametrize("name", list(grader_power.false_pass_bounds()))
def test_nearest_wrong_solutions_pass_with_probability_within_budget(name):
    assert grader_power.false_pass_bounds()[name] <= grader_power.FALSE_PASS_BUDGET


def test_wrong_scales_are_far_outside_the_survivor_tolerance():
    for p in (0.001, 0.1, 0.5, 0.9, 0.999):
        assert grader_power.scale_error(p, (1 - p) ** -0.9) > 50 * design.SCALE_RTOL["float32"]
        assert grader_power.scale_error(p, (1 - p) ** -0.5) > 50 * design.SCALE_RTOL["float32"]
        assert grader_power.scale_error(p, 1 / (1 - p)) < 1e-12


# ---- the task's own statistics ----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "p"), [(60, 0.3), (200, 0.5), (1000, 0.05), (333, 0.91)])
def test_mode_probability_is_the_largest_binomial_probability(n, p):
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    assert max(pmf) <= mode_probability(n, p) <= max(pmf) * (1 + 1e-6)


def test_repeated_counts_of_correct_groups_stay_below_their_limit():
    rng = np.random.default_rng(0)
    alpha = grader_power.event_budget()
    for n, p in ((design.MASK_SIZE[0], 0.05), (design.MASK_SIZE[0], 0.5), (design.MASK_SIZE[1], 0.95)):
        limits = set()
        for _ in range(2000):
            repeats, limit = repeated_counts(rng.binomial(n, p, design.MASK_CALLS).tolist(), n, p, alpha)
            assert repeats < limit
            limits.add(limit)
        assert max(limits) <= design.MASK_CALLS - 2  # one count or two in turn: 15 or 14 repeats
    assert repeated_counts([7] * design.MASK_CALLS, 14000, 0.3, alpha)[0] == design.MASK_CALLS - 1
    two = [7, 9] * (design.MASK_CALLS // 2)  # two counts in turn
    repeats, limit = repeated_counts(two, 14000, 0.3, alpha)
    assert repeats == design.MASK_CALLS - 2 and repeats >= limit


def test_poisson_binomial_limit_is_the_exact_tail():
    probabilities = [0.1, 0.2, 0.05, 0.3]
    every = math.prod(probabilities)
    three = sum(every / q * (1 - q) for q in probabilities) + every
    assert poisson_binomial_limit(probabilities, every * 1.01) == 4
    assert poisson_binomial_limit(probabilities, every * 0.99) == 5
    assert poisson_binomial_limit(probabilities, three * 1.01) == 3
    assert poisson_binomial_limit(probabilities, three * 0.99) == 4


def group_of(rng, shape, p, lean=0.0):
    """A group's masks (calls x n) on Gaussian values of balanced signs: x < 0 dropped with p + lean,
    x > 0 with p - lean; with its value contrasts."""
    x = rng.standard_normal(math.prod(shape))
    x[: x.size // 2] = -np.abs(x[: x.size // 2])
    x[x.size // 2:] = np.abs(x[x.size // 2:])
    x = rng.permutation(x).reshape(shape)
    rate = p + lean * np.where(x.reshape(-1) < 0, 1.0, -1.0)
    masks = rng.random((design.MASK_CALLS, x.size)) < rate
    return masks, leans.contrast_weights(stats.value_features(x), leans.VALUE_CONTRASTS)


def test_pooled_contrasts_bound_holds_on_correct_masks():
    """At a loose alpha the Bernstein bound must hold with room: fixed seed, 400 grades of two groups."""
    rng = np.random.default_rng(1)
    alpha, scores = 0.02, []
    for _ in range(400):
        groups = []
        for stratum in design.MASK_P:
            p = float(rng.uniform(*stratum))
            masks, weights = group_of(rng, (60, 200), p)
            groups.append((masks, weights, p))
        scores.append(leans.pooled_contrasts(groups, alpha)[0])
    # each of the 6 contrasts fails with probability at most 2 alpha: the worst at most 12 alpha
    assert np.mean(np.array(scores) > 1) <= 12 * alpha
    assert max(scores) < 2


def test_pooled_contrasts_see_a_lean_of_a_few_hundredths_of_min_p():
    """A sign lean of 0.04 min(p, 1 - p) (the red team's sign-dependent mask) at the grade's own budget,
    on fixed seeds: caught in 97% of 200 draws of the two groups' p and in every one where the groups'
    min(p, 1 - p) add up to 0.3 or more (it hides only when both p are near the ends)."""
    rng = np.random.default_rng(2)
    alpha = grader_power.event_budget()
    caught = []
    for _ in range(200):
        groups, room = [], 0.0
        for stratum in design.MASK_P:
            p = float(rng.uniform(*stratum))
            room += min(p, 1 - p)
            masks, weights = group_of(rng, (70, 200), p, lean=0.04 * min(p, 1 - p))
            groups.append((masks, weights, p))
        score, where = leans.pooled_contrasts(groups, alpha)
        caught.append(score > 1)
        assert score > 1 or room < 0.3, (score, where)
    assert np.mean(caught) >= 0.97
