"""Sample sizes and thresholds of the grader, derived from binomial tail bounds.

The variance check feeds x = sigma * s (s = +-1, exactly half of each sign, so mean(x) = 0 and
var(x) = sigma^2) to a layer that keeps k of n elements and scales survivors by c. Then

    R = var(y) / var(x) = c^2 * (k/n - (S/n)^2),   S = sum of the signs of the survivors,

so R is a function of the binomial count k, up to a tiny (S/n)^2 term that Hoeffding bounds:
P(|S| >= n*sqrt(eta)) <= 2 exp(-2 n eta). Binomial tails use the Chernoff bound
P(k/n >= q) <= exp(-n KL(q || 1-p)) (and the mirror image below the mean): every probability
here is a rigorous upper bound, not a normal approximation.

A correct solution (c^2 = 1/(1-p)) must fail the whole grade with probability below
FALSE_FAIL_BUDGET, split evenly (union bound) over every tail event of every statistical check.
The nearest wrong scales, c = (1-p)^-a with a = 0.45 or 0.55, and c = 1/sqrt(p), must pass with
probability below FALSE_PASS_BUDGET. `variance_samples_needed` finds the smallest n doing both;
design.N_VARIANCE holds that number and tests/test_grader_power.py pins it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from task_lib.calibration.stats import smallest_satisfying
from task_lib.grading.mask_leans import POOLED_EVENTS
from task_lib.grading.mask_statistics import COUNT_DISPERSION_EVENTS, group_events
from task_lib.grading.tail_bounds import binomial_tail_bound, hoeffding_eta

from . import design

ScaleSq = Callable[[float], float]

FALSE_FAIL_BUDGET = 1e-9
FALSE_PASS_BUDGET = 1e-9
NEAR_MISS_EXPONENTS = (0.45, 0.55)
SAMPLE_STEP = 1024
# Training calls at p > 0 in a grade: the big one, the variance calls, the mask groups' calls, a shape
# call per dtype x p type, the tiny calls, the low-p call, the sweep and the empty ones.
TRAINING_CALLS = (1 + len(design.P_VALUES) + 2 * len(design.MASK_P) * design.TRAIN_CALLS
                  + len(design.DTYPES) * len(design.P_TYPES) + design.TINY_CALLS + 1 + design.SWEEP_CALLS
                  + len(design.EMPTY_SHAPES))
# The budget is split in two halves, each spread evenly (union bound) over its tail events:
# - the mask groups' families of tests (mask_statistics.group_events: every shift of every compared
#   pair, every lag (pooled, and per shape), the position histogram, the position groups per shape
#   and the value groups), at their largest size;
# - everything else: per variance p the variance ratio (upper, lower, Hoeffding); the drop fraction of
#   every training call and of each mask group pooled (2 tails each); the count dispersion; the big
#   call's repeated distances (one event: the union over distances is inside repeat_threshold); the
#   value and position groups and their contrasts pooled over both groups (mask_leans.POOLED_EVENTS),
#   which see a small lean first: in this pool of a few hundred events their bands are narrower.
MASK_EVENTS = len(design.MASK_P) * group_events(design.MASK_SIZE[1], 2 * design.TRAIN_CALLS,
                                                len(design.MASK_PAIRS), design.MASK_SHAPES)
TAIL_EVENTS = (3 * len(design.P_VALUES) + 2 * (TRAINING_CALLS + len(design.MASK_P)) + COUNT_DISPERSION_EVENTS
               + 1 + POOLED_EVENTS)


def event_budget() -> float:
    """Probability allowed to each tail event outside the mask groups' tests."""
    return FALSE_FAIL_BUDGET / 2 / TAIL_EVENTS


def mask_event_budget() -> float:
    """Probability allowed to each tail event of the mask groups' tests."""
    return FALSE_FAIL_BUDGET / 2 / MASK_EVENTS


def expected_variance_bounds(p: float, tolerance: float) -> tuple[float, float]:
    """The band of `expected_variance` at p: 1 +- tolerance up to the largest variance p, and beyond it
    that band carried on in log space, (1 -+ tolerance)^r with r = ln(1-p) / ln(1-max p). For scales
    c = (1-p)^-a, ln(c^2 (1-p)) = (1-2a) ln(1-p), so a scale accepted at every variance p is accepted at
    every p, and the band accepts exactly the exponents the variance check does."""
    r = max(1.0, math.log1p(-p) / math.log1p(-max(design.P_VALUES)))
    return (1 - tolerance) ** r, (1 + tolerance) ** r


