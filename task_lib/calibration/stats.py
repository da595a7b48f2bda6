"""Statistics for reporting a pass rate: confidence intervals, the band verdict, runs needed, pass@k.

Pure standard library (`math`), so importing it is instant. A pass rate is k passes out of n runs;
every function validates its arguments and raises `ValueError` naming what to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

BAND: tuple[float, float] = (0.10, 0.40)
"""The target pass-rate band: a useful task is neither trivial nor hopeless."""

MAX_RUNS_NEEDED = 100_000
"""`band_verdict` gives up projecting beyond this many runs (an estimate on or very near a band edge)."""

PROJECTION_CLAMP: tuple[float, float] = (0.02, 0.98)
"""`band_verdict` clamps the point estimate k/n into this range before projecting runs needed."""


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def _check_counts(k: int, n: int) -> None:
    if n < 0:
        raise ValueError(f"number of runs n must be >= 0, got {n!r}")
    if not 0 <= k <= n:
        raise ValueError(f"number of passes k must satisfy 0 <= k <= n = {n}, got {k!r}")


def _check_band(band: tuple[float, float]) -> None:
    low, high = band
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"band must satisfy 0 <= low < high <= 1, got {band!r}")


def _upper_normal_tail(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard normal quantile: the z with P(|Z| <= z) = confidence (1.96 for 0.95)."""
    _check_confidence(confidence)
    tail = (1.0 - confidence) / 2.0
    return _solve_decreasing(_upper_normal_tail, tail, 0.0, 40.0)  # P(Z > 40) underflows to 0


