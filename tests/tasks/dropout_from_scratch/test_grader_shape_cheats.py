"""Layers that tell the grader's statistical calls by their shape, size or place in the sequence, and
misbehave statistically everywhere else, fail dropout-from-scratch's grader on a statistical check.

Each cheat is the correct BASE on the shapes it singles out (and for eval, p = 0, p = 1 and invalid
p, so that every deterministic check passes) and a statistically wrong layer, with exact survivor
scaling, on every other call."""

import numpy as np
import pytest

from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch.checks import PER_P_CHECKS, make_job

from .solutions import BASE
from .task_files import SOLUTION_FILE

CHEAT = '''
_honest = dropout
_CALLS = [0]
_MASKS = {{}}


def dropout(x, p, training=True):
    _CALLS[0] += 1
    if ({singled_out}) or not training or not 0 < p < 1:
        return _honest(x, p, training)
{wrong}    return (x * keep / (1 - p)).astype(x.dtype)
'''
# Statistically wrong masks (each defines `keep`), with the check that catches each.
WRONG = {
    "exact_count": ("drop_count_spread", "keep = np.ones(x.size, dtype=bool)\n"
                                         "keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                                         "keep = keep.reshape(x.shape)"),
    "repeated_mask": ("fresh_masks", "keep = _MASKS.setdefault((x.shape, p), _rng.random(x.shape) >= p)"),
    "drops_too_often": ("drop_fraction", "keep = _rng.random(x.shape) >= p + 0.1"),
    "neighbours_share": ("elements_independent", "half = _rng.random((x.size + 1) // 2) >= p\n"
                                                 "keep = np.repeat(half, 2)[: x.size].reshape(x.shape)"),
    "first_half_more": ("mask_independent_of_position",
                        "rate = np.where(np.arange(x.size) < x.size // 2, p + 0.1, p - 0.1)\n"
                        "keep = (_rng.random(x.size) >= rate).reshape(x.shape)"),
}
OLD_STAT_CALLS = range(10, 42)  # the previous plan's 32 statistical calls, counted from 1
LOW_SIZES = design.STAT_SIZE_RANGE[0] + (design.STAT_SIZE_RANGE[1] - design.STAT_SIZE_RANGE[0]) // 6


def cheat(singled_out: str, wrong: str) -> str:
    """BASE, correct where `singled_out` holds, with the `wrong` mask elsewhere."""
    body = "".join(f"    {line}\n" for line in WRONG[wrong][1].splitlines())
    return BASE + CHEAT.format(singled_out=singled_out, wrong=body)


# name -> (source, the statistical check it must fail)
CHEATS = {
    name: (cheat(condition, wrong), WRONG[wrong][0]) for name, condition, wrong in [
        ("correct_only_on_128_by_129", "x.shape == (128, 129)", "exact_count"),
        ("correct_only_on_16512_elements", "x.size == 16512", "repeated_mask"),
        ("correct_only_at_the_old_statistical_call_numbers",
         f"_CALLS[0] in range({OLD_STAT_CALLS.start}, {OLD_STAT_CALLS.stop})", "drops_too_often"),
        ("correct_only_on_2d", "x.ndim == 2", "drops_too_often"),
        ("correct_only_on_1d_and_3d", "x.ndim in (1, 3)", "neighbours_share"),
        ("correct_only_on_even_sizes", "x.size % 2 == 0", "first_half_more"),
        ("correct_only_on_float32", "x.dtype == np.float32", "exact_count"),
        ("correct_only_on_the_lowest_sixth_of_the_sizes", f"x.size <= {LOW_SIZES}", "repeated_mask"),
    ]
}


@pytest.fixture(scope="module")
def graded(grade_dfs):
    return grade_dfs({name: {SOLUTION_FILE: source} for name, (source, _) in CHEATS.items()})


def test_the_cheats_are_correct_on_the_shapes_they_single_out(grade_dfs):
    """Singling out every shape (the condition always true) leaves BASE: it passes."""
    result = grade_dfs({"always": {SOLUTION_FILE: cheat("True", "exact_count")}})["always"]
    assert result.passed, result.message


@pytest.mark.parametrize("name", list(CHEATS))
def test_shape_detecting_cheat_fails_a_statistical_check(graded, name):
    """The check its wrong mask breaks fails (a repeated mask can trip the drop fraction first: ten
    copies of one mask spread its fraction wider), and no deterministic one does."""
    _, check = CHEATS[name]
    result = graded[name]
    assert result.failure in PER_P_CHECKS, result.message
    assert check in {c.name for c in result.checks if not c.passed}, result.message
    assert all(c.passed for c in result.checks if c.p is None), result.message


@pytest.mark.parametrize("seed", range(40))
def test_every_grade_has_statistical_arrays_each_cheat_misbehaves_on(seed):
    """What makes the cheats fail in every grade, not just in the one graded above."""
    inputs, plan = make_job({}, np.random.default_rng(seed))
    stat = [x for name, x in inputs.items() if name.startswith("stat@")]
    numbers = [i + 1 for i, call in enumerate(plan["calls"]) if call["role"] == "stat"]
    assert all(x.shape != (128, 129) and x.size != 16512 for x in stat)
    assert any(n not in OLD_STAT_CALLS for n in numbers)
    assert any(x.ndim != 2 for x in stat) and any(x.ndim not in (1, 3) for x in stat)
    assert any(x.size % 2 for x in stat) and any(x.dtype == np.float64 for x in stat)
    assert any(x.size > LOW_SIZES for x in stat)  # all eight at or below it: probability (1/6)^8
