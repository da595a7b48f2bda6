"""The variance-dropout task and its file texts, as the tests name them."""

from task_lib.registry import get_task

TASK = get_task("variance-dropout")
SOLUTION_FILE, TEST_FILE = "dropout.py", "test_dropout.py"


def template_text(name: str) -> str:
    """A starting file's text; "reference_dropout.py" is the reference solution."""
    return TASK.reference_text("dropout.py") if name == "reference_dropout.py" else TASK.starting_text(name)


def __getattr__(name: str):
    """POLICIES and CALIBRATION_MIX, the task's scripted policies, made on first use."""
    from task_lib.offline import calibration_mix, policies_for

    if name == "POLICIES":
        return policies_for(TASK)
    if name == "CALIBRATION_MIX":
        return calibration_mix(TASK)
    raise AttributeError(name)
