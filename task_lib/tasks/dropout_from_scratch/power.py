"""The false-fail budget of dropout-from-scratch's statistical checks, split over their tail events,
and the bounds the plan's numbers rest on.

For a correct solution every mask element of a training call at 0 < p < 1 is an independent
Bernoulli(p) drop, so every statistic (task_lib/grading/mask_statistics.py and mask_leans.py, and
checks.repeated_counts) has a rigorous tail bound (Chernoff, Janson-Hoeffding, Bernstein,
Poisson-binomial), none a normal approximation. A correct solution must fail a whole grade with
probability below FALSE_FAIL_BUDGET, split in two halves, each spread evenly (union bound) over its
tail events:

- `MASK_EVENTS`: the mask groups' families of tests (mask_statistics.group_events: every shift of every
  compared pair, every lag (pooled, and per shape), the position histogram, the position groups per
  shape and the value groups), at the largest group size, for each group;
- `TAIL_EVENTS`: everything else: the drop fraction of every training call and of each group pooled
  (two tails each), the count dispersion and each group's repeated counts, the big call's repeated
  distances (one event: the union over every distance is inside mask_statistics.repeat_threshold),
  and the value and position groups and their contrasts (mask_leans.POOLED_EVENTS) pooled over both
  groups (two tails each). These few pooled tests, where a small lean of the mask shows first, sit in
  this pool of a few hundred events rather than among the groups' million: their bands are narrower by
  about a seventh.

The survivor scale, p's validity, shapes, dtypes, identities and zeros are exact checks: no false fail.

The nearest wrong solutions and why they pass with probability at most FALSE_PASS_BUDGET
(`false_pass_bounds`, pinned by tests/tasks/dropout_from_scratch/test_power.py): scales 1/sqrt(1-p)
and (1-p)^-0.9 fail the deterministic survivor-scale check at every p; keeping with probability p
(dropping with 1 - p) fails the drop fraction of the sweep's lowest call; exact-count masks fail the
count dispersion in every grade (`MASK_CALLS` is at least the fewest calls per group that guarantee it:
`mask_calls_needed`); repeated masks agree everywhere and fail the fresh-mask check; a mask tiled with
a period of up to 2^18 elements over the big input puts far more kept pairs at its period than
`repeat_threshold` allows.
"""

from __future__ import annotations

import math

from task_lib.calibration.stats import smallest_satisfying
from task_lib.grading.mask_leans import POOLED_EVENTS
from task_lib.grading.mask_statistics import (
    COUNT_DISPERSION_EVENTS,
    DISPERSION_MIN_SD,
    NARROW_SIGMAS,
    agreement_rate,
    band,
    band_sides,
    group_events,
    repeat_threshold,
)
from task_lib.grading.tail_bounds import binomial_tail_bound

from . import design

FALSE_FAIL_BUDGET = 1e-9
FALSE_PASS_BUDGET = 1e-9


def training_calls(calls: int = design.MASK_CALLS) -> int:
    """Training calls at 0 < p < 1 whose drop fraction is checked: the big one, the mask groups' calls, a
    shape call per dtype x p type, the tiny calls, the low-p call and the sweep (the empty ones drop
    nothing and have no tail)."""
    return (1 + len(design.MASK_P) * calls + len(design.DTYPES) * len(design.P_TYPES) + design.TINY_CALLS + 1
            + design.SWEEP_CALLS)


def tail_events(calls: int = design.MASK_CALLS) -> int:
    """Tail events outside the mask groups' tests: two per training call and per group pooled, the count
    dispersion's and one per group for its repeated counts, the big call's repeated distance, the
    pooled value and position tests'."""
    groups = len(design.MASK_P)
    return 2 * (training_calls(calls) + groups) + COUNT_DISPERSION_EVENTS + groups + 1 + POOLED_EVENTS


TRAINING_CALLS = training_calls()


def mask_events(calls: int = design.MASK_CALLS, pairs: int = len(design.MASK_PAIRS)) -> int:
    """Tail events of the mask groups' tests, for groups of `calls` calls with `pairs` pairs compared."""
    return len(design.MASK_P) * group_events(design.MASK_SIZE[1], calls, pairs, design.MASK_SHAPES)


MASK_EVENTS = mask_events()
TAIL_EVENTS = tail_events()


def event_budget() -> float:
    """Probability allowed to each tail event outside the mask groups' tests."""
    return FALSE_FAIL_BUDGET / 2 / TAIL_EVENTS


def mask_event_budget() -> float:
    """Probability allowed to each tail event of the mask groups' tests."""
    return FALSE_FAIL_BUDGET / 2 / MASK_EVENTS


# ---- exact-count masks and the count dispersion --------------------------------------------------


def narrow_mass_bound(variance: float) -> float:
    """An upper bound on P(|Bin(n, p) - n p| <= w), w = NARROW_SIGMAS sd, for every n and p with
    n p (1-p) = `variance`: the window holds at most 2 w + 1 integers k, each with
    P(K = k) <= sqrt(n / (2 pi k (n-k))) (Stirling with Robbins' remainders), and on the window
    k (n-k) >= (n p - w)(n (1-p) - w) >= n (variance - w). It falls as the variance grows."""
    w = NARROW_SIGMAS * math.sqrt(variance)
    return (2 * w + 1) / math.sqrt(2 * math.pi * (variance - w))


