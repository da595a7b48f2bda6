"""The variance-dropout task value and its prompt: every graded behaviour is stated, the numbers come
from the design, and the answer is not given away."""

import math

import pytest

from task_lib.tasks.variance_dropout.checks import INVALID_P, VALID_P
from task_lib.tools import TOOL_NAMES
from tasks.variance_dropout.task_files import TASK, template_text

PROMPT = TASK.prompt()
GRADE_LIMITS = TASK.grade_limits
STARTING_FILES = TASK.starting_files


@pytest.mark.parametrize(
    "statement",
    [
        "ValueError", "`.training` is `True`", "shape and dtype", "never modifies `x`", "eval mode",
        "`p = 0`", "independently with probability `p`", "fresh random mask",
        "does not depend on the values", "one constant",
        "variance of the output equals the variance of the input", "must stay exactly as it is",
        "no other file is read", "timeout",
    ],
)
def test_prompt_states_each_graded_behaviour(statement):
    assert statement in PROMPT


def test_prompt_numbers_come_from_the_spec():
    assert "p = 0.3, 0.5, 0.7" in PROMPT and "±10%" in PROMPT and "422,912" in PROMPT
    assert all(f"{value:g}" in PROMPT for value, _ in VALID_P + INVALID_P if math.isfinite(value))
    assert "NaN, infinity and `np.float32(1.0)`" in PROMPT
    assert "`np.float32(0.25)`, `np.float64(0.75)`" in PROMPT
    assert f"{GRADE_LIMITS.wall_seconds:g} s" in PROMPT
    assert f"{GRADE_LIMITS.memory_bytes // 1024**3} GiB" in PROMPT
    looser = TASK.prompt({"tolerance": 0.2})
    assert "±20%" in looser and "1 ± 0.2" in looser


def test_prompt_names_every_tool():
    assert all(f"`{name}`" in PROMPT for name in TOOL_NAMES)


def test_prompt_does_not_give_the_factor_away():
    for giveaway in ("sqrt", "√", "**-0.5", "** -0.5", "0.5)", "square root"):
        assert giveaway not in PROMPT


def test_starting_files_hold_the_bug_and_the_reference_differs_only_in_the_scale():
    bug, reference = template_text("dropout.py"), template_text("reference_dropout.py")
    assert "x * keep / (1.0 - self.p)" in bug and "sqrt" not in bug
    changed = {line for line in reference.splitlines() if line not in bug.splitlines()}
    assert any("math.sqrt(1.0 - self.p)" in line for line in changed)
    assert set(STARTING_FILES) == {"dropout.py", "test_dropout.py"}
