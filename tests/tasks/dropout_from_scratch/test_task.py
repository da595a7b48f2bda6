"""The dropout-from-scratch task value and its prompt: every check is announced by a sentence of the
prompt (CLAUSES), the numbers come from the design, and no code is given away."""

import re

import numpy as np

from task_lib.agent.tools import TOOL_NAMES
from task_lib.registry import task_names
from task_lib.tasks.dropout_from_scratch.checks import CLAUSES, STATISTICAL_CHECKS, make_job, run_checks

from .task_files import STUB, TASK

PROMPT = TASK.prompt()


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_task_is_registered():
    assert "dropout-from-scratch" in task_names()
    assert TASK.solution_files == ("dropout.py",) and TASK.protected_files == ("test_dropout.py",)
    assert TASK.child_parts == ("child_arrays.py",)


def test_every_check_the_grader_makes_has_a_clause():
    inputs, plan = make_job({}, np.random.default_rng(0))
    checks = run_checks({}, inputs, plan, {}, {})  # a child that ran nothing: every check fails
    assert checks and not any(check.passed for check in checks)
    assert {check.name for check in checks} <= set(CLAUSES)
    assert set(STATISTICAL_CHECKS) <= {check.name for check in checks}


def test_prompt_states_the_numbers_from_the_design():
    text = normalised(PROMPT)
    assert "1e-06 for float32 and 1e-09 for float64" in text and "below 1e-9 per grade" in text
    assert f"{TASK.grade_limits.wall_seconds:g} s" in text


def test_prompt_publishes_no_probe_plan():
    for plan_word in ("8 MiB", "12,000", "16 calls", "shifted", "quarter", "neighbouring", "contrast",
                      "mantissa", "more than 1"):
        assert plan_word not in PROMPT


def test_prompt_names_every_tool_and_states_the_contract():
    assert all(f"`{name}`" in PROMPT for name in TOOL_NAMES)
    for statement in ("`ValueError` unless `0 <= p <= 1`", "NaN", "float16, float32 or float64 scalar",
                      "exactly `1/(1-p)`", "never modified", "fresh random mask",
                      "does not depend on the values", "C or Fortran order, strided, read-only",
                      "all zeros"):
        assert statement in normalised(PROMPT)


def test_prompt_gives_no_code_away():
    for giveaway in ("default_rng", "np.where", "rng.random", "binomial(", "zeros_like", "def dropout"):
        assert giveaway not in PROMPT


def test_starting_file_is_a_stub_with_the_signature_and_a_docstring():
    assert "def dropout(x: np.ndarray, p: float, training: bool = True)" in STUB
    assert STUB.rstrip().endswith("raise NotImplementedError")
    assert '"""Apply inverted dropout' in STUB
