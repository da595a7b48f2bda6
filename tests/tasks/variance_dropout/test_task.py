"""The variance-dropout task value and its prompt: every graded behaviour is stated, the numbers come
from the design, and the answer is not given away."""


from task_lib.agent.tools import TOOL_NAMES
from tasks.variance_dropout.task_files import TASK, template_text

PROMPT = TASK.prompt()
GRADE_LIMITS = TASK.grade_limits
STARTING_FILES = TASK.starting_files


def test_prompt_states_the_numbers_from_the_design():
    assert "`t = 0.1`" in PROMPT and "`t = 0.2`" in TASK.prompt({"tolerance": 0.2})
    assert f"{GRADE_LIMITS.wall_seconds:g} s" in PROMPT
    assert f"{GRADE_LIMITS.memory_bytes // 1024**3} GiB" in PROMPT
    assert "below 1e-9 per grade" in PROMPT


def test_prompt_publishes_no_probe_plan():
    for plan_word in ("422,912", "round trip", "shifted", "quarter", "neighbour", "standard deviations"):
        assert plan_word not in PROMPT


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
