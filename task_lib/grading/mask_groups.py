"""A task's mask groups examined as a whole: each group's families of tests (mask_statistics.examine_group),
one thread per group, and the tests pooled over all groups (mask_leans.pooled_leans).

A group is the plan's calls of role "mask" that share a "group" number g, in the order of their
"index", on the input "mask{g}" (the values; each call's own input may hold them in another shape), at
one p."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from task_lib.grading import mask_leans as leans
from task_lib.grading import mask_statistics as stats
from task_lib.grading.threads import map_in_threads


@dataclass(frozen=True)
class Finding:
    """One test family's worst result on one group (`group`, at `p`) or pooled over all (`group` None,
    `how` "rates" or "contrasts"); score > 1 fails."""

    family: str  # "fresh", "neighbours", "position" or "values"
    score: float
    where: str
    group: int | None = None
    p: float | None = None
    how: str = ""


def group_p(calls: list[dict[str, Any]], group: int) -> float:
    """The p of mask group `group`."""
    return next(c["p"]["value"] for c in calls if c.get("group") == group)


def group_shapes(inputs: dict[str, np.ndarray], calls: list[dict[str, Any]], group: int) -> list[tuple]:
    """The shapes of the inputs of mask group `group`'s calls, in the order of their index."""
    ordered = sorted((c for c in calls if c["role"] == "mask" and c["group"] == group),
                     key=lambda c: c["index"])
    return [inputs[c["input"]].shape for c in ordered]


def prepare_groups(inputs: dict[str, np.ndarray], calls: list[dict[str, Any]], groups: int,
                   group_alpha: float) -> None:
    """Work out ahead, from the inputs and the plan's `calls` alone, what `examine_groups` will look up
    for groups 0 .. groups - 1 (bands, value features and contrasts, position groups, FFT set-up)."""
    for group in range(groups):
        values, shapes = inputs[f"mask{group}"], group_shapes(inputs, calls, group)
        stats.prepare_group(shapes, group_p(calls, group), group_alpha, stats.kept_value_features(values))
        leans.prepare_leans(values, shapes)


def examine_groups(calls: list[dict[str, Any]], masks: list[np.ndarray], inputs: dict[str, np.ndarray],
                   pairs: list[tuple[int, int]], group_alpha: float,
                   pooled_alpha: float) -> dict[str, list[Finding]]:
    """Every test of the groups among `calls` (each with its flat mask in `masks`, True = dropped), by
    family: each group's (`pairs` of its calls compared for freshness, each tail event at most
    `group_alpha`) in group order, then the pooled ones (each tail event at most `pooled_alpha`)."""
    by_group: dict[int, list[tuple[int, np.ndarray]]] = {}
    for call, mask in zip(calls, masks, strict=True):
        if call["role"] == "mask":
            by_group.setdefault(call["group"], []).append((call["index"], mask))
    groups = sorted(by_group)
    stacked = {g: np.stack([mask for _, mask in sorted(by_group[g], key=lambda item: item[0])])
               for g in groups}
    shapes = {g: group_shapes(inputs, calls, g) for g in groups}
    p = {g: group_p(calls, g) for g in groups}

    def examine(group: int) -> dict[str, tuple[float, str]]:
        features = stats.kept_value_features(inputs[f"mask{group}"])
        return stats.examine_group(stacked[group], shapes[group], features, p[group], group_alpha, pairs)

    findings: dict[str, list[Finding]] = {}
    for group, results in zip(groups, map_in_threads(examine, groups), strict=True):
        for family, (score, where) in results.items():
            findings.setdefault(family, []).append(Finding(family, score, where, group, p[group]))
    pooled = leans.pooled_leans([(stacked[g], shapes[g], inputs[f"mask{g}"], p[g]) for g in groups],
                                pooled_alpha)
    for family, results in pooled.items():
        findings.setdefault(family, []).extend(Finding(family, score, where, how=how)
                                               for score, where, how in results)
    return findings
