"""The mask statistics shared by the dropout tasks, on fixed seeds: independent Bernoulli masks pass
every test, and each test fails whole families of dependent masks (not one named alternative).
The bounds' own false-fail rates are checked against exact computations where they are cheap."""

import math

import numpy as np
import pytest

from task_lib.grading import mask_statistics as stats
from task_lib.grading.tail_bounds import binomial_tail_bound

ALPHA = 1e-15
N, CALLS = 12_000, 8
PAIRS = [(0, 1), (1, 2), (2, 3), (0, 2), (4, 5), (5, 6), (6, 7), (4, 6), (0, 4), (3, 7)]


def fresh(rng, p, calls=CALLS, n=N):
    return rng.random((calls, n)) < p


def examine(masks, p, shape=(N,), values=None, shapes=None):
    values = np.random.default_rng(99).standard_normal(math.prod(shape)) if values is None else values
    shapes = shapes or [shape] * masks.shape[0]
    return stats.examine_group(masks, shapes, stats.value_features(values), p, ALPHA, PAIRS)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [0.07, 0.5, 0.93])
def test_independent_masks_pass_every_family(seed, p):
    rng = np.random.default_rng(seed)
    found = examine(fresh(rng, p), p, shape=(100, 120))
    assert all(score <= 1 for score, _ in found.values()), found


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("p", [0.07, 0.5, 0.93])
def test_independent_masks_over_two_shapes_pass_every_family(seed, p):
    rng = np.random.default_rng(100 + seed)
    shapes = [(N,)] * (CALLS // 2) + [(10, 30, 40)] * (CALLS // 2)
    found = examine(fresh(rng, p), p, shapes=shapes)
    assert all(score <= 1 for score, _ in found.values()), found


def test_rows_copied_in_one_shape_only_fail_neighbours_in_that_shape():
    rng = np.random.default_rng(6)
    u = rng.random((CALLS, 100, 120))
    copy = rng.random((CALLS, 100, 120)) < 0.3
    u[: CALLS // 2, 1:] = np.where(copy[: CALLS // 2, 1:], u[: CALLS // 2, :-1], u[: CALLS // 2, 1:])
    shapes = [(100, 120)] * (CALLS // 2) + [(N,)] * (CALLS // 2)
    score, where = examine(u.reshape(CALLS, N) < 0.5, 0.5, shapes=shapes)["neighbours"]
    assert score > 1 and where == "elements 120 apart in shape (100, 120)"


def test_a_column_bias_in_one_shape_only_fails_position_in_that_shape():
    rng = np.random.default_rng(7)
    biased = rng.random((CALLS // 2, 100, 120)) < 0.3 + 0.06 * (np.arange(120) % 2 == 0)
    masks = np.concatenate((biased.reshape(CALLS // 2, N), fresh(rng, 0.3, CALLS // 2)))
    shapes = [(100, 120)] * (CALLS // 2) + [(N,)] * (CALLS // 2)
    score, where = examine(masks, 0.3, shapes=shapes)["position"]
    assert score > 1 and "last-axis" in where and where.endswith("in shape (100, 120)")


@pytest.mark.parametrize("seed", range(4))
def test_a_mask_shifted_by_any_amount_fails_fresh(seed):
    rng = np.random.default_rng(seed)
    masks = fresh(rng, 0.4)
    shift = int(rng.integers(-N // 2, N // 2))
    masks[1] = np.roll(masks[0], shift)
    score, where = examine(masks, 0.4)["fresh"]
    assert score > 1 and f"shifted by {shift}" in where


@pytest.mark.parametrize("lag", [1, 37, 101, 5_000])
def test_elements_copying_an_element_any_distance_away_fail_neighbours(lag):
    rng = np.random.default_rng(lag)
    u = rng.random((CALLS, N))
    copy = rng.random((CALLS, N)) < 0.3
    u[:, lag:] = np.where(copy[:, lag:], u[:, :-lag], u[:, lag:])
    score, where = examine(u < 0.5, 0.5)["neighbours"]
    assert score > 1 and where == f"elements {lag} apart"


def test_positions_dropped_more_often_fail_position():
    rng = np.random.default_rng(3)
    masks = fresh(rng, 0.3)
    masks[:, rng.choice(N, 300, replace=False)] = True  # 2.5% of positions always dropped
    assert examine(masks, 0.3)["position"][0] > 1
    column_bias = rng.random((CALLS, 100, 120)) < 0.3 + 0.06 * (np.arange(120) % 2 == 0)
    assert examine(column_bias.reshape(CALLS, -1), 0.3, shape=(100, 120))["position"][0] > 1


def test_rates_swinging_with_a_value_feature_fail_values():
    rng = np.random.default_rng(4)
    values = rng.standard_normal(N).astype(np.float32)
    low_bit = (values.view(np.uint32) & 1).astype(bool)
    masks = rng.random((CALLS, N)) < np.where(low_bit, 0.56, 0.44)
    score, where = examine(masks, 0.5, values=values)["values"]
    assert score > 1 and "mantissa bit 0" in where


def test_count_dispersion_fails_exact_and_jittered_counts_and_passes_binomial_ones():
    rng = np.random.default_rng(6)
    sizes = [(int(n), float(p)) for n, p in zip(rng.integers(5_000, 20_000, 20), rng.uniform(0.1, 0.9, 20),
                                                 strict=True)]
    binomial = [(n, p, int(rng.binomial(n, p))) for n, p in sizes]
    exact = [(n, p, round(n * p)) for n, p in sizes]
    jittered = [(n, p, round(n * p + 4 * math.sqrt(n * p * (1 - p)) * (-1) ** i))
                for i, (n, p) in enumerate(sizes)]
    assert stats.count_dispersion(binomial, 1e-12)[0]
    assert not stats.count_dispersion(exact, 1e-12)[0]
    assert not stats.count_dispersion(jittered, 1e-12)[0]
    tiny = [(10, 0.5, 5)] * 20  # sd below DISPERSION_MIN_SD: not counted either way
    assert stats.count_dispersion(tiny, 1e-12)[0]


@pytest.mark.parametrize(("n", "p"), [(400, 0.3), (2_000, 0.05), (900, 0.9)])
def test_window_masses_bound_the_exact_binomial_probabilities(n, p):
    sd = math.sqrt(n * p * (1 - p))
    pmf = [math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p)
                    + (n - k) * math.log1p(-p)) for k in range(n + 1)]
    narrow = sum(q for k, q in enumerate(pmf) if abs(k - n * p) <= stats.NARROW_SIGMAS * sd)
    wide = sum(q for k, q in enumerate(pmf) if abs(k - n * p) > stats.WIDE_SIGMAS * sd)
    got_narrow, got_wide = stats.window_masses(n, p)
    assert narrow <= got_narrow <= narrow * (1 + 1e-6) + 1e-14
    assert wide <= got_wide <= wide * (1 + 1e-6) + 1e-11


def test_a_tiled_sparse_mask_repeats_far_beyond_the_bound_and_a_fresh_one_stays_below():
    rng = np.random.default_rng(7)
    n, keep = 1_100_000, 1.5e-4
    limit = stats.repeat_threshold(n, keep, 1e-12)
    worst = max(stats.repeated_distance(np.flatnonzero(rng.random(n) < keep))[0] for _ in range(20))
    assert worst < limit
    tiled = np.resize(rng.random(2**18) < keep, n)
    count, distance = stats.repeated_distance(np.flatnonzero(tiled))
    assert count >= limit and distance == 2**18


def test_repeat_threshold_holds_its_union_bound():
    n, keep, alpha = 1_000_000, 2e-4, 1e-12
    k = stats.repeat_threshold(n, keep, alpha)
    j = math.ceil(k / 2)
    assert 2 * (n - 1) * binomial_tail_bound(n, keep * keep, j / n) <= alpha * 1e3  # Chernoff is tighter
    assert 2 * (n - 1) * math.exp(j * (1 + math.log(n * keep * keep) - math.log(j))) <= alpha


def test_band_sides_are_tight_on_each_side_of_a_skewed_binomial():
    below, above = stats.band_sides(6_400, 0.01, 1e-12)  # 64 drops expected
    assert below < 0.01 < above + 0.01 and below < above
    assert binomial_tail_bound(6_400, 0.01, 0.01 - below) <= 1e-12
    assert binomial_tail_bound(6_400, 0.01, 0.01 - below * 0.99) > 1e-12
