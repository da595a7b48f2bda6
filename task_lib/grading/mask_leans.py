"""Tests pooled over a task's mask groups for a small lean of the drop rate towards a group of
elements (by value, or by position in the input's shape), each with a rigorous false-fail bound.

A lean too small to show in one group (mask_statistics.examine_group) adds up over groups at different
p when it shares a direction in each. Every test here is a sum of independent zero-mean terms in
[-1, 1] for a correct mask, bounded with Bernstein's inequality; a task counts POOLED_EVENTS tail
events for them. They are few, so a task spends its budget on them at a narrower band than on the
groups' million (the task's power.py):

- `pooled_group_rates`: each named group's drops, summed over the groups of calls, against p · size;
- `pooled_contrasts`: complementary halves (A, B) compared with each other, (drops in A - p |A|) -
  (drops in B - p |B|): a lean of d towards A shows on both sides, twice what a rate sees.
"""

from __future__ import annotations

import math

import numpy as np

from task_lib.grading import mask_statistics as stats

# Complementary halves of a group's elements (mask_statistics.value_features and position_groups names;
# a "+" joins two) whose drop rates are compared with each other.
VALUE_CONTRASTS = (("x > 0", "x < 0"), ("odd exponent", "even exponent"),
                   ("mantissa bit 0 set", "mantissa bit 0 clear"),
                   ("mantissa bit 1 set", "mantissa bit 1 clear"),
                   ("|x| quartile 1+|x| quartile 2", "|x| quartile 3+|x| quartile 4"),
                   ("|x| quartile 1+|x| quartile 4", "|x| quartile 2+|x| quartile 3"))
POSITION_CONTRASTS = (("even index", "odd index"), ("even first-axis index", "odd first-axis index"),
                      ("even last-axis index", "odd last-axis index"),
                      ("quarter 1+quarter 2", "quarter 3+quarter 4"),
                      ("quarter 1+quarter 4", "quarter 2+quarter 3"))
# Two tails for each pooled group and each contrast.
POOLED_EVENTS = 2 * (stats.VALUE_FEATURE_GROUPS + stats.POSITION_GROUPS + len(VALUE_CONTRASTS)
                     + len(POSITION_CONTRASTS))

Contrasts = tuple[list[tuple[str, str]], np.ndarray, np.ndarray]


def bernstein_width(variance: float, alpha: float) -> float:
    """t with P(S - E[S] >= t) <= alpha (and likewise below) for a sum S of independent terms in
    [0, 1] whose variances add up to `variance` (Bernstein: exp(-t^2 / (2 (variance + t / 3))))."""
    log_term = math.log(1 / alpha)
    return log_term / 3 + math.sqrt((log_term / 3) ** 2 + 2 * variance * log_term)


def pooled_group_rates(groups: list[tuple[np.ndarray, dict[str, np.ndarray], float]],
                       alpha: float) -> tuple[float, str]:
    """(score, group) over several groups of calls (masks: calls x n, the groups of elements by name,
    p), each named group's drops pooled over all of them against the sum of its expected drops, in
    units of the Bernstein width (score > 1 fails; 2 tail events per name)."""
    totals: dict[str, list[float]] = {}
    for masks, named, p in groups:
        per_position, calls = masks.sum(axis=0), masks.shape[0]
        for name, selection in named.items():
            size = int(np.count_nonzero(selection)) * calls
            total = totals.setdefault(name, [0.0, 0.0, 0.0])
            total[0] += float(per_position[selection].sum())
            total[1] += p * size
            total[2] += p * (1 - p) * size
    worst = (0.0, "no group")
    for name, (dropped, expected, variance) in totals.items():
        if variance > 0:
            score = abs(dropped - expected) / bernstein_width(variance, alpha)
            worst = max(worst, (score, f"{name}, pooled (drops {dropped:.0f}, expected {expected:.1f})"))
    return worst


