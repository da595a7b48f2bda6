"""Rigorous tail bounds for the grader's statistical checks, for any task: Chernoff bounds on binomial
tails and Hoeffding's bound on a bounded sum. Every probability here is an upper bound, never a
normal approximation, so a check's stated false-fail / false-pass probability is a guarantee."""

from __future__ import annotations

import math


def kl_bernoulli(q: float, p: float) -> float:
    """KL(Bernoulli(q) || Bernoulli(p)), with the 0 log 0 = 0 convention."""
    total = 0.0
    if q > 0:
        total += q * math.log(q / p)
    if q < 1:
        total += (1 - q) * math.log((1 - q) / (1 - p))
    return total


def binomial_tail_bound(n: int, p: float, q: float) -> float:
    """Chernoff bound on P(k/n >= q) if q > p, or on P(k/n <= q) if q < p, for k ~ Bin(n, p)."""
    if q == p:
        return 1.0
    if not 0 <= q <= 1:
        return 0.0
    return math.exp(-n * kl_bernoulli(q, p))


def deviation_threshold(n: int, p: float, alpha: float) -> float:
    """Smallest d with both Chernoff tails P(k/n >= p+d) and P(k/n <= p-d) at most alpha (never below
    it; above it by a relative 1e-10 at most), for 0 < p < 1 and 0 < alpha < 1."""
    return max(_one_side(n, p, alpha, 1), _one_side(n, p, alpha, -1))


def deviation_thresholds(n: int, p: float, alpha: float) -> tuple[float, float]:
    """(below, above): the smallest d with the Chernoff tail P(k/n <= p - d), respectively
    P(k/n >= p + d), at most alpha; the band [p - below, p + above] is tight on both sides even where
    the binomial is skewed (small p, or p near 1)."""
    return _one_side(n, p, alpha, -1), _one_side(n, p, alpha, 1)


def _one_side(n: int, p: float, alpha: float, sign: int) -> float:
    """Smallest d with the bound on the tail beyond p + sign*d at most alpha: n KL(p + sign*d || p)
    at least log(1/alpha).

    KL(p + sign*d || p) is convex and increasing in d, so Newton's method started to the right of
    the root (Pinsker's inequality, KL >= 2 d^2, puts sqrt(target / 2) there) moves down onto it
    without ever crossing it; rounding is caught by checking the bound itself before returning.
    """
    target = math.log(1 / alpha) / n
    room = 1 - p if sign > 0 else p  # beyond it the tail is empty: its bound is 0
    if kl_bernoulli(p + sign * room, p) < target:  # only an empty tail will do
        d = room
        while 0 <= p + sign * d <= 1:
            d = math.nextafter(d, math.inf)
        return d
    d = min(math.sqrt(target / 2), room * (1 - 1e-12))  # inside (0, 1), where KL has a slope
    if kl_bernoulli(p + sign * d, p) < target:  # the root lies in the last 1e-12 of the room
        d = room
    for _ in range(100):
        q = p + sign * d
        if not 0 < q < 1:
            break
        step = (kl_bernoulli(q, p) - target) / (sign * (math.log(q / p) - math.log((1 - q) / (1 - p))))
        if step <= d * 1e-15:
            break
        d -= step
    d *= 1 + 1e-12
    while binomial_tail_bound(n, p, p + sign * d) > alpha:  # rounding left d just short of the root
        d *= 1 + 1e-12
    return d


def hoeffding_eta(n: int, alpha: float) -> float:
    """eta with P((S/n)^2 >= eta) <= alpha for S a sum of n independent terms of range 1."""
    return math.log(2 / alpha) / (2 * n)
