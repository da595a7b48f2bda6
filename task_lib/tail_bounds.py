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
    """Smallest d with both Chernoff tails P(k/n >= p+d) and P(k/n <= p-d) at most alpha."""

    def tails(d: float) -> float:
        return max(binomial_tail_bound(n, p, p + d), binomial_tail_bound(n, p, p - d))

    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tails(mid) > alpha else (lo, mid)
    return hi


def hoeffding_eta(n: int, alpha: float) -> float:
    """eta with P((S/n)^2 >= eta) <= alpha for S a sum of n independent terms of range 1."""
    return math.log(2 / alpha) / (2 * n)
