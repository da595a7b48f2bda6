"""The grader's sample sizes and thresholds: pinned to the derivation in grader_power, and the
bounds they rest on checked against exact binomial tails."""

import math
from fractions import Fraction

import pytest

from task_lib.grading.tail_bounds import binomial_tail_bound, deviation_threshold
from task_lib.tasks.variance_dropout import design, power

P_VALUES, TOLERANCE = design.P_VALUES, design.DEFAULT_TOLERANCE
N = design.N_VARIANCE


def exact_binomial_tail(n: int, p: float, q: float) -> float:
    """P(k/n >= q) if q > p, else P(k/n <= q), for k ~ Bin(n, p), summed exactly."""
    prob = Fraction(p)
    ks = [k for k in range(n + 1) if (k >= q * n if q > p else k <= q * n)]
    return float(sum(math.comb(n, k) * prob**k * (1 - prob) ** (n - k) for k in ks))


def test_pinned_sample_size_is_the_derived_one():
    assert N == power.variance_samples_needed(P_VALUES, TOLERANCE)
    assert N % power.SAMPLE_STEP == 0


def test_design_holds_at_the_pinned_size_and_not_one_step_below():
    assert power.design_holds(N, P_VALUES, TOLERANCE)
    assert not power.design_holds(N - power.SAMPLE_STEP, P_VALUES, TOLERANCE)


def test_correct_solution_fails_with_probability_below_budget():
    variance = power.false_fail_probability(N, P_VALUES, TOLERANCE)
    # Every other tail event owns `event_budget` (or, for the mask groups' tests, `mask_event_budget`).
    other_events = (power.TAIL_EVENTS - 3 * len(P_VALUES)) * power.event_budget()
    mask_events = power.MASK_EVENTS * power.mask_event_budget()
    assert variance + other_events + mask_events <= power.FALSE_FAIL_BUDGET * (1 + 1e-12)


