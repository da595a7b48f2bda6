"""The tests pooled over mask groups (mask_leans), on fixed seeds: their Bernstein bounds hold on
correct masks, and small leans towards a value or position group that no group shows alone are seen
pooled."""

import numpy as np

from task_lib.grading import mask_leans as leans
from task_lib.grading import mask_statistics as stats

ALPHA = 1e-15
N, CALLS = 12_000, 8


def test_pooling_over_groups_catches_a_swing_too_small_for_each_alone():
    rng = np.random.default_rng(5)
    values = rng.standard_normal(N)
    groups = []
    for p in (0.1, 0.9):
        swing = 0.009 * np.where(values > 0, 1, -1)
        groups.append((rng.random((CALLS, N)) < p + swing, stats.value_features(values), p))
    alone = [stats.group_rates(m, f, p, ALPHA)[0] for m, f, p in groups]
    assert all(score <= 1 for score in alone)
    assert leans.pooled_group_rates(groups, ALPHA)[0] > 1
    calm = [(rng.random((CALLS, N)) < p, f, p) for _, f, p in groups]
    assert leans.pooled_group_rates(calm, ALPHA)[0] <= 1


def test_pooled_leans_follow_each_calls_shape():
    """A lean towards even columns in the calls of a matrix shape, half of each group's calls: seen by
    the pooled position contrasts, while the other half (flat) stays calm; correct masks pass all."""
    rng = np.random.default_rng(8)
    values = rng.standard_normal(N)
    shapes = [(N,)] * (CALLS // 2) + [(100, 120)] * (CALLS // 2)
    even_column = (np.arange(N) % 120) % 2 == 0
    leaning, calm = [], []
    for p in (0.2, 0.8):
        lean = 0.012 * min(p, 1 - p) / 0.2 * np.where(even_column, 1.0, -1.0)
        masks = rng.random((CALLS, N)) < p
        masks[CALLS // 2:] = rng.random((CALLS // 2, N)) < p + lean
        leaning.append((masks, shapes, values, p))
        calm.append((rng.random((CALLS, N)) < p, shapes, values, p))
    found = leans.pooled_leans(leaning, ALPHA)
    score, where, how = max(found["position"])
    assert score > 1 and how == "contrasts" and "last-axis" in where
    assert all(score <= 1 for family in leans.pooled_leans(calm, ALPHA).values() for score, _, _ in family)