def _wilson_bounds(rate: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval around an observed rate after n > 0 runs, clipped to [0, 1]."""
    z2_over_n = z * z / n
    centre = (rate + z2_over_n / 2.0) / (1.0 + z2_over_n)
    half = z / (1.0 + z2_over_n) * math.sqrt(rate * (1.0 - rate) / n + z2_over_n / (4.0 * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k passes in n runs; (0.0, 1.0) when n == 0.

    The lower bound is exactly 0.0 when k == 0 and the upper bound exactly 1.0 when k == n.
    """
    _check_counts(k, n)
    _check_confidence(confidence)
    if n == 0:
        return 0.0, 1.0
    low, high = _wilson_bounds(k / n, n, z_value(confidence))
    return (0.0 if k == 0 else low), (1.0 if k == n else high)


def _log_binomial_coefficients(n: int, indices: range) -> list[float]:
    log_n_factorial = math.lgamma(n + 1)
    return [log_n_factorial - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in indices]


def _binomial_sum(log_coefficients: list[float], indices: range, n: int, p: float) -> float:
    """Sum of the Binomial(n, p) probabilities at `indices`, for 0 < p < 1."""
    log_p, log_q = math.log(p), math.log1p(-p)
    log_terms = [c + i * log_p + (n - i) * log_q for c, i in zip(log_coefficients, indices, strict=True)]
    largest = max(log_terms)
    return math.exp(largest) * math.fsum(math.exp(t - largest) for t in log_terms)


def _solve_decreasing(f, target: float, low: float = 0.0, high: float = 1.0) -> float:
    """The x in (low, high) where the decreasing function f crosses target, to float precision."""
    for _ in range(2000):
        mid = (low + high) / 2.0
        if mid in (low, high):
            break
        if f(mid) > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2.0


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for k passes in n runs; (0.0, 1.0) when n == 0.

    Each bound is the rate at which the binomial tail beyond k has probability (1 - confidence) / 2;
    the lower bound is 0.0 when k == 0 and the upper bound 1.0 when k == n. Accurate to about 1e-12
    for n up to several thousand.
    """
    _check_counts(k, n)
    _check_confidence(confidence)
    if n == 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0

    low = 0.0
    if k > 0:
        at_least_k = range(k, n + 1)
        coefficients = _log_binomial_coefficients(n, at_least_k)
        # P(X >= k) increases with p, so its negation decreases.
        low = _solve_decreasing(lambda p: -_binomial_sum(coefficients, at_least_k, n, p), -tail)

    high = 1.0
    if k < n:
        at_most_k = range(0, k + 1)
        coefficients = _log_binomial_coefficients(n, at_most_k)
        high = _solve_decreasing(lambda p: _binomial_sum(coefficients, at_most_k, n, p), tail)
    return low, high


@dataclass(frozen=True)
class BandVerdict:
    """Where a pass rate k/n sits relative to a target band, judged by its Wilson interval.

    `verdict` is "inside" (interval within the band), "outside" (no overlap) or "undetermined".
    `runs_needed` is the projected total number of runs that would decide it, None when decided.
    """

    verdict: str
    interval: tuple[float, float]
    runs_needed: int | None
    k: int
    n: int
    band: tuple[float, float]
    confidence: float

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field (tuples become lists)."""
        return {
            "verdict": self.verdict,
            "interval": list(self.interval),
            "runs_needed": self.runs_needed,
            "k": self.k,
            "n": self.n,
            "band": list(self.band),
            "confidence": self.confidence,
        }


def _classify(interval: tuple[float, float], band: tuple[float, float]) -> str:
    low, high = interval
    if band[0] <= low and high <= band[1]:
        return "inside"
    if high < band[0] or low > band[1]:
        return "outside"
    return "undetermined"


def _runs_to_decide(rate: float, band: tuple[float, float], z: float, start: int) -> int | None:
    """Smallest n >= start at which the Wilson interval around `rate` is inside or outside the band.

    Wilson intervals around a fixed rate shrink (are nested) as n grows, so being decided is
    monotone in n and a doubling search followed by bisection finds the threshold.
    """

    def decided(n: int) -> bool:
        return _classify(_wilson_bounds(rate, n, z), band) != "undetermined"

    return smallest_satisfying(decided, start) if decided(MAX_RUNS_NEEDED) else None


def smallest_satisfying(predicate: Callable[[int], bool], start: int = 1) -> int:
    """The smallest n >= start with predicate(n), for a predicate that stays true once true and
    holds for some n: doubles from `start`, then bisects."""
    if predicate(start):
        return start
    failing, high = start, 2 * start
    while not predicate(high):
        failing, high = high, 2 * high
    while high - failing > 1:
        mid = (failing + high) // 2
        failing, high = (failing, mid) if predicate(mid) else (mid, high)
    return high


def band_verdict(k: int, n: int, band: tuple[float, float] = BAND, confidence: float = 0.95) -> BandVerdict:
    """Judge k passes in n runs against the band with a Wilson interval: inside, outside or undetermined.

    When undetermined, `runs_needed` projects the total runs (more than n) after which the Wilson
    interval would be decided if the observed rate held. The projected rate is k/n clamped into
    `PROJECTION_CLAMP` (so 0/n and n/n project as 2% and 98%, not as certainties), or the band's
    midpoint when n == 0. It is None when decided, and also when even `MAX_RUNS_NEEDED` runs would
    not decide it (a rate on or within a hair of a band edge, such as 1/10 against 0.10).
    """
    _check_counts(k, n)
    _check_confidence(confidence)
    _check_band(band)
    band = (float(band[0]), float(band[1]))
    interval = wilson_interval(k, n, confidence)
    verdict = _classify(interval, band)
    runs_needed = None
    if verdict == "undetermined":
        if n == 0:
            rate = (band[0] + band[1]) / 2.0
        else:
            rate = min(max(k / n, PROJECTION_CLAMP[0]), PROJECTION_CLAMP[1])
        runs_needed = _runs_to_decide(rate, band, z_value(confidence), start=n + 1)
    return BandVerdict(verdict, interval, runs_needed, k, n, band, confidence)


def runs_for_width(p: float, width: float, confidence: float = 0.95) -> int:
    """Smallest n >= 1 whose Wilson interval around rate p has total width <= width."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"rate p must be between 0 and 1, got {p!r}")
    if not 0.0 < width <= 1.0:
        raise ValueError(f"width must satisfy 0 < width <= 1, got {width!r}")
    z = z_value(confidence)

    def narrow_enough(n: int) -> bool:
        low, high = _wilson_bounds(p, n, z)
        return high - low <= width

    return smallest_satisfying(narrow_enough)  # the width falls strictly as n grows


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed: 1 - C(n - c, k) / C(n, k) (Chen et al. 2021).

    Computed from exact integers, so the result is correctly rounded.
    """
    if n < 1:
        raise ValueError(f"number of samples n must be >= 1, got {n!r}")
    if not 0 <= c <= n:
        raise ValueError(f"number correct c must satisfy 0 <= c <= n = {n}, got {c!r}")
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 <= k <= n = {n}, got {k!r}")
    total = math.comb(n, k)
    return (total - math.comb(n - c, k)) / total
