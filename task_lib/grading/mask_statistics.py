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
- `repeat_threshold`, `repeated_distance`: the distance separating the most pairs of kept elements of
  one sparse mask (a tiled or repeated mask puts many at its period), against a bound for independent
  elements.
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
import threading
from typing import Any

import numpy as np

from task_lib.grading.tail_bounds import binomial_tail_bound, deviation_threshold, deviation_thresholds

JANSON_CHROMATIC = 3  # the lag-s pairs (k, k+s) form paths: fractional chromatic number at most 3
NARROW_SIGMAS, WIDE_SIGMAS = 0.1, 3.0  # count_dispersion's windows, in binomial standard deviations
DISPERSION_MIN_SD = 5.0  # calls whose count has a smaller sd tell little: count_dispersion skips them


def agreement_rate(p: float) -> float:
    """P(two independent Bernoulli(p) drops agree)."""
    return p * p + (1 - p) * (1 - p)


@functools.lru_cache(maxsize=4096)
def band(n: int, p: float, alpha: float) -> float:
    """Chernoff half-width around p for a Bin(n, p) proportion, each tail at most alpha (cached)."""
    return deviation_threshold(n, p, alpha)


@functools.lru_cache(maxsize=4096)
def band_sides(n: int, p: float, alpha: float) -> tuple[float, float]:
    """(below, above) Chernoff widths around p for a Bin(n, p) proportion, each tail at most alpha
    (cached): tight on each side (see tail_bounds.deviation_thresholds)."""
    return deviation_thresholds(n, p, alpha)


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


def spectra(masks: np.ndarray) -> np.ndarray:
    """The real FFT of each mask (rows of calls x n) at `_fft_length(n)`: computed once per mask, shared
    by `shift_agreement` and `lag_agreement`."""
    return np.fft.rfft(masks.astype(np.float64), _fft_length(masks.shape[1]), axis=1)


def shift_agreement(first: np.ndarray, second: np.ndarray, p: float, alpha: float,
                    spectrum_pair: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, int]:
    """(score, shift) of the shift s (|s| <= n/2) at which element k of one mask and element k + s of
    the other agree farthest from q, in units of its Chernoff band (score > 1 fails). The n - |s|
    pairs of a shift are independent, so its count of agreements is Bin(n - |s|, q). `spectrum_pair`:
    the two masks' `spectra`, if already computed."""
    n, size = first.size, _fft_length(first.size)
    a, b = first.astype(np.float64), second.astype(np.float64)
    fa, fb = spectrum_pair if spectrum_pair is not None else (np.fft.rfft(a, size), np.fft.rfft(b, size))
    products = np.rint(np.fft.irfft(np.conj(fa) * fb, size))
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


