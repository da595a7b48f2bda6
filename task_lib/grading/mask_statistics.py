"""Tests of dropout masks against "every element dropped independently with probability p", for any
task, each with power against a whole family of alternatives and a rigorous false-fail bound.

A mask is a boolean vector (True = dropped) over an array's elements in logical (C) order. Every test
takes `alpha`, the probability it may fail a correct mask per tail event, and says how many tail events
it spends (`*_events`), so a task can split its budget over all of them by a union bound:

- `shift_agreement`: two independent masks agree (both dropped or both kept) at every shift s,
  |s| <= n/2, of one against the other. Element k of one and k + s of the other are independent pairs,
  n - |s| of them, so each shift's count is Bin(n - |s|, q), q = p² + (1-p)²: a Chernoff band per shift,
  all shifts from one FFT. Catches repeated, rolled, shifted or correlated masks between calls or layers.
- `lag_agreement`: one mask against itself at every lag s (1 <= s <= n/2), pooled over calls: in N-D
  arrays a lag is every direction at once (row r, column d is lag r·cols + d). Pairs (k, k+s) overlap,
  each sharing an element with at most two others; Janson's Hoeffding bound for a dependency graph of
  fractional chromatic number at most 3 gives P(|S - mq| >= t) <= 2 exp(-2 t² / (3 m)).
- `position_histogram`: over C calls on one array, each position's drop count is Bin(C, p), independent
  across positions; the number of positions with count v is Bin(n, P(Bin(C, p) = v)) for every v:
  positions dropped too often, too rarely, or too evenly fail.
- `count_dispersion`: calls whose drop count lies within a narrow window of p·n (too many: counts
  under-dispersed, e.g. exact counts) or beyond a wide one (too many: over-dispersed, e.g. p jittered per
  call); each is a sum of independent indicators whose probabilities are bounded above exactly, with
  the Poisson-binomial Chernoff bound P(S >= k) <= e^-mu (e mu / k)^k.
- `value_features`: groups of elements by sign, |x| quartile, exponent parity and the two lowest
  mantissa bits, whose drop rates must each be p.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from task_lib.grading.tail_bounds import binomial_tail_bound, deviation_threshold

JANSON_CHROMATIC = 3  # the lag-s pairs (k, k+s) form paths: fractional chromatic number at most 3
NARROW_SIGMAS, WIDE_SIGMAS = 0.25, 3.0  # count_dispersion's windows, in binomial standard deviations


def agreement_rate(p: float) -> float:
    """P(two independent Bernoulli(p) drops agree)."""
    return p * p + (1 - p) * (1 - p)


@functools.lru_cache(maxsize=4096)
def band(n: int, p: float, alpha: float) -> float:
    """Chernoff half-width around p for a Bin(n, p) proportion, each tail at most alpha (cached)."""
    return deviation_threshold(n, p, alpha)


def bands(sizes: np.ndarray, p: float, alpha: float) -> np.ndarray:
    """`band` at each of many sizes, each taken at the largest grid size (powers of 2^(1/8)) not above
    it: a Chernoff band only narrows as the size grows, so this is never narrower than the exact one."""
    grid = np.unique(np.floor(2.0 ** (np.arange(0, 8 * math.log2(max(2, sizes.max())) + 1) / 8)).astype(int))
    widths = np.array([band(int(m), p, alpha) for m in grid])
    return widths[np.searchsorted(grid, sizes, side="right") - 1]


def _fft_length(n: int) -> int:
    """A power of two of at least 2n - 1: linear (not cyclic) correlations, at a fast FFT size."""
    return 1 << (2 * n - 1).bit_length()


def shift_agreement_events(n: int) -> int:
    return 2 * (2 * (n // 2) + 1)


def shift_agreement(first: np.ndarray, second: np.ndarray, p: float, alpha: float) -> tuple[float, int]:
    """(score, shift) of the shift s (|s| <= n/2) at which element k of one mask and element k + s of
    the other agree farthest from q, in units of its Chernoff band (score > 1 fails). The n - |s|
    pairs of a shift are independent, so its count of agreements is Bin(n - |s|, q)."""
    n, size = first.size, _fft_length(first.size)
    a, b = first.astype(np.float64), second.astype(np.float64)
    products = np.rint(np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size))
    shifts = np.arange(-(n // 2), n // 2 + 1)
    pairs = n - np.abs(shifts)
    # sum over the overlap of a_k b_(k+s), and each mask's drops over its part of the overlap
    both = products[shifts % size]
    a_sum, b_sum = np.cumsum(np.concatenate(([0.0], a))), np.cumsum(np.concatenate(([0.0], b)))
    ahead, behind = np.maximum(shifts, 0), -np.minimum(shifts, 0)
    a_drops = np.where(shifts >= 0, a_sum[n - ahead], a_sum[n] - a_sum[behind])
    b_drops = np.where(shifts >= 0, b_sum[n] - b_sum[ahead], b_sum[n - behind])
    agree = (pairs - a_drops - b_drops + 2 * both) / pairs
    q = agreement_rate(p)
    scores = np.abs(agree - q) / bands(pairs, q, alpha)
    worst = int(np.argmax(scores))
    return float(scores[worst]), int(shifts[worst])


def lag_agreement_events(n: int) -> int:
    return 2 * (n // 2)


def lag_agreement(masks: np.ndarray, p: float, alpha: float) -> tuple[float, int]:
    """(score, lag) of the lag s (1 <= s <= n/2) at which elements k and k + s of the same call agree
    farthest from q, pooled over the calls (masks: calls x n), in units of the Janson-Hoeffding band
    (score > 1 fails)."""
    calls, n = masks.shape
    lags = np.arange(1, n // 2 + 1)
    if lags.size == 0:
        return 0.0, 0
    values, size = masks.astype(np.float64), _fft_length(n)
    spectrum = np.fft.rfft(values, size, axis=1)
    both = np.rint(np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1))[:, lags].sum(axis=0)
    prefix = np.cumsum(np.concatenate((np.zeros((calls, 1)), values), axis=1), axis=1).sum(axis=0)
    first = prefix[n - lags]  # drops among elements 0 .. n-s-1, summed over the calls
    second = prefix[n] - prefix[lags]  # drops among elements s .. n-1
    pairs = calls * (n - lags)
    agree = (pairs - first - second + 2 * both) / pairs
    half_width = np.sqrt(JANSON_CHROMATIC * math.log(2 / alpha) / (2 * pairs))
    scores = np.abs(agree - agreement_rate(p)) / half_width
    worst = int(np.argmax(scores))
    return float(scores[worst]), int(lags[worst])


def binomial_pmf(n: int, p: float) -> np.ndarray:
    """P(Bin(n, p) = v) for v = 0..n (small n: the per-position counts)."""
    v = np.arange(n + 1)
    log = (np.array([math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) for k in v])
           + v * math.log(p) + (n - v) * math.log1p(-p))
    return np.exp(log)


def position_histogram_events(calls: int) -> int:
    return 2 * (calls + 1)


def position_histogram(masks: np.ndarray, p: float, alpha: float) -> tuple[float, int]:
    """(score, v) of the count v whose number of positions dropped exactly v times (of the calls) lies
    farthest from its expectation, in units of its band (score > 1 fails)."""
    calls, n = masks.shape
    observed = np.bincount(masks.sum(axis=0), minlength=calls + 1) / n
    scores = []
    for v, expected in enumerate(binomial_pmf(calls, p)):
        if expected <= 0 or expected >= 1:
            scores.append(0.0 if observed[v] == expected else math.inf)
            continue
        scores.append(abs(observed[v] - expected) / band(n, float(expected), alpha))
    worst = int(np.argmax(scores))
    return float(scores[worst]), worst


def window_mass(n: int, p: float, half_width: float) -> float:
    """P(|Bin(n, p) - n p| <= half_width), summed exactly (log-pmf anchored by lgamma, then stepped)."""
    low, high = max(0, math.ceil(n * p - half_width)), min(n, math.floor(n * p + half_width))
    if low > high:
        return 0.0
    k = np.arange(low, high + 1, dtype=np.float64)
    anchor = math.lgamma(n + 1) - math.lgamma(low + 1) - math.lgamma(n - low + 1) + low * math.log(p) \
        + (n - low) * math.log1p(-p)
    steps = np.log((n - k[:-1]) / (k[:-1] + 1)) + math.log(p) - math.log1p(-p)
    logs = anchor + np.concatenate(([0.0], np.cumsum(steps)))
    return float(np.exp(logs).sum())


def poisson_binomial_threshold(m: int, mu: float, alpha: float) -> int:
    """Smallest k with P(S >= k) <= alpha for a sum S of m independent indicators whose probabilities
    add up to at most mu (Chernoff: exp(-m KL(k/m || mu/m)) bounds it for every k > mu); m + 1 when no
    k <= m will do."""
    mean = min(1.0, mu / m) if m else 1.0
    k = math.floor(mu) + 1
    while k <= m and binomial_tail_bound(m, mean, k / m) > alpha:
        k += 1
    return k

COUNT_DISPERSION_EVENTS = 2


def count_dispersion(counts: list[tuple[int, float, int]], alpha: float) -> tuple[bool, str]:
    """(passed, what was seen) for calls given as (n, p, drop count): fails when more calls than a
    correct layer would allow (with probability alpha each) lie within NARROW_SIGMAS standard deviations
    of n p, or beyond WIDE_SIGMAS."""
    narrow = wide = 0
    mu_narrow = mu_wide = 0.0
    for n, p, k in counts:
        sd = math.sqrt(n * p * (1 - p))
        # Upper bounds on each call's probability: a relative 1e-9 added for rounding.
        mu_narrow += min(1.0, window_mass(n, p, NARROW_SIGMAS * sd) * (1 + 1e-9) + 1e-15)
        mu_wide += min(1.0, max(0.0, 1 - window_mass(n, p, WIDE_SIGMAS * sd)) * (1 + 1e-9) + 1e-12)
        narrow += abs(k - n * p) <= NARROW_SIGMAS * sd
        wide += abs(k - n * p) > WIDE_SIGMAS * sd
    limit_narrow = poisson_binomial_threshold(len(counts), mu_narrow, alpha)
    limit_wide = poisson_binomial_threshold(len(counts), mu_wide, alpha)
    passed = narrow < limit_narrow and wide < limit_wide
    seen = (f"{narrow} of {len(counts)} calls within {NARROW_SIGMAS:g} sd of p·n (fails at {limit_narrow}), "
            f"{wide} beyond {WIDE_SIGMAS:g} sd (fails at {limit_wide})")
    return passed, seen


def value_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """Flat selections of x's elements (C order) by sign, |x| quartile (by rank), exponent parity and
    the lowest two bits of the mantissa, as stored in x's own dtype."""
    flat = np.ascontiguousarray(x).reshape(-1)
    ranks = np.empty(flat.size, dtype=np.int64)
    ranks[np.argsort(np.abs(flat), kind="stable")] = np.arange(flat.size)
    quartile = ranks * 4 // max(1, flat.size)
    bits = flat.view(np.uint32 if flat.dtype == np.float32 else np.uint64)
    mantissa_bits = 23 if flat.dtype == np.float32 else 52
    exponent_odd = ((bits >> mantissa_bits) & 1).astype(bool)
    groups = {f"|x| quartile {q + 1}": quartile == q for q in range(4)}
    groups |= {"x > 0": flat > 0, "x < 0": flat < 0}
    groups |= {"odd exponent": exponent_odd, "even exponent": ~exponent_odd}
    for bit in (0, 1):
        set_ = ((bits >> bit) & 1).astype(bool)
        groups |= {f"mantissa bit {bit} set": set_, f"mantissa bit {bit} clear": ~set_}
    return groups


VALUE_FEATURE_GROUPS = 12
