"""The dropout-from-scratch task and its file texts, as the tests name them."""

from task_lib.registry import get_task

TASK = get_task("dropout-from-scratch")
SOLUTION_FILE, TEST_FILE = "dropout.py", "test_dropout.py"
REFERENCE = TASK.reference_text(SOLUTION_FILE)
STUB = TASK.starting_text(SOLUTION_FILE)
VISIBLE_TESTS = TASK.starting_text(TEST_FILE)