def _selection(named: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """The selection `name` of `named`, or the union of the "+"-joined ones; None if one is missing."""
    parts = [named.get(part) for part in name.split("+")]
    return None if any(part is None for part in parts) else np.logical_or.reduce(parts)


def contrast_weights(named: dict[str, np.ndarray], contrasts: tuple[tuple[str, str], ...]) -> Contrasts:
    """The contrasts (A, B) of `contrasts` whose selections `named` has, as (their names, a matrix of
    one row per contrast, +1 on A's elements and -1 on B's, and the sizes |A| and |B| in columns)."""
    names, rows, sizes = [], [], []
    for first, second in contrasts:
        a, b = _selection(named, first), _selection(named, second)
        if a is not None and b is not None:
            names.append((first, second))
            rows.append(a.astype(np.float64) - b)
            sizes.append((np.count_nonzero(a), np.count_nonzero(b)))
    n = next(iter(named.values())).size if named else 0
    return names, np.array(rows).reshape(len(rows), n), np.array(sizes, dtype=np.float64).reshape(-1, 2)


def pooled_contrasts(groups: list[tuple[np.ndarray, Contrasts, float]], alpha: float) -> tuple[float, str]:
    """(score, contrast) over several groups of calls (masks: calls x n, their `contrast_weights`, p):
    for each contrast (A, B) of two disjoint selections, D = (drops in A - p |A|) - (drops in B - p |B|),
    summed over the calls and the groups, in units of the Bernstein width (score > 1 fails; 2 tail
    events per contrast). For a correct mask D is a sum of independent zero-mean terms of at most 1 in
    size with variance p (1 - p) each; a mask dropping A more often than B by d gains d on both sides,
    where the comparison of each with p (`pooled_group_rates`) sees only one."""
    totals: dict[tuple[str, str], list[float]] = {}
    for masks, (names, weights, sizes), p in groups:
        calls = masks.shape[0]
        deviations = weights @ masks.sum(axis=0, dtype=np.float64) - p * calls * (sizes[:, 0] - sizes[:, 1])
        variances = p * (1 - p) * calls * sizes.sum(axis=1)
        for name, deviation, variance in zip(names, deviations.tolist(), variances.tolist(), strict=True):
            total = totals.setdefault(name, [0.0, 0.0])
            total[0] += deviation
            total[1] += variance
    worst = (0.0, "no contrast")
    for (first, second), (deviation, variance) in totals.items():
        if variance > 0:
            score = abs(deviation) / bernstein_width(variance, alpha)
            more = first if deviation > 0 else second
            where = f"{first} against {second} ({abs(deviation):.0f} drops more in {more} than expected)"
            worst = max(worst, (score, where))
    return worst


_POSITIONS, _CONTRASTS = stats.Kept(), stats.Kept()


def kept_positions(shape: tuple[int, ...]) -> tuple[dict[str, np.ndarray], Contrasts]:
    """mask_statistics.position_groups of a shape and their contrasts, worked out once."""
    def make() -> tuple[dict[str, np.ndarray], Contrasts]:
        named = stats.position_groups(shape)
        return named, contrast_weights(named, POSITION_CONTRASTS)

    return _POSITIONS.get(tuple(shape), make)


def kept_value_contrasts(values: np.ndarray) -> Contrasts:
    """The value contrasts of an input, worked out once (looked up by the array's identity)."""
    def make() -> tuple[np.ndarray, Contrasts]:
        return values, contrast_weights(stats.kept_value_features(values), VALUE_CONTRASTS)

    found = _CONTRASTS.get(id(values), make)
    return found[1] if found[0] is values else make()[1]


def prepare_leans(values: np.ndarray, shapes: list[tuple[int, ...]]) -> None:
    """Work out ahead what `pooled_leans` looks up for a group on `values` seen in `shapes`."""
    kept_value_contrasts(values)
    for shape in set(shapes):
        kept_positions(shape)


def pooled_leans(groups: list[tuple[np.ndarray, list[tuple[int, ...]], np.ndarray, float]],
                 alpha: float) -> dict[str, list[tuple[float, str, str]]]:
    """Every test of this module over a task's mask groups, each given as (masks: calls x n, each call's
    shape, the input's values, p): {"values": [...], "position": [...]}, each a list of (score, where,
    how; score > 1 fails) for the pooled rates and the pooled contrasts. Position groups follow each
    call's shape."""
    features = [(masks, stats.kept_value_features(values), p) for masks, _, values, p in groups]
    contrasts = [(masks, kept_value_contrasts(values), p) for masks, _, values, p in groups]
    shaped: list[tuple[np.ndarray, tuple[int, ...], float]] = [
        (masks[indices], shape, p) for masks, shapes, _, p in groups
        for shape, indices in stats.by_shape(shapes).items()]
    places = [(masks, kept_positions(shape)[0], p) for masks, shape, p in shaped]
    place_contrasts = [(masks, kept_positions(shape)[1], p) for masks, shape, p in shaped]
    return {"values": [(*pooled_group_rates(features, alpha), "rates"),
                       (*pooled_contrasts(contrasts, alpha), "contrasts")],
            "position": [(*pooled_group_rates(places, alpha), "rates"),
                         (*pooled_contrasts(place_contrasts, alpha), "contrasts")]}