def variance_false_fail(n: int, p: float, tolerance: float, alpha: float) -> float:
    """Upper bound on P(correct solution's R falls outside 1 +- tolerance) at drop probability p."""
    keep = 1 - p
    eta = hoeffding_eta(n, alpha)
    above = binomial_tail_bound(n, keep, keep * (1 + tolerance))
    below = binomial_tail_bound(n, keep, min(keep, keep * (1 - tolerance) + eta))
    return above + below + 2 * math.exp(-2 * n * eta)


def variance_pass_probability(n: int, p: float, scale_sq: float, tolerance: float, alpha: float) -> float:
    """Upper bound on P(R within 1 +- tolerance) for a layer scaling survivors by sqrt(scale_sq)."""
    keep = 1 - p
    expected = scale_sq * keep
    if 1 - tolerance <= expected <= 1 + tolerance:
        return 1.0
    if expected < 1 - tolerance:  # R <= c^2 k/n, so passing needs k/n >= (1-t)/c^2
        return binomial_tail_bound(n, keep, (1 - tolerance) / scale_sq)
    eta = hoeffding_eta(n, alpha)  # R >= c^2 (k/n - eta) unless the Hoeffding event happens
    cut = (1 + tolerance) / scale_sq + eta
    return (1.0 if cut >= keep else binomial_tail_bound(n, keep, cut)) + 2 * math.exp(-2 * n * eta)


def exponent_scale_sq(p: float, exponent: float) -> float:
    """c^2 for the scale c = (1-p)^-exponent (0.5 is correct, 1.0 is the bug)."""
    return (1 - p) ** (-2 * exponent)


def false_fail_probability(n: int, p_values: Sequence[float], tolerance: float) -> float:
    """Upper bound on the probability that a correct solution fails the variance checks."""
    alpha = event_budget()
    return min(1.0, sum(variance_false_fail(n, p, tolerance, alpha) for p in p_values))


def false_pass_probability(
    n: int, p_values: Sequence[float], tolerance: float, scale_sq_at: ScaleSq
) -> float:
    """Upper bound on the probability that a wrong scale (c^2 = scale_sq_at(p)) passes every p."""
    alpha = event_budget()
    return min(variance_pass_probability(n, p, scale_sq_at(p), tolerance, alpha) for p in p_values)


def near_misses() -> dict[str, ScaleSq]:
    """The nearest wrong scales the grader must reject, by name, as c^2 functions of p."""
    wrong = {f"(1-p)^-{a}": (lambda p, a=a: exponent_scale_sq(p, a)) for a in NEAR_MISS_EXPONENTS}
    wrong["1/sqrt(p)"] = lambda p: 1 / p
    return wrong


def design_holds(n: int, p_values: Sequence[float], tolerance: float) -> bool:
    """True when n keeps both error budgets at this tolerance."""
    alpha = event_budget()  # the variance check owns three tail events per p
    if any(variance_false_fail(n, p, tolerance, alpha) > 3 * alpha for p in p_values):
        return False
    return all(
        false_pass_probability(n, p_values, tolerance, wrong) <= FALSE_PASS_BUDGET
        for wrong in near_misses().values()
    )


def variance_samples_needed(p_values: Sequence[float], tolerance: float) -> int:
    """Smallest multiple of SAMPLE_STEP for which `design_holds`; ValueError when no n can do it."""
    for name, wrong in near_misses().items():
        if all(1 - tolerance <= wrong(p) * (1 - p) <= 1 + tolerance for p in p_values):
            raise ValueError(f"at tolerance {tolerance:g} the scale {name} is right on average, "
                             "so no sample size rejects it")
    steps = smallest_satisfying(lambda k: design_holds(k * SAMPLE_STEP, p_values, tolerance))
    return steps * SAMPLE_STEP


def accepted_exponents(p_values: Sequence[float], tolerance: float) -> tuple[float, float]:
    """Exponents a whose scale (1-p)^-a has expected variance ratio within 1 +- tolerance at every p."""
    lows, highs = [], []
    for p in p_values:
        log_keep = math.log(1 - p)
        lows.append((1 - math.log(1 - tolerance) / log_keep) / 2)
        highs.append((1 - math.log(1 + tolerance) / log_keep) / 2)
    return max(lows), min(highs)