def lag_agreement(masks: np.ndarray, p: float, alpha: float,
                  mask_spectra: np.ndarray | None = None) -> tuple[float, int]:
    """(score, lag) of the lag s (1 <= s <= n/2) at which elements k and k + s of the same call agree
    farthest from q, pooled over the calls (masks: calls x n), in units of the Janson-Hoeffding band
    (score > 1 fails). `mask_spectra`: the masks' `spectra`, if already computed. One inverse FFT in
    all: the calls' power spectra are summed first."""
    calls, n = masks.shape
    lags = np.arange(1, n // 2 + 1)
    if lags.size == 0:
        return 0.0, 0
    values, size = masks.astype(np.float64), _fft_length(n)
    spectrum = mask_spectra if mask_spectra is not None else np.fft.rfft(values, size, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).sum(axis=0)
    both = np.rint(np.fft.irfft(power, size))[lags]
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


@functools.lru_cache(maxsize=1024)
def window_masses(n: int, p: float) -> tuple[float, float]:
    """Upper bounds (a relative 1e-9 added for rounding) on P(a Bin(n, p) count lies within
    NARROW_SIGMAS sd of n p) and P(it lies beyond WIDE_SIGMAS sd): `count_dispersion`'s per call."""
    sd = math.sqrt(n * p * (1 - p))
    narrow = min(1.0, window_mass(n, p, NARROW_SIGMAS * sd) * (1 + 1e-9) + 1e-15)
    wide = min(1.0, max(0.0, 1 - window_mass(n, p, WIDE_SIGMAS * sd)) * (1 + 1e-9) + 1e-12)
    return narrow, wide



def count_dispersion(counts: list[tuple[int, float, int]], alpha: float) -> tuple[bool, str]:
    """(passed, what was seen) for calls given as (n, p, drop count), those whose count has a standard
    deviation of at least DISPERSION_MIN_SD: fails when more of them than a correct layer would allow
    (with probability alpha each) lie within NARROW_SIGMAS standard deviations of n p, or beyond
    WIDE_SIGMAS."""
    counts = [(n, p, k) for n, p, k in counts if n * p * (1 - p) >= DISPERSION_MIN_SD**2]
    narrow = wide = 0
    mu_narrow = mu_wide = 0.0
    for n, p, k in counts:
        sd = math.sqrt(n * p * (1 - p))
        narrow_mass, wide_tails = window_masses(n, p)
        mu_narrow += narrow_mass
        mu_wide += wide_tails
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


POSITION_GROUPS = 10  # at most: the quarters of the flat index, its parity, the first and last axes' parity


def position_groups(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Flat selections of an array's elements (C order) by quarter of the array, by flat index parity
    and, for two or more dimensions, by the parity of the index along the first and along the last
    axis (rows and columns of a matrix)."""
    n = math.prod(shape)
    index = np.arange(n)
    groups = {f"quarter {q + 1}": index * 4 // max(1, n) == q for q in range(4)}
    groups |= {"even index": index % 2 == 0, "odd index": index % 2 == 1}
    if len(shape) >= 2 and n:
        first, last = index // (n // shape[0]), index % shape[-1]
        groups |= {"even first-axis index": first % 2 == 0, "odd first-axis index": first % 2 == 1,
                   "even last-axis index": last % 2 == 0, "odd last-axis index": last % 2 == 1}
    return groups


def group_rates(masks: np.ndarray, groups: dict[str, np.ndarray], p: float,
                alpha: float) -> tuple[float, str]:
    """(score, group) of the group of positions whose drop rate, pooled over the calls (masks: calls x
    n), lies farthest from p in units of its Chernoff band (score > 1 fails; 2 tail events a group)."""
    per_position, calls = masks.sum(axis=0), masks.shape[0]
    worst = (0.0, "no group")
    for name, selection in groups.items():
        size = int(np.count_nonzero(selection)) * calls
        if size:
            rate = float(per_position[selection].sum()) / size
            worst = max(worst, (abs(rate - p) / band(size, p, alpha), f"{name} (rate {rate:.4f})"))
    return worst


def group_events(n_max: int, calls: int, pairs: int, shapes: int = 1) -> int:
    """Tail events `examine_group` spends on a group of `calls` masks of at most `n_max` elements with
    `pairs` pairs of calls compared, its input seen in `shapes` shapes."""
    lag_tests = 1 if shapes == 1 else 1 + shapes
    return (pairs * shift_agreement_events(n_max) + lag_tests * lag_agreement_events(n_max)
            + position_histogram_events(calls) + 2 * (shapes * POSITION_GROUPS + VALUE_FEATURE_GROUPS))


def by_shape(shapes: list[tuple[int, ...]]) -> dict[tuple[int, ...], list[int]]:
    """The indices of the calls made in each shape, in order of first use."""
    found: dict[tuple[int, ...], list[int]] = {}
    for index, shape in enumerate(shapes):
        found.setdefault(tuple(shape), []).append(index)
    return found


def prepare_group(shapes: list[tuple[int, ...]], p: float, alpha: float,
                  features: dict[str, np.ndarray]) -> None:
    """Compute ahead what `examine_group` will look up for masks of calls on one input of `shapes`
    (each call's, one size) at p (every band it uses, the FFT's set-up), so that it runs on the masks
    alone once they come."""
    calls, n = len(shapes), math.prod(shapes[0])
    q = agreement_rate(p)
    bands(np.arange(n // 2, n + 1), q, alpha)
    for expected in binomial_pmf(calls, p):
        if 0 < expected < 1:
            band(n, float(expected), alpha)
    for shape, indices in by_shape(shapes).items():
        for selection in position_groups(shape).values():
            if size := int(np.count_nonzero(selection)) * len(indices):
                band(size, p, alpha)
    for selection in features.values():
        if size := int(np.count_nonzero(selection)) * calls:
            band(size, p, alpha)
    np.fft.irfft(np.fft.rfft(np.zeros(n), _fft_length(n)), _fft_length(n))


def examine_group(masks: np.ndarray, shapes: list[tuple[int, ...]], features: dict[str, np.ndarray],
                  p: float, alpha: float, pairs: list[tuple[int, int]]) -> dict[str, tuple[float, str]]:
    """Every test of this module on one group of calls on one input (masks: calls x n, True = dropped;
    `shapes`: each call's shape of the input, one size; `features`: its `value_features`), each as
    (score, where it is worst; score > 1 fails), by family:
    "fresh" (shift agreement of each of `pairs` of calls), "neighbours" (lag agreement, pooled over all
    calls and, for more than one shape, over the calls of each shape), "position" (position histogram,
    and position groups per shape) and "values" (value features)."""
    calls, n = masks.shape
    mask_spectra = spectra(masks)
    fresh = (0.0, "no pair")
    for i, j in pairs:
        score, shift = shift_agreement(masks[i], masks[j], p, alpha, (mask_spectra[i], mask_spectra[j]))
        fresh = max(fresh, (score, f"calls {i + 1} and {j + 1}, shifted by {shift}"))
    lag_score, lag = lag_agreement(masks, p, alpha, mask_spectra)
    neighbours = (lag_score, f"elements {lag} apart")
    histogram_score, times = position_histogram(masks, p, alpha)
    position = (histogram_score, f"positions dropped {times} times of {calls}")
    shaped = by_shape(shapes)
    for shape, indices in shaped.items():
        named = f" in shape {shape}" if len(shaped) > 1 else ""
        if len(shaped) > 1:
            lag_score, lag = lag_agreement(masks[indices], p, alpha, mask_spectra[indices])
            neighbours = max(neighbours, (lag_score, f"elements {lag} apart{named}"))
        score, where = group_rates(masks[indices], position_groups(shape), p, alpha)
        position = max(position, (score, where + named))
    return {"fresh": fresh, "neighbours": neighbours, "position": position,
            "values": group_rates(masks, features, p, alpha)}


def repeat_threshold(n: int, q: float, alpha: float) -> int:
    """Smallest k such that, for n elements each kept independently with probability q, some distance
    d (1 <= d < n) separates k or more pairs of kept elements with probability at most alpha. The
    pairs (i, i + d) split into two sets of disjoint pairs (by the parity of i // d), each a sum of
    independent Bernoulli(q^2) terms, so P(N_d >= k) <= 2 P(Bin(n, q^2) >= ceil(k / 2)) <=
    2 (e n q^2 / j)^j with j = ceil(k / 2) (Chernoff), and a union bound over the n - 1 distances."""
    mean = n * q * q
    j = max(1, math.ceil(mean * math.e) + 1)
    while 2 * (n - 1) * math.exp(j * (1 + math.log(mean) - math.log(j))) > alpha:
        j += 1
    return 2 * j


REPEAT_MAX_KEPT = 1000  # repeated_distance looks at the pairs of the first this many kept elements only


def repeated_distance(kept: np.ndarray) -> tuple[int, int]:
    """(count, distance) of the distance separating the most pairs of the kept positions `kept`
    (sorted flat indices; of the first REPEAT_MAX_KEPT only, every pair). A tiled or repeated mask puts
    many pairs at its period. A subset's count is never above the whole set's, so `repeat_threshold`
    bounds it all the same."""
    kept = kept[:REPEAT_MAX_KEPT]
    if kept.size < 2:
        return 0, 0
    first, second = np.triu_indices(kept.size, 1)
    distances = np.sort(kept[second] - kept[first])
    starts = np.flatnonzero(np.diff(distances, prepend=-1))
    runs = np.diff(np.append(starts, distances.size))
    most = int(np.argmax(runs))
    return int(runs[most]), int(distances[starts[most]])


class Kept:
    """Values worked out ahead (a task's `prepare`) for its checks, a few grades' worth, by key; grades
    may run side by side in threads of one process, so every change is made under a lock."""

    def __init__(self, size: int = 16):
        self.size, self.items, self.lock = size, {}, threading.Lock()

    def get(self, key: Any, make) -> Any:
        found = self.items.get(key)
        if found is None:
            found = make()
            with self.lock:
                while len(self.items) >= self.size:
                    self.items.pop(next(iter(self.items)))
                self.items[key] = found
        return found


_KEPT_FEATURES = Kept()


def kept_value_features(values: np.ndarray) -> dict[str, np.ndarray]:
    """`value_features` of an input, worked out once (looked up by the array's identity)."""
    found = _KEPT_FEATURES.get(id(values), lambda: (values, value_features(values)))
    return found[1] if found[0] is values else value_features(values)