def test_tail_events_count_every_check_of_the_design():
    training = (1 + len(P_VALUES) + 2 * len(design.MASK_P) * design.TRAIN_CALLS
                + len(design.DTYPES) * len(design.P_TYPES) + design.TINY_CALLS + 1 + design.SWEEP_CALLS
                + len(design.EMPTY_SHAPES))
    assert power.TRAINING_CALLS == training
    pooled = 2 * (12 + 10 + 6 + 5)  # value and position groups, value and position contrasts
    assert power.TAIL_EVENTS == 3 * len(P_VALUES) + 2 * (training + len(design.MASK_P)) + 2 + 1 + pooled
    n, calls, pairs = design.MASK_SIZE[1], 2 * design.TRAIN_CALLS, len(design.MASK_PAIRS)
    lags = 2 * (n // 2) * (1 + design.MASK_SHAPES)  # pooled over the calls, and per shape
    per_group = pairs * 2 * (2 * (n // 2) + 1) + lags + 2 * (calls + 1) + 2 * (10 * design.MASK_SHAPES + 12)
    assert power.MASK_EVENTS == len(design.MASK_P) * per_group
    assert power.event_budget() == pytest.approx(power.FALSE_FAIL_BUDGET / 2 / power.TAIL_EVENTS)
    assert power.mask_event_budget() == pytest.approx(power.FALSE_FAIL_BUDGET / 2 / power.MASK_EVENTS)


@pytest.mark.parametrize("name", list(power.near_misses()))
def test_nearest_wrong_scales_pass_with_probability_below_budget(name):
    scale_sq = power.near_misses()[name]
    assert power.false_pass_probability(N, P_VALUES, TOLERANCE, scale_sq) < 1e-9


def test_near_misses_are_the_ones_the_task_names():
    assert set(power.near_misses()) == {"(1-p)^-0.45", "(1-p)^-0.55", "1/sqrt(p)"}


def test_the_starting_bug_passes_with_probability_below_budget():
    bug = lambda p: power.exponent_scale_sq(p, 1.0)  # noqa: E731
    assert power.false_pass_probability(N, P_VALUES, TOLERANCE, bug) < 1e-9


def test_accepted_exponents_at_ten_percent_exclude_the_near_misses():
    low, high = power.accepted_exponents(P_VALUES, 0.10)
    assert low < 0.5 < high
    assert not low <= 0.45 <= high
    assert not low <= 0.55 <= high


def test_accepted_exponents_at_twenty_percent_include_045():
    low, high = power.accepted_exponents(P_VALUES, 0.20)
    assert low <= 0.45 <= high


def test_accepted_exponents_match_the_expected_variance_ratio():
    low, high = power.accepted_exponents(P_VALUES, TOLERANCE)
    for exponent in (low + 1e-9, high - 1e-9):
        ratios = [power.exponent_scale_sq(p, exponent) * (1 - p) for p in P_VALUES]
        assert all(1 - TOLERANCE <= r <= 1 + TOLERANCE for r in ratios)
    for exponent in (low - 1e-6, high + 1e-6):
        ratios = [power.exponent_scale_sq(p, exponent) * (1 - p) for p in P_VALUES]
        assert not all(1 - TOLERANCE <= r <= 1 + TOLERANCE for r in ratios)


@pytest.mark.parametrize(("n", "p"), [(40, 0.3), (60, 0.5), (75, 0.7)])
@pytest.mark.parametrize("offset", [-0.25, -0.1, -0.02, 0.02, 0.1, 0.25])
def test_chernoff_bound_is_above_the_exact_binomial_tail(n, p, offset):
    q = p + offset
    assert binomial_tail_bound(n, p, q) >= exact_binomial_tail(n, p, q)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.7])
def test_deviation_threshold_keeps_both_tails_within_alpha(p):
    alpha = power.event_budget()
    delta = deviation_threshold(N, p, alpha)
    assert binomial_tail_bound(N, p, p + delta) <= alpha
    assert binomial_tail_bound(N, p, p - delta) <= alpha
    assert binomial_tail_bound(N, p, p + 0.99 * delta) > alpha or \
        binomial_tail_bound(N, p, p - 0.99 * delta) > alpha


def test_deviation_threshold_shrinks_as_n_grows():
    alpha = power.event_budget()
    thresholds = [deviation_threshold(n, 0.3, alpha) for n in (1_000, 10_000, 65_536, N, 4 * N)]
    assert all(a > b for a, b in zip(thresholds, thresholds[1:], strict=False))


def test_event_budgets_split_the_false_fail_budget():
    total = power.event_budget() * power.TAIL_EVENTS + power.mask_event_budget() * power.MASK_EVENTS
    assert total == pytest.approx(power.FALSE_FAIL_BUDGET)


def test_more_samples_are_needed_as_the_band_edge_nears_a_near_miss():
    # At p = 0.7 the scale (1-p)^-0.45 has expected ratio 0.3^0.1 = 0.886: 0.11 puts the edge closer.
    assert power.variance_samples_needed(P_VALUES, 0.11) > N > power.variance_samples_needed(P_VALUES, 0.05)


def test_no_sample_size_exists_when_a_near_miss_is_inside_the_band():
    with pytest.raises(ValueError, match="no sample size"):
        power.variance_samples_needed(P_VALUES, 0.20)


def test_design_spans_low_and_high_p():
    assert min(P_VALUES) <= 0.3 and max(P_VALUES) >= 0.7


@pytest.mark.parametrize("exponent", [0.40, 0.45, 0.47, 0.5, 0.53, 0.55, 0.6, 1.0])
@pytest.mark.parametrize("tolerance", [0.05, 0.1, 0.2])
def test_expected_variance_band_accepts_the_exponents_the_variance_check_accepts(exponent, tolerance):
    low, high = power.accepted_exponents(P_VALUES, tolerance)
    inside = []
    for p in (0.02, 0.3, 0.5, 0.7, 0.85, 0.98):
        below, above = power.expected_variance_bounds(p, tolerance)
        inside.append(below <= power.exponent_scale_sq(p, exponent) * (1 - p) <= above)
    assert all(inside) == (low <= exponent <= high)
