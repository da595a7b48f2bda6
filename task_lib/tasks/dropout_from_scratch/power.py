"""Thresholds and error bounds of dropout-from-scratch's statistical checks, from binomial tails.

At each checked p the grader calls dropout `N_CALLS` times on one array of n = prod(STAT_SHAPE)
elements and reads the masks (zeros) back. For a correct solution every mask element is an
independent Bernoulli(p) drop, so each statistic below is a binomial proportion:

- drop fraction: all n * N_CALLS elements, p;
- fresh masks: for two calls i < j and a shift s, "element k of call i and element k + s of call j
  are both dropped or both kept", n - |s| pairs, q = p^2 + (1-p)^2;
- values: the elements of each |x| quartile and of each sign, pooled over the calls, p;
- position: each quarter of the flattened array, pooled over the calls, p;
- elements: the disjoint neighbour pairs (2k, 2k+1) of the flattened array and the row pairs
  (2r, 2r+1), compared element by element, pooled over the calls, q.

Each is checked two-sided at the Chernoff deviation (`deviation_threshold`) of its own tail budget
`event_budget()`: FALSE_FAIL_BUDGET split evenly (union bound) over every tail event of the grade.
The count-spread check fails a correct solution only if every call's drop count lies within
COUNT_SLACK of p * n; that probability is computed exactly from the binomial pmf, and `N_CALLS` is
the smallest number of calls keeping it within its budget over the whole fresh-p range.

The nearest wrong solutions and why they pass with probability at most FALSE_PASS_BUDGET:
scales 1/sqrt(1-p) and (1-p)^-0.9 fail the deterministic survivor-scale check at every p
(`scale_error`), keeping with probability p fails the drop fraction at p = 0.2 (`false_pass_bounds`),
exact-count masks fail the count spread always, repeated or shifted masks fail the fresh-mask check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from task_lib.stats import smallest_satisfying
from task_lib.tail_bounds import binomial_tail_bound, deviation_threshold

from . import design

FALSE_FAIL_BUDGET = 1e-9
FALSE_PASS_BUDGET = 1e-9
VALUE_GROUPS = 6  # four |x| quartiles and two signs
POSITION_BLOCKS = 4
ELEMENT_PAIRINGS = 2  # neighbours and rows
FRESH_P_GRID = 801  # points of the fresh-p range where the count-spread bound is evaluated


def stat_size() -> int:
    return math.prod(design.STAT_SHAPE)


def checked_p_count() -> int:
    return len(design.FIXED_P) + 1


def tail_events_per_p(calls: int = design.N_CALLS) -> int:
    """Tail events a correct solution could trip at one p: two per two-sided statistic, one for the
    count spread."""
    pairs = calls * (calls - 1) // 2
    two_sided = 1 + pairs * len(design.SHIFTS) + VALUE_GROUPS + POSITION_BLOCKS + ELEMENT_PAIRINGS
    return 2 * two_sided + 1


def event_budget(calls: int = design.N_CALLS) -> float:
    """Probability allowed to each tail event, so that all of them together stay within the budget."""
    return FALSE_FAIL_BUDGET / (tail_events_per_p(calls) * checked_p_count())


def binomial_pmf(n: int, p: float, k: int) -> float:
    """P(Bin(n, p) = k), from log-gamma."""
    if not 0 <= k <= n:
        return 0.0
    log = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return math.exp(log + k * math.log(p) + (n - k) * math.log1p(-p))


def count_window_probability(n: int, p: float, slack: int = design.COUNT_SLACK) -> float:
    """P(|Bin(n, p) - n p| <= slack): one call's drop count looking like an exact-count mask's."""
    low, high = math.ceil(n * p - slack), math.floor(n * p + slack)
    return sum(binomial_pmf(n, p, k) for k in range(low, high + 1))


def count_spread_false_fail(p: float, calls: int = design.N_CALLS, n: int | None = None) -> float:
    """Exact probability that every call's drop count lies within COUNT_SLACK of n p."""
    return count_window_probability(n or stat_size(), p) ** calls


def checkable_p(p_values: Sequence[float] | None = None) -> list[float]:
    """The fixed p values and a grid over the fresh-p range: where the design must hold."""
    low, high = design.FRESH_P_RANGE
    grid = [low + (high - low) * i / (FRESH_P_GRID - 1) for i in range(FRESH_P_GRID)]
    return list(p_values or ()) + list(design.FIXED_P) + grid


def calls_needed() -> int:
    """Smallest number of calls per p whose count-spread false-fail stays within its tail budget
    everywhere `checkable_p` looks (design.N_CALLS holds it)."""
    return smallest_satisfying(
        lambda calls: max(count_spread_false_fail(p, calls) for p in checkable_p()) <= event_budget(calls))


def thresholds(p: float, alpha: float | None = None) -> dict[str, tuple[float, float]]:
    """Two-sided acceptance intervals of every binomial statistic at p, by statistic."""
    alpha = event_budget() if alpha is None else alpha
    n, calls, rows = stat_size(), design.N_CALLS, design.STAT_SHAPE[0]
    q = p**2 + (1 - p) ** 2

    def interval(size: int, mean: float) -> tuple[float, float]:
        delta = deviation_threshold(size, mean, alpha)
        return mean - delta, mean + delta

    result = {"drop_fraction": interval(n * calls, p),
              "value_group": interval(n * calls // 4, p),
              "sign_group": interval(n * calls // 2, p),
              "position_block": interval(n * calls // POSITION_BLOCKS, p),
              "neighbours": interval(n // 2 * calls, q),
              "rows": interval(rows // 2 * design.STAT_SHAPE[1] * calls, q)}
    result |= {f"shift {s}": interval(n - abs(s), q) for s in design.SHIFTS}
    return result


def scale_error(p: float, scale: float) -> float:
    """|scale * (1 - p) - 1|: what the survivor-scale check measures for a wrong scale."""
    return abs(scale * (1 - p) - 1)


def false_pass_bounds() -> dict[str, float]:
    """Upper bounds on the probability that each nearest wrong solution passes a whole grade."""
    n, calls = stat_size(), design.N_CALLS
    rtol = min(design.SCALE_RTOL.values())
    grid = checkable_p()

    def deterministic(scale_at) -> float:
        return 0.0 if all(scale_error(p, scale_at(p)) > 1e3 * rtol for p in grid) else 1.0

    def keep_with_p() -> float:  # drops with probability 1 - p: at best one fixed p's bound
        bounds = []
        for p in design.FIXED_P:
            lo, hi = thresholds(p)["drop_fraction"]
            wrong = 1 - p
            bounds.append(1.0 if lo <= wrong <= hi else
                          binomial_tail_bound(n * calls, wrong, hi if wrong > hi else lo))
        return min(bounds)

    def repeated_mask() -> float:  # two calls with one mask agree everywhere: agreement 1
        return 0.0 if all(thresholds(p)["shift 0"][1] < 1 for p in grid[::50]) else 1.0

    return {"scale 1/sqrt(1-p)": deterministic(lambda p: (1 - p) ** -0.5),
            "scale (1-p)^-0.9": deterministic(lambda p: (1 - p) ** -0.9),
            "keeps with probability p": keep_with_p(),
            "exact-count masks": 0.0 if design.COUNT_SLACK >= 1 else 1.0,
            "repeated or shifted masks": repeated_mask()}