def exact_count_calls(calls: int = design.MASK_CALLS) -> int:
    """Training calls of every grade whose drop count count_dispersion always looks at (standard
    deviation at least DISPERSION_MIN_SD): the mask groups' (at the smallest input and the stratum's
    worst p) and the big one (at the fewest elements and survivors)."""
    n = design.MASK_SIZE[0]
    smallest_sd = min(math.sqrt(n * p * (1 - p)) for stratum in design.MASK_P for p in stratum)
    big_n = math.ceil(design.BIG_BYTES[0] / 8)
    big_sd = math.sqrt(big_n * design.BIG_KEEP[0] * (1 - design.BIG_KEEP[0]))
    return len(design.MASK_P) * calls * (smallest_sd >= DISPERSION_MIN_SD) + (big_sd >= DISPERSION_MIN_SD)


def exact_counts_fail(calls: int = design.MASK_CALLS) -> bool:
    """True when exact-count masks fail count_dispersion in every grade with `calls` calls per mask
    group. Each such call's count is within 1/2 of p n, so within NARROW_SIGMAS sd of it (sd >= 5);
    count_dispersion fails once all its M calls lie there and M is at least its Poisson-binomial
    threshold, whose Chernoff bound at M is mean^M, mean <= narrow_mass_bound(DISPERSION_MIN_SD^2) < 1:
    so M >= exact_count_calls with that bound^exact_count_calls within the tail budget is enough."""
    if NARROW_SIGMAS * DISPERSION_MIN_SD < 0.5:
        return False
    mean = narrow_mass_bound(DISPERSION_MIN_SD**2) * (1 + 1e-6)  # window_masses' rounding margin
    return mean ** exact_count_calls(calls) <= FALSE_FAIL_BUDGET / 2 / tail_events(calls)


def mask_calls_needed() -> int:
    """The fewest calls per mask group for which exact-count masks fail in every grade."""
    return smallest_satisfying(exact_counts_fail)


# ---- the nearest wrong solutions -----------------------------------------------------------------


def scale_error(p: float, scale: float) -> float:
    """|scale * (1 - p) - 1|: what the survivor-scale check measures for a wrong scale."""
    return abs(scale * (1 - p) - 1)


def keep_with_p_false_pass() -> float:
    """Upper bound on P(dropping with probability 1 - p passes the drop fraction of the sweep's first
    call, p in its lowest slice (checks.sweep_slices), at its smallest size), over a grid of that slice."""
    n = design.SWEEP_SIZE[0]
    low, middle, _ = design.SWEEP_P
    high = low + (middle - low) / (design.SWEEP_CALLS // 2)
    worst = 0.0
    for i in range(201):
        p = low + (high - low) * i / 200
        below, above = band_sides(n, p, event_budget())
        wrong = 1 - p
        if p - below <= wrong <= p + above:
            return 1.0
        worst = max(worst, binomial_tail_bound(n, wrong, p + above if wrong > p else p - below))
    return worst


def repeated_mask_false_pass() -> float:
    """0 when two calls with one mask (agreement 1 at shift 0) fail the fresh-mask check at every p
    of the groups' strata, at the smallest group size."""
    n = design.MASK_SIZE[0]
    for low, high in design.MASK_P:
        for i in range(101):
            q = agreement_rate(low + (high - low) * i / 100)
            if q + band(n, q, mask_event_budget()) >= 1:
                return 1.0
    return 0.0


def tiled_mask_false_pass(period: int = 2**18) -> float:
    """Upper bound on P(a mask repeated with a period of at most `period` elements over the big input
    passes the repeated-distance test): each kept element among the first n - period is kept again
    `period` further on, so that distance separates at least Bin(n - period, q) pairs (at the fewest
    elements and survivors), against the largest repeat_threshold of any big input (Chernoff's lower
    tail)."""
    n = math.ceil(design.BIG_BYTES[0] / 8)
    limit = repeat_threshold(math.ceil(design.BIG_BYTES[1] / 4), design.BIG_KEEP[1], event_budget())
    m, q = n - period, design.BIG_KEEP[0]
    return 1.0 if limit >= m * q else binomial_tail_bound(m, q, limit / m)


def false_pass_bounds() -> dict[str, float]:
    """Upper bounds on the probability that each nearest wrong solution passes a whole grade."""
    rtol = min(design.SCALE_RTOL.values())
    grid = [i / 1000 for i in range(1, 1000)]

    def deterministic(scale_at) -> float:
        return 0.0 if all(scale_error(p, scale_at(p)) > 1e3 * rtol for p in grid) else 1.0

    return {"scale 1/sqrt(1-p)": deterministic(lambda p: (1 - p) ** -0.5),
            "scale (1-p)^-0.9": deterministic(lambda p: (1 - p) ** -0.9),
            "keeps with probability p": keep_with_p_false_pass(),
            "exact-count masks": 0.0 if exact_counts_fail() else 1.0,
            "repeated masks": repeated_mask_false_pass(),
            "a mask tiled over big inputs": tiled_mask_false_pass()}
