"""Functions that are right only on some of the grader's calls and statistically wrong on the others
fail: no size, dtype, layout, way of passing `training`, p value or call number marks the calls the
statistics read. Each cheat is correct (every exact check passes) and drops wrongly, with exact
survivor scaling, wherever its condition does not hold."""

import numpy as np
import pytest

from task_lib.tasks.dropout_from_scratch import design
from task_lib.tasks.dropout_from_scratch.checks import STATISTICAL_CHECKS, make_job

from .solutions import BASE
from .task_files import SOLUTION_FILE

CHEAT = '''
_honest = dropout
_CALLS = [0]
_MASKS = {{}}
_DEFAULT = object()


def dropout(x, p, training=_DEFAULT):
    _CALLS[0] += 1
    explicit, training = training is not _DEFAULT, training is not False
    if ({singled_out}) or not training or not 0 < float(p) < 1:
        return _honest(x, p, training)
    p = float(p)
{wrong}    return (x * keep / (1 - p)).astype(x.dtype)
'''
# Statistically wrong masks (each defines `keep`), with the check that catches each.
WRONG = {
    "exact_count": ("drop_count_dispersion", "keep = np.ones(x.size, dtype=bool)\n"
                                             "keep[_rng.permutation(x.size)[: round(p * x.size)]] = False\n"
                                             "keep = keep.reshape(x.shape)"),
    "repeated_mask": ("fresh_mask", "keep = _MASKS.setdefault((x.shape, p), _rng.random(x.shape) >= p)"),
    "drops_too_often": ("drop_fraction", "keep = _rng.random(x.shape) >= p + 0.3 * min(p, 1 - p)"),
    "neighbours_share": ("mask_independent_of_neighbours",
                         "half = _rng.random((x.size + 1) // 2) >= p\n"
                         "keep = np.repeat(half, 2)[: x.size].reshape(x.shape)"),
    "first_half_more": ("mask_independent_of_position",
                        "swing = np.where(np.arange(x.size) < x.size // 2, 0.2, -0.2) * min(p, 1 - p)\n"
                        "keep = (_rng.random(x.size) >= p + swing).reshape(x.shape)"),
}
OLD_STAT_CALLS = range(10, 42)  # the first plan's 32 statistical calls, counted from 1
GROUP_SIZES = f"{design.MASK_SIZE[0]} <= x.size <= {design.MASK_SIZE[1]}"
# name -> (the condition under which it is correct, its wrong mask)
CHEATS = {
    "correct_off_the_group_sizes": (f"not {GROUP_SIZES}", "exact_count"),
    "correct_only_on_float32": ("x.dtype == np.float32", "repeated_mask"),
    "correct_only_when_training_is_passed": ("explicit", "drops_too_often"),
    "correct_only_on_writeable_inputs": ("x.flags.writeable", "neighbours_share"),
    "correct_only_at_the_old_statistical_call_numbers":
        (f"_CALLS[0] in range({OLD_STAT_CALLS.start}, {OLD_STAT_CALLS.stop})", "first_half_more"),
    "correct_only_at_p_of_three_decimals": ("round(p, 3) == p", "exact_count"),
}


def cheat(singled_out: str, wrong: str) -> str:
    """BASE, correct where `singled_out` holds, with the `wrong` mask elsewhere."""
    body = "".join(f"    {line}\n" for line in WRONG[wrong][1].splitlines())
    return BASE + CHEAT.format(singled_out=singled_out, wrong=body)


@pytest.fixture(scope="module")
def graded(grade_dfs):
    return grade_dfs({name: {SOLUTION_FILE: cheat(*CHEATS[name])} for name in CHEATS})


def test_the_cheats_are_correct_where_they_single_out(grade_dfs):
    """Singling out every call (the condition always true) leaves BASE: it passes."""
    result = grade_dfs({"always": {SOLUTION_FILE: cheat("True", "exact_count")}})["always"]
    assert result.passed, result.message


@pytest.mark.parametrize("name", list(CHEATS))
def test_a_cheat_fails_the_statistical_check_its_mask_breaks(graded, name):
    """The check its wrong mask breaks fails (a repeated mask can trip the pooled drop fraction first:
    copies of one mask spread it wider), and no exact one does."""
    check = WRONG[CHEATS[name][1]][0]
    result = graded[name]
    assert result.failure in STATISTICAL_CHECKS, result.message
    assert check in {c.name for c in result.checks if not c.passed}, result.message
    assert all(c.passed for c in result.checks if c.name not in STATISTICAL_CHECKS), result.message


@pytest.mark.parametrize("seed", range(40))
def test_every_grade_has_group_calls_each_cheat_misbehaves_on(seed):
    """What makes the cheats fail in every grade, not just in the one graded above: each mask group
    (16 calls) holds calls outside every cheat's condition."""
    inputs, plan = make_job({}, np.random.default_rng(seed))
    numbered = list(enumerate(plan["calls"], start=1))
    for group in range(len(design.MASK_P)):
        calls = [(k, c) for k, c in numbered if c.get("group") == group]
        x = inputs[f"mask{group}"]
        assert design.MASK_SIZE[0] <= x.size <= design.MASK_SIZE[1]
        assert any(c["style"] == "omitted" for _, c in calls)
        assert any(c["layout"] == "readonly" for _, c in calls)
        assert any(k not in OLD_STAT_CALLS for k, _ in calls)
        p = calls[0][1]["p"]["value"]
        assert round(p, 3) != p
    assert {str(inputs[f"mask{g}"].dtype) for g in range(len(design.MASK_P))} == {"float32", "float64"}
