"""The task spec and its prompt: every graded behaviour is stated, the numbers come from the spec,
and the answer is not given away."""

from dataclasses import replace

import pytest

from task_lib.contract_checks import INVALID_P, VALID_P
from task_lib.grader import GRADE_LIMITS
from task_lib.task import DEFAULT_TASK, STARTING_FILES, template_text
from task_lib.tools import TOOL_NAMES

PROMPT = DEFAULT_TASK.prompt()


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
    assert all(f"{p:g}" in PROMPT for p in VALID_P + INVALID_P)
    assert f"{GRADE_LIMITS.wall_seconds:g} s" in PROMPT
    assert f"{GRADE_LIMITS.memory_bytes // 1024**3} GiB" in PROMPT
    looser = replace(DEFAULT_TASK, tolerance=0.2, p_values=(0.2, 0.8)).prompt()
    assert "±20%" in looser and "p = 0.2, 0.8" in looser


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
