"""The shared tail bounds: `deviation_threshold` is the smallest deviation whose two Chernoff tails are
within alpha, as a plain bisection (slow, obviously right) finds it, and never below it."""

import math

import numpy as np
import pytest

from task_lib.grading.tail_bounds import binomial_tail_bound, deviation_threshold


def bisected_threshold(n: int, p: float, alpha: float) -> float:
    """The upper end of a 60-step bisection on [0, 1]: both tails are within alpha there."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        tails = max(binomial_tail_bound(n, p, p + mid), binomial_tail_bound(n, p, p - mid))
        lo, hi = (mid, hi) if tails > alpha else (lo, mid)
    return hi


RNG = np.random.default_rng(20261202)
CASES = [(int(n), float(p), float(a)) for n, p, a in zip(
    RNG.integers(1, 2_000_000, 300), RNG.uniform(0.001, 0.999, 300), 10 ** RNG.uniform(-15, -1, 300),
    strict=True)]
CASES += [(n, p, a) for n in (1, 2, 7, 100) for p in (0.001, 0.02, 0.5, 0.98, 0.999) for a in (1e-12, 0.3)]


@pytest.mark.parametrize(("n", "p", "alpha"), CASES)
def test_the_threshold_keeps_both_tails_within_alpha_and_matches_bisection(n, p, alpha):
    found = deviation_threshold(n, p, alpha)
    assert binomial_tail_bound(n, p, p + found) <= alpha
    assert binomial_tail_bound(n, p, p - found) <= alpha
    assert found == pytest.approx(bisected_threshold(n, p, alpha), rel=1e-10)


@pytest.mark.parametrize(("n", "p"), [(2, 0.3), (3, 0.5), (1, 0.999)])
def test_when_no_deviation_inside_the_unit_interval_will_do_the_tail_must_be_empty(n, p):
    found = deviation_threshold(n, p, 1e-12)
    assert p + found > 1 and p - found < 0  # both tails empty: n is too small for alpha
    assert math.isclose(found, max(p, 1 - p), rel_tol=1e-12)
